"""Instructor mode: one escape shown step by step, for a class to watch.

``minicontainer escape run NAME --narrate`` walks through the escape in the
order an instructor tells it: the escape, what the demo planted on the host,
the attack, what the kernel answered, the proof, the verdict, and which layer
stopped it.  The last step is measured, not told: each layer the catalogue
names in ``stopped_by`` is put back alone onto the weakened config and the
escape run again (attribution by ablation, as in the matrix).

Between steps it waits for Enter, or ``--pace SECONDS``.  On a terminal the
steps are laid out with ``rich`` (imported here only, so never on ``run``'s
start-up path); piped, it is plain text.
"""

from __future__ import annotations

import inspect
import os
import stat
import sys
import textwrap
import time

from minicontainer.escapes import layers, runner
from minicontainer.escapes.base import BLOCKED, ESCAPED, SKIP, Attempt, Escape, Outcome

STEPS = ["The escape", "Setup on the host", "The attack", "What the kernel answered",
         "The proof", "The verdict", "Which layer stopped it"]


class _Screen:
    """Where the steps go: rich on a terminal, plain text otherwise."""

    def __init__(self, pace: float | None) -> None:
        self.pace = pace
        self.console = None
        if sys.stdout.isatty():
            from rich.console import Console

            self.console = Console(highlight=False)
        self.shown = 0

    def step(self, title: str, lines: list[str], code: str = "", language: str = "") -> None:
        """Show one step: its heading, its lines, and a block of code or output."""
        if self.shown:
            self._wait()
        self.shown += 1
        heading = f"Step {self.shown}/{len(STEPS)}: {title}"
        if self.console is None:
            print(f"\n== {heading} ==")
            for line in lines:
                print(f"  {line}".rstrip())
            for line in code.splitlines():
                print(f"  | {line}")
            sys.stdout.flush()
            return
        from rich.panel import Panel
        from rich.syntax import Syntax
        from rich.text import Text

        self.console.rule(f"[bold]{heading}")
        for line in lines:
            self.console.print(_styled(line))
        if code:
            body = (Syntax(code, language, line_numbers=True, word_wrap=True) if language
                    else Text(code))
            self.console.print(Panel(body, expand=False))

    def _wait(self) -> None:
        if self.pace is not None:
            time.sleep(self.pace)
            return
        try:
            input("\n[Enter] next step ")
        except EOFError:
            pass  # nobody to press Enter: go on


def _styled(line: str):
    from rich.text import Text

    text = Text(line)
    for word, style in ((ESCAPED, "bold red"), (BLOCKED, "bold green"), (SKIP, "yellow")):
        text.highlight_words([word], style)
    return text


class _Record:
    """What the narrator saw of the one attempt: set by the watched escape."""

    attempt: Attempt | None = None
    proven: bool | None = None


def _watched(escape: Escape, record: _Record, on_planted) -> Escape:
    """The escape, but telling ``record`` what its attempt planted and proved;
    ``on_planted`` runs after the setup, before the container starts."""
    base = type(escape)

    def plant(self, attempt: Attempt) -> None:
        base.plant(self, attempt)
        record.attempt = attempt
        on_planted(attempt)

    def proven(self, attempt: Attempt) -> bool:
        record.proven = base.proven(self, attempt)
        return record.proven

    watched = type(base.__name__, (base,), {"plant": plant, "proven": proven,
                                            "__module__": base.__module__})
    return watched()


def narrate(escape: Escape, flags: list[str], pace: float | None,
            allow_host_changes: bool) -> Outcome:
    """Run ``escape`` once under ``flags``, showing every step; its outcome."""
    screen = _Screen(pace)
    against = " ".join(flags) if flags else "the hardened default"
    story = escape.explanation().split("\n\n", 1)[0]
    screen.step(STEPS[0], [
        f"{escape.name}: {escape.title}",
        *textwrap.wrap(" ".join(story.split()), 88),
        "",
        f"attacks:    {escape.attacks}",
        f"incident:   {escape.incident}",
        f"scenario:   {' '.join(escape.scenario) or '(none)'}",
        f"against:    {against}",
    ])
    missing = escape.missing()
    if missing:
        screen.step(STEPS[5], [f"{SKIP}: this machine lacks what it needs: {missing}"])
        return Outcome(SKIP, missing)
    record = _Record()

    def on_planted(attempt: Attempt) -> None:
        screen.step(STEPS[1], _setup_lines(escape, flags, attempt))
        screen.step(STEPS[2], [f"inside the container: sh -c \"$(cat {escape.script_path})\""],
                    code=escape.script().rstrip(), language="bash")

    outcome = runner.run_one(_watched(escape, record, on_planted),
                             runner.config_for(escape, flags),
                             allow_host_changes=allow_host_changes)
    attempt = record.attempt
    if attempt is None:  # the host setup failed before anything ran
        screen.step(STEPS[5], [f"{outcome.verdict}: {outcome.evidence}"])
        return outcome
    screen.step(STEPS[3], [f"exit status {attempt.exit_code}; the attack printed:"],
                code=attempt.output.rstrip() or "(nothing)")
    screen.step(STEPS[4], _proof_lines(escape, attempt, record.proven))
    screen.step(STEPS[5], [f"{escape.name} against {against}: {outcome.verdict}"])
    screen.step(STEPS[6], _layer_lines(escape, flags, outcome, allow_host_changes))
    return outcome


