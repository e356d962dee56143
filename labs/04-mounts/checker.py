"""Checks of lab 04: the mounts the student's setup_mounts.py gives its container, judged
from inside (mc-probe, a harmless write to /proc/sys) and from the mount table of the
host it ran on.

The program runs inside a stand-in host (throwaway mount and UTS namespaces,
:class:`minicontainer.labs.StandInHost`) in which shared/ is a shared mount, as
systemd makes every mount of a host: a mount of the container that propagates lands
on the stand-in's mount table, never on the real host's.  The kernel-wide pitfalls
(core_pattern, sysrq) are never run weakened here.
"""

import json
import os
import subprocess

from minicontainer import labs
from minicontainer.labs import StandInHost, failed, minicontainer, passed, skipped
from minicontainer.namespaces import Namespace
from minicontainer.state import remove_tree

PROGRAM = "setup_mounts.py"
LAYERS = ("upper", "work", "merged", "shared")
KERNEL_WIDE = ("core-pattern", "sysrq-trigger")
SYSCTL = "/proc/sys/kernel/hostname"  # writing it back unchanged is harmless anywhere
STAND_IN = Namespace.MNT | Namespace.UTS


def prepare(workspace: str) -> list[str]:
    """lower/ (a copy of the busybox rootfs), the overlay's empty directories and
    shared/, the volume, beside setup_mounts.py."""
    made = []
    if labs.copy_default_rootfs(os.path.join(workspace, "lower")):
        made.append("lower/: a copy of the busybox rootfs, the image of lab 03")
    missing = [name for name in LAYERS if not os.path.lexists(os.path.join(workspace, name))]
    for name in missing:
        os.mkdir(os.path.join(workspace, name), 0o755)
    if missing:
        made.append(f"{', '.join(n + '/' for n in missing)}: empty (shared/ is the volume)")
    return made


def _share(host: StandInHost, path: str) -> None:
    """Make ``path`` a shared mount of its own in the stand-in (a bind onto itself)."""
    enter = host.preexec("/")
    for args in (["mount", "--bind", path, path], ["mount", "--make-shared", path]):
        subprocess.run(args, preexec_fn=enter, check=True, capture_output=True, timeout=10)


def _failed_to_run(ran, command: str):
    return failed(f"`{command}`: {ran.summary()}",
                  "run it by hand (`sudo minicontainer lab run 04 -- mount`) and read the "
                  "traceback")


def _probe(ctx):
    """What mc-probe inside the student's container reports (None if it did not run)."""
    with StandInHost(STAND_IN) as host:
        ran = ctx.run(PROGRAM, "mc-probe", "--json", host=host)
    try:
        return json.loads(ran.stdout), ran
    except ValueError:
        return None, ran


def private_propagation(ctx):
    """a mount made inside the container stays there: the host's mount table never gets it"""
    name = f"lab-{ctx.nonce}"
    point = os.path.join(ctx.program("shared"), name)
    os.mkdir(point, 0o755)
    try:
        with StandInHost(STAND_IN) as host:
            _share(host, ctx.program("shared"))
            ran = ctx.run(PROGRAM, "sh", "-c", f"mount -t tmpfs {name} /shared/{name} && "
                          f"echo mounted", host=host)
            leaked = [row for row in host.mount_table() if f" {name} " in row]
    finally:
        remove_tree(point)
    if leaked:
        return failed(f"the tmpfs COMMAND mounted on /shared/{name} appeared on the host it "
                      f"ran on, at shared/{name} (a stand-in host whose shared/ is a shared "
                      "mount, as systemd makes them; the real host's table is untouched)",
                      "the container's mount namespace starts as a copy of the host's, and a "
                      "copy of a shared mount stays its peer: make every mount private before "
                      "you take the volume or mount anything")
    if ran.returncode != 0 or "mounted" not in ran.stdout:
        return _failed_to_run(ran, f"setup_mounts.py sh -c 'mount -t tmpfs {name} "
                              f"/shared/{name}'")
    return passed(f"COMMAND mounted a tmpfs on /shared/{name}; shared/ on the host is a "
                  "shared mount, and it got nothing")


def masked_paths(ctx):
    """the kernel-wide files of /proc and /sys are masked: they read empty inside"""
    seen, ran = _probe(ctx)
    if seen is None:
        return _failed_to_run(ran, "setup_mounts.py mc-probe --json")
    present = {path: state for path, state in seen["masked_paths"].items()
               if state["state"] != "absent"}
    exposed = sorted(path for path, state in present.items()
                     if state["state"] != "masked" or state["readable"])
    if exposed:
        return failed(f"readable inside: {', '.join(exposed)} (files of the whole kernel: "
                      "its keys, its timers, its interrupts)",
                      "mask them inside the container's root, once its /proc and /sys are "
                      "mounted: mask_paths() takes that root and the paths as the container "
                      "will see them")
    missing = sorted(path for path, state in seen["masked_paths"].items()
                     if state["state"] == "absent" and os.path.exists(path))
    if missing:
        return failed(f"inside, {', '.join(missing)} do not exist although the host has them",
                      "mask them; do not leave /proc or /sys out: the container needs both")
    return passed(f"mc-probe inside: {', '.join(sorted(present))} masked, nothing read "
                  "from them; the others are not in this kernel")


