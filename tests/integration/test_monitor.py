"""What stays on the host for a detached container: mc-monitor (csrc/monitor.c) in the
monitor's process, then the finishing step in Python (minicontainer.monitor)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from helpers import mc, network_pieces, userns_blocks
from minicontainer import Config, Container, logs, monitor
from minicontainer.cgroups import container_path
from minicontainer.state import Scratch, StateStore, alive, process_start_time

LINES = "i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done"


@pytest.fixture
def name(request):
    value = f"t-{request.node.name[:40].replace('[', '-').replace(']', '')}-{os.getpid()}"
    yield value
    mc("rm", "-f", value)


def start(name: str, *command: str, flags: tuple[str, ...] = ()) -> dict:
    """Start a detached container; its record."""
    result = mc("run", "-d", "--name", name, *flags, "--", *command)
    assert result.returncode == 0, result.stderr
    return StateStore().load(name)


def wait_for_log(name: str, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while text not in mc("logs", name).stdout:
        assert time.monotonic() < deadline, f"{text!r} never appeared in the log of {name}"
        time.sleep(0.05)


def wait(name: str, timeout: float = 20) -> int | None:
    return Container(Config(args=["x"]), name).wait(timeout)


def wait_for_the_monitor_to_end(state: dict, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while alive(state["monitorPid"], state["monitorStartTime"]):
        assert time.monotonic() < deadline, "the monitor never ended"
        time.sleep(0.05)


def fds(pid: int) -> dict[int, str]:
    found = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            pass  # closed meanwhile (at the monitor's exec)
    return found


def test_the_monitor_is_mc_monitor_in_the_recorded_process_holding_only_the_pipe(name):
    state = start(name, "sleep", "30")
    pid, monitor_pid = state["pid"], state["monitorPid"]
    deadline = time.monotonic() + 10  # the CLI is released just before the exec
    while "anon_inode:[signalfd]" not in fds(monitor_pid).values():
        assert time.monotonic() < deadline, "mc-monitor never took over"
        time.sleep(0.01)
    assert os.path.realpath(f"/proc/{monitor_pid}/exe") == monitor.PROGRAM
    assert process_start_time(monitor_pid) == state["monitorStartTime"]
    assert int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) == monitor_pid
    held = fds(monitor_pid)
    pipe = next(target for target in held.values() if target.startswith("pipe:"))
    assert sorted(held.values()) == sorted(["/dev/null"] * 3 + [
        "anon_inode:[signalfd]", StateStore().log_path(name), pipe])
    # The container has its end of that pipe and nothing of the monitor's.
    assert fds(pid) == {0: "/dev/null", 1: pipe, 2: pipe}


def test_the_exit_code_and_the_end_are_recorded_and_the_container_freed(name):
    state = start(name, "sh", "-c", "echo out; echo err >&2; exit 5")
    assert wait(name) == 5
    ended = StateStore().load(name)
    assert ended["status"] == "stopped" and ended["exitCode"] == 5
    assert ended["finished"] >= ended["created"]
    assert ended["finalStats"] is not None and "error" not in ended
    wait_for_the_monitor_to_end(state)  # it exits once the record says how it ended
    assert mc("logs", name, check=True).stdout.split() == ["out", "err"]
    assert not os.path.exists(Scratch(name).dir)
    assert state["cgroup"] is None or not os.path.exists(state["cgroup"])


def test_a_container_killed_from_the_host_is_recorded_as_137(name):
    state = start(name, "sleep", "30")
    os.kill(state["pid"], signal.SIGKILL)
    assert wait(name) == 137
    assert "memory limit" not in mc("logs", name, check=True).stdout  # no OOM kill here


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
                                    signal.SIGUSR1, signal.SIGUSR2])
def test_a_signal_sent_to_the_monitor_reaches_the_container(name, signum):
    signame = signal.Signals(signum).name.removeprefix("SIG")
    state = start(name, "sh", "-c", f"trap 'echo got {signame}; exit 3' {signame}; echo started; "
                  "while :; do sleep 0.1; done")
    wait_for_log(name, "started")
    os.kill(state["monitorPid"], signum)
    assert wait(name) == 3
    assert mc("logs", name, check=True).stdout == f"started\ngot {signame}\n"


def test_the_log_rotates_exactly_as_logs_relay_rotates_it(name, tmp_path):
    # One `echo` a write, each a whole line: every read of the pipe is whole lines, and
    # then where a rotation falls does not depend on how the reads fell.
    start(name, "sh", "-c", LINES, flags=("--log-opt", "max-size=4k"))
    assert wait(name) == 0
    path = StateStore().log_path(name)
    expected = str(tmp_path / "output.log")
    r, w = os.pipe()
    relay = threading.Thread(target=logs.relay, args=(r, logs.open_log(expected), expected, 4096))
    relay.start()
    os.write(w, "".join(f"line {i}\n" for i in range(3000)).encode())
    os.close(w)
    relay.join(10)
    for part in (logs.rotated, str):
        with open(part(path), "rb") as got, open(part(expected), "rb") as want:
            assert got.read() == want.read()


def test_a_container_that_ends_by_itself_gives_back_its_lease_and_its_id_block(name):
    before = (network_pieces(), userns_blocks())
    state = start(name, "sh", "-c", "sleep 0.5; exit 2",
                  flags=("--net", "bridge", "--userns-range", "auto"))
    assert state["network"]["mode"] == "bridge"
    assert (network_pieces(), userns_blocks()) != before
    assert wait(name) == 2
    wait_for_the_monitor_to_end(state)
    assert (network_pieces(), userns_blocks()) == before  # the finishing step freed them
    assert "error" not in StateStore().load(name)


def test_auto_remove_removes_everything_once_the_container_ends(name):
    state = start(name, "sh", "-c", "echo bye; exit 4", flags=("--rm",))
    wait_for_the_monitor_to_end(state)
    assert not os.path.exists(StateStore().dir(name))
    assert not os.path.exists(Scratch(name).dir)
    assert not os.path.exists(container_path(name) or "/nonexistent")


def test_rm_f_of_a_running_container_ends_its_monitor_and_leaves_nothing(name):
    state = start(name, "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done")
    mc("rm", "-f", name, check=True)
    assert not alive(state["monitorPid"], state["monitorStartTime"])
    assert not alive(state["pid"], state["pidStartTime"])
    assert not os.path.exists(StateStore().dir(name))
    assert not os.path.exists(Scratch(name).dir)
