"""Checks of lab 13: the student's my_runtime.py, judged by what its containers show
from the host and through mc-probe, and by the escape catalogue run against it.

Every run of the student's runtime is inside a stand-in host (throwaway mount, UTS
and IPC namespaces, :class:`minicontainer.labs.StandInHost`): a runtime that mounts,
pivots or names itself without a namespace of its own changes the stand-in. The
catalogue (:mod:`minicontainer.escapes.foreign`) runs only once the container is in
new user, mount and pid namespaces on an overlay root, so that no attack writes into
ROOTFS or acts as host root. ROOTFS is the lab's own copy of the busybox rootfs
(:func:`prepare`), never the one every container starts from: until the student's
overlay works, their runtime writes into it as host root.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from minicontainer import idmap, rootfs
from minicontainer.config import DEFAULT_CAPABILITIES
from minicontainer.labs import Context, StandInHost, failed, passed
from minicontainer.namespaces import Namespace
from minicontainer.state import LIB_DIR

PROGRAM = "my_runtime.py"
FIXTURE_DIR = os.path.join(LIB_DIR, "labs", "13-capstone")
ROOTFS = os.path.join(FIXTURE_DIR, "busybox")
STAND_IN = Namespace.MNT | Namespace.UTS | Namespace.IPC
NAMES = ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"]
# The order of the recipe, as the exercise numbers it: what each layer is called there.
TODO = {"user": "TODO 1 and 2", "namespaces": "TODO 1", "propagation": "TODO 3",
        "root": "TODO 4", "filesystems": "TODO 5", "masked": "TODO 6", "pivot": "TODO 7",
        "hostname": "TODO 8", "capabilities": "TODO 9", "no_new_privs": "TODO 10",
        "fds": "TODO 11", "seccomp": "TODO 12"}
# What the recipe's order prevents: a layer applied too early takes what a later one needs.
TOO_EARLY = ("a step of the init was refused: in the recipe's order each layer keeps what "
             "the ones after it need (mounts need CAP_SYS_ADMIN and syscalls seccomp blocks), "
             "so capabilities, no_new_privs and seccomp come after the mounts, seccomp last")


def prepare(workspace: str) -> list[str]:
    """The lab's own copy of the busybox rootfs, outside the workspace (which is the
    student's), so that a runtime without its overlay yet writes into nothing shared."""
    if os.path.isdir(ROOTFS) and not _stale():
        return []
    owner = idmap.default_mappings("gid")[0].host_id
    # Like the rootfs store: root's, and searchable by the range's root group alone,
    # which the overlay's lookups run as; the copy keeps its owners (the range) and modes.
    for directory, group, mode in ((os.path.dirname(FIXTURE_DIR), 0, 0o755),
                                   (FIXTURE_DIR, owner, 0o710)):
        os.makedirs(directory, mode, exist_ok=True)
        os.chown(directory, 0, group, follow_symlinks=False)
        os.chmod(directory, mode)
    partial = f"{ROOTFS}.partial"
    if os.path.lexists(partial):
        shutil.rmtree(partial)
    subprocess.run(["cp", "-a", "--", rootfs.default_rootfs(), partial], check=True)
    if os.path.lexists(ROOTFS):
        shutil.rmtree(ROOTFS)
    os.rename(partial, ROOTFS)  # a copy cut short is never taken for a whole one
    return [f"{ROOTFS}: this lab's copy of the busybox rootfs, for your runtime to start "
            "from (remove it and `lab check 13` makes a fresh one)"]


def _stale() -> bool:
    """Whether the default rootfs was rebuilt since the copy (cp -a keeps mtimes): its
    mc-probe may report what this checker expects and the copy's does not."""
    def mtime(root: str) -> int | None:
        try:
            return os.lstat(os.path.join(root, "usr/bin/mc-probe")).st_mtime_ns
        except FileNotFoundError:
            return None
    return mtime(ROOTFS) != mtime(rootfs.default_rootfs())


def _rootfs() -> str:
    prepare("")
    return ROOTFS


