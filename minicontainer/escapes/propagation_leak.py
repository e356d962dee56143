"""A mount made inside the container appears on the host (shared propagation).

Mount propagation ties mounts together in *peer groups*: a mount or unmount
under one member is repeated under every other, in whatever mount namespace it
lives.  A container's mount namespace starts as a copy of the host's, so every
shared host mount has a peer inside, and a volume of a shared host directory is
one more.  A runtime therefore makes the container's mounts private
(``rprivate``, our default and runc's) before it sets anything up: from then on
nothing the container mounts leaves it.  With ``rshared`` (Kubernetes'
``mountPropagation: Bidirectional``, Docker's ``:rshared`` volumes) the
container's mounts stay peers of the host's, and a container that may mount
(``CAP_SYS_ADMIN``) mounts over a host directory: it decides what the host's
daemons read there, and its mounts outlive it.

The user namespace stops it too, on its own: a mount namespace owned by a less
privileged user namespace gets the host's shared mounts as *slaves* (the kernel
locks them), so events come in and none go back.  And without ``CAP_SYS_ADMIN``
the container cannot mount at all.  The default seccomp profile allows
``mount`` to a container holding ``CAP_SYS_ADMIN``: the capability is the gate.

The demo never changes the propagation of the host's own mounts: it bind-mounts
a fresh directory under its private host directory onto itself, makes that one
mount shared, and hands it to the container as the volume ``/vol``.  The attack
mounts a small tmpfs on ``/vol/leak`` and writes the nonce into it; the proof is
the host reading ``leak/nonce`` in its directory after the container has ended.
This escape changes the host's mount table while it runs: the shared bind
mount (and, when the attack works, the container's tmpfs on it) is a mount of
the host's own namespace, under ``/tmp``.  ``restore`` unmounts the leaked
tmpfs and then the bind mount; if an unmount fails (a process still inside,
an attempt that crashed half-way), it detaches the mount with a lazy unmount
(``umount -l``) instead, which takes it out of the mount table at once and
frees it when its last user is gone.  Incident: Kubernetes
warns that Bidirectional propagation "can be dangerous" and allows it only to
privileged containers; CIS Docker Benchmark 5.19 (mount propagation not
shared).
"""

from __future__ import annotations

import os
import subprocess

from minicontainer.escapes.base import Attempt, Escape

VOLUME = "/vol"


class PropagationLeak(Escape):
    """Mount a tmpfs under a shared volume and let it propagate to the host."""

    name = "propagation-leak"
    title = "a container mount propagates to the host"
    attacks = "shared mount propagation (--rootfs-propagation rshared) of a shared volume"
    incident = "CIS Docker 5.19; Kubernetes mountPropagation: Bidirectional"
    weakening = ["--rootfs-propagation", "rshared", "--userns", "host",
                 "--cap-add", "SYS_ADMIN", "--security-opt", "apparmor=unconfined"]
    stopped_by = ["propagation", "user ns", "capabilities"]

    def plant(self, attempt: Attempt) -> None:
        """A host directory made a shared mount of its own, with a mount point ``leak`` in it,
        given to the container as ``/vol``."""
        os.chmod(attempt.workdir, 0o755)
        shared = attempt.path("shared")
        os.mkdir(shared, 0o755)
        subprocess.run(["mount", "--bind", shared, shared], check=True, capture_output=True)
        attempt.shared_mount = shared
        subprocess.run(["mount", "--make-shared", shared], check=True, capture_output=True)
        # Made here, so that only the mount itself is the container's to do.
        os.mkdir(os.path.join(shared, "leak"), 0o755)
        attempt.flags += ["-v", f"{shared}:{VOLUME}"]
        attempt.env["MC_SHARED_HOST_DIR"] = shared

    def proven(self, attempt: Attempt) -> bool:
        """The host sees the container's tmpfs: the nonce is in ``leak/nonce`` here."""
        leak = attempt.path("shared/leak")
        if not os.path.ismount(leak):
            return False
        try:
            fd = os.open(os.path.join(leak, "nonce"), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return False
        try:
            return attempt.nonce in os.read(fd, 256).decode(errors="replace")
        finally:
            os.close(fd)

    def evidence(self, attempt: Attempt) -> str:
        """What the attack printed last, and what the host saw."""
        leak = attempt.path("shared/leak")
        seen = "a mount (the container's tmpfs)" if os.path.ismount(leak) else "no mount"
        return f"{super().evidence(attempt)}\nhost: {leak} is {seen}"

    def restore(self, attempt: Attempt) -> None:
        """Unmount what leaked onto the host, then the shared bind mount (lazily, if a
        plain unmount fails)."""
        shared = getattr(attempt, "shared_mount", None)
        if shared is None:
            return
        leak = os.path.join(shared, "leak")
        while _mounted(leak):
            _unmount(leak)
        while _mounted(shared):
            _unmount(shared)
        attempt.shared_mount = None


def _mounted(path: str) -> bool:
    """Whether a mount sits on ``path`` in our mount table (``os.path.ismount`` cannot
    tell a bind mount of a directory onto itself)."""
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def _unmount(path: str) -> None:
    """Unmount the top mount on ``path``; detach it (``umount -l``) if it is busy."""
    if subprocess.run(["umount", path], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", path], check=True, capture_output=True)


ESCAPE = PropagationLeak()
