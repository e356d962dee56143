"""Running attempts: one container per attempt, several at once.

Each attempt is a foreground container run in a forked worker process, so that
its output can be caught and several can run side by side (the matrix runs
hundreds).  The host side of an escape (plant, prove, restore) runs here, in the
parent, around the worker; ``restore`` runs whatever happened, Ctrl-C included.
"""

from __future__ import annotations

import os
import selectors
import signal
import time

from minicontainer.escapes.base import BLOCKED, ERROR, ESCAPED, SKIP, Attempt, Escape, Outcome

EXIT_RUNTIME_ERROR = 125


def config_for(escape: Escape, flags: list[str]):
    """The :class:`~minicontainer.config.Config` of the escape's scenario plus ``flags``,
    with the attack as its command."""
    from minicontainer import cli

    argv = ["run", *escape.scenario, *flags, "--", "sh", "-c", escape.script(), escape.name]
    return cli.config_from_args(cli.build_parser("run").parse_args(argv))


class _Running:
    def __init__(self, attempt: Attempt, pid: int, fd: int, deadline: float) -> None:
        self.attempt = attempt
        self.pid = pid
        self.fd = fd
        self.deadline = deadline
        self.chunks: list[bytes] = []
        self.kills = 0  # how often it ran out of time: cgroup first, then the worker


HOST_CHANGES_REFUSED = ("changes kernel-wide state when it works: a config other than the "
                        "default needs --allow-host-changes (run it in a VM)")
GRACE = 10.0  # seconds between ending a late container's cgroup and killing its worker


def run_attempts(jobs: list[tuple[Escape, object]], parallel: int = 2,
                 allow_host_changes: bool = False) -> list[Outcome]:
    """Run each ``(escape, config)`` once, at most ``parallel`` at a time; the
    outcomes in the order of ``jobs``.

    An escape with ``host_changes`` runs only against its hardened default unless
    ``allow_host_changes``, and always alone: its attempts save and restore
    kernel-wide state, which two at once would mix up.
    """
    outcomes: list[Outcome | None] = [None] * len(jobs)
    shared, exclusive = [], []
    for index, (escape, config) in enumerate(jobs):
        if (escape.host_changes and not allow_host_changes
                and config.to_oci() != config_for(escape, []).to_oci()):
            outcomes[index] = Outcome(ERROR, HOST_CHANGES_REFUSED)
        else:
            (exclusive if escape.host_changes else shared).append((index, escape, config))
    for batch, width in ((shared, parallel), (exclusive, 1)):
        for index, outcome in _run_batch(batch, width):
            outcomes[index] = outcome
    return outcomes


def _run_batch(batch: list, parallel: int) -> list[tuple[int, Outcome]]:
    done: list[tuple[int, Outcome]] = []
    pending = list(batch)
    running: dict[int, tuple[int, _Running]] = {}
    selector = selectors.DefaultSelector()
    try:
        while pending or running:
            while pending and len(running) < parallel:
                index, escape, config = pending.pop(0)
                reason = escape.missing()
                started = Outcome(SKIP, reason) if reason else _start(escape, config)
                if isinstance(started, Outcome):
                    done.append((index, started))
                    continue
                running[started.fd] = (index, started)
                selector.register(started.fd, selectors.EVENT_READ)
            if not running:
                continue
            timeout = max(0.0, min(r.deadline for _, r in running.values()) - time.monotonic())
            for key, _ in selector.select(timeout):
                index, job = running[key.fd]
                chunk = os.read(key.fd, 65536)
                if chunk:
                    job.chunks.append(chunk)
                    continue
                selector.unregister(key.fd)
                del running[key.fd]
                done.append((index, _finish(job)))
            for _, job in list(running.values()):
                if time.monotonic() > job.deadline:
                    _time_out(job)
    finally:
        _abandon(running, selector)
    return done


def _time_out(job: _Running) -> None:
    """A late attempt: end its container; if that does not end the worker, the worker."""
    job.kills += 1
    if job.kills == 1:
        _kill_container(job.attempt.container_id)
    else:
        os.kill(job.pid, signal.SIGKILL)
    job.deadline = time.monotonic() + GRACE


def _abandon(running: dict, selector) -> None:
    """On the way out with attempts still running (Ctrl-C, an error): end each one and
    restore its host side, every one even if another fails, Ctrl-C held off meanwhile."""
    failures = []
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        for fd, (_, job) in running.items():
            try:
                selector.unregister(fd)
                _kill_container(job.attempt.container_id)
                if not _exits_within(job.pid, GRACE):
                    os.kill(job.pid, signal.SIGKILL)
                job.kills = max(job.kills, 1)
                _finish(job)
            except Exception as e:
                failures.append(f"{job.attempt.container_id}: {e}")
    finally:
        selector.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    if failures:
        raise RuntimeError("cleaning up escape attempts failed: " + "; ".join(failures))


