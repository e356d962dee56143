"""Per-container host id ranges (--userns-range auto), and what the shared range allows.

Every container shares one host uid range by default, so the root of one is the
same host uid as the root of any other: through a shared pid namespace it may
signal them.  With a block of its own it may not.  The targets here are always
detached ``sleep`` containers the test started, and only their pids are signalled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from helpers import MC, mc, probe, userns_blocks
from minicontainer import idmap
from minicontainer.state import alive, process_start_time

SHARED = idmap.shared_range("uid")
RANGES = "/run/minicontainer-userns/ranges.json"


def _start(name: str, *flags: str) -> int:
    """Start a detached ``sleep 1000`` container; its first process's host pid."""
    mc("run", "-d", "--name", name, *flags, "--", "sleep", "1000", check=True)
    return json.loads(mc("inspect", name, check=True).stdout)["pid"]


def _host_uid_map(pid: int) -> list[list[int]]:
    with open(f"/proc/{pid}/uid_map") as f:
        return [[int(n) for n in line.split()] for line in f]


def _blocks() -> dict[str, str]:
    """Container id -> first host id of its block, from the allocation file."""
    try:
        with open(RANGES) as f:
            return {owner["id"]: first for first, owner in json.load(f)["blocks"].items()}
    except FileNotFoundError:
        return {}


@pytest.fixture
def removed_after():
    """Names of containers to remove (rm -f) at the end of the test, pass or fail."""
    names: list[str] = []
    yield names
    for name in names:
        mc("rm", "-f", name)


def test_auto_containers_get_distinct_host_ranges(removed_after):
    removed_after += ["ur-a", "ur-b"]
    maps = [_host_uid_map(_start(name, "--userns-range", "auto")) for name in removed_after]
    (a,), (b,) = maps
    assert a[0] == b[0] == 0 and a[2] == b[2] == 65536
    assert abs(a[1] - b[1]) >= 65536, maps
    for first in (a[1], b[1]):
        assert not SHARED.host_id <= first < SHARED.host_id + SHARED.size
    seen_inside = mc("exec", "ur-a", "cat", "/proc/self/uid_map", check=True).stdout.split()
    assert [int(n) for n in seen_inside] == a
    assert _blocks() == {"ur-a": str(a[1]), "ur-b": str(b[1])}


def test_default_containers_share_one_host_range(removed_after):
    removed_after += ["ur-c", "ur-d"]
    maps = [_host_uid_map(_start(name)) for name in removed_after]
    assert maps[0] == maps[1] == [[0, SHARED.host_id, SHARED.size]]


def test_auto_root_still_owns_its_rootfs():
    """The rootfs is owned for the shared range; an idmapped mount shifts it."""
    with open("/var/lib/minicontainer/rootfs/busybox/etc/passwd") as f:
        before = f.read()
    script = "stat -c %u:%g / /etc/passwd; echo x >> /etc/passwd && echo appended; id -u"
    result = mc("run", "--userns-range", "auto", "--", "sh", "-c", script, check=True)
    assert result.stdout.split() == ["0:0", "0:0", "appended", "0"]
    seen = probe("--userns-range", "auto")
    assert seen["uid_map"][0][1] != SHARED.host_id
    with open("/var/lib/minicontainer/rootfs/busybox/etc/passwd") as f:
        assert f.read() == before  # the write went into the container's own layer


def test_share_pid_with_own_range_cannot_kill_another_container(removed_after):
    removed_after.append("ur-target")
    target = _start("ur-target", "--userns-range", "auto")
    started = process_start_time(target)
    result = mc("run", "--share", "pid", "--userns-range", "auto", "--",
                "kill", "-KILL", str(target))
    assert result.returncode != 0
    assert "not permitted" in result.stderr
    assert alive(target, started)


def test_share_pid_with_shared_range_kills_another_container(removed_after):
    """The twin: the same attack with the default shared range succeeds."""
    removed_after.append("ur-victim")
    target = _start("ur-victim")
    started = process_start_time(target)
    result = mc("run", "--share", "pid", "--", "kill", "-KILL", str(target))
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 5
    while alive(target, started) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(target, started)


