"""Concurrent starts: COUNT detached containers started at once, all of which must
succeed; reported: start-up throughput (containers/s), what the running ones cost
on the host (the monitors' PSS, summed), and that removing them leaves nothing.

    sudo .venv/bin/python benchmarks/concurrent_starts.py [--count N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time

import common
import resident

from minicontainer import cgroups
from minicontainer.state import CONTAINERS_DIR, STATE_ROOT


def _left_behind(names: list[str]) -> list[str]:
    """Whatever of these containers the host still holds: state, scratch, cgroup."""
    places = [STATE_ROOT, CONTAINERS_DIR]
    cgroup = cgroups.container_path("")
    if cgroup:
        places.append(cgroup)
    return [os.path.join(place, name) for place in places for name in names
            if os.path.lexists(os.path.join(place, name))]


def measure(count: int) -> dict:
    names = [f"bench-many-{os.getpid()}-{i}" for i in range(count)]
    failures: list[str] = []

    def start(name: str) -> None:
        result = subprocess.run([common.MINICONTAINER, "run", "-d", "--name", name, "--",
                                 "sleep", "600"], capture_output=True, text=True)
        if result.returncode != 0:
            failures.append(f"{name}: {result.stderr.strip()}")

    threads = [threading.Thread(target=start, args=(name,)) for name in names]
    began = time.perf_counter()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.perf_counter() - began
        running = [name for name in names if not any(f.startswith(f"{name}:") for f in failures)]
        states = [resident.record(name) for name in running]
        for state in states:
            resident.settled(state["monitorPid"])
        pss = sum(common.pss_kib(pid) for state in states
                  for pid in resident.resident_processes(state))
    finally:
        subprocess.run([common.MINICONTAINER, "rm", "-f", *names], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return {
        "containers": count,
        "failed": failures,
        "seconds": took,
        "per_second": count / took,
        "total_pss_kib": pss,
        "left_behind": _left_behind(names),
    }


def report(result: dict) -> list[str]:
    ok = result["containers"] - len(result["failed"])
    lines = [
        f"concurrent: {result['containers']} detached containers started at once",
        f"  {ok} started in {result['seconds']:.1f} s: {result['per_second']:.1f} containers/s",
        f"  resident while running: {result['total_pss_kib'] / 1024:.0f} MB PSS in all",
        f"  left behind after rm -f: {', '.join(result['left_behind']) or 'nothing'}",
    ]
    lines += [f"  FAILED {failure}" for failure in result["failed"]]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()
    common.require_root_and_tools()
    result = measure(args.count)
    print("\n".join(report(result)))
    return 1 if result["failed"] or result["left_behind"] else 0


if __name__ == "__main__":
    sys.exit(main())
