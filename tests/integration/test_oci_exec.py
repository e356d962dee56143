"""runc's exec, ps, list, pause/resume and --version, driven as conmon and podman drive
them: `exec --process FILE` (with --detach, --pid-file, --console-socket), `ps ID`,
`list`, and the wording of a missing container."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from helpers import MC, container_id, mc, oci_state, read_until
from minicontainer.rootfs import default_rootfs
from minicontainer.state import OCI_VERSION

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture
def cid(request):
    """A container id for this test, deleted (forcibly) afterwards."""
    value = container_id(request, "ociexec")
    yield value
    mc("delete", "--force", value)


@pytest.fixture
def bundle(tmp_path):
    """A bundle made by `spec` on the busybox rootfs, running ``sleep 60`` with
    FOO=container in its environment."""
    bundle_dir = tmp_path / "bundle"
    bundle_dir.mkdir()
    mc("spec", "--bundle", str(bundle_dir), "--rootfs", default_rootfs(), check=True)
    path = bundle_dir / "config.json"
    doc = json.loads(path.read_text())
    doc["process"]["args"] = ["sleep", "60"]
    doc["process"]["env"].append("FOO=container")
    path.write_text(json.dumps(doc))
    return str(bundle_dir)


def create(cid: str, bundle: str) -> None:
    """`create`, which must succeed.  The container keeps its stderr: a file, since a
    pipe would stay open for as long as it runs."""
    import tempfile

    with tempfile.TemporaryFile() as errors:
        result = subprocess.run([*MC, "create", "--bundle", bundle, cid],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=errors, timeout=60)
        errors.seek(0)
        assert result.returncode == 0, errors.read().decode()


@pytest.fixture
def running(cid, bundle):
    """The id of a started container running ``sleep 60``."""
    create(cid, bundle)
    mc("start", cid, check=True)
    return cid




def process_file(tmp_path, args: list[str], **fields) -> str:
    doc = {"args": args, "env": [PATH], "cwd": "/", "user": {"uid": 0, "gid": 0}, **fields}
    path = tmp_path / f"process-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(doc))
    return str(path)


def cgroup_pids(cid: str) -> list[int]:
    return json.loads(mc("ps", "--format", "json", cid, check=True).stdout)


def test_exec_process_replaces_env_user_and_cwd_and_returns_the_exit_code(running, tmp_path):
    script = 'echo "foo=$FOO bar=$BAR"; id -u; id -g; pwd; exit 7'
    path = process_file(tmp_path, ["sh", "-c", script], env=[PATH, "BAR=exec"], cwd="/tmp",
                        user={"uid": 1000, "gid": 1001})
    result = mc("exec", "--process", path, running)
    assert result.returncode == 7, result.stderr
    assert result.stdout.splitlines() == ["foo= bar=exec", "1000", "1001", "/tmp"]


def test_exec_with_flags_keeps_the_container_environment(running):
    # The twin of the above: without --process the container's env is the base.
    result = mc("exec", "-e", "BAR=flag", running, "sh", "-c", 'echo "foo=$FOO bar=$BAR"')
    assert result.returncode == 0, result.stderr
    assert result.stdout == "foo=container bar=flag\n"


def test_exec_pid_file_holds_the_host_pid_of_the_command_in_the_cgroup(running, tmp_path):
    pid_file = tmp_path / "exec.pid"
    path = process_file(tmp_path, ["sleep", "3"])
    command = subprocess.Popen([*MC, "exec", "--process", path, "--pid-file", str(pid_file),
                                running], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists():
            assert time.monotonic() < deadline and command.poll() is None, command.stderr
            time.sleep(0.05)
        pid = int(pid_file.read_text())
        assert pid in cgroup_pids(running)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert f.read() == b"sleep\x003\x00"
    finally:
        assert command.wait(20) == 0


# What conmon is to runc: a child subreaper that starts `exec --detach --pid-file`,
# then reaps the command it names to learn its exit code.
_SUBREAPER = textwrap.dedent("""
    import json, os, subprocess, sys, time
    from minicontainer import native
    native.set_child_subreaper()
    mc, cid, process, pid_file = json.loads(sys.argv[1])
    began = time.monotonic()
    # Files, not pipes: the command inherits them and keeps them open while it runs.
    with open(pid_file + ".err", "w+") as errors:
        returncode = subprocess.run([*mc, "exec", "--detach", "--process", process,
                                     "--pid-file", pid_file, cid], stdout=subprocess.DEVNULL,
                                    stderr=errors).returncode
        took = time.monotonic() - began
        errors.seek(0)
        stderr = errors.read()
    pid = int(open(pid_file).read())
    listed = json.loads(subprocess.run([*mc, "ps", "--format", "json", cid],
                                       capture_output=True, text=True).stdout)
    alive = open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] != "Z"
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"rc": returncode, "stderr": stderr, "took": took,
                      "pid": pid, "listed": listed, "alive": alive,
                      "code": os.waitstatus_to_exitcode(status)}))
