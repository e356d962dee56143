"""Lab 03: a root filesystem of the container's own.

Usage:  sudo minicontainer lab run 03 -- [--read-only] COMMAND [ARG...]

Runs COMMAND in new mount and PID namespaces, with a root of its own: an overlay
whose lower layer is lower/ (a copy of the busybox rootfs, made by `lab start`) and
whose upper layer, upper/, takes every write. Try it with `ls /`, `cat /etc/os-release`,
`sh -c 'echo hi > /hello'` (then look at upper/ and lower/ on the host).

Fill in the three TODOs; `sudo minicontainer lab check 03` tells you how far you are.
"""

import os
import sys
import traceback

from minicontainer import mounts, namespaces
from minicontainer.namespaces import Namespace

HERE = os.path.dirname(os.path.abspath(__file__))
LOWER = os.path.join(HERE, "lower")    # the image: never written
UPPER = os.path.join(HERE, "upper")    # where the container's writes go
WORK = os.path.join(HERE, "work")      # overlayfs's own scratch space
MERGED = os.path.join(HERE, "merged")  # where the container's root is mounted
PATH = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]


def build_root(readonly: bool) -> None:
    """In the new mount namespace: mount the root, enter it, leave the host behind."""
    mounts.set_propagation("rprivate")  # lab 04 is about this line
    # TODO 1: without upper and work directories, mount_rootfs() bind-mounts LOWER:
    # every write of the container lands in the image itself. Give it UPPER and WORK
    # so that it mounts an overlay instead.
    root = mounts.mount_rootfs(LOWER, MERGED, None, None)
    mounts.mount_proc(root, own_pid_namespace=True)
    # TODO 2: chroot only changes where / resolves for this process; the host's whole
    # tree stays mounted behind it. Make `root` the root of the mount namespace and
    # unmount the old one (look in minicontainer.mounts).
    mounts.chroot_to(root)
    # TODO 3: with --read-only (`readonly` is True), make the root refuse every write.


def exec_command(command: list[str]) -> None:
    """Become COMMAND, looked up on the container's PATH.

    Not os.execvp(): it imports a module, and after the pivot the host's Python
    library is out of reach.
    """
    names = [command[0]] if "/" in command[0] else [
        os.path.join(directory, command[0]) for directory in PATH]
    for name in names:
        if os.access(name, os.X_OK):
            os.execv(name, command)
    print(f"{command[0]}: not found in the new root", file=sys.stderr)
    os._exit(127)


def init(command: list[str], readonly: bool) -> int:
    """Pid 1 of the container: build its root, run COMMAND, return its exit status."""
    build_root(readonly)
    child = os.fork()
    if child == 0:
        exec_command(command)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            return os.waitstatus_to_exitcode(status)


def main() -> int:
    """Clone the container's init and wait for it."""
    args = sys.argv[1:]
    readonly = bool(args) and args[0] == "--read-only"
    command = args[1:] if readonly else args
    pid = namespaces.clone(Namespace.PID | Namespace.MNT)
    if pid == 0:
        try:
            os._exit(init(command or ["sh"], readonly))
        except Exception:
            traceback.print_exc()
            os._exit(125)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