def readonly_paths(ctx):
    """the kernel's knobs (/proc/sys, /proc/sysrq-trigger, ...) refuse writes (EROFS)"""
    seen, ran = _probe(ctx)
    if seen is None:
        return _failed_to_run(ran, "setup_mounts.py mc-probe --json")
    writable = sorted(path for path, state in seen["readonly_paths"].items()
                      if state["writable"] and path.startswith("/proc"))
    with StandInHost(STAND_IN) as host:
        wrote = ctx.run(PROGRAM, "sh", "-c", f"v=$(cat {SYSCTL}) && echo \"$v\" > {SYSCTL} "
                        "&& echo WROTE", host=host)
    if writable or "WROTE" in wrote.stdout:
        shown = writable + ([SYSCTL] if "WROTE" in wrote.stdout else [])
        return failed(f"writable inside: {', '.join(shown)} (the checker wrote {SYSCTL} "
                      "back unchanged)",
                      "readonly_paths() binds each path of the container's root onto itself "
                      "read-only: call it with that root once /proc is mounted, before the "
                      "pivot (after it the root's host path means nothing)")
    if f"can't open '{SYSCTL}'" in wrote.stderr:
        return failed(f"inside, {SYSCTL} cannot be read: {wrote.summary()}",
                      "/proc/sys is hidden: it belongs to the read-only list, which keeps it "
                      "readable, not to the masked one")
    if "Read-only file system" not in wrote.stderr:
        return _failed_to_run(wrote, f"setup_mounts.py sh -c 'echo ... > {SYSCTL}'")
    refused = sorted(path for path, state in seen["readonly_paths"].items()
                     if state["why"] == "Read-only file system")
    return passed(f"`echo ... > {SYSCTL}` inside: Read-only file system; mc-probe: "
                  f"{', '.join(refused)} read-only")


def pitfall_propagation(ctx):
    """the pitfall in the catalogue: propagation-leak (rshared propagation)"""
    return ctx.pitfall("propagation-leak")


def pitfall_masked(ctx):
    """the pitfall in the catalogue: masked-proc (host keys through /proc/keys)"""
    return ctx.pitfall("masked-proc")


def pitfall_kernel_wide(ctx):
    """the pitfalls that change the whole kernel: core-pattern, sysrq-trigger"""
    from minicontainer import escapes
    from minicontainer.escapes.base import BLOCKED

    notes = []
    for name in KERNEL_WIDE:
        missing = escapes.find(name).missing()
        if missing:
            notes.append(f"{name}: {missing}")
            continue
        hard = ctx.escape(name, weakened=False)
        answer = (hard.evidence.splitlines() or [""])[-1].strip()
        if hard.verdict != BLOCKED:
            return failed(f"`minicontainer escape run {name}`: {hard.verdict} ({answer})",
                          "the runtime does not behave as the catalogue documents: run "
                          f"`minicontainer escape run {name}` and read its output")
        notes.append(f"{name}: default BLOCKED ({answer}); weakened, it would change this "
                     "kernel's settings, which `lab check` never does")
    return skipped("permission to change kernel-wide state (only a throwaway VM may: "
                   "`sudo minicontainer escape run core-pattern --weakened "
                   "--allow-host-changes` there). " + "; ".join(notes))


STEPS = [private_propagation, masked_paths, readonly_paths, pitfall_propagation,
         pitfall_masked, pitfall_kernel_wide]


def _leaks(flags: list[str]) -> bool:
    """Whether propagation-leak's mount reaches the host under ``flags``."""
    from minicontainer import escapes
    from minicontainer.escapes import runner
    from minicontainer.escapes.base import ESCAPED

    escape = escapes.find("propagation-leak")
    return runner.run_one(escape, runner.config_for(escape, flags)).verdict == ESCAPED


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now."""
    if question_id == "masked-keys":
        out = minicontainer("run", "--", "sh", "-c", "stat -c '%F %t:%T' /proc/keys; "
                            "wc -c < /proc/keys").stdout.split("\n")
        kind, size = out[0].strip(), out[1].strip() if len(out) > 1 else "?"
        choice = "B" if kind == "character special file 1:3" and size == "0" else "A"
        return choice, f"inside a default container, /proc/keys is a {kind}, {size} bytes"
    if question_id == "proc-sys-write":
        ran = minicontainer("run", "--", "sh", "-c",
                            f"v=$(cat {SYSCTL}) && echo \"$v\" > {SYSCTL} && echo WROTE")
        refused = "Read-only file system" in ran.stderr
        return ("A" if refused else "B",
                f"`echo ... > {SYSCTL}` in a default container: "
                f"{'Read-only file system' if refused else ran.stdout.strip() or ran.stderr}")
    if question_id == "shared-leak":
        flags = ["--rootfs-propagation", "rshared", "--userns", "host", "--cap-add",
                 "SYS_ADMIN"]
        leaked = _leaks(flags)
        return ("A" if leaked else "B",
                f"propagation-leak with {' '.join(flags)}: the host "
                f"{'sees' if leaked else 'does not see'} the container's tmpfs")
    if question_id == "userns-propagation":
        flags = ["--rootfs-propagation", "rshared", "--cap-add", "SYS_ADMIN"]
        leaked = _leaks(flags)
        return ("A" if leaked else "B",
                f"propagation-leak with {' '.join(flags)} (and a user namespace): the host "
                f"{'sees' if leaked else 'does not see'} the container's tmpfs")
    return None