""")


def test_exec_detach_returns_at_once_and_the_subreaper_reaps_the_command(running, tmp_path):
    path = process_file(tmp_path, ["sh", "-c", "sleep 3; exit 5"])
    pid_file = str(tmp_path / "detached.pid")
    result = subprocess.run([sys.executable, "-c", _SUBREAPER,
                             json.dumps([MC, running, path, pid_file])],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["rc"] == 0, seen["stderr"]
    assert seen["took"] < 3 and seen["alive"]  # back before the command ended
    assert seen["pid"] in seen["listed"]
    assert seen["code"] == 5  # reaped by the subreaper, not by a helper of ours


def test_exec_detach_with_a_terminal_sends_the_pty_to_the_console_socket(running, tmp_path):
    sock_path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(1)
    path = process_file(tmp_path, ["sh", "-c", "stty size; echo exec-console"],
                        terminal=True, consoleSize={"height": 24, "width": 100})
    pid_file = tmp_path / "console.pid"
    master = None
    try:
        result = mc("exec", "--detach", "--tty", "--console-socket", sock_path, "--pid-file",
                    str(pid_file), "--process", path, running)
        assert result.returncode == 0, result.stderr
        connection, _ = listener.accept()
        with connection:
            _, fds, _, _ = socket.recv_fds(connection, 64, 1)
        master = fds[0]
        out = read_until(master, b"exec-console").decode()
        assert "24 100" in out and "exec-console" in out
        # No subreaper here: the host's init reaps the orphan, in its own time; the
        # container's init cannot end before it has.
        pid, deadline = int(pid_file.read_text()), time.monotonic() + 20
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.close()
        if master is not None:
            os.close(master)


@pytest.mark.parametrize("preserved", [True, False])
def test_exec_preserve_fds_passes_fd_3_and_only_then(running, tmp_path, preserved):
    marker = tmp_path / "marker"
    marker.write_text("kept-fd\n")
    path = process_file(tmp_path, ["sh", "-c", "cat <&3"])
    options = ["--preserve-fds", "1"] if preserved else []
    result = subprocess.run(["sh", "-c", 'exec 3< "$0"; exec "$@"', str(marker), *MC, "exec",
                             *options, "--process", path, running],
                            capture_output=True, text=True, timeout=60)
    if preserved:
        assert (result.returncode, result.stdout) == (0, "kept-fd\n"), result.stderr
    else:
        assert result.returncode != 0 and result.stdout == ""


def test_exec_in_the_foreground_with_a_console_socket_returns_the_exit_code(running,
                                                                           tmp_path):
    sock_path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(1)
    listener.settimeout(20)
    path = process_file(tmp_path, ["sh", "-c", "echo fg-console; exit 3"], terminal=True)
    command = subprocess.Popen([*MC, "exec", "--console-socket", sock_path, "--process", path,
                                running], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    master = None
    try:
        connection, _ = listener.accept()
        with connection:
            _, fds, _, _ = socket.recv_fds(connection, 64, 1)
        master = fds[0]
        assert b"fg-console" in read_until(master, b"fg-console")
        stdout, stderr = command.communicate(timeout=20)
        assert command.returncode == 3, stderr
        assert stdout == b""  # nothing relayed here: the socket's holder has the terminal
    finally:
        listener.close()
        if master is not None:
            os.close(master)
        if command.poll() is None:
            command.kill()
            command.wait()


# A subreaper that runs one minicontainer command, then reaps whatever it left orphaned.
_REAPING = textwrap.dedent("""
    import json, os, subprocess, sys
    from minicontainer import native
    native.set_child_subreaper()
    result = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break
    print(json.dumps([result.returncode, result.stderr]))
