"""The mount namespace layer: the container's root and the filesystems in it.

Every function here runs in the container's init, inside its new mount
namespace, so nothing mounted here exists on the host (unless a shared
propagation is asked for); the namespace and its mounts disappear with the last
process in it.  The init recipe calls them in this order: :func:`set_propagation`,
:func:`open_binds`, :func:`mount_rootfs`, :func:`mount_entry` for each of the config's
mounts in its order, :func:`populate_dev`, :func:`make_device_nodes`,
:func:`mask_paths`, :func:`readonly_paths`, :func:`pivot_to` (or :func:`chroot_to`),
:func:`finish_root`, :func:`set_propagation` again and :func:`set_entry_propagations`.

Every place in the rootfs is found with :func:`open_in_root` (openat2
``RESOLVE_IN_ROOT``) and mounted on through the fd it gives, never looked up by
name again: the rootfs belongs to whoever made it, may be shared with a running
container, and before ``pivot_root`` a path in it could otherwise lead to the
host's files.  :func:`mount_proc`, :func:`mount_sys`, :func:`mount_dev`,
:func:`mount_cgroup`, :func:`open_volumes` and :func:`attach_volumes` are the same
steps for a script that builds its own container (the labs), on fixed paths.
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
    _proc(target, own_pid_namespace, _SECURE, None, _by_path(target))


# Each filesystem function mounts on ``target`` and, for what it sets on the new mount
# afterwards, calls ``mounted(action)``: ``action`` gets a path to the new mount (for
# a target given as an fd, it is looked up again; see mount_entry).
def _by_path(target: str):
    return lambda action: action(target)


def _proc(target: str, own: bool, flags: int, data: str | None, mounted) -> None:
    if own:
        native.mount("proc", target, "proc", flags, data)
    else:
        _bind_host("/proc", target, flags, mounted)


def _bind_host(path: str, target: str, flags: int, mounted) -> None:
    """The host's ``path`` bound in instead of a filesystem of the container's own,
    with nosuid, nodev, noexec added (a host may mount /proc or /sys without them)."""
    native.mount(path, target, None, MS_BIND | MS_REC)

    def secure(new: str) -> None:
        native.mount_setattr(new, _SECURE_ATTRS, recursive=True)
        if flags & MS_RDONLY:
            native.make_readonly(new, recursive=True)

    mounted(secure)


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
    _sysfs(target, own_net_namespace, _SECURE | (MS_RDONLY if readonly else 0), None,
           _by_path(target))


def _sysfs(target: str, own: bool, flags: int, data: str | None, mounted) -> None:
    if own:
        native.mount("sysfs", target, "sysfs", flags, data)
    else:
        _bind_host("/sys", target, flags, mounted)


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
    target = mountpoint(root, "/sys/fs/cgroup")
    _cgroup2(target, own_cgroup_namespace, _SECURE | (MS_RDONLY if readonly else 0), None,
             _by_path(target))


def _cgroup2(target: str, own: bool, flags: int, data: str | None, mounted) -> None:
    if not own:
        _bind_host("/sys/fs/cgroup", target, flags, mounted)
        return
    if _is_mount_root(target):
        # The host's /sys was bound here with its cgroup mounts (no network namespace
        # of our own): cover them, or the kernel refuses the same cgroup2 on the same
        # mount point.
        native.mount("tmpfs", target, "tmpfs", _SECURE, "size=0,mode=755")
    native.mount("cgroup2", target, "cgroup2", flags, data)


def _is_mount_root(path: str) -> bool:
    """Whether ``path`` is the root of a mount (also through a /proc/self/fd link)."""
    here, up = os.stat(path), os.stat(os.path.join(path, ".."))
    return here.st_dev != up.st_dev or here.st_ino == up.st_ino


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


def mount_options(options: list[str], readonly: bool) -> tuple[int, str | None]:
    """``(flags, data)`` from a mount's options: mount(2) flags, and the filesystem's
    own options (``mode=755,size=65536k``); a propagation is not either (see
    :func:`set_entry_propagations`)."""
    flags = MS_RDONLY if readonly else 0
    data = []
    for option in options:
        if option in MOUNT_FLAG_OPTIONS:
            flags |= MOUNT_FLAG_OPTIONS[option]
        elif option not in PROPAGATION_FLAGS and option not in _DEFAULT_OPTIONS:
            data.append(option)
    return flags, ",".join(data) or None


def mount_entry(root: str, entry, tree: int | None, own: bool) -> None:
    """Mount one entry of the config's ``mounts`` (a :class:`~minicontainer.config.Mount`)
    in the container's root, before the pivot; a bind attaches ``tree`` (from
    :func:`open_binds`).

    ``own``: the container has the namespace this filesystem shows (pid for proc,
    net for sysfs, cgroup for cgroup), or may mount a fresh one; if not, the
    host's is bound, as :func:`mount_proc` explains.  The destination is found
    with :func:`open_in_root` and mounted on through that fd, never looked up by
    name again: a rootfs shared with a running container, or owned by someone
    else, cannot swap a symlink in between.  A symlink on the way is refused for
    a filesystem of the container's own, followed inside the root for a bind.
    """
    if entry.type == "bind":
        attach_bind(root, tree, entry)
        return
    copy_up = TMPCOPYUP in entry.options
    flags, data = mount_options([o for o in entry.options if o != TMPCOPYUP], entry.readonly)
    target = open_in_root(root, entry.destination, follow_symlinks=False)
    below = None
    try:
        path = f"/proc/self/fd/{target}"  # mount(2) follows it to the fd's directory
        if copy_up:
            below = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            flags &= ~MS_RDONLY  # until the copy is in
        if entry.type in _FILESYSTEMS:
            _FILESYSTEMS[entry.type](path, own, flags, data,
                                     lambda action: _on_mount(root, entry.destination, action))
        else:
            native.mount(entry.source, path, entry.type, flags, data)
        if below is not None:
            _copy_up(root, entry, below)
    finally:
        os.close(target)
        if below is not None:
            os.close(below)


def _on_mount(root: str, destination: str, action, follow_symlinks: bool = False) -> None:
    """Call ``action`` with a path to the mount now at ``destination`` (looked up again:
    an fd taken before the mount is the directory under it)."""
    mounted = open_in_root(root, destination, follow_symlinks=follow_symlinks, create=False)
    if mounted is None:
        raise FileNotFoundError(errno.ENOENT, "is gone after its mount", destination)
    try:
        action(f"/proc/self/fd/{mounted}")
    finally:
        os.close(mounted)


def set_entry_propagations(entries: list) -> None:
    """Give each mount entry that names a propagation (``private`` or ``rprivate``:
    :class:`~minicontainer.config.Mount` refuses the others) that propagation, once
    the root's own has been set on every mount below it, which would override it;
    in the container, after the pivot."""
    for entry in entries:
        wanted = [PROPAGATION_FLAGS[o] for o in entry.options if o in PROPAGATION_FLAGS]
        if wanted:
            _on_mount("/", entry.destination,
                      lambda mount, flag=wanted[-1]: native.mount(None, mount, None, flag),
                      follow_symlinks=entry.type == "bind")


def _copy_up(root: str, entry, below: int) -> None:
    """runc's ``tmpcopyup``: what the directory ``below`` holds, copied into the tmpfs
    just mounted over it; then ``ro`` if the entry asks for it."""
    def copy(mounted: str) -> None:
        target = os.open(mounted, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _copy_entries(below, target)
            st = os.fstat(below)
            os.chown(target, st.st_uid, st.st_gid)
            os.chmod(target, stat.S_IMODE(st.st_mode))
        finally:
            os.close(target)
        if entry.readonly:
            native.make_readonly(mounted)

    _on_mount(root, entry.destination, copy)


def _copy_entries(source_fd: int, target_fd: int) -> None:
    """Copy files, directories and symlinks, with modes and owners, fd to fd.  Each
    entry is opened without following a symlink (O_NONBLOCK: a fifo swapped in must
    not hang the init) and its type taken from the open fd, not from a stat before."""
    for name in os.listdir(source_fd):
        st = os.stat(name, dir_fd=source_fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=source_fd), name, dir_fd=target_fd)
            os.chown(name, st.st_uid, st.st_gid, dir_fd=target_fd, follow_symlinks=False)
            continue
        try:
            src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                          dir_fd=source_fd)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENXIO):  # swapped for a symlink; a socket
                continue
            raise
        try:
            st = os.fstat(src)
            if stat.S_ISDIR(st.st_mode):
                os.mkdir(name, 0o700, dir_fd=target_fd)
                dst = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                              dir_fd=target_fd)
                try:
                    _copy_entries(src, dst)
                finally:
                    os.close(dst)
            elif stat.S_ISREG(st.st_mode):
                dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                              | os.O_CLOEXEC, 0o600, dir_fd=target_fd)
                try:
                    while os.sendfile(dst, src, None, 1 << 30):
                        pass
                finally:
                    os.close(dst)
            else:
                continue  # a device, fifo or socket is not copied up, as runc does not
        finally:
            os.close(src)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=target_fd, follow_symlinks=False)
        os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=target_fd)  # ours: not a symlink


def attach_bind(root: str, tree: int, entry) -> None:
    """Attach ``tree`` (a host path copied by :func:`open_binds`) at the entry's
    destination, resolved inside ``root`` as if ``root`` were ``/`` (openat2
    ``RESOLVE_IN_ROOT``): a symlink in the rootfs can only lead to another place
    in the container, whoever made it and whenever.  ``ro``, ``nosuid``, ``nodev``
    and ``noexec`` are set on the detached tree first, so they land on this mount
    and nothing else (its propagation: :func:`set_entry_propagations`).  ``tree``
    is closed.
    """
    try:
        attrs = sum(_BIND_ATTRS[o] for o in set(entry.options) & _BIND_ATTRS.keys())
        if entry.readonly:
            attrs |= native.MOUNT_ATTR_RDONLY
        if attrs:
            native.mount_setattr_tree(tree, attrs, 0, entry.destination)
        is_file = not stat.S_ISDIR(os.fstat(tree).st_mode)
        target = open_in_root(root, entry.destination, is_file)
        try:
            native.move_mount_to_fd(tree, target, entry.destination)
        finally:
            os.close(target)
    finally:
        os.close(tree)


def open_in_root(root: str, path: str, is_file: bool = False,
                 follow_symlinks: bool = True, create: bool = True) -> int | None:
    """An ``O_PATH`` fd of ``path`` inside ``root``, resolved as if ``root`` were ``/``
    (openat2 ``RESOLVE_IN_ROOT``: ``..`` and symlinks stay inside); with
    ``follow_symlinks`` off, a symlink anywhere on the way is refused (ELOOP).  What
    is missing is made (a directory, or for ``is_file`` an empty file at the end),
    each part looked up again the same way once made; without ``create``, None."""
    try:
        root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        if create:
            raise
        return None  # a root that is not there has nothing in it (after a pivot, say)
    resolve = native.RESOLVE_IN_ROOT | native.RESOLVE_NO_MAGICLINKS
    if not follow_symlinks:
        resolve |= native.RESOLVE_NO_SYMLINKS
    parts = [p for p in path.split("/") if p]
    try:
        for i, part in enumerate(parts):
            here = "/".join(parts[:i + 1])
            try:
                fd = _openat2(root_fd, here, os.O_PATH | os.O_CLOEXEC, resolve, path)
            except FileNotFoundError:
                if not create:
                    return None
                parent = _openat2(root_fd, "/".join(parts[:i]) or ".",
                                  os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, resolve, path)
                try:
                    if is_file and i == len(parts) - 1:
                        os.close(os.open(part, os.O_CREAT | os.O_EXCL | os.O_WRONLY
                                         | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=parent))
                    else:
                        os.mkdir(part, 0o755, dir_fd=parent)
                finally:
                    os.close(parent)
                fd = _openat2(root_fd, here, os.O_PATH | os.O_CLOEXEC, resolve, path)
            if i < len(parts) - 1:
                os.close(fd)
        return fd
    finally:
        os.close(root_fd)


def _openat2(dir_fd: int, here: str, flags: int, resolve: int, path: str) -> int:
    try:
        return native.openat2(dir_fd, here, flags, resolve)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "a symlink in the rootfs, refusing to mount on it",
                          path) from None
        raise


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
        target = open_in_root(root, path, follow_symlinks=False, create=False)
        if target is None:
            continue
        try:
            through = f"/proc/self/fd/{target}"
            if stat.S_ISDIR(os.fstat(target).st_mode):
                native.mount("tmpfs", through, "tmpfs", MS_RDONLY | _SECURE, "size=0,mode=555")
            else:
                native.mount(null, through, None, MS_BIND)
        finally:
            os.close(target)


def readonly_paths(root: str, paths: list[str]) -> None:
    """Make kernel interfaces read-only: bind each onto itself, then set read-only.

    /proc/sys holds host-wide knobs (core_pattern runs a host program as root);
    the read-only bind keeps them visible for reading.
    """
    for path in paths:
        target = open_in_root(root, path, follow_symlinks=False, create=False)
        if target is None:
            continue
        try:
            through = f"/proc/self/fd/{target}"
            native.mount(through, through, None, MS_BIND | MS_REC)
        finally:
            os.close(target)
        _on_mount(root, path, lambda new: native.make_readonly(new, recursive=True))


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
