"""The escapes and pitfalls of cgroup limits, which need cgroup v2 controllers (the VM).

writable-cgroupfs is BLOCKED by default and ESCAPES when weakened, like any
escape.  fork-bomb and memory-hog are pitfalls of the default itself:
minicontainer, like Docker, sets no limits unless asked, so they ESCAPE under the
default and are BLOCKED once the "cgroup limits" layer (the hardened pids and
memory limits) is put on.  Their workloads are bounded, so that the unlimited
runs cannot hurt the VM.
"""

from __future__ import annotations

import importlib

import pytest

from helpers import mc
from minicontainer.escapes import layers, runner
from minicontainer.escapes.base import BLOCKED, ESCAPED, Escape

pytestmark = pytest.mark.vm


def find(name: str) -> Escape:
    """The escape's own module, without importing the rest of the catalogue."""
    return importlib.import_module(f"minicontainer.escapes.{name.replace('-', '_')}").ESCAPE


def attempt(name: str, flags: list[str], restore: str | None = None):
    escape = find(name)
    cfg = runner.config_for(escape, flags)
    if restore:
        layers.find(restore).restore(cfg)
    return runner.run_one(escape, cfg)


def test_writable_cgroupfs_blocked_by_default():
    outcome = attempt("writable-cgroupfs", [])
    assert outcome.verdict == BLOCKED, outcome.evidence
    assert "Read-only file system" in outcome.evidence
    assert f"my limit now: {64 * 1024 * 1024} bytes" in outcome.evidence


def test_writable_cgroupfs_escapes_when_weakened():
    escape = find("writable-cgroupfs")
    outcome = attempt("writable-cgroupfs", escape.weakening)
    assert outcome.verdict == ESCAPED, outcome.evidence
    assert "my limit now: 536870912 bytes" in outcome.evidence
    assert "held 128 MiB under a 64 MiB limit" in outcome.evidence
    assert "host: memory.max up to 536870912, memory.peak up to" in outcome.evidence


@pytest.mark.parametrize("name,forgery", [
    ("writable-cgroupfs", 'echo "my limit now: 536870912 bytes"; '
                          'echo "held 128 MiB under a 64 MiB limit: PROOF $MC_NONCE"'),
    ("fork-bomb", 'echo "forked 300 of 300"'),
])
def test_a_limit_proof_is_measured_by_the_host_not_claimed(name, forgery, monkeypatch):
    """Saying it got past the limit, under the config where the real attack does,
    proves nothing: the host counts in the container's cgroup."""
    escape = find(name)
    monkeypatch.setattr(escape, "script", lambda: forgery)
    outcome = attempt(name, escape.weakening)
    assert outcome.verdict == BLOCKED, outcome.evidence


@pytest.mark.parametrize("layer,errno_text", [("user ns", "Permission denied"),
                                              ("/sys ro", "Read-only file system")])
def test_writable_cgroupfs_each_stopping_layer_alone_blocks_it(layer, errno_text):
    escape = find("writable-cgroupfs")
    assert layer in escape.stopped_by
    outcome = attempt("writable-cgroupfs", escape.weakening, restore=layer)
    assert outcome.verdict == BLOCKED, outcome.evidence
    assert errno_text in outcome.evidence


def test_fork_bomb_escapes_the_default_which_sets_no_pids_limit():
    outcome = attempt("fork-bomb", [])
    assert outcome.verdict == ESCAPED, outcome.evidence
    # "max" where the pids controller is enabled for the container, no file where not
    assert ("my pids.max: max" in outcome.evidence
            or "my pids.max: none (no limit was set)" in outcome.evidence)
    assert "forked 300 of 300" in outcome.evidence
    assert "host: at most 30" in outcome.evidence  # the 300 sleepers and their shells


def test_fork_bomb_blocked_by_cgroup_limits():
    assert find("fork-bomb").stopped_by == ["cgroup limits"]
    outcome = attempt("fork-bomb", [], restore="cgroup limits")
    assert outcome.verdict == BLOCKED, outcome.evidence
    assert f"my pids.max: {layers.HARDENED_PIDS}" in outcome.evidence
    assert "then fork failed" in outcome.evidence


def test_memory_hog_escapes_the_default_which_sets_no_memory_limit():
    outcome = attempt("memory-hog", [])
    assert outcome.verdict == ESCAPED, outcome.evidence
    assert "done: holding 384 MiB" in outcome.evidence


def test_memory_hog_blocked_by_cgroup_limits():
    assert find("memory-hog").stopped_by == ["cgroup limits"]
    outcome = attempt("memory-hog", [], restore="cgroup limits")
    assert outcome.verdict == BLOCKED, outcome.evidence
    assert outcome.evidence.endswith("exit 137")  # the OOM killer
    assert "done:" not in outcome.evidence


def test_cli_runs_a_limit_pitfall_with_and_without_the_limit():
    unlimited = mc("escape", "run", "fork-bomb", check=True, timeout=300)
    assert "fork-bomb against the hardened default: ESCAPED" in unlimited.stdout
    limited = mc("escape", "run", "fork-bomb", "--", "--pids-limit", "64", check=True,
                 timeout=300)
    assert "fork-bomb against --pids-limit 64: BLOCKED" in limited.stdout


def test_nsenter_cgroup_escapes_the_limit_from_the_host_side():
    outcome = attempt("nsenter-cgroup", [])
    assert outcome.verdict == ESCAPED, outcome.evidence
    assert "container: cgroup 0::/\n" in outcome.evidence
    assert "entered with nsenter: cgroup 0::/.." in outcome.evidence
    assert f"entered: memory.max {64 * 1024 * 1024}" in outcome.evidence


def test_exec_is_the_twin_of_nsenter_it_joins_the_cgroup():
    cid = mc("run", "-d", "--memory", "64m", "--", "sleep", "60", check=True).stdout.strip()
    try:
        inside = mc("exec", cid, "sh", "-c", "cat /proc/self/cgroup; mc-escape-memory-hog 128",
                    timeout=120)
        assert inside.stdout.startswith("0::/\n"), inside.stdout
        assert inside.returncode == 137, inside.stdout + inside.stderr
        assert "done:" not in inside.stdout
    finally:
        mc("rm", "-f", cid, timeout=120)
