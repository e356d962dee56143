"""Joining a host process's namespaces with ``setns`` (``nsenter -t PID``).

``/proc/PID/ns/`` holds one file per namespace of process PID; ``setns(2)`` on
one of them moves the caller into that namespace.  ``nsenter -t 1 -m -u -n -i
-p sh`` run from a container that sees the host's pid 1 is the classic one-line
escape: a shell in every namespace of the host, its mount namespace above all,
where ``/`` is the host's real root.

Three layers stand in the way.  The pid namespace: the host's processes, and so
their ``/proc/PID/ns`` files, are not in the container's ``/proc``.  The user
namespace: opening another process's namespace file needs ptrace read access to
it, and joining a mount namespace needs CAP_SYS_ADMIN in the user namespace that
owns it (the host's) — container root under a user namespace of its own holds
nothing there.  The capabilities: even as host root, Docker's 14 capabilities
hold neither CAP_SYS_ADMIN (which ``setns`` into a mount namespace needs, and
without which the default seccomp profile refuses ``setns`` itself) nor
CAP_SYS_PTRACE (to open the namespace file of a process that holds more
capabilities).

The demo never touches the host's own pid 1: it starts a decoy host process in
a private mount namespace of its own, with a tmpfs there holding a file with a
secret, which exists in no other mount namespace.  The attack enters the decoy's
mount namespace with busybox ``nsenter`` and prints what the file holds.  Incident: ``nsenter``
one-liners from ``--privileged --pid=host`` containers (the "Bad Pods"
"everything allowed" pod; CVE-2019-5736 write-ups start from the same place).
"""

from __future__ import annotations

import os
import time

from minicontainer.escapes import decoy
from minicontainer.escapes.base import Attempt, Escape

_DECOY_READY_SECONDS = 5.0


class NsenterHost(Escape):
    """Read a file that exists only in a host process's mount namespace."""

    name = "nsenter-host"
    title = "nsenter into a host process's mount namespace"
    attacks = "setns(2) on /proc/PID/ns/mnt of a host process"
    incident = "nsenter -t 1 from --privileged --pid=host containers"
    weakening = ["--share", "pid", "--userns", "host",
                 "--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE",
                 "--security-opt", "apparmor=unconfined"]
    stopped_by = ["user ns", "pid ns", "capabilities"]

    def plant(self, attempt: Attempt) -> None:
        """A decoy host process in a private mount namespace with a tmpfs holding
        the secret; wait until the secret is there."""
        mountpoint = attempt.path("decoy-mnt")
        os.mkdir(mountpoint, 0o700)
        script = ('mount -t tmpfs -o size=64k,mode=0700 mc-escape "$1" && echo "$2" > "$1/f"'
                  ' && exec sleep 300')
        process = decoy.start(attempt, ["unshare", "--mount", "--propagation", "private",
                                        "sh", "-c", script, "decoy", mountpoint, attempt.secret])
        attempt.env["MC_TARGET"] = os.path.join(mountpoint, "f")
        deadline = time.monotonic() + _DECOY_READY_SECONDS
        # The decoy's own view of the file, through its root: there once it is written.
        seen = f"/proc/{process.pid}/root{mountpoint}/f"
        while not _holds(seen, attempt.secret):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the decoy could not mount its tmpfs")
            time.sleep(0.02)

    def restore(self, attempt: Attempt) -> None:
        """Kill and reap the decoy; its mount namespace and tmpfs go with it."""
        decoy.stop(attempt)


def _holds(path: str, secret: str) -> bool:
    try:
        with open(path) as f:
            return secret in f.read()
    except OSError:
        return False


ESCAPE = NsenterHost()
