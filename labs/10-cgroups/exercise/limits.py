"""Lab 10: a cgroup of the container's own: memory, processes and CPU rationed.

Usage:  sudo minicontainer lab run 10 -- [--memory SIZE] [--pids N] [--cpus X] COMMAND [ARG...]

Runs COMMAND in a new cgroup v2 with the limits given, as `docker run --memory 32m
--pids-limit 16 --cpus 0.5` would (sizes as in `minicontainer run`: 32m, 1g).  While
it runs, SIGUSR1 to this program freezes every process of the cgroup (`docker pause`)
and SIGUSR2 thaws them.  When COMMAND ends, whatever it left running in the cgroup is
killed and the cgroup removed.  Needs cgroup v2 with the memory, pids and cpu
controllers: run it in the lab's VM.

Fill in the four TODOs; `sudo minicontainer lab check 10` tells you how far you are.
"""

import argparse
import os
import signal
import sys

from minicontainer import cgroups
from minicontainer.config import Resources

EXIT_ERROR = 125


def parse(argv: list[str]) -> argparse.Namespace:
    """The limits and COMMAND."""
    parser = argparse.ArgumentParser(prog="limits.py")
    parser.add_argument("--memory", help="memory.max, e.g. 32m")
    parser.add_argument("--pids", help="pids.max: how many processes at most")
    parser.add_argument("--cpus", help="cpu.max as a number of CPUs, e.g. 0.5")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("give a COMMAND")
    return args


def make_cgroup(limits: Resources) -> cgroups.Cgroup:
    """A new cgroup for COMMAND, its limit files written."""
    # TODO 1: find this host's cgroup v2 (cgroups.find_hierarchy), turn `limits` into
    # the files that put them in force (cgroups.limit_files), and create a cgroup
    # named f"lab10-{os.getpid()}" with those files (cgroups.Cgroup.create).
    return None


def report(cgroup: cgroups.Cgroup) -> None:
    """What the cgroup counted, on stderr: the counters of the controllers it has."""
    counted = {name: value for name, value in cgroup.stats().items() if value is not None}
    print("limits.py: " + ", ".join(f"{name} {value}" for name, value in counted.items()),
          file=sys.stderr)


def main() -> int:
    """Make the cgroup, run COMMAND in it, remove it."""
    args = parse(sys.argv[1:])
    limits = Resources.from_flags(memory=args.memory, pids_limit=args.pids, cpus=args.cpus)
    try:
        cgroup = make_cgroup(limits)
    except cgroups.CgroupError as e:
        print(f"limits.py: error: {e.strerror}", file=sys.stderr)
        return EXIT_ERROR
    # TODO 3: `docker pause`: on SIGUSR1 freeze the whole cgroup, on SIGUSR2 thaw it
    # (Cgroup.freeze). Without a handler, SIGUSR1 simply kills this program.
    child = os.fork()
    if child == 0:
        try:
            # TODO 2: move this process (the child, not its parent) into the cgroup
            # before it becomes COMMAND: a process is in the cgroup whose
            # cgroup.procs it was written to, and what it forks later starts there.
            os.execvp(args.command[0], args.command)
        finally:
            os._exit(127)
    _, status = os.waitpid(child, 0)
    # TODO 4: COMMAND may have left processes behind (`sleep 60 &`). Report what the
    # cgroup counted (report()), then remove the cgroup with everything still in it
    # (Cgroup.destroy), even if something above failed.
    return _exit_code(status)


def _exit_code(status: int) -> int:
    """A wait status as a shell would report it (128 + N for death by signal N)."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
