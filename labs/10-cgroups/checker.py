"""Checks of lab 10: the student's limits.py, judged by what its cgroup does to COMMAND.

Two runs of the student's program are watched, side by side to keep the check short
where Python is slow to start (the VM under emulation):

- the *limits* run (``--memory 32m --pids 8``): COMMAND prints its own cgroup and its
  parent's, reads its limit files, sets off a bounded fork bomb, then a 64 MiB hog;
- the *busy* run (``--cpus 0.2``): COMMAND spins and leaves a ``sleep`` behind; the
  checker samples ``cpu.stat`` from the host, enters the command with ``nsenter``,
  freezes and thaws it through the program's signals, kills COMMAND and looks at what
  the program cleaned up.

Each step judges one part of those observations.  A cgroup a wrong solution leaves
behind is removed by the checker, with whatever runs in it.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from minicontainer import cgroups, rootfs
from minicontainer.config import Resources
from minicontainer.labs import Running, failed, passed, read_status, skipped

PROGRAM = "limits.py"
NEEDED = ("memory", "pids", "cpu")
VM = ("run this lab in the VM: `vagrant up && vagrant ssh` (the student VM), or "
      "`make test-vm` on a development machine")
MEMORY, HOG = 32, 64  # MiB: the limit, and what the hog tries to hold
PIDS, BOMB = 8, 20  # pids.max, and how many sleepers the bomb tries to start
CPUS = 0.2
SAMPLE = 0.6  # seconds of each measurement from the host

LIMITS_SCRIPT = """
echo "cgroup $(cut -d: -f3 /proc/self/cgroup)"
echo "parent $(cut -d: -f3 /proc/$PPID/cgroup)"
cg={mount}$(cut -d: -f3 /proc/self/cgroup)
for f in memory.max pids.max; do echo "$f $(cat $cg/$f 2>/dev/null || echo none)"; done
sh -c 'i=0; last=
while [ $i -lt {bomb} ]; do
    sleep 30 >/dev/null 2>&1 &
    [ "$!" != "$last" ] || break
    last=$!; echo $! >> {forked}; i=$((i+1))
done' 2>/dev/null
read current < $cg/pids.current 2>/dev/null || current=none
n=0
while read -r pid; do n=$((n+1)); kill -9 $pid; done < {forked}
echo "forked $n of {bomb}, pids.current $current"
exec {hog} {size}
"""
BUSY_SCRIPT = ("sleep 60 & echo \"left $!\"; i=0; "
               "while :; do i=$((i+1)); case $i in *000) echo \"count $i\";; esac; done")


def _missing() -> str | None:
    """Why the cgroup steps cannot run here (the controllers they need), or None."""
    hierarchy = cgroups.find_hierarchy()
    if hierarchy is None:
        return f"this host has no cgroup v2 at all: {VM}"
    absent = [name for name in NEEDED if name not in hierarchy.controllers]
    if absent:
        return (f"{hierarchy.describe_missing(absent[0])} (missing here: "
                f"{', '.join(absent)}): {VM}")
    return None


def _cgroup_of(pid: int | str) -> str | None:
    """The cgroup v2 path of a process (its ``0::`` line), None if it is gone."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            return next((line[3:].strip() for line in f if line.startswith("0::")), None)
    except (FileNotFoundError, ProcessLookupError):
        return None


def _own_cgroup() -> str | None:
    return _cgroup_of("self")


def _remove_leftover(mount: str, relative: str | None) -> None:
    """Remove a cgroup of this lab's naming that a wrong solution left (killing what is
    in it); never any other: the path comes from what COMMAND was in."""
    if relative and re.fullmatch(r"/minicontainer/lab10-[0-9]+", relative):
        path = os.path.join(mount, relative.lstrip("/"))
        if os.path.isdir(path):
            cgroups.Cgroup(path).destroy()


