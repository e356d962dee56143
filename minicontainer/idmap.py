"""User and group id mapping of a user namespace.

Inside a user namespace, ids are translated to host ids through ``uid_map`` and
``gid_map``.  minicontainer maps container ids 0-65535 onto an unprivileged host
range, so that root in the container is a nobody on the host: a file it writes
on a bind mount belongs to host uid ``1000000000`` (by default), not to root.

The range comes from a ``minicontainer`` line in ``/etc/subuid`` and
``/etc/subgid`` when there is one (``minicontainer:1000000000:65536``), otherwise
from ``DEFAULT_HOST_ID`` and ``DEFAULT_SIZE``.  Every container shares that range
unless it asks for one of its own (``--userns-range``): then
:class:`RangeAllocator` hands out a distinct block, and the rootfs, whose files
are owned for the shared range, is seen through an idmapped mount
(:func:`shifted_tree`) that shifts its owners into the container's block.
"""

from __future__ import annotations

import os

DEFAULT_HOST_ID = 1_000_000_000
DEFAULT_SIZE = 65536
SUBID_OWNER = "minicontainer"
# One block per container with a range of its own; the blocks follow the shared
# range.  (uid_t)-1 means "no id" to the kernel, so the last block ends before it.
BLOCK_SIZE = 65536
MAX_HOST_ID = 2**32 - 2
RANGES_DIR = "/run/minicontainer-userns"
_CLONE_NEWUSER = 0x10000000


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


def subid_lines(path: str) -> list[tuple[int, int]]:
    """Every ``owner:start:count`` range in a subuid/subgid file, whoever owns it,
    as (first host id, count); none when there is no file."""
    found = []
    try:
        with open(path) as f:
            for line in f:
                fields = line.strip().split(":")
                if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
                    found.append((int(fields[1]), int(fields[2])))
    except FileNotFoundError:
        pass
    return found


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


def shared_range(kind: str) -> IdMapping:
    """The range every container shares by default, for ``"uid"`` or ``"gid"``."""
    return default_mappings(kind)[0]


def shifted_tree(rootfs: str, uid_range: IdMapping, gid_range: IdMapping) -> int:
    """A detached, idmapped copy of the mount of ``rootfs``: an fd for the init.

    The rootfs on disk is owned for the shared range (its root is host uid
    ``1000000000``).  Seen through this mount, host id ``shared + N`` is
    ``uid_range.host_id + N``, so the container's root owns the files as before,
    and what it writes through the mount is stored with the shared ids again.
    An idmapped mount takes its translation from the id maps of a user
    namespace: a short-lived child makes one, we write its maps and keep an fd.
    """
    from minicontainer import native

    userns = _mapping_namespace(
        _shift(shared_range("uid"), uid_range), _shift(shared_range("gid"), gid_range))
    try:
        tree = native.open_tree_clone(rootfs, recursive=True)
        try:
            native.mount_setattr_idmap(tree, userns)
        except BaseException:
            os.close(tree)
            raise
    finally:
        os.close(userns)
    return tree


def attach_tree(tree: int | None, target: str, rootfs: str) -> str:
    """In the init: put the idmapped rootfs from :func:`shifted_tree` on ``target``
    and return where the rootfs now is (``rootfs`` itself when there is no tree).

    The overlay is then mounted on ``target`` again, over the tree it uses as
    its lower layer.
    """
    if tree is None:
        return rootfs
    from minicontainer import native

    native.move_mount(tree, target)
    os.close(tree)
    return target


def _shift(shared: IdMapping, own: IdMapping) -> IdMapping:
    """The idmapped-mount line that turns the shared range into ``own``."""
    return IdMapping(shared.host_id, own.host_id, min(shared.size, own.size))


def _mapping_namespace(uid_line: IdMapping, gid_line: IdMapping) -> int:
    """An fd of a new user namespace whose maps are these lines (its only process
    exits at once: the fd keeps the namespace)."""
    from minicontainer import native

    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    pid = native.clone(_CLONE_NEWUSER)
    if pid == 0:
        os.close(go_w)  # so that the parent closing its end is an end of file here
        os.read(go_r, 1)
        os._exit(0)
    os.close(go_r)
    try:
        write_maps(pid, [uid_line], [gid_line])
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(go_w)
        os.waitpid(pid, 0)


