"""cgroup v1 ``release_agent``: the kernel runs a program of the container's choosing, on the host.

A cgroup v1 hierarchy has a ``release_agent`` file in its root: a program the
kernel runs when a cgroup with ``notify_on_release`` set loses its last
process, meant for cleaning up empty cgroups.  The kernel runs it as a usermode
helper: as root, in the host's namespaces, with the host's root directory.

A container that may mount cgroupfs mounts a v1 hierarchy of its own (a *named*
one, ``-o none,name=...``, needs no controller), writes the host path of a
script in its own root directory (the overlay's upper layer, which
``/proc/self/mountinfo`` names) into ``release_agent``, makes a child cgroup
with ``notify_on_release``, and lets a short-lived process die in it.  The
kernel runs the script on the host: here it only writes the demo's nonce into a
marker file in a root-only host directory.

What stops it, each alone:

- capabilities: mounting needs CAP_SYS_ADMIN, which the default set leaves out
  (and the seccomp profile, which follows the capabilities, then refuses
  ``mount`` as well);
- the cgroup namespace: the kernel creates a new v1 hierarchy only for a mount
  made in the initial cgroup namespace, so the mount fails with EPERM even
  with every capability (``--privileged`` alone is not enough: it keeps the
  namespaces);
- the user namespace: a process of the initial cgroup namespace needs
  CAP_SYS_ADMIN in the initial user namespace to mount cgroupfs, which root of
  a user namespace never holds.  (And even where the mount works, since the fix
  for CVE-2022-0492 only that capability lets a process write
  ``release_agent``.)

A named hierarchy stays in the kernel as long as it has child cgroups, even
once no mount shows it: the attack removes its child cgroup, and the host side
removes any that is left.  Incident: CVE-2022-0492 (the missing check), and the
2019 ``--privileged`` breakout by Felix Wilhelm that made this technique known.
"""

from __future__ import annotations

import os
import tempfile
import time

from minicontainer.escapes.base import Attempt, Escape
from minicontainer.escapes.markers import marker_written, plant_marker

AGENT_WAIT = 10.0  # seconds: the kernel starts the agent from a work queue, later
DYING_WAIT = 3.0  # seconds for an unmounted, empty hierarchy to disappear
CLEANUP_TRIES = 3


def _v1_reason() -> str | None:
    with open("/proc/filesystems") as f:
        if "cgroup" not in (line.split()[-1] for line in f if line.strip()):
            return "this kernel has no cgroup v1 (no 'cgroup' in /proc/filesystems)"
    with open("/proc/cmdline") as f:
        for option in f.read().split():
            key, _, value = option.partition("=")
            if key == "cgroup_no_v1" and ("all" in value.split(",") or "named" in value):
                return f"cgroup v1 hierarchies are disabled ({option} on the kernel command line)"
    return None


def _hierarchy_left(name: str) -> bool:
    """Whether the kernel still has the named hierarchy (every v1 hierarchy, mounted
    or not, has a line in /proc/self/cgroup)."""
    with open("/proc/self/cgroup") as f:
        return any(line.split(":")[1] == f"name={name}" for line in f if line.count(":") >= 2)


def _still_there(name: str, seconds: float) -> bool:
    """Whether the named hierarchy is still in the kernel after up to ``seconds``:
    unmounted with no child cgroup, one is destroyed within moments; one with a
    child lives on."""
    deadline = time.monotonic() + seconds
    while _hierarchy_left(name):
        if time.monotonic() > deadline:
            return True
        time.sleep(0.1)
    return False


class ReleaseAgent(Escape):
    """Make the host kernel run a container script as root through ``release_agent``."""

    name = "release-agent"
    title = "cgroup v1 release_agent runs a container script on the host"
    attacks = "mounting cgroupfs v1 (CAP_SYS_ADMIN)"
    incident = "CVE-2022-0492"
    weakening = ["--cap-add", "SYS_ADMIN", "--userns", "host", "--share", "cgroup",
                 "--security-opt", "apparmor=unconfined"]
    stopped_by = ["user ns", "cgroup ns", "capabilities"]
    host_changes = True
    timeout = 60.0

    def missing(self) -> str | None:
        """Needs cgroup v1 (named hierarchies) in the kernel."""
        return _v1_reason()

    def plant(self, attempt: Attempt) -> None:
        """An empty root-only marker for the agent; a hierarchy name of this attempt's own."""
        attempt.env["MC_MARKER"] = plant_marker(attempt)
        attempt.env["MC_CGROUP_NAME"] = f"mcescape{attempt.nonce[:8]}"

    def proven(self, attempt: Attempt) -> bool:
        """The nonce reached the host marker (waiting for the agent if the attack got as
        far as setting it)."""
        deadline = time.monotonic() + (AGENT_WAIT if "release_agent set" in attempt.output
                                       else 0)
        while True:
            if marker_written(attempt):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)

    def restore(self, attempt: Attempt) -> None:
        """Remove the named hierarchy if the attack left it in the kernel."""
        name = attempt.env.get("MC_CGROUP_NAME")
        if name is None:
            return
        for _ in range(CLEANUP_TRIES):
            if not _still_there(name, DYING_WAIT):
                return
            _empty_and_unmount(name)
        if _still_there(name, DYING_WAIT):
            raise RuntimeError(f"the cgroup v1 hierarchy name={name} is still in the kernel")


def _empty_and_unmount(name: str) -> None:
    """Mount the named hierarchy, remove its child cgroups and unmount it.  A removed
    child leaves its parent's list a moment later, and an unmount kills the
    hierarchy only if that list is empty: so it may take a second round."""
    from minicontainer import native

    with tempfile.TemporaryDirectory(prefix="mc-escape-cgroup-") as mountpoint:
        native.mount("cgroup", mountpoint, "cgroup", 0, f"none,name={name}")
        try:
            for path, dirs, _ in os.walk(mountpoint, topdown=False):
                for child in dirs:
                    os.rmdir(os.path.join(path, child))
        finally:
            native.umount2(mountpoint)


ESCAPE = ReleaseAgent()