def _setup_lines(escape: Escape, flags: list[str], attempt: Attempt) -> list[str]:
    lines = [f"run flags:  {' '.join([*escape.scenario, *flags, *attempt.flags]) or '(none)'}",
             f"nonce:      {attempt.nonce} (fresh for this run)",
             f"container:  {attempt.container_id}"]
    extra_env = {k: v for k, v in attempt.env.items() if k != "MC_NONCE"}
    for key, value in extra_env.items():
        lines.append(f"env:        {key}={value}")
    said = inspect.getdoc(type(escape).plant)
    if type(escape).plant is not Escape.plant and said:
        lines.append(f"plant():    {' '.join(said.split())}")
    planted = _planted_files(attempt.workdir)
    if planted:
        lines.append(f"files it put on the host, in {attempt.workdir}:")
        lines += [f"  {entry}" for entry in planted]
    else:
        lines.append(f"no file in its host directory {attempt.workdir}")
    return lines


def _planted_files(workdir: str) -> list[str]:
    """The attempt's host directory, listed without following any link."""
    entries = []
    for parent, dirs, files in os.walk(workdir):
        for name in sorted(dirs + files):
            path = os.path.join(parent, name)
            st = os.lstat(path)
            kind = stat.filemode(st.st_mode)
            entries.append(f"{kind} uid {st.st_uid} {st.st_size:>6} {path}")
    return entries


def _proof_lines(escape: Escape, attempt: Attempt, proven: bool | None) -> list[str]:
    if type(escape).proven is Escape.proven:
        how = f"looked for 'PROOF {attempt.nonce}' in what the attack printed"
        result = "found: the nonce came back" if proven else "not found"
    else:
        how = f"the host side checked its marker ({type(escape).__module__}.proven)"
        result = "the attack reached it" if proven else "the attack did not reach it"
    return [how, f"{result}: {'proven' if proven else 'no proof'}"]


def _layer_lines(escape: Escape, flags: list[str], outcome: Outcome,
                 allow_host_changes: bool) -> list[str]:
    """Put each ``stopped_by`` layer back alone onto the weakening and run again."""
    if outcome.verdict not in (ESCAPED, BLOCKED):
        return ["not measured: the run above did not get that far"]
    if not escape.weakening:
        return ["no layer stops it: the scenario is the hole (it has no weakening; "
                "the fix is not to set it up this way)"]
    if escape.host_changes and not allow_host_changes:
        return ["not measured here: the ablation runs the weakening, which changes "
                "kernel-wide state (needs --allow-host-changes, in a VM)"]
    from minicontainer.escapes.matrix import quiet_config

    jobs = []
    if flags != escape.weakening:
        jobs.append((escape, quiet_config(escape, escape.weakening)))
    for name in escape.stopped_by:
        config = quiet_config(escape, escape.weakening)
        layers.find(name).restore(config)
        jobs.append((escape, config))
    outcomes = runner.run_attempts(jobs, parallel=2, allow_host_changes=allow_host_changes)
    weakened = outcome if flags == escape.weakening else outcomes.pop(0)
    lines = [f"the weakening ({' '.join(escape.weakening)}) alone: {weakened.verdict}"]
    blocking = []
    for name, result in zip(escape.stopped_by, outcomes, strict=True):
        said = "blocks it" if result.verdict == BLOCKED else f"{result.verdict}"
        lines.append(f"put back {name} alone: {said}")
        if result.verdict == BLOCKED:
            blocking.append(name)
    if weakened.verdict != ESCAPED:
        lines.append("the weakening does not escape on this machine, so no layer can be "
                     "credited here")
    elif blocking:
        lines.append(f"stopped by: {', '.join(blocking)}")
    else:
        lines.append("none of the layers the catalogue names blocks it alone here")
    return lines
