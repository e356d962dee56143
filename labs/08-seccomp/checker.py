"""Checks of lab 08: the student's profile.json, judged by what a container under it can
and cannot do, and their seccomp_lab.py, judged by the container it starts.

Every container here holds every capability (``--cap-add ALL``): a call that fails
was refused by the seccomp filter, never by a missing capability, and its twin under
``seccomp=unconfined`` shows that the same call works once the filter is gone.
"""

import json
import os
import subprocess
import sys
import tempfile

from minicontainer import escapes, seccomp
from minicontainer.escapes import runner
from minicontainer.escapes.base import BLOCKED, ESCAPED
from minicontainer.labs import failed, minicontainer, passed, skipped

PROGRAM = "seccomp_lab.py"
PROFILE = "profile.json"
ALL_CAPS = ["--cap-add", "ALL"]
UNCONFINED = ["--security-opt", "seccomp=unconfined"]
EPERM = 1
KILLED = -1  # mc-probe's errno of an attempt whose process died (SIGSYS: a kill action)
_seen: dict[tuple, tuple[dict | None, str]] = {}
# The namespaces clone can make; mc-probe tries CLONE_NEWNS alone, the host-side
# attempts below every other door, clone3 included.
CLONE_NEW = {"CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000,
             "CLONE_NEWUTS": 0x04000000, "CLONE_NEWIPC": 0x08000000,
             "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
             "CLONE_NEWNET": 0x40000000}
# A child that makes each namespace and exits at once, with (argv[2] "filtered") and
# without the profile's filter: the twin. It prints "CALL ERRNO" per attempt.
DOORS = r"""
import ctypes, os, struct, sys, tempfile
from minicontainer import native, seccomp

SYS_CLONE = {"x86_64": 56, "aarch64": 220}[os.uname().machine]
SYS_CLONE3 = 435
SIGCHLD = 17
flags = {name: int(value) for name, value in (a.split("=") for a in sys.argv[3:])}
if sys.argv[2] == "filtered":
    with tempfile.TemporaryFile() as f:
        seccomp.build(seccomp.load_file(sys.argv[1]), set()).export(f.fileno(), bpf=True)
        f.seek(0)
        program = f.read()
    native.set_no_new_privs()
    native.seccomp_load(program)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def made(pid):
    if pid == 0:
        os._exit(0)
    if pid < 0:
        return ctypes.get_errno()
    os.waitpid(pid, 0)
    return 0


zero = ctypes.c_long(0)
for name, flag in flags.items():
    pid = libc.syscall(ctypes.c_long(SYS_CLONE), ctypes.c_long(flag | SIGCHLD), zero, zero,
                       zero, zero)
    print(f"clone({name})", made(pid), flush=True)
args = ctypes.create_string_buffer(struct.pack("11Q", flags["CLONE_NEWUSER"], 0, 0, 0,
                                               SIGCHLD, 0, 0, 0, 0, 0, 0))
print("clone3(CLONE_NEWUSER)", made(libc.syscall(ctypes.c_long(SYS_CLONE3), args,
                                                 ctypes.c_long(len(args.raw)))), flush=True)
"""


def _with_profile(ctx) -> list[str]:
    return ["--security-opt", f"seccomp={ctx.program(PROFILE)}"]


def _probe(ctx, *flags: str) -> tuple[dict | None, str]:
    """mc-probe's report in a container run with ``flags`` (None and why if it did not
    run), once per attempt."""
    key = (ctx.nonce, ctx.workspace, flags)
    if key not in _seen:
        ran = minicontainer("run", *flags, "--", "mc-probe", "--json")
        if ran.returncode != 0:
            _seen[key] = (None, ran.stderr.strip() or f"exit {ran.returncode}")
        else:
            _seen[key] = (json.loads(ran.stdout), "")
    return _seen[key]


def _usable(ctx) -> str | None:
    """Why the profile cannot be used (None if it can)."""
    try:
        seccomp.load_file(ctx.program(PROFILE))
    except seccomp.ProfileError as e:
        return str(e)
    return None


def _results(ctx, *flags: str) -> tuple[dict | None, str]:
    """The errno of each syscall mc-probe tried, with every capability and ``flags``."""
    report, why = _probe(ctx, *ALL_CAPS, *flags)
    if report is None:
        return None, why
    return {name: attempt["errno"] for name, attempt in report["syscalls"].items()}, ""


def _errno(value: int) -> str:
    if value == KILLED:
        return "killed (SIGSYS)"
    return "ok" if value == 0 else os.strerror(value)


