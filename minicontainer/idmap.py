"""User and group id mapping of a user namespace.

Inside a user namespace, ids are translated to host ids through ``uid_map`` and
``gid_map``.  minicontainer maps container ids 0-65535 onto an unprivileged host
range, so that root in the container is a nobody on the host: a file it writes
on a bind mount belongs to host uid ``1000000000`` (by default), not to root.

The range comes from a ``minicontainer`` line in ``/etc/subuid`` and
``/etc/subgid`` when there is one (``minicontainer:1000000000:65536``), otherwise
from ``DEFAULT_HOST_ID`` and ``DEFAULT_SIZE``.
"""

from __future__ import annotations

import os

DEFAULT_HOST_ID = 1_000_000_000
DEFAULT_SIZE = 65536
SUBID_OWNER = "minicontainer"


class IdMapping:
    """One line of a uid_map or gid_map: ``size`` ids from ``container_id`` on
    are host ids from ``host_id`` on."""

    __slots__ = ("container_id", "host_id", "size")

    def __init__(self, container_id: int, host_id: int, size: int) -> None:
        self.container_id = container_id
        self.host_id = host_id
        self.size = size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMapping) and self.line() == other.line()

    def __repr__(self) -> str:
        return f"IdMapping({self.container_id}, {self.host_id}, {self.size})"

    def line(self) -> str:
        """The mapping as the kernel reads it from ``/proc/PID/uid_map``."""
        return f"{self.container_id} {self.host_id} {self.size}"

    def to_oci(self) -> dict[str, int]:
        """This mapping as an OCI ``linux.uidMappings`` entry."""
        return {"containerID": self.container_id, "hostID": self.host_id, "size": self.size}


def user_namespaces_enabled(limit_file: str = "/proc/sys/user/max_user_namespaces") -> bool:
    """Whether this kernel lets us create a user namespace at all.

    A kernel built without them has no ``/proc/self/ns/user``; one with them
    switched off has a limit of 0.
    """
    if not os.path.exists("/proc/self/ns/user"):
        return False
    try:
        with open(limit_file) as f:
            return int(f.read()) > 0
    except FileNotFoundError:
        return True


def subid_range(path: str, owner: str = SUBID_OWNER) -> IdMapping | None:
    """The first ``owner:start:count`` range in a subuid/subgid file, as a mapping
    of container id 0 onwards; None when the file has no line for ``owner``."""
    try:
        with open(path) as f:
            for line in f:
                fields = line.strip().split(":")
                if len(fields) == 3 and fields[0] == owner:
                    return IdMapping(0, int(fields[1]), int(fields[2]))
    except FileNotFoundError:
        return None
    return None


def default_mappings(kind: str) -> list[IdMapping]:
    """The default mapping for ``kind`` ``"uid"`` or ``"gid"``."""
    configured = subid_range(f"/etc/sub{kind}")
    return [configured or IdMapping(0, DEFAULT_HOST_ID, DEFAULT_SIZE)]


def to_host(mappings: list[IdMapping], container_id: int) -> int:
    """The host id that ``container_id`` maps to; ValueError when it is unmapped."""
    for m in mappings:
        if m.container_id <= container_id < m.container_id + m.size:
            return m.host_id + container_id - m.container_id
    raise ValueError(f"id {container_id} is not mapped")


def write_maps(pid: int, uid_mappings: list[IdMapping], gid_mappings: list[IdMapping]) -> None:
    """Write the id maps of the user namespace process ``pid`` has just created.

    Written by the parent, as host root, before the child is released: the child
    cannot write ranges of ids it does not own.
    """
    for name, mappings in (("uid_map", uid_mappings), ("gid_map", gid_mappings)):
        data = "".join(m.line() + "\n" for m in mappings).encode()
        fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def become_root() -> None:
    """Take uid and gid 0 of the new user namespace, right after the maps are written.

    Until then the child still runs with the host's ids, which mean nothing in
    its namespace: files it created would belong to the overflow id.
    """
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def switch_user(uid: int, gid: int, groups: list[int]) -> None:
    """Become the container's user: supplementary groups, then gid, then uid.

    The order matters: once the uid is not 0 the process may no longer change
    its groups.
    """
    os.setgroups(groups)
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
