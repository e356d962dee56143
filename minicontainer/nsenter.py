"""Enter a running container: the process side of ``exec``.

::

    minicontainer (host)          helper (forked)                 command (forked again)
      fork into the container's
      cgroup ---------------->     non-dumpable
                                   setns: user first ... mount last
                                   fork (a pid namespace applies
                                         to children only) ---->  new session, pty if -t
      its host pid  <-----------   (with --detach: exits now)     waits for "go"
      pty to the console socket <--------------------------------  (the pty master)
      "go"  ----------------------------------------------------> capabilities, user, no_new_privs,
                                                                  fds, cwd, seccomp, execve of
                                                                  the sealed stub, which execs
                                                                  the command
      relay the pty, wait  <---    wait, exit with its status

With ``--detach`` the helper exits as soon as it has forked, and the host
reaps it before it says "go": the command is then an orphan, adopted by the
nearest child subreaper above the caller (conmon, which reaps it to learn its
exit code) or by init, and the parent-death signal it sets on its way to the
execve is tied to that new parent, not to the helper that is gone.
"""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import Callable

from minicontainer import execstub, idmap, native
from minicontainer.config import Config
from minicontainer.errors import ContainerError
from minicontainer.namespaces import Namespace
from minicontainer.process import (
    SignalForwarder,
    become_the_command,
    exit_code,
    raise_reported,
    read_all,
    run_reporting,
    set_oom_score_adj,
)


def run(joined: list[tuple[Namespace, int]], cgroup: str | None, cfg: Config,
        seccomp_program: bytes | None, *, detach: bool = False,
        console_socket: str | None = None, console_size: tuple[int, int] | None = None,
        started: Callable[[int], None] | None = None) -> int:
    """Run ``cfg.args`` in the namespaces open in ``joined`` (in that order) and return
    its exit code, or 0 with ``detach`` once it has made its execve; raises
    ContainerError if it could not be started.

    With a terminal, the pty master goes to ``console_socket`` if given (and is
    not relayed), sized ``console_size`` (rows, columns) if given.  ``started``
    is called with the command's host pid once it has made its execve.
    """
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    channel = parent_channel = terminal = None
    if cfg.terminal:
        import socket

        from minicontainer import terminal

        parent_channel, channel = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    forwarder = SignalForwarder()
    stub = cgroup_fd = None
    try:
        stub = execstub.sealed_copy()  # made here on the host: the helper never opens a host file
        # Born in the container's cgroup (clone3 CLONE_INTO_CGROUP), as the init was:
        # moving a process in by writing cgroup.procs waits for an RCU grace period,
        # about 10 ms of every exec.  A cgroup directory holds no symlink to follow.
        if cgroup is not None:
            cgroup_fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                                | os.O_CLOEXEC)
        helper = os.fork() if cgroup_fd is None else native.clone_into_cgroup(0, cgroup_fd)
    except BaseException:
        forwarder.restore()
        for sock in (channel, parent_channel):
            if sock is not None:
                sock.close()
        for fd in (err_r, err_w, pid_r, pid_w, go_r, go_w, stub, cgroup_fd):
            if fd is not None:
                os.close(fd)
        raise
    if cgroup_fd is not None:
        os.close(cgroup_fd)
    if helper == 0:
        ends = _Ends(err_w, pid_w, go_r, go_w, channel, parent_channel)
        run_reporting(err_w, "exec", lambda: _helper(joined, cfg, seccomp_program,
                                                     ends, terminal, stub, detach))
    os.close(stub)
    forwarder.target = helper
    for fd in (err_w, pid_w, go_r):
        os.close(fd)
    if channel is not None:
        channel.close()
    reaped = False
    try:
        command = read_all(pid_r)
        if not command:  # the helper failed before its fork
            reaped = True
            raise_reported(helper, read_all(err_r) or b"125 exec: the helper ended")
        pid = int(command)
        if detach:
            os.waitpid(helper, 0)
            reaped = True
        master = terminal.receive_master(parent_channel) if terminal is not None else None
        if master is not None and console_size is not None:
            terminal.set_window_size(master, *console_size)
        if master is not None and console_socket is not None:
            terminal.send_to_console_socket(console_socket, master)
            master = None
        with contextlib.suppress(BrokenPipeError):  # it failed first: its report follows
            os.write(go_w, b"go")
        os.close(go_w)
        go_w = None
        failure = read_all(err_r)
        if failure:
            if master is not None:
                os.close(master)
            reaped = True
            _raise_failure(None if detach else helper, failure)
        if started is not None:
            started(pid)
        if detach:
            return 0
        if master is not None:
            terminal.relay(master)
        _, status = os.waitpid(helper, 0)
        reaped = True
        return exit_code(status)
    finally:
        if go_w is not None:
            os.close(go_w)  # the command, still waiting, ends without running anything
        if not reaped:
            os.waitpid(helper, 0)
        forwarder.restore()
        os.close(err_r)
        os.close(pid_r)
        if parent_channel is not None:
            parent_channel.close()


# collections' namedtuple, not typing's NamedTuple: importing typing costs every exec 4 ms.
class _Ends(collections.namedtuple("_Ends", "err_w pid_w go_r go_w channel parent_channel")):
    """The helper's ends of the pipes (fds) and of the pty channel (sockets or None)."""

    __slots__ = ()


def _raise_failure(helper: int | None, report: bytes) -> None:
    """Raise what the command reported; reap the helper unless it is reaped already."""
    if helper is not None:
        raise_reported(helper, report)
    code, _, message = report.decode(errors="backslashreplace").partition(" ")
    raise ContainerError(message, int(code))


def _helper(joined: list[tuple[Namespace, int]], cfg: Config,
            seccomp_program: bytes | None, ends: _Ends, terminal, stub: int,
            detach: bool) -> None:
    """Join the container, fork the command, wait for it (unless ``detach``); never
    returns.

    The helper and the command it forks stay non-dumpable host Python until the
    command execs the sealed ``stub``: nothing in the container can open their
    ``/proc/PID/exe`` (the host's Python) without CAP_SYS_PTRACE over the host.
    """
    native.set_dumpable(False)
    os.close(ends.go_w)
    if ends.parent_channel is not None:
        ends.parent_channel.close()
    if cfg.oom_score_adj is not None:  # now, as the host's root, for the command to inherit
        set_oom_score_adj(cfg.oom_score_adj)
    for ns, fd in joined:
        native.setns(fd, int(ns), f"/proc/PID/ns/{ns.proc_name}")
    if any(ns == Namespace.USER for ns, _ in joined):
        idmap.become_root()
    command = os.fork()
    if command == 0:
        os.close(ends.pid_w)
        os.setsid()
        if terminal is not None:
            terminal.open_in_container(ends.channel)
            ends.channel.close()
        if os.read(ends.go_r, 2) != b"go":
            raise ContainerError("the runtime ended before the command could start")
        os.close(ends.go_r)
        become_the_command(cfg, seccomp_program, stub, ends.err_w)
    os.write(ends.pid_w, str(command).encode())
    if ends.channel is not None:
        ends.channel.close()
    # Only the command's execve, or its failure report, may end the caller's read.
    for fd in (ends.pid_w, ends.go_r, ends.err_w, stub):
        os.close(fd)
    if detach:
        os._exit(0)
    forwarder = SignalForwarder()
    forwarder.target = command
    _, status = os.waitpid(command, 0)
    os._exit(exit_code(status))
