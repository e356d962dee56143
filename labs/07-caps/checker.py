"""Checks of lab 07: the student's caps.py, judged by what it decodes from real
containers' masks and by what the commands it starts may still do.

`drop` and `grant` run on the host, as host root: each check acts only on files the
checker makes for the attempt in a scratch directory under /tmp (owned by root or by
an unused uid derived from the nonce) and removes again.
"""

import os
import shutil
import subprocess
import sys
import tempfile

from minicontainer import capabilities
from minicontainer.labs import Ran, failed, minicontainer, passed, skipped

PROGRAM = "caps.py"
# Capabilities past bit 31: a decoder that keeps 32 bits loses them.
HIGH = ["CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]
LOW = ["CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_IPC_LOCK", "CAP_SYS_TIME", "CAP_LEASE",
       "CAP_SYS_NICE", "CAP_NET_BROADCAST", "CAP_LINUX_IMMUTABLE"]


def _user(ctx) -> int:
    """An unprivileged uid nobody uses, for this attempt."""
    return 3_900_000_000 + int(ctx.nonce[:4], 16)


def _pick(ctx, names: list[str], salt: int) -> str:
    return names[(int(ctx.nonce[4:8], 16) ^ salt) % len(names)]


def _mask_flags(ctx) -> list[list[str]]:
    """The containers whose CapEff the decoder must read: default, none, two, all."""
    return [[], ["--cap-drop", "ALL"],
            ["--cap-drop", "ALL", "--cap-add", _pick(ctx, LOW, 0), "--cap-add",
             _pick(ctx, HIGH, 0x55)],
            ["--cap-add", "ALL"]]


class Scratch:
    """A directory of root's under /tmp for one attempt, reachable by every uid."""

    def __enter__(self) -> "Scratch":
        self.path = tempfile.mkdtemp(prefix="mc-lab07-")
        os.chmod(self.path, 0o755)
        self.count = 0
        return self

    def new_file(self, owner: int) -> str:
        """A fresh file with mode 0644 owned by ``owner``."""
        self.count += 1
        path = os.path.join(self.path, f"file-{self.count}")
        with open(path, "w"):
            pass
        os.chown(path, owner, owner)
        os.chmod(path, 0o644)
        return path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path)


def _sets(status: str) -> dict[str, set[str]]:
    """The Cap* lines of a /proc/PID/status text, decoded (the checker's own decoder)."""
    found = {}
    for line in status.splitlines():
        field, _, value = line.partition(":")
        if field.startswith("Cap") and value.strip():
            found[field] = capabilities.decode(value.strip())
    return found


def _short(names) -> str:
    return ", ".join(sorted(names)) or "(none)"


# --- step 1: decode ---------------------------------------------------------------

def _container_mask(flags: list[str]) -> str:
    ran = minicontainer("run", *flags, "--", "grep", "CapEff", "/proc/self/status")
    if ran.returncode != 0:
        raise RuntimeError(f"minicontainer run {' '.join(flags)}: {ran.stderr.strip()}")
    return ran.stdout.split()[1]


def _canonical(name: str) -> str:
    """``chown``, ``Cap_Chown`` -> ``CAP_CHOWN``; ValueError for no capability."""
    return capabilities.NAMES[capabilities.number(name)]


def _decoded(ran: Ran) -> tuple[set[str], list[str]]:
    """The names caps.py printed, canonical, and the lines that are no capability."""
    names, strange = set(), []
    for line in ran.stdout.split():
        try:
            names.add(_canonical(line))
        except ValueError:
            strange.append(line)
    return names, strange


