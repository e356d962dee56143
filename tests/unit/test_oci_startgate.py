"""The exec fifo protocol between `create`, an init and `start`, with a forked child
standing in for the init (no namespaces: nothing here needs privilege)."""

from __future__ import annotations

import os
import signal
import stat

import pytest

from minicontainer import startgate
from minicontainer.errors import ContainerError


def fork_init(gate: startgate.StartGate) -> int:
    """A child that does what the init does at the end of its recipe; it exits where the
    init would make its execve (which closes the same fds)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # as the init has it
            gate.in_child()
            gate.wait_for_start(os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC))
            code = 0
        finally:
            os._exit(code)
    gate.in_parent()
    return pid


def test_the_init_waits_until_start_opens_the_fifo(tmp_path):
    gate = startgate.StartGate(str(tmp_path))
    gate.open()
    assert stat.S_ISFIFO(os.stat(gate.path).st_mode)
    assert stat.S_IMODE(os.stat(gate.path).st_mode) == 0o622
    pid = fork_init(gate)
    try:
        assert gate.wait_created()
        # Blocked in its open of the fifo: still alive.
        assert os.waitpid(pid, os.WNOHANG) == (0, 0)
        gate.close()  # `create` ends here: the init must go on without it
        fd = startgate.open_gate(str(tmp_path), "c1")
        assert not os.path.exists(gate.path)  # a second start finds no fifo
        assert startgate.pass_gate(fd, lambda: True) == b""  # its exit stands for the execve
    finally:
        _, status = os.waitpid(pid, 0)
        gate.close()
    assert os.waitstatus_to_exitcode(status) == 0  # passed, not killed by a SIGPIPE


def test_an_init_killed_at_the_gate_is_not_started(tmp_path):
    gate = startgate.StartGate(str(tmp_path))
    gate.open()
    pid = fork_init(gate)
    try:
        assert gate.wait_created()
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        fd = startgate.open_gate(str(tmp_path), "c1")
        assert startgate.pass_gate(fd, lambda: False, timeout=5) is None
    finally:
        gate.close()


def test_start_of_a_dead_init_returns_none_rather_than_hanging(tmp_path):
    gate = startgate.StartGate(str(tmp_path))
    gate.open()
    fd = startgate.open_gate(str(tmp_path), "c1")  # no writer will ever come
    assert startgate.pass_gate(fd, lambda: False, timeout=5) is None
    gate.close()


def test_a_failure_after_the_gate_reaches_start(tmp_path):
    gate = startgate.StartGate(str(tmp_path))
    gate.open()
    pid = os.fork()
    if pid == 0:
        try:
            gate.in_child()
            err_w = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
            gate.wait_for_start(err_w)
            os.write(err_w, b"126 /etc/passwd: Permission denied")  # as the exec stub does
        finally:
            os._exit(0)
    gate.in_parent()
    try:
        assert gate.wait_created()
        report = startgate.pass_gate(startgate.open_gate(str(tmp_path), "c1"), lambda: True)
        assert report == b"126 /etc/passwd: Permission denied"
    finally:
        os.waitpid(pid, 0)
        gate.close()


def test_an_init_that_dies_before_the_gate_is_not_created(tmp_path):
    gate = startgate.StartGate(str(tmp_path))
    gate.open()
    pid = os.fork()
    if pid == 0:
        os._exit(1)  # a recipe step failed
    gate.in_parent()
    os.waitpid(pid, 0)
    assert not gate.wait_created()
    gate.close()


def test_the_init_keeps_no_fd_of_the_gate_once_past_it(tmp_path):
    gate = startgate.StartGate(str(tmp_path))
    gate.open()
    fds = (gate.fifo, gate.ready_w)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            gate.in_child()
            gate_files = {(os.fstat(fd).st_dev, os.fstat(fd).st_ino) for fd in fds}
            err_w = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
            gate.wait_for_start(err_w)
            # Nothing open on the fifo or the ready pipe but the fifo's write end, in
            # err_w's place and close-on-exec: the command's execve closes it.
            left = [fd for fd in map(int, os.listdir("/proc/self/fd")) if os.path.exists(
                f"/proc/self/fd/{fd}") and (os.fstat(fd).st_dev, os.fstat(fd).st_ino)
                in gate_files]
            code = 0 if left == [err_w] and not os.get_inheritable(err_w) else 1
        finally:
            os._exit(code)
    gate.in_parent()
    try:
        assert gate.wait_created()
        assert startgate.pass_gate(startgate.open_gate(str(tmp_path), "c1"),
                                   lambda: True) == b""
    finally:
        _, status = os.waitpid(pid, 0)
        gate.close()
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_second_start_is_told_the_container_is_being_started(tmp_path):
    gate = startgate.StartGate(str(tmp_path))
    gate.open()
    first = startgate.open_gate(str(tmp_path), "c1")
    try:
        with pytest.raises(ContainerError) as raised:
            startgate.open_gate(str(tmp_path), "c1")
        assert str(raised.value) == "cannot start container c1: it is being started (or " \
            "deleted) already"
    finally:
        os.close(first)
        gate.close()


def test_delete_withdraws_the_fifo_only_once(tmp_path):
    gate = startgate.StartGate(str(tmp_path))
    gate.open()
    assert startgate.withdraw(str(tmp_path))
    assert not os.path.exists(gate.path)
    assert not startgate.withdraw(str(tmp_path))
    with pytest.raises(ContainerError, match="being started"):
        startgate.open_gate(str(tmp_path), "c1")
    gate.close()
