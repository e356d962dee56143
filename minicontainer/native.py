"""Python face of the C layer in ``csrc/``.

Each function calls one syscall (or one prctl) and raises :class:`OSError` carrying
the errno, with the name of the call and its path argument as ``filename``, so
that a failure reads like ``PermissionError: [Errno 1] Operation not permitted:
'mount /proc'``.
"""

from __future__ import annotations

import os

from minicontainer._native import ffi, lib

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_STRICTATIME = 0x1000000

MNT_DETACH = 0x2

# openat2 RESOLVE_* flags (linux/openat2.h)
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_IN_ROOT = 0x10

PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


def _check(rc: int, call: str, path: str | None = None) -> int:
    if rc == -1:
        errno = ffi.errno
        raise OSError(errno, os.strerror(errno), call if path is None else f"{call} {path}")
    return rc


def _bytes(value: str | None) -> bytes | object:
    return ffi.NULL if value is None else value.encode()


def clone(flags: int) -> int:
    """Fork into the namespaces named by ``flags`` (CLONE_NEW* bits).

    Returns 0 in the child and the child's pid in the parent, like ``os.fork()``.

    Example::

        pid = clone(CLONE_NEWUTS)
        if pid == 0:
            sethostname("inside")
            os._exit(0)
    """
    return _check(lib.mc_clone(flags), "clone")