def _judge_refused(ctx, calls: dict[str, str]):
    """PASS when each of ``calls`` fails with EPERM under the profile and works
    unconfined; else a FAIL tied to what happened instead (for a call that works, the
    hint ``calls`` gives it)."""
    if _usable(ctx):
        return failed("profile.json cannot be used", "make the first step pass first")
    mine, why = _results(ctx, *_with_profile(ctx))
    free, why_free = _results(ctx, *UNCONFINED)
    if mine is None or free is None:
        return failed(f"the container did not start: {why or why_free}",
                      "make the 'ordinary command' step pass first")
    for call in calls:
        if mine[call] == KILLED:
            return failed(f"{call}: the process was killed (SIGSYS), it did not fail with EPERM",
                          "a kill action ends the whole program, which a shell or a library "
                          "cannot handle: use SCMP_ACT_ERRNO with errnoRet 1, as Docker does")
        if mine[call] == 0:
            return failed(f"{call} works under your profile, with every capability",
                          calls[call])
        if mine[call] != EPERM:
            return failed(f"{call} fails with {_errno(mine[call])}, not EPERM",
                          "the errno comes from the rule's errnoRet: EPERM is 1 (ENOSYS, 38, "
                          "tells programs the kernel is too old, and some then try another way)")
        if free[call] != 0:
            return failed(f"{call} fails even unconfined: {_errno(free[call])}",
                          "`--security-opt seccomp=unconfined` with --cap-add ALL should let it "
                          "through: run `minicontainer run --cap-add ALL --security-opt "
                          "seccomp=unconfined -- mc-probe` and read its syscalls")
    shown = "; ".join(f"{call}: EPERM (unconfined: ok)" for call in calls)
    return passed(f"with every capability, under your profile: {shown}")


def profile_is_valid(ctx):
    """profile.json is a valid Docker seccomp profile (`minicontainer seccomp check`)"""
    if not ctx.has(PROFILE):
        return failed(f"no {PROFILE} in {ctx.workspace}",
                      "`minicontainer lab reset 08` gives you the starting profile back")
    try:
        warnings = seccomp.validate(seccomp.load_file(ctx.program(PROFILE)))
    except seccomp.ProfileError as e:
        return failed(str(e), "the message names the field and its value: compare it with "
                      "the example rule, or run `minicontainer seccomp check profile.json`")
    if warnings:
        return failed("; ".join(warnings),
                      "a syscall name libseccomp does not know is skipped, as Docker skips it: "
                      "a typo blocks nothing. The names are those of `man 2 syscalls`")
    with open(ctx.program(PROFILE)) as f:
        profile = json.load(f)
    return passed(f"valid: default action {profile['defaultAction']}, "
                  f"{len(profile.get('syscalls', []))} rules")


def only_seccomp_can_refuse(ctx):
    """seccomp_lab.py runs COMMAND with every capability, under profile.json (or unconfined)"""
    ran = ctx.run(PROGRAM, "mc-probe", "--json", timeout=20)
    if ran.returncode != 0:
        return failed(f"`seccomp_lab.py mc-probe --json`: {ran.summary()}",
                      "run it by hand: `sudo minicontainer lab run 08 -- mc-probe`")
    inside = json.loads(ran.stdout)
    every, why = _probe(ctx, *ALL_CAPS, *UNCONFINED)
    if every is None:
        return failed(f"`minicontainer run --cap-add ALL` did not start: {why}",
                      "run `sudo minicontainer doctor`")
    missing = sorted(set(every["capabilities"]["effective"]) -
                     set(inside["capabilities"]["effective"]))
    if missing:
        return failed(f"the container lacks {len(missing)} capabilities "
                      f"({', '.join(missing[:4])}...)",
                      "without them a call may fail for want of a capability, and you could "
                      "not tell whether your filter refused it: --cap-add takes ALL (TODO 1)")
    if inside["seccomp"] != "filter":
        return failed(f"seccomp inside: {inside['seccomp']}",
                      "the container runs with no filter: pass --security-opt seccomp=FILE "
                      "with PROFILE (TODO 2)")
    mine, _ = _results(ctx, *_with_profile(ctx))
    theirs = {name: attempt["errno"] for name, attempt in inside["syscalls"].items()}
    if mine is not None and theirs != mine:
        differ = [name for name in theirs if theirs[name] != mine.get(name)]
        return failed(f"{', '.join(differ[:3])}: not what profile.json gives "
                      f"({_errno(theirs[differ[0]])} instead of {_errno(mine[differ[0]])})",
                      "the filter is not profile.json's: without --security-opt seccomp=FILE "
                      "minicontainer applies its own default profile (TODO 2)")
    twin = ctx.run(PROGRAM, "--unconfined", "mc-probe", "--json", timeout=20)
    seen = json.loads(twin.stdout)["seccomp"] if twin.returncode == 0 else twin.summary()
    if seen != "disabled":
        return failed(f"`seccomp_lab.py --unconfined mc-probe`: seccomp {seen}",
                      "with --unconfined the container is the twin with no filter at all: "
                      "--security-opt seccomp=unconfined (TODO 2)")
    return passed(f"all {len(every['capabilities']['effective'])} capabilities; seccomp: filter "
                  "from profile.json (with --unconfined: disabled)")


