"""Climbing out of a chroot with ``..`` (``--rootfs-mode chroot``).

A runtime that enters the rootfs with ``chroot(2)`` instead of ``pivot_root(2)``
(runc's ``--no-pivot``, which some setups needed on a ramdisk root) leaves the
host's whole tree mounted in the container's mount namespace, hidden only by
where ``/`` resolves for the container's processes.  chroot does not move the
working directory, and it is not a cage for a process that may call chroot
itself.  Such a process (``CAP_SYS_CHROOT``, which Docker's default set grants
and our default seccomp profile allows with it) makes a directory, chroots into
it *without entering it*, so that its cwd is outside its root; then ``..``
from the cwd is never stopped at the root, and a climb reaches the top of the
mount namespace: under a chroot, the host's ``/``.  A last ``chroot(".")`` makes
that its root.

``pivot_root`` is what closes this: it makes the rootfs the root *of the mount
namespace*, and the old root is then unmounted (detached), so the top of the
climb is the container's own root and no host path is left to reach.  The user
namespace does not help here: the host file the demo plants is world-readable,
like most of a host's ``/etc``, ``/usr`` and ``/home``.

The demo plants a world-readable file holding a secret in a fresh host
directory under ``/tmp``; the attack (a small static C helper, because busybox's
``chroot`` always enters the new root) climbs out and prints what it reads there.  Incident: the
chroot-breakout technique is as old as chroot (documented in the 1990s); it is
why runc's ``--no-pivot`` carries a warning and why the OCI runtimes use
``pivot_root``.
"""

from __future__ import annotations

import os

from minicontainer.escapes.base import Attempt, Escape


class ChrootBreakout(Escape):
    """Read a host file by climbing out of a chroot root with ``..``."""

    name = "chroot-breakout"
    title = "the .. climb out of a chroot root"
    attacks = "a root entered by chroot, not pivot_root (--rootfs-mode chroot)"
    incident = "the classic chroot breakout; runc --no-pivot"
    weakening = ["--rootfs-mode", "chroot"]
    stopped_by = ["pivot_root"]

    def plant(self, attempt: Attempt) -> None:
        """A world-readable secret file in the attempt's host directory, named to the attack."""
        os.chmod(attempt.workdir, 0o755)
        marker = attempt.path("secret")
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            os.write(fd, attempt.secret.encode())
        finally:
            os.close(fd)
        attempt.env["MC_MARKER"] = marker


ESCAPE = ChrootBreakout()
