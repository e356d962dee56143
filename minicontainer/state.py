"""Where a container's files live on the host, and container ids.

``/var/lib/minicontainer/containers/<id>/`` holds the overlay's writable layer
(``upper``, ``work``) and the mount point of the container's root (``merged``).
It must live on a disk filesystem: overlayfs in a user namespace keeps its
metadata in ``user.*`` extended attributes, which tmpfs lacks on older kernels.
"""

from __future__ import annotations

import os
import re

LIB_DIR = "/var/lib/minicontainer"
CONTAINERS_DIR = os.path.join(LIB_DIR, "containers")
SECCOMP_CACHE_DIR = os.path.join(LIB_DIR, "seccomp")
ID_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}")


def new_id() -> str:
    """A fresh random container id: 12 hex digits."""
    return os.urandom(6).hex()


def valid_id(value: str) -> bool:
    """Whether ``value`` can name a container (and so a directory: no path escapes)."""
    return ID_PATTERN.fullmatch(value) is not None


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
