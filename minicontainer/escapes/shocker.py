"""Shocker: a host file opened by its file handle (``open_by_handle_at``).

A file handle is the name a filesystem itself gives a file: for ext4 the inode
number and its generation, a few bytes.  ``name_to_handle_at(2)`` gives it,
``open_by_handle_at(2)`` turns it back into an open file, given an fd of
*anything* on the same filesystem to say which filesystem is meant.  No path is
walked, so no mount namespace, bind mount or ``pivot_root`` is in the way: a
container that holds one fd on a host filesystem (a volume, or in 2014 Docker's
``/.dockerinit`` bind-mounted from the host) can open every file on it.  This
is why the call needs ``CAP_DAC_READ_SEARCH`` in the *initial* user namespace.

The demo plants a secret file in its private host directory and bind-mounts a
harmless empty directory next to it as the volume ``/data``.  The file's handle
is passed to the attack in its environment, to keep the demo short and sure;
the real exploit found it by brute force, walking from the root directory's
handle (inode 2) down through each directory's entries.  The static helper
``mc-escape-shocker`` opens ``/data`` and calls ``open_by_handle_at`` with it.

Two layers stop it, each alone:

- capabilities: the container lacks ``CAP_DAC_READ_SEARCH`` (EPERM);
- user ns: a capability held in the container's user namespace is not one in
  the initial namespace, so the kernel refuses (EPERM) even with the capability.

The default seccomp profile denies the call too, but only to a container
without the capability: like Docker's, it allows the syscalls of every
capability the container was given.  So seccomp adds nothing here once
``--cap-add DAC_READ_SEARCH`` is given, and the weakening leaves it on.

Incident: the "shocker" exploit (Sebastian Krahmer, June 2014) read the host's
``/etc/shadow`` from Docker 0.11 containers, which still held
``CAP_DAC_READ_SEARCH``; Docker 1.0 dropped the capability.
"""

from __future__ import annotations

import os

from minicontainer import native
from minicontainer.escapes.base import Attempt, Escape


class Shocker(Escape):
    """Open a host file outside every mount by its file handle."""

    name = "shocker"
    title = "open_by_handle_at from a volume (shocker)"
    attacks = "open_by_handle_at with an fd on a host filesystem (CAP_DAC_READ_SEARCH)"
    incident = "shocker (2014): Docker 0.11 containers read the host's /etc/shadow"
    scenario: list[str] = []
    weakening = ["--cap-add", "DAC_READ_SEARCH", "--userns", "host"]
    stopped_by = ["capabilities", "user ns"]

    def missing(self) -> str | None:
        """File handles are a filesystem's feature: a tmpfs /tmp (as in the VM) has none."""
        import errno
        import tempfile

        try:
            native.name_to_handle_at(tempfile.gettempdir())
        except OSError as e:
            if e.errno == errno.EOPNOTSUPP:
                return f"the filesystem of {tempfile.gettempdir()} has no file handles"
            raise
        return None

    def plant(self, attempt: Attempt) -> None:
        """The secret file, its handle for the attack, and an empty volume beside it."""
        secret = attempt.path("secret")
        with open(secret, "w") as f:
            f.write(attempt.secret)
        os.mkdir(attempt.path("innocent"))
        handle_type, handle = native.name_to_handle_at(secret)
        attempt.env["MC_HANDLE_TYPE"] = str(handle_type)
        attempt.env["MC_HANDLE"] = handle.hex()
        attempt.flags += ["-v", f"{attempt.path('innocent')}:/data:ro"]


ESCAPE = Shocker()
