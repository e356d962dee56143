"""Detached containers, their state, and the commands that act on them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from helpers import MC, mc
from minicontainer import Config, Container, list_containers
from minicontainer.config import hostname_for
from minicontainer.state import Scratch, StateStore

WAIT_FOR_TERM = "trap 'echo got TERM; exit 3' TERM; echo started; while :; do sleep 0.1; done"


@pytest.fixture
def name(request):
    """A container name for this test, removed (forcibly) afterwards."""
    value = f"t-{request.node.name[:40].replace('[', '-').replace(']', '')}-{os.getpid()}"
    yield value
    mc("rm", "-f", value)


def start(name: str, *command: str, flags: tuple[str, ...] = ()) -> None:
    result = mc("run", "-d", "--name", name, *flags, "--", *command)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{name}\n"


def ps(*flags: str) -> dict[str, dict]:
    listed = json.loads(mc("ps", "--format", "json", *flags, check=True).stdout)
    return {c["id"]: c for c in listed}


def wait_for_log(name: str, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = mc("logs", name).stdout
        if text in out:
            return out
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in the log of {name}")


def test_detached_container_outlives_the_command_and_shows_in_ps(name):
    start(name, "sleep", "30")
    listed = ps()
    assert listed[name]["status"] == "running"
    assert os.path.exists(f"/proc/{listed[name]['pid']}")
    table = mc("ps", check=True).stdout
    assert name in table and "running" in table


def test_state_holds_the_oci_fields(name):
    start(name, "sleep", "30")
    state = json.loads(mc("inspect", name, check=True).stdout)
    for field in ("ociVersion", "id", "status", "pid", "bundle", "created", "annotations"):
        assert field in state
    assert state["status"] == "running" and state["id"] == name
    assert state["cgroup"].endswith(f"/minicontainer/{name}")
    assert set(state["namespaces"]) == {"cgroup", "ipc", "mnt", "net", "pid", "user", "uts"}
    assert oct(os.stat(StateStore().dir(name)).st_mode & 0o777) == "0o700"


def test_exec_sees_what_the_containers_own_process_sees(name):
    start(name, "sh", "-c", "mc-probe --json > /tmp/init.json; sleep 30")
    init = json.loads(_exec_until(name, "cat", "/tmp/init.json"))
    entered = json.loads(mc("exec", name, "mc-probe", "--json", check=True).stdout)
    assert entered["namespaces"] == init["namespaces"]
    assert entered["hostname"] == init["hostname"] == hostname_for(name)
    assert entered["cgroup"] == init["cgroup"] == "0::/"
    assert [m["target"] for m in entered["mounts"]] == [m["target"] for m in init["mounts"]]
    assert entered["capabilities"] == init["capabilities"]
    assert entered["seccomp"] == "filter" and entered["no_new_privs"] is True
    assert entered["syscalls"]["keyctl"]["result"] == "EPERM"
    assert entered["uid_map"] == init["uid_map"]


def _exec_until(name: str, *command: str) -> str:
    for _ in range(100):
        result = mc("exec", name, *command)
        if result.returncode == 0:
            return result.stdout
        time.sleep(0.1)
    raise AssertionError(result.stderr)


def test_exec_joins_the_containers_cgroup_and_pid_namespace(name):
    start(name, "sleep", "30")
    cgroup = ps()[name]["cgroup"]
    out = mc("exec", name, "sh", "-c", "grep ^0:: /proc/self/cgroup; ps -o pid,comm",
             check=True).stdout
    assert out.splitlines()[0] == "0::/"
    assert "1 sleep" in out.replace("  ", " ")
    assert os.path.isdir(cgroup)


def test_exec_gets_no_fd_of_the_runtime(name):
    start(name, "sleep", "30")
    fd = os.open("/etc/hostname", os.O_RDONLY)
    try:
        result = subprocess.run([*MC, "exec", name, "ls", "/proc/self/fd"], pass_fds=[fd],
                                capture_output=True, text=True, timeout=30)
    finally:
        os.close(fd)
    assert sorted(result.stdout.split()) == ["0", "1", "2", "3"]


def test_exec_takes_user_env_and_workdir(name):
    start(name, "sleep", "30")
    out = mc("exec", "-u", "1000:1000", "-e", "X=1", "-w", "/tmp", name, "sh", "-c",
             "id -u; id -g; echo $X; pwd", check=True).stdout
    assert out.split() == ["1000", "1000", "1", "/tmp"]


def test_exec_passes_the_exit_code_back(name):
    start(name, "sleep", "30")
    assert mc("exec", name, "sh", "-c", "exit 7").returncode == 7
    assert mc("exec", name, "no-such-command").returncode == 127


def test_exec_into_a_missing_or_stopped_container_is_an_error(name):
    missing = mc("exec", "no-such-container", "true")
    assert missing.returncode == 125
    assert missing.stderr == \
        'minicontainer: error: container "no-such-container" does not exist\n'
    start(name, "true")
    assert Container(Config(args=["x"]), name).wait(10) == 0
    stopped = mc("exec", name, "true")
    assert stopped.returncode == 125 and "it is stopped" in stopped.stderr


def test_kill_sends_the_signal(name):
    start(name, "sh", "-c", WAIT_FOR_TERM)
    wait_for_log(name, "started")
    mc("kill", name, check=True)
    assert Container(Config(args=["x"]), name).wait(10) == 3
    assert wait_for_log(name, "got TERM")
    assert ps("-a")[name]["exitCode"] == 3


@pytest.mark.parametrize("signal_name", ["KILL", "SIGKILL", "9", "kill"])
def test_kill_takes_names_and_numbers(name, signal_name):
    start(name, "sleep", "30")
    mc("kill", name, signal_name, check=True)
    assert Container(Config(args=["x"]), name).wait(10) == 137


def test_kill_with_a_bad_signal_is_an_error(name):
    start(name, "sleep", "30")
    result = mc("kill", name, "SIGNOPE")
    assert result.returncode == 125 and "signal: 'SIGNOPE'" in result.stderr


def test_stop_kills_a_container_that_ignores_term(name):
    start(name, "sleep", "30")  # pid 1 without a handler: SIGTERM does nothing
    began = time.monotonic()
    mc("stop", "-t", "1", name, check=True)
    assert 1 <= time.monotonic() - began < 10
    assert ps("-a")[name]["exitCode"] == 137


def test_stop_is_quick_for_a_container_that_handles_term(name):
    start(name, "sh", "-c", WAIT_FOR_TERM)
    wait_for_log(name, "started")
    mc("stop", "-t", "20", name, check=True)
    assert ps("-a")[name]["exitCode"] == 3


def test_rm_refuses_a_running_container_and_forces(name):
    start(name, "sleep", "30")
    refused = mc("rm", name)
    assert refused.returncode == 125 and "is running" in refused.stderr
    assert name in ps()
    mc("rm", "-f", name, check=True)
    assert name not in ps("-a")


def test_logs_show_output_and_follow(name):
    start(name, "sh", "-c", "echo one; echo two >&2; sleep 1; echo three")
    out = mc("logs", "-f", name, check=True).stdout
    assert out.split() == ["one", "two", "three"]


def test_rm_flag_removes_the_record_when_it_stops(name):
    start(name, "true", flags=("--rm",))
    deadline = time.monotonic() + 10
    while name in ps("-a") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert name not in ps("-a")


def test_pause_freezes_and_unpause_thaws(name):
    start(name, "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done")
    counter = os.path.join(Scratch(name).upper, "tmp", "n")  # the host side of the overlay
    deadline = time.monotonic() + 20
    while not (os.path.exists(counter) and open(counter).read().strip()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    mc("pause", name, check=True)
    assert ps()[name]["status"] == "paused"
    assert mc("exec", name, "true").returncode == 125  # a frozen container cannot be entered
    frozen = open(counter).read()
    time.sleep(0.5)
    assert open(counter).read() == frozen
    mc("unpause", name, check=True)
    time.sleep(0.5)
    assert int(open(counter).read()) > int(frozen)


def test_stats_of_a_container(name):
    start(name, "sleep", "30")
    stats = json.loads(mc("stats", "--json", name, check=True).stdout)
    assert stats["cpu.usage_usec"] is not None
    assert "cpu.usage_usec" in mc("stats", name, check=True).stdout


def test_killing_the_monitor_leaves_state_rm_can_clean(name):
    start(name, "sleep", "30")
    state = ps()[name]
    os.kill(state["monitorPid"], 9)
    deadline = time.monotonic() + 10
    while ps("-a")[name]["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ps("-a")[name]["status"] == "unknown"
    mc("rm", "-f", name, check=True)
    assert not os.path.exists(state["cgroup"])
    assert not os.path.exists(state["bundle"])


def test_cleanup_removes_every_stopped_container(name):
    start(name, "true")
    Container(Config(args=["x"]), name).wait(10)
    assert name in mc("cleanup", check=True).stdout.split()
    assert name not in ps("-a")


def test_foreground_run_is_listed_and_can_be_entered(name):
    runtime = subprocess.Popen([*MC, "run", "--name", name, "--", "sh", "-c",
                                "echo ready; sleep 30"], stdout=subprocess.PIPE, text=True)
    try:
        assert runtime.stdout.readline() == "ready\n"
        assert ps()[name]["status"] == "running"
        assert mc("exec", name, "hostname", check=True).stdout == f"{hostname_for(name)}\n"
    finally:
        runtime.kill()
        runtime.wait(10)


@pytest.mark.parametrize(("flags", "field"), [(["-d", "-t"], "tty"), (["-d", "--stats"], "stats"),
                                             (["--rm"], "rm")])
def test_flags_that_do_not_go_together(flags, field):
    result = mc("run", *flags, "--", "true")
    assert result.returncode == 125
    assert result.stderr.startswith(f"minicontainer: error: {field}: ")


@pytest.mark.parametrize("bad", ["../x", "", "a" * 65, "-x", "a/b", ".hidden"])
def test_bad_names_are_errors(bad):
    result = mc("run", "-d", f"--name={bad}", "--", "true")
    assert result.returncode == 125
    assert result.stderr.startswith("minicontainer: error: name: ")


def test_a_name_in_use_is_an_error(name):
    start(name, "sleep", "30")
    result = mc("run", "-d", "--name", name, "--", "true")
    assert result.returncode == 125
    assert result.stderr == f"minicontainer: error: name: {name!r} is in use by another container\n"


def test_root_flag_moves_the_state(tmp_path, name):
    root = str(tmp_path / "state")
    result = mc("--root", root, "run", "-d", "--name", name, "--", "sleep", "30")
    assert result.returncode == 0
    assert os.path.isdir(os.path.join(root, name))
    assert name not in ps()
    mc("--root", root, "rm", "-f", name, check=True)


def test_twenty_containers_started_and_removed_at_once_leave_nothing():
    names = [f"many-{os.getpid()}-{i}" for i in range(20)]
    errors = []

    def lifecycle(n: str) -> None:
        try:
            start(n, "sleep", "30")
            mc("rm", "-f", n, check=True)
        except AssertionError as e:
            errors.append(e)

    threads = [threading.Thread(target=lifecycle, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert not set(names) & set(ps("-a"))


def test_python_api(name):
    with Container(Config(args=["sleep", "30"]), name) as container:
        assert container.exec(["sh", "-c", "exit 4"]) == 4
        assert name in {c["id"] for c in list_containers()}
        container.kill(9)
        assert container.wait(10) == 137
    assert name not in {c["id"] for c in list_containers()}


def test_killing_a_foreground_runtime_leaves_state_rm_can_clean(name):
    runtime = subprocess.Popen([*MC, "run", "--name", name, "--", "sh", "-c",
                                "echo ready; sleep 30"], stdout=subprocess.PIPE, text=True)
    assert runtime.stdout.readline() == "ready\n"
    state = ps()[name]
    runtime.kill()  # SIGKILL: no cleanup runs; the init dies with it (parent-death signal)
    runtime.wait(10)
    deadline = time.monotonic() + 10
    while ps("-a")[name]["status"] != "unknown" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ps("-a")[name]["status"] == "unknown"
    assert os.path.exists(state["bundle"]) and os.path.exists(state["cgroup"])
    mc("rm", name, check=True)
    assert not os.path.exists(state["bundle"]) and not os.path.exists(state["cgroup"])
    assert name not in ps("-a")


# -- crash safety: whatever moment the runtime dies, rm -f and cleanup leave nothing


def _owned(name: str, root: str | None = None) -> list[str]:
    """What the host holds for container ``name``: state dir, scratch dir, cgroup."""
    from minicontainer.cgroups import container_path

    store = StateStore(root) if root else StateStore()
    paths = (store.dir(name), Scratch(name).dir, container_path(name))
    return [p for p in paths if p and os.path.lexists(p)]


def _freeze_and_kill_when(process_pid: int, appears: str, poll) -> None:
    """Busy-wait until ``appears`` exists, then stop the process there and kill it: it
    gets no chance to go one step further, or to clean up."""
    deadline = time.monotonic() + 30
    while not os.path.lexists(appears):
        assert poll() is None and time.monotonic() < deadline, "the moment never came"
    os.kill(process_pid, signal.SIGSTOP)
    os.kill(process_pid, signal.SIGKILL)


def _moment_path(moment: str, name: str) -> str:
    from minicontainer.cgroups import container_path

    return {"state dir": StateStore().dir(name), "cgroup": container_path(name),
            "scratch dir": Scratch(name).dir}[moment]


@pytest.mark.parametrize("remover", [("rm", "-f"), ("cleanup",)])
@pytest.mark.parametrize("moment", ["state dir", "cgroup", "scratch dir"])
def test_kill_9_of_the_foreground_runtime_at_any_moment_leaves_nothing(name, moment, remover):
    runtime = subprocess.Popen([*MC, "run", "--name", name, "--", "sleep", "30"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _freeze_and_kill_when(runtime.pid, _moment_path(moment, name), runtime.poll)
    runtime.wait(10)
    assert _owned(name)  # it died holding something
    result = mc(*remover, *((name,) if remover[0] == "rm" else ()))
    assert result.returncode == 0, result.stderr
    assert name in result.stdout.split()
    assert _owned(name) == []
    again = mc("run", "--name", name, "--", "true")  # the name is free at once
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("moment", ["cgroup", "scratch dir"])
def test_kill_9_of_the_monitor_while_it_starts_the_container_leaves_nothing(name, moment):
    cli = subprocess.Popen([*MC, "run", "-d", "--name", name, "--", "sleep", "30"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The monitor records its pid before it makes the cgroup or the scratch directory.
    path = _moment_path(moment, name)
    deadline = time.monotonic() + 30
    while not os.path.lexists(path):
        assert time.monotonic() < deadline, "the moment never came"
    state = StateStore().load(name)
    os.kill(state["monitorPid"], signal.SIGSTOP)
    os.kill(state["monitorPid"], signal.SIGKILL)
    cli.wait(10)
    assert cli.returncode != 0  # it never heard back from the monitor
    mc("rm", "-f", name, check=True)
    assert _owned(name) == []
    start(name, "true")


def test_cleanup_finds_what_a_lost_record_left(name):
    """After a reboot /run is empty, but /var/lib still holds the scratch directory of a
    container that was running: cleanup removes it, and the empty cgroup."""
    start(name, "sleep", "30")
    state = ps()[name]
    os.kill(state["monitorPid"], signal.SIGKILL)  # the container dies with it
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{state['pid']}") and time.monotonic() < deadline:
        time.sleep(0.05)
    from minicontainer.state import remove_tree

    remove_tree(StateStore().dir(name))
    assert _owned(name) == [Scratch(name).dir, state["cgroup"]]
    assert name not in ps("-a")
    result = mc("cleanup")
    assert result.returncode == 0, result.stderr
    assert name in result.stdout.split()
    assert _owned(name) == []


def test_rm_f_of_a_running_foreground_container(name):
    runtime = subprocess.Popen([*MC, "run", "--name", name, "--", "sh", "-c",
                                "echo ready; sleep 30"], stdout=subprocess.PIPE, text=True)
    assert runtime.stdout.readline() == "ready\n"
    result = mc("rm", "-f", name)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{name}\n" and result.stderr == ""
    assert runtime.wait(10) == 137  # the runtime reports its container killed, and ends
    assert _owned(name) == []


API_RUN_THEN_WAIT = """
import sys
from minicontainer import Config, Container
code = Container(Config(args=["sh", "-c", "echo ready; sleep 30"]), sys.argv[1]).run()
print(code, flush=True)
sys.stdin.readline()
print("still alive", flush=True)
"""


def test_rm_f_never_kills_a_program_that_ran_its_container_with_the_api(name):
    # The program's own process is the record's monitorPid; it goes on after run().
    program = subprocess.Popen([MC[0], "-c", API_RUN_THEN_WAIT, name], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert program.stdout.readline() == "ready\n"
        began = time.monotonic()
        result = mc("rm", "-f", name)
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - began < 5
        assert program.stdout.readline() == "137\n"
        assert program.poll() is None
        program.stdin.write("\n")
        program.stdin.flush()
        assert program.stdout.readline() == "still alive\n"
        assert program.wait(10) == 0
    finally:
        program.kill()
        program.wait()
    assert _owned(name) == []


def test_rm_f_all_goes_on_past_a_failure_and_names_it(tmp_path, name):
    root = str(tmp_path / "state")
    names = [f"{name}-{i}" for i in range(3)]
    for n in names:
        result = mc("--root", root, "run", "-d", "--name", n, "--", "sh", "-c",
                    "echo x > /stuck; sleep 30")
        assert result.returncode == 0, result.stderr
    stuck = os.path.join(Scratch(names[1]).upper, "stuck")
    deadline = time.monotonic() + 20
    while not os.path.exists(stuck):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    subprocess.run(["chattr", "+i", stuck], check=True)  # now nothing may unlink it
    try:
        result = mc("--root", root, "rm", "-f", "--all")
        assert result.returncode == 125
        assert sorted(result.stdout.split()) == [names[0], names[2]]
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and names[1] in lines[0] and "scratch" in lines[0], lines
        assert _owned(names[0], root) == [] and _owned(names[2], root) == []
    finally:
        subprocess.run(["chattr", "-i", stuck], check=True)
    mc("--root", root, "rm", "-f", names[1], check=True)
    assert _owned(names[1], root) == []


def test_logs_rotate_at_the_size_asked_and_keep_the_newest(name):
    start(name, "sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done",
          flags=("--log-opt", "max-size=4k"))
    assert Container(Config(args=["x"]), name).wait(20) == 0
    log = StateStore().log_path(name)
    assert os.path.getsize(log) <= 4096 and os.path.getsize(f"{log}.1") <= 4096
    out = mc("logs", name, check=True).stdout
    lines = out.splitlines()
    assert lines[-1] == "line 2999"
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == list(range(numbers[0], 3000))  # in order, nothing missing in between


def test_logs_are_bounded_by_default(name):
    start(name, "sh", "-c", "yes 0123456789abcdef | head -c 19999990; echo end")  # 17 * n
    assert Container(Config(args=["x"]), name).wait(60) == 0
    log = StateStore().log_path(name)
    total = os.path.getsize(log) + os.path.getsize(f"{log}.1")
    assert 4 << 20 <= total <= 8 << 20
    assert mc("logs", name, check=True).stdout.endswith("0123456789abcdef\nend\n")


def test_a_writer_whose_reader_is_gone_gets_sigpipe():
    # Python ignores SIGPIPE, and an ignored signal stays ignored across execve: without
    # the reset, `yes` would write into the closed pipe for ever.
    result = mc("run", "--", "sh", "-c", "yes | head -n 2; grep SigIgn /proc/self/status",
                timeout=30)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["y", "y"]
    ignored = int(lines[2].split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1))


@pytest.mark.parametrize("record", [None, "{}", '{"id": "x", "status": "creating"}', "{not json"])
@pytest.mark.parametrize("remover", [("rm", "-f"), ("rm",), ("cleanup",)])
def test_a_partial_record_is_no_obstacle_to_removal(name, record, remover):
    """What a crash between making the state directory and writing the record (or a
    record from another version) leaves: rm and cleanup still remove it all."""
    os.makedirs(StateStore().dir(name), mode=0o700)
    os.mkdir(Scratch(name).dir, 0o700)
    if record is not None:
        with open(os.path.join(StateStore().dir(name), "state.json"), "w") as f:
            f.write(record)
    listed = mc("ps", "-a")
    assert listed.returncode == 0, listed.stderr
    assert (name in listed.stdout) == (record not in (None, "{not json"))
    result = mc(*remover, *((name,) if remover[0] == "rm" else ()))
    assert result.returncode == 0, result.stderr
    assert name in result.stdout.split()
    assert _owned(name) == []
    assert mc("rm", name).stderr == f'minicontainer: error: container "{name}" does not exist\n'


@pytest.mark.parametrize("command", [("exec", "-u", "1_000", "x", "true"),
                                     ("exec", "-u", " 7", "x", "true")])
def test_exec_user_is_strict_too(command):
    result = mc(*command)
    assert result.returncode == 125
    assert result.stderr.startswith(f"minicontainer: error: user: {command[2]!r} ")
