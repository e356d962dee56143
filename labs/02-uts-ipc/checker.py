"""Checks of lab 02: the student's uts_ipc.py, judged by hostname and IPC objects seen
from inside and from the host.

The student's program runs inside a stand-in host (throwaway UTS and IPC namespaces,
:class:`minicontainer.labs.StandInHost`): a solution that names the host instead of
its container renames the stand-in, and a queue it leaks stays in the stand-in's IPC
namespace. The real host's hostname and IPC objects are never touched.
"""

import socket

from minicontainer.labs import StandInHost, failed, minicontainer, passed
from minicontainer.namespaces import Namespace

PROGRAM = "uts_ipc.py"
IPC_CREAT = 0o1000
STAND_IN = Namespace.UTS | Namespace.IPC


def _key(ctx, salt: int) -> int:
    """A System V key of this attempt (positive 31-bit)."""
    return (int(ctx.nonce[:7], 16) ^ salt) & 0x7FFFFFFF or 1


def _renamed(host: StandInHost, before: str) -> str | None:
    """The stand-in host's new name, if the program renamed it."""
    now = host.hostname()
    return now if now != before else None


def hostname_inside(ctx):
    """COMMAND sees the hostname you gave"""
    name = f"lab-{ctx.nonce[:8]}"
    with StandInHost(STAND_IN) as host:
        before = host.hostname()
        ran = ctx.run(PROGRAM, name, "hostname", host=host)
        renamed = _renamed(host, before)
    if renamed:
        return failed(f"your program renamed the host it ran on to {renamed} (a stand-in "
                      f"host: the real one is still {socket.gethostname()})",
                      "set_hostname ran in the host's UTS namespace: the clone must make a new "
                      "one before the child names itself")
    seen = ran.stdout.strip()
    if ran.returncode != 0:
        return failed(f"`uts_ipc.py {name} hostname`: {ran.summary()}",
                      "run it by hand and read the traceback")
    if seen != name:
        return failed(f"`hostname` inside printed {seen!r}, not {name!r}",
                      "the child must set its hostname before it execs COMMAND")
    return passed(f"`uts_ipc.py {name} hostname` printed {name}; the host is still {before}")


def host_ipc_invisible(ctx):
    """a message queue of the host is invisible inside"""
    key = _key(ctx, 0x1111)
    with StandInHost(STAND_IN) as host:
        host.make_queue(key)
        ran = ctx.run(PROGRAM, "lab", "cat", "/proc/sysvipc/msg", host=host)
    if ran.returncode != 0:
        return failed(f"`uts_ipc.py lab cat /proc/sysvipc/msg`: {ran.summary()}",
                      "make the first step pass first")
    keys = {line.split()[0] for line in ran.stdout.splitlines()[1:] if line.split()}
    if str(key) in keys:
        return failed(f"the host's queue (key {key}) is listed inside",
                      "System V objects live in an IPC namespace; COMMAND is still in the "
                      "host's")
    return passed(f"the host's queue (key {key}) is not listed inside "
                  f"({len(keys)} queue(s) there)")


def container_ipc_stays_inside(ctx):
    """a message queue made inside does not appear on the host"""
    key = _key(ctx, 0x2222)
    make = (f"import ctypes; q = ctypes.CDLL(None).msgget({key}, {IPC_CREAT | 0o600}); "
            "print('queue', q)")
    with StandInHost(STAND_IN) as host:
        ran = ctx.run(PROGRAM, "lab", "python3", "-c", make, host=host)
        leaked = key in host.queue_keys()
    if ran.returncode != 0 or "queue" not in ran.stdout:
        return failed(f"`uts_ipc.py lab python3 -c 'msgget(...)'`: {ran.summary()}",
                      "make the first step pass first")
    if leaked:
        return failed(f"the queue made inside (key {key}) was left on the host it ran on",
                      "without an IPC namespace of its own, whatever the container creates "
                      "stays in the host's after it exits")
    return passed(f"the container made queue key {key}; the host has none: it went with the "
                  "container's IPC namespace")


def _listed_inside(key: int, *run_flags: str) -> bool:
    """Whether a container run with ``run_flags`` lists queue ``key`` of its host (a
    stand-in holding it)."""
    with StandInHost(Namespace.IPC) as host:
        host.make_queue(key)
        ran = minicontainer("run", *run_flags, "--", "cat", "/proc/sysvipc/msg", host=host)
    return str(key) in ran.stdout


def pitfall(ctx):
    """the pitfall: `minicontainer run --share ipc` sees the host's queues"""
    key = _key(ctx, 0x3333)
    weak, hard = _listed_inside(key, "--share", "ipc"), _listed_inside(key)
    detail = (f"host queue {key}: seen with --share ipc: {'yes' if weak else 'no'}; "
              f"seen by default: {'yes' if hard else 'no'}")
    if weak and not hard:
        return passed(detail)
    return failed(detail, "the runtime does not behave as documented: run both commands by hand")


STEPS = [hostname_inside, host_ipc_invisible, container_ipc_stays_inside, pitfall]


def _observe(ctx, args, ok, prepare=lambda host: None):
    """Run uts_ipc.py ARGS in a stand-in host (``prepare``-d first), the student's if it
    answers, else the reference one; the run, whose it was and the stand-in's hostname
    before and after."""
    attempts = [(ctx.reference(), "the reference uts_ipc.py")]
    if ctx.has(PROGRAM):
        attempts.insert(0, (ctx, "your uts_ipc.py"))
    for attempt, whose in attempts:
        with StandInHost(STAND_IN) as host:
            prepare(host)
            before = host.hostname()
            ran = attempt.run(PROGRAM, *args, host=host)
            after = host.hostname()
        if ok(ran) or attempt is attempts[-1][0]:
            return ran, whose, before, after


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now."""
    if question_id == "host-hostname":
        name = f"quiz-{ctx.nonce[:8]}"
        ran, whose, before, after = _observe(ctx, [name, "hostname"],
                                             lambda r: r.stdout.strip() == name)
        if after != before:
            return "A", f"{whose}: the host it ran on (a stand-in) was renamed to {after}"
        return "B", f"{whose}: inside `{ran.stdout.strip()}`, the host still `{after}`"
    if question_id == "host-queue":
        key = _key(ctx, 0x4444)
        ran, whose, _, _ = _observe(ctx, ["quiz", "cat", "/proc/sysvipc/msg"],
                                    lambda r: str(key) not in r.stdout and r.returncode == 0,
                                    prepare=lambda host: host.make_queue(key))
        seen = str(key) in ran.stdout
        return ("A" if seen else "B",
                f"{whose}: the host's queue {key} is {'' if seen else 'not '}listed inside")
    if question_id == "share-ipc":
        seen = _listed_inside(_key(ctx, 0x5555), "--share", "ipc")
        return ("A" if seen else "B",
                f"`minicontainer run --share ipc`: the host's queue is "
                f"{'' if seen else 'not '}listed")
    return None
