"""The benchmarks run from a clean checkout and report what they promise; no time is
asserted (a loaded machine would fail such a test for nothing)."""

from __future__ import annotations

import os
import subprocess
import sys

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "benchmarks", "bench.py")


def test_one_round_of_every_quick_benchmark_reports_each_runtime():
    result = subprocess.run([sys.executable, BENCH, "--runs", "1", "--only",
                             "startup,exec,resident", "--no-record"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for runtime in ("runc", "crun", "bwrap", "python floor"):
        assert f"minicontainer / {runtime}:" in out
    assert "exec /bin/true" in out and "resident per detached container" in out
    assert "recorded in" not in out


def test_an_unknown_benchmark_is_named():
    result = subprocess.run([sys.executable, BENCH, "--only", "startup,warp"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "warp is not a benchmark" in result.stderr
