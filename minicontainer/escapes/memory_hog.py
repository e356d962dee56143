"""A memory hog: without a memory limit, one container can take the host's memory.

A process that allocates and touches memory takes it from everyone else: the
page cache shrinks, the host swaps, and in the end the kernel's OOM killer picks
a victim -- on the host, which may be anything (a database, ``sshd``).  The
cgroup ``memory`` controller puts the container in its own budget:
``memory.max`` in its cgroup.  At the limit the kernel first reclaims the
container's own pages and then OOM-kills inside the container only (with
``memory.oom.group`` the whole container at once: exit 137).

Note what the default is: **minicontainer, like Docker, sets no memory limit
unless asked** (``--memory SIZE``).  So this pitfall ESCAPES under the default;
the layer that stops it is "cgroup limits", the hardened configuration with
``memory.max`` 256 MiB (``--memory 256m``).

The demo's hog is bounded (the static helper ``mc-escape-memory-hog``): it
takes 16 MiB at a time, touching every page, up to 384 MiB, printing how far it
got after each step.  It has shown the point when it held more than the hardened
limit; the host reads the last step it reported (``proven``).  That report is
the hog's own word, unlike the other limit proofs, which the host measures in
the container's cgroup: without a memory limit the container's cgroup may have
no memory controller at all (it is enabled only for containers that ask for a
limit), so there is no ``memory.peak`` for the host to read in exactly the run
that shows the pitfall; and the hog exits as soon as it is done, faster than a
host-side sampler of its processes can be sure to catch.  A forged report would
gain the container nothing: it would only claim the default is unsafe.  Incident: every
"one container OOMed the node" outage; CIS Docker Benchmark 5.10 (limit
memory).  Needs cgroup v2 with the memory controller: run it in the VM.
"""

from __future__ import annotations

import re

from minicontainer.escapes import layers
from minicontainer.escapes.base import Attempt, Escape
from minicontainer.escapes.preconditions import cgroup_controller_missing

# The bound: past the hardened limit, well within the VM's 2 GiB.
MEBIBYTES = 384


class MemoryHog(Escape):
    """Hold more memory than the hardened memory limit allows."""

    name = "memory-hog"
    title = "memory hog without a memory limit"
    attacks = "the host's memory (no memory.max by default)"
    incident = "a container OOMs the node; CIS Docker 5.10: memory limit"
    weakening: list[str] = []
    stopped_by = ["cgroup limits"]
    timeout = 90.0

    def missing(self) -> str | None:
        """The memory controller in cgroup v2, or no limit can stop it here."""
        return cgroup_controller_missing("memory")

    def plant(self, attempt: Attempt) -> None:
        """Tell the hog its bound."""
        attempt.env["MC_MEBIBYTES"] = str(MEBIBYTES)

    def proven(self, attempt: Attempt) -> bool:
        """The hog held more than the hardened limit."""
        held = re.findall(r"holding (\d+) MiB", attempt.output)
        return bool(held) and int(held[-1]) * 1024 * 1024 > layers.HARDENED_MEMORY

    def evidence(self, attempt: Attempt) -> str:
        """The last steps the hog reported, and how it ended (137: the OOM killer)."""
        return f"{super().evidence(attempt)}\nexit {attempt.exit_code}"


ESCAPE = MemoryHog()