def ordinary_commands_run(ctx):
    """under your profile, ordinary commands still work (echo, an ordinary ioctl)"""
    if _usable(ctx):
        return failed("profile.json cannot be used", "make the first step pass first")
    ran = minicontainer("run", *ALL_CAPS, *_with_profile(ctx), "--", "sh", "-c",
                        f"echo {ctx.nonce}; stty -F /dev/null")
    if ctx.nonce not in ran.stdout:
        last = (ran.stderr.strip().splitlines() or [f"exit {ran.returncode}"])[-1]
        return failed(f"`sh -c 'echo {ctx.nonce}'` printed nothing: {last}",
                      "minicontainer loads the filter just before it execs COMMAND, so the "
                      "filter rules its last steps (it marks a descriptor inheritable with "
                      "ioctl) and every program's start (execve, mmap, read): a denylist "
                      "starts from defaultAction SCMP_ACT_ALLOW, refuses only the calls it "
                      "names, and compares ioctl's request (index 1) instead of refusing "
                      "every ioctl")
    if "Inappropriate ioctl" not in ran.stderr:
        seen = (ran.stderr.strip().splitlines() or ["nothing"])[-1]
        return failed(f"`stty -F /dev/null` (an ordinary ioctl, TCGETS): {seen}",
                      "your profile refuses every ioctl, and with it what terminals, ls and "
                      "most programs need: compare the request argument (index 1) with "
                      "TIOCSTI only")
    return passed(f"`sh -c 'echo {ctx.nonce}'` printed it; `stty -F /dev/null` reached the "
                  "kernel (ENOTTY: /dev/null is no terminal)")


def keyring_refused(ctx):
    """keyctl fails with EPERM under your profile, and works unconfined"""
    return _judge_refused(ctx, {"keyctl": "with defaultAction SCMP_ACT_ALLOW, a call your rules "
                                "do not name is allowed: add a rule for keyctl, add_key and "
                                "request_key"})


def _escape_with_profile(ctx, name: str):
    """The escape's weakening with seccomp=unconfined replaced by the student's profile."""
    escape = escapes.find(name)
    flags = [f"seccomp={ctx.program(PROFILE)}" if flag == "seccomp=unconfined" else flag
             for flag in escape.weakening]
    return runner.run_one(escape, runner.config_for(escape, flags)), " ".join(flags)


def _judge_pitfall(ctx, name: str, hint: str):
    if _usable(ctx):
        return failed("profile.json cannot be used", "make the first step pass first")
    missing = escapes.find(name).missing()
    if missing:
        return skipped(missing)
    catalogue = ctx.pitfall(name)
    if catalogue.verdict != "PASS":
        return catalogue
    mine, flags = _escape_with_profile(ctx, name)
    answer = (mine.evidence.splitlines() or [""])[-1].strip()
    detail = f"{catalogue.detail}\nweakened, with your profile ({flags}): {mine.verdict}"
    if mine.verdict == BLOCKED:
        return passed(f"{detail} ({answer})")
    if mine.verdict == ESCAPED:
        return failed(f"{detail}: the attack worked through your profile ({answer})", hint)
    return failed(f"{detail}: {answer}", "run `sudo minicontainer escape run "
                  f"{name} --weakened` by hand and read its output")


def pitfall_host_keyring(ctx):
    """the pitfall: host-keyring (root's kernel keyring with --userns host) through your profile"""
    return _judge_pitfall(ctx, "host-keyring", "keyctl(KEYCTL_SEARCH) reached host root's "
                          "keyring: the keyring rule must cover keyctl")


def _doors(ctx, filtered: bool) -> tuple[dict[str, int], str]:
    """The errno of each way to a new namespace DOORS tries (0: it made one), with the
    profile's filter or without; and the run's summary if it printed nothing."""
    mode = "filtered" if filtered else "twin"
    ran = subprocess.run([sys.executable, "-c", DOORS, ctx.program(PROFILE), mode,
                          *(f"{name}={flag}" for name, flag in CLONE_NEW.items())],
                         capture_output=True, text=True, timeout=10)
    seen = {call: int(errno) for call, errno in
            (line.split() for line in ran.stdout.splitlines() if len(line.split()) == 2)}
    last = (ran.stderr.strip().splitlines() or [f"exit {ran.returncode}"])[-1]
    return seen, last


