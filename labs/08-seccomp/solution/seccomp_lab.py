"""Lab 08: a seccomp profile of your own, the only layer between root and the kernel.

Usage:  sudo minicontainer lab run 08 -- [--unconfined] COMMAND [ARG...]

Runs COMMAND in a minicontainer container that holds every capability, so that
nothing but the seccomp filter built from profile.json (beside this file) can
refuse a system call.  With --unconfined the same container runs with no filter
at all: the twin that shows what the profile takes away.

    sudo minicontainer lab run 08 -- mc-probe             # the calls your profile refuses
    sudo minicontainer lab run 08 -- --unconfined mc-probe
"""

import os
import subprocess
import sys

MINICONTAINER = [sys.executable, "-m", "minicontainer"]
PROFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profile.json")


def run_flags(unconfined: bool) -> list[str]:
    """The `minicontainer run` flags of the lab's container."""
    flags = ["--cap-add", "ALL"]
    flags += ["--security-opt", "seccomp=unconfined" if unconfined else f"seccomp={PROFILE}"]
    return flags


def main() -> int:
    """Run COMMAND in the container; its exit status is ours."""
    args = sys.argv[1:]
    unconfined = args[:1] == ["--unconfined"]
    command = args[1:] if unconfined else args
    if not command:
        sys.exit("usage: seccomp_lab.py [--unconfined] COMMAND [ARG...]")
    return subprocess.run([*MINICONTAINER, "run", *run_flags(unconfined), "--",
                           *command]).returncode


if __name__ == "__main__":
    sys.exit(main())
