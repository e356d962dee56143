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
    _proc(mountpoint(root, "/proc"), own_pid_namespace, _SECURE, None)


def _proc(target: str, own: bool, flags: int, data: str | None) -> None:
    if own:
        native.mount("proc", target, "proc", flags, data)
    else:
        _bind_host("/proc", target, flags)


def _bind_host(path: str, target: str, flags: int) -> None:
    """The host's ``path`` bound in instead of a filesystem of the container's own,
    with nosuid, nodev, noexec added (a host may mount /proc or /sys without them)."""
    native.mount(path, target, None, MS_BIND | MS_REC)
    native.mount_setattr(target, _SECURE_ATTRS, recursive=True)
    if flags & MS_RDONLY:
        native.make_readonly(target, recursive=True)


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
    _sysfs(mountpoint(root, "/sys"), own_net_namespace, _SECURE | (MS_RDONLY if readonly else 0),
           None)


def _sysfs(target: str, own: bool, flags: int, data: str | None) -> None:
    if own:
        native.mount("sysfs", target, "sysfs", flags, data)
    else:
        _bind_host("/sys", target, flags)


def mount_dev(root: str, in_user_namespace: bool, own_ipc_namespace: bool) -> None:
    """A minimal /dev: a tmpfs with the harmless devices, devpts, shm and mqueue.

    Inside a user namespace the kernel refuses mknod, so the host's device
    nodes are bind-mounted onto empty files instead.  ``/dev/pts`` is a new
    devpts instance: the container's ptys are not the host's.
    """
    native.mount("tmpfs", mountpoint(root, "/dev"), "tmpfs", MS_NOSUID | MS_STRICTATIME,
                 "mode=755,size=65536k")
    populate_dev(root, in_user_namespace)
    pts = mountpoint(root, "/dev/pts")
    native.mount(
        "devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"
    )
    shm = mountpoint(root, "/dev/shm")
    native.mount("shm", shm, "tmpfs", _SECURE, "mode=1777,size=65536k")
    if own_ipc_namespace:
        native.mount("mqueue", mountpoint(root, "/dev/mqueue"), "mqueue", _SECURE)


def populate_dev(root: str, in_user_namespace: bool) -> None:
    """The harmless devices and the usual symlinks in the container's fresh /dev."""
    dev = mountpoint(root, "/dev")
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
    _cgroup2(mountpoint(root, "/sys/fs/cgroup"), own_cgroup_namespace,
             _SECURE | (MS_RDONLY if readonly else 0), None)


def _cgroup2(target: str, own: bool, flags: int, data: str | None) -> None:
    if not own:
        _bind_host("/sys/fs/cgroup", target, flags)
        return
    if os.path.ismount(target):
        # The host's /sys was bound here with its cgroup mounts (no network namespace
        # of our own): cover them, or the kernel refuses the same cgroup2 on the same
        # mount point.
        native.mount("tmpfs", target, "tmpfs", _SECURE, "size=0,mode=755")
    native.mount("cgroup2", target, "cgroup2", flags, data)


# What each mount option of a config.json sets in mount(2)'s flags; the opposites
# (suid, dev, exec, atime ...) are the defaults and set nothing.
MOUNT_FLAG_OPTIONS = {
    "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "sync": 0x10,
    "mand": 0x40, "dirsync": 0x80, "noatime": 0x400, "nodiratime": 0x800,
    "relatime": 0x200000, "strictatime": MS_STRICTATIME,
}
TMPCOPYUP = "tmpcopyup"  # runc's and crun's extension: the tmpfs starts with what it covers
_DEFAULT_OPTIONS = frozenset({"suid", "dev", "exec", "async", "nomand", "atime", "diratime",
                              "norelatime", "nostrictatime"})
_BIND_ATTRS = {"nosuid": native.MOUNT_ATTR_NOSUID, "nodev": native.MOUNT_ATTR_NODEV,
               "noexec": native.MOUNT_ATTR_NOEXEC}
# The filesystem types the init mounts itself, and the function for each.
_FILESYSTEMS = {"proc": _proc, "sysfs": _sysfs, "cgroup": _cgroup2}


def mount_options(options: list[str], readonly: bool) -> tuple[int, str | None, str | None]:
    """``(flags, data, propagation)`` from a mount's options: mount(2) flags, the
    filesystem's own options (``mode=755,size=65536k``), a propagation or None."""
    flags = MS_RDONLY if readonly else 0
    data = []
    propagation = None
    for option in options:
        if option in MOUNT_FLAG_OPTIONS:
            flags |= MOUNT_FLAG_OPTIONS[option]
        elif option in PROPAGATION_FLAGS:
            propagation = option
        elif option not in _DEFAULT_OPTIONS:
            data.append(option)
    return flags, ",".join(data) or None, propagation


def mount_entry(root: str, entry, tree: int | None, own: bool) -> None:
    """Mount one entry of the config's ``mounts`` (a :class:`~minicontainer.config.Mount`)
    in the container's root, before the pivot; a bind attaches ``tree`` (from
    :func:`open_volumes`).

    ``own``: the container has the namespace this filesystem shows (pid for proc,
    net for sysfs, cgroup for cgroup), or may mount a fresh one; if not, the
    host's is bound, as :func:`mount_proc` explains.  A propagation option is
    applied to the new mount once it is there.
    """
    if entry.type == "bind":
        attach_bind(root, tree, entry)
        return
    target = mountpoint(root, entry.destination)
    options = [o for o in entry.options if o != TMPCOPYUP]
    flags, data, propagation = mount_options(options, entry.readonly)
    below = None
    if TMPCOPYUP in entry.options:
        below = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if entry.type in _FILESYSTEMS:
            _FILESYSTEMS[entry.type](target, own, flags & ~MS_RDONLY if below else flags, data)
        else:
            native.mount(entry.source, target, entry.type,
                         flags & ~MS_RDONLY if below else flags, data)
        if below is not None:
            _copy_tree(below, target)
            if flags & MS_RDONLY:
                native.make_readonly(target)
    finally:
        if below is not None:
            os.close(below)
    if propagation is not None:
        native.mount(None, target, None, PROPAGATION_FLAGS[propagation])


