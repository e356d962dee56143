"""Lab 06: root inside, nobody outside: a user namespace and its id maps.

Usage:  sudo minicontainer lab run 06 -- HOST_ID COMMAND [ARG...]

Runs COMMAND as root (uid 0, gid 0) of a new user namespace whose ids 0-65535 are
the host's HOST_ID to HOST_ID+65535. Inside it is root; on the host it is an
unprivileged id that owns nothing. It keeps the host's filesystem, so `ls -ln`
shows the same files from both sides: try `id`, `touch /tmp/x`, `cat /etc/shadow`.
"""

import os
import sys

from minicontainer import idmap, namespaces
from minicontainer.namespaces import Namespace

SIZE = 65536


def write_map(pid: int, name: str, host_id: int) -> None:
    """Write /proc/PID/NAME (``uid_map`` or ``gid_map``): SIZE ids from 0 on are the
    host's from ``host_id`` on."""
    fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY)
    try:
        os.write(fd, f"0 {host_id} {SIZE}\n".encode())
    finally:
        os.close(fd)


def child(go: int, command: list[str]) -> None:
    """The container's side: wait for the maps, become root of the namespace, run
    COMMAND."""
    os.read(go, 1)  # returns once the parent, done with the maps, closes its end
    idmap.switch_user(0, 0, [])
    os.execvp(command[0], command)


def main() -> int:
    """Clone the container, write its maps, release it and wait for it."""
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit("usage: userns.py HOST_ID COMMAND [ARG...]")
    host_id, command = int(sys.argv[1]), sys.argv[2:]
    go_r, go_w = os.pipe()
    pid = namespaces.clone(Namespace.USER)
    if pid == 0:
        os.close(go_w)
        child(go_r, command)
    os.close(go_r)
    write_map(pid, "uid_map", host_id)
    write_map(pid, "gid_map", host_id)
    os.close(go_w)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
