"""CAP_SYS_ADMIN turns a device the container was given into files (``--cap-add SYS_ADMIN``).

``CAP_SYS_ADMIN`` is the capability the kernel checks when nothing more
specific fits: mount, swapon, sethostname, quotas, BPF, namespaces, ... so many
that its man page calls it "the new root".  Docker leaves it out of the default
set, and ``--cap-add SYS_ADMIN`` is the usual first step of a shortcut ("FUSE
needs it", "my backup job mounts a volume").

The scenario is a container that was given a block device (``--device``), as
for a database on a raw disk: the device layer lets it open the node, so the
raw bytes are already its own, but reading a filesystem out of raw bytes is
hard.  With ``CAP_SYS_ADMIN`` it can ``mount`` the device and read the files,
whatever their owners and modes.  Two layers stand in the way, each on its
own: the capabilities (no ``CAP_SYS_ADMIN``, ``mount`` is ``EPERM``) and the
user namespace (a disk filesystem such as ext2 is never mountable from one:
the kernel does not trust its filesystem code with images a user made).  The
default seccomp profile allows ``mount`` to a container holding
``CAP_SYS_ADMIN``, as Docker's does: the capability is the gate.

The demo makes a 1 MiB ext2 image in its own host directory with the nonce on
it, attaches it read-only to a free loop device, hands that to the container
with ``--device ...:r``, and detaches it afterwards; the attack mounts it
``-o ro`` and prints the file it reads there.  Incident: ``--cap-add SYS_ADMIN`` in Docker
Compose files and Kubernetes ``securityContext`` (the capability of the
cgroup ``release_agent`` escape, CVE-2022-0492, too); CIS Docker Benchmark 5.3.
"""

from __future__ import annotations

from minicontainer.escapes import loopdisk
from minicontainer.escapes.base import Attempt, Escape

NODE = "/dev/mc-disk"


class SysAdminMount(Escape):
    """Mount a block device the container was given, with CAP_SYS_ADMIN."""

    name = "sys-admin-mount"
    title = "mount a given disk with CAP_SYS_ADMIN"
    attacks = "mount(2) with CAP_SYS_ADMIN of a device the container was given"
    incident = "CIS Docker 5.3: --cap-add SYS_ADMIN, 'the new root'"
    weakening = ["--cap-add", "SYS_ADMIN", "--userns", "host",
                 "--security-opt", "apparmor=unconfined"]
    stopped_by = ["user ns", "capabilities"]

    def missing(self) -> str | None:
        """A loop device to give to the container."""
        return loopdisk.missing()

    def plant(self, attempt: Attempt) -> None:
        """A read-only loop disk with a secret on it, given to the container read-only."""
        device = loopdisk.attach(attempt)
        attempt.flags += ["--device", f"{device}:{NODE}:r"]
        attempt.env["MC_DISK_NODE"] = NODE

    def restore(self, attempt: Attempt) -> None:
        """Detach the loop disk."""
        loopdisk.detach(attempt)


ESCAPE = SysAdminMount()
