"""Resident cost: what stays on the host per detached container, beside the
container's own processes.

minicontainer keeps a monitor per detached container (it waits, writes the log,
records the exit, frees the container): once the container runs, that process is
mc-monitor (csrc/monitor.c), not Python.  runc and crun keep nothing once `run -d`
returns (podman adds conmon, about 1 MB, for that job).  Started: COUNT detached
`sleep` containers; measured: for each, the monitor and any process under it that
is not the container's, as proportional set size (PSS: pages shared by several
processes are divided among them) and private memory (USS).

    sudo .venv/bin/python benchmarks/resident.py [--count N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import common


def private_kib(pid: int) -> int:
    """Memory only this process maps (Private_Clean + Private_Dirty), in KiB."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def record(name: str) -> dict:
    return json.loads(subprocess.run([common.MINICONTAINER, "inspect", name], check=True,
                                     capture_output=True, text=True).stdout)


def children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(child) for child in f.read().split()]
    return found


def resident_processes(state: dict) -> list[int]:
    """The monitor and what runs under it, but the container (its init and below)."""
    found, todo = [], [state["monitorPid"]]
    while todo:
        pid = todo.pop()
        if pid != state["pid"]:
            found.append(pid)
            todo += children(pid)
    return found


def program(pid: int) -> str:
    return os.path.basename(os.readlink(f"/proc/{pid}/exe"))


def settled(monitor: int) -> None:
    """Wait until the monitor has become mc-monitor: `run -d` returns just before."""
    deadline = time.monotonic() + 10
    while program(monitor) != "mc-monitor" and time.monotonic() < deadline:
        time.sleep(0.01)


def measure(count: int) -> dict:
    names = [f"bench-resident-{os.getpid()}-{i}" for i in range(count)]
    started = []
    try:
        for name in names:
            subprocess.run([common.MINICONTAINER, "run", "-d", "--name", name, "--", "sleep",
                            "600"], check=True, stdout=subprocess.DEVNULL)
            started.append(name)
        states = [record(name) for name in names]
        for state in states:
            settled(state["monitorPid"])
        resident = [resident_processes(state) for state in states]
        pss = [sum(common.pss_kib(pid) for pid in pids) for pids in resident]
        uss = [sum(private_kib(pid) for pid in pids) for pids in resident]
        programs = sorted({program(pid) for pids in resident for pid in pids})
    finally:
        if started:
            subprocess.run([common.MINICONTAINER, "rm", "-f", *started],
                           stdout=subprocess.DEVNULL)
    return {
        "containers": count,
        "monitor_pss_kib": statistics.median(pss),
        "monitor_uss_kib": statistics.median(uss),
        "total_pss_kib": sum(pss),
        "processes": max(len(pids) for pids in resident),
        "programs": programs,
        "runc_kib": 0,
        "crun_kib": 0,
    }


def report(result: dict) -> list[str]:
    return [
        f"resident per detached container ({result['containers']} running)",
        f"  minicontainer monitor        {result['monitor_pss_kib'] / 1024:6.2f} MB PSS "
        f"({result['monitor_uss_kib'] / 1024:.2f} MB private; {result['processes']} "
        f"process{'es' if result['processes'] > 1 else ''}: {', '.join(result['programs'])})",
        "  runc, crun                      0.0 MB (nothing stays after run -d)",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5)
    args = parser.parse_args()
    common.require_root_and_tools()
    print("\n".join(report(measure(args.count))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