def _other_doors(ctx):
    """None when every clone of a CLONE_NEW* flag and clone3 fail under the profile
    (those that work without it), else the FAIL; the doors judged, for the PASS."""
    mine, why = _doors(ctx, True)
    free, why_free = _doors(ctx, False)
    doors = [call for call, errno in free.items() if errno == 0]
    if not mine or not doors:
        return failed(f"the clone attempts under your profile did not run: {why or why_free}",
                      "run `sudo minicontainer lab run 08 -- mc-probe` by hand"), doors
    through = [call for call in doors if mine.get(call) == 0]
    if not through:
        return None, doors
    if through == ["clone3(CLONE_NEWUSER)"]:
        hint = ("clone3 passes its flags in a struct in memory, which no filter can read: "
                "refuse the call itself, with an errno that makes the C library fall back to "
                "clone, whose flags your rules do compare")
    else:
        hint = ("a denylist must name every door: one clone rule per CLONE_NEW* flag "
                "(mount, cgroup, uts, ipc, user, pid, net), each comparing argument 0 with "
                "SCMP_CMP_MASKED_EQ")
    return failed(f"under your profile {', '.join(through)} still made a new namespace "
                  "(a child of the checker on the host, under your filter; without it, "
                  f"{len(doors)} ways work)", hint), doors


def pitfall_unshare(ctx):
    """the pitfall: new namespaces (unshare, clone with CLONE_NEW*, clone3) refused by you"""
    judged = _judge_refused(ctx, {
        "unshare(CLONE_NEWUSER)": "unshare(2) makes new namespaces for the caller: add a rule "
                                  "that refuses it",
        "clone(CLONE_NEWNS)": "a denylist must name every door: clone with a CLONE_NEW* flag "
                              "makes the same namespaces as unshare; compare clone's first "
                              "argument (index 0) with each flag, SCMP_CMP_MASKED_EQ"})
    if judged.verdict != "PASS":
        return judged
    verdict, doors = _other_doors(ctx)
    if verdict is not None:
        return verdict
    return passed(f"{judged.detail}; and on the host under your filter: {', '.join(doors)}: "
                  "EPERM or ENOSYS (unfiltered: each makes a namespace)")


def pitfall_tiocsti(ctx):
    """the pitfall: tiocsti (typing into the caller's terminal) through your profile"""
    return _judge_pitfall(ctx, "tiocsti", "ioctl(TIOCSTI) went through: add a rule on ioctl "
                          "whose request argument (index 1) equals TIOCSTI, 0x5412")


STEPS = [profile_is_valid, only_seccomp_can_refuse, ordinary_commands_run, keyring_refused,
         pitfall_host_keyring, pitfall_unshare, pitfall_tiocsti]


def _profile_for_quiz(ctx) -> tuple[str, str]:
    """The student's profile if it refuses unshare, else the reference one; and whose."""
    for attempt, whose in ((ctx, "your profile"), (ctx.reference(), "the reference profile")):
        if attempt.has(PROFILE) and not _usable(attempt):
            results, _ = _results(attempt, *_with_profile(attempt))
            if results and results["unshare(CLONE_NEWUSER)"] == EPERM:
                return attempt.program(PROFILE), whose
    return ctx.reference().program(PROFILE), "the reference profile"


def _with_temporary_profile(profile: dict, *command: str):
    """Run ``command`` in a container with every capability under ``profile``."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(profile, f)
        f.flush()
        return minicontainer("run", *ALL_CAPS, "--security-opt", f"seccomp={f.name}", "--",
                             *command)


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now."""
    if question_id == "caps-vs-seccomp":
        path, whose = _profile_for_quiz(ctx)
        report, _ = _probe(ctx, *ALL_CAPS, "--security-opt", f"seccomp={path}")
        errno = report["syscalls"]["unshare(CLONE_NEWUSER)"]["errno"]
        return ("B" if errno == EPERM else "A",
                f"{whose}, --cap-add ALL: unshare(CLONE_NEWUSER) {_errno(errno)}")
    if question_id == "kill-action":
        ran = _with_temporary_profile({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["uname"], "action": "SCMP_ACT_KILL_PROCESS"}]}, "uname")
        choice = {159: "B", 0: "C"}.get(ran.returncode, "A")
        return choice, f"`uname` under SCMP_ACT_KILL_PROCESS for uname: exit {ran.returncode}"
    if question_id == "no-archmap":
        ran = _with_temporary_profile({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM}]},
            "mc-probe", "--json")
        attempt = json.loads(ran.stdout)["syscalls"].get("keyctl(int 0x80)")
        if attempt is None:
            return None
        errno = attempt["errno"]
        return ({KILLED: "C", EPERM: "B", 0: "A"}.get(errno, "A"),
                f"no archMap, keyctl refused: keyctl through int 0x80 {_errno(errno)}")
    if question_id == "default-gated":
        report, _ = _probe(ctx, "--cap-add", "SYS_ADMIN")
        errno = report["syscalls"]["mount"]["errno"]
        return ("B" if errno == 0 else "A",
                f"default profile, --cap-add SYS_ADMIN: mount {_errno(errno)}")
    return None