def decodes_masks(ctx):
    """`caps.py decode` names the capabilities of real containers' CapEff masks"""
    seen = []
    for flags in _mask_flags(ctx):
        mask = _container_mask(flags)
        expected = {_canonical(name)
                    for name in ctx.probe(*flags)["capabilities"]["effective"]}
        ran = ctx.run(PROGRAM, "decode", mask)
        where = f"`caps.py decode {mask}` (CapEff of `run {' '.join(flags) or '(defaults)'}`)"
        if ran.returncode != 0:
            hint = ("the Cap* fields of /proc/PID/status are hexadecimal: int() needs its base"
                    if "invalid literal for int()" in ran.stderr else
                    "run it by hand and read the traceback")
            return failed(f"{where}: {ran.summary()}", hint)
        names, strange = _decoded(ran)
        if strange:
            return failed(f"{where} printed {', '.join(strange[:3])}, which name no capability",
                          "print one name per line, spelt as in capabilities.NAMES (CAP_CHOWN)")
        if names != expected:
            missing, extra = expected - names, names - expected
            return failed(f"{where}: mc-probe there says {_short(expected)}; you printed "
                          f"{_short(names)} (missing: {_short(missing)}; extra: {_short(extra)})",
                          _decode_hint(names, expected))
        seen.append(f"{mask}: {len(names)}")
    return passed("decoded like mc-probe inside each container: " + "; ".join(seen))


def _decode_hint(names: set[str], expected: set[str]) -> str:
    if not names:
        return "decode() must return the name of every capability whose bit is set in the mask"
    if names < expected and all(capabilities.number(n) < 32 for n in names) and \
            any(capabilities.number(n) >= 32 for n in expected):
        return "the masks are 64 bits wide: capabilities from bit 32 on are missing"
    return ("bit N (the value 1 << N) is capability number N: CAP_CHOWN is bit 0, "
            "CAP_SYS_ADMIN bit 21; capabilities.number() gives N")


# --- step 2: drop ------------------------------------------------------------------

def _chown_works(ctx, scratch: Scratch, mode: str, *args: str) -> tuple[bool, Ran]:
    """Whether `caps.py MODE ARGS chown` changed the owner of a file of root's."""
    path, owner = scratch.new_file(0), _user(ctx) + 1
    ran = ctx.run(PROGRAM, mode, *args, "chown", str(owner), path)
    return os.stat(path).st_uid == owner, ran


def _chmod_works(ctx, scratch: Scratch, dropped: str) -> tuple[bool, Ran]:
    """Whether `caps.py drop DROPPED chmod` changed the mode of another user's file."""
    path = scratch.new_file(_user(ctx))
    ran = ctx.run(PROGRAM, "drop", dropped, "chmod", "600", path)
    return os.stat(path).st_mode & 0o777 == 0o600, ran


def _status_under(ctx, *args: str) -> dict[str, set[str]]:
    return _sets(ctx.run(PROGRAM, *args, "cat", "/proc/self/status").stdout)


def drop_blocks_only_the_dropped(ctx):
    """`caps.py drop`: chown needs CAP_CHOWN, chmod of another's file CAP_FOWNER"""
    cases = [("CAP_CHOWN", "chown"), ("CAP_FOWNER", "chown"), ("CAP_FOWNER", "chmod"),
             ("CAP_CHOWN", "chmod")]
    with Scratch() as scratch:
        for dropped, action in cases:
            ok, ran = (_chown_works(ctx, scratch, "drop", dropped) if action == "chown" else
                       _chmod_works(ctx, scratch, dropped))
            needed = {"chown": "CAP_CHOWN", "chmod": "CAP_FOWNER"}[action]
            if ran.returncode is None or (not ok and "Traceback" in ran.stderr):
                return failed(f"`caps.py drop {dropped} {action} ...`: {ran.summary()}",
                              "run it by hand and read the traceback")
            if dropped == needed and ok:
                return failed(f"`caps.py drop {dropped} {action} ...` still worked",
                              _still_held_hint(ctx, dropped))
            if dropped != needed and not ok:
                return failed(f"with only {dropped} dropped, `{action}` failed too: "
                              f"{ran.summary()}",
                              "drop() took more than the named capabilities: keep all the "
                              "others (capabilities.ALL holds them)")
    sets = _status_under(ctx, "drop", "CAP_CHOWN")
    held = [field for field in ("CapBnd", "CapPrm", "CapEff") if "CAP_CHOWN" in
            sets.get(field, ())]
    return passed("chown and chmod each failed with their capability dropped and worked "
                  "with only the other one dropped; `drop CAP_CHOWN cat /proc/self/status`: "
                  f"CAP_CHOWN in {', '.join(held) or 'none of CapBnd, CapPrm, CapEff'}")