def _copy_tree(source_fd: int, target: str) -> None:
    """Copy what the directory open at ``source_fd`` holds into ``target`` (a fresh
    tmpfs over it): files, directories and symlinks with their modes and owners.
    Every lookup is relative to an fd and never follows a symlink: the rootfs's
    files belong to whoever made them."""
    target_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        _copy_entries(source_fd, target_fd)
        st = os.fstat(source_fd)
        os.chown(target_fd, st.st_uid, st.st_gid)
        os.chmod(target_fd, stat.S_IMODE(st.st_mode))
    finally:
        os.close(target_fd)


def _copy_entries(source_fd: int, target_fd: int) -> None:
    nofollow = os.O_NOFOLLOW | os.O_CLOEXEC
    for name in os.listdir(source_fd):
        st = os.stat(name, dir_fd=source_fd, follow_symlinks=False)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=source_fd), name, dir_fd=target_fd)
        elif stat.S_ISDIR(st.st_mode):
            os.mkdir(name, 0o700, dir_fd=target_fd)
            inner_source = os.open(name, os.O_RDONLY | os.O_DIRECTORY | nofollow,
                                   dir_fd=source_fd)
            inner_target = os.open(name, os.O_RDONLY | os.O_DIRECTORY | nofollow,
                                   dir_fd=target_fd)
            try:
                _copy_entries(inner_source, inner_target)
            finally:
                os.close(inner_source)
                os.close(inner_target)
        elif stat.S_ISREG(st.st_mode):
            src = os.open(name, os.O_RDONLY | nofollow, dir_fd=source_fd)
            dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | nofollow, 0o600,
                          dir_fd=target_fd)
            try:
                while os.sendfile(dst, src, None, 1 << 30):
                    pass
            finally:
                os.close(src)
                os.close(dst)
        else:
            continue  # a device, fifo or socket is not copied up, as runc does not
        os.chown(name, st.st_uid, st.st_gid, dir_fd=target_fd, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(name, mode, dir_fd=target_fd)  # made above by us: not a symlink


def attach_bind(root: str, tree: int, entry) -> None:
    """Attach ``tree`` (a host path copied by :func:`open_volumes`) at the entry's
    destination, resolved inside ``root`` as if ``root`` were ``/`` (openat2
    ``RESOLVE_IN_ROOT``): a symlink in the rootfs can only lead to another place
    in the container, whoever made it and whenever.  ``tree`` is closed.
    """
    try:
        is_file = not stat.S_ISDIR(os.fstat(tree).st_mode)
        target = open_in_root(root, entry.destination, is_file)
        try:
            native.move_mount_to_fd(tree, target, entry.destination)
        finally:
            os.close(target)
    finally:
        os.close(tree)
    # Looked up again: the fd above is the directory under the new mount, not the mount.
    attached = open_in_root(root, entry.destination, is_file)
    try:
        path = f"/proc/self/fd/{attached}"  # mount_setattr and mount(2) follow it
        attrs = sum(_BIND_ATTRS[o] for o in set(entry.options) & _BIND_ATTRS.keys())
        if attrs:
            native.mount_setattr(path, attrs, recursive=True)
        if entry.readonly:
            native.make_readonly(path, recursive=True)
        propagation = [o for o in entry.options if o in PROPAGATION_FLAGS]
        if propagation:
            native.mount(None, path, None, PROPAGATION_FLAGS[propagation[-1]])
    finally:
        os.close(attached)


def open_in_root(root: str, path: str, is_file: bool = False) -> int:
    """An ``O_PATH`` fd of ``path`` inside ``root``, every symlink resolved as if
    ``root`` were ``/``; what is missing is made (a directory, or for ``is_file`` an
    empty file at the end), each part looked up again the same way once made."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    resolve = native.RESOLVE_IN_ROOT | native.RESOLVE_NO_MAGICLINKS
    parts = [p for p in path.split("/") if p]
    try:
        for i, part in enumerate(parts):
            here = "/".join(parts[:i + 1])
            try:
                fd = native.openat2(root_fd, here, os.O_PATH | os.O_CLOEXEC, resolve)
            except FileNotFoundError:
                parent = native.openat2(root_fd, "/".join(parts[:i]) or ".",
                                        os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, resolve)
                try:
                    if is_file and i == len(parts) - 1:
                        os.close(os.open(part, os.O_CREAT | os.O_EXCL | os.O_WRONLY
                                         | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=parent))
                    else:
                        os.mkdir(part, 0o755, dir_fd=parent)
                finally:
                    os.close(parent)
                fd = native.openat2(root_fd, here, os.O_PATH | os.O_CLOEXEC, resolve)
            if i < len(parts) - 1:
                os.close(fd)
        return fd
    finally:
        os.close(root_fd)


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


def open_binds(entries: list) -> list[int | None]:
    """:func:`open_volumes` for the bind entries of a config's mounts, None for the
    others (which are filesystems made in the container)."""
    return [native.open_tree_clone(m.source, m.recursive) if m.type == "bind" else None
            for m in entries]


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
