"""The mount namespace layer: the container's root and the filesystems in it.

Every function here runs in the container's init, inside its new mount
namespace, so nothing mounted here exists on the host (unless a shared
propagation is asked for); the namespace and its mounts disappear with the last
process in it.  The init recipe calls them in this order: :func:`set_propagation`,
:func:`open_volumes`, :func:`mount_rootfs`, :func:`mount_proc`, :func:`mount_sys`,
:func:`mount_dev`, :func:`make_device_nodes`, :func:`mount_cgroup`, :func:`mask_paths`,
:func:`readonly_paths`, :func:`pivot_to` (or :func:`chroot_to`), :func:`attach_volumes`,
:func:`finish_root`, :func:`set_propagation` again.
"""

from __future__ import annotations

import errno
import os
import re
import stat

from minicontainer import native
from minicontainer.native import (
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_STRICTATIME,
)

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_SYMLINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
    "ptmx": "pts/ptmx",
}
_SECURE = MS_NOSUID | MS_NODEV | MS_NOEXEC
# A bind keeps the flags of the host mount it copies, and a host may mount /proc or
# /sys without nodev: a bound one gets them added.
_SECURE_ATTRS = native.MOUNT_ATTR_NOSUID | native.MOUNT_ATTR_NODEV | native.MOUNT_ATTR_NOEXEC


_OCTAL_ESCAPE = re.compile(rb"\\([0-7]{3})")  # mountinfo writes a space as \040
_MS_SLAVE = 0x80000
_MS_SHARED = 0x100000
PROPAGATION_FLAGS = {
    "private": MS_PRIVATE, "rprivate": MS_REC | MS_PRIVATE,
    "slave": _MS_SLAVE, "rslave": MS_REC | _MS_SLAVE,
    "shared": _MS_SHARED, "rshared": MS_REC | _MS_SHARED,
}


def set_propagation(mode: str) -> None:
    """Give ``/`` (with ``r``: every mount below it too) the propagation ``mode``.

    ``rprivate`` lets no mount event cross between the host and the container;
    ``rslave`` lets the host's reach the container; ``rshared`` lets them cross
    both ways, where the host's mount is shared and no user namespace makes it a
    slave.  Applied before the setup (to the copies of the host's mounts, the
    volumes among them) and after it (to the container's own root).
    """
    native.mount(None, "/", None, PROPAGATION_FLAGS[mode])


def _make_parent_private(path: str) -> None:
    """Make the mount that holds ``path`` private in this namespace, so that what is
    mounted on ``path`` stays here whatever the propagation of ``/`` (runc does the same)."""
    wanted = os.fsencode(path)
    holder = b"/"
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            point = _OCTAL_ESCAPE.sub(lambda m: bytes([int(m[1], 8)]), line.split()[4])
            inside = wanted == point or wanted.startswith(point.rstrip(b"/") + b"/")
            if inside and len(point) > len(holder):
                holder = point
    native.mount(None, os.fsdecode(holder), None, MS_PRIVATE)


def mount_rootfs(rootfs: str, merged: str, upper: str | None, work: str | None) -> str:
    """Mount the container's root and return where it is.

    With ``upper``/``work`` an overlay puts every write into the per-container
    upper directory and the rootfs itself is never touched; without, the rootfs
    is bind-mounted onto ``merged`` and writes go through.  Either way the root
    becomes a mount point of its own, which ``pivot_root`` requires.
    """
    _make_parent_private(merged)
    if upper is not None:
        options = f"lowerdir={rootfs},upperdir={upper},workdir={work}"
        native.mount("overlay", merged, "overlay", 0, options)
    else:
        native.mount(rootfs, merged, None, MS_BIND | MS_REC)
    return merged