def _first(text: str, key: str) -> str | None:
    """The rest of the first line of ``text`` that starts with the word ``key``."""
    return next((line.split(" ", 1)[1] for line in text.splitlines()
                 if line.startswith(key + " ")), None)


def _drain(running: Running, seconds: float) -> None:
    """Read what the program printed in the next ``seconds``."""
    running.wait_for("\0", timeout=seconds)


def _counts(running: Running) -> int:
    """How many progress lines the busy COMMAND printed so far."""
    return len(re.findall(r"^count \d+$", running.seen, re.M))


def _usage(path: str) -> int | None:
    try:
        with open(os.path.join(path, "cpu.stat")) as f:
            return int(dict(line.split() for line in f)["usage_usec"])
    except (FileNotFoundError, KeyError):
        return None


def _observe(ctx) -> dict:
    """Both runs, once per attempt (a failure too): what the steps judge."""
    if not hasattr(ctx, "lab10"):
        try:
            ctx.lab10 = _watch_both(ctx)
        except Exception as e:  # each step reports it; none runs the programs again
            ctx.lab10 = e
    if isinstance(ctx.lab10, Exception):
        raise ctx.lab10
    return ctx.lab10


def _watch_both(ctx) -> dict:
    mount = cgroups.find_hierarchy().mountpoint
    scratch = tempfile.mkdtemp(prefix="mc-lab10-")
    hog = os.path.join(rootfs.default_rootfs(), "usr", "bin", "mc-escape-memory-hog")
    script = LIMITS_SCRIPT.format(mount=mount, bomb=BOMB, forked=os.path.join(scratch, "forked"),
                                  hog=hog, size=HOG)
    # The busy run first: it is the longer one.
    busy = ctx.start(PROGRAM, "--cpus", str(CPUS), "--", "sh", "-c", BUSY_SCRIPT)
    try:
        limits = ctx.start(PROGRAM, "--memory", f"{MEMORY}m", "--pids", str(PIDS), "--",
                           "sh", "-c", script)
    except BaseException:
        busy.stop()
        raise
    unlimited = subprocess.Popen([hog, str(HOG)], stdout=subprocess.PIPE, text=True)
    try:
        seen = _watch_busy(busy, mount)
        limits.wait_for("\0", timeout=60)
        code = limits.process.returncode if limits.exited_within(5) else None
        seen.update(mount=mount, limits=limits.seen, limits_exit=code)
    finally:
        limits.stop()
        _remove_leftover(mount, _first(limits.seen, "cgroup"))
        shutil.rmtree(scratch)
        held, _ = unlimited.communicate(timeout=60)
    seen["unlimited_hog"] = (held.strip().splitlines() or ["nothing"])[-1]
    return seen


def _watch_busy(running: Running, mount: str) -> dict:
    """Put the busy run through the measurements, in order."""
    seen: dict = {"busy_started": False}
    relative = None
    try:
        if not running.wait_for("count ", timeout=20):
            return seen
        seen["busy_started"] = True
        command = running.children()
        relative = _cgroup_of(command[0]) if command else None
        seen["busy_cgroup"] = relative
        if relative is None or relative == _own_cgroup():
            return seen
        path = os.path.join(mount, relative.lstrip("/"))
        seen.update(_cpu_rate(running, path))
        seen["nsenter"], seen["joined"] = _enter(command[0], path)
        seen.update(_freeze(running, path))
        if running.process.poll() is None:
            seen.update(_end(running, command[0], path, _first(running.seen, "left")))
    finally:
        running.stop()
        _remove_leftover(mount, relative)
    return seen


def _cpu_rate(running: Running, path: str) -> dict:
    before, began = _usage(path), time.monotonic()
    _drain(running, SAMPLE)
    after, took = _usage(path), time.monotonic() - began
    if before is None or after is None:
        return {"cpu_rate": None}
    with open(os.path.join(path, "cpu.stat")) as f:
        throttled = int(dict(line.split() for line in f).get("nr_throttled", 0))
    with open(os.path.join(path, "cpu.max")) as f:
        cpu_max = f.read().strip()
    return {"cpu_rate": (after - before) / 1e6 / took, "nr_throttled": throttled,
            "cpu_max": cpu_max}


