"""Lab 13: a container runtime of your own, from minicontainer's primitives.

Usage:  sudo minicontainer lab run 13 -- ROOTFS -- COMMAND [ARG...]
  e.g.  sudo minicontainer lab run 13 -- /var/lib/minicontainer/labs/13-capstone/busybox -- sh

Runs COMMAND in a container made the way minicontainer's init recipe makes one
(minicontainer/runtime.py, ``_init``): new namespaces, an overlay root, its own
/proc, /sys and /dev, masked and read-only paths, pivot_root, a hostname, root
mapped to an unprivileged host range, Docker's capabilities, no_new_privs, fds
closed, and seccomp last.
"""

import os
import shutil
import signal
import sys
import tempfile

from minicontainer import capabilities, cgroups, idmap, mounts, namespaces, native, seccomp
from minicontainer.config import DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS
from minicontainer.namespaces import Namespace
from minicontainer.state import SECCOMP_CACHE_DIR

HOSTNAME = "my-container"
CAPS = set(DEFAULT_CAPABILITIES)
# Container ids 0..65535 are host ids of the range the default rootfs is owned for.
UID_MAP = idmap.default_mappings("uid")
GID_MAP = idmap.default_mappings("gid")
PIDS_MAX = "256"


def init(rootfs: str, scratch: str, command: list[str], program: bytes, sync_r: int) -> None:
    """The container's init, one layer a line, in the recipe's order; ends in execve.

    Everything is imported already: after the pivot the host's files, Python's
    own modules included, are out of reach.
    """
    native.set_dumpable(False)  # its /proc files stay root's while the host's fds are open
    native.set_pdeathsig(signal.SIGKILL)  # the runtime killed: the container goes too
    os.setsid()  # a session of its own: no controlling terminal of the caller to type into
    if os.read(sync_r, 2) != b"go":  # end of file: the runtime died before the id maps
        raise RuntimeError("the runtime ended before it released the container")
    os.close(sync_r)

    mounts.set_propagation("rprivate")
    idmap.become_root()
    root = mounts.mount_rootfs(rootfs, f"{scratch}/merged", f"{scratch}/upper",
                               f"{scratch}/work")
    mounts.mount_proc(root, True)
    mounts.mount_sys(root, True)
    mounts.mount_dev(root, True, True)
    mounts.mount_cgroup(root, True)
    mounts.mask_paths(root, MASKED_PATHS)
    mounts.readonly_paths(root, READONLY_PATHS)
    mounts.pivot_to(root)
    namespaces.set_hostname(HOSTNAME)
    capabilities.before_user_switch(CAPS)
    idmap.switch_user(0, 0, [])
    capabilities.apply(CAPS, True, set())
    native.set_no_new_privs()
    native.close_range(3)
    native.seccomp_load(program)
    os.execvp(command[0], command)


def make_scratch() -> str:
    """A host directory for the overlay's upper, work and merged directories; the
    layer belongs to the container's root, who mounts the overlay."""
    scratch = tempfile.mkdtemp(prefix="my-runtime-")
    os.chmod(scratch, 0o711)
    for name in ("upper", "work", "merged"):
        os.mkdir(os.path.join(scratch, name), 0o755)
    for name in ("upper", "work"):
        os.chown(os.path.join(scratch, name), UID_MAP[0].host_id, GID_MAP[0].host_id)
    return scratch


def make_cgroup(name: str):
    """The container's cgroup (a pids limit where this host's cgroup v2 has the
    controller), or None without cgroup v2."""
    hierarchy = cgroups.find_hierarchy()
    if hierarchy is None:
        return None
    limits = {"pids.max": PIDS_MAX} if "pids" in hierarchy.controllers else {}
    return cgroups.Cgroup.create(hierarchy, name, limits)


def run(rootfs: str, command: list[str]) -> int:
    """Start the container, wait for it, free what it owned; its exit code."""
    # Compiled here: the init loads it last, when nothing can be read from the host.
    program = seccomp.compiled(seccomp.default_profile(), CAPS, SECCOMP_CACHE_DIR)
    scratch = make_scratch()
    cgroup = make_cgroup(os.path.basename(scratch))
    sync_r, sync_w = os.pipe()
    try:
        cgroup_fd = cgroup.open_fd() if cgroup is not None else None
        flags = (Namespace.USER | Namespace.PID | Namespace.MNT | Namespace.UTS
                 | Namespace.IPC | Namespace.NET | Namespace.CGROUP)
        pid = namespaces.clone(flags, cgroup_fd)
        if pid == 0:
            try:
                os.close(sync_w)
                init(rootfs, scratch, command, program, sync_r)
            except BaseException as e:
                print(f"my_runtime: init: {e}", file=sys.stderr)
            finally:
                os._exit(125)
        if cgroup_fd is not None:
            os.close(cgroup_fd)
        os.close(sync_r)
        idmap.write_maps(pid, UID_MAP, GID_MAP)
        os.write(sync_w, b"go")
        os.close(sync_w)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) \
            else 128 + os.WTERMSIG(status)
    finally:
        if cgroup is not None:
            cgroup.destroy()
        shutil.rmtree(scratch)


def main() -> int:
    """Parse ``ROOTFS -- COMMAND...`` and run it."""
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        sys.exit("usage: my_runtime.py ROOTFS -- COMMAND [ARG...]")
    return run(os.path.abspath(args[0]), args[2:])


if __name__ == "__main__":
    sys.exit(main())
