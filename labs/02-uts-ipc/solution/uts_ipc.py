"""Lab 02: a hostname and System V IPC objects of the container's own.

Usage:  sudo minicontainer lab run 02 -- HOSTNAME COMMAND [ARG...]

Runs COMMAND with the hostname HOSTNAME, in new UTS and IPC namespaces: the host
keeps its name, and neither side sees the other's shared memory segments, message
queues and semaphores (`ipcs`).
"""

import os
import sys

from minicontainer import namespaces
from minicontainer.namespaces import Namespace


def child(hostname: str, command: list[str]) -> None:
    """The container's side: name it, then become COMMAND."""
    namespaces.set_hostname(hostname)
    os.execvp(command[0], command)


def main() -> int:
    """Clone the container and wait for it."""
    if len(sys.argv) < 3:
        sys.exit("usage: uts_ipc.py HOSTNAME COMMAND [ARG...]")
    hostname, command = sys.argv[1], sys.argv[2:]
    pid = namespaces.clone(Namespace.UTS | Namespace.IPC)
    if pid == 0:
        try:
            child(hostname, command)
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
