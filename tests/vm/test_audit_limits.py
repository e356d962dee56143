"""``audit`` reads the limits from the container's cgroup files: with them set, the
findings are gone; without them, the files say ``max`` (runs in the VM: this needs
the memory, pids and cpu controllers in cgroup v2)."""

from __future__ import annotations

import json

import pytest

from helpers import mc

pytestmark = pytest.mark.vm
LIMIT_CHECKS = {"memory-limit", "pids-limit", "cpu-limit"}


def audited(name: str, *flags: str) -> dict[str, dict]:
    started = mc("run", "-d", "--name", name, *flags, "--", "sleep", "1000", timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        result = mc("audit", "--json", name, timeout=120)
    finally:
        mc("rm", "-f", name, timeout=120)
    return {f["check"]: f for f in json.loads(result.stdout)[0]["findings"]}


def test_limits_remove_their_findings_and_no_limit_reads_max():
    limited = audited("audit-limited", "--memory", "64m", "--pids-limit", "64", "--cpus", "0.5")
    assert not LIMIT_CHECKS & set(limited)
    unlimited = audited("audit-unlimited")
    assert LIMIT_CHECKS <= set(unlimited)
    assert unlimited["memory-limit"]["evidence"].endswith("memory.max: max")
    assert unlimited["pids-limit"]["evidence"].endswith("pids.max: max")
    assert "cpu.max: max 100000" in unlimited["cpu-limit"]["evidence"]
