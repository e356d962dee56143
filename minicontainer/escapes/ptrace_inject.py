"""Taking control of a host process with ptrace (CAP_SYS_PTRACE, host pid namespace).

``ptrace(2)`` is the debugger's system call: a tracer can stop a process, read
and write its memory and registers, and make it run code of the tracer's
choosing.  A container that shares the host's pid namespace and holds
CAP_SYS_PTRACE can do this to the host's own processes: inject a shell into a
root daemon and leave the container behind.

The kernel allows ``PTRACE_ATTACH``/``PTRACE_SEIZE`` only when the tracer may
access the target: same user, and every capability the target holds, or
CAP_SYS_PTRACE over the target's user namespace (and, where Yama is on, its
``ptrace_scope`` rule).  So the pid namespace hides the host's processes; the
user namespace makes container root a stranger to host root's processes, with
no capability over the host's user namespace; and the default capabilities
leave out CAP_SYS_PTRACE, without which a container's root, even host root,
holds fewer capabilities than a root process of the host and may not trace it.
The default seccomp profile allows ``ptrace`` (since Linux 4.8 a tracer can no
longer use it to get around the tracee's seccomp filter), as Docker's does.

The demo starts a decoy host process (``sleep``, as root) with a secret in its
environment, which lives in its memory.  The attack (``mc-escape-ptrace-inject``)
seizes it, stops it, reads the secret out of its memory with ``PTRACE_PEEKDATA``
and lets it go unchanged: reading is the harmless half of injecting.
Incident: CAP_SYS_PTRACE with ``--pid=host`` in Kubernetes "Bad Pods"; process
injection into host daemons in container-escape write-ups.
"""

from __future__ import annotations

from minicontainer.escapes import decoy
from minicontainer.escapes.base import Attempt, Escape

_YAMA = "/proc/sys/kernel/yama/ptrace_scope"


class PtraceInject(Escape):
    """Read a host process's memory with ptrace."""

    name = "ptrace-inject"
    title = "ptrace a host process"
    attacks = "ptrace(2) of a host process (CAP_SYS_PTRACE, --share pid)"
    incident = "CAP_SYS_PTRACE + hostPID: process injection into host daemons"
    weakening = ["--share", "pid", "--userns", "host", "--cap-add", "SYS_PTRACE",
                 "--security-opt", "apparmor=unconfined"]
    stopped_by = ["user ns", "pid ns", "capabilities"]

    def missing(self) -> str | None:
        """Yama's ptrace_scope 3 forbids every attach, root's and CAP_SYS_PTRACE's too."""
        try:
            with open(_YAMA) as f:
                scope = f.read().strip()
        except FileNotFoundError:
            return None
        if scope == "3":
            return f"{_YAMA} is 3: no process may ptrace another on this machine"
        return None

    def plant(self, attempt: Attempt) -> None:
        """A decoy host process holding the secret in its environment (its memory)."""
        decoy.start(attempt, ["sleep", "300"], cwd="/", env={"MC_DECOY_SECRET": attempt.secret})

    def restore(self, attempt: Attempt) -> None:
        """Kill and reap the decoy."""
        decoy.stop(attempt)


ESCAPE = PtraceInject()
