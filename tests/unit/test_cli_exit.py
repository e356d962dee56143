"""The command's own end (cli._end_process) and the opt-in timing report: run as a
separate process, because both are about how that process exits."""

from __future__ import annotations

import os
import subprocess
import sys

COMMAND = """\
import atexit, sys
atexit.register(lambda: print("atexit ran", file=sys.stderr))
from minicontainer.cli import main
sys.argv = ["minicontainer", *sys.argv[1:]]
main()
print("main returned", file=sys.stderr)
"""


def _command(tmp_path, *argv: str, timing: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MINICONTAINER_TIMING"}
    if timing:
        env["MINICONTAINER_TIMING"] = "1"
    return subprocess.run([sys.executable, "-c", COMMAND, "--root", str(tmp_path), *argv],
                          capture_output=True, text=True, env=env)


def test_the_command_ends_after_its_atexit_handlers_with_its_output_flushed(tmp_path):
    done = _command(tmp_path, "ps")
    assert done.returncode == 0
    assert done.stdout.startswith("ID ")  # printed, flushed before the exit
    assert "atexit ran" in done.stderr
    assert "main returned" not in done.stderr  # it ended the process itself


def test_an_error_keeps_its_exit_status(tmp_path):
    done = _command(tmp_path, "kill", "no-such-container")
    assert done.returncode == 125
    assert "does not exist" in done.stderr
    assert "atexit ran" in done.stderr


def test_main_with_argv_returns_instead(tmp_path):
    from minicontainer import cli

    assert cli.main(["--root", str(tmp_path), "ps"]) == 0


def test_timing_reports_the_command_only_when_asked(tmp_path):
    assert "timing:" not in _command(tmp_path, "ps").stderr
    report = _command(tmp_path, "ps", timing=True).stderr
    assert "timing: main" in report
    assert "parse: build the parser" in report


def test_every_timed_phase_exists():
    from minicontainer import timing

    for module_name, path, _ in timing.PHASES:
        owner = __import__(module_name, fromlist=["_"])
        for name in path.split("."):
            owner = getattr(owner, name)
        assert callable(owner), (module_name, path)
