"""The layer matrix: which layer, alone, stops which escape, measured by running.

"Which layer stopped it?" cannot be read off an errno (a bare EPERM does not
tell seccomp from a capability check), so the matrix answers it by ablation,
with real container runs on this machine:

- the **default** run: the escape against the hardened default (it must be
  BLOCKED; if it escapes, the scenario itself is the hole);
- the **weakened** run: against the escape's documented weakening (it must
  ESCAPE, else the row says so, with the evidence);
- one **cell** per layer: the weakened config with that layer alone put back.
  ``blocks`` (BLOCKED), ``-`` (it still escapes), ``n/a`` (the layer is already
  on in the weakening: nothing to run), ``skip: ...``, ``error: ...``;
- **removed alone**: the default with one layer taken away, for every layer on
  in the default; the layers whose removal lets the escape through are the
  load-bearing ones (defense in depth: for a good default, ``none``).

A run whose config this host cannot apply (a cgroup limit without its controller)
is a ``skip`` with the reason, not a run.  Attempts run in parallel, except those
of escapes that touch kernel-wide state
(:attr:`~minicontainer.escapes.base.Escape.host_changes`), which run one at a
time, and only with ``allow_host_changes`` at all.
"""

from __future__ import annotations

import contextlib
import copy
import html
import io
import json
import time

from minicontainer.escapes import layers, runner
from minicontainer.escapes.base import BLOCKED, ERROR, ESCAPED, SKIP, Escape, Outcome

BLOCKS = "blocks"
PASSES = "-"
ALREADY_ON = "n/a: already on in the weakening"
NEEDS_HOST_CHANGES = "needs --allow-host-changes (VM)"
SCENARIO_IS_THE_HOLE = "no layer stops it: the scenario is the hole"


class Row:
    """One escape's line of the matrix: its runs, its cells, and a note when a
    run did not go as the catalogue says."""

    def __init__(self, escape: Escape) -> None:
        self.escape = escape
        self.default: Outcome | None = None
        self.weakened: Outcome | None = None
        self.cells: dict[str, str] = {}
        self.removed: dict[str, str] = {}
        self.note = ""

    @property
    def load_bearing(self) -> list[str] | None:
        """The layers whose removal alone from the default lets the escape
        through; None when that was not measured."""
        if not self.removed:
            return None
        return [name for name, result in self.removed.items() if result == "escapes"]

    def summary(self) -> str:
        """The "removed alone" column: the load-bearing layers, ``none``, or why
        it was not measured."""
        found = self.load_bearing
        if self.default is not None and self.default.verdict == ESCAPED:
            return "default escapes"
        if found is None:
            return "not measured"
        return ", ".join(found) if found else "none"

    def to_dict(self) -> dict:
        """The row as JSON-ready data."""
        return {"escape": self.escape.name, "title": self.escape.title,
                "weakening": self.escape.weakening, "stopped_by": self.escape.stopped_by,
                "host_changes": self.escape.host_changes, "note": self.note,
                "default": self.default.to_dict() if self.default else None,
                "weakened": self.weakened.to_dict() if self.weakened else None,
                "cells": self.cells, "removed_alone": self.removed,
                "load_bearing": self.load_bearing}


class Matrix:
    """The rows, the layer columns, and what it took to measure them."""

    def __init__(self, rows: list[Row], layer_names: list[str], runs: int, seconds: float,
                 parallel: int) -> None:
        self.rows = rows
        self.layer_names = layer_names
        self.runs = runs
        self.seconds = seconds
        self.parallel = parallel

    def to_dict(self) -> dict:
        """The matrix as JSON-ready data."""
        return {"layers": self.layer_names, "runs": self.runs,
                "seconds": round(self.seconds, 1), "parallel": self.parallel,
                "rows": [row.to_dict() for row in self.rows]}


