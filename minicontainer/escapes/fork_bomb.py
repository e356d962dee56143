"""A fork bomb: without a pids limit, one container can use up the host's processes.

Every process takes a slot in the kernel's process table, and the host has a
limited number of them (``kernel.pid_max``, ``kernel.threads-max``).  A fork
bomb (``:(){ :|:& };:``) makes processes until none are left: then nobody on the
host can start one -- not a shell, not ``sshd``, not the admin's ``kill``.
Namespaces do not help: a pid namespace renumbers processes, it does not ration
them.  What rations them is the cgroup ``pids`` controller: ``pids.max`` in the
container's cgroup, after which ``fork`` fails with ``EAGAIN`` inside the
container only.

Note what the default is: **minicontainer, like Docker, sets no pids limit
unless asked** (``--pids-limit N``).  So this pitfall ESCAPES under the default;
the layer that stops it is "cgroup limits", the hardened configuration with
``pids.max`` 256 (``--pids-limit 256``).

The demo's bomb is bounded, so that it cannot hurt the machine it runs on: it
starts at most 300 sleeping children, counts how many it got, and kills them.
It has shown the point when it got more than the hardened limit of 256.  The
bomb's own count is only its word, so the proof is measured on the host: while
the container runs, the demo counts the processes in the container's
``cgroup.procs`` from the host side (:mod:`~minicontainer.escapes.cgroupwatch`;
the file is there with or without the pids controller), and the attempt is
ESCAPED when it saw more than 256 at once.  Incident: the classic fork bomb,
and the reason Kubernetes added ``podPidsLimit`` (CIS Docker Benchmark 5.29: use
the pids limit).  Needs cgroup v2 with the pids controller: run it in the VM.
"""

from __future__ import annotations

from minicontainer.escapes import layers
from minicontainer.escapes.base import Attempt, Escape
from minicontainer.escapes.cgroupwatch import PROCS, CgroupWatch
from minicontainer.escapes.preconditions import cgroup_controller_missing

# The bound: more than the hardened limit, far less than any machine's pid_max.
FORKS = 300


class ForkBomb(Escape):
    """Start more processes than the hardened pids limit allows."""

    name = "fork-bomb"
    title = "fork bomb without a pids limit"
    attacks = "the host's process table (no pids.max by default)"
    incident = "the fork bomb; CIS Docker 5.29: pids cgroup limit"
    weakening: list[str] = []
    stopped_by = ["cgroup limits"]
    timeout = 90.0

    def missing(self) -> str | None:
        """The pids controller in cgroup v2, or no limit can stop it here."""
        return cgroup_controller_missing("pids")

    def plant(self, attempt: Attempt) -> None:
        """Tell the bomb its bound; count the container's processes from the host."""
        attempt.env["MC_FORKS"] = str(FORKS)
        attempt.watch = CgroupWatch(attempt.container_id, [PROCS])

    def proven(self, attempt: Attempt) -> bool:
        """The host saw more processes in the container than the hardened limit allows."""
        return attempt.watch.stop().get(PROCS, 0) > layers.HARDENED_PIDS

    def evidence(self, attempt: Attempt) -> str:
        """What the bomb printed last, and how many processes the host counted."""
        counted = attempt.watch.stop().get(PROCS)
        return f"{super().evidence(attempt)}\nhost: at most {counted} processes in its cgroup"

    def restore(self, attempt: Attempt) -> None:
        """Stop counting."""
        watch = getattr(attempt, "watch", None)
        if watch is not None:
            watch.close()


ESCAPE = ForkBomb()
