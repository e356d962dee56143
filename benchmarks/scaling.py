"""How start-up grows with the number of volumes (`-v`) and of published ports
(`--net bridge -p`): the median `run -- /bin/true` at each count, and the cost of
each extra one.

    sudo .venv/bin/python benchmarks/scaling.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import common

VOLUMES = (0, 4, 16, 32)
PORTS = (0, 4, 16)
FIRST_PORT = 47000


def volume_flags(source: str, count: int) -> list[str]:
    return [flag for i in range(count) for flag in ("-v", f"{source}:/vol{i}:ro")]


def port_flags(count: int) -> list[str]:
    return ["--net", "bridge",
            *[flag for i in range(count) for flag in ("-p", f"127.0.0.1:{FIRST_PORT + i}:80")]]


def series(flag_sets: dict[int, list[str]], runs: int, warmup: int) -> dict[int, float]:
    """The median start-up, in ms, with each count's flags (alternating counts)."""
    commands = {str(count): [common.MINICONTAINER, "run", *flags, "--", "/bin/true"]
                for count, flags in flag_sets.items()}
    times = common.alternate(commands, runs, warmup)
    return {int(count): common.milliseconds(values) for count, values in times.items()}


def per_extra(medians: dict[int, float]) -> float:
    """The slope, in ms per extra volume or port (first to last count)."""
    counts = sorted(medians)
    return (medians[counts[-1]] - medians[counts[0]]) / (counts[-1] - counts[0])


def measure(runs: int, warmup: int) -> dict:
    with tempfile.TemporaryDirectory() as source:
        os.chmod(source, 0o755)
        volumes = series({n: volume_flags(source, n) for n in VOLUMES}, runs, warmup)
    ports = series({n: port_flags(n) for n in PORTS}, runs, warmup)
    return {"runs": runs, "volumes_ms": volumes, "ports_ms": ports,
            "ms_per_volume": per_extra(volumes), "ms_per_port": per_extra(ports)}


def report(result: dict) -> list[str]:
    def row(what: str, medians: dict[int, float]) -> str:
        return f"  {what:12}" + "".join(f" {n:>3}: {ms:6.1f}ms" for n, ms in medians.items())

    return [
        "start-up against volumes and published ports (median)",
        row("volumes", result["volumes_ms"]),
        row("ports", result["ports_ms"]),
        f"  {result['ms_per_volume']:.2f} ms per volume, "
        f"{result['ms_per_port']:.2f} ms per published port",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    common.require_root_and_tools()
    print("\n".join(report(measure(args.runs, args.warmup))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
