"""The process escapes: host processes, their namespaces and memory, setuid, keyrings.

Their three verdicts (default, weakened, one layer restored) are in
test_escape_verdicts.py; here: the capability each needs at least, and that the
decoy host processes are killed and reaped, and the planted key unlinked, after
every attempt.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from helpers import mc
from minicontainer import escapes
from minicontainer.escapes import runner
from minicontainer.escapes.base import BLOCKED, ESCAPED, SKIP


def _children() -> set[int]:
    """Live (not yet reaped) child processes of this test process."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == os.getpid():
            found.add(int(entry))
    return found


def _demo_keys() -> set[str]:
    """The demo's keys in host root's user keyring, by description."""
    listing = subprocess.run(["keyctl", "show", "@u"], capture_output=True, text=True).stdout
    return {word for word in listing.split() if word.startswith("mc-escape-")}


@pytest.mark.parametrize("name,flags", [
    # proc-root and ptrace-inject: host root without CAP_SYS_PTRACE holds fewer
    # capabilities than the decoy, so the ptrace access check fails.
    ("proc-root", ["--share", "pid", "--userns", "host"]),
    ("ptrace-inject", ["--share", "pid", "--userns", "host"]),
    # nsenter-host: CAP_SYS_PTRACE opens the namespace file; setns into a mount
    # namespace still needs CAP_SYS_ADMIN.
    ("nsenter-host", ["--share", "pid", "--userns", "host", "--cap-add", "SYS_PTRACE"]),
])
def test_one_capability_short_of_the_weakening_is_blocked(name, flags):
    escape = escapes.find(name)
    outcome = runner.run_one(escape, runner.config_for(escape, flags))
    assert outcome.verdict == BLOCKED, outcome.evidence
    assert "not permitted" in outcome.evidence or "Permission denied" in outcome.evidence


def test_setuid_escalation_needs_no_capability():
    """The escalation is to the owner of the file: no capability is involved, so
    only no_new_privs stops it."""
    escape = escapes.find("setuid-no-nnp")
    cfg = runner.config_for(escape, [*escape.weakening, "--cap-drop", "ALL"])
    outcome = runner.run_one(escape, cfg)
    assert outcome.verdict == ESCAPED, outcome.evidence
    assert "effective uid 0" in outcome.evidence


@pytest.mark.parametrize("name", ["proc-root", "nsenter-host", "ptrace-inject"])
def test_the_decoy_is_reaped_after_the_attempt(name):
    escape = escapes.find(name)
    before = _children()
    outcome = runner.run_one(escape, runner.config_for(escape, escape.weakening))
    assert outcome.verdict == ESCAPED, outcome.evidence
    assert _children() == before


def test_the_planted_key_is_unlinked_after_the_attempt():
    escape = escapes.find("host-keyring")
    before = _demo_keys()
    outcome = runner.run_one(escape, runner.config_for(escape, escape.weakening))
    assert outcome.verdict == ESCAPED, outcome.evidence
    assert _demo_keys() == before


def test_ptrace_inject_skips_where_yama_forbids_every_attach(tmp_path, monkeypatch):
    from minicontainer.escapes import ptrace_inject

    scope = tmp_path / "ptrace_scope"
    scope.write_text("3\n")
    monkeypatch.setattr(ptrace_inject, "_YAMA", str(scope))
    escape = escapes.find("ptrace-inject")
    assert "ptrace_scope is 3" in escape.missing()
    outcome = runner.run_one(escape, runner.config_for(escape, escape.weakening))
    assert outcome.verdict == SKIP
    scope.write_text("1\n")
    assert escape.missing() is None


def test_cli_run_default_and_weakened():
    blocked = mc("escape", "run", "ptrace-inject", check=True)
    assert "ptrace-inject against the hardened default: BLOCKED" in blocked.stdout
    assert "PTRACE_SEIZE" in blocked.stdout
    escaped = json.loads(mc("escape", "run", "nsenter-host", "--weakened", "--json",
                            check=True).stdout)
    assert escaped["verdict"] == ESCAPED
    assert escaped["flags"] == ["--share", "pid", "--userns", "host",
                                "--cap-add", "SYS_ADMIN", "--cap-add", "SYS_PTRACE",
                                "--security-opt", "apparmor=unconfined"]
    assert "in the decoy's mount namespace" in escaped["evidence"]
