"""`make bench`: every benchmark in one run, side by side with runc, crun and
bubblewrap, reported as medians and ratios.

Prints the table, and records it for the docs' performance page: the results as
JSON, the table as Markdown (included by docs/performance.md) and a plot
(matplotlib, a dev extra), all in docs/performance/.

    sudo .venv/bin/python benchmarks/bench.py [--runs N] [--only startup,exec,...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import common
import concurrent_starts
import exec_latency
import resident
import scaling
import startup

RECORD_DIR = os.path.join(common.REPO, "docs", "performance")
BENCHMARKS = ("startup", "exec", "resident", "concurrent", "scaling")


def run(names: list[str], runs: int) -> dict:
    results: dict = {}
    for name in names:
        began = time.monotonic()
        if name == "startup":
            results[name] = startup.measure(runs, warmup=3)
        elif name == "exec":
            results[name] = exec_latency.measure(runs, warmup=3)
        elif name == "resident":
            results[name] = resident.measure(count=5)
        elif name == "concurrent":
            results[name] = concurrent_starts.measure(count=100)
        elif name == "scaling":
            results[name] = scaling.measure(max(runs // 2, 5), warmup=2)
        print(f"({name}: {time.monotonic() - began:.0f} s)", file=sys.stderr)
    return results


def report(results: dict) -> list[str]:
    reporters = {"startup": startup.report, "exec": exec_latency.report,
                 "resident": resident.report, "concurrent": concurrent_starts.report,
                 "scaling": scaling.report}
    lines = []
    for name, result in results.items():
        lines += reporters[name](result) + [""]
    return lines


def markdown(results: dict, host: dict, command: str) -> str:
    """The recorded table for docs/performance.md."""
    lines = [f"Measured on {time.strftime('%Y-%m-%d')} with `{command}`: kernel "
             f"{host['kernel']}, {host['cpu']}, {host['memory']}, Python {host['python']}, "
             f"{host['runc']}, {host['crun']}, {host['bwrap']}.", ""]
    if "startup" in results:
        result = results["startup"]
        lines += ["| start-up (`/bin/true`) | median | vs runc (pairwise) |", "|---|---|---|"]
        for name, median in result["median_ms"].items():
            pairwise = 1.0 if name == "runc" else (
                result["ratio"]["runc"] if name == "minicontainer"
                else result["ratio"]["runc"] / result["ratio"][name])
            lines.append(f"| {name} | {median:.1f} ms | {pairwise:.2f}x |")
        lines.append("")
    if "exec" in results:
        result = results["exec"]
        lines += ["| `exec C /bin/true` | median | vs runc |", "|---|---|---|"]
        runc = result["median_ms"]["runc"]
        for name, median in result["median_ms"].items():
            lines.append(f"| {name} | {median:.1f} ms | {median / runc:.2f}x |")
        lines.append("")
    if "resident" in results:
        result = results["resident"]
        lines += [f"Resident per detached container: minicontainer's monitor "
                  f"{result['monitor_pss_kib'] / 1024:.1f} MB PSS "
                  f"({result['monitor_uss_kib'] / 1024:.1f} MB private); runc and crun keep "
                  "no process.", ""]
    if "concurrent" in results:
        result = results["concurrent"]
        lines += [f"{result['containers']} detached containers started at once: "
                  f"{result['containers'] - len(result['failed'])} started, "
                  f"{result['per_second']:.1f} containers/s, "
                  f"{result['total_pss_kib'] / 1024:.0f} MB PSS in all while running, "
                  f"{'nothing' if not result['left_behind'] else 'something'} left behind "
                  "after `rm -f`.", ""]
    if "scaling" in results:
        result = results["scaling"]
        lines += [f"Each volume adds {result['ms_per_volume']:.2f} ms to a start, each "
                  f"published port {result['ms_per_port']:.2f} ms; `--net bridge` itself "
                  f"{result['ports_ms'][0] - result['volumes_ms'][0]:.0f} ms.", ""]
    return "\n".join(lines)


def plot(results: dict, path: str) -> bool:
    """Bar charts of start-up and exec medians; False where matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = [(name, title) for name, title in (("startup", "start-up: run /bin/true"),
                                                ("exec", "exec /bin/true"))
              if name in results]
    if not panels:
        return False
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.2), squeeze=False)
    for axis, (name, title) in zip(axes[0], panels, strict=True):
        medians = results[name]["median_ms"]
        axis.barh(list(medians), list(medians.values()),
                  color=["#c0392b" if n == "minicontainer" else "#7f8c8d" for n in medians])
        axis.invert_yaxis()
        axis.set_xlabel("median, ms")
        axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated, of {', '.join(BENCHMARKS)}")
    parser.add_argument("--no-record", action="store_true",
                        help="print only; leave docs/performance/ as it is")
    args = parser.parse_args()
    names = [name for name in args.only.split(",") if name]
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"--only: {', '.join(sorted(unknown))} is not a benchmark")
    common.require_root_and_tools()
    command = "sudo make bench" if not sys.argv[1:] else \
        f"sudo .venv/bin/python benchmarks/bench.py {' '.join(sys.argv[1:])}"
    common.enter_private_mount_namespace()
    host = common.machine()
    results = run(names, args.runs)
    print("\n".join(report(results)))
    if args.no_record:
        return 0
    os.makedirs(RECORD_DIR, exist_ok=True)
    with open(os.path.join(RECORD_DIR, "results.json"), "w") as f:
        json.dump({"machine": host, "command": command, "results": results}, f, indent=1)
    with open(os.path.join(RECORD_DIR, "results.md"), "w") as f:
        f.write(markdown(results, host, command))
    if not plot(results, os.path.join(RECORD_DIR, "medians.png")):
        print("bench: no plot (matplotlib is a dev extra: pip install -e '.[dev]')",
              file=sys.stderr)
    print(f"recorded in {RECORD_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
