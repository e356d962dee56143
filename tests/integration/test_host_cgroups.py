"""cgroups on the test host itself, whatever its layout; `make test-vm` tests the limits."""

from __future__ import annotations

import os

from helpers import mc
from minicontainer import cgroups


def test_a_limit_works_or_names_the_missing_controller():
    hierarchy = cgroups.find_hierarchy()
    result = mc("run", "--memory", "64m", "--pids-limit", "64", "--",
                "cat", "/sys/fs/cgroup/memory.max")
    if hierarchy is not None and {"memory", "pids"} <= hierarchy.controllers:
        assert result.returncode == 0 and result.stdout == f"{64 * 1024 * 1024}\n"
    else:
        assert result.returncode == 125
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and "controller" in lines[0]
        assert ("memory" in lines[0]) or ("pids" in lines[0])
        assert "hybrid" in lines[0] or hierarchy is None or "not available" in lines[0]


def test_without_limits_a_container_runs_in_a_cgroup_of_its_own():
    hierarchy = cgroups.find_hierarchy()
    assert hierarchy is not None, "this host mounts no cgroup2 at all"
    out = mc("run", "--name", f"cg-{os.getpid()}", "--", "sh", "-c",
             "grep ^0:: /proc/self/cgroup; ls -d /sys/fs/cgroup/cgroup.procs", check=True).stdout
    assert out.split() == ["0::/", "/sys/fs/cgroup/cgroup.procs"]


def test_doctor_reports_every_check():
    result = mc("doctor")
    lines = [line for line in result.stdout.splitlines() if line and not line.startswith(" ")]
    levels = {line.split()[0] for line in lines[:-1]}
    assert levels <= {"ok", "warn", "fail"}
    for topic in ("root", "kernel", "user namespaces", "cgroup", "overlayfs", "libseccomp",
                  "rootfs", "nft"):
        assert any(topic in line for line in lines), topic
    assert result.returncode == (1 if "fail" in levels else 0)
