"""Lab 13: a container runtime of your own, from minicontainer's primitives.

Usage:  sudo minicontainer lab run 13 -- ROOTFS -- COMMAND [ARG...]
  e.g.  sudo minicontainer lab run 13 -- /var/lib/minicontainer/labs/13-capstone/busybox -- sh

Runs COMMAND in a container made the way minicontainer's init recipe makes one
(minicontainer/runtime.py, ``_init``): new namespaces, an overlay root, its own
/proc, /sys and /dev, masked and read-only paths, pivot_root, a hostname, root
mapped to an unprivileged host range, Docker's capabilities, no_new_privs, fds
closed, and seccomp last.

Fill in the TODOs in their order, which is the recipe's; `sudo minicontainer lab check 13`
tells you how far you are, and runs the escape catalogue against your runtime last.
Until TODO 4 the container writes straight into ROOTFS: run only `echo` in it.
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

    # TODO 3: no mount event may cross between the host and the container: make every
    # mount of this new namespace private (mounts.set_propagation) before mounting.
    idmap.become_root()
    # TODO 4: the root: an overlay of ROOTFS with its upper, work and merged directories
    # in scratch (mounts.mount_rootfs), so that ROOTFS itself is never written.
    root = rootfs
    # TODO 5: a /proc of the new pid namespace, /sys read-only, a /dev of harmless
    # devices, and /sys/fs/cgroup read-only (mounts.mount_proc, mount_sys, mount_dev,
    # mount_cgroup; the container has a user, net and ipc namespace of its own).
    # TODO 6: hide MASKED_PATHS and make READONLY_PATHS read-only.
    # TODO 7: pivot_root into root and drop the host's tree (mounts.pivot_to): a chroot
    # leaves it mounted behind the new root.
    mounts.chroot_to(root)
    # TODO 8: the hostname (only ever in a UTS namespace of its own).
    # TODO 9: capabilities, CAPS only: the bounding set first, then root's own sets
    # (capabilities.before_user_switch, idmap.switch_user, capabilities.apply).
    # TODO 10: no_new_privs: no execve may grant privileges again (native).
    # TODO 11: close every fd above 2: a host fd left open is a door out (native).
    # TODO 12: seccomp, last, so that nothing above needs a syscall it blocks:
    # load `program` (native).
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
        # TODO 1: all seven namespaces: user, pid, mount, uts, ipc, net and cgroup.
        flags = Namespace(0)
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
        # TODO 2: the child waits for its id maps: write UID_MAP and GID_MAP for it
        # (idmap), from here, as host root, before releasing it.
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
