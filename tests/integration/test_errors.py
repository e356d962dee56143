"""Bad input: one line, exit 125, nothing left behind (the autouse fixture checks)."""

from __future__ import annotations

import os
import subprocess

import pytest

from helpers import MC, mc


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--rootfs", "/nonexistent"], "rootfs"),
        (["--rootfs", "/etc/passwd"], "rootfs"),
        (["--share", "pid,bogus"], "bogus"),
        (["--share", "mnt"], "mnt"),
        (["--hostname", "a" * 65], "hostname"),
        (["--hostname", "bad_name!"], "hostname"),
        (["-e", "NOEQUALS"], "env"),
        (["-e", "1BAD=x"], "env"),
        (["-u", "root"], "user"),
        (["-u", "70000"], "uid"),
        (["-u", "0:70000"], "gid"),
        (["-u", "-1"], "user"),
        (["-w", "relative"], "cwd"),
        (["-v", "/nonexistent:/x"], "volume"),
        (["-v", "onlyonepart"], "volume"),
        (["--share", "uts", "--hostname", "x"], "hostname"),
    ],
)
def test_bad_input_is_one_line_and_exit_125(flags, field):
    result = mc("run", *flags, "--", "true")
    assert result.returncode == 125, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("minicontainer: error: ")
    assert field in lines[0]
    assert result.stdout == ""


def test_missing_command_is_an_error():
    result = mc("run")
    assert result.returncode == 125
    assert result.stderr.startswith("minicontainer: error: command")