def _enter(pid: int, path: str) -> tuple[str, str]:
    """Where a process entering COMMAND lands: with nsenter, and by joining the cgroup
    as `docker exec` does (writing its own pid to cgroup.procs first)."""
    # Shell builtins only: a process in COMMAND's cgroup shares its 0.2 CPU.
    show = 'read -r line < /proc/self/cgroup; echo "${line#0::}"'
    if shutil.which("nsenter") is None:
        entered = "nsenter is not installed"
    else:
        entered = subprocess.run(["nsenter", "-t", str(pid), "-a", "sh", "-c", show],
                                 capture_output=True, text=True, timeout=20).stdout.strip()
    joined = subprocess.run(["sh", "-c", f"echo $$ > {path}/cgroup.procs && {show}"],
                            capture_output=True, text=True, timeout=20).stdout.strip()
    return entered, joined


def _freeze(running: Running, path: str) -> dict:
    launcher = running.process
    os.kill(launcher.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 3
    while not _frozen(path) and time.monotonic() < deadline and launcher.poll() is None:
        time.sleep(0.05)
    if launcher.poll() is not None:
        return {"freeze": f"your program ended on SIGUSR1 (exit {launcher.returncode})"}
    if not _frozen(path):
        return {"freeze": "cgroup.events never said `frozen 1` in 3 s after SIGUSR1"}
    _drain(running, 0.1)
    count, usage = _counts(running), _usage(path)
    _drain(running, SAMPLE)
    if _counts(running) != count or (_usage(path) or 0) - (usage or 0) > 20_000:
        return {"freeze": "cgroup.events says frozen, yet COMMAND went on counting"}
    os.kill(launcher.pid, signal.SIGUSR2)
    deadline = time.monotonic() + 3
    while (_frozen(path) or _counts(running) == count) and time.monotonic() < deadline \
            and launcher.poll() is None:
        _drain(running, 0.05)
    if launcher.poll() is not None:
        return {"freeze": f"frozen, but your program ended on SIGUSR2 (exit "
                f"{launcher.returncode})"}
    if _frozen(path) or _counts(running) == count:
        return {"freeze": f"frozen after SIGUSR1 ({count} lines), but 3 s after SIGUSR2 "
                "COMMAND still did not count on"}
    return {"freeze": None, "frozen_at": count, "thawed_to": _counts(running)}


def _frozen(path: str) -> bool:
    try:
        with open(os.path.join(path, "cgroup.events")) as f:
            return "frozen 1" in f.read().split("\n")
    except FileNotFoundError:
        return False


def _end(running: Running, command: int, path: str, left: str | None) -> dict:
    """Kill COMMAND (not what it left behind) and see what the program does then."""
    os.kill(command, signal.SIGKILL)
    ended = running.exited_within(10)
    sleeper = int(left) if left and left.isdigit() else None
    status = read_status(sleeper) if sleeper else None
    return {"ended": ended, "exit": running.process.returncode if ended else None,
            "cgroup_left": os.path.isdir(path), "sleeper": sleeper,
            "sleeper_alive": bool(status) and status.get("State") != "Z"}


def _needs(ctx):
    """The precondition of every step (a SKIP naming it), else the observations."""
    missing = _missing()
    if missing:
        return skipped(missing), None
    return None, _observe(ctx)


def own_cgroup(ctx):
    """COMMAND runs in a new cgroup; your program stays outside it"""
    skip, seen = _needs(ctx)
    if skip:
        return skip
    text, caller = seen["limits"], _own_cgroup()
    mine, parent = _first(text, "cgroup"), _first(text, "parent")
    if mine is None:
        return failed(f"`limits.py -- sh -c ...` printed nothing (exit {seen['limits_exit']})",
                      "run it by hand: `sudo minicontainer lab run 10 -- cat /proc/self/cgroup`")
    if mine == caller:
        return failed(f"COMMAND is in {mine}, the cgroup of whoever started limits.py",
                      "a process stays in its parent's cgroup until it is written to another "
                      "one's cgroup.procs: which process must move, and where is that file?")
    if parent == mine:
        return failed(f"COMMAND is in {mine}, and so is your limits.py itself",
                      "move only the child: with limits.py inside, freezing the cgroup freezes "
                      "it too, and the OOM killer takes it with COMMAND")
    return passed(f"COMMAND is in {mine}; limits.py stays in {parent}")


def memory_limit(ctx):
    """memory.max: a 64 MiB hog is OOM-killed at the 32 MiB limit"""
    skip, seen = _needs(ctx)
    if skip:
        return skip
    text = seen["limits"]
    if _first(text, "cgroup") in (None, _own_cgroup()):
        return failed("COMMAND does not run in a cgroup of its own", "make step 1 pass first")
    value = _first(text, "memory.max")
    held = [line for line in text.splitlines() if line.startswith(("holding ", "done: "))]
    if value != str(MEMORY * 1024 * 1024):
        return failed(f"COMMAND's cgroup has memory.max {value}",
                      "the cgroup was created without its limit files: pass it the files "
                      "cgroups.limit_files() makes from the limits"
                      if value in ("none", "max") else
                      f"--memory {MEMORY}m is {MEMORY * 1024 * 1024} bytes")
    if not held:
        return failed(f"the hog did not start (limits.py exit {seen['limits_exit']})",
                      "run the step's command by hand and read what it prints")
    if held[-1].startswith("done: "):
        return failed(f"the hog got to `{held[-1]}` under memory.max {value}",
                      "memory.max alone lets a cgroup swap: limit_files() also writes "
                      "memory.swap.max")
    return passed(f"memory.max {value}: the hog got to `{held[-1]}`, "
                  f"then the OOM killer ended the cgroup (limits.py exit "
                  f"{seen['limits_exit']}); without the limit it gets to "
                  f"`{seen['unlimited_hog']}`")


def pids_limit(ctx):
    """pids.max: a bounded fork bomb stops at 8 processes"""
    skip, seen = _needs(ctx)
    if skip:
        return skip
    text = seen["limits"]
    if _first(text, "cgroup") in (None, _own_cgroup()):
        return failed("COMMAND does not run in a cgroup of its own", "make step 1 pass first")
    value, bomb = _first(text, "pids.max"), _first(text, "forked")
    if value != str(PIDS):
        return failed(f"COMMAND's cgroup has pids.max {value}",
                      "the cgroup was created without its limit files: pass it the files "
                      "cgroups.limit_files() makes from the limits")
    if bomb is None:
        return failed("the fork bomb did not report", "run the step's command by hand")
    forked = int(bomb.split()[0])
    if forked >= BOMB:
        return failed(f"the fork bomb got all it asked for: forked {bomb}",
                      "COMMAND must be in the cgroup before it forks: move it before execvp")
    return passed(f"pids.max {value}: the bomb forked {bomb}, then fork failed (EAGAIN) "
                  "inside the cgroup only")


def _busy(ctx):
    """The busy run's observations, or a FAIL saying why there are none."""
    skip, seen = _needs(ctx)
    if skip:
        return skip, None
    if not seen["busy_started"]:
        return failed("`limits.py --cpus 0.2 -- sh -c 'while :; ...'` printed nothing in 20 s",
                      "run it by hand: `sudo minicontainer lab run 10 -- --cpus 0.2 -- "
                      "sh -c 'while :; do :; done'`"), None
    if seen.get("busy_cgroup") in (None, _own_cgroup()):
        return failed("COMMAND does not run in a cgroup of its own",
                      "make step 1 pass first"), None
    return None, seen


def cpu_limit(ctx):
    """cpu.max: a busy loop gets 0.2 CPU, the rest of each period it is throttled"""
    fail, seen = _busy(ctx)
    if fail:
        return fail
    rate = seen["cpu_rate"]
    if rate is None:
        return failed("COMMAND's cgroup has no cpu.stat usage",
                      "the cpu controller is enabled only for the cgroup that asks for it: "
                      "create it with the files of cgroups.limit_files()")
    detail = (f"cpu.max `{seen['cpu_max']}`: the loop used {rate:.2f} CPU over "
              f"{SAMPLE} s, throttled {seen['nr_throttled']} times")
    if rate > CPUS * 2.5 or seen["nr_throttled"] == 0:
        return failed(detail, "cpu.max is `QUOTA PERIOD` in microseconds: the cgroup runs "
                      "QUOTA out of every PERIOD; give it the files of cgroups.limit_files()")
    return passed(detail)


def freeze(ctx):
    """SIGUSR1 freezes every process of the cgroup, SIGUSR2 thaws them"""
    fail, seen = _busy(ctx)
    if fail:
        return fail
    problem = seen["freeze"]
    if problem is None:
        return passed(f"after SIGUSR1 cgroup.events said `frozen 1` and COMMAND stopped at "
                      f"{seen['frozen_at']} lines for {SAMPLE} s; after SIGUSR2 it went on "
                      f"to {seen['thawed_to']}")
    if "ended on SIGUSR1" in problem:
        hint = ("the default action of SIGUSR1 is to terminate: install a handler "
                "(signal.signal) that freezes the cgroup")
    elif "SIGUSR2" in problem:
        hint = "SIGUSR2 must thaw: Cgroup.freeze(False)"
    else:
        hint = "freezing is a write of 1 to the cgroup's cgroup.freeze: Cgroup.freeze()"
    return failed(problem, hint)


def cleanup(ctx):
    """when COMMAND ends, what it left running is killed and the cgroup removed"""
    fail, seen = _busy(ctx)
    if fail:
        return fail
    if "ended" not in seen:
        return failed("the check did not get this far", "make the freeze step pass first")
    if not seen["ended"]:
        return failed("COMMAND was killed, and limits.py did not end within 10 s",
                      "wait for the child you forked, then clean up and return")
    left = seen["busy_cgroup"]
    if seen["cgroup_left"]:
        alive = " with COMMAND's `sleep` still in it" if seen["sleeper_alive"] else ""
        return failed(f"limits.py ended (exit {seen['exit']}) but left {left}{alive}",
                      "a cgroup is removed with rmdir once no process is left in it: "
                      "Cgroup.destroy() kills what remains first; do it in a `finally`")
    return passed(f"COMMAND killed: limits.py exit {seen['exit']}; the `sleep {seen['sleeper']}` "
                  f"it left is gone, and so is {left}")


def nsenter_pitfall(ctx):
    """the pitfall: nsenter into COMMAND leaves the new process outside its cgroup"""
    fail, seen = _busy(ctx)
    if fail:
        return fail
    if "nsenter" not in seen:
        return failed("the check did not get this far", "make the cpu.max step pass first")
    if seen["nsenter"] == "nsenter is not installed":
        return skipped("nsenter (util-linux) is not installed on this host")
    mine = seen["busy_cgroup"]
    detail = (f"COMMAND is in {mine}; `nsenter -t PID -a` started a shell in {seen['nsenter']}; "
              f"one that wrote its pid to cgroup.procs first is in {seen['joined']}")
    if seen["nsenter"] != mine and seen["joined"] == mine:
        return passed(detail + " (`minicontainer escape run nsenter-cgroup` shows it with a "
                      "memory limit)")
    return failed(detail, "the kernel does not behave as this lab says: run both commands by hand")


def pitfall(ctx):
    """the pitfall in the catalogue: writable-cgroupfs (a container raising its own limit)"""
    missing = _missing()
    if missing:
        return skipped(missing)
    return ctx.pitfall("writable-cgroupfs")


STEPS = [own_cgroup, memory_limit, pids_limit, cpu_limit, freeze, cleanup, nsenter_pitfall,
         pitfall]


def _quiz_cgroup(ctx, name: str, files: dict[str, str]) -> cgroups.Cgroup:
    return cgroups.Cgroup.create(cgroups.find_hierarchy(), f"lab10-quiz-{ctx.nonce}-{name}",
                                 files)


def _start_in(cgroup: cgroups.Cgroup, command: list[str]) -> subprocess.Popen:
    """``command`` started straight into ``cgroup``."""
    procs = os.path.join(cgroup.path, "cgroup.procs")

    def join() -> None:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=join)