def _run(ctx, *command: str, timeout: float = 15.0):
    """``my_runtime.py ROOTFS -- COMMAND`` in a stand-in host."""
    with StandInHost(STAND_IN) as host:
        return ctx.run(PROGRAM, _rootfs(), "--", *command, host=host, timeout=timeout)


def _why(ran) -> str:
    """The hint for a runtime that did not run its command, from what it said."""
    said = ran.stderr
    if "Invalid argument" in said:
        return (f"EINVAL: in a new user namespace uid 0 exists only once the parent has "
                f"written the id maps ({TODO['user']}), before it releases the child")
    if "Operation not permitted" in said or "EPERM" in said:
        return TOO_EARLY
    if "Traceback" in said:
        return "your runtime raised: run it by hand, `sudo minicontainer lab run 13 -- " \
               f"{_rootfs()} -- echo hi`, and read the traceback"
    return "run it by hand: `sudo minicontainer lab run 13 -- ROOTFS -- echo hi`"


def runs_a_command(ctx):
    """my_runtime.py ROOTFS -- COMMAND runs COMMAND and passes its output through"""
    ran = _run(ctx, "sh", "-c", f"echo hello-{ctx.nonce}")
    if ran.returncode == 0 and f"hello-{ctx.nonce}" in ran.stdout:
        return passed(f"`my_runtime.py ROOTFS -- sh -c 'echo hello-{ctx.nonce}'` printed it, "
                      "exit 0")
    return failed(f"`my_runtime.py ROOTFS -- sh -c 'echo ...'`: {ran.summary()}", _why(ran))


def _descendants(pid: int) -> list[int]:
    from minicontainer.labs import read_status

    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (read_status(int(entry)) or {}).get("PPid") == str(parent):
                found.append(int(entry))
                frontier.append(int(entry))
    return found


def _sleeper(running, pids: list[int]) -> int | None:
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().split(b"\0")[0].endswith(b"sleep"):
                    return pid
        except FileNotFoundError:
            continue
    return None


