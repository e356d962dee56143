"""Checks of lab 00: this host, a first container, and the student's tour.py."""

import os

from minicontainer import namespaces
from minicontainer.labs import failed, passed
from minicontainer.namespaces import Namespace

PROGRAM = "tour.py"
NAMES = ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"]
SHAREABLE = ["cgroup", "ipc", "net", "uts"]


def _host() -> dict[str, int]:
    return {name: namespaces.inode("self", Namespace.from_name(name)) for name in NAMES}


def _shared_for(ctx) -> list[str]:
    """Two namespaces to share in this attempt, chosen by its nonce."""
    first = int(ctx.nonce[0], 16) % len(SHAREABLE)
    second = (first + 1 + int(ctx.nonce[1], 16) % (len(SHAREABLE) - 1)) % len(SHAREABLE)
    return sorted({SHAREABLE[first], SHAREABLE[second]})


def _table(ran) -> dict[str, list[str]]:
    rows = {}
    for line in ran.stdout.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[0] in NAMES:
            rows[fields[0]] = fields[1:]
    return rows


def _judge_tour(ctx, flags: list[str], shared: set[str]):
    ran = ctx.run(PROGRAM, *flags, timeout=20)
    command = " ".join(["tour.py", *flags])
    if ran.returncode != 0:
        return failed(f"`{command}`: {ran.summary()}", "run it by hand and read the traceback")
    rows = _table(ran)
    missing = [name for name in NAMES if name not in rows]
    if missing:
        return failed(f"`{command}` printed no line for {', '.join(missing)}",
                      "print one line per namespace: NAME HOST CONTAINER new|shared")
    host = _host()
    for name in NAMES:
        host_seen, inside, verdict = rows[name]
        if host_seen != str(host[name]):
            return failed(f"{name}: tour.py says the host's is {host_seen}, it is {host[name]}",
                          "the host's inode comes from this process's /proc/self/ns")
        expected = "shared" if name in shared else "new"
        if verdict != expected or (inside == host_seen) != (expected == "shared"):
            return failed(f"{name}: tour.py says {inside} ({verdict}); with "
                          f"{' '.join(flags) or 'no flags'} it is {expected}",
                          "the container's inodes come from mc-probe run inside a container, "
                          "not from this process")
    return passed(f"`{command}`: " + ", ".join(
        f"{name} {'shared' if name in shared else 'new'}" for name in NAMES))


def doctor(ctx):
    """`minicontainer doctor`: this machine can run containers"""
    from minicontainer import doctor as checks

    findings = checks.run_checks()
    fails = [f for f in findings if f.level == "fail"]
    warns = [f.what for f in findings if f.level == "warn"]
    if fails:
        return failed("; ".join(f.what for f in fails), "; ".join(f.fix for f in fails if f.fix)
                      or "run `sudo minicontainer doctor`")
    return passed(f"{len(findings)} checks, no failure" +
                  (f"; warnings: {'; '.join(warns)}" if warns else ""))


def probe_inside(ctx):
    """mc-probe runs inside a container: it is pid 1 there, with its own hostname"""
    name = f"lab-{ctx.nonce[:8]}"
    seen = ctx.probe("--hostname", name)
    if seen["pid"] != 1 or seen["hostname"] != name:
        return failed(f"mc-probe saw pid {seen['pid']}, hostname {seen['hostname']}",
                      "`sudo minicontainer run -- mc-probe` should show pid 1: read `doctor`")
    return passed(f"`minicontainer run --hostname {name} -- mc-probe`: pid 1, hostname {name}, "
                  f"uid_map {seen['uid_map']}")


def tour_default(ctx):
    """tour.py: a default container has all seven namespaces of its own"""
    return _judge_tour(ctx, [], set())


def tour_shared(ctx):
    """tour.py with --share: the shared namespaces are the host's"""
    shared = _shared_for(ctx)
    return _judge_tour(ctx, ["--share", ",".join(shared)], set(shared))


def demos(ctx):
    """the escape demos this host can run"""
    from minicontainer import escapes

    catalogue = escapes.catalogue()
    runnable = [e.name for e in catalogue if e.missing() is None]
    missing = [f"{e.name} ({e.missing()})" for e in catalogue if e.missing() is not None]
    detail = f"{len(runnable)} of {len(catalogue)} run here: {', '.join(runnable)}"
    if missing:
        detail += "\nnot here: " + "; ".join(missing)
    return passed(detail)


STEPS = [doctor, probe_inside, tour_default, tour_shared, demos]


def _tour_rows(ctx, flags):
    """tour.py's table: the student's if it prints all seven lines, else the reference's."""
    if ctx.has(PROGRAM):
        rows = _table(ctx.run(PROGRAM, *flags, timeout=20))
        if len(rows) == len(NAMES):
            return rows, "your tour.py"
    return _table(ctx.reference().run(PROGRAM, *flags, timeout=20)), "the reference tour.py"


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now."""
    if question_id == "pid-inside":
        pid = ctx.probe()["pid"]
        return ("A" if pid == 1 else "B", f"mc-probe inside reported pid {pid}; "
                f"this checker is pid {os.getpid()} on the host")
    if question_id == "new-count":
        rows, whose = _tour_rows(ctx, [])
        new = sum(row[0] != row[1] for row in rows.values())
        return {7: "A", 6: "B", 0: "C"}.get(new, "D"), f"{whose}: {new} of 7 are new"
    if question_id == "share-net":
        rows, whose = _tour_rows(ctx, ["--share", "net"])
        host, inside = rows["net"][:2]
        return ("A" if host == inside else "B",
                f"{whose} --share net: host net {host}, container net {inside}")
    if question_id == "hostname":
        seen = ctx.probe()["hostname"]
        host = os.uname().nodename
        return ("B" if seen != host else "A", f"inside: {seen}; the host: {host}")
    return None