def _still_held_hint(ctx, dropped: str) -> str:
    sets = _status_under(ctx, "drop", dropped)
    held = ", ".join(field for field, names in sets.items() if dropped in names)
    return (f"after execve COMMAND holds {dropped} in {held or 'none of its sets'}: for root, "
            "execve() refills the permitted and effective sets from the bounding set, so "
            "the capability must leave the bounding set too")


# --- step 3: grant -----------------------------------------------------------------

def grant_survives_execve(ctx):
    """`caps.py grant UID CAP_CHOWN`: the user's chown works after execve, not without it"""
    user = str(_user(ctx))
    with Scratch() as scratch:
        ran = ctx.run(PROGRAM, "grant", user, "CAP_CHOWN", "id", "-u")
        if ran.returncode != 0 or ran.stdout.strip() != user:
            return failed(f"`caps.py grant {user} CAP_CHOWN id -u`: {ran.summary()}, "
                          f"printed {ran.stdout.strip() or 'nothing'}", _grant_hint(ran, user))
        works, ran = _chown_works(ctx, scratch, "grant", user, "CAP_CHOWN")
        if not works:
            sets = _status_under(ctx, "grant", user, "CAP_CHOWN")
            return failed(f"`caps.py grant {user} CAP_CHOWN chown ...`: {ran.summary()}; "
                          "its sets: " + "; ".join(f"{field} {_short(names)}"
                                                   for field, names in sets.items()),
                          "execve() empties the permitted set of a user other than root: only "
                          "ambient capabilities survive it, and a capability must be "
                          "permitted and inheritable before it may be ambient")
        twin, ran = _chown_works(ctx, scratch, "grant", user, "CAP_FOWNER")
        if twin:
            return failed(f"`caps.py grant {user} CAP_FOWNER chown ...` worked: the user "
                          "holds CAP_CHOWN it was not granted",
                          "grant() must keep exactly the named capabilities: limit the "
                          "bounding set to them before the user switch")
    bounding = _status_under(ctx, "grant", user, "CAP_CHOWN").get("CapBnd", set())
    if bounding != {"CAP_CHOWN"}:
        return failed(f"`caps.py grant {user} CAP_CHOWN cat /proc/self/status`: CapBnd "
                      f"{_short(bounding)}",
                      "any setuid-root program the user runs gets the whole bounding set "
                      "back: limit the bounding set to the granted capabilities, while "
                      "still root")
    return passed(f"as uid {user}: chown worked with CAP_CHOWN granted, and failed with "
                  "CAP_FOWNER granted instead; its bounding set holds CAP_CHOWN alone")


def _grant_hint(ran: Ran, user: str) -> str:
    if "Operation not permitted" in ran.stderr:
        return ("the bounding set can shrink only with CAP_SETPCAP in the effective set, "
                "which a switch to another uid empties: limit it while still root")
    if ran.returncode == 0:
        return f"COMMAND must run as uid {user}: switch to the user before the execve"
    return "run it by hand and read the traceback"


# --- the pitfalls ------------------------------------------------------------------

def pitfall_sys_admin(ctx):
    """the pitfall: --cap-add SYS_ADMIN (sys-admin-mount): mount a disk it was given"""
    return ctx.pitfall("sys-admin-mount")


def pitfall_dac_read_search(ctx):
    """the pitfall: --cap-add DAC_READ_SEARCH (shocker): open_by_handle_at reads host files"""
    return ctx.pitfall("shocker")


def pitfall_sys_ptrace(ctx):
    """the pitfall: --cap-add SYS_PTRACE with --share pid (ptrace-inject)"""
    return ctx.pitfall("ptrace-inject")


