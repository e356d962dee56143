"""`minicontainer escape`: options after NAME, and a catalogue table that fits."""

from __future__ import annotations

import argparse
import os
import subprocess

import pytest

from helpers import MC
from minicontainer.config import ConfigError
from minicontainer.escapes import command


def _args(*flags: str) -> argparse.Namespace:
    return argparse.Namespace(flags=list(flags), weakened=False, json=False,
                              allow_host_changes=False, narrate=False, pace=None)


def test_narrate_and_pace_after_the_name_are_options():
    args = _args("--narrate", "--pace", "2", "--weakened")
    assert command._split_options(args) == []
    assert (args.narrate, args.pace, args.weakened) == (True, "2", True)


def test_pace_with_equals_and_run_flags_after_it():
    args = _args("--narrate", "--pace=0.5", "--", "--userns", "host")
    assert command._split_options(args) == ["--userns", "host"]
    assert args.pace == "0.5"


def test_pace_without_a_value_is_an_error():
    with pytest.raises(ConfigError, match="--pace"):
        command._split_options(_args("--narrate", "--pace"))


def test_run_flags_are_not_taken_for_options():
    args = _args("--", "--narrate")
    assert command._split_options(args) == ["--narrate"]
    assert not args.narrate


def test_fit_shrinks_the_widest_columns_but_not_the_names():
    assert command._fit([20, 60, 40], 80) == [20, 28, 28]
    assert command._fit([10, 5], 80) == [10, 5]


def test_wrapped_row_keeps_its_columns():
    lines = command._wrap_row(("name", "a long cell that wraps", "x"), [6, 10, 1])
    assert lines[0].startswith("name    a long")
    assert all(len(line) <= 6 + 2 + 10 + 2 + 1 for line in lines)
    assert len(lines) == 3


def test_escape_list_fits_the_terminal_width():
    env = {**os.environ, "COLUMNS": "100"}
    result = subprocess.run([*MC, "escape", "list"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("NAME")
    assert max(len(line) for line in lines) <= 100
    assert "host-root-mount" in result.stdout


def test_the_runner_refuses_a_host_changing_escape_weakened_unless_allowed():
    from minicontainer.escapes import runner
    from minicontainer.escapes.host_root_mount import HostRootMount

    class KernelWide(HostRootMount):
        host_changes = True

        def plant(self, attempt):
            raise AssertionError("planted: the attempt was not refused")

    escape = KernelWide()
    outcome = runner.run_one(escape, runner.config_for(escape, escape.weakening))
    assert outcome.verdict == "ERROR"
    assert "--allow-host-changes" in outcome.evidence
    allowed = runner.run_one(escape, runner.config_for(escape, escape.weakening),
                             allow_host_changes=True)
    assert "planted" in allowed.evidence


@pytest.mark.parametrize("argv", [["--weakened"], ["--", "--userns", "host"]])
def test_escape_run_refuses_a_host_changing_escape_weakened_unless_allowed(argv, capsys):
    from minicontainer import cli

    assert cli.main(["escape", "run", "core-pattern", *argv]) == 125
    assert "--allow-host-changes" in capsys.readouterr().err
