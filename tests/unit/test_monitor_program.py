"""mc-monitor (csrc/monitor.c) run on its own, around a stand-in for a container's init:
its log is the one logs.relay writes from the same reads, byte for byte; it forwards
signals to the init and hands its wait status to the finishing step."""

from __future__ import annotations

import fcntl
import os
import random
import signal
import subprocess
import sys
import termios
import threading
import time

import pytest

from minicontainer import logs, monitor

# Forks the stand-in init (stdin: the pipe the test closes to end it), then becomes
# mc-monitor as the runtime's monitor does: the signals blocked, the pipe and log open.
HARNESS = """
import os, signal, sys
from minicontainer import monitor
script, out_r, log, path, max_size, finish = sys.argv[1:]
init = os.fork()
if init == 0:
    os.execv("/bin/sh", ["sh", "-c", script])
os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # as the runtime's monitor has it
signal.pthread_sigmask(signal.SIG_BLOCK, monitor.BLOCKED)
os.execv(monitor.PROGRAM, [monitor.PROGRAM, str(init), out_r, log, path, max_size,
                           sys.executable, "-c", finish])
"""
# The finishing step: its arguments, and the fds it was given (but the one listing them).
FINISH = """
import os, sys
with open(os.path.join(os.environ["MC_TEST_DIR"], "args"), "w") as f:
    f.write("\\n".join(sys.argv[1:]) + "\\n")
listing = os.listdir("/proc/self/fd")  # the fd it read them with is closed now
fds = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in listing
       if os.path.lexists(f"/proc/self/fd/{fd}")}
with open(os.path.join(os.environ["MC_TEST_DIR"], "fds"), "w") as f:
    f.writelines(f"{fd} {target}\\n" for fd, target in fds.items())
"""
INIT_WAITS = "".join(f"trap 'echo got {name} > \"$MC_TEST_DIR/init\"; exit 3' {name}; "
                     for name in ("TERM", "INT", "HUP", "QUIT", "USR1", "USR2")) \
    + "echo > \"$MC_TEST_DIR/ready\"; read line; exit 7"


class Monitored:
    """mc-monitor running around ``sh -c INIT_WAITS``; the test writes its output."""

    def __init__(self, directory, max_size: int) -> None:
        self.dir = directory
        self.path = str(directory / "output.log")
        log = logs.open_log(self.path)
        out_r, self.out_w = os.pipe()
        init_in, self.init_stdin = os.pipe()
        env = {**os.environ, "MC_TEST_DIR": str(directory)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", HARNESS, INIT_WAITS, str(out_r), str(log), self.path,
             str(max_size), FINISH], pass_fds=(out_r, log), stdin=init_in,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        for fd in (log, out_r, init_in):
            os.close(fd)
        deadline = time.monotonic() + 10
        while (os.path.realpath(f"/proc/{self.process.pid}/exe") != monitor.PROGRAM
               or not (directory / "ready").exists()):  # the init has its traps
            assert time.monotonic() < deadline, "mc-monitor or its init never started"
            time.sleep(0.01)

    def end(self, timeout: float = 10) -> dict:
        """Let the init end; what the finishing step was given."""
        os.close(self.out_w)
        os.close(self.init_stdin)
        self.process.wait(timeout)
        args = (self.dir / "args").read_text().splitlines()
        fds = dict(line.split(" ", 1) for line in (self.dir / "fds").read_text().splitlines())
        return {"args": args, "fds": fds}


def write_one_read_at_a_time(fd: int, chunks: list[bytes]) -> None:
    """Write each chunk once the reader has taken the one before: every read then
    gets exactly one chunk (a write of up to 64 KiB into an empty pipe is seen whole)."""
    for chunk in chunks:
        os.write(fd, chunk)
        while _queued(fd):
            time.sleep(0.001)


def _queued(fd: int) -> int:
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)


