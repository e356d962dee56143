"""Exit codes, signals, the terminal, and the Python API."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import time

import pytest

from helpers import MC, mc, read_until


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (["true"], 0),
        (["sh", "-c", "exit 7"], 7),
        (["no-such-command"], 127),
        (["/etc/passwd"], 126),
    ],
)
def test_exit_code_is_the_commands(command, code):
    assert mc("run", "--", *command).returncode == code


def test_not_found_is_one_clear_line():
    result = mc("run", "--", "no-such-command")
    assert result.stderr == (
        "minicontainer: error: no-such-command: command not found in the container\n")


def _start(*flags: str, command: str) -> subprocess.Popen:
    proc = subprocess.Popen([*MC, "run", *flags, "--", "sh", "-c", command],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    return proc


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signals_to_the_runtime_reach_the_container(signum):
    proc = _start(command=f"trap 'echo got; exit 42' {signum.value}; echo ready; "
                          "while :; do sleep 0.05; done")
    proc.send_signal(signum)
    assert proc.wait(10) == 42
    assert proc.stdout.read() == "got\n"


def test_killed_by_a_signal_exits_128_plus_n():
    # Without a pid namespace the command is an ordinary process: SIGTERM kills it.
    proc = _start("--share", "pid", command="echo ready; exec sleep 30")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 128 + signal.SIGTERM


def test_sigkill_to_the_container_init_exits_137():
    proc = _start(command="echo ready; exec sleep 30")
    with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
        init = int(f.read().split()[0])
    os.kill(init, signal.SIGKILL)
    assert proc.wait(10) == 137


def test_pid_1_ignores_signals_it_has_no_handler_for():
    # The kernel protects a pid namespace's init: the twin of the trap test above.
    proc = _start(command="echo ready; exec sleep 2")
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert time.monotonic() - start > 1


def test_stdio_passes_through_untouched():
    data = bytes(range(256)) * 64
    result = subprocess.run([*MC, "run", "--", "sh", "-c", "cat; echo err >&2"],
                            input=data, capture_output=True, timeout=30)
    assert result.stdout == data
    assert result.stderr == b"err\n"


def test_tty_is_a_new_pty_in_a_new_session():
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(MC[0], [*MC, "run", "-t", "--", "sh", "-c",
                         "tty; ps -o sid,comm | grep ps; echo done"])
    out = read_until(fd, b"done").decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    lines = out.split()
    assert "/dev/pts/0" in lines  # the first pty of the container's own devpts
    assert lines[lines.index("ps") - 1] == "1"  # session id 1: the container's own session
    assert "done" in lines


def test_interactive_shell_reads_from_the_pty():
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(MC[0], [*MC, "run", "-it", "--hostname", "pty1", "--", "sh"])
    read_until(fd, b"# ")
    os.write(fd, b"echo hi from $(hostname)\n")
    assert b"hi from pty1" in read_until(fd, b"hi from pty1")
    os.write(fd, b"exit 5\n")
    read_until(fd, b"\xff", timeout=5)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 5


def test_environment_and_workdir():
    out = mc("run", "-e", "A=1", "-e", "B=x=y", "-w", "/tmp/new", "--",
             "sh", "-c", "echo $A $B $HOSTNAME; pwd; echo $PATH", check=True)
    lines = out.stdout.splitlines()
    assert lines[0].startswith("1 x=y ")
    assert lines[1] == "/tmp/new"
    assert "/usr/bin" in lines[2]


def test_runtime_fds_are_not_inherited():
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    try:
        result = subprocess.run([*MC, "run", "--", "ls", "/proc/self/fd"], close_fds=False,
                                capture_output=True, text=True, timeout=30)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert sorted(result.stdout.split()) == ["0", "1", "2", "3"]  # 3 is ls's own directory fd