def test_block_is_freed_when_the_container_stops_or_is_removed(removed_after):
    removed_after += ["ur-stop", "ur-rm"]
    for name in removed_after:
        _start(name, "--userns-range", "auto")
    assert set(_blocks()) == {"ur-stop", "ur-rm"}
    mc("stop", "-t", "1", "ur-stop", check=True)
    assert set(_blocks()) == {"ur-rm"}
    mc("rm", "-f", "ur-rm", check=True)
    assert _blocks() == {}
    assert not os.path.exists(RANGES)
    mc("run", "--userns-range", "auto", "--", "true", check=True)
    assert userns_blocks() == []


def test_block_of_a_killed_runtime_is_reclaimed():
    runtime = subprocess.Popen(
        [*MC, "run", "--name", "ur-crash", "--userns-range", "auto", "--", "sh", "-c",
         "echo ready; sleep 1000"], stdout=subprocess.PIPE, text=True)
    try:
        assert runtime.stdout.readline() == "ready\n"
        first = _blocks()["ur-crash"]
        os.kill(runtime.pid, signal.SIGKILL)
        runtime.wait(10)
        assert _blocks() == {"ur-crash": first}  # the runtime never freed it
        # The container died with its runtime (parent-death signal): the block is idle.
        reused = mc("run", "--userns-range", "auto", "--", "cat", "/proc/self/uid_map",
                    check=True).stdout.split()
        assert reused[1] == first
        assert "ur-crash" not in _blocks()
    finally:
        if runtime.poll() is None:
            runtime.kill()
            runtime.wait(10)
        mc("rm", "-f", "ur-crash")
    assert _blocks() == {}


def test_block_of_a_killed_runtime_is_kept_while_a_process_runs_in_it(removed_after):
    """A block is reclaimed only once nothing runs as its uids: here a process of the
    container that outlives its monitor (no pid namespace of its own to die with)."""
    removed_after.append("ur-orphan")
    mc("run", "-d", "--name", "ur-orphan", "--share", "pid", "--userns-range", "auto", "--",
       "sh", "-c", "sleep 1000 & exec sleep 1000", check=True)
    first = _blocks()["ur-orphan"]
    monitor = json.loads(mc("inspect", "ur-orphan", check=True).stdout)["monitorPid"]
    os.kill(monitor, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while process_start_time(monitor) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    other = mc("run", "--userns-range", "auto", "--", "cat", "/proc/self/uid_map",
               check=True).stdout.split()
    assert other[1] != first
    assert _blocks().get("ur-orphan") == first
    mc("rm", "-f", "ur-orphan", check=True)
    assert "ur-orphan" not in _blocks()


def test_cleanup_reclaims_blocks_of_killed_runtimes():
    runtime = subprocess.Popen(
        [*MC, "run", "--name", "ur-gone", "--userns-range", "auto", "--", "sh", "-c",
         "echo ready; sleep 1000"], stdout=subprocess.PIPE, text=True)
    try:
        assert runtime.stdout.readline() == "ready\n"
        os.kill(runtime.pid, signal.SIGKILL)
        runtime.wait(10)
    finally:
        if runtime.poll() is None:
            runtime.kill()
            runtime.wait(10)
    assert "ur-gone" in _blocks()
    mc("cleanup", check=True)
    assert _blocks() == {}


@pytest.mark.parametrize("spec, why", [
    ("0", "must be from 1"),
    ("x", "is not a whole number"),
    (f"{SHARED.host_id}:10", "overlaps the shared uid range"),
    ("4294967000:65536", "ends after host id"),
])
def test_bad_ranges_are_refused(spec, why):
    result = mc("run", "--userns-range", spec, "--", "true")
    assert result.returncode == 125
    assert result.stderr.startswith("minicontainer: error: ") and why in result.stderr
    assert "userns_range" in result.stderr


@pytest.mark.parametrize("flags, why", [
    (["--userns", "host"], "needs a user namespace"),
    (["--no-overlay"], "needs the overlay"),
])
def test_auto_range_needs_a_user_namespace_and_the_overlay(flags, why):
    result = mc("run", "--userns-range", "auto", *flags, "--", "true")
    assert result.returncode == 125 and why in result.stderr


def test_explicit_range_maps_container_root_there():
    first = SHARED.host_id + 40 * 65536
    result = mc("run", "--userns-range", f"{first}:1000", "--", "sh", "-c",
                "cat /proc/self/uid_map; stat -c %u /etc", check=True)
    assert result.stdout.split() == ["0", str(first), "1000", "0"]
