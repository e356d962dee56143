"""The layer matrix and instructor mode, from real container runs.

Only host-safe escapes here (host-root-mount and variations of it): the cells
must change when a layer changes, which proves they come from runs.
"""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import mc
from minicontainer import escapes
from minicontainer.escapes import layers, matrix
from minicontainer.escapes.base import BLOCKED, ESCAPED
from minicontainer.escapes.host_root_mount import HostRootMount


def _row(escape) -> matrix.Row:
    measured = matrix.build([escape], parallel=2)
    assert measured.runs > 0
    return measured.rows[0]


def test_host_root_mount_row_is_measured():
    row = _row(escapes.find("host-root-mount"))
    assert row.default.verdict == BLOCKED, row.default
    assert row.weakened.verdict == ESCAPED, row.weakened
    assert row.cells["user ns"] == matrix.BLOCKS
    assert row.cells["seccomp"] == matrix.ALREADY_ON
    assert row.load_bearing == ["user ns"]
    assert row.removed["capabilities"] == "blocked"


def test_a_layer_whose_restore_does_nothing_no_longer_blocks(monkeypatch):
    real = layers.all_layers

    def without_user_ns_restore():
        found = real()
        for layer in found:
            if layer.name == "user ns":
                layer.restore = lambda cfg: None
        return found

    monkeypatch.setattr(layers, "all_layers", without_user_ns_restore)
    row = _row(escapes.find("host-root-mount"))
    assert row.cells["user ns"] == matrix.PASSES


class _UserNsKept(HostRootMount):
    """host-root-mount, weakened by a flag that leaves the user namespace on."""

    weakening = ["--cap-add", "SYS_PTRACE"]


def test_a_weakening_that_keeps_the_stopping_layer_does_not_escape():
    row = _row(_UserNsKept())
    assert row.weakened.verdict == BLOCKED
    assert row.note.startswith("the weakening does not escape here"), row.note
    assert row.cells == {}


class _OpenByDefault(HostRootMount):
    """host-root-mount whose scenario already shares the host's users: the
    default lets it through, and only the user ns (put back) stops it."""

    scenario = ["-v", "/:/host", "--userns", "host"]
    weakening: list[str] = []


def test_an_escape_the_default_lets_through_is_shown_with_its_fix():
    row = _row(_OpenByDefault())
    assert row.default.verdict == ESCAPED
    assert row.weakened is None  # the weakened run would be the default again
    assert row.cells["user ns"] == matrix.BLOCKS
    assert row.summary() == "default escapes"
    assert "user ns, off by default, stops it" in row.note


class _HostChanging(HostRootMount):
    """host-root-mount, labelled as changing kernel-wide state (it does not: safe here)."""

    host_changes = True


def test_host_changing_escapes_run_weakened_only_when_allowed():
    refused = _row(_HostChanging())
    assert refused.default.verdict == BLOCKED
    assert refused.weakened is None and refused.cells == {}
    assert refused.note == matrix.NEEDS_HOST_CHANGES
    allowed = matrix.build([_HostChanging()], allow_host_changes=True).rows[0]
    assert allowed.weakened.verdict == ESCAPED
    assert allowed.cells["user ns"] == matrix.BLOCKS


class _Missing(HostRootMount):
    """host-root-mount on a machine said to lack something."""

    def missing(self) -> str | None:
        return "no such precondition here"


def test_a_missing_precondition_is_a_skip_without_runs():
    measured = matrix.build([_Missing()])
    assert measured.runs == 0
    assert measured.rows[0].note == "SKIP: no such precondition here"


def test_json_is_parseable_and_has_every_layer():
    result = mc("escape", "matrix", "--only", "host-root-mount", "--format", "json", check=True)
    data = json.loads(result.stdout)
    names = [layer.name for layer in layers.all_layers()]
    assert data["layers"] == names
    (row,) = data["rows"]
    assert sorted(row["cells"]) == sorted(names)
    assert row["cells"]["user ns"] == "blocks"
    assert row["default"]["verdict"] == "BLOCKED"
    assert row["weakened"]["verdict"] == "ESCAPED"
    assert data["runs"] >= 3


def test_text_md_and_html_show_the_row():
    for fmt, heading in (("text", "ESCAPE"), ("md", "| escape |"), ("html", "<table>")):
        result = mc("escape", "matrix", "--only", "host-root-mount", "--format", fmt,
                    check=True)
        assert heading in result.stdout, fmt
        assert "host-root-mount" in result.stdout, fmt
        assert "blocks" in result.stdout, fmt
        assert "container runs in" in result.stdout, fmt


def test_matrix_names_an_unknown_escape():
    result = mc("escape", "matrix", "--only", "no-such-escape")
    assert result.returncode == 125
    assert "no-such-escape" in result.stderr


STEP_HEADINGS = ["The escape", "Setup on the host", "The attack", "What the kernel answered",
                 "The proof", "The verdict", "Which layer stopped it"]


def test_narrate_piped_is_plain_text_with_every_step():
    result = mc("escape", "run", "host-root-mount", "--narrate", "--pace", "0",
                stdin=subprocess.DEVNULL, check=True)
    for number, heading in enumerate(STEP_HEADINGS, 1):
        assert f"== Step {number}/7: {heading} ==" in result.stdout
    assert "against the hardened default: BLOCKED" in result.stdout
    assert "put back user ns alone: blocks it" in result.stdout
    assert "stopped by: user ns" in result.stdout
    assert "\x1b[" not in result.stdout  # no colour when piped


def test_narrate_weakened_escapes_and_credits_the_layer():
    result = mc("escape", "run", "host-root-mount", "--weakened", "--narrate", "--pace=0",
                stdin=subprocess.DEVNULL, check=True)
    assert "against --userns host: ESCAPED" in result.stdout
    assert "the attack reached it: proven" in result.stdout
    assert "stopped by: user ns" in result.stdout


def test_pace_needs_narrate_and_a_number():
    alone = mc("escape", "run", "host-root-mount", "--pace", "1")
    assert alone.returncode == 125
    assert "--pace" in alone.stderr and "--narrate" in alone.stderr
    bad = mc("escape", "run", "host-root-mount", "--narrate", "--pace", "soon")
    assert bad.returncode == 125
    assert "'soon'" in bad.stderr


def test_run_imports_no_rich():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "minicontainer",
                             "run", "--", "true"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")]
    assert "minicontainer" in imported
    assert not [name for name in imported if name.split(".")[0] == "rich"]
