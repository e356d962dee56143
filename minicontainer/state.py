"""Where a container's files live on the host, and the record of each container.

``/var/lib/minicontainer/containers/<id>/`` holds the overlay's writable layer
(``upper``, ``work``) and the mount point of the container's root (``merged``).
It must live on a disk filesystem: overlayfs in a user namespace keeps its
metadata in ``user.*`` extended attributes, which tmpfs lacks on older kernels.

``/run/minicontainer/<id>/`` (or ``--root DIR``) holds ``state.json``, the OCI
state of the container plus what the runtime needs to find everything it owns,
and ``output.log`` for a detached container.  Writes are atomic (write, then
rename); commands that change a container take its lock; a pid is trusted only
together with the start time the kernel gave that process.
"""

from __future__ import annotations

import fcntl
import os
import re

LIB_DIR = "/var/lib/minicontainer"
CONTAINERS_DIR = os.path.join(LIB_DIR, "containers")
SECCOMP_CACHE_DIR = os.path.join(LIB_DIR, "seccomp")
STATE_ROOT = "/run/minicontainer"
# The bridge, its leases and the NAT table are one per host, whatever --root says.
NETWORK_DIR = "/run/minicontainer-network"
ID_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}")
OCI_VERSION = "1.0.2"


def new_id() -> str:
    """A fresh random container id: 12 hex digits."""
    return os.urandom(6).hex()


def valid_id(value: str) -> bool:
    """Whether ``value`` can name a container (and so a directory: no path escapes)."""
    return ID_PATTERN.fullmatch(value) is not None


def process_start_time(pid: int) -> int | None:
    """When the kernel started ``pid`` (clock ticks since boot); None if it is gone,
    or dead and waiting to be reaped (a zombie).

    A pid can be reused by another process; the pair (pid, start time) cannot.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name in parentheses may hold spaces: count fields after it.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def alive(pid: int | None, start_time: int | None) -> bool:
    """Whether the process recorded as (pid, start_time) still runs."""
    return pid is not None and start_time is not None and process_start_time(pid) == start_time


class Scratch:
    """The host directories of one container: its overlay layer and root mount point."""

    def __init__(self, container_id: str) -> None:
        self.dir = os.path.join(CONTAINERS_DIR, container_id)
        self.upper = os.path.join(self.dir, "upper")
        self.work = os.path.join(self.dir, "work")
        self.merged = os.path.join(self.dir, "merged")

    def create(self, overlay: bool, root_uid: int, root_gid: int) -> None:
        """Make the directories; the writable layer belongs to the container's root.

        The parents are searchable (0711) so that the container's root, a nobody
        on the host, can reach its layer when it mounts the overlay, but cannot
        list other containers.
        """
        for path in (LIB_DIR, CONTAINERS_DIR):
            os.makedirs(path, mode=0o711, exist_ok=True)
            os.chmod(path, 0o711)
        os.mkdir(self.dir, 0o711)
        os.mkdir(self.merged, 0o755)
        if overlay:
            for path in (self.upper, self.work):
                os.mkdir(path, 0o755)
                os.chown(path, root_uid, root_gid)

    def remove(self) -> None:
        """Delete everything the container wrote; a missing directory is fine."""
        remove_tree(self.dir)


class Lock:
    """An exclusive flock on a file, as a context manager."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> Lock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


class StateStore:
    """The state directories under one root (``/run/minicontainer`` by default)."""

    def __init__(self, root: str = STATE_ROOT) -> None:
        self.root = root

    def dir(self, container_id: str) -> str:
        """The state directory of ``container_id``."""
        return os.path.join(self.root, container_id)

    def log_path(self, container_id: str) -> str:
        """Where a detached container's output goes."""
        return os.path.join(self.dir(container_id), "output.log")

    def lock(self, container_id: str | None = None) -> Lock:
        """The lock of one container, or of the whole store (for creating and listing)."""
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        if container_id is None:
            return Lock(os.path.join(self.root, ".lock"))
        return Lock(os.path.join(self.dir(container_id), ".lock"))

    def create(self, container_id: str, state: dict) -> None:
        """Claim ``container_id``; FileExistsError if a container has it already."""
        with self.lock():
            os.mkdir(self.dir(container_id), 0o700)
        self.save(container_id, state)

    def save(self, container_id: str, state: dict) -> None:
        """Replace state.json atomically: readers see the old file or the new one."""
        import json

        path = os.path.join(self.dir(container_id), "state.json")
        partial = f"{path}.{os.getpid()}"
        with open(partial, "w") as f:
            json.dump(state, f, separators=(",", ":"))  # compact: the C encoder, fast
        os.rename(partial, path)

    def load(self, container_id: str) -> dict | None:
        """The record of ``container_id``, or None if there is none."""
        import json

        try:
            with open(os.path.join(self.dir(container_id), "state.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def update(self, container_id: str, **changes) -> dict | None:
        """Change some fields under the container's lock; None if it is gone."""
        if not os.path.isdir(self.dir(container_id)):
            return None
        with self.lock(container_id):
            state = self.load(container_id)
            if state is None:
                return None
            state.update(changes)
            self.save(container_id, state)
            return state

    def ids(self) -> list[str]:
        """The ids of every container with a record."""
        if not os.path.isdir(self.root):
            return []
        return sorted(e for e in os.listdir(self.root) if valid_id(e))

    def remove(self, container_id: str) -> None:
        """Delete the record and log of ``container_id``."""
        remove_tree(self.dir(container_id))


def remove_tree(path: str) -> None:
    """``rm -rf path`` without following symlinks.

    shutil.rmtree would do, but importing it (and the compression modules it
    pulls in) costs more than a whole container start on a slow machine.
    """
    if not os.path.lexists(path):
        return
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for name in filenames:
            os.unlink(os.path.join(dirpath, name))
        for name in dirnames:
            child = os.path.join(dirpath, name)
            if os.path.islink(child):
                os.unlink(child)
            else:
                os.rmdir(child)
    os.rmdir(path)
