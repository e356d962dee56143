"""A container that can write its own cgroup files lifts its own limits.

A container's limits are files: ``memory.max``, ``pids.max``, ``cpu.max`` in its
cgroup directory.  The container sees that directory as ``/sys/fs/cgroup`` (its
cgroup namespace makes it the root of the tree it sees).  Whoever may write
there may change the limits, and a limit the container can change is no limit:
it raises ``memory.max`` and then uses what it likes.

Two layers keep those files out of reach, each enough on its own:

- **/sys ro**: the cgroup tree is mounted read-only in the container, so the
  write fails with ``Read-only file system`` whatever the writer's privileges;
- **user ns**: the files belong to the host's root, which is not mapped into
  the container's user namespace, so even with the mount writable its root is a
  stranger to them: ``Permission denied``.

``--privileged`` removes the first (``/sys`` and the cgroup tree writable) and
``--userns host`` the second (container root *is* host root).  Together they let
the container write its own limit.  The scenario gives the container 64 MiB;
the attack raises ``memory.max`` to 512 MiB, reads it back, and then holds
128 MiB -- twice what it was given -- without the OOM killer coming.

What the attack prints is only its own word, so the proof is measured on the
host: while the container runs, the demo reads the container's cgroup files
from the host side (:mod:`~minicontainer.escapes.cgroupwatch`), and the attempt
is ESCAPED when the kernel's own ``memory.peak`` there went past the 64 MiB
the container was given (which it can only do once ``memory.max`` moved).

Incident: Docker's and Kubernetes' warnings that privileged containers can
modify their own cgroup limits; the reason the cgroup tree is mounted read-only
by runc and friends, and why delegated (writable) cgroups come with a user
namespace.  Needs cgroup v2 with the memory controller: run it in the VM.
"""

from __future__ import annotations

from minicontainer.escapes.base import Attempt, Escape
from minicontainer.escapes.cgroupwatch import CgroupWatch
from minicontainer.escapes.preconditions import cgroup_controller_missing

GIVEN = 64 * 1024 * 1024  # the scenario's --memory 64m
WATCHED = ["memory.max", "memory.peak"]


class WritableCgroupfs(Escape):
    """Raise the container's own memory.max through a writable /sys/fs/cgroup."""

    name = "writable-cgroupfs"
    title = "own memory limit raised through a writable cgroupfs"
    attacks = "the container's own cgroup files (memory.max)"
    incident = "privileged containers rewriting their own cgroup limits"
    scenario = ["--memory", "64m"]
    weakening = ["--privileged", "--userns", "host"]
    stopped_by = ["user ns", "/sys ro"]
    timeout = 60.0

    def missing(self) -> str | None:
        """The memory controller in cgroup v2, or the scenario's limit cannot be set."""
        return cgroup_controller_missing("memory")

    def plant(self, attempt: Attempt) -> None:
        """Watch the container's cgroup from the host while it runs."""
        attempt.watch = CgroupWatch(attempt.container_id, WATCHED)

    def proven(self, attempt: Attempt) -> bool:
        """The host saw the container's memory.peak go past the limit it was given."""
        return attempt.watch.stop().get("memory.peak", 0) > GIVEN

    def evidence(self, attempt: Attempt) -> str:
        """What the attack printed last, and what the host measured."""
        peak = attempt.watch.stop()
        seen = ", ".join(f"{name} up to {peak[name]}" for name in WATCHED if name in peak)
        return f"{super().evidence(attempt)}\nhost: {seen or 'no cgroup file read'}"

    def restore(self, attempt: Attempt) -> None:
        """Stop watching."""
        watch = getattr(attempt, "watch", None)
        if watch is not None:
            watch.close()


ESCAPE = WritableCgroupfs()
