"""Resident cost: what stays on the host per detached container, beside the
container's own processes.

minicontainer keeps a monitor per detached container (it waits, writes the log,
records the exit, frees the container); runc and crun keep nothing once `run -d`
returns (podman adds conmon, about 1 MB, for that job).  Started: COUNT detached
`sleep` containers; measured: each monitor's proportional set size (PSS: pages
shared by several monitors are divided among them) and its private memory (USS).

    sudo .venv/bin/python benchmarks/resident.py [--count N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

import common


def private_kib(pid: int) -> int:
    """Memory only this process maps (Private_Clean + Private_Dirty), in KiB."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def monitor_pid(name: str) -> int:
    record = subprocess.run([common.MINICONTAINER, "inspect", name], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(record)["monitorPid"]


def measure(count: int) -> dict:
    names = [f"bench-resident-{os.getpid()}-{i}" for i in range(count)]
    started = []
    try:
        for name in names:
            subprocess.run([common.MINICONTAINER, "run", "-d", "--name", name, "--", "sleep",
                            "600"], check=True, stdout=subprocess.DEVNULL)
            started.append(name)
        monitors = [monitor_pid(name) for name in names]
        pss = [common.pss_kib(pid) for pid in monitors]
        uss = [private_kib(pid) for pid in monitors]
    finally:
        if started:
            subprocess.run([common.MINICONTAINER, "rm", "-f", *started],
                           stdout=subprocess.DEVNULL)
    return {
        "containers": count,
        "monitor_pss_kib": statistics.median(pss),
        "monitor_uss_kib": statistics.median(uss),
        "total_pss_kib": sum(pss),
        "runc_kib": 0,
        "crun_kib": 0,
    }


def report(result: dict) -> list[str]:
    return [
        f"resident per detached container ({result['containers']} running)",
        f"  minicontainer monitor        {result['monitor_pss_kib'] / 1024:6.1f} MB PSS "
        f"({result['monitor_uss_kib'] / 1024:.1f} MB private)",
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
