"""Lab 01: a process tree of your own, with a tiny init as its pid 1.

Usage:  sudo minicontainer lab run 01 -- COMMAND [ARG...]

Runs COMMAND in new PID and mount namespaces, as the child of a small init that
is pid 1 there.  Try it with `ps -e`, `sh -c 'echo $$'`, `sleep 60`.
"""

import os
import signal
import sys

from minicontainer import mounts, namespaces
from minicontainer.namespaces import Namespace


def init(command: list[str]) -> int:
    """Pid 1 of the new namespace: start COMMAND, reap every child, pass SIGTERM on.

    Returns the exit status for the whole container (COMMAND's).
    """
    mounts.remount_proc()
    child = os.fork()
    if child == 0:
        os.execvp(command[0], command)
    signal.signal(signal.SIGTERM, lambda signum, frame: os.kill(child, signum))
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            return _exit_code(status)


def _exit_code(status: int) -> int:
    """A wait status as a shell would report it (128 + N for death by signal N)."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def main() -> int:
    """Clone the container's init and wait for it."""
    command = sys.argv[1:] or ["sh"]
    pid = namespaces.clone(Namespace.PID | Namespace.MNT)
    if pid == 0:
        os._exit(init(command))
    _, status = os.waitpid(pid, 0)
    return _exit_code(status)


if __name__ == "__main__":
    sys.exit(main())
