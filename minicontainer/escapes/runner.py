"""Running attempts: one container per attempt, several at once.

Each attempt is a foreground container run in a forked worker process, so that
its output can be caught and several can run side by side (the matrix runs
hundreds).  The host side of an escape (plant, prove, restore) runs here, in the
parent, around the worker; ``restore`` runs whatever happened, Ctrl-C included.
"""

from __future__ import annotations

import os
import selectors
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


def run_attempts(jobs: list[tuple[Escape, object]], parallel: int = 2) -> list[Outcome]:
    """Run each ``(escape, config)`` once, at most ``parallel`` at a time; the
    outcomes in the order of ``jobs``."""
    outcomes: list[Outcome | None] = [None] * len(jobs)
    pending = list(enumerate(jobs))
    running: dict[int, tuple[int, _Running]] = {}
    selector = selectors.DefaultSelector()
    try:
        while pending or running:
            while pending and len(running) < parallel:
                index, (escape, config) = pending.pop(0)
                reason = escape.missing()
                if reason:
                    outcomes[index] = Outcome(SKIP, reason)
                    continue
                started = _start(escape, config)
                if isinstance(started, Outcome):
                    outcomes[index] = started
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
                outcomes[index] = _finish(job)
            for _, job in list(running.values()):
                if time.monotonic() > job.deadline:
                    _kill_container(job.attempt.container_id)
                    job.deadline = time.monotonic() + 10
    finally:
        for fd, (_, job) in running.items():
            _kill_container(job.attempt.container_id)
            selector.unregister(fd)
            _finish(job)
        selector.close()
    return outcomes


def run_one(escape: Escape, config) -> Outcome:
    """One attempt of ``escape`` under ``config``."""
    return run_attempts([(escape, config)], parallel=1)[0]


def _start(escape: Escape, config) -> _Running | Outcome:
    attempt = Attempt(escape)
    try:
        escape.plant(attempt)
        config = _with_attempt(config, attempt)
    except BaseException as e:
        _cleanup(attempt)
        if isinstance(e, Exception):
            return Outcome(ERROR, f"host setup: {e}")
        raise
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        _worker(config, attempt.container_id, write_fd, attempt.stdin_tty)
    os.close(write_fd)
    return _Running(attempt, pid, read_fd, time.monotonic() + escape.timeout)


def _with_attempt(config, attempt: Attempt):
    """``config`` with the flags and environment the host side added for this attempt."""
    import copy

    config = copy.deepcopy(config)
    if attempt.flags:
        extra = config_for(attempt.escape, attempt.flags)
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
        if attempt.exit_code == EXIT_RUNTIME_ERROR and "minicontainer: error:" in attempt.output:
            return Outcome(ERROR, attempt.output.strip().splitlines()[-1])
        if attempt.escape.proven(attempt):
            return Outcome(ESCAPED, attempt.escape.evidence(attempt))
        return Outcome(BLOCKED, attempt.escape.evidence(attempt))
    finally:
        _cleanup(attempt)


def _cleanup(attempt: Attempt) -> None:
    from minicontainer.state import remove_tree

    try:
        attempt.escape.restore(attempt)
    finally:
        remove_tree(attempt.workdir)


def _kill_container(container_id: str) -> None:
    """End every process of a container that ran out of time; its runtime then
    cleans up as after any other end."""
    from minicontainer import cgroups

    hierarchy = cgroups.find_hierarchy()
    if hierarchy is None:
        return
    path = os.path.join(hierarchy.mountpoint, cgroups.BASE, container_id, "cgroup.kill")
    try:
        with open(path, "w") as f:
            f.write("1")
    except FileNotFoundError:
        pass  # already gone: it ended by itself

