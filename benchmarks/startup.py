"""Start-up time of `minicontainer run -- /bin/true` beside runc and bubblewrap.

All three run /bin/true on the same busybox rootfs, alternating run by run so
that drifts in machine load hit each of them alike.  Reported: the median time
of each and the median of the pairwise ratios (minicontainer / other).

On a host whose cgroup v2 mount has no controllers (the hybrid layout of the
development machines) runc would write to the v1 hierarchies.  So everything
runs in a private mount namespace where the controller-less cgroup2 mount is
bound over /sys/fs/cgroup: runc takes its v2 path there and touches no v1 file.

    sudo .venv/bin/python benchmarks/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOTFS = "/var/lib/minicontainer/rootfs/busybox"
HYBRID_CGROUP2 = "/sys/fs/cgroup/unified"
INNER = "MC_BENCH_INNER"


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


def runc_bundle(workdir: str) -> str:
    bundle = os.path.join(workdir, "bundle")
    os.mkdir(bundle)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    spec["root"]["path"] = ROOTFS
    with open(path, "w") as f:
        json.dump(spec, f)
    return bundle


def commands(bundle: str, runc_root: str) -> dict[str, list[str]]:
    minicontainer = os.path.join(REPO, ".venv", "bin", "minicontainer")
    return {
        "minicontainer": [minicontainer, "run", "--", "/bin/true"],
        "runc": ["runc", "--root", runc_root, "run", "--bundle", bundle, "bench"],
        "bwrap": ["bwrap", "--unshare-all", "--bind", ROOTFS, "/", "--proc", "/proc",
                  "--dev", "/dev", "/bin/true"],
    }


def time_once(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("startup.py: run as root (runc and minicontainer need it)")
    for tool in ("runc", "bwrap", "unshare"):
        if shutil.which(tool) is None:
            sys.exit(f"startup.py: {tool} is missing (scripts/bootstrap installs it)")
    enter_private_mount_namespace()

    with tempfile.TemporaryDirectory() as workdir:
        cmds = commands(runc_bundle(workdir), os.path.join(workdir, "runc-state"))
        order = list(cmds)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for i in range(args.warmup + args.runs):
            for name in order[i % len(order):] + order[:i % len(order)]:
                elapsed = time_once(cmds[name])
                if i >= args.warmup:
                    times[name].append(elapsed)

    mine = times["minicontainer"]
    print(f"{'runtime':15} {'median':>9} {'min':>9}   ({args.runs} runs each, alternating)")
    for name, values in times.items():
        print(f"{name:15} {statistics.median(values) * 1000:7.1f}ms "
              f"{min(values) * 1000:7.1f}ms")
    for other in ("runc", "bwrap"):
        ratio = statistics.median(m / o for m, o in zip(mine, times[other], strict=True))
        print(f"minicontainer / {other}: {ratio:.2f}x (median of pairwise ratios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
