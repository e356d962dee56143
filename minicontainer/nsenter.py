"""Enter a running container: the process side of ``exec``.

::

    minicontainer (host)          helper (forked)                 command (forked again)
      fork  ----------------->     non-dumpable
                                   join the container's cgroup
                                   setns: user first ... mount last
                                   fork (a pid namespace applies
                                         to children only) ---->  new session, pty if -t
                                                                  capabilities, user, no_new_privs,
                                                                  fds, cwd, seccomp, execve of
                                                                  the sealed stub, which execs
                                                                  the command
      relay the pty, wait  <---    wait, exit with its status
"""

from __future__ import annotations

import os

from minicontainer import execstub, idmap, native
from minicontainer.config import Config
from minicontainer.namespaces import Namespace
from minicontainer.runtime import (
    SignalForwarder,
    become_the_command,
    exit_code,
    raise_reported,
    read_all,
    run_reporting,
)


def run(joined: list[tuple[Namespace, int]], cgroup: str | None, cfg: Config,
        seccomp_program: bytes | None) -> int:
    """Run ``cfg.args`` in the namespaces open in ``joined`` (in that order) and return
    its exit code; raises ContainerError if it could not be started."""
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    channel = parent_channel = terminal = None
    if cfg.terminal:
        import socket

        from minicontainer import terminal

        parent_channel, channel = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    forwarder = SignalForwarder()
    stub = None
    try:
        stub = execstub.sealed_copy()  # made here on the host: the helper never opens a host file
        helper = os.fork()
    except BaseException:
        forwarder.restore()
        for sock in (channel, parent_channel):
            if sock is not None:
                sock.close()
        for fd in (err_r, err_w, stub):
            if fd is not None:
                os.close(fd)
        raise
    if helper == 0:
        run_reporting(err_w, "exec", lambda: _helper(joined, cgroup, cfg, seccomp_program,
                                                     err_w, channel, terminal, stub))
    os.close(stub)
    forwarder.target = helper
    os.close(err_w)
    if channel is not None:
        channel.close()
    try:
        master = terminal.receive_master(parent_channel) if terminal is not None else None
        failure = read_all(err_r)
        if failure:
            raise_reported(helper, failure)
        if master is not None:
            terminal.relay(master)
        _, status = os.waitpid(helper, 0)
        return exit_code(status)
    finally:
        forwarder.restore()
        os.close(err_r)
        if parent_channel is not None:
            parent_channel.close()


def _helper(joined: list[tuple[Namespace, int]], cgroup: str | None, cfg: Config,
            seccomp_program: bytes | None, err_w: int, channel, terminal, stub: int) -> None:
    """Join the container, fork the command, wait for it; never returns.

    The helper and the command it forks stay non-dumpable host Python until the
    command execs the sealed ``stub``: nothing in the container can open their
    ``/proc/PID/exe`` (the host's Python) without CAP_SYS_PTRACE over the host.
    """
    native.set_dumpable(False)
    if cgroup is not None:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    for ns, fd in joined:
        native.setns(fd, int(ns), f"/proc/PID/ns/{ns.proc_name}")
    if any(ns == Namespace.USER for ns, _ in joined):
        idmap.become_root()
    command = os.fork()
    if command == 0:
        os.setsid()
        if terminal is not None:
            terminal.open_in_container(channel)
            channel.close()
        become_the_command(cfg, seccomp_program, stub, err_w)
    # Only the command's execve, or its failure report, may end the caller's read.
    os.close(err_w)
    os.close(stub)
    forwarder = SignalForwarder()
    forwarder.target = command
    _, status = os.waitpid(command, 0)
    os._exit(exit_code(status))
