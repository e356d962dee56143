"""The OCI runtime interface, driven as an engine drives runc: spec, create, start,
state, kill, delete, run --bundle; the exec fifo, the pid file, the console socket,
preserved fds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from helpers import MC, console_socket, container_id, mc, oci_state, read_until, wait_for_status
from minicontainer import idmap
from minicontainer.rootfs import default_rootfs


@pytest.fixture
def cid(request):
    """A container id for this test, deleted (forcibly) afterwards."""
    value = container_id(request, "oci")
    yield value
    mc("delete", "--force", value)


@pytest.fixture
def bundle(tmp_path):
    """A bundle made by `spec`, on the busybox rootfs; ``bundle(args, **process)``
    sets the command (and process fields) and returns its directory."""
    mc("spec", "--bundle", str(tmp_path), "--rootfs", default_rootfs(), check=True)
    path = tmp_path / "config.json"

    def make(args: list[str], annotations: dict | None = None, **process) -> str:
        doc = json.loads(path.read_text())
        doc["process"]["args"] = args
        doc["process"].update(process)
        if annotations is not None:
            doc["annotations"].update(annotations)  # spec's own keeps the rootfs pristine
        path.write_text(json.dumps(doc))
        return str(tmp_path)

    return make


def create(cid: str, bundle: str, *options: str, out=None) -> str:
    """`create`, which must succeed; what it wrote on stderr.  The container keeps its
    stdout and stderr, so they go to ``out`` (a file): a pipe would stay open for as
    long as the container runs."""
    import tempfile

    with open(out or os.devnull, "ab") as sink, tempfile.TemporaryFile() as errors:
        result = subprocess.run([*MC, "create", "--bundle", bundle, *options, cid],
                                stdin=subprocess.DEVNULL, stdout=sink, stderr=errors,
                                timeout=60)
        errors.seek(0)
        text = errors.read().decode()
    assert result.returncode == 0, text
    return text






def cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode().split("\0")[:-1]


def test_create_parks_the_init_before_its_execve_and_start_releases_it(cid, bundle, tmp_path):
    path = bundle(["sh", "-c", "echo ran; exec sleep 30"], annotations={"org.example.k": "v"})
    out, pid_file = tmp_path / "out", tmp_path / "pid"
    create(cid, path, "--pid-file", str(pid_file), out=str(out))
    created = oci_state(cid)
    assert created["status"] == "created"
    assert created["pid"] == int(pid_file.read_text()) > 0
    assert created["bundle"] == path and created["annotations"] == {
        "minicontainer.overlay": "true", "org.example.k": "v"}
    assert created["ociVersion"] and created["id"] == cid
    # Still the runtime's process: the recipe ran, the execve did not.
    assert cmdline(created["pid"])[0] != "sh"
    assert "minicontainer" in " ".join(cmdline(created["pid"]))
    time.sleep(0.3)
    assert out.read_text() == ""
    mc("start", cid, check=True)
    running = oci_state(cid)
    assert running["status"] == "running" and running["pid"] == created["pid"]
    assert read_file_until(out, "ran\n")
    deadline = time.monotonic() + 10  # sh ran, then execs sleep
    while cmdline(running["pid"]) != ["sleep", "30"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cmdline(running["pid"]) == ["sleep", "30"]


def read_file_until(path, text: str, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text():
            return True
        time.sleep(0.05)
    return False


def test_status_goes_creating_created_running_stopped(cid, bundle):
    import threading

    from minicontainer import oci
    from minicontainer.errors import ContainerError
    from minicontainer.state import StateStore

    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:
        """Every status the record shows, in order, read as often as it can be."""
        while not done.is_set():
            try:
                current = oci.state(StateStore(), cid)["status"]
            except ContainerError:  # not registered yet
                current = None
            if current and (not seen or seen[-1] != current):
                seen.append(current)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        create(cid, bundle(["sleep", "0.5"]))
        mc("start", cid, check=True)
        wait_for_status(cid, "stopped")
    finally:
        done.set()
        watcher.join()
    assert seen == ["creating", "created", "running", "stopped"]


def test_a_command_that_ends_is_stopped_with_pid_0_then_deleted(cid, bundle):
    create(cid, bundle(["sh", "-c", "exit 3"]))
    mc("start", cid, check=True)
    stopped = wait_for_status(cid, "stopped")
    assert stopped["pid"] == 0
    mc("delete", cid, check=True)
    gone = mc("state", cid)
    assert gone.returncode == 125
    assert gone.stderr == f'minicontainer: error: container "{cid}" does not exist\n'


# What conmon does: it is a child subreaper, so the command `create` leaves behind becomes
# its child when `create` ends, and its exit code is conmon's to reap.
_SUBREAPER = """
import ctypes, json, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
mc, bundle, cid = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
subprocess.run([*mc, "create", "--bundle", bundle, cid], check=True, stdout=subprocess.DEVNULL)
subprocess.run([*mc, "start", cid], check=True)
reaped, status = os.wait()
print(reaped, os.waitstatus_to_exitcode(status))
"""


def test_the_caller_of_create_reaps_the_command_and_its_exit_code(cid, bundle):
    """No minicontainer process stays with a created container: the command is the
    caller's to reap (a subreaper's, as conmon and containerd's shim are)."""
    path = bundle(["sh", "-c", "exit 3"])
    result = subprocess.run([sys.executable, "-c", _SUBREAPER, json.dumps(MC), path, cid],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    reaped, code = map(int, result.stdout.split())
    assert code == 3
    assert reaped != os.getpid()
    assert wait_for_status(cid, "stopped")["pid"] == 0
    mc("delete", cid, check=True)


def test_start_only_a_created_container(cid, bundle):
    create(cid, bundle(["sleep", "30"]))
    mc("start", cid, check=True)
    again = mc("start", cid)
    assert again.returncode == 125
    assert again.stderr == (f"minicontainer: error: cannot start container {cid}: it is "
                            "running, not created\n")
    assert oci_state(cid)["status"] == "running"


def test_delete_refuses_a_running_container_unless_forced(cid, bundle):
    create(cid, bundle(["sleep", "30"]))
    mc("start", cid, check=True)
    refused = mc("delete", cid)
    assert refused.returncode == 125 and "it is running" in refused.stderr
    assert oci_state(cid)["status"] == "running"
    mc("delete", "--force", cid, check=True)
    assert mc("state", cid).returncode == 125


def comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def test_delete_removes_a_created_container_as_runc_does(cid, bundle):
    from minicontainer.state import alive

    assert create(cid, bundle(["sleep", "30"])) == ""
    record = json.loads(mc("inspect", cid, check=True).stdout)
    pid, started = record["pid"], record["pidStartTime"]
    assert alive(pid, started) and comm(pid) != "sleep"  # parked before its execve
    mc("delete", cid, check=True)
    assert mc("state", cid).returncode == 125
    assert not alive(pid, started)


def test_start_execs_the_command_in_the_same_process(cid, bundle):
    from minicontainer.state import alive

    create(cid, bundle(["sleep", "30"]))
    record = json.loads(mc("inspect", cid, check=True).stdout)
    pid, started = record["pid"], record["pidStartTime"]
    assert comm(pid) != "sleep"
    mc("start", cid, check=True)
    assert alive(pid, started) and comm(pid) == "sleep"


def test_a_command_that_does_not_exist_fails_at_create_and_leaves_nothing(cid, bundle):
    failed = mc("create", "--bundle", bundle(["no-such-command"]), cid,
                stdin=subprocess.DEVNULL)
    assert failed.returncode == 125
    assert failed.stderr == ("minicontainer: error: container init: no-such-command: "
                             "command not found in the container\n")
    assert mc("state", cid).returncode == 125


def test_a_command_found_but_not_executable_fails_at_start(cid, bundle):
    create(cid, bundle(["/etc/passwd"]))
    failed = mc("start", cid)
    assert failed.returncode == 125
    assert "/etc/passwd" in failed.stderr and len(failed.stderr.splitlines()) == 1
    assert oci_state(cid)["status"] == "stopped"


def test_a_failed_run_detached_removes_the_container(cid, bundle):
    from minicontainer.state import StateStore

    failed = mc("run", "-d", "--bundle", bundle(["/etc/passwd"]), cid,
                stdin=subprocess.DEVNULL)
    assert failed.returncode == 125, mc("inspect", cid).stdout
    assert len(failed.stderr.splitlines()) == 1 and "/etc/passwd" in failed.stderr
    assert mc("state", cid).returncode == 125
    assert not os.path.exists(StateStore().dir(cid))


def test_delete_force_of_a_missing_container_succeeds():
    assert mc("delete", "--force", f"oci-never-created-{os.getpid()}", check=True).stderr == ""
    refused = mc("delete", f"oci-never-created-{os.getpid()}")
    assert refused.returncode == 125 and "does not exist" in refused.stderr


@pytest.mark.parametrize("force", [True, False])
def test_delete_removes_a_state_dir_without_a_record(cid, force):
    from minicontainer.state import StateStore

    os.makedirs(StateStore().dir(cid))  # what a crash between mkdir and the record leaves
    mc("delete", *(["--force"] if force else []), cid, check=True)
    assert not os.path.exists(StateStore().dir(cid))


def test_delete_refuses_a_created_container_a_start_has_taken(cid, bundle):
    from minicontainer import startgate
    from minicontainer.state import StateStore

    create(cid, bundle(["sleep", "30"]))
    # What a `start` does first, under the lock: it takes the fifo, then releases the init.
    os.unlink(os.path.join(StateStore().dir(cid), startgate.FIFO_NAME))
    refused = mc("delete", cid)
    assert refused.returncode == 125
    assert refused.stderr == (f"minicontainer: error: cannot delete container {cid}: it is "
                              "being started (delete --force kills it)\n")
    assert oci_state(cid)["status"] == "created"
    mc("delete", "--force", cid, check=True)
    assert mc("state", cid).returncode == 125


def test_delete_of_a_created_container_leaves_no_fifo_for_start(cid, bundle):
    from minicontainer import startgate
    from minicontainer.state import StateStore

    create(cid, bundle(["sleep", "30"]))
    fifo = os.path.join(StateStore().dir(cid), startgate.FIFO_NAME)
    assert os.path.exists(fifo)
    mc("delete", cid, check=True)
    assert not os.path.exists(fifo) and mc("state", cid).returncode == 125


def test_two_starts_at_once_run_it_once_and_the_other_says_why(cid, bundle):
    create(cid, bundle(["sleep", "30"]))
    starts = [subprocess.Popen([*MC, "start", cid], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = sorted((p.wait(timeout=60), p.stderr.read()) for p in starts)
    for p in starts:
        p.stderr.close()
    assert results[0] == (0, "")
    assert results[1][0] == 125
    assert results[1][1] in (
        f"minicontainer: error: cannot start container {cid}: it is being started (or "
        "deleted) already\n",
        f"minicontainer: error: cannot start container {cid}: it is running, not created\n")
    assert oci_state(cid)["status"] == "running"


def test_a_start_that_times_out_says_delete_is_the_way_out(cid, bundle, monkeypatch):
    from minicontainer import oci
    from minicontainer.errors import ContainerError
    from minicontainer.state import StateStore

    create(cid, bundle(["sleep", "30"]))
    mc("kill", cid, "STOP", check=True)
    monkeypatch.setattr(oci, "GATE_TIMEOUT", 1)
    with pytest.raises(ContainerError) as raised:
        oci.start(StateStore(), cid)
    assert str(raised.value) == (f"container {cid} did not pass its start gate in 1 s (is it "
                                 "stopped?) and cannot be started again: delete it")
    mc("delete", "--force", cid, check=True)


def test_a_custom_seccomp_profile_need_not_allow_what_the_gate_does(cid, bundle, tmp_path):
    path = bundle(["sh", "-c", "echo passed-the-gate; cat /etc/hostname || echo cat-blocked"])
    config = os.path.join(path, "config.json")
    with open(config) as f:
        doc = json.load(f)
    # The gate opens the fifo (openat): it must come before the filter.
    doc["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    with open(config, "w") as f:
        json.dump(doc, f)
    out = tmp_path / "out"
    create(cid, path, out=str(out))
    mc("start", cid, check=True)
    wait_for_status(cid, "stopped")
    text = out.read_text()
    # The filter holds for the command: its cat cannot open a file.
    assert text.startswith("passed-the-gate\n") and text.endswith("cat-blocked\n"), text


def test_state_reports_the_bundles_oci_version(cid, bundle):
    path = bundle(["sleep", "30"])
    config = os.path.join(path, "config.json")
    with open(config) as f:
        doc = json.load(f)
    doc["ociVersion"] = "1.0.2"
    with open(config, "w") as f:
        json.dump(doc, f)
    create(cid, path)
    assert oci_state(cid)["ociVersion"] == "1.0.2"


@pytest.mark.parametrize("signal_name", ["KILL", "SIGKILL", "9"])
def test_kill_ends_a_created_container(cid, bundle, signal_name):
    create(cid, bundle(["sleep", "30"]))
    mc("kill", cid, signal_name, check=True)
    wait_for_status(cid, "stopped")
    refused = mc("start", cid)
    assert refused.returncode == 125 and "it is stopped" in refused.stderr


@pytest.mark.parametrize("signal_name", ["TERM", "SIGTERM", "15"])
def test_kill_signals_a_running_container(cid, bundle, tmp_path, signal_name):
    out = tmp_path / "out"
    create(cid, bundle(["sh", "-c", "trap 'echo got-term; exit 4' TERM; echo ready; "
                                    "while :; do sleep 0.1; done"]), out=str(out))
    mc("start", cid, check=True)
    assert read_file_until(out, "ready")
    mc("kill", cid, signal_name, check=True)
    wait_for_status(cid, "stopped")
    assert read_file_until(out, "got-term")
    refused = mc("kill", cid, "KILL")
    assert refused.returncode == 125 and "it is stopped" in refused.stderr


def _process_states(cid: str) -> dict[int, str]:
    cgroup = json.loads(mc("inspect", cid, check=True).stdout)["cgroup"]
    with open(os.path.join(cgroup, "cgroup.procs")) as f:
        pids = [int(p) for p in f.read().split()]
    found = {}
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            found[pid] = f.read().rsplit(")", 1)[1].split()[0]
    return found


@pytest.mark.parametrize("every", [True, False])
def test_kill_all_reaches_every_process(cid, bundle, every):
    create(cid, bundle(["sh", "-c", "sleep 31 & sleep 32 & wait"]))
    mc("start", cid, check=True)
    if json.loads(mc("inspect", cid, check=True).stdout)["cgroup"] is None:
        pytest.skip("this host has no cgroup v2 hierarchy: --all walks the cgroup")
    deadline = time.monotonic() + 10
    while len(_process_states(cid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    init = oci_state(cid)["pid"]
    mc("kill", *(["--all"] if every else []), cid, "STOP", check=True)
    time.sleep(0.2)
    states = _process_states(cid)
    assert len(states) == 3 and states[init] == "T"
    others = {s for pid, s in states.items() if pid != init}
    assert others == ({"T"} if every else {"S"})
    mc("kill", "--all", cid, "KILL", check=True)
    wait_for_status(cid, "stopped")


def test_console_socket_receives_the_pty_and_the_output_arrives_there(cid, bundle, tmp_path):
    sock_path = str(tmp_path / "console.sock")
    with console_socket(sock_path) as receive:
        create(cid, bundle(["sh", "-c", "tty; echo hello-console"], terminal=True),
               "--console-socket", sock_path)
        fds = receive()
        assert len(fds) == 1
        master = fds[0]
        try:
            assert os.readlink(f"/proc/self/fd/{master}").endswith("/ptmx")  # a pty master
            mc("start", cid, check=True)
            out = read_until(master, b"hello-console").decode()
            assert "/dev/pts/0" in out and "hello-console" in out
        finally:
            os.close(master)


def test_a_terminal_without_console_socket_is_refused_by_create(cid, bundle):
    result = mc("create", "--bundle", bundle(["sh"], terminal=True), cid)
    assert result.returncode == 125 and "--console-socket" in result.stderr
    assert mc("state", cid).returncode == 125


def test_a_console_socket_nobody_listens_on_fails_create_and_leaves_nothing(cid, bundle,
                                                                           tmp_path):
    missing = str(tmp_path / "nobody.sock")
    result = mc("create", "--bundle", bundle(["sh"], terminal=True), "--console-socket",
                missing, cid, stdin=subprocess.DEVNULL)
    assert result.returncode == 125
    assert result.stderr == (f"minicontainer: error: console-socket: {missing!r} cannot be "
                             "reached (No such file or directory)\n")
    assert mc("state", cid).returncode == 125


@pytest.mark.parametrize("preserve", [True, False])
def test_preserved_fds_reach_the_command_and_only_those(cid, bundle, tmp_path, preserve):
    read_end, write_end = os.pipe()
    out = tmp_path / "out"
    options = ["--preserve-fds", "1"] if preserve else []
    # bash puts the pipe at fd 3 of the runtime, as an engine hands its fds on.
    command = [*MC, "create", "--bundle", bundle(["sh", "-c", "echo via-fd-3 >&3"]),
               *options, cid]
    with open(out, "wb") as sink:
        result = subprocess.run(["bash", "-c", f'exec "$@" 3>&{write_end}', "bash", *command],
                                pass_fds=[write_end], stdout=sink, stderr=sink, timeout=60)
    os.close(write_end)
    try:
        assert result.returncode == 0, out.read_text()
        mc("start", cid, check=True)
        wait_for_status(cid, "stopped")
        os.set_blocking(read_end, False)
        try:
            got = os.read(read_end, 100)
        except BlockingIOError:
            got = b""
    finally:
        os.close(read_end)
    if preserve:
        assert got == b"via-fd-3\n"
    else:
        assert got == b"" and "3: Bad file descriptor" in out.read_text()


def create_with_fd_3(cid: str, bundle: str, fd: int, *options: str, out) -> None:
    """`create` with ``fd`` at its fd 3, as an engine hands its fds on (through bash)."""
    command = [*MC, "create", "--bundle", bundle, *options, cid]
    with open(out, "wb") as sink:
        result = subprocess.run(["bash", "-c", f'exec "$@" 3>&{fd}', "bash", *command],
                                pass_fds=[fd], stdin=subprocess.DEVNULL, stdout=sink,
                                stderr=sink, timeout=60)
    assert result.returncode == 0, out.read_text()


def test_only_the_container_holds_a_preserved_fd_after_create(cid, bundle, tmp_path):
    import select

    read_end, write_end = os.pipe()
    try:
        create_with_fd_3(cid, bundle(["sh", "-c", "exec 3>&-; exec sleep 30"]),
                         write_end, "--preserve-fds", "1", out=tmp_path / "out")
        os.close(write_end)
        write_end = None
        mc("start", cid, check=True)
        poller = select.poll()
        poller.register(read_end, select.POLLIN)
        # The container closed its copy: nobody else (its monitor) may hold one.
        assert poller.poll(10_000), "fd 3 is still open outside the container"
        assert os.read(read_end, 10) == b""
    finally:
        os.close(read_end)
        if write_end is not None:
            os.close(write_end)


@pytest.mark.parametrize("preserve", [True, False])
def test_the_command_has_only_its_stdio_and_the_preserved_fds(cid, bundle, tmp_path, preserve):
    read_end, write_end = os.pipe()
    try:
        create_with_fd_3(cid, bundle(["sleep", "30"]), write_end,
                         *(["--preserve-fds", "1"] if preserve else []), out=tmp_path / "out")
    finally:
        os.close(write_end)
        os.close(read_end)
    mc("start", cid, check=True)
    pid = oci_state(cid)["pid"]
    assert comm(pid) == "sleep"
    expected = ["0", "1", "2", "3"] if preserve else ["0", "1", "2"]
    assert sorted(os.listdir(f"/proc/{pid}/fd")) == expected


def test_preserve_fds_that_are_not_open_is_refused_naming_them(cid, bundle):
    result = mc("run", "--bundle", bundle(["true"]), "--preserve-fds", "2", cid)
    assert result.returncode == 125
    assert result.stderr == ("minicontainer: error: preserve-fds: 2 names fd 3, which is not "
                             "open\n")
    assert mc("state", cid).returncode == 125


@pytest.mark.parametrize("preserve", [1, 0])
def test_the_python_api_passes_preserved_fds_too(preserve):
    import sys

    # A pipe made in Python is close-on-exec, as most of a program's fds are.
    script = ("import fcntl, os, sys\n"
              "from minicontainer import Config, Container\n"
              "first, write_end = os.pipe()\n"
              "read_end = fcntl.fcntl(first, fcntl.F_DUPFD_CLOEXEC, 10)\n"
              "os.close(first)\n"
              "os.dup2(write_end, 3, inheritable=False)\n"
              "os.close(write_end)\n"
              "config = Config(args=['sh', '-c', 'echo via-api >&3'], "
              f"preserve_fds={preserve})\n"
              "code = Container(config).run()\n"
              "os.close(3)\n"
              "sys.stdout.write(f'{code} {os.read(read_end, 100)!r}')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    if preserve:
        assert result.stdout == "0 b'via-api\\n'", result.stderr
    else:
        assert result.stdout.endswith(" b''") and not result.stdout.startswith("0 ")
        assert "3: Bad file descriptor" in result.stderr


def test_create_of_the_python_api_needs_a_console_socket_for_a_terminal():
    from minicontainer import Config, Container
    from minicontainer.config import ConfigError

    with pytest.raises(ConfigError, match="needs --console-socket"):
        Container(Config(args=["sh"], terminal=True)).create()


def test_spec_create_start_round_trip_gets_the_hardened_default(cid, bundle, tmp_path):
    out = tmp_path / "out"
    create(cid, bundle(["mc-probe", "--json"]), out=str(out))
    mc("start", cid, check=True)
    wait_for_status(cid, "stopped")
    seen = json.loads(out.read_text())
    assert seen["seccomp"] == "filter" and seen["no_new_privs"] is True
    assert seen["uid_map"] == [[0, idmap.default_mappings("uid")[0].host_id, 65536]]
    assert sorted(seen["capabilities"]["bounding"]) == sorted(
        ["chown", "dac_override", "fsetid", "fowner", "mknod", "net_raw", "setgid", "setuid",
         "setfcap", "setpcap", "net_bind_service", "sys_chroot", "kill", "audit_write"])
    assert seen["syscalls"]["keyctl"]["result"] == "EPERM"


@pytest.mark.parametrize("no_pivot", [True, False])
def test_no_pivot_chroots_and_keeps_the_hosts_tree_in_the_namespace(cid, bundle, no_pivot):
    create(cid, bundle(["sleep", "30"]), *(["--no-pivot"] if no_pivot else []))
    mc("start", cid, check=True)
    # Seen from the mount namespace's own root (setns moves nsenter there); in its pid
    # namespace too, for /proc/self in the container's own /proc.
    pid = oci_state(cid)["pid"]
    mountinfo = subprocess.run(
        ["nsenter", f"--mount=/proc/{pid}/ns/mnt", f"--pid=/proc/{pid}/ns/pid", "cat",
         "/proc/self/mountinfo"], capture_output=True, text=True, check=True, timeout=30).stdout
    targets = {line.split()[4] for line in mountinfo.splitlines()}
    merged = f"/var/lib/minicontainer/containers/{cid}/merged"
    # pivot_root makes the rootfs "/" and detaches the host's tree; a chroot leaves both.
    assert (merged in targets) == no_pivot


def test_run_bundle_runs_in_the_foreground_and_leaves_nothing(cid, bundle):
    result = mc("run", "--bundle", bundle(["sh", "-c", "echo from-bundle; exit 5"]), cid)
    assert (result.returncode, result.stdout) == (5, "from-bundle\n")
    assert mc("state", cid).returncode == 125


def test_run_bundle_relays_a_terminal_in_the_foreground(cid, bundle):
    import pty

    path = bundle(["sh", "-c", "tty; echo done"], terminal=True)
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(MC[0], [*MC, "run", "--bundle", path, cid])
    try:
        out = read_until(fd, b"done").decode()
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert "/dev/pts/0" in out


def test_run_bundle_detached_is_create_and_start(cid, bundle):
    # The container keeps run's stdio: nothing that waits for an end of file.
    result = mc("run", "-d", "--bundle", bundle(["sleep", "30"]), cid,
                capture_output=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert result.returncode == 0
    assert oci_state(cid)["status"] == "running"
    assert cmdline(oci_state(cid)["pid"]) == ["sleep", "30"]
