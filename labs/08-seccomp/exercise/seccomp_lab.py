"""Lab 08: a seccomp profile of your own, the only layer between root and the kernel.

Usage:  sudo minicontainer lab run 08 -- [--unconfined] COMMAND [ARG...]

Runs COMMAND in a minicontainer container that holds every capability, so that
nothing but the seccomp filter built from profile.json (beside this file) can
refuse a system call.  With --unconfined the same container runs with no filter
at all: the twin that shows what the profile takes away.

    sudo minicontainer lab run 08 -- mc-probe             # the calls your profile refuses
    sudo minicontainer lab run 08 -- --unconfined mc-probe

Fill in TODO 1 and 2 here, TODO 3 to 5 in profile.json (the README says how);
`sudo minicontainer lab check 08` tells you how far you are.
"""

import os
import subprocess
import sys

MINICONTAINER = [sys.executable, "-m", "minicontainer"]
PROFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profile.json")


def run_flags(unconfined: bool) -> list[str]:
    """The `minicontainer run` flags of the lab's container."""
    flags: list[str] = []
    # TODO 1: give the container every capability (--cap-add takes a name, or ALL):
    # then a call that fails can only have been refused by seccomp.
    # TODO 2: filter it with PROFILE (--security-opt seccomp=FILE), or with no filter at
    # all when `unconfined` (seccomp=unconfined). Without the flag, minicontainer
    # applies its own default profile, not yours.
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
