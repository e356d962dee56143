"""A host process's root directory, ``/proc/PID/root``, through the host pid namespace.

``/proc/PID/root`` is a magic link to the root directory of process PID, seen
as that process sees it: opening a path under it resolves in the *other*
process's mount namespace.  A container that shares the host's pid namespace
(``--share pid``) has every host process in its ``/proc``, so
``/proc/<some host process>/root/`` is the host's whole filesystem, past the
container's pivot_root.

The kernel guards the link with a ptrace access check (the same one as for
reading another process's memory): the reader must be the same user as the
target, and hold every capability the target holds, or else hold
CAP_SYS_PTRACE over it.  So three layers stand in the way: the pid namespace
(the host process is not in the container's ``/proc`` at all); the user
namespace (container root is an unprivileged host uid, not the host root that
owns the process); and the capabilities (without CAP_SYS_PTRACE the container,
with Docker's 14 capabilities, holds fewer than a root process of the host).

The demo starts a decoy host process (``sleep``, as root, its working directory
the attempt's private directory) and a file beside it holding a secret that
exists only on the host; the attack reads it through ``/proc/$MC_DECOY_PID/root``
and prints what it read.  Incident: Kubernetes pods with
``hostPID: true`` (the "Bad Pods" series, "hostPID" pod); ``docker run --pid=host``
advice for debugging containers.
"""

from __future__ import annotations

import os

from minicontainer.escapes import decoy
from minicontainer.escapes.base import Attempt, Escape


class ProcRoot(Escape):
    """Read a host file through /proc/PID/root of a host process."""

    name = "proc-root"
    title = "/proc/PID/root of a host process"
    attacks = "the host pid namespace (--share pid): /proc/PID/root"
    incident = "hostPID pods; docker run --pid=host"
    weakening = ["--share", "pid", "--userns", "host", "--cap-add", "SYS_PTRACE",
                 "--security-opt", "apparmor=unconfined"]
    stopped_by = ["user ns", "pid ns", "capabilities"]

    def plant(self, attempt: Attempt) -> None:
        """A root-only file holding the secret in the private directory, and a decoy
        host process whose working directory it is."""
        with open(attempt.path("secret"), "w") as f:
            f.write(attempt.secret + "\n")
        os.chmod(attempt.path("secret"), 0o600)
        decoy.start(attempt, ["sleep", "300"], cwd=attempt.workdir)
        attempt.env["MC_TARGET"] = attempt.path("secret")

    def restore(self, attempt: Attempt) -> None:
        """Kill and reap the decoy."""
        decoy.stop(attempt)


ESCAPE = ProcRoot()