class _Plan:
    """Container runs to do in one go; each result is handed to its callback."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Escape, object, object]] = []

    def add(self, escape: Escape, config, done) -> None:
        """Run ``escape`` under ``config`` and hand the outcome to ``done``; at once
        a SKIP, without a run, when this host cannot apply the config."""
        reason = _unavailable(config)
        if reason:
            done(Outcome(SKIP, reason))
        else:
            self.jobs.append((escape, config, done))

    def run(self, parallel: int, allow_host_changes: bool) -> int:
        """Run every job (kernel-wide ones one at a time, by the runner); the number
        of runs."""
        outcomes = runner.run_attempts([(e, cfg) for e, cfg, _ in self.jobs], parallel,
                                       allow_host_changes)
        for (_, _, done), outcome in zip(self.jobs, outcomes, strict=True):
            done(outcome)
        count = len(self.jobs)
        self.jobs = []
        return count


def quiet_config(escape: Escape, flags: list[str]):
    """:func:`runner.config_for`, without the warnings ``run`` prints for weak flags:
    the matrix sets them on purpose, hundreds of times."""
    with contextlib.redirect_stderr(io.StringIO()):
        return runner.config_for(escape, flags)


def _unavailable(config) -> str | None:
    """Why this host cannot apply ``config`` (a cgroup controller its limits need
    is missing), or None."""
    from minicontainer import cgroups

    needed = cgroups.controllers_for(cgroups.limit_files(config.resources))
    if not needed:
        return None
    hierarchy = cgroups.find_hierarchy()
    if hierarchy is None:
        return "no cgroup v2 on this host"
    missing = sorted(needed - hierarchy.controllers)
    return hierarchy.describe_missing(missing[0]) if missing else None


def build(escapes: list[Escape], parallel: int = 2, allow_host_changes: bool = False) -> Matrix:
    """Measure the matrix of ``escapes`` on this machine."""
    started = time.monotonic()
    all_layers = layers.all_layers()
    rows = [Row(e) for e in escapes]
    plan = _Plan()
    runs = 0
    for row in rows:
        _plan_default_and_weakened(row, plan, allow_host_changes)
    runs += plan.run(parallel, allow_host_changes)
    for row in rows:
        if _needs_ablation(row):
            _plan_ablation(row, all_layers, plan)
    runs += plan.run(parallel, allow_host_changes)
    for row in rows:
        _explain_open_default(row)
    return Matrix(rows, [layer.name for layer in all_layers], runs,
                  time.monotonic() - started, parallel)


def _plan_default_and_weakened(row: Row, plan: _Plan, allow_host_changes: bool) -> None:
    escape = row.escape
    reason = escape.missing()
    if reason:
        row.note = f"SKIP: {reason}"
        return

    def set_default(outcome: Outcome) -> None:
        row.default = outcome

    def set_weakened(outcome: Outcome) -> None:
        row.weakened = outcome

    plan.add(escape, quiet_config(escape, []), set_default)
    if escape.host_changes and not allow_host_changes:
        row.note = NEEDS_HOST_CHANGES
        return
    if not escape.weakening:
        return  # the weakened run would be the default run again
    plan.add(escape, quiet_config(escape, escape.weakening), set_weakened)


def _needs_ablation(row: Row) -> bool:
    """Whether the first runs left anything for the cells to tell; else the note says why."""
    default = row.default
    if default is None:
        return False
    if default.verdict not in (BLOCKED, ESCAPED):
        row.note = f"default run {default.verdict}: {_one_line(default)}"
        return False
    if default.verdict == ESCAPED and row.escape.weakening:
        row.note = "; ".join(filter(None, [
            f"the default does not block it here: {_one_line(default)}", row.note]))
    if row.note.endswith(NEEDS_HOST_CHANGES):
        return False
    weakened = row.weakened if row.escape.weakening else default
    if weakened.verdict != ESCAPED:
        row.note = f"the weakening does not escape here: {_one_line(weakened)}"
        return False
    return True


def _plan_ablation(row: Row, all_layers: list[layers.Layer], plan: _Plan) -> None:
    escape = row.escape
    default = quiet_config(escape, [])
    weakened = quiet_config(escape, escape.weakening)
    for layer in all_layers:
        if layer.is_on(weakened):
            row.cells[layer.name] = ALREADY_ON
        else:
            restored = copy.deepcopy(weakened)
            layer.restore(restored)
            plan.add(escape, restored, _setter(row.cells, layer.name, _cell))
        if layer.is_on(default) and row.default.verdict == BLOCKED:
            removed = copy.deepcopy(default)
            layer.remove(removed)
            plan.add(escape, removed, _setter(row.removed, layer.name, _removal))


def _explain_open_default(row: Row) -> None:
    """The note of an escape the default itself lets through (its weakening is
    empty): either a layer that is off by default stops it, or none does."""
    if row.escape.weakening or row.default is None or row.default.verdict != ESCAPED:
        return
    blocking = [name for name, cell in row.cells.items() if cell == BLOCKS]
    if blocking:
        row.note = (f"the default lets it through: {', '.join(blocking)}, off by default, "
                    "stops it")
    elif row.cells:
        row.note = SCENARIO_IS_THE_HOLE


def _setter(results: dict[str, str], name: str, word):
    results[name] = "pending"  # holds the layer's place: the tables keep the recipe's order

    def done(outcome: Outcome) -> None:
        results[name] = word(outcome)

    return done


def _cell(outcome: Outcome) -> str:
    """A restored-layer cell: does that layer alone block the weakened escape?"""
    if outcome.verdict == BLOCKED:
        return BLOCKS
    if outcome.verdict == ESCAPED:
        return PASSES
    return f"{outcome.verdict.lower()}: {_one_line(outcome)}"


def _removal(outcome: Outcome) -> str:
    """A removed-layer result: does the default minus that layer let it through?"""
    if outcome.verdict == ESCAPED:
        return "escapes"
    if outcome.verdict == BLOCKED:
        return "blocked"
    return f"{outcome.verdict.lower()}: {_one_line(outcome)}"


def _one_line(outcome: Outcome) -> str:
    lines = [line.strip() for line in outcome.evidence.splitlines() if line.strip()]
    return lines[-1] if lines else outcome.verdict


# Rendering -----------------------------------------------------------------

class _Footnotes:
    """The reasons behind skip and error cells, numbered once each: the tables
    show ``skip[1]``, the full text is below them (and in the JSON)."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def cell(self, cell: str) -> str:
        if cell == ALREADY_ON:
            return "n/a"
        kind, _, reason = cell.partition(": ")
        if kind not in (SKIP.lower(), ERROR.lower()):
            return cell
        if reason not in self.reasons:
            self.reasons.append(reason)
        return f"{kind}[{self.reasons.index(reason) + 1}]"

    def lines(self) -> list[str]:
        return [f"[{i}] {reason}" for i, reason in enumerate(self.reasons, 1)]


