"""Checks of lab 02: the student's uts_ipc.py, judged by hostname and IPC objects seen
from inside and from the host."""

import ctypes
import socket

from minicontainer import namespaces
from minicontainer.labs import failed, minicontainer, passed

PROGRAM = "uts_ipc.py"
IPC_CREAT = 0o1000
IPC_RMID = 0
_libc = ctypes.CDLL(None, use_errno=True)


def _key(ctx, salt: int) -> int:
    """A System V key of this attempt (positive 31-bit)."""
    return (int(ctx.nonce[:7], 16) ^ salt) & 0x7FFFFFFF or 1


def _host_queue_keys() -> set[int]:
    with open("/proc/sysvipc/msg") as f:
        return {int(line.split()[0]) for line in f.readlines()[1:] if line.split()}


def _make_queue(key: int) -> int:
    queue = _libc.msgget(key, IPC_CREAT | 0o600)
    if queue < 0:
        raise OSError(ctypes.get_errno(), "msgget")
    return queue


def _remove_queue(key: int) -> None:
    queue = _libc.msgget(key, 0)
    if queue >= 0:
        _libc.msgctl(queue, IPC_RMID, None)


class _HostName:
    """Keeps the host's hostname, and puts it back if a run changed it."""

    def __enter__(self):
        self.name = socket.gethostname()
        self.changed_to = None
        return self

    def __exit__(self, *exc):
        now = socket.gethostname()
        if now != self.name:
            self.changed_to = now
            namespaces.set_hostname(self.name)


def _run(ctx, *args):
    """Run the program; a host renamed by it is renamed back, and said."""
    with _HostName() as host:
        ran = ctx.run(PROGRAM, *args)
    if host.changed_to:
        ran.stderr += (f"\nthe host was renamed to {host.changed_to} (renamed back to "
                       f"{host.name})")
    return ran


def hostname_inside(ctx):
    """COMMAND sees the hostname you gave"""
    name = f"lab-{ctx.nonce[:8]}"
    with _HostName() as host:
        ran = ctx.run(PROGRAM, name, "hostname")
    if host.changed_to:
        return failed(f"the host was renamed to {host.changed_to} (renamed back to {host.name})",
                      "set_hostname ran in the host's UTS namespace: the clone must make a new "
                      "one before the child names itself")
    seen = ran.stdout.strip()
    if ran.returncode != 0:
        return failed(f"`uts_ipc.py {name} hostname`: {ran.summary()}",
                      "run it by hand and read the traceback")
    if seen != name:
        return failed(f"`hostname` inside printed {seen!r}, not {name!r}",
                      "the child must set its hostname before it execs COMMAND")
    return passed(f"`uts_ipc.py {name} hostname` printed {name}; the host is still {host.name}")


def host_ipc_invisible(ctx):
    """a message queue of the host is invisible inside"""
    key = _key(ctx, 0x1111)
    _make_queue(key)
    try:
        ran = _run(ctx, "lab", "cat", "/proc/sysvipc/msg")
    finally:
        _remove_queue(key)
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
    ran = _run(ctx, "lab", "python3", "-c", make)
    leaked = key in _host_queue_keys()
    _remove_queue(key)
    if ran.returncode != 0 or "queue" not in ran.stdout:
        return failed(f"`uts_ipc.py lab python3 -c 'msgget(...)'`: {ran.summary()}",
                      "make the first step pass first")
    if leaked:
        return failed(f"the queue made inside (key {key}) was left on the host (removed now)",
                      "without an IPC namespace of its own, whatever the container creates "
                      "stays in the host's after it exits")
    return passed(f"the container made queue key {key}; the host has none: it went with the "
                  "container's IPC namespace")


def pitfall(ctx):
    """the pitfall: `minicontainer run --share ipc` sees the host's queues"""
    key = _key(ctx, 0x3333)
    _make_queue(key)
    try:
        shared = minicontainer("run", "--share", "ipc", "--", "cat", "/proc/sysvipc/msg")
        default = minicontainer("run", "--", "cat", "/proc/sysvipc/msg")
    finally:
        _remove_queue(key)
    weak, hard = str(key) in shared.stdout, str(key) in default.stdout
    detail = (f"host queue {key}: seen with --share ipc: {'yes' if weak else 'no'}; "
              f"seen by default: {'yes' if hard else 'no'}")
    if weak and not hard:
        return passed(detail)
    return failed(detail, "the runtime does not behave as documented: run both commands by hand")


STEPS = [hostname_inside, host_ipc_invisible, container_ipc_stays_inside, pitfall]


def _observe(ctx, args, ok):
    """Run uts_ipc.py ARGS, the student's if it answers, else the reference one."""
    ran = _run(ctx, *args) if ctx.has(PROGRAM) else None
    if ran is not None and ok(ran):
        return ran, "your uts_ipc.py"
    return _run(ctx.reference(), *args), "the reference uts_ipc.py"


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now."""
    if question_id == "host-hostname":
        name = f"quiz-{ctx.nonce[:8]}"
        ran, whose = _observe(ctx, [name, "hostname"], lambda r: r.stdout.strip() == name)
        if "the host was renamed" in ran.stderr:
            return "A", f"{whose}: {ran.stderr.strip().splitlines()[-1]}"
        return "B", f"{whose}: inside `{ran.stdout.strip()}`, the host still " \
                    f"`{socket.gethostname()}`"
    if question_id == "host-queue":
        key = _key(ctx, 0x4444)
        _make_queue(key)
        try:
            ran, whose = _observe(ctx, ["quiz", "cat", "/proc/sysvipc/msg"],
                                  lambda r: str(key) not in r.stdout and r.returncode == 0)
        finally:
            _remove_queue(key)
        seen = str(key) in ran.stdout
        return ("A" if seen else "B",
                f"{whose}: the host's queue {key} is {'' if seen else 'not '}listed inside")
    if question_id == "share-ipc":
        key = _key(ctx, 0x5555)
        _make_queue(key)
        try:
            shared = minicontainer("run", "--share", "ipc", "--", "cat", "/proc/sysvipc/msg")
        finally:
            _remove_queue(key)
        seen = str(key) in shared.stdout
        return ("A" if seen else "B",
                f"`minicontainer run --share ipc`: the host's queue is "
                f"{'' if seen else 'not '}listed")
    return None
