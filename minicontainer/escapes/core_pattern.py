"""A core dump handler: the kernel runs a program of the container's choosing, on the host.

``/proc/sys/kernel/core_pattern`` tells the kernel what to do when a process
dumps core.  If it starts with ``|``, the rest is a program the kernel starts to
receive the dump on its stdin, and the kernel starts it the way it starts every
usermode helper: as root, in the host's namespaces, with the host's root
directory.  The setting is one for the whole machine, not one per container.

So a container that can write that file names a script of its own: it writes the
script into its root directory, which is an overlay whose writable layer is a
plain directory on the host (``/proc/self/mountinfo`` shows its host path as
``upperdir=``), sets ``core_pattern`` to ``|HOSTPATH/script``, and crashes a
process.  The kernel runs the script on the host as root: here it only writes
the demo's nonce into a marker file in a root-only host directory.

Two layers stand in the way, each alone enough:

- read-only paths: ``/proc/sys`` is mounted read-only in the container, so the
  write fails with EROFS;
- the user namespace: kernel-wide sysctls such as ``core_pattern`` may only be
  written by the host's root (uid 0 of the initial user namespace); the
  container's root is an unprivileged uid there, so the write fails with EACCES.

The demo saves ``core_pattern`` before the attempt and puts it back after it,
whatever happened.  Incident: a classic way from a ``--privileged`` container
to root on its host, long a staple of breakout write-ups; runc and Docker mount
``/proc/sys`` read-only for this reason.
"""

from __future__ import annotations

import os
import time

from minicontainer.escapes.base import Attempt, Escape
from minicontainer.escapes.markers import marker_written, plant_marker

CORE_PATTERN = "/proc/sys/kernel/core_pattern"
HANDLER_WAIT = 10.0  # seconds: the kernel starts the handler, but does not wait for it


class CorePattern(Escape):
    """Make the host kernel run a container script as root through ``core_pattern``."""

    name = "core-pattern"
    title = "core_pattern pipe handler runs a container script on the host"
    attacks = "a writable /proc/sys/kernel/core_pattern"
    incident = "the --privileged core_pattern breakout"
    weakening = ["--security-opt", "systempaths=unconfined", "--userns", "host",
                 "--security-opt", "apparmor=unconfined"]
    stopped_by = ["read-only paths", "user ns"]
    host_changes = True
    timeout = 60.0

    def __init__(self) -> None:
        self._saved: dict[str, str] = {}

    def missing(self) -> str | None:
        """Needs the kernel's core_pattern sysctl."""
        if not os.path.exists(CORE_PATTERN):
            return f"this kernel has no {CORE_PATTERN}"
        return None

    def plant(self, attempt: Attempt) -> None:
        """Save core_pattern; an empty root-only marker the handler is to fill."""
        with open(CORE_PATTERN) as f:
            self._saved[attempt.nonce] = f.read()
        attempt.env["MC_MARKER"] = plant_marker(attempt)

    def proven(self, attempt: Attempt) -> bool:
        """The nonce reached the host marker (the handler runs on its own: wait for it
        while core_pattern is changed)."""
        deadline = time.monotonic() + HANDLER_WAIT
        while True:
            if marker_written(attempt):
                return True
            with open(CORE_PATTERN) as f:
                untouched = f.read() == self._saved[attempt.nonce]
            if untouched or time.monotonic() > deadline:
                return False
            time.sleep(0.2)

    def restore(self, attempt: Attempt) -> None:
        """core_pattern back to what it was, if the attack changed it."""
        saved = self._saved.pop(attempt.nonce, None)
        if saved is None:
            return
        with open(CORE_PATTERN) as f:
            if f.read() == saved:
                return
        with open(CORE_PATTERN, "w") as f:
            f.write(saved)


ESCAPE = CorePattern()
