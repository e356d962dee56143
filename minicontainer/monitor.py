"""What stays of a detached container's monitor while the container runs: mc-monitor,
a small C program, then one last step in Python.

The monitor (``Container._monitor`` in ``minicontainer.runtime``) starts the
container in Python; an interpreter kept until the container ends would cost
about 8 MB of memory per container.  So once the container is recorded running
and the CLI released, the monitor execs ``mc-monitor`` (``csrc/monitor.c``) in
its own process: the pid and start time in the record stay true, the init is
still its child, and it is still the child subreaper.  mc-monitor writes the
log (by the rotation rule of :func:`minicontainer.logs.relay`), forwards
signals to the init and reaps; when the init has ended, it execs Python again
to run :func:`main` with the init's wait status, which frees the container,
copies the rest of its output and records the exit (``Container._finish``).

Across both execs only the output pipe and the log stay open (every other fd
of the monitor is close-on-exec), and the signals mc-monitor forwards stay
blocked, so that none arriving in between is lost.  What stays, seen from the
host::

    $ sudo minicontainer run -d --name web -- sleep 600
    $ sudo readlink /proc/$(sudo minicontainer inspect web | jq .monitorPid)/exe
    /work/main/minicontainer/mc-monitor
"""

from __future__ import annotations

import os
import signal
import sys

from minicontainer.errors import EXIT_RUNTIME_ERROR, ContainerError, describe
from minicontainer.process import FORWARDED_SIGNALS

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mc-monitor")
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CLOSE_RANGE_CLOEXEC = 4  # linux/close_range.h
# What mc-monitor execs at the end: this module, from the very package the monitor
# ran (-P: nothing from the caller's working directory comes first).
_FINISH = ("import sys; sys.path.insert(0, sys.argv[1]); "
           "from minicontainer.monitor import main; sys.exit(main(sys.argv[2:]))")
BLOCKED = (*FORWARDED_SIGNALS, signal.SIGCHLD)  # what mc-monitor reads from a signalfd


def check_installed() -> None:
    """An error, before the container starts, if mc-monitor is missing."""
    if not os.access(PROGRAM, os.X_OK):
        raise ContainerError(f"the monitor program {PROGRAM} is missing: reinstall "
                             "minicontainer (scripts/bootstrap builds it from csrc/monitor.c)")


def become_resident(pid: int, log_r: int, log: int, path: str, max_size: int,
                    root: str, container_id: str, userns_range: str, auto_remove: bool) -> None:
    """Exec mc-monitor in this process for the container whose init is ``pid``, its
    output coming in at ``log_r`` and going to ``log`` (open at ``path``).

    fds 0, 1 and 2 must be /dev/null by now: a copy of the pipe's write end left
    here would keep the pipe from ever ending.  Returns only by raising.
    """
    from minicontainer import native

    native.close_range(3, flags=_CLOSE_RANGE_CLOEXEC)
    os.set_inheritable(log_r, True)
    os.set_inheritable(log, True)
    finish = [sys.executable, "-P", "-c", _FINISH, _PACKAGE_PARENT, os.path.abspath(root),
              container_id, userns_range, "rm" if auto_remove else "keep", str(log_r), str(log),
              str(max_size)]
    signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)
    try:
        os.execv(PROGRAM, [PROGRAM, str(pid), str(log_r), str(log), path, str(max_size),
                           *finish])
    except OSError as e:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, BLOCKED)
        raise OSError(e.errno, e.strerror, f"execve of {PROGRAM}") from None


def main(argv: list[str]) -> int:
    """The finishing step: ``ROOT ID USERNS_RANGE rm|keep LOG_R LOG MAX_SIZE STATUS``."""
    from minicontainer.runtime import Container
    from minicontainer.state import StateStore

    if len(argv) != 8:
        print("minicontainer.monitor: mc-monitor runs this with ROOT ID USERNS_RANGE rm|keep "
              "LOG_R LOG MAX_SIZE STATUS", file=sys.stderr)
        return EXIT_RUNTIME_ERROR
    root, container_id, userns_range, removal, log_r, log, max_size, status = argv
    try:
        container = Container._from_record(StateStore(root), container_id, userns_range)
    except Exception as e:  # noqa: BLE001 - stderr is the container's log: one line there
        print(f"minicontainer: the record of {container_id} cannot be read to free it: "
              f"{describe(e)}; `minicontainer rm` frees what it can", file=sys.stderr)
        return EXIT_RUNTIME_ERROR
    if container is None:
        return 0  # removed meanwhile (`rm -f` gave up waiting for this monitor)
    container._finish(int(status), int(log_r), int(log), int(max_size), removal == "rm")
    return 0
