"""Escapes of the catalogue run through another runtime: a student's, say.

The runner (:mod:`minicontainer.escapes.runner`) turns an escape into a config for
minicontainer.  Here the container comes from any program called as
``RUNTIME... ROOTFS -- COMMAND...`` (the capstone lab's ``my_runtime.py``, or
``minicontainer run --rootfs`` itself): the host side is the escape's own
(:meth:`~minicontainer.escapes.base.Escape.plant`, ``proven``, ``restore``, in
this process, ``restore`` whatever happens), and the attack is its script, run as
``env MC_...=... sh -c SCRIPT NAME`` by the runtime.

Only an escape that needs nothing of minicontainer's own can run so:

- no scenario: its scenario is ``run`` flags (a volume, ``-u``, a limit);
- no kernel-wide change when it works (``host_changes``): those run in the VM,
  through minicontainer, one at a time;
- not stopped by the cgroup limits alone: a runtime without limits is not wrong;
- its host side hands nothing in (a volume, a device, a terminal as stdin): that
  shows only once planted, and such an attempt ends SKIP.

The attack's first line is a marker (the runtime ran it); an attempt whose output
lacks it is an ERROR, never a BLOCKED: a runtime that cannot start a command
blocks nothing.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time

from minicontainer.escapes.base import BLOCKED, ERROR, ESCAPED, SKIP, Attempt, Escape, Outcome

STARTED = "mc-foreign-attack-started"
GRACE = 5.0  # seconds between the steps of ending a late attempt


def unsuitable(escape: Escape) -> str | None:
    """Why ``escape`` cannot run through another runtime, or None if it can."""
    if escape.scenario:
        return f"its scenario is minicontainer's own run flags ({' '.join(escape.scenario)})"
    if escape.host_changes:
        return "it changes kernel-wide state when it works: the VM runs it, through minicontainer"
    if escape.stopped_by == ["cgroup limits"]:
        return "only cgroup limits stop it, and a runtime may run without them"
    return None


def applicable(catalogue: list[Escape]) -> list[Escape]:
    """The escapes of ``catalogue`` that another runtime can be tried with."""
    return [escape for escape in catalogue if unsuitable(escape) is None]


def command_for(runtime: list[str], rootfs: str, escape: Escape, attempt: Attempt) -> list[str]:
    """The runtime's command line for one attempt: the attack, with its environment."""
    script = f"echo {STARTED}\n{escape.script()}"
    env = [f"{name}={value}" for name, value in attempt.env.items()]
    return [*runtime, rootfs, "--", "env", *env, "sh", "-c", script, escape.name]


_HANDED_IN = {"-v": "a volume (-v)", "--volume": "a volume (-v)", "--device": "a device (--device)"}


class _Job:
    def __init__(self, attempt: Attempt, process: subprocess.Popen, deadline: float) -> None:
        self.attempt = attempt
        self.process = process
        self.deadline = deadline
        self.chunks: list[bytes] = []
        self.kills = 0  # how often it ran out of time: its container first, then the runtime