def test_rootfs_without_the_command_is_127(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    result = mc("run", "--userns", "host", "--rootfs", str(root), "--", "/bin/sh")
    assert result.returncode == 127
    assert result.stderr == "minicontainer: error: /bin/sh: command not found in the container\n"


def test_not_root_is_refused():
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([*MC, "run", "--", "true"], user=65534, capture_output=True,
                            text=True, timeout=30, env=env)
    assert result.returncode == 125
    assert result.stderr == "minicontainer: error: minicontainer must run as root (try sudo)\n"


def test_a_failing_layer_aborts_the_start_with_the_call_named(tmp_path):
    # A rootfs with a file where /proc should be: mounting procfs on it fails.
    root = tmp_path / "root"
    root.mkdir()
    (root / "proc").write_text("not a directory")
    result = mc("run", "--userns", "host", "--no-overlay", "--rootfs", str(root), "--", "true")
    assert result.returncode == 125
    assert result.stderr.startswith("minicontainer: error: container init: mount ")
    assert "/proc" in result.stderr


def test_rootfs_out_of_reach_of_the_container_root_is_named(tmp_path):
    # pytest's tmp_path lives below a 0700 directory of host root.
    root = tmp_path / "rootfs"
    root.mkdir()
    result = mc("run", "--rootfs", str(root), "--", "true")
    assert result.returncode == 125
    assert result.stderr.startswith("minicontainer: error: rootfs: ")
    assert "out of reach" in result.stderr


def _one_error_line(result: subprocess.CompletedProcess, *named: str) -> str:
    assert result.returncode == 125, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("minicontainer: error: "), result.stderr
    for text in named:
        assert text in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


@pytest.mark.parametrize(
    ("flags", "field", "value"),
    [
        (["-u", "1_000"], "user", "'1_000'"),
        (["-u", " 7 "], "user", "' 7 '"),
        (["-u", "\u0663"], "user", "'\u0663'"),
        (["-u", "7:"], "user", "'7:'"),
        (["-v", "/tmp:/"], "volume", "'/tmp:/'"),
        (["-v", "/tmp:/."], "volume", "'/tmp:/.'"),
        (["--memory", "1_0m"], "memory", "'1_0m'"),
        (["--memory", " 64m"], "memory", "' 64m'"),
        (["--memory", "100000t"], "memory", "this machine's memory"),
        (["--memory-high", "\u0661m"], "memory-high", "'\u0661m'"),
        (["--cpus", "nan"], "cpus", "'nan'"),
        (["--cpus", "inf"], "cpus", "'inf'"),
        (["--cpus", "1_0"], "cpus", "'1_0'"),
        (["--cpu-weight", "\u0661\u0660"], "cpu-weight", "'\u0661\u0660'"),
        (["--pids-limit", " 5"], "pids-limit", "' 5'"),
        (["--pids-limit", "99999999999"], "pids-limit", "'99999999999'"),
        (["--cpuset-cpus", "\u0660"], "cpuset-cpus", "'\u0660'"),
        (["--cpuset-cpus", "1-0"], "cpuset-cpus", "'1-0'"),
        (["--io-read-bps", "/dev/null:1m"], "io-read-bps", "'/dev/null'"),
        (["--io-write-bps", "\u0668:0:1m"], "io-write-bps", "'\u0668:0'"),
        (["-d", "--log-opt", "max-size=1_0k"], "log-opt max-size", "'1_0k'"),
        (["-d", "--log-opt", "max-files=2"], "log-opt", "'max-files=2'"),
        (["--log-opt", "max-size=1k"], "log-opt", "goes with -d"),
    ],
)
def test_numbers_and_paths_are_parsed_strictly(flags, field, value):
    line = _one_error_line(mc("run", *flags, "--", "true"), value)
    assert line.startswith(f"minicontainer: error: {field}: ")


def test_a_cpuset_the_host_lacks_is_refused_before_anything_exists():
    from minicontainer.cgroups import container_path
    from minicontainer.state import Scratch, StateStore

    name = f"cpuset-{os.getpid()}"
    cpu = max(os.sched_getaffinity(0)) + 1
    line = _one_error_line(mc("run", "--name", name, "--cpuset-cpus", str(cpu), "--", "true"),
                           f"'{cpu}'", "lacks")
    assert line.startswith("minicontainer: error: cpuset-cpus: ")
    for path in (StateStore().dir(name), Scratch(name).dir, container_path(name)):
        assert not os.path.lexists(path)


@pytest.mark.parametrize(("root", "why"), [("", "is not an absolute path"),
                                           ("/dev/null", "/dev/null is not one"),
                                           ("relative/dir", "is not an absolute path")])
@pytest.mark.parametrize("command", [["run", "--", "true"], ["ps"], ["rm", "-f", "--all"]])
def test_a_bad_state_root_is_refused(root, why, command):
    line = _one_error_line(mc("--root", root, *command), why)
    assert line.startswith(f"minicontainer: error: root: {root!r} ")


def test_a_rootfs_the_container_root_cannot_enter_says_so():
    # /root is 0700: the container's root, a nobody on the host, cannot look inside.
    line = _one_error_line(mc("run", "--rootfs", "/root", "--", "true"), "'/root'",
                           "out of reach", "/root does not let it pass")
    assert line.startswith("minicontainer: error: rootfs: ")


@pytest.mark.parametrize("timeout", ["nan", "inf", "-1", "1e9", " 1", "\u0661"])
def test_stop_timeouts_that_would_hang_are_refused(timeout):
    result = mc("stop", "-t", timeout, "no-such-container", timeout=10)
    line = _one_error_line(result, repr(timeout))
    assert line.startswith("minicontainer: error: time: ")


@pytest.mark.parametrize("signal_text", ["\u0669", "9 ", "1_5"])
def test_signal_numbers_are_strict(signal_text):
    line = _one_error_line(mc("kill", "no-such-container", signal_text), repr(signal_text))
    assert line.startswith("minicontainer: error: signal: ")


def test_an_argument_that_is_not_utf8_reaches_the_command_unchanged():
    # Linux arguments are bytes: one that is not UTF-8 is passed through as it is.
    result = subprocess.run([*MC, "run", "--", "sh", "-c", 'printf %s "$0" | od -An -tx1',
                             b"\xff"], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [b"ff"]


def test_a_command_named_by_non_utf8_bytes_that_is_missing_is_named():
    result = subprocess.run([*MC, "run", "--", b"\xff"], capture_output=True, timeout=60)
    assert result.returncode == 127
    assert result.stderr == b"minicontainer: error: \\xff: command not found in the container\n"


@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize(("flags", "code", "text"), [
    # the working directory is made after every mount and the pivot: procfs refuses it
    (["-w", "/proc/no/such/dir"], 125, "container init: /proc/no (No such file"),
    # execve is the very last step
    (["--"], 127, "no-such-command: command not found in the container"),
])
def test_a_late_init_failure_leaves_nothing(detach, flags, code, text):
    from minicontainer.state import Scratch, StateStore

    name = f"late-{os.getpid()}-{int(detach)}"
    result = mc("run", *(["-d"] if detach else []), "--name", name, *flags,
                *([] if flags == ["--"] else ["--"]), "no-such-command")
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and text in lines[0]
    assert not os.path.lexists(StateStore().dir(name)) and not os.path.lexists(Scratch(name).dir)
    assert mc("run", "--name", name, "--", "true").returncode == 0  # the name is free again