def clone_into_cgroup(flags: int, cgroup_fd: int) -> int:
    """:func:`clone`, but the child starts inside the cgroup open at ``cgroup_fd``
    (``clone3`` with ``CLONE_INTO_CGROUP``): limited from its first instruction, and
    a new cgroup namespace is rooted at that cgroup."""
    return _check(lib.mc_clone_into_cgroup(flags, cgroup_fd), "clone3")


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces (``unshare(2)``)."""
    _check(lib.mc_unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0, path: str | None = None) -> None:
    """Join the namespace that ``fd`` (an open ``/proc/PID/ns/*`` file) refers to."""
    _check(lib.mc_setns(fd, nstype), "setns", path)


def pivot_root(new_root: str, put_old: str) -> None:
    """Make ``new_root`` the root mount and move the old root to ``put_old``."""
    _check(lib.mc_pivot_root(new_root.encode(), put_old.encode()), "pivot_root", new_root)


def mount(
    source: str | None,
    target: str,
    fstype: str | None = None,
    flags: int = 0,
    data: str | None = None,
) -> None:
    """``mount(2)``; the error names the target."""
    _check(
        lib.mc_mount(_bytes(source), target.encode(), _bytes(fstype), flags, _bytes(data)),
        "mount",
        target,
    )


def umount2(target: str, flags: int = 0) -> None:
    """``umount2(2)``; ``MNT_DETACH`` for a lazy unmount."""
    _check(lib.mc_umount2(target.encode(), flags), "umount2", target)


def make_readonly(path: str, recursive: bool = False) -> None:
    """Set the read-only attribute on the mount at ``path`` (and below it if recursive)."""
    _check(lib.mc_mount_setattr_rdonly(path.encode(), int(recursive)), "mount_setattr", path)


MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8


def mount_setattr(path: str, attr_set: int, recursive: bool = False) -> None:
    """Add ``MOUNT_ATTR_*`` flags to the mount at ``path`` (and below it if recursive),
    keeping the others: what a bind of a host mount needs, as it copies the host's flags."""
    _check(lib.mc_mount_setattr(path.encode(), int(recursive), attr_set), "mount_setattr", path)


def open_tree_clone(path: str, recursive: bool = True) -> int:
    """A detached copy of the mount tree at ``path``, returned as an fd.

    The copy survives a ``pivot_root`` that hides ``path``; :func:`move_mount`
    attaches it afterwards.
    """
    return _check(lib.mc_open_tree_clone(path.encode(), int(recursive)), "open_tree", path)


def move_mount(tree_fd: int, target: str) -> None:
    """Attach a tree from :func:`open_tree_clone` at ``target``."""
    _check(lib.mc_move_mount(tree_fd, target.encode()), "move_mount", target)


MOUNT_ATTR_RDONLY = 0x1


def mount_setattr_tree(tree_fd: int, attr_set: int, propagation: int, path: str) -> None:
    """Add ``MOUNT_ATTR_*`` flags and set a propagation (``MS_PRIVATE`` ..., 0 for none)
    on every mount of a detached tree from :func:`open_tree_clone` (``path`` only
    names it in an error)."""
    _check(lib.mc_mount_setattr_tree(tree_fd, attr_set, propagation), "mount_setattr", path)


def move_mount_to_fd(tree_fd: int, target_fd: int, path: str) -> None:
    """Attach a tree from :func:`open_tree_clone` on the file or directory open at
    ``target_fd`` (``path`` only names it in an error)."""
    _check(lib.mc_move_mount_to_fd(tree_fd, target_fd), "move_mount", path)


def sethostname(name: str) -> None:
    """Set the hostname of the calling process's UTS namespace."""
    raw = name.encode()
    _check(lib.mc_sethostname(raw, len(raw)), "sethostname", name)


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    """Close every file descriptor from ``first`` to ``last``."""
    _check(lib.mc_close_range(first, last, flags), "close_range")


def ambient(op: int, cap: int = 0) -> None:
    """Raise, lower or clear ambient capabilities (``PR_CAP_AMBIENT``)."""
    _check(lib.mc_set_ambient(op, cap), "prctl(PR_CAP_AMBIENT)")


def set_dumpable(dumpable: bool) -> None:
    """``PR_SET_DUMPABLE``: a non-dumpable process's /proc files belong to root."""
    _check(lib.mc_set_dumpable(int(dumpable)), "prctl(PR_SET_DUMPABLE)")


def set_pdeathsig(signum: int) -> None:
    """Ask the kernel to send ``signum`` to us when our parent dies."""
    _check(lib.mc_set_pdeathsig(signum), "prctl(PR_SET_PDEATHSIG)")


def set_child_subreaper(on: bool = True) -> None:
    """Adopt orphaned descendants (``PR_SET_CHILD_SUBREAPER``)."""
    _check(lib.mc_set_child_subreaper(int(on)), "prctl(PR_SET_CHILD_SUBREAPER)")


def set_no_new_privs() -> None:
    """``PR_SET_NO_NEW_PRIVS``: execve can never grant more privilege from now on."""
    _check(lib.mc_set_no_new_privs(), "prctl(PR_SET_NO_NEW_PRIVS)")


def set_link_up(ifname: str) -> None:
    """Bring a network interface of the current network namespace up."""
    _check(lib.mc_set_link_up(ifname.encode()), "ioctl(SIOCSIFFLAGS)", ifname)


def seccomp_load(program: bytes) -> None:
    """Install a seccomp BPF program (``seccomp(SECCOMP_SET_MODE_FILTER)``).

    Without no_new_privs the kernel requires CAP_SYS_ADMIN for this.
    """
    _check(lib.mc_seccomp_load_bpf(program, len(program)), "seccomp(SECCOMP_SET_MODE_FILTER)")


BPF_CGROUP_DEVICE = 6  # enum bpf_attach_type
BPF_F_ALLOW_MULTI = 2
_BPF_LOG_SIZE = 1 << 16


def bpf_load_device_program(instructions: bytes, name: str, license: str = "GPL") -> int:
    """Load a cgroup device program (``bpf(BPF_PROG_LOAD)``) and return its fd.

    ``instructions`` is an array of ``struct bpf_insn`` (8 bytes each).  When the
    verifier refuses it, the load is repeated with a log buffer, and the OSError
    ends with the verifier's last lines, which say why.
    """
    rc = lib.mc_bpf_load_device_program(instructions, len(instructions), license.encode(),
                                        name.encode(), ffi.NULL, 0)
    if rc != -1:
        return rc
    errno = ffi.errno
    log = ffi.new("char[]", _BPF_LOG_SIZE)
    again = lib.mc_bpf_load_device_program(instructions, len(instructions), license.encode(),
                                           name.encode(), log, _BPF_LOG_SIZE)
    if again != -1:
        os.close(again)
    verifier = ffi.string(log).decode(errors="replace").strip().splitlines()[-3:]
    call = "bpf(BPF_PROG_LOAD)" + (f": verifier: {' | '.join(verifier)}" if verifier else "")
    raise OSError(errno, os.strerror(errno), call)


def bpf_prog_attach(cgroup_fd: int, prog_fd: int, attach_type: int, flags: int = 0,
                    path: str | None = None) -> None:
    """Attach a loaded program to the cgroup open at ``cgroup_fd`` (``bpf(BPF_PROG_ATTACH)``)."""
    _check(lib.mc_bpf_prog_attach(cgroup_fd, prog_fd, attach_type, flags),
           "bpf(BPF_PROG_ATTACH)", path)


def bpf_prog_query(cgroup_fd: int, attach_type: int, path: str | None = None) -> list[int]:
    """The ids of the programs attached to a cgroup for ``attach_type``
    (``bpf(BPF_PROG_QUERY)``)."""
    capacity = 64
    ids = ffi.new("uint32_t[]", capacity)
    count = ffi.new("uint32_t *", capacity)
    _check(lib.mc_bpf_prog_query(cgroup_fd, attach_type, ids, count), "bpf(BPF_PROG_QUERY)", path)
    return [ids[i] for i in range(min(count[0], capacity))]


def openat2(dir_fd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """``openat2(2)``: open ``path`` below the directory open at ``dir_fd`` under the
    ``RESOLVE_*`` rules in ``resolve``; a close-on-exec fd.

    ``RESOLVE_IN_ROOT`` resolves ``path`` as if ``dir_fd`` were ``/``, so neither
    ``..`` nor an absolute symlink can lead out of that tree; ``RESOLVE_NO_SYMLINKS``
    refuses every symlink on the way (ELOOP).  ``mode`` only with ``O_CREAT``.
    """
    return _check(lib.mc_openat2(dir_fd, path.encode(), flags, mode, resolve), "openat2", path)


def mount_setattr_idmap(tree_fd: int, userns_fd: int) -> None:
    """Make the detached mount at ``tree_fd`` an idmapped mount: the owners of its
    files are translated by the id maps of the user namespace at ``userns_fd``."""
    _check(lib.mc_mount_setattr_idmap(tree_fd, userns_fd), "mount_setattr(MOUNT_ATTR_IDMAP)")


MAX_HANDLE_SZ = 128


def name_to_handle_at(path: str, dir_fd: int = -100) -> tuple[int, bytes]:
    """``name_to_handle_at(2)``: the filesystem's own name for the file at ``path``
    (a symlink is not followed): its handle type and handle bytes, which
    ``open_by_handle_at`` turns back into the file from any fd on that filesystem."""
    handle = ffi.new("unsigned char[]", MAX_HANDLE_SZ)
    handle_type = ffi.new("int *")
    length = _check(lib.mc_name_to_handle_at(dir_fd, path.encode(), handle, MAX_HANDLE_SZ,
                                             handle_type), "name_to_handle_at", path)
    return handle_type[0], bytes(ffi.buffer(handle, length))


KEY_SPEC_PROCESS_KEYRING = -2


def add_key(key_type: str, description: str, payload: bytes,
            keyring: int = KEY_SPEC_PROCESS_KEYRING) -> int:
    """``add_key(2)``: a key in the kernel's keyring, linked into ``keyring`` (by
    default this process's own, which ends with it); its serial number."""
    return _check(lib.mc_add_key(key_type.encode(), description.encode(), payload,
                                 len(payload), keyring), "add_key", description)


def invalidate_key(key: int) -> None:
    """``keyctl(KEYCTL_INVALIDATE)``: remove the key at once, from every keyring."""
    _check(lib.mc_keyctl_invalidate(key), "keyctl(KEYCTL_INVALIDATE)")