def relayed_by_python(directory, chunks: list[bytes], max_size: int) -> str:
    path = str(directory / "output.log")
    r, w = os.pipe()
    worker = threading.Thread(target=logs.relay, args=(r, logs.open_log(path), path, max_size))
    worker.start()
    write_one_read_at_a_time(w, chunks)
    os.close(w)
    worker.join(10)
    return path


def chunks_of_every_kind(seed: int) -> list[bytes]:
    """Short lines, lines longer than the log, chunks without a newline, empty lines."""
    rng = random.Random(seed)
    chunks = []
    for i in range(300):
        kind = rng.choice(["lines", "long", "partial", "newlines"])
        if kind == "lines":
            chunks.append(b"".join(b"line %d.%d\n" % (i, j) for j in range(rng.randint(1, 9))))
        elif kind == "long":
            chunks.append(b"x" * rng.randint(90, 400) + b"\n")
        elif kind == "partial":
            chunks.append(b"part %d " % i * rng.randint(1, 12))
        else:
            chunks.append(b"\n" * rng.randint(1, 5))
    return chunks


def contents(path: str) -> tuple[bytes | None, bytes | None]:
    def read(p: str) -> bytes | None:
        try:
            with open(p, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    return read(logs.rotated(path)), read(path)


@pytest.mark.parametrize("seed", range(4))
def test_the_log_is_the_one_logs_relay_writes_from_the_same_reads(tmp_path, seed):
    chunks = chunks_of_every_kind(seed)
    (tmp_path / "c").mkdir()
    (tmp_path / "python").mkdir()
    watched = Monitored(tmp_path / "c", max_size=100)
    write_one_read_at_a_time(watched.out_w, chunks)
    watched.end()
    expected = contents(relayed_by_python(tmp_path / "python", chunks, max_size=100))
    assert expected[0] is not None  # it did rotate
    assert contents(watched.path) == expected


def test_a_log_that_exists_already_is_appended_to_and_counted(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "python").mkdir()
    for directory in ("c", "python"):
        (tmp_path / directory / "output.log").write_bytes(b"before\n" * 10)
    chunks = [b"after %d\n" % i for i in range(20)]
    watched = Monitored(tmp_path / "c", max_size=100)
    write_one_read_at_a_time(watched.out_w, chunks)
    watched.end()
    assert contents(watched.path) == contents(
        relayed_by_python(tmp_path / "python", chunks, max_size=100))


def test_the_finishing_step_gets_the_wait_status_the_pipe_and_the_log(tmp_path):
    watched = Monitored(tmp_path, max_size=1 << 20)
    write_one_read_at_a_time(watched.out_w, [b"hello\n"])
    given = watched.end()
    assert given["args"] == [str(7 << 8)]  # `exit 7`, as waitpid says it
    fds = given["fds"]
    assert fds["1"] == fds["2"] == watched.path  # its stderr is the log
    assert "anon_inode:[signalfd]" not in fds.values()  # mc-monitor's own is closed
    assert sum(target.startswith("pipe:") for target in fds.values()) == 1  # the output
    assert list(fds.values()).count(watched.path) == 3  # stdout, stderr, the log itself
    assert (tmp_path / "output.log").read_bytes() == b"hello\n"


@pytest.mark.parametrize("signum", monitor.FORWARDED_SIGNALS)
def test_a_signal_to_mc_monitor_reaches_the_init(tmp_path, signum):
    watched = Monitored(tmp_path, max_size=1 << 20)
    os.kill(watched.process.pid, signum)
    assert watched.process.wait(10) == 0
    name = signal.Signals(signum).name.removeprefix("SIG")
    assert (tmp_path / "init").read_text() == f"got {name}\n"
    assert (tmp_path / "args").read_text() == f"{3 << 8}\n"  # the init's `exit 3`
    os.close(watched.out_w)
    os.close(watched.init_stdin)


def test_without_its_arguments_it_says_what_it_is():
    result = subprocess.run([monitor.PROGRAM], capture_output=True, text=True)
    assert result.returncode == 125
    assert result.stderr.startswith("usage: mc-monitor PID LOG_R LOG PATH MAX_SIZE FINISH...")
