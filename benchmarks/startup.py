"""Start-up: `minicontainer run -- /bin/true` beside runc, crun, bubblewrap, and the
floor of any Python runtime (an interpreter that starts and exits).

All run /bin/true on the same busybox rootfs, alternating run by run.  runc runs
the `runc spec` default bundle; crun the same bundle without `linux.resources`
(see common.oci_bundle); bwrap `--unshare-all`.

    sudo .venv/bin/python benchmarks/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import common


def commands(workdir: str) -> dict[str, list[str]]:
    runc_bundle = common.oci_bundle(os.path.join(workdir, "runc"), ["/bin/true"])
    crun_bundle = common.oci_bundle(os.path.join(workdir, "crun"), ["/bin/true"],
                                    resources=False)
    return {
        "minicontainer": [common.MINICONTAINER, "run", "--", "/bin/true"],
        "runc": ["runc", "--root", os.path.join(workdir, "runc-state"), "run", "--bundle",
                 runc_bundle, "bench"],
        "crun": ["crun", "--root", os.path.join(workdir, "crun-state"), "run", "--bundle",
                 crun_bundle, "bench"],
        "bwrap": ["bwrap", "--unshare-all", "--bind", common.ROOTFS, "/", "--proc", "/proc",
                  "--dev", "/dev", "/bin/true"],
        "python floor": ["/usr/bin/python3", "-I", "-S", "-c", "pass"],
    }


def measure(runs: int, warmup: int) -> dict:
    """Median start-up of each, and minicontainer's ratio to each other."""
    with tempfile.TemporaryDirectory() as workdir:
        times = common.alternate(commands(workdir), runs, warmup)
    return common.summary(times, runs)


def report(result: dict) -> list[str]:
    return common.table("start-up: run /bin/true", result)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    common.require_root_and_tools()
    common.enter_private_mount_namespace()
    print("\n".join(report(measure(args.runs, args.warmup))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
