"""A pitfall of the host side: ``nsenter`` into a container does not join its cgroup.

A container is namespaces *and* a cgroup.  ``nsenter -t PID -a`` (util-linux)
joins every namespace of the process ``PID`` -- mount, pid, network, user, and
even the cgroup *namespace* -- but a namespace only changes what a process sees.
Which cgroup a process is *in* is not a namespace: ``nsenter`` stays in the
cgroup it was started in, the host's.  So an admin's "quick look inside" with
``nsenter`` runs with none of the container's limits: it looks like the
container (its files, its processes, its root) and is charged to the host.  A
script that uses ``nsenter`` to run a job inside escapes the memory and pids
limits the container was given.

Here the attacker is the host side itself, so this pitfall fits the catalogue
differently from the others: the container (``--memory 64m``) only shows its
own cgroup and then waits; the demo, on the host, enters it with
``nsenter -t PID -a`` while it waits and holds 128 MiB in there -- twice the
limit -- and prints its ``/proc/self/cgroup``, which under the container's
cgroup namespace reads ``0::/..`` (outside the container's tree) where the
container's own processes read ``0::/``.  No layer of the container can stop
what the host does, so it ESCAPES under every config and ``stopped_by`` is
empty.  The twin that stays inside is ``minicontainer exec``: it joins the
container's cgroup before its namespaces (see ``nsenter.py``), so the same
128 MiB is OOM-killed at the limit.

Incident: the seeds' and runc's warnings about entering containers by hand;
``docker exec`` / ``runc exec`` join the cgroup for exactly this reason.  Needs
``nsenter`` and cgroup v2 with the memory controller: run it in the VM.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time

from minicontainer.escapes.base import Attempt, Escape
from minicontainer.escapes.preconditions import cgroup_controller_missing

# What the host runs inside the container's namespaces: where it is, then 128 MiB.
ENTERED = ('echo "entered with nsenter: cgroup $(cat /proc/self/cgroup)"; '
           'echo "entered: memory.max $(cat /sys/fs/cgroup/memory.max)"; '
           "mc-escape-memory-hog 128 | tail -n 1")
WAIT_FOR_CONTAINER = 30.0


class NsenterCgroup(Escape):
    """From the host, enter a limited container with nsenter and use more than its limit."""

    name = "nsenter-cgroup"
    title = "nsenter into a container leaves its cgroup behind"
    attacks = "the container's limits, from the host side (nsenter -a)"
    incident = "entering a container by hand: runc/docker exec join the cgroup, nsenter not"
    scenario = ["--memory", "64m"]
    weakening: list[str] = []
    stopped_by: list[str] = []
    timeout = 90.0

    def __init__(self) -> None:
        self._entries: dict[str, tuple[threading.Thread, list[str]]] = {}

    def missing(self) -> str | None:
        """nsenter on the host, and the memory controller for the container's limit."""
        if shutil.which("nsenter") is None:
            return "nsenter (util-linux) is not installed on this host"
        return cgroup_controller_missing("memory")

    def plant(self, attempt: Attempt) -> None:
        """Start the host side: a thread that enters the container once it waits."""
        report: list[str] = []
        thread = threading.Thread(target=self._enter, args=(attempt.container_id, report),
                                  daemon=True, name="mc-escape-nsenter")
        self._entries[attempt.nonce] = (thread, report)
        thread.start()

    def _enter(self, container_id: str, report: list[str]) -> None:
        from minicontainer import cgroups

        procs = os.path.join(cgroups.container_path(container_id) or "", "cgroup.procs")
        waiting = _wait_for_sleep(procs, time.monotonic() + WAIT_FOR_CONTAINER)
        if waiting is None:
            report.append("host: the container never reached its sleep")
            return
        # A pidfd, so that the SIGTERM at the end can only reach that sleep, even if it
        # ended early and its pid number went to another process.
        try:
            pidfd = os.pidfd_open(waiting)
        except ProcessLookupError:
            report.append("host: the container's sleep ended before nsenter")
            return
        try:
            # --root and --wd: the container's root and cwd, as an admin would get them.
            entered = subprocess.run(["nsenter", "-t", str(waiting), "-a", "--root", "--wd",
                                      "sh", "-c", ENTERED],
                                     capture_output=True, text=True, timeout=60)
            report.extend((entered.stdout + entered.stderr).splitlines())
            report.append(f"host: nsenter exited {entered.returncode}")
        except subprocess.TimeoutExpired:
            report.append("host: nsenter did not finish within 60 s")
        finally:
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGTERM)  # the container goes on, ends
            except ProcessLookupError:
                pass
            os.close(pidfd)

    def _report(self, attempt: Attempt) -> list[str]:
        thread, report = self._entries[attempt.nonce]
        thread.join(WAIT_FOR_CONTAINER + 70)
        return report

    def proven(self, attempt: Attempt) -> bool:
        """The process nsenter started held 128 MiB in a container limited to 64 MiB."""
        return any("done: holding 128 MiB" in line for line in self._report(attempt))

    def evidence(self, attempt: Attempt) -> str:
        """The container's own view, then what the host's nsenter saw and did."""
        own = [line for line in attempt.output.splitlines() if line.startswith("container:")]
        return "\n".join([*own, *self._report(attempt)])

    def restore(self, attempt: Attempt) -> None:
        """Wait for the host side to finish; it leaves nothing behind."""
        entry = self._entries.pop(attempt.nonce, None)
        if entry is not None:
            entry[0].join(WAIT_FOR_CONTAINER + 70)


def _wait_for_sleep(procs: str, deadline: float) -> int | None:
    """The host pid of the container's ``sleep``, once it runs; None at the deadline."""
    while time.monotonic() < deadline:
        try:
            with open(procs) as f:
                pids = [int(p) for p in f.read().split()]
        except FileNotFoundError:
            pids = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == "sleep":
                        return pid
            except FileNotFoundError:
                continue
        time.sleep(0.1)
    return None


ESCAPE = NsenterCgroup()