def _exits_within(pid: int, seconds: float) -> bool:
    """Whether child ``pid`` ends within ``seconds`` (it stays to be reaped)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.05)
    return False


def run_one(escape: Escape, config, allow_host_changes: bool = False) -> Outcome:
    """One attempt of ``escape`` under ``config``."""
    return run_attempts([(escape, config)], parallel=1,
                        allow_host_changes=allow_host_changes)[0]


def _start(escape: Escape, config) -> _Running | Outcome:
    attempt = Attempt(escape)
    try:
        escape.plant(attempt)
        config = _with_attempt(config, attempt)
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
    except BaseException as e:
        attempt.clean_up()
        if isinstance(e, Exception):
            return Outcome(ERROR, f"host setup: {e}")
        raise
    if pid == 0:
        for fd in attempt.pass_fds:
            os.set_inheritable(fd, True)
        _worker(config, attempt.container_id, write_fd, attempt.stdin_tty)
    os.close(write_fd)
    return _Running(attempt, pid, read_fd, time.monotonic() + escape.timeout)


PLANT_FLAGS = ("-v", "--volume", "--device")  # what plant() may add: things to hand in


def _with_attempt(config, attempt: Attempt):
    """``config`` with the volumes, devices and environment the host side added for
    this attempt."""
    import copy

    from minicontainer import cli

    config = copy.deepcopy(config)
    if attempt.flags:
        flags = attempt.flags[::2]
        if len(attempt.flags) % 2 or any(flag not in PLANT_FLAGS for flag in flags):
            raise ValueError(f"plant() may add only {', '.join(PLANT_FLAGS)} with a value "
                             f"each, not {' '.join(attempt.flags)}")
        argv = ["run", *attempt.flags, "--", "true"]
        extra = cli.config_from_args(cli.build_parser("run").parse_args(argv))
        config.mounts += extra.mounts
        config.devices += extra.devices
        config.resources.devices += extra.resources.devices  # the device layer's allow rules
    config.env += [f"{k}={v}" for k, v in attempt.env.items()]
    return config


def _worker(config, container_id: str, write_fd: int, stdin_tty: int | None) -> None:
    """In the forked worker: run the container with its output on ``write_fd``."""
    code = EXIT_RUNTIME_ERROR
    try:
        from minicontainer.errors import describe
        from minicontainer.runtime import Container

        if stdin_tty is None:
            stdin = os.open(os.devnull, os.O_RDONLY)
        else:
            stdin = _take_terminal(stdin_tty)
        try:
            code = Container(config, container_id).run(stdin=stdin, stdout=write_fd,
                                                      stderr=write_fd)
        except Exception as e:
            os.write(write_fd, f"minicontainer: error: {describe(e)}\n".encode())
            code = getattr(e, "exit_code", EXIT_RUNTIME_ERROR)
    finally:
        os._exit(code)


def _take_terminal(tty: int) -> int:
    """Make ``tty`` the controlling terminal of a new session of this worker, as a
    login shell's terminal is for the commands it starts; returns it."""
    import fcntl
    import termios

    os.setsid()
    fcntl.ioctl(tty, termios.TIOCSCTTY, 0)
    return tty


def _finish(job: _Running) -> Outcome:
    attempt = job.attempt
    try:
        os.close(job.fd)
        _, status = os.waitpid(job.pid, 0)
        attempt.exit_code = os.waitstatus_to_exitcode(status)
        attempt.output = b"".join(job.chunks).decode(errors="replace")
        if job.kills:
            _remove_leftovers(attempt.container_id)
            return Outcome(ERROR, f"timed out after {attempt.escape.timeout:g} s")
        if attempt.exit_code == EXIT_RUNTIME_ERROR and "minicontainer: error:" in attempt.output:
            return Outcome(ERROR, attempt.output.strip().splitlines()[-1])
        if attempt.escape.proven(attempt):
            return Outcome(ESCAPED, attempt.escape.evidence(attempt))
        return Outcome(BLOCKED, attempt.escape.evidence(attempt))
    finally:
        attempt.clean_up()


def _remove_leftovers(container_id: str) -> None:
    """After a worker that had to be killed: whatever its container still owns."""
    from minicontainer import lifecycle
    from minicontainer.errors import ContainerError
    from minicontainer.state import StateStore

    try:
        lifecycle.remove(StateStore(), container_id, force=True)
    except ContainerError as e:
        if "does not exist" not in str(e):
            raise


def _kill_container(container_id: str) -> None:
    """End every process of a container that ran out of time; its runtime then
    cleans up as after any other end."""
    from minicontainer import cgroups

    path = cgroups.container_path(container_id)
    if path is None:
        return
    try:
        with open(os.path.join(path, "cgroup.kill"), "w") as f:
            f.write("1")
    except FileNotFoundError:
        pass  # already gone: it ended by itself
