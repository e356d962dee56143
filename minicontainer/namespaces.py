"""Linux namespaces: which exist, and how to enter new or existing ones.

A namespace wraps one global resource so that the processes inside see their own
copy: PID numbers, network stack, mount table, hostname, System V IPC, user and
group ids, and the cgroup root.  Example::

    from minicontainer import namespaces as ns

    pid = ns.clone(ns.Namespace.PID | ns.Namespace.UTS)   # fork-like
    if pid == 0:
        print(os.getpid())    # 1: the first process of a new PID namespace
        os._exit(0)
    os.waitpid(pid, 0)
"""

from __future__ import annotations

import enum
import os

from minicontainer import native


class Namespace(enum.IntFlag):
    """The CLONE_NEW* flag of each namespace type; combine them with ``|``."""

    MNT = 0x00020000
    CGROUP = 0x02000000
    UTS = 0x04000000
    IPC = 0x08000000
    USER = 0x10000000
    PID = 0x20000000
    NET = 0x40000000

    @property
    def proc_name(self) -> str:
        """The file name under ``/proc/PID/ns/`` (``mnt``, ``pid``, ...)."""
        return _PROC_NAMES[self]

    @classmethod
    def from_name(cls, name: str) -> Namespace:
        """The namespace called ``name`` (``pid``, ``net``, ``mnt``, ...); ValueError if none."""
        for member, proc_name in _PROC_NAMES.items():
            if name == proc_name or name == member.name.lower():
                return member
        raise ValueError(name)


_PROC_NAMES = {
    Namespace.MNT: "mnt",
    Namespace.CGROUP: "cgroup",
    Namespace.UTS: "uts",
    Namespace.IPC: "ipc",
    Namespace.USER: "user",
    Namespace.PID: "pid",
    Namespace.NET: "net",
}

ALL = (
    Namespace.USER
    | Namespace.PID
    | Namespace.MNT
    | Namespace.UTS
    | Namespace.IPC
    | Namespace.NET
    | Namespace.CGROUP
)


def members(flags: Namespace) -> list[Namespace]:
    """The single namespaces in ``flags``, in a fixed order (user first, mount last)."""
    order = (
        Namespace.USER,
        Namespace.CGROUP,
        Namespace.IPC,
        Namespace.UTS,
        Namespace.NET,
        Namespace.PID,
        Namespace.MNT,
    )
    return [ns for ns in order if ns & flags]


def clone(flags: Namespace | int, cgroup_fd: int | None = None) -> int:
    """Fork into new namespaces; returns 0 in the child and its pid in the parent.

    With ``cgroup_fd`` (an open cgroup directory) the child starts in that cgroup.
    """
    if cgroup_fd is None:
        return native.clone(int(flags))
    return native.clone_into_cgroup(int(flags), cgroup_fd)


def unshare(flags: Namespace | int) -> None:
    """Move the calling process into new namespaces.

    A new PID namespace applies to the children created afterwards, not to the caller.
    """
    native.unshare(int(flags))


def setns(pid: int, namespace: Namespace) -> None:
    """Join the ``namespace`` of process ``pid``."""
    path = f"/proc/{pid}/ns/{namespace.proc_name}"
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        native.setns(fd, int(namespace), path)
    finally:
        os.close(fd)


def inode(pid: int | str, namespace: Namespace) -> int:
    """The inode number that identifies the ``namespace`` process ``pid`` is in.

    Two processes share a namespace exactly when these numbers are equal.
    ``pid`` may be ``"self"``.
    """
    return os.stat(f"/proc/{pid}/ns/{namespace.proc_name}").st_ino


def set_hostname(name: str) -> None:
    """Set the hostname of the current UTS namespace (the host's, if it is shared)."""
    native.sethostname(name)


def set_sysctls(settings: dict[str, str]) -> None:
    """Write each ``linux.sysctl`` setting (``net.ipv4.ip_forward``: ``1``) for the
    calling process's namespaces.

    A namespaced sysctl under /proc/sys is that of the namespace of whoever opens
    it, so the container's init writes its own through the host's /proc, before
    its /proc/sys is made read-only.  :func:`minicontainer.config.check_sysctl`
    has refused every key that is not namespaced.
    """
    for key, value in settings.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as e:
            raise OSError(e.errno, f"sysctl {key}={value}: {e.strerror}") from None