def _busybox() -> str:
    return os.path.join(rootfs.default_rootfs(), "bin", "busybox")


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now in cgroups of the checker's
    own (None where this host lacks the controllers)."""
    if _missing():
        return None
    if question_id == "over-the-limit":
        cgroup = _quiz_cgroup(ctx, "oom", cgroups.limit_files(
            Resources(memory=MEMORY * 1024 * 1024)))
        try:
            hog = os.path.join(rootfs.default_rootfs(), "usr", "bin", "mc-escape-memory-hog")
            process = _start_in(cgroup, [hog, str(HOG)])
            out, _ = process.communicate(timeout=60)
            killed = process.returncode == -signal.SIGKILL
            last = (out.strip().splitlines() or ["nothing"])[-1]
            oom = cgroup.oom_killed()
        finally:
            cgroup.destroy()
        return ("B" if killed else "A" if "fail" in last else "C",
                f"a {HOG} MiB hog under memory.max {MEMORY} MiB got to `{last}`, then "
                f"{'SIGKILL' if killed else f'exit {process.returncode}'} (oom_kill {oom})")
    if question_id == "fork-at-the-limit":
        cgroup = _quiz_cgroup(ctx, "pids", {"pids.max": "1"})
        try:
            process = _start_in(cgroup, [_busybox(), "sh", "-c", "sleep 1 & echo forked"])
            out, _ = process.communicate(timeout=30)
        finally:
            cgroup.destroy()
        said = out.strip() or "nothing"
        return ("A" if "temporarily unavailable" in said else "C" if "forked" in said else "B",
                f"busybox sh alone in a cgroup with pids.max 1, `sleep 1 &`: {said}")
    if question_id == "children-stay":
        parent = subprocess.Popen(["sh", "-c", "sleep 30 & echo $!; wait"],
                                  stdout=subprocess.PIPE, text=True)
        child = int(parent.stdout.readline())
        cgroup = _quiz_cgroup(ctx, "move", {})
        try:
            cgroup.write("cgroup.procs", str(parent.pid))
            moved, stayed = _cgroup_of(parent.pid), _cgroup_of(child)
        finally:
            os.kill(child, signal.SIGKILL)
            cgroup.destroy()
            parent.wait()
            parent.stdout.close()
        return ("B" if stayed != moved else "A",
                f"sh moved to {moved}; its running `sleep` stayed in {stayed}")
    if question_id == "kill-frozen":
        cgroup = _quiz_cgroup(ctx, "frozen", {})
        try:
            process = _start_in(cgroup, ["sleep", "30"])
            cgroup.freeze()
            process.kill()
            try:
                process.wait(3)
                died = True
            except subprocess.TimeoutExpired:
                died = False
        finally:
            cgroup.destroy()
            process.wait()
            process.stdout.close()
        return ("A" if died else "B",
                f"SIGKILL to a `sleep` of a frozen cgroup: {'dead' if died else 'alive'} "
                "within 3 s, still frozen")
    return None