def mountpoint(root: str, path: str, is_file: bool = False, create: bool = True) -> str | None:
    """``root + path``, created if missing (None if missing and not ``create``).

    Refuses a symlink anywhere on the way: the rootfs belongs to whoever made it,
    and before ``pivot_root`` an absolute symlink in it resolves against the host's
    root, so ``/proc -> /etc`` would put a mount on the host's ``/etc``.
    """
    current = root
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        current = os.path.join(current, part)
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            if not create:
                return None
            if is_file and i == len(parts) - 1:
                os.close(os.open(current, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            else:
                os.mkdir(current, 0o755)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise OSError(errno.ELOOP, "a symlink in the rootfs, refusing to mount on it", path)
    return current


def mount_proc(root: str, own_pid_namespace: bool) -> None:
    """A procfs for the container.

    A fresh procfs shows only the processes of the pid namespace it is mounted
    from.  Without a pid namespace of its own inside a user namespace, the
    kernel refuses a new procfs, so the host's is bound instead.
    """
    target = mountpoint(root, "/proc")
    if own_pid_namespace:
        native.mount("proc", target, "proc", _SECURE)
    else:
        native.mount("/proc", target, None, MS_BIND | MS_REC)
        native.mount_setattr(target, _SECURE_ATTRS, recursive=True)


def remount_proc() -> None:
    """Give the calling process a fresh ``/proc`` of its own pid namespace.

    For scripts (the labs) that :func:`minicontainer.namespaces.clone` a child into
    new pid and mount namespaces and run it on the host's tree.  Every mount is made
    private first, or the new procfs would propagate to the host's ``/proc`` through
    its shared peer group.  Refuses (EPERM) in its parent's mount namespace, where
    it would cover the parent's (the host's) ``/proc``.
    """
    with open("/proc/self/status") as f:
        parent = next(line.split()[1] for line in f if line.startswith("PPid:"))
    # The procfs a clone starts with is its parent's: it numbers the parent.
    if parent != "0" and os.stat(f"/proc/{parent}/ns/mnt").st_ino == os.stat(
            "/proc/self/ns/mnt").st_ino:
        raise OSError(errno.EPERM, "remount_proc needs a new mount namespace (CLONE_NEWNS)")
    set_propagation("rprivate")
    native.mount("proc", "/proc", "proc", _SECURE)


def mount_sys(root: str, own_net_namespace: bool, readonly: bool = True) -> None:
    """A sysfs, read-only unless ``readonly`` is off (``--privileged``).

    sysfs shows the network devices of the namespace that mounts it; without a
    network namespace of its own, the host's /sys is bound instead.
    """
    target = mountpoint(root, "/sys")
    if own_net_namespace:
        native.mount("sysfs", target, "sysfs", _SECURE | (MS_RDONLY if readonly else 0))
    else:
        native.mount("/sys", target, None, MS_BIND | MS_REC)
        native.mount_setattr(target, _SECURE_ATTRS, recursive=True)
        if readonly:
            native.make_readonly(target, recursive=True)


def mount_dev(root: str, in_user_namespace: bool, own_ipc_namespace: bool) -> None:
    """A minimal /dev: a tmpfs with the harmless devices, devpts, shm and mqueue.

    Inside a user namespace the kernel refuses mknod, so the host's device
    nodes are bind-mounted onto empty files instead.  ``/dev/pts`` is a new
    devpts instance: the container's ptys are not the host's.
    """
    dev = mountpoint(root, "/dev")
    native.mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")
    for name in DEVICES:
        path = os.path.join(dev, name)
        if in_user_namespace:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
            native.mount(f"/dev/{name}", path, None, MS_BIND)
        else:
            host = os.stat(f"/dev/{name}")
            os.mknod(path, 0o666 | stat.S_IFCHR, host.st_rdev)
            os.chmod(path, 0o666)
    for name, target in DEV_SYMLINKS.items():
        os.symlink(target, os.path.join(dev, name))
    pts = mountpoint(root, "/dev/pts")
    native.mount(
        "devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"
    )
    shm = mountpoint(root, "/dev/shm")
    native.mount("shm", shm, "tmpfs", _SECURE, "mode=1777,size=65536k")
    if own_ipc_namespace:
        native.mount("mqueue", mountpoint(root, "/dev/mqueue"), "mqueue", _SECURE)


def make_device_nodes(root: str, nodes: list, in_user_namespace: bool) -> None:
    """The device nodes the config asks for (``--device``, OCI ``linux.devices``).

    Each node is made as its entry says (type, numbers, mode, owner); inside a
    user namespace, where mknod is refused, its host node is bind-mounted onto
    an empty file instead.  Whether the container may use it is the device
    layer's decision, not this one's.
    """
    for node in nodes:
        parent = mountpoint(root, os.path.dirname(node.path))
        path = os.path.join(parent, os.path.basename(node.path))
        if os.path.lexists(path):
            raise OSError(errno.EEXIST, "is already there, refusing to replace it",
                          f"device {node.path}")
        if in_user_namespace:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o600))
            native.mount(node.host_path or node.path, path, None, MS_BIND)
        else:
            kind = stat.S_IFBLK if node.kind == "b" else stat.S_IFCHR
            os.mknod(path, kind | 0o600, os.makedev(node.major, node.minor))
            os.chown(path, node.uid, node.gid, follow_symlinks=False)
            os.chmod(path, node.file_mode, follow_symlinks=False)