def _container_namespaces(ctx) -> tuple[dict[str, tuple[int, int, int | None]], str]:
    """Each namespace of a process inside: (its inode, the host's, the stand-in's), or
    an empty dict and why none was seen."""
    with StandInHost(STAND_IN) as host:
        running = ctx.start(PROGRAM, _rootfs(), "--", "sh", "-c", "echo READY; exec sleep 10",
                            host=host)
        try:
            if not running.wait_for("READY", timeout=8):
                return {}, "the container did not start (make the first step pass first)"
            inside = _sleeper(running, _descendants(running.process.pid))
            if inside is None:
                return {}, "no `sleep` process under your runtime"
            seen = {}
            for name in NAMES:
                stand_in = os.stat(f"/proc/{host.process.pid}/ns/{name}").st_ino \
                    if Namespace.from_name(name) & STAND_IN else None
                seen[name] = (os.stat(f"/proc/{inside}/ns/{name}").st_ino,
                              os.stat(f"/proc/self/ns/{name}").st_ino, stand_in)
            return seen, ""
        finally:
            # The container first, so that the runtime frees what it owns as it exits.
            for pid in _descendants(running.process.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            running.exited_within(5)
            running.stop()


def _shared(seen: dict) -> list[str]:
    return [name for name, (inside, host, stand_in) in seen.items()
            if inside in (host, stand_in)]


def new_namespaces(ctx):
    """COMMAND runs in seven new namespaces (seen from the host)"""
    seen, why = _container_namespaces(ctx)
    if not seen:
        return failed(why, "make the first step pass first")
    shared = _shared(seen)
    if shared:
        return failed(f"COMMAND shares the host's {', '.join(shared)} namespace"
                      f"{'s' if len(shared) > 1 else ''} (/proc/PID/ns of its process, from "
                      "the host)", f"{TODO['namespaces']}: namespaces.clone() takes the "
                      "Namespace flags of every namespace the container gets, joined with |")
    return passed("all seven new: " + ", ".join(f"{name}:[{inside}]" for name, (inside, _, _)
                                                 in sorted(seen.items())))


def _rootfs_entry(name: str, remove: bool) -> bool:
    """Whether ROOTFS holds ``name`` at its top (then removed, if ``remove``), never
    following a symlink the container made."""
    top = os.open(_rootfs(), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        try:
            os.lstat(name, dir_fd=top)
        except FileNotFoundError:
            return False
        if remove:
            os.unlink(name, dir_fd=top)
        return True
    finally:
        os.close(top)


def _write_inside(ctx):
    """Write a nonce file at / inside: the run, the file's name, and whether it landed
    in ROOTFS itself (removed again at once)."""
    name = f"mc-lab13-{ctx.nonce}"
    ran = _run(ctx, "sh", "-c", f"echo {ctx.nonce} > /{name} && cat /{name} && "
               "grep ' / / ' /proc/self/mountinfo")
    return ran, name, _rootfs_entry(name, remove=True)


def _isolated(ctx) -> str | None:
    """Why the container is not yet safe to write in (user, mount and pid namespaces
    of its own), or None."""
    seen, why = _container_namespaces(ctx)
    if not seen:
        return why
    shared = [n for n in _shared(seen) if n in ("user", "mnt", "pid")]
    return f"COMMAND shares the host's {', '.join(shared)}" if shared else None


def own_root(ctx):
    """the container writes into an overlay of its own: ROOTFS is never written"""
    not_yet = _isolated(ctx)
    if not_yet:
        return failed(f"{not_yet}: the checker does not let it write",
                      "make the 'seven new namespaces' step pass first")
    ran, name, written = _write_inside(ctx)
    if written:
        return failed(f"/{name}, written inside, landed in {_rootfs()} itself (removed now)",
                      f"{TODO['root']}: mount an overlay with ROOTFS as its lower layer and "
                      "the scratch directories as upper and work, and make that the root")
    if ran.returncode != 0 or ctx.nonce not in ran.stdout:
        return failed(f"writing /{name} inside: {ran.summary()}",
                      f"{TODO['root']}: the root must be writable: an overlay's upper layer "
                      "takes the writes")
    root = ran.stdout.splitlines()[-1].split(" - ")[-1].split()[0]
    return passed(f"/{name} was written inside, and {_rootfs()} does not have it; / is "
                  f"{root}")


def _probe(ctx) -> tuple[dict | None, str]:
    ran = _run(ctx, "mc-probe", "--json")
    try:
        return json.loads(ran.stdout), ""
    except ValueError:
        return None, ran.summary()


def _missing_layers(seen: dict) -> list[tuple[str, str]]:
    """(the layer's TODO key, what mc-probe shows) for each layer not in place."""
    missing = []
    if any(m[0] == 0 and m[1] == 0 for m in seen["uid_map"]):
        missing.append(("user", f"uid_map {seen['uid_map']}: container root is host root"))
    visible = [p for p, s in seen["masked_paths"].items() if s["state"] == "visible"]
    writable = [p for p, s in seen["readonly_paths"].items() if s["writable"]]
    if visible or writable:
        missing.append(("masked", f"{', '.join(visible + writable)} not masked or read-only"))
    if seen["hostname"] == os.uname().nodename:
        missing.append(("hostname", f"hostname {seen['hostname']}: the host's"))
    extra = sorted({f"CAP_{c.upper()}" for c in seen["capabilities"]["bounding"]}
                   - DEFAULT_CAPABILITIES)
    if extra:
        missing.append(("capabilities", f"{len(extra)} capabilities beyond Docker's 14 "
                        f"({', '.join(extra[:3])}...)"))
    if not seen["no_new_privs"]:
        missing.append(("no_new_privs", "no_new_privs off"))
    if seen["seccomp"] != "filter":
        missing.append(("seccomp", f"seccomp {seen['seccomp']}"))
    return missing


def _host_proc(ctx) -> str | None:
    """What shows that /proc inside belongs to another pid namespace (the host's), or
    None: a procfs names a process by its pid in the procfs's own namespace."""
    ran = _run(ctx, "sh", "-c", 'read -r pid rest < /proc/self/stat; echo "pids $pid $$"')
    words = next((line.split() for line in ran.stdout.splitlines()
                  if line.startswith("pids ")), [])
    if len(words) != 3 or words[1] == words[2]:
        return None
    return (f"/proc/self/stat of the shell says pid {words[1]}, while the shell is pid "
            f"{words[2]} in its own pid namespace")


def layers_inside(ctx):
    """inside, mc-probe sees every layer: id map, masks, hostname, capabilities,
    no_new_privs, seccomp"""
    seen, why = _probe(ctx)
    if seen is None:
        return failed(f"`my_runtime.py ROOTFS -- mc-probe --json`: {why}",
                      f"mc-probe reads /proc/self: does the container have a /proc of its "
                      f"own ({TODO['filesystems']})?")
    inodes = list(seen.get("namespaces", {}).values())
    if not inodes or min(inodes) <= 0:  # -1: /proc/self/ns could not be read
        return failed("mc-probe inside could not read /proc/self: the container has no /proc",
                      f"{TODO['filesystems']}: mount a /proc of the new pid namespace on the "
                      "root before the pivot")
    host_proc = _host_proc(ctx)
    if host_proc:
        return failed(f"/proc inside is the host's: {host_proc}",
                      f"{TODO['filesystems']}: the container needs a procfs of its own pid "
                      "namespace, not the host's /proc bound in (mount_proc says which)")
    missing = _missing_layers(seen)
    if missing:
        key, shown = missing[0]
        return failed("mc-probe inside: " + "; ".join(what for _, what in missing),
                      f"{TODO[key]} first: {shown}")
    caps = len(seen["capabilities"]["bounding"])
    return passed(f"uid_map {seen['uid_map']}, hostname {seen['hostname']}, {caps} "
                  f"capabilities, no_new_privs on, seccomp {seen['seccomp']}, masked and "
                  "read-only paths in place")


def escape_catalogue(ctx):
    """the escape catalogue against your runtime: every applicable escape is blocked"""
    from minicontainer import escapes
    from minicontainer.escapes import foreign
    from minicontainer.escapes.base import BLOCKED, ESCAPED, SKIP

    not_yet = _isolated(ctx)
    if not_yet:
        return failed(f"{not_yet}: the catalogue is not run against it",
                      "make the 'seven new namespaces' step pass first")
    if _write_inside(ctx)[2]:
        return failed("a file written inside lands in ROOTFS itself: the catalogue's attacks "
                      "would write there", "make the overlay step pass first")
    tried = foreign.applicable(escapes.catalogue())
    with StandInHost(STAND_IN) as host:
        outcomes = foreign.run_foreign(tried, [sys.executable, ctx.program(PROGRAM)],
                                       _rootfs(), parallel=len(tried),
                                       preexec_fn=host.preexec(ctx.workspace))
    ran = [(e, o) for e, o in zip(tried, outcomes, strict=True) if o.verdict != SKIP]
    skipped = [(e.name, o.evidence) for e, o in zip(tried, outcomes, strict=True)
               if o.verdict == SKIP]
    handed = [name for name, why in skipped if "hands in" in why]
    missing = [f"{name} ({why})" for name, why in skipped if "hands in" not in why]
    blocked = [e.name for e, o in ran if o.verdict == BLOCKED]
    through = [(e, o) for e, o in ran if o.verdict != BLOCKED]
    score = f"{len(blocked)}/{len(ran)} blocked"
    note = (f"\nnot tried (they hand in a volume, a device or a terminal through "
            f"minicontainer's own flags): {', '.join(handed)}" if handed else "")
    note += f"\nskipped here: {'; '.join(missing)}" if missing else ""
    if through:
        lines = [f"{score}; through your runtime:"]
        for escape, outcome in through:
            what = "ESCAPED" if outcome.verdict == ESCAPED else f"{outcome.verdict}: " \
                f"{(outcome.evidence.splitlines() or [''])[-1]}"
            lines.append(f"  {escape.name}: {what}; stopped by: "
                         f"{', '.join(escape.stopped_by) or 'nothing a runtime can add'}")
        first = through[0][0]
        return failed("\n".join(lines) + note,
                      f"{first.name} is stopped by {' or '.join(first.stopped_by)}: `minicontainer "
                      f"escape show {first.name}` tells the attack; which TODO is that layer?")
    return passed(f"{score}: {', '.join(blocked)}{note}")


STEPS = [runs_a_command, new_namespaces, own_root, layers_inside, escape_catalogue]


def _variant(ctx, replacements: list[tuple[str, str]]) -> str:
    """A copy of the reference runtime with ``replacements`` made, in a new temporary
    directory; its path."""
    with open(ctx.lab.file("solution", PROGRAM)) as f:
        source = f.read()
    for old, new in replacements:
        source = source.replace(old, new)
    directory = tempfile.mkdtemp(prefix="mc-lab13-quiz-")
    path = os.path.join(directory, PROGRAM)
    with open(path, "w") as f:
        f.write(source)
    return path


def _observe(ctx, command: list[str], ok):
    """Run the runtime with ``command``: the student's if it answers, else the reference."""
    ran = _run(ctx, *command) if ctx.has(PROGRAM) else None
    if ran is not None and ok(ran):
        return ran, "your my_runtime.py"
    return _run(ctx.reference(), *command), "the reference my_runtime.py"


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now."""
    def probe_ok(ran):
        try:
            json.loads(ran.stdout)
            return True
        except ValueError:
            return False

    if question_id == "root-uid":
        ran, whose = _observe(ctx, ["mc-probe", "--json"], probe_ok)
        uid_map = json.loads(ran.stdout)["uid_map"]
        host = uid_map[0][1] if uid_map else 0
        return ("A" if host == 0 else "B", f"{whose}: uid_map {uid_map}")
    if question_id == "capabilities":
        ran, whose = _observe(ctx, ["mc-probe", "--json"], probe_ok)
        count = len(json.loads(ran.stdout)["capabilities"]["bounding"])
        return ({len(DEFAULT_CAPABILITIES): "A", 0: "C"}.get(count, "B"),
                f"{whose}: {count} capabilities in the bounding set")
    if question_id in ("seccomp-first", "chroot"):
        replacements = {
            "seccomp-first": [("    native.seccomp_load(program)\n", ""),
                              ("    mounts.set_propagation(\"rprivate\")\n",
                               "    native.seccomp_load(program)\n"
                               "    mounts.set_propagation(\"rprivate\")\n")],
            "chroot": [("mounts.pivot_to(root)", "mounts.chroot_to(root)")],
        }[question_id]
        path = _variant(ctx, replacements)
        try:
            if question_id == "seccomp-first":
                began = time.monotonic()
                variant = Context(ctx.lab, os.path.dirname(path), ctx.nonce)
                with StandInHost(STAND_IN) as host:
                    ran = variant.run(PROGRAM, _rootfs(), "--", "echo", "hi", host=host)
                took = time.monotonic() - began
                last = (ran.stderr.strip().splitlines() or ["nothing"])[-1]
                return ("B" if ran.returncode != 0 else "A",
                        f"the reference with seccomp loaded first: exit {ran.returncode} in "
                        f"{took:.1f} s: {last}")
            from minicontainer import escapes
            from minicontainer.escapes import foreign

            with StandInHost(STAND_IN) as host:
                [outcome] = foreign.run_foreign([escapes.find("chroot-breakout")],
                                                [sys.executable, path], _rootfs(),
                                                preexec_fn=host.preexec(os.path.dirname(path)))
            return ("A" if outcome.verdict == "ESCAPED" else "B",
                    f"the reference with chroot instead of pivot_root: chroot-breakout "
                    f"{outcome.verdict}")
        finally:
            shutil.rmtree(os.path.dirname(path))
    return None
