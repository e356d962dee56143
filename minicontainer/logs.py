"""The log of a detached container, kept to a bounded size.

The container's stdout and stderr are the write end of a pipe; the monitor
reads the other end (:func:`relay`) and appends to ``output.log``.  When that
file reaches the maximum size it becomes ``output.log.1`` (replacing the older
one) and a new ``output.log`` starts, so a container that prints forever
holds at most twice the maximum on the host, as Docker's ``json-file`` driver
does with ``max-size`` and ``max-file=2``.  :func:`copy` reads both, oldest first.
"""

from __future__ import annotations

import os
import time

DEFAULT_MAX_SIZE = 4 * 1024 * 1024


def rotated(path: str) -> str:
    """Where the previous part of the log at ``path`` is kept."""
    return f"{path}.1"


def open_log(path: str) -> int:
    """Open (or create) the log at ``path`` for appending."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW,
                   0o600)


def relay(source: int, log: int, path: str, max_size: int = DEFAULT_MAX_SIZE) -> None:
    """Copy ``source`` into ``log``, the open log at ``path``, until every writer has
    closed ``source``, rotating whenever the log would grow past ``max_size`` bytes.
    Closes both fds."""
    size = os.fstat(log).st_size
    try:
        while chunk := os.read(source, 65536):
            view = memoryview(chunk)
            while view:
                part = _fitting(view, max(max_size - size, 0), whole_lines=size > 0)
                if not part:
                    os.close(log)
                    log = -1
                    os.replace(path, rotated(path))
                    log = open_log(path)
                    size = 0
                    continue
                written = os.write(log, view[:part])
                size += written
                view = view[written:]
    finally:
        os.close(source)
        if log >= 0:
            os.close(log)


def _fitting(data: memoryview, room: int, whole_lines: bool) -> int:
    """How much of ``data`` goes into a log with ``room`` bytes left: all of it if it
    fits, else up to its last newline that fits; a line longer than a whole log is
    cut (``whole_lines`` false: the log is empty)."""
    if len(data) <= room:
        return len(data)
    cut = bytes(data[:room]).rfind(b"\n") + 1
    return cut if cut or whole_lines else room


def copy(path: str, out: int, follow: bool, still_running) -> None:
    """Write the log at ``path`` (its rotated part first) to ``out``; with ``follow``,
    keep writing what comes until ``still_running()`` is false.

    A rotation while following is noticed by the file at ``path`` no longer being
    the one open: the rest of the open one is written, then the new one is opened.
    """
    try:
        with open(rotated(path), "rb") as old:
            _drain(old, out)
    except FileNotFoundError:
        pass
    log = _open_current(path)
    try:
        while True:
            _drain(log, out)
            if not follow:
                return
            if _replaced(log, path):
                _drain(log, out)
                log.close()
                log = _open_current(path)
                continue
            if not still_running():
                _drain(log, out)
                return
            time.sleep(0.1)
    finally:
        log.close()


def _open_current(path: str):
    """Open the log at ``path``, which a rotation leaves missing for a moment (between
    renaming it away and creating the new one)."""
    for _ in range(100):
        try:
            return open(path, "rb")
        except FileNotFoundError:
            if not os.path.exists(rotated(path)):
                raise
            time.sleep(0.01)
    return open(path, "rb")


def _drain(file, out: int) -> None:
    while chunk := file.read(65536):
        view = memoryview(chunk)
        while view:
            view = view[os.write(out, view):]


def _replaced(file, path: str) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(file.fileno()).st_ino
    except FileNotFoundError:
        return False
