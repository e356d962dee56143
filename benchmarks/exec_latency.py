"""Exec latency: `exec C /bin/true` into a running container, minicontainer beside
runc and crun, each container started detached running `sleep`.

    sudo .venv/bin/python benchmarks/exec_latency.py [--runs N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile

import common

NAME = f"bench-exec-{os.getpid()}"


@contextlib.contextmanager
def running_containers(workdir: str):
    """A sleeping container of each runtime; the command that execs /bin/true in it."""
    oci: dict[str, list[str]] = {}
    try:
        for runtime, resources in (("runc", True), ("crun", False)):
            bundle = common.oci_bundle(os.path.join(workdir, runtime), ["sleep", "600"],
                                       resources)
            oci[runtime] = [runtime, "--root", os.path.join(workdir, f"{runtime}-state")]
            subprocess.run([*oci[runtime], "run", "--detach", "--bundle", bundle, NAME],
                           check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        subprocess.run([common.MINICONTAINER, "run", "-d", "--name", NAME, "--", "sleep",
                        "600"], check=True, stdout=subprocess.DEVNULL)
        yield {
            "minicontainer": [common.MINICONTAINER, "exec", NAME, "/bin/true"],
            **{runtime: [*command, "exec", NAME, "/bin/true"] for runtime, command in oci.items()},
        }
    finally:
        subprocess.run([common.MINICONTAINER, "rm", "-f", NAME], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        for command in oci.values():
            subprocess.run([*command, "delete", "--force", NAME], stderr=subprocess.DEVNULL)


def measure(runs: int, warmup: int) -> dict:
    with tempfile.TemporaryDirectory() as workdir, running_containers(workdir) as commands:
        times = common.alternate(commands, runs, warmup)
    return common.summary(times, runs)


def report(result: dict) -> list[str]:
    return common.table("exec /bin/true", result)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    common.require_root_and_tools()
    common.enter_private_mount_namespace()
    print("\n".join(report(measure(args.runs, args.warmup))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
