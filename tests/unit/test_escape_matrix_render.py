"""The matrix tables: every row as wide as the heading, reasons as footnotes."""

from __future__ import annotations

import json

from minicontainer.escapes import matrix
from minicontainer.escapes.base import BLOCKED, ESCAPED, Outcome
from minicontainer.escapes.host_root_mount import HostRootMount

LAYERS = ["user ns", "seccomp", "cgroup limits"]
NO_CONTROLLER = "no memory controller here"


def _matrix() -> matrix.Matrix:
    measured = matrix.Row(HostRootMount())
    measured.default = Outcome(BLOCKED, "could not write")
    measured.weakened = Outcome(ESCAPED, "wrote the nonce")
    measured.cells = {"user ns": matrix.BLOCKS, "seccomp": matrix.ALREADY_ON,
                      "cgroup limits": f"skip: {NO_CONTROLLER}"}
    measured.removed = {"user ns": "escapes", "seccomp": "blocked"}
    skipped = matrix.Row(HostRootMount())
    skipped.note = "SKIP: no <such> thing"
    return matrix.Matrix([measured, skipped], LAYERS, runs=5, seconds=1.25, parallel=2)


def test_markdown_rows_are_as_wide_as_the_heading():
    lines = matrix.render_markdown(_matrix()).splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 4
    assert {line.count(" | ") for line in table} == {len(LAYERS) + 4}
    assert "| host-root-mount | BLOCKED | ESCAPED | blocks | n/a | skip[1] | user ns |" in lines[2]
    assert f"- [1] {NO_CONTROLLER}" in lines
    assert "5 container runs in 1.2 s (parallel 2)." in lines


def test_text_uses_short_headings_and_says_what_they_mean():
    text = matrix.render_text(_matrix())
    assert text.splitlines()[0].split()[:5] == ["ESCAPE", "DEFAULT", "WEAKENED", "userns",
                                                "seccomp"]
    assert "userns = user ns" in text
    assert "SKIP: no <such> thing" in text


def test_json_keeps_the_full_cells():
    data = json.loads(matrix.render_json(_matrix()))
    row = data["rows"][0]
    assert row["cells"]["seccomp"] == "n/a: already on in the weakening"
    assert row["cells"]["cgroup limits"] == f"skip: {NO_CONTROLLER}"
    assert row["load_bearing"] == ["user ns"]
    assert data["rows"][1]["load_bearing"] is None


def test_html_is_escaped_and_coloured():
    page = matrix.render_html(_matrix())
    assert '<td class="blocks">blocks</td>' in page
    assert '<td class="escaped">ESCAPED</td>' in page
    assert "no &lt;such&gt; thing" in page
