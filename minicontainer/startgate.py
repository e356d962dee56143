"""The exec fifo: how an OCI ``create`` leaves the init waiting just before its execve.

::

    `create` (host)                   init (in the container)          `start` (host)
      mkfifo STATE_DIR/exec.fifo
      fd = open(fifo, O_PATH)
      clone  ------------------------>  ... the whole recipe ...
                                        "created" on the ready pipe
      record created, exit              open(/proc/self/fd/FD, O_WRONLY)
                                          blocks: no reader yet  <------  open(fifo, O_RDONLY)
                                        write "0"                  ---->  (and unlink it)
                                        ... the last layers, execve       "0", then EOF: it ran,
                                        (the fifo is close-on-exec)       record running
                                        or a failure: "CODE message" -->  "0CODE message": error

The fifo is opened by path only on the host, by ``create``, before the clone; the
init reopens that fd through its own ``/proc/self/fd`` (an ``O_PATH`` fd grants no
I/O by itself), so it never looks up a host path.  Its mode lets any uid write:
by then the init may be the config's unprivileged user, and only host root can
reach the state directory (0700) the fifo lives in.  This is runc's design, and
as runc does (since CVE-2016-9962) the init closes every fd of the gate before the
rest of its recipe: none of them reaches the command.
"""

from __future__ import annotations

import os
import select
import time

from minicontainer.errors import ContainerError

FIFO_NAME = "exec.fifo"
_CREATED = b"created"


class StartGate:
    """The fifo and the ready pipe of one container being created.

    ``create`` calls :meth:`open` before the clone, then :meth:`in_parent` and
    :meth:`wait_created`; the init calls :meth:`in_child` and, as the last step
    of its recipe, :meth:`wait_for_start`.
    """

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, FIFO_NAME)
        self.fifo: int | None = None
        self.ready_r: int | None = None
        self.ready_w: int | None = None

    def open(self) -> None:
        """Make the fifo and the pipe (in ``create``, before the clone)."""
        os.mkfifo(self.path, 0o600)
        os.chmod(self.path, 0o622)  # any uid may write: the init's user is the config's
        self.fifo = os.open(self.path, os.O_PATH | os.O_CLOEXEC)
        self.ready_r, self.ready_w = os.pipe2(os.O_CLOEXEC)

    def in_child(self) -> None:
        """In the init right after the clone: the read end is ``create``'s."""
        os.close(self.ready_r)
        self.ready_r = None

    def in_parent(self) -> None:
        """In ``create`` right after the clone: the fifo and the write end are the init's."""
        os.close(self.ready_w)
        os.close(self.fifo)
        self.ready_w = self.fifo = None

    def wait_for_start(self, err_w: int) -> None:
        """In the init, near the end of its recipe: say so, then block until ``start``.

        The open of the fifo for writing returns once ``start`` has it open for
        reading; the init writes its byte, and the fifo takes the place of
        ``err_w``, the pipe the init reports a failure on (to ``create``, which has
        ended): a failure of the last steps or of the execve reaches ``start``,
        and a successful execve closes it (close-on-exec).  The fd it was opened
        through and the ready pipe are closed: none reaches the command.
        """
        os.write(self.ready_w, _CREATED)
        gate = os.open(f"/proc/self/fd/{self.fifo}", os.O_WRONLY | os.O_CLOEXEC)
        os.write(gate, b"0")
        os.dup2(gate, err_w, inheritable=False)
        os.close(gate)
        self.close()

    def wait_created(self) -> bool:
        """In ``create``: whether the init reached the gate (False: it died before)."""
        return _read_exactly(self.ready_r, len(_CREATED)) == _CREATED

    def close(self) -> None:
        """Close whatever is still open here (the fifo file goes with the state dir)."""
        for name in ("fifo", "ready_r", "ready_w"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def open_gate(state_dir: str, container_id: str) -> int:
    """In ``start``, under the container's lock: open the fifo for reading, which lets
    the waiting init go on, and unlink it, so that a second ``start`` finds none.

    Opened non-blocking: a blocking open would never return were the init gone.
    No fifo: another ``start`` (or a ``delete``) took it first.
    """
    path = os.path.join(state_dir, FIFO_NAME)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ContainerError(f"cannot start container {container_id}: it is being started "
                             "(or deleted) already") from None
    os.unlink(path)
    return fd


def withdraw(state_dir: str) -> bool:
    """In ``delete``, under the container's lock: unlink the fifo, so that no ``start``
    can release the init any more; False if it was gone (a ``start`` took it)."""
    try:
        os.unlink(os.path.join(state_dir, FIFO_NAME))
    except FileNotFoundError:
        return False
    return True


def pass_gate(fd: int, init_alive, timeout: float = 30) -> bytes | None:
    """Wait until the init has passed the gate and made its execve: the fifo at ``fd``
    reads the init's byte, then an end of file.  What came after the byte: empty if
    the execve happened, a failure report (``CODE message``) if a step after the gate
    or the execve failed; None if the init died before the gate.

    A fifo whose writer has never come shows no hang-up, so ``poll`` waits for the
    init's byte, checking ``init_alive()`` in between.  Closes ``fd``.
    """
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not poller.poll(100):
                if not got and not init_alive():
                    return None
                continue
            try:
                chunk = os.read(fd, 64)
            except BlockingIOError:
                continue
            if not chunk:
                return got[1:] if got[:1] == b"0" else None
            got += chunk
        raise TimeoutError("the container's init did not pass the start gate")
    finally:
        os.close(fd)