def run_foreign(escapes: list[Escape], runtime: list[str], rootfs: str, parallel: int = 4,
                preexec_fn=None) -> list[Outcome]:
    """Try each escape once through ``runtime`` (``RUNTIME ROOTFS -- COMMAND...``), at most
    ``parallel`` at a time; the outcomes in the order of ``escapes``.

    ``preexec_fn`` runs in each runtime's process before it starts (a
    :class:`~minicontainer.labs.StandInHost`'s, so that a runtime that forgets a
    namespace changes a stand-in, not the host).  The runtime runs in a session of
    its own, killed with its process group when the escape's time is up.
    """
    outcomes: list[Outcome | None] = [None] * len(escapes)
    pending = list(enumerate(escapes))
    running: dict[int, tuple[int, _Job]] = {}
    selector = selectors.DefaultSelector()
    try:
        while pending or running:
            while pending and len(running) < parallel:
                index, escape = pending.pop(0)
                started = _start(escape, runtime, rootfs, preexec_fn)
                if isinstance(started, Outcome):
                    outcomes[index] = started
                    continue
                fd = started.process.stdout.fileno()
                running[fd] = (index, started)
                selector.register(fd, selectors.EVENT_READ)
            if not running:
                continue
            timeout = max(0.0, min(job.deadline for _, job in running.values()) - time.monotonic())
            for key, _ in selector.select(timeout):
                index, job = running[key.fd]
                chunk = os.read(key.fd, 65536)
                if chunk:
                    job.chunks.append(chunk)
                    continue
                selector.unregister(key.fd)
                del running[key.fd]
                outcomes[index] = _finish(job)
            for fd, (index, job) in list(running.items()):
                if time.monotonic() < job.deadline:
                    continue
                if job.kills < 2:
                    _time_out(job)
                else:  # its output stays open: a process of it outlived the runtime
                    selector.unregister(fd)
                    del running[fd]
                    outcomes[index] = _finish(job)
    finally:
        failure = None
        for fd, (index, job) in running.items():
            selector.unregister(fd)
            _kill_descendants(job.process.pid)
            _kill(job.process)
            job.kills = 2
            try:
                outcomes[index] = _finish(job)
            except BaseException as e:  # every other attempt is still restored
                failure = failure or e
        selector.close()
        if failure is not None:
            raise failure
    return outcomes


def _start(escape: Escape, runtime: list[str], rootfs: str, preexec_fn) -> _Job | Outcome:
    reason = unsuitable(escape) or escape.missing()
    if reason:
        return Outcome(SKIP, reason)
    attempt = Attempt(escape)
    try:
        escape.plant(attempt)
        handed_in = _handed_in(attempt)
        if handed_in:
            attempt.clean_up()
            return Outcome(SKIP, f"its host side hands in {handed_in}, which only "
                           "minicontainer's own flags can")
        process = subprocess.Popen(command_for(runtime, rootfs, escape, attempt),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, pass_fds=attempt.pass_fds,
                                   start_new_session=True, preexec_fn=preexec_fn)
    except BaseException as e:
        attempt.clean_up()
        if isinstance(e, Exception):
            return Outcome(ERROR, f"host setup: {e}")
        raise
    return _Job(attempt, process, time.monotonic() + escape.timeout)


def _handed_in(attempt: Attempt) -> str:
    """What the planted attempt gives its container through minicontainer's flags (an
    attempt's flags are ``-v``/``--device`` pairs, each with its value)."""
    things = [_HANDED_IN.get(flag, flag) for flag in attempt.flags[::2]]
    if attempt.stdin_tty is not None:
        things.append("a terminal as stdin")
    return ", ".join(things)


def _time_out(job: _Job) -> None:
    """A late attempt: end the runtime's children (its container), so that the runtime
    can free what it owns; if it still runs after GRACE, its whole process group."""
    job.kills += 1
    if job.kills == 1:
        _kill_descendants(job.process.pid)
    else:
        _kill(job.process)
    job.deadline = time.monotonic() + GRACE


def _kill_descendants(pid: int) -> None:
    """SIGKILL every descendant of ``pid`` (found through the PPid of /proc/*/status)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                parent = next(line.split()[1] for line in f if line.startswith("PPid:"))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
        children.setdefault(int(parent), []).append(int(entry))
    frontier = list(children.get(pid, []))
    while frontier:
        child = frontier.pop()
        frontier.extend(children.get(child, []))
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _finish(job: _Job) -> Outcome:
    attempt = job.attempt
    try:
        job.process.stdout.close()
        attempt.exit_code = job.process.wait()
        attempt.output = b"".join(job.chunks).decode(errors="replace")
        if job.kills:
            return Outcome(ERROR, f"timed out after {attempt.escape.timeout:g} s")
        if STARTED not in attempt.output:
            last = [line for line in attempt.output.splitlines() if line.strip()][-1:]
            return Outcome(ERROR, "the runtime did not run the attack: exit "
                           f"{attempt.exit_code}{': ' + last[0] if last else ''}")
        if attempt.escape.proven(attempt):
            return Outcome(ESCAPED, attempt.escape.evidence(attempt))
        return Outcome(BLOCKED, attempt.escape.evidence(attempt))
    finally:
        attempt.clean_up()