class RangeAllocator:
    """The host id blocks of the containers that have a range of their own.

    ``ranges.json`` in ``state_dir`` maps each block's first host id to its
    owner: the container id and the runtime process (pid and kernel start time)
    that holds it.  Every change happens under the lock beside it.  A block is
    freed when the container stops or is removed; one whose owner died without
    freeing it (``kill -9``) is reclaimed once no process runs with one of its
    uids any more, as the bridge reclaims the leases of dead containers.

    No block overlaps a range of ``subid_files`` (``/etc/subuid``, ``/etc/subgid``),
    whoever owns it: those ids belong to other users' rootless containers.
    """

    def __init__(self, state_dir: str = RANGES_DIR,
                 subid_files: tuple[str, ...] = ("/etc/subuid", "/etc/subgid")) -> None:
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, "ranges.json")
        self.subid_files = subid_files

    def allocate(self, container_id: str, pid: int, start_time: int | None) -> int:
        """A free block for ``container_id``, owned by ``pid``: its first host id
        (the same number for uids and gids)."""
        with self._lock():
            blocks = self._load()
            self._reclaim(blocks)
            first = max(r.host_id + r.size for r in (shared_range("uid"), shared_range("gid")))
            delegated = [line for path in self.subid_files for line in subid_lines(path)]
            for host_id in range(first, MAX_HOST_ID - BLOCK_SIZE + 2, BLOCK_SIZE):
                if str(host_id) not in blocks and not any(
                        start < host_id + BLOCK_SIZE and host_id < start + count
                        for start, count in delegated):
                    break
            else:
                raise OSError(f"every host id block above {first} is in use")
            blocks[str(host_id)] = {"id": container_id, "pid": pid, "startTime": start_time}
            self._save(blocks)
            return host_id

    def adopt(self, container_id: str, pid: int, start_time: int | None) -> None:
        """Make ``pid`` the owner of the blocks of ``container_id`` (a detached
        container's monitor takes them over from the command that started it)."""
        self._change(container_id, None, {"pid": pid, "startTime": start_time})

    def release(self, container_id: str, host_id: int | None = None) -> None:
        """Give up the blocks of ``container_id`` (only the one at ``host_id`` if
        given); nothing to free is fine.  A block some process still runs in (a
        child that outlived the container) stays until :meth:`reclaim` finds it idle."""
        self._change(container_id, host_id, {"pid": None, "startTime": None})

    def reclaim(self) -> None:
        """Free the blocks whose owner is gone and whose uids no process runs as."""
        self._change(None, None, {})

    def blocks(self) -> dict[int, dict]:
        """The blocks held now: first host id -> {id, pid, startTime} (no lock: a hint)."""
        return {int(k): v for k, v in self._load().items()}

    def held_by(self, container_id: str) -> list[str]:
        """What ``container_id`` holds here, for a report of leftovers."""
        return [f"host id block {first}" for first, owner in self.blocks().items()
                if owner.get("id") == container_id]

    def _change(self, container_id: str | None, host_id: int | None, owner: dict) -> None:
        """Give the blocks of ``container_id`` (at ``host_id``) this owner, then
        reclaim; the file is left alone when there is none."""
        if not os.path.exists(self.path):
            return
        with self._lock():
            blocks = self._load()
            for first, current in blocks.items():
                if current.get("id") == container_id and host_id in (None, int(first)):
                    current.update(owner)
            self._reclaim(blocks)
            self._save(blocks)

    def _reclaim(self, blocks: dict) -> None:
        from minicontainer.state import alive

        gone = [first for first, owner in blocks.items()
                if not alive(owner.get("pid"), owner.get("startTime"))]
        if gone:
            in_use = _uids_in_use()
            for first in gone:
                start = int(first)
                if not any(start <= uid < start + BLOCK_SIZE for uid in in_use):
                    del blocks[first]

    def _load(self) -> dict:
        import json

        try:
            with open(self.path) as f:
                return json.load(f)["blocks"]
        except FileNotFoundError:
            return {}

    def _save(self, blocks: dict) -> None:
        """Write the blocks atomically; with none left, the file goes (nothing stays)."""
        import json

        if not blocks:
            if os.path.exists(self.path):
                os.unlink(self.path)
            return
        partial = f"{self.path}.{os.getpid()}"
        with open(partial, "w") as f:
            json.dump({"blocks": blocks}, f)
        os.rename(partial, self.path)

    def _lock(self):
        from minicontainer.state import Lock

        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        return Lock(os.path.join(self.state_dir, ".lock"))


def _uids_in_use() -> set[int]:
    """Every uid (real, effective, saved, filesystem) some live host process runs as
    (a zombie, waiting to be reaped, can no longer act)."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("State:") and line.split()[1] in ("Z", "X"):
                        break
                    if line.startswith("Uid:"):
                        found.update(int(u) for u in line.split()[1:])
                        break
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found