def _table_rows(matrix: Matrix, notes: _Footnotes) -> list[list[str]]:
    rows = []
    for row in matrix.rows:
        if row.cells:
            cells = [notes.cell(row.cells[name]) for name in matrix.layer_names]
        else:
            cells = [""] * len(matrix.layer_names)
        odd = [f"removed {name}: {notes.cell(result)}" for name, result in row.removed.items()
               if result not in ("escapes", "blocked")]
        weakened = row.weakened.verdict if row.weakened else (
            "(none)" if row.default and not row.escape.weakening else "")
        rows.append([row.escape.name, row.default.verdict if row.default else "", weakened,
                     *cells, row.summary(), "; ".join([row.note, *odd] if row.note else odd)])
    return rows


_LEGEND = ("default, weakened: the verdicts against the hardened default and the weakening "
           "(none: the escape has no weakening, the default is its weak config); "
           "blocks: that layer alone, put back onto the weakened config, blocks the escape; "
           "-: it still escapes; n/a: the layer is already on in the weakening (no run); "
           "removed alone: the layers whose removal alone from the default lets it escape.")


def _footer(matrix: Matrix) -> str:
    return (f"{matrix.runs} container runs in {matrix.seconds:.1f} s "
            f"(parallel {matrix.parallel})")


# Column headings short enough for a terminal; a layer without one shows its name.
_SHORT_NAMES = {"user ns": "userns", "pid ns": "pidns", "net ns": "netns", "cgroup ns": "cgroupns",
                "pivot_root": "pivot", "propagation": "prop", "masked paths": "masked",
                "read-only paths": "ro", "/sys ro": "sysro", "capabilities": "caps",
                "no_new_privs": "nnp", "seccomp": "seccomp", "devices": "dev",
                "fd hygiene": "fds", "new session": "setsid", "cgroup limits": "limits"}


