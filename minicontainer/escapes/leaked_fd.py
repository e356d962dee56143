"""A leaked host directory fd becomes the way out (CVE-2024-21626, "Leaky Vessels").

A file descriptor is a door that stays open whatever happens to the paths
behind it: ``pivot_root`` and the mount namespace change what a *path* names,
never what an already open fd refers to.  An fd of a host directory that
reaches the container's command is a handle on the host's tree: ``cd`` into
``/proc/self/fd/N`` and the working directory is outside the container's root,
``..`` leads up to the host's ``/``.

runc 1.1.11 and older leaked such an fd (of the host's ``/sys/fs/cgroup``) into
the container's process, and ran the command with a working directory the image
chose: ``WORKDIR /proc/self/fd/7`` put the container's first process inside the
host's tree (CVE-2024-21626, January 2024).

minicontainer's own fds never reach the command, so the demo plays the leaky
caller: it opens its private host directory without close-on-exec and starts
the runtime with it (the runner's worker, a fork, inherits it).  The attack is
told the fd's number and prints the secret file it reads through it.  The layer that stops
it is fd hygiene: before the command starts, every fd above 2 is closed on
exec, whoever opened it, and the working directory is checked to be inside the
root.  Both files are readable by anyone, so no other layer is in the way: an
fd to the host's tree is an escape even for an unprivileged user.
"""

from __future__ import annotations

import os

from minicontainer.escapes.base import Attempt, Escape


class LeakedFd(Escape):
    """Read a host file through a host directory fd the container inherited."""

    name = "leaked-fd"
    title = "leaked host directory fd as the cwd"
    attacks = "an inherited fd of a host directory (/proc/self/fd/N as the cwd)"
    incident = "CVE-2024-21626 (runc 1.1.11): WORKDIR /proc/self/fd/7"
    scenario: list[str] = []
    weakening = ["--security-opt", "fd-hygiene=false"]
    stopped_by = ["fd hygiene"]

    def plant(self, attempt: Attempt) -> None:
        """A world-readable secret file and an fd of its directory that this attempt's
        container alone inherits (a leaky caller's fd, without close-on-exec)."""
        os.chmod(attempt.workdir, 0o755)
        with open(attempt.path("secret"), "w") as f:
            f.write(attempt.secret)
        os.chmod(attempt.path("secret"), 0o644)
        attempt.leaked_fd = os.open(attempt.workdir, os.O_RDONLY | os.O_DIRECTORY)
        attempt.pass_fds.append(attempt.leaked_fd)
        attempt.env["MC_FD"] = str(attempt.leaked_fd)

    def restore(self, attempt: Attempt) -> None:
        """Close the leaked fd."""
        fd = getattr(attempt, "leaked_fd", None)
        if fd is not None:
            os.close(fd)


ESCAPE = LeakedFd()
