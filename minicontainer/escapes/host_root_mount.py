"""The host's root directory mounted into the container (``-v /:/host``).

A volume of the host's ``/`` is a classic mistake (or a "debug" container made
on purpose): the whole host tree is a directory inside the container.  What the
container's root can do there depends on who it is on the host.  Under the
default user namespace it is an unprivileged uid (1000000000 and up), so the
host's root-owned files are as closed to it as to any local user.  With
``--userns host`` it is the host's real root, and the files are its own.

The demo plants a marker file, owned by host root and readable by root only, in
a directory only root may enter; the attack writes the nonce into it through
``/host``.  Incident: countless "mount the docker socket / the host root for
convenience" deployments; CIS Docker Benchmark 5.5 (sensitive host directories).
"""

from __future__ import annotations

from minicontainer.escapes.base import Attempt, Escape
from minicontainer.escapes.markers import marker_written, plant_marker


class HostRootMount(Escape):
    """Write a root-only host file through a bind mount of the host's /."""

    name = "host-root-mount"
    title = "host root mounted at /host"
    attacks = "a bind mount of the host's / (-v /:/host)"
    incident = "CIS Docker 5.5: sensitive host system directories mounted"
    scenario = ["-v", "/:/host"]
    weakening = ["--userns", "host"]
    stopped_by = ["user ns"]

    def plant(self, attempt: Attempt) -> None:
        """A root-only marker in a root-only directory, named to the attack."""
        attempt.env["MC_MARKER"] = "/host" + plant_marker(attempt)

    def proven(self, attempt: Attempt) -> bool:
        """The nonce is in the host's marker file."""
        return marker_written(attempt)


ESCAPE = HostRootMount()
