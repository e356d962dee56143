"""Lab 04: the container's mounts: private propagation, masked and read-only paths.

Usage:  sudo minicontainer lab run 04 -- COMMAND [ARG...]

Runs COMMAND in the root of lab 03 (an overlay on lower/, pivot_root), with a fresh
/proc, a read-only /sys and a small /dev, and with shared/ (a directory beside this
program) as the volume /shared. Try it with `mount`, `cat /proc/keys`,
`ls /sys/firmware`, `sh -c 'echo x > /proc/sys/kernel/hostname'`.

Fill in the three TODOs; `sudo minicontainer lab check 04` tells you how far you are.
"""

import os
import sys
import traceback

from minicontainer import mounts, namespaces
from minicontainer.namespaces import Namespace

HERE = os.path.dirname(os.path.abspath(__file__))
LOWER = os.path.join(HERE, "lower")
UPPER = os.path.join(HERE, "upper")
WORK = os.path.join(HERE, "work")
MERGED = os.path.join(HERE, "merged")
SHARED = os.path.join(HERE, "shared")  # the host directory given to the container
VOLUME = "/shared"                     # where the container sees it
PATH = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]

# Files of the whole kernel that a container has no business reading (runc's list).
MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/proc/interrupts", "/sys/firmware", "/sys/devices/virtual/powercap",
]
# Knobs of the whole kernel that it may read but never turn.
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def build_root() -> None:
    """In the new mount namespace: the mounts of the container, then its root."""
    # TODO 1: this mount namespace is a copy of the host's, and the copy of a shared
    # mount stays its peer: whatever is mounted below it here is mounted on the host
    # too (and the volume is taken from such a copy). Before anything else, make every
    # mount private.
    volume = mounts.open_volumes([SHARED])
    root = mounts.mount_rootfs(LOWER, MERGED, UPPER, WORK)
    mounts.mount_proc(root, own_pid_namespace=True)
    mounts.mount_sys(root, own_net_namespace=True)
    mounts.mount_dev(root, in_user_namespace=False, own_ipc_namespace=False)
    # TODO 2: the fresh /proc and /sys still hold files of the whole kernel (its keys,
    # its timers). Hide MASKED_PATHS inside the root.
    # TODO 3: /proc/sys and the others turn knobs of the whole kernel (core_pattern
    # makes it run a program as root). Make READONLY_PATHS read-only inside the root.
    mounts.pivot_to(root)
    mounts.attach_volumes(volume, [VOLUME], [False])


def exec_command(command: list[str]) -> None:
    """Become COMMAND, looked up on the container's PATH (os.execvp would import a
    module, and after the pivot the host's Python library is out of reach)."""
    names = [command[0]] if "/" in command[0] else [
        os.path.join(directory, command[0]) for directory in PATH]
    for name in names:
        if os.access(name, os.X_OK):
            os.execv(name, command)
    print(f"{command[0]}: not found in the new root", file=sys.stderr)
    os._exit(127)


def init(command: list[str]) -> int:
    """Pid 1 of the container: build its mounts, run COMMAND, return its exit status."""
    build_root()
    child = os.fork()
    if child == 0:
        exec_command(command)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            return os.waitstatus_to_exitcode(status)


def main() -> int:
    """Clone the container's init and wait for it."""
    pid = namespaces.clone(Namespace.PID | Namespace.MNT | Namespace.NET)
    if pid == 0:
        try:
            os._exit(init(sys.argv[1:] or ["sh"]))
        except Exception:
            traceback.print_exc()
            os._exit(125)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
