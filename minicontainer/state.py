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

import errno
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

        The container's root, an unprivileged uid on the host, must reach its
        layer when it mounts the overlay; no other host user may, or a setuid file
        the container made there would hand them that uid.  So the parents are
        only searchable (0711: nobody can list the containers), and the
        container's own directory lets in host root and the container root's
        group alone (root:<its gid>, 0710).
        """
        for path in (LIB_DIR, CONTAINERS_DIR):
            os.makedirs(path, mode=0o711, exist_ok=True)
            os.chmod(path, 0o711)
        os.mkdir(self.dir, 0o700)
        os.chown(self.dir, 0, root_gid)
        os.chmod(self.dir, 0o710)
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
        """Claim ``container_id``; FileExistsError if a container has it already.

        The record is written under the store's lock too, so that ``cleanup``, which
        takes that lock, never mistakes a container being registered for a crash.
        """
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


# Directories held open at once while removing; a deeper subtree is moved up first.
_MAX_OPEN_DEPTH = 64


def remove_tree(path: str) -> None:
    """``rm -rf path`` that never follows a symlink and never enters another mount.

    The tree may be a container's writable layer, which the container can change
    while it is removed: every step is relative to an open directory fd and
    refuses symlinks (``openat2`` with ``RESOLVE_NO_SYMLINKS``, ``unlinkat``,
    ``unlinkat(AT_REMOVEDIR)``), so a directory swapped for a symlink is unlinked
    as the symlink it has become.  A mount point (``RESOLVE_NO_XDEV``: bind mounts
    of the same filesystem included, which ``st_dev`` would miss) is an error, not
    something to empty.  No path is longer than one name: any depth can be
    removed, and a subtree deeper than ``_MAX_OPEN_DEPTH`` is moved up to the top
    first, so the number of open fds stays bounded.  (shutil.rmtree is fd-based
    too, but importing it costs more than a whole container start on a slow
    machine.)
    """
    parent_path, name = os.path.split(os.path.abspath(path))
    try:
        parent = os.open(parent_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        top = _open_subdir(parent, name, path)
        if top is None:
            return
        try:
            _empty(top, path)
        finally:
            os.close(top)
        os.rmdir(name, dir_fd=parent)
    finally:
        os.close(parent)


def _open_subdir(parent: int, name: str, where: str) -> int | None:
    """An fd of the directory ``name`` in ``parent``; None if it is gone, or was not a
    directory (then it is unlinked: a symlink goes, never what it points to)."""
    from minicontainer import native

    try:
        return native.openat2(parent, name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW,
                              native.RESOLVE_NO_SYMLINKS | native.RESOLVE_NO_XDEV)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.EXDEV:
            raise OSError(errno.EBUSY, "a mount point: not removing what is mounted there",
                          os.path.join(where, name)) from None
        if e.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
    _unlink(parent, name)
    return None


def _unlink(parent: int, name: str) -> bool:
    """Unlink a non-directory; False if it has become a directory meanwhile."""
    try:
        os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        return False
    return True


def _clear_files(fd: int) -> list[str]:
    """Unlink everything in the directory at ``fd`` but its subdirectories; their names."""
    with os.scandir(fd) as entries:
        listing = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
    return [name for name, is_dir in listing if is_dir or not _unlink(fd, name)]


def _empty(top: int, path: str) -> None:
    """Remove everything inside the directory open at ``top`` (depth first, iteratively)."""
    # One entry per open directory: its fd, its name in the one above, the
    # subdirectories still to remove in it.
    stack: list[tuple[int, str, list[str]]] = [(top, path, _clear_files(top))]
    try:
        while stack:
            fd, name, subdirs = stack[-1]
            if not subdirs:
                stack.pop()
                if stack:
                    os.close(fd)
                    os.rmdir(name, dir_fd=stack[-1][0])
                continue
            child = subdirs.pop()
            if len(stack) >= _MAX_OPEN_DEPTH:
                parked = f".mc-remove-{os.urandom(8).hex()}"
                os.rename(child, parked, src_dir_fd=fd, dst_dir_fd=top)
                stack[0][2].append(parked)
                continue
            where = os.path.join(path, *(entry[1] for entry in stack[1:]))
            child_fd = _open_subdir(fd, child, where)
            if child_fd is not None:
                stack.append((child_fd, child, []))
                stack[-1][2].extend(_clear_files(child_fd))
    finally:
        for fd, _, _ in stack[1:]:
            os.close(fd)
