"""Checks of lab 09: the student's nnp_exec.py, judged by what a setuid-root program
and /proc/self/status show in the process it starts.

The fixture is ``setuid-id`` (``setuid_id.c`` beside this file), a setuid-root
program that prints its user ids and NoNewPrivs, and nothing else.  It lives outside
the workspace, in a directory of root's (``lab start`` makes the workspace the
student's, and a chown clears the setuid bit); it is executable by root and the group
nogroup only (mode 4750), since a setuid-root file is a liability on any host.
"""

import json
import os
import subprocess
import tempfile

from minicontainer import idmap, rootfs
from minicontainer.labs import failed, minicontainer, passed, skipped
from minicontainer.state import LIB_DIR

PROGRAM = "nnp_exec.py"
NOBODY = 65534
FIXTURE_DIR = os.path.join(LIB_DIR, "labs", "09-nnp")
HELPER = os.path.join(FIXTURE_DIR, "setuid-id")
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "setuid_id.c")
HELPER_MODE = 0o4750
PR_SET_NO_NEW_PRIVS = 38
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, which nobody may run (a venv's may be private)
TRY_TO_UNSET = ("import ctypes; libc = ctypes.CDLL(None, use_errno=True); "
                f"rc = libc.prctl({PR_SET_NO_NEW_PRIVS}, 0, 0, 0, 0); "
                "print('unset', rc, ctypes.get_errno())")


def _helper_ready() -> bool:
    try:
        st = os.lstat(HELPER)
    except FileNotFoundError:
        return False
    return (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, NOBODY, HELPER_MODE)


def prepare(workspace):
    """The setuid-root helper, compiled from setuid_id.c into root's directory."""
    if _helper_ready():
        return []
    for directory in (os.path.dirname(FIXTURE_DIR), FIXTURE_DIR):
        os.makedirs(directory, 0o755, exist_ok=True)
        os.chown(directory, 0, 0, follow_symlinks=False)
        os.chmod(directory, 0o755)
    with tempfile.TemporaryDirectory(dir=FIXTURE_DIR) as scratch:
        built = os.path.join(scratch, "setuid-id")
        rootfs.compile_static(SOURCE, built)
        os.chown(built, 0, NOBODY)
        os.chmod(built, HELPER_MODE)  # after the chown, which would clear the bit
        os.rename(built, HELPER)
    return [f"{HELPER}: setuid root, runnable by root and group nogroup only; it prints "
            "its uids and NoNewPrivs"]


def _fields(text: str) -> dict[str, str]:
    """``ruid R euid E suid S NoNewPrivs N`` as a dict."""
    for line in text.splitlines():
        words = line.split()
        if len(words) == 8 and words[0] == "ruid":
            return dict(zip(words[::2], words[1::2], strict=True))
    return {}


def _status(text: str) -> dict[str, list[str]]:
    """The lines of a /proc/PID/status, as lists of their values."""
    return {key: value.split() for key, _, value in
            (line.partition(":") for line in text.splitlines()) if value}


def _as_nobody() -> None:
    idmap.switch_user(NOBODY, NOBODY, [])


def _helper_says(ctx, *args: str) -> tuple[dict[str, str], str]:
    """What the helper printed when the student's program ran it (with ``args`` before
    it), and the run's summary if it printed nothing."""
    ran = ctx.run(PROGRAM, *args, HELPER)
    return _fields(ran.stdout), ran.summary()


def runs_as_user(ctx):
    """COMMAND runs as nobody: uid and gid 65534, no group of root's"""
    ran = ctx.run(PROGRAM, "cat", "/proc/self/status")
    status = _status(ran.stdout)
    if ran.returncode != 0 or "Uid" not in status:
        return failed(f"`nnp_exec.py cat /proc/self/status`: {ran.summary()}",
                      "run it by hand: `sudo minicontainer lab run 09 -- id` and read the error")
    uids, gids, groups = status["Uid"], status["Gid"], status.get("Groups", [])
    shown = f"Uid: {' '.join(uids)}, Gid: {' '.join(gids)}, Groups: {' '.join(groups) or '-'}"
    if uids == ["0"] * 4:
        return failed(f"COMMAND runs as root ({shown})",
                      "the child must become nobody before it execs COMMAND: TODO 1 "
                      "(minicontainer.idmap has the function, groups first)")
    if uids != [str(NOBODY)] * 4:
        return failed(f"COMMAND's uids are mixed ({shown}): its real or saved uid is root's",
                      "with a real or saved uid of 0, any program may setuid(0) back, "
                      "no_new_privs or not: change all three uids (setresuid), not only the "
                      "effective one")
    if gids != [str(NOBODY)] * 4 or set(groups) - {str(NOBODY)}:
        return failed(f"COMMAND keeps a group of root's ({shown})",
                      "drop the supplementary groups (setgroups) and the gid before the uid")
    return passed(f"COMMAND runs as nobody ({shown})")


def setuid_raises_without_nnp(ctx):
    """the twin (--allow-setuid): the setuid-root helper makes nobody root (euid 0)"""
    mine = subprocess.run([HELPER], capture_output=True, text=True, timeout=10,
                          preexec_fn=_as_nobody)
    if _fields(mine.stdout).get("euid") != "0":
        flags = os.statvfs(HELPER).f_flag
        if flags & os.ST_NOSUID:
            return skipped(f"the filesystem of {HELPER} is mounted nosuid: setuid bits do "
                           "nothing on it")
        return skipped(f"{HELPER} run by nobody did not become root: "
                       f"{mine.stdout.strip() or mine.stderr.strip()}")
    seen, summary = _helper_says(ctx, "--allow-setuid")
    if not seen:
        return failed(f"`nnp_exec.py --allow-setuid {HELPER}`: {summary}",
                      "make the first step pass first")
    if seen["ruid"] != str(NOBODY):
        return failed(f"the helper ran with real uid {seen['ruid']}, not nobody's",
                      "make the first step pass first")
    if seen["euid"] != "0":
        return failed(f"with --allow-setuid the helper stayed euid {seen['euid']} "
                      f"(NoNewPrivs {seen['NoNewPrivs']})",
                      "the twin must leave no_new_privs off: set it only when allow_setuid "
                      "is false")
    return passed(f"`nnp_exec.py --allow-setuid setuid-id`: ruid {seen['ruid']}, euid 0: "
                  "the setuid bit made nobody root")


def setuid_gains_nothing(ctx):
    """with no_new_privs, the setuid-root helper stays nobody (euid 65534)"""
    seen, summary = _helper_says(ctx)
    if not seen:
        return failed(f"`nnp_exec.py {HELPER}`: {summary}", "make the first step pass first")
    if seen["ruid"] != str(NOBODY):
        return failed(f"the helper ran with real uid {seen['ruid']}, not nobody's",
                      "make the first step pass first")
    if seen["euid"] == "0":
        return failed(f"the setuid bit made COMMAND root: ruid {seen['ruid']}, euid 0 "
                      f"(NoNewPrivs {seen['NoNewPrivs']})",
                      "set no_new_privs in the child, after the fork and before execvp "
                      "(TODO 2): the flag belongs to a process and its future children, so "
                      "the parent setting it after the fork never reaches the child")
    return passed(f"`nnp_exec.py setuid-id`: ruid {seen['ruid']}, euid {seen['euid']}, "
                  f"NoNewPrivs {seen['NoNewPrivs']}: execve ignored the setuid bit")


def status_shows_nnp(ctx):
    """/proc/self/status of COMMAND says NoNewPrivs: 1 (and 0 in the twin)"""
    ran = ctx.run(PROGRAM, "cat", "/proc/self/status")
    twin = ctx.run(PROGRAM, "--allow-setuid", "cat", "/proc/self/status")
    mine = _status(ran.stdout).get("NoNewPrivs", ["?"])[0]
    theirs = _status(twin.stdout).get("NoNewPrivs", ["?"])[0]
    if ran.returncode != 0:
        return failed(f"`nnp_exec.py cat /proc/self/status`: {ran.summary()}",
                      "make the first step pass first")
    if mine != "1":
        return failed(f"NoNewPrivs: {mine} in COMMAND's /proc/self/status",
                      "the kernel sets it with prctl(PR_SET_NO_NEW_PRIVS, 1) in the process "
                      "that will exec: minicontainer.native or python-prctl make that call")
    if theirs != "0":
        return failed(f"NoNewPrivs: {theirs} with --allow-setuid",
                      "the twin must leave no_new_privs off: set it only when allow_setuid "
                      "is false")
    return passed("NoNewPrivs: 1 in COMMAND's /proc/self/status; 0 with --allow-setuid")


def survives_fork_and_exec(ctx):
    """no_new_privs survives fork and exec: a grandchild has it and cannot turn it off"""
    script = (f"( sh -c 'grep NoNewPrivs /proc/self/status; exec {HELPER}' ); "
              f"{SYSTEM_PYTHON} -c \"{TRY_TO_UNSET}\"; grep NoNewPrivs /proc/self/status")
    ran = ctx.run(PROGRAM, "sh", "-c", script)
    lines = ran.stdout.splitlines()
    flags = [line.split()[-1] for line in lines if line.startswith("NoNewPrivs:")]
    seen = _fields(ran.stdout)
    unset = next((line.split()[1:] for line in lines if line.startswith("unset ")), None)
    if ran.returncode != 0 or len(flags) != 2 or not seen or unset is None:
        return failed(f"`nnp_exec.py sh -c '( sh -c ... ); python3 -c prctl...'`: "
                      f"{ran.summary()}", "make the first step pass first")
    if flags[0] != "1" or seen["euid"] == "0":
        return failed(f"in a grandchild: NoNewPrivs {flags[0]}, the helper's euid "
                      f"{seen['euid']}", "make the 'NoNewPrivs: 1' step pass first")
    if unset[0] != "-1" or flags[1] != "1":
        return failed(f"prctl(PR_SET_NO_NEW_PRIVS, 0) returned {unset[0]}; NoNewPrivs then "
                      f"{flags[1]}", "the kernel should refuse to clear the flag (EINVAL): "
                      "run the command by hand")
    return passed(f"a grandchild (fork, then exec): NoNewPrivs 1, the helper's euid "
                  f"{seen['euid']}; prctl(PR_SET_NO_NEW_PRIVS, 0): -1, {os.strerror(int(unset[1]))}"
                  "; NoNewPrivs still 1")


def pitfall(ctx):
    """the pitfall in the catalogue: setuid-no-nnp (a setuid-root program in the image)"""
    return ctx.pitfall("setuid-no-nnp")


STEPS = [runs_as_user, setuid_raises_without_nnp, setuid_gains_nothing, status_shows_nnp,
         survives_fork_and_exec, pitfall]


def _observe(ctx, args, ok):
    """Run nnp_exec.py ARGS, the student's if it answers, else the reference one."""
    if ctx.has(PROGRAM):
        ran = ctx.run(PROGRAM, *args)
        if ok(ran):
            return ran, "your nnp_exec.py"
    return ctx.reference().run(PROGRAM, *args), "the reference nnp_exec.py"


def _as_nobody_ok(ran) -> bool:
    return _fields(ran.stdout).get("ruid") == str(NOBODY)


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now."""
    prepare(ctx.workspace)
    if question_id in ("twin-euid", "nnp-euid"):
        args = ["--allow-setuid", HELPER] if question_id == "twin-euid" else [HELPER]
        ran, whose = _observe(ctx, args, _as_nobody_ok)
        euid = _fields(ran.stdout).get("euid")
        if question_id == "twin-euid":
            choice = "B" if euid == "0" else "A"
        else:
            choice = {"0": "A", str(NOBODY): "B"}.get(euid, "C")
        return choice, f"{whose} {' '.join([*args[:-1], 'setuid-id'])}: {ran.stdout.strip()}"
    if question_id == "turn-off":
        ran, whose = _observe(ctx, [SYSTEM_PYTHON, "-c", TRY_TO_UNSET],
                              lambda r: r.stdout.startswith("unset -1"))
        _, rc, errno = ran.stdout.split()
        return ("B" if rc == "-1" else "A",
                f"{whose}: prctl(PR_SET_NO_NEW_PRIVS, 0) returned {rc} ({os.strerror(int(errno))})")
    if question_id == "runtime-default":
        ran = minicontainer("run", "-u", "1000", "--", "mc-probe-setuid", "--json")
        euid = json.loads(ran.stdout)["euid"]
        return ("B" if euid == 1000 else "A",
                f"`minicontainer run -u 1000 -- mc-probe-setuid`: euid {euid}")
    return None
