"""Mounting a host disk from a privileged container (``--privileged --userns host``).

A disk is the host's files without their permissions: whoever can open the
block device and mount it reads every file on it, ``/etc/shadow`` included, and
with a writable mount can change any of them.  ``--privileged`` (Docker's and
ours) lets a container do exactly that: every capability (``CAP_MKNOD`` to make
the device node, ``CAP_SYS_ADMIN`` to mount), no seccomp filter, and no device
layer, so a node made with ``mknod`` opens.  It is the first thing every
"privileged container escape" write-up does: ``fdisk -l``, then
``mount /dev/sda1 /mnt``.

Here it needs one more flag.  ``--privileged`` keeps the user namespace (the
container's root is an unprivileged uid on the host), and the kernel refuses
both steps inside one: ``mknod`` of a device node, and a mount of a disk
filesystem (ext2/4, xfs, ... are not ``FS_USERNS_MOUNT``: a crafted image could
attack the kernel's filesystem code).  With ``--userns host`` as well, the
container's root is the host's root, and the escape works.  Not all of
``--privileged`` is needed: the measured minimum is ``--userns host --cap-add
SYS_ADMIN --security-opt devices=unconfined`` (``CAP_MKNOD`` is in the default
set, and seccomp may stay on).  Any one of these
layers, put back alone, stops it: the user namespace, the capabilities (no
``CAP_SYS_ADMIN``), the device layer (the node is made, but opening it is
``EPERM``).  The seccomp profile does not: it allows ``mount`` to a container
that holds ``CAP_SYS_ADMIN``, as Docker's does, so the capability decides.

The demo never offers a real disk: it makes a 1 MiB ext2 image in its own host
directory with a secret on it, attaches it read-only to a free loop device,
names its numbers to the attack, and detaches it afterwards; the attack mounts
it ``-o ro`` and prints the file it reads there.  Incident: ``--privileged`` in CI runners and
"debug" pods (Kubernetes ``privileged: true``); CIS Docker Benchmark 5.4.
"""

from __future__ import annotations

from minicontainer.escapes import loopdisk
from minicontainer.escapes.base import Attempt, Escape


class HostDiskMount(Escape):
    """Make the node of a host block device and mount it read-only."""

    name = "host-disk-mount"
    title = "mount a host disk from a privileged container"
    attacks = "a host block device: mknod + mount (--privileged)"
    incident = "CIS Docker 5.4: privileged containers; mount /dev/sda1 in write-ups"
    weakening = ["--privileged", "--userns", "host"]
    stopped_by = ["user ns", "capabilities", "devices"]

    def missing(self) -> str | None:
        """A loop device to offer as the host's disk."""
        return loopdisk.missing()

    def plant(self, attempt: Attempt) -> None:
        """A read-only loop disk with a secret on it; its numbers named to the attack."""
        attempt.env["MC_DISK"] = loopdisk.numbers(loopdisk.attach(attempt))

    def restore(self, attempt: Attempt) -> None:
        """Detach the loop disk."""
        loopdisk.detach(attempt)


ESCAPE = HostDiskMount()