def mount_cgroup(root: str, own_cgroup_namespace: bool, readonly: bool = True) -> None:
    """The cgroup2 hierarchy at /sys/fs/cgroup, read-only unless ``readonly`` is off.

    In a cgroup namespace of its own the container sees its cgroup as the root
    of the tree; otherwise the host's hierarchy is bound.
    """
    target = mountpoint(root, "/sys/fs/cgroup")
    if own_cgroup_namespace:
        if os.path.ismount(target):
            # The host's /sys was bound here with its cgroup mounts (no network namespace
            # of our own): cover them, or the kernel refuses the same cgroup2 on the same
            # mount point.
            native.mount("tmpfs", target, "tmpfs", _SECURE, "size=0,mode=755")
        native.mount("cgroup2", target, "cgroup2", _SECURE | (MS_RDONLY if readonly else 0))
    else:
        native.mount("/sys/fs/cgroup", target, None, MS_BIND | MS_REC)
        native.mount_setattr(target, _SECURE_ATTRS, recursive=True)
        if readonly:
            native.make_readonly(target, recursive=True)


def mask_paths(root: str, paths: list[str]) -> None:
    """Hide kernel files a container has no business reading.

    A file gets the container's /dev/null bound over it, a directory an empty
    read-only tmpfs.  A path this kernel does not have is skipped.
    """
    null = os.path.join(root, "dev/null")
    st = os.stat(null)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        raise OSError(errno.EINVAL, "is not the null device (1:3), refusing to mask with it",
                      null)
    for path in paths:
        target = mountpoint(root, path, create=False)
        if target is None:
            continue
        if os.path.isdir(target):
            native.mount("tmpfs", target, "tmpfs", MS_RDONLY | _SECURE, "size=0,mode=555")
        else:
            native.mount(null, target, None, MS_BIND)


def readonly_paths(root: str, paths: list[str]) -> None:
    """Make kernel interfaces read-only: bind each onto itself, then set read-only.

    /proc/sys holds host-wide knobs (core_pattern runs a host program as root);
    the read-only bind keeps them visible for reading.
    """
    for path in paths:
        target = mountpoint(root, path, create=False)
        if target is None:
            continue
        native.mount(target, target, None, MS_BIND | MS_REC)
        native.make_readonly(target, recursive=True)


def open_volumes(sources: list[str]) -> list[int]:
    """Detached copies of each host path to bind, taken before the host is out of reach.

    Called while the init still has the runtime's host uid, so that the runtime
    may bind whatever host root may read, as Docker's daemon does; the container
    itself then accesses the files as its mapped user.
    """
    return [native.open_tree_clone(source) for source in sources]


def pivot_to(root: str) -> None:
    """Make ``root`` the root of the mount namespace and drop the host's root.

    ``pivot_root(".", ".")`` stacks the old root on top of the new one; the
    detached unmount then removes it, so no path leads back to the host.
    chroot would leave the old root mounted and reachable.  The old root is
    made a slave first: unmounting a shared copy of the host's mounts would
    unmount the host's own (runc's lesson).
    """
    old_root = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    os.chdir(root)
    native.pivot_root(".", ".")
    os.fchdir(old_root)
    os.close(old_root)
    native.mount(None, ".", None, MS_REC | _MS_SLAVE)
    native.umount2(".", MNT_DETACH)
    os.chdir("/")


def chroot_to(root: str) -> None:
    """Make ``root`` the process's root by chroot alone (runc's ``--no-pivot``).

    The weaker way, kept as a switch: the host's tree stays mounted in this
    mount namespace, below the chroot, and a process that may call chroot
    itself can climb back out to it.
    """
    os.chdir(root)
    os.chroot(".")
    os.chdir("/")


def attach_volumes(trees: list[int], destinations: list[str], readonly: list[bool]) -> None:
    """Attach the trees from :func:`open_volumes`, after the pivot.

    Destinations are resolved inside the new root, so a symlink in the rootfs
    can only lead to another place in the container.
    """
    for tree, destination, ro in zip(trees, destinations, readonly, strict=True):
        destination = os.path.realpath(destination)
        is_file = not stat.S_ISDIR(os.fstat(tree).st_mode)
        parent = os.path.dirname(destination)
        os.makedirs(parent, exist_ok=True)
        if not os.path.lexists(destination):
            if is_file:
                os.close(os.open(destination, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            else:
                os.mkdir(destination, 0o755)
        native.move_mount(tree, destination)
        os.close(tree)
        if ro:
            native.make_readonly(destination, recursive=True)


def finish_root(readonly: bool) -> None:
    """Make the root mount read-only when asked (the mounts on it keep their own flags)."""
    if readonly:
        native.make_readonly("/")