""")


@pytest.mark.parametrize("detach", [True, False])
def test_a_command_that_is_not_there_is_exit_127_detached_or_not(running, tmp_path, detach):
    pid_file = tmp_path / "never.pid"
    command = [*MC, "exec", *(["--detach"] if detach else []), "--pid-file", str(pid_file),
               "--process", process_file(tmp_path, ["no-such-command"]), running]
    # Detached, the failed command is an orphan: the subreaper reaps it, as conmon would.
    run = subprocess.run([sys.executable, "-c", _REAPING, *command], capture_output=True,
                         text=True, timeout=60)
    returncode, stderr = json.loads(run.stdout)
    assert returncode == 127
    assert len(stderr.splitlines()) == 1 and "no-such-command" in stderr
    assert not pid_file.exists()


def test_exec_detach_with_a_terminal_needs_a_console_socket(running, tmp_path):
    path = process_file(tmp_path, ["true"], terminal=True)
    result = mc("exec", "--detach", "--process", path, running)
    assert result.returncode == 125 and "--console-socket" in result.stderr


@pytest.mark.parametrize(("field", "value"), [("selinuxLabel", "system_u:system_r:x"),
                                              ("ioPriority", {"class": "IOPRIO_CLASS_RT"}),
                                              ("noSuchField", 1)])
def test_a_process_field_minicontainer_cannot_honour_is_refused_by_name(running, tmp_path,
                                                                         field, value):
    result = mc("exec", "--process", process_file(tmp_path, ["true"], **{field: value}),
                running)
    assert result.returncode == 125
    assert result.stderr.startswith(f"minicontainer: error: process.{field}: ")
    assert len(result.stderr.splitlines()) == 1


def test_capabilities_the_model_cannot_hold_are_refused(running, tmp_path):
    caps = {"bounding": ["CAP_CHOWN", "CAP_KILL"], "permitted": ["CAP_CHOWN"],
            "effective": ["CAP_CHOWN"]}
    result = mc("exec", "--process", process_file(tmp_path, ["true"], capabilities=caps),
                running)
    assert result.returncode == 125 and "process.capabilities.permitted" in result.stderr
    caps["permitted"] = caps["effective"] = caps["bounding"]
    script = "grep CapEff /proc/self/status"
    result = mc("exec", "--process",
                process_file(tmp_path, ["sh", "-c", script], capabilities=caps), running)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["CapEff:", f"{(1 << 0) | (1 << 5):016x}"]


def test_umask_rlimits_groups_and_oom_score_of_the_process_file(running, tmp_path):
    script = "umask; ulimit -n; id -G; cat /proc/self/oom_score_adj"
    user = {"uid": 0, "gid": 0, "umask": 0o27, "additionalGids": [10, 20]}
    path = process_file(tmp_path, ["sh", "-c", script], user=user, oomScoreAdj=123,
                        rlimits=[{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 321}])
    result = mc("exec", "--process", path, running)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0027", "321", "0", "10", "20", "123"]


def test_exec_process_refuses_a_command_or_flags_beside_it(running, tmp_path):
    path = process_file(tmp_path, ["true"])
    result = mc("exec", "--process", path, running, "sh")
    assert result.returncode == 125 and "command: 'sh' cannot go with --process" in result.stderr
    result = mc("exec", "--process", path, "-e", "A=b", running)
    assert result.returncode == 125 and "env: 'A=b' cannot go with --process" in result.stderr


def test_exec_in_a_created_container_is_refused_as_by_runc(cid, bundle, tmp_path):
    create(cid, bundle)
    result = mc("exec", "--process", process_file(tmp_path, ["true"]), cid)
    assert result.returncode == 125 and "it is created" in result.stderr
    mc("start", cid, check=True)
    assert mc("exec", "--process", process_file(tmp_path, ["true"]), cid).returncode == 0


@pytest.mark.parametrize("command", [["exec", "{id}", "true"], ["state", "{id}"],
                                     ["kill", "{id}"], ["delete", "{id}"], ["start", "{id}"],
                                     ["pause", "{id}"], ["resume", "{id}"], ["ps", "{id}"]])
def test_a_missing_container_does_not_exist_in_runc_words(command):
    missing = f"ociexec-missing-{os.getpid()}"
    result = mc(*(arg.format(id=missing) for arg in command))
    assert result.returncode == 125
    assert result.stderr == f'minicontainer: error: container "{missing}" does not exist\n'


def test_ps_of_a_container_lists_the_processes_of_its_cgroup(running):
    pid = oci_state(running)["pid"]
    listed = cgroup_pids(running)
    cgroup = json.loads(mc("inspect", running, check=True).stdout)["cgroup"]
    with open(os.path.join(cgroup, "cgroup.procs")) as f:
        assert sorted(int(p) for p in f.read().split()) == listed
    assert pid in listed
    table = mc("ps", running, check=True).stdout.splitlines()
    assert table[0].split()[:2] == ["UID", "PID"]
    assert [int(line.split()[1]) for line in table[1:]] == listed
    custom = mc("ps", running, "-e", "-o", "pid,comm", check=True).stdout.splitlines()
    assert custom[1:] and all(line.split()[1] == "sleep" for line in custom[1:])


def test_list_is_runc_s_table_json_and_quiet(running, bundle):
    listed = {c["id"]: c for c in json.loads(mc("list", "--format", "json", check=True).stdout)}
    mine = listed[running]
    assert (mine["status"], mine["pid"], mine["bundle"]) == ("running", oci_state(running)["pid"],
                                                             bundle)
    assert mine["owner"] == "root" and mine["ociVersion"] and mine["created"]
    assert running in mc("list", "-q", check=True).stdout.split()
    table = mc("list", check=True).stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    row = next(line.split() for line in table if line.startswith(running + " "))
    assert row[:4] == [running, str(mine["pid"]), "running", bundle] and row[-1] == "root"


def test_pause_and_resume_as_runc_and_unpause_as_docker(running, tmp_path):
    assert mc("pause", running, check=True).stdout == ""
    assert oci_state(running)["status"] == "paused"
    refused = mc("exec", "--process", process_file(tmp_path, ["true"]), running)
    assert refused.returncode == 125 and "it is paused" in refused.stderr
    assert mc("resume", running, check=True).stdout == ""
    assert oci_state(running)["status"] == "running"
    mc("pause", running, check=True)
    mc("unpause", running, check=True)
    assert oci_state(running)["status"] == "running"


@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_version_prints_two_lines_as_runc(flag):
    result = mc(flag, check=True)
    first, second = result.stdout.splitlines()
    assert re.fullmatch(r"minicontainer version \S+", first)
    assert second == f"spec: {OCI_VERSION}"
