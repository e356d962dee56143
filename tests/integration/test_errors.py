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
