"""Reaching a host program through ``/proc/PID/exe`` (CVE-2019-5736, read-only).

``/proc/PID/exe`` is not a path but a handle: opening it opens the very file the
process runs, wherever it is, past every directory permission and every mount.
In CVE-2019-5736 the process was runc itself, briefly inside the container
while it started ``docker exec``: a container whose ``/bin/sh`` was
``#!/proc/self/exe`` got runc to execute itself there, opened the host's runc
binary through ``/proc/PID/exe``, and once runc had exited wrote its own code
over it; the next container start ran that as host root.

minicontainer closes the runtime's half: the command's ``execve`` is made by a
sealed in-memory stub (:mod:`minicontainer.execstub`), so no host file is ever
the program of a container process, and the init and ``exec`` helper are
non-dumpable while they run host code (see the hygiene layer).  What remains is
the general reach: ``/proc/PID/exe`` of *any* host process, for a container
that can see it and may inspect it.  Opening it needs ptrace read access to the
process: the same uid and a superset of its capabilities, or
``CAP_SYS_PTRACE`` over its user namespace.  So three layers stand in the way,
each on its own: the pid namespace (host processes have no ``/proc`` entry
inside), the user namespace (container root is a stranger to host root's
processes, with no capability over the host's user namespace) and the
capabilities (without ``CAP_SYS_PTRACE`` even host root in a container holds
fewer capabilities than a host root daemon).  Seccomp has nothing to filter: it
is an ``open``.

The demo copies ``sleep`` into its own host directory, appends a secret to the
copy (an ELF runs unchanged with bytes after its end) and starts it as a decoy
host root process; the attack opens the decoy's ``/proc/PID/exe`` read-only and
prints the secret it finds at its end.  It never writes: with the program still running a
write is ``ETXTBSY``, and after it exits, writing is the CVE.  ``restore`` kills
and reaps the decoy.  Incident: CVE-2019-5736 (runc, Docker < 18.09.2, LXC).
"""

from __future__ import annotations

import os
import shutil

from minicontainer.escapes import decoy
from minicontainer.escapes.base import Attempt, Escape

DECOY_PROGRAM = "sleep"


class ProcSelfExe(Escape):
    """Read a host process's program file through /proc/PID/exe."""

    name = "proc-self-exe"
    title = "a host program through /proc/PID/exe"
    attacks = "/proc/PID/exe of a host process (--share pid, CAP_SYS_PTRACE)"
    incident = "CVE-2019-5736: runc overwritten through /proc/self/exe"
    weakening = ["--share", "pid", "--userns", "host", "--cap-add", "SYS_PTRACE",
                 "--security-opt", "apparmor=unconfined"]
    stopped_by = ["pid ns", "user ns", "capabilities"]

    def missing(self) -> str | None:
        """A program to copy as the decoy."""
        if shutil.which(DECOY_PROGRAM) is None:
            return f"no {DECOY_PROGRAM} on this host to run as the decoy"
        return None

    def plant(self, attempt: Attempt) -> None:
        """A copy of sleep with the secret appended, running as a decoy host process."""
        program = attempt.path("mc-decoy")
        shutil.copyfile(shutil.which(DECOY_PROGRAM), program)
        with open(program, "ab") as f:
            f.write(f"\nmc-decoy-secret {attempt.secret}\n".encode())
        os.chmod(program, 0o755)
        decoy.start(attempt, [program, "300"], cwd="/")

    def restore(self, attempt: Attempt) -> None:
        """Kill and reap the decoy."""
        decoy.stop(attempt)


ESCAPE = ProcSelfExe()
