"""cgroup v2 limits, seen from inside the container, each with its unlimited twin.

Runs in a VM (make test-vm): under emulation a Python process takes about 1.5 s to
start, so each test starts as few containers as it can.  Workloads are bounded so
that the twin without a limit cannot hurt the VM either.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from helpers import mc
from minicontainer import Config, Container
from minicontainer.config import Mount, Resources, standard_mounts

pytestmark = pytest.mark.vm

HOG = "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"  # ~200 MB in the shell


def stats_of(result) -> dict[str, int]:
    pairs = (line.split() for line in result.stderr.splitlines())
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}


def test_memory_hog_is_oom_killed_at_its_limit():
    limited = mc("run", "--memory", "32m", "--stats", "--", "sh", "-c", HOG, timeout=300)
    assert limited.returncode == 137
    assert "hit its memory limit" in limited.stderr
    stats = stats_of(limited)
    assert stats["oom_kill"] >= 1
    assert stats["memory.peak"] <= 32 * 1024 * 1024
    unlimited = mc("run", "--", "sh", "-c", HOG, timeout=300)
    assert unlimited.returncode == 0 and unlimited.stdout == "survived\n"


# The bomb runs in a child shell, which dies when a fork fails; the outer one then
# uses only builtins, since at the limit nothing else could be started.
FORK_BOMB = ("sh -c 'i=0; while [ $i -lt 60 ]; do sleep 10 & i=$((i+1)); done' 2>/dev/null; "
             "read current < /sys/fs/cgroup/pids.current; echo $current; kill -9 -1")


def test_fork_bomb_stops_at_pids_max():
    limited = mc("run", "--pids-limit", "16", "--stats", "--", "sh", "-c", FORK_BOMB,
                 timeout=300)
    assert int(limited.stdout) <= 16
    assert stats_of(limited)["pids.max"] == 16
    unlimited = mc("run", "--", "sh", "-c", FORK_BOMB, timeout=300)
    assert int(unlimited.stdout) > 60


CPU_HOG = "timeout 3 sh -c 'while :; do :; done'; true"


def test_cpu_hog_is_throttled_to_its_quota():
    limited = stats_of(mc("run", "--cpus", "0.2", "--stats", "--", "sh", "-c", CPU_HOG,
                          timeout=300))
    unlimited = stats_of(mc("run", "--stats", "--", "sh", "-c", CPU_HOG, timeout=300))
    assert limited["cpu.nr_throttled"] > 0
    # 0.2 CPU for ~3 s is ~0.6 s of CPU time; emulation adds noise, so compare loosely.
    assert limited["cpu.usage_usec"] < 1_200_000
    assert limited["cpu.usage_usec"] < unlimited["cpu.usage_usec"] / 2
    assert unlimited.get("cpu.nr_throttled", 0) == 0


def test_cpuset_pins_to_the_listed_cpu():
    script = "grep Cpus_allowed_list /proc/self/status"
    pinned = mc("run", "--cpuset-cpus", "1", "--", "sh", "-c", script, check=True)
    assert pinned.stdout.split()[-1] == "1"
    free = mc("run", "--", "sh", "-c", script, check=True)
    assert free.stdout.split()[-1] == "0-1"


def _start_in_thread(container: Container, **kwargs) -> tuple[threading.Thread, list]:
    """Run the container in a thread; return once its process exists."""
    result = []

    def run():
        try:
            result.append(container.run(**kwargs))
        except BaseException as e:
            result.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    while container.pid is None and thread.is_alive():
        time.sleep(0.05)
    assert not result, f"the container ended at once: {result}"
    return thread, result


def test_freeze_stops_progress_and_thaw_resumes_it(tmp_path):
    counter = tmp_path / "counter"
    tmp_path.chmod(0o777)
    loop = "i=0; while :; do i=$((i+1)); echo $i > /out/counter; sleep 0.05; done"
    container = Container(Config(args=["sh", "-c", loop], mounts=[Mount(str(tmp_path), "/out")]))
    thread, _ = _start_in_thread(container)
    try:
        while not counter.exists() or not counter.read_text().strip():
            time.sleep(0.1)
        container.cgroup.freeze()
        frozen_at = counter.read_text()
        time.sleep(1.5)
        assert counter.read_text() == frozen_at
        container.cgroup.freeze(False)
        time.sleep(1.5)
        assert counter.read_text() != frozen_at
    finally:
        container.cgroup.kill()
        thread.join(60)


def test_cgroup_kill_ends_every_process():
    container = Container(Config(args=["sh", "-c", "sleep 100 & sleep 100 & sleep 100"]))
    thread, result = _start_in_thread(container)
    while len(container.cgroup.pids()) < 3:  # sh, and sleeps: sh execs the last itself
        time.sleep(0.1)
    container.cgroup.kill()
    thread.join(60)
    assert result == [137]


def test_the_container_cannot_raise_its_own_limit():
    script = "echo 67108864 > /sys/fs/cgroup/memory.max; cat /sys/fs/cgroup/memory.max"
    limited = mc("run", "--memory", "32m", "--", "sh", "-c", script)
    assert "Read-only file system" in limited.stderr
    assert limited.stdout.strip() == str(32 * 1024 * 1024)
    moved = mc("run", "--memory", "32m", "--", "sh", "-c", "echo $$ > /sys/fs/cgroup/cgroup.procs")
    assert moved.returncode != 0
    # The twin: with the cgroup tree writable and real root inside, the same write works.
    privileged = mc("run", "--memory", "32m", "--privileged", "--userns", "host", "--",
                    "sh", "-c", script)
    assert privileged.stdout.strip() == str(64 * 1024 * 1024)


def test_resources_from_oci_config_are_applied():
    cfg = Config.from_oci({
        "process": {"args": ["cat", "/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/memory.max"]},
        "root": {"path": None},
        # /proc, /sys/fs/cgroup and the rest, as a config.json lists them (no mqueue: no
        # IPC namespace of its own); the stored rootfs, overlaid
        "mounts": [m.to_oci() for m in standard_mounts(own_ipc=False)],
        "annotations": {"minicontainer.overlay": "true"},
        "linux": {"namespaces": [{"type": t} for t in ("pid", "mount", "user", "cgroup")],
                  "resources": {"pids": {"limit": 33}, "memory": {"limit": 50331648}}},
    })
    read_end, write_end = os.pipe()
    code = Container(cfg).run(stdout=write_end)
    os.close(write_end)
    out = os.read(read_end, 4096).decode().split()
    os.close(read_end)
    assert code == 0 and out == ["33", "50331648"]


def test_stats_api_reads_a_running_container():
    container = Container(Config(args=["sleep", "3"], resources=Resources(pids=10)))
    thread, _ = _start_in_thread(container)
    stats = container.stats()
    thread.join(60)
    assert stats["pids.max"] == 10 and stats["pids.current"] == 1
    assert container.stats()["pids.max"] == 10  # the last reading, after the end
