"""What every benchmark shares: the private mount namespace, the OCI bundles of runc
and crun, alternating timed runs, and the statistics reported (medians, and the
median of pairwise ratios).

On a host whose cgroup v2 mount has no controllers (the hybrid layout of the
development machines) runc and crun would write to the v1 hierarchies.  So the
whole benchmark runs in a private mount namespace where the controller-less
cgroup2 mount is bound over /sys/fs/cgroup: they take their v2 path there and
touch no v1 file.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINICONTAINER = os.path.join(REPO, ".venv", "bin", "minicontainer")
ROOTFS = "/var/lib/minicontainer/rootfs/busybox"
HYBRID_CGROUP2 = "/sys/fs/cgroup/unified"
INNER = "MC_BENCH_INNER"
TOOLS = ("runc", "crun", "bwrap", "unshare")


def require_root_and_tools() -> None:
    """Exit with one line unless this runs as root with every runtime installed; then
    compile minicontainer's bytecode (:func:`compile_bytecode`)."""
    if os.geteuid() != 0:
        sys.exit("bench: run as root (the runtimes need it)")
    for tool in TOOLS:
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is missing (scripts/bootstrap installs it)")
    compile_bytecode()


def compile_bytecode() -> None:
    """Bring every ``.pyc`` of the package up to date, as an installed package has them.

    In a checkout being edited a stale ``.pyc`` is compiled again on each start, and
    with ``PYTHONDONTWRITEBYTECODE`` set it stays stale: every run would then time
    the compiler (about 30 ms for cli.py alone) rather than the runtime.
    """
    package = os.path.join(REPO, "minicontainer")
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True,
                   stdout=subprocess.DEVNULL)


def enter_private_mount_namespace() -> None:
    """Re-run this script under unshare, with cgroup2 bound over /sys/fs/cgroup if hybrid."""
    if os.environ.get(INNER):
        return
    setup = ""
    if os.path.isdir(HYBRID_CGROUP2):
        setup = f"mount --bind {HYBRID_CGROUP2} /sys/fs/cgroup && "
    command = setup + 'exec "$0" "$@"'
    os.environ[INNER] = "1"
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          command, sys.executable, *sys.argv])


def oci_bundle(directory: str, args: list[str], resources: bool = True) -> str:
    """A ``runc spec`` bundle running ``args`` on the busybox rootfs.

    Without ``resources`` it has no ``linux.resources``: crun then loads no device
    program, for which it raises RLIMIT_MEMLOCK, which some machines refuse.
    """
    os.makedirs(directory)
    subprocess.run(["runc", "spec"], cwd=directory, check=True)
    path = os.path.join(directory, "config.json")
    with open(path) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = args
    spec["root"]["path"] = ROOTFS
    if not resources:
        spec["linux"].pop("resources", None)
    with open(path, "w") as f:
        json.dump(spec, f)
    return directory


def time_once(command: list[str]) -> float:
    """Seconds that ``command`` took, start to exit; it must succeed."""
    start = time.perf_counter()
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def alternate(commands: dict[str, list[str]], runs: int, warmup: int) -> dict[str, list[float]]:
    """Time each command ``runs`` times, rotating the order run by run so that a drift
    in the machine's load hits each of them alike; the first ``warmup`` rounds are
    not counted."""
    order = list(commands)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(warmup + runs):
        for name in order[i % len(order):] + order[:i % len(order)]:
            elapsed = time_once(commands[name])
            if i >= warmup:
                times[name].append(elapsed)
    return times


def ratio(mine: list[float], other: list[float]) -> float:
    """The median of the pairwise ratios mine[i] / other[i] (same round, same load)."""
    return statistics.median(m / o for m, o in zip(mine, other, strict=True))


def milliseconds(values: list[float]) -> float:
    return statistics.median(values) * 1000


def summary(times: dict[str, list[float]], runs: int) -> dict:
    """Each command's median (and fastest) time, and minicontainer's pairwise ratio to
    each of the others."""
    mine = times["minicontainer"]
    return {
        "runs": runs,
        "median_ms": {name: milliseconds(values) for name, values in times.items()},
        "min_ms": {name: min(values) * 1000 for name, values in times.items()},
        "ratio": {name: ratio(mine, values) for name, values in times.items()
                  if name != "minicontainer"},
    }


def table(title: str, result: dict) -> list[str]:
    """The medians of a :func:`summary` beside runc's, then the pairwise ratios."""
    lines = [f"{title:28} {'median':>9} {'vs runc':>8}"]
    runc = result["median_ms"]["runc"]
    for name, median in result["median_ms"].items():
        lines.append(f"  {name:26} {median:7.1f}ms {median / runc:7.2f}x")
    for name, value in result["ratio"].items():
        lines.append(f"  minicontainer / {name}: {value:.2f}x (median of pairwise ratios)")
    return lines


def pss_kib(pid: int) -> int:
    """The proportional set size of a process, in KiB (shared pages divided among the
    processes that map them)."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise ValueError(f"/proc/{pid}/smaps_rollup has no Pss line")


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    with open("/proc/cpuinfo") as f:
        models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    with open("/proc/meminfo") as f:
        memory_kib = int(f.readline().split()[1])
    versions = {}
    for tool, flag in (("runc", "--version"), ("crun", "--version"), ("bwrap", "--version")):
        out = subprocess.run([tool, flag], capture_output=True, text=True).stdout
        versions[tool] = out.splitlines()[0] if out else "?"
    return {
        "kernel": os.uname().release,
        "cpu": f"{len(models)} x {models[0] if models else '?'}",
        "memory": f"{memory_kib // 1024 // 1024} GiB",
        "python": sys.version.split()[0],
        **versions,
    }