def render_text(matrix: Matrix) -> str:
    """A plain table with short layer headings, their full names listed below."""
    keys = [_SHORT_NAMES.get(name, name) for name in matrix.layer_names]
    header = ["ESCAPE", "DEFAULT", "WEAKENED", *keys, "REMOVED ALONE", "NOTE"]
    notes = _Footnotes()
    rows = [header, *_table_rows(matrix, notes)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)), r[-1]])
             .rstrip() for r in rows]
    names = ", ".join(f"{k} = {name}" for k, name in zip(keys, matrix.layer_names, strict=True)
                      if k != name)
    return "\n".join([*lines, "", *notes.lines(), f"layers: {names}", _LEGEND,
                      _footer(matrix)]) + "\n"


def render_markdown(matrix: Matrix) -> str:
    """A Markdown (MyST) table with the layers as column headings."""
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    header = ["escape", "default", "weakened", *matrix.layer_names, "removed alone", "note"]
    lines = [line(header), line(["---"] * len(header))]
    notes = _Footnotes()
    lines += [line(r) for r in _table_rows(matrix, notes)]
    footnotes = [f"- {note}" for note in notes.lines()]
    return "\n".join([*lines, "", *footnotes, "", _LEGEND, "", _footer(matrix) + "."]) + "\n"


def render_json(matrix: Matrix) -> str:
    """The whole matrix, with the evidence of every first run, as JSON."""
    return json.dumps(matrix.to_dict(), indent=2) + "\n"


_HTML_STYLE = ("table{border-collapse:collapse;font:13px sans-serif}"
               "td,th{border:1px solid #ccc;padding:2px 6px}"
               "th{writing-mode:vertical-rl;transform:rotate(180deg)}"
               ".blocks{background:#c8e6c9}.na{color:#999}.skip,.error{background:#fff3cd}"
               ".escaped{background:#ffcdd2}")


def render_html(matrix: Matrix) -> str:
    """A standalone HTML page with one coloured table."""
    def cell(text: str) -> str:
        kind = text.split("[", 1)[0]
        css = {"blocks": "blocks", "n/a": "na", "skip": "skip", "error": "error",
               ESCAPED: "escaped"}.get(kind, "")
        return f'<td class="{css}">{html.escape(text)}</td>' if css else \
            f"<td>{html.escape(text)}</td>"

    header = ["escape", "default", "weakened", *matrix.layer_names, "removed alone", "note"]
    out = ["<!DOCTYPE html>", "<meta charset=utf-8><title>minicontainer escape matrix</title>",
           f"<style>{_HTML_STYLE}</style>", "<table>",
           "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    notes = _Footnotes()
    for r in _table_rows(matrix, notes):
        out.append("<tr>" + "".join(cell(c) for c in r) + "</tr>")
    out += ["</table>", *(f"<p>{html.escape(note)}</p>" for note in notes.lines()),
            f"<p>{html.escape(_LEGEND)}</p>",
            f"<p>{html.escape(_footer(matrix))}</p>"]
    return "\n".join(out) + "\n"


RENDERERS = {"text": render_text, "md": render_markdown, "json": render_json,
             "html": render_html}
