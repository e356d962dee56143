"""Lab 01: a process tree of your own, with a tiny init as its pid 1.

Usage:  sudo minicontainer lab run 01 -- COMMAND [ARG...]

Runs COMMAND in new PID and mount namespaces, as the child of a small init that
is pid 1 there.  Try it with `ps -e`, `sh -c 'echo $$'`, `sleep 60`.

Fill in the four TODOs; `sudo minicontainer lab check 01` tells you how far you are.
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
    # TODO 2: `ps` reads /proc, and /proc is still the host's procfs. Give this
    # namespace its own (look in minicontainer.mounts).
    child = os.fork()
    if child == 0:
        os.execvp(command[0], command)
    # TODO 3: pid 1 gets no default action for SIGTERM: `kill -TERM` from the host
    # would do nothing. Install a handler that passes the signal on to `child`.

    # TODO 4: orphans of the container are re-parented to you. Wait for *any*
    # child, again and again, until `child` itself has exited.
    _, status = os.waitpid(child, 0)
    return _exit_code(status)


def _exit_code(status: int) -> int:
    """A wait status as a shell would report it (128 + N for death by signal N)."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def main() -> int:
    """Clone the container's init and wait for it."""
    command = sys.argv[1:] or ["sh"]
    # TODO 1: clone into a new PID namespace and a new mount namespace (the /proc
    # of TODO 2 must stay out of the host's mount table).
    pid = namespaces.clone(0)
    if pid == 0:
        os._exit(init(command))
    _, status = os.waitpid(pid, 0)
    return _exit_code(status)


if __name__ == "__main__":
    sys.exit(main())