def pitfall_sys_module(ctx):
    """the pitfall: --cap-add SYS_MODULE (module-load): a kernel module from the container"""
    from minicontainer import escapes
    from minicontainer.escapes.base import BLOCKED

    escape = escapes.find("module-load")
    if escape.missing():
        return skipped(escape.missing())
    # When it works it changes the one kernel: the checker never runs the weakened
    # attempt, which is for the VM and --allow-host-changes, by hand.
    hard = ctx.escape("module-load", weakened=False)
    answer = (hard.evidence.splitlines() or [""])[-1].strip()
    by_hand = "`sudo minicontainer escape run module-load --weakened --allow-host-changes`"
    if hard.verdict != BLOCKED:
        return failed(f"default: {hard.verdict} ({answer})",
                      "the default must block it: run `sudo minicontainer escape run "
                      "module-load` and read its output")
    return passed(f"default: BLOCKED ({answer}); the weakened attempt loads a module into "
                  f"the kernel, so run it yourself, in the VM: {by_hand}")


STEPS = [decodes_masks, drop_blocks_only_the_dropped, grant_survives_execve,
         pitfall_sys_admin, pitfall_dac_read_search, pitfall_sys_ptrace, pitfall_sys_module]


# --- the quiz ----------------------------------------------------------------------

_ROOT_DROPS_EFFECTIVE = """
import os, sys, prctl
prctl.cap_effective.chown = False
prctl.cap_permitted.chown = False
os.execvp("sh", ["sh", "-c", "grep CapEff /proc/self/status; chown " + sys.argv[1]])
"""
_USER_KEEPS_PERMITTED = """
import os, sys, prctl
prctl.set_keepcaps(True)
os.setgroups([]); os.setresgid(*[int(sys.argv[1])] * 3); os.setresuid(*[int(sys.argv[1])] * 3)
prctl.cap_effective.chown = True
print("before execve:", "chown" if prctl.cap_effective.chown else "no chown", flush=True)
os.execvp("chown", ["chown", sys.argv[2], sys.argv[3]])
"""


def _snippet(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=10)


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now."""
    if question_id == "default-count":
        count = len(ctx.probe()["capabilities"]["effective"])
        return ({14: "A", len(capabilities.NAMES): "B", 0: "C"}.get(count, "D"),
                f"mc-probe in a default container: {count} capabilities in CapEff")
    if question_id == "decode":
        mask = "0000000000200001"
        ran, whose = ctx.run(PROGRAM, "decode", mask), "your caps.py"
        if ran.returncode != 0 or not ran.stdout.strip():
            ran, whose = ctx.reference().run(PROGRAM, "decode", mask), "the reference caps.py"
        names = _decoded(ran)[0]
        choice = {frozenset({"CAP_CHOWN", "CAP_SYS_ADMIN"}): "A",
                  frozenset({"CAP_CHOWN", "CAP_NET_RAW"}): "B"}.get(frozenset(names), "C")
        return choice, f"{whose} decode {mask}: {_short(names)}"
    if question_id == "root-regains":
        with Scratch() as scratch:
            path, owner = scratch.new_file(0), _user(ctx) + 1
            ran = _snippet(_ROOT_DROPS_EFFECTIVE, f"{owner} {path}")
            changed = os.stat(path).st_uid == owner
        return ("A" if changed else "B",
                f"root without CAP_CHOWN in CapEff and CapPrm, then execve: the new program's "
                f"{ran.stdout.strip()}, chown {'worked' if changed else 'failed'}")
    if question_id == "user-loses":
        with Scratch() as scratch:
            path, owner = scratch.new_file(0), _user(ctx) + 1
            ran = _snippet(_USER_KEEPS_PERMITTED, str(_user(ctx)), str(owner), path)
            changed = os.stat(path).st_uid == owner
        return ("A" if changed else "B",
                f"uid {_user(ctx)} holding CAP_CHOWN ({ran.stdout.strip()}), then execve "
                f"chown: {'worked' if changed else 'failed'}")
    return None
