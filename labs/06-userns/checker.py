"""Checks of lab 06: the student's userns.py, judged by the ids its command has inside,
the ids the host sees, and what it may do to the host's files.

The program keeps the host's filesystem, so every check is on real host files: a
scratch directory under /tmp that the checker makes for the attempt (a 0600 and a 0640
file of root's holding the nonce, and a world-writable directory) and removes again.
Each attempt maps the container onto a different host range, derived from its nonce.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from minicontainer.labs import Ran, failed, passed, read_status

PROGRAM = "userns.py"
SIZE = 65536
# Far above the ids of users and of minicontainer's own containers (1000000000 on).
FIRST_RANGE = 3_000_000_000
RANGES = 4096


def _host_id(ctx) -> int:
    """The first host id this attempt maps the container onto."""
    return FIRST_RANGE + int(ctx.nonce[:4], 16) % RANGES * SIZE


def _host_user_ns() -> str:
    return os.readlink("/proc/self/ns/user")


def _run(ctx, *command: str) -> Ran:
    return ctx.run(PROGRAM, str(_host_id(ctx)), *command)


class Scratch:
    """A directory of root's under /tmp for one attempt: ``secret`` (0600) and
    ``group-secret`` (0640, group root) holding the nonce, and ``shared/`` (1777)."""

    def __init__(self, nonce: str) -> None:
        self.nonce = nonce

    def __enter__(self) -> "Scratch":
        self.path = tempfile.mkdtemp(prefix="mc-lab06-")
        os.chmod(self.path, 0o755)  # the mapped ids must reach the files inside
        for name, mode in (("secret", 0o600), ("group-secret", 0o640)):
            path = self.file(name)
            with open(path, "w") as f:
                f.write(f"lab06-{name}-{self.nonce}\n")
            os.chown(path, 0, 0)
            os.chmod(path, mode)
        os.mkdir(self.file("shared"))
        os.chmod(self.file("shared"), 0o1777)
        return self

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path)


def _crash_hint(ran: Ran) -> str:
    if "setgroups" in ran.stderr:
        return ("setgroups() in a user namespace needs its gid_map written first, and is "
                "refused for good once 'deny' was written to /proc/PID/setgroups: as host "
                "root the parent need not deny it")
    if "uid_map" in ran.stderr or "gid_map" in ran.stderr:
        return ("a map is written once, whole, in one write(), by a process with "
                "CAP_SETUID over the parent namespace (you are root): read user_namespaces(7), "
                "'User and group ID mappings'")
    if "Invalid argument" in ran.stderr:
        return ("setresuid/setresgid to an id the namespace does not map is EINVAL: are "
                "both uid_map and gid_map written before the child takes uid and gid 0?")
    return "run it by hand (`sudo minicontainer lab run 06 -- 1000000000 id`) and read the error"


def root_inside(ctx):
    """COMMAND runs as uid 0 and gid 0 of a new user namespace"""
    ran = _run(ctx, "sh", "-c", "readlink /proc/self/ns/user; id -u; id -g; "
               "cat /proc/self/uid_map")
    lines = ran.stdout.splitlines()
    if ran.returncode != 0 or len(lines) < 3:
        return failed(f"`userns.py {_host_id(ctx)} sh -c 'id -u; ...'`: {ran.summary()}",
                      _crash_hint(ran))
    namespace, uid, gid = (line.strip() for line in lines[:3])
    uid_map = " ".join(" ".join(lines[3:]).split())
    if namespace == _host_user_ns():
        return failed(f"COMMAND is in the host's {namespace}, as the host's uid {uid}",
                      "clone() without a user namespace flag is a plain fork: root inside is "
                      "simply root; which Namespace flag gives the child ids of its own?")
    if not uid_map:
        return failed(f"COMMAND is in {namespace} but its uid_map is empty: `id -u` prints "
                      f"{uid}, the overflow id of an unmapped uid",
                      "the parent writes the maps (/proc/PID/uid_map and gid_map) before it "
                      "releases the child: write_map() must write them")
    if (uid, gid) != ("0", "0"):
        return failed(f"uid_map is `{uid_map}` but `id -u` / `id -g` print {uid} / {gid}",
                      "the child still holds the host's ids, which the map does not cover: "
                      "after the maps are written it must take uid and gid 0 of the namespace")
    return passed(f"`id -u` and `id -g` print 0 in {namespace} (host: {_host_user_ns()}); "
                  f"uid_map: `{uid_map}`")


def _descendant(root: int, comm: str, timeout: float = 2.0) -> int | None:
    """The first process under ``root`` (the program) whose name is ``comm``, waiting
    up to ``timeout`` seconds for it to exec."""
    deadline = time.monotonic() + timeout
    while True:
        found = _find(root, comm)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def _find(root: int, comm: str) -> int | None:
    queue = [root]
    while queue:
        pid = queue.pop(0)
        try:
            with open(f"/proc/{pid}/comm") as f:
                if pid != root and f.read().strip() == comm:
                    return pid
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                queue += [int(child) for child in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return None


def host_sees_mapped_id(ctx):
    """from the host, COMMAND runs as the mapped host id, not as root"""
    host_id = _host_id(ctx)
    running = ctx.start(PROGRAM, str(host_id), "sh", "-c", "echo READY; exec sleep 10")
    try:
        ready = running.wait_for("READY", timeout=5)
        pid = _descendant(running.process.pid, "sleep") if ready else None
        status = read_status(pid) if pid else None
        uids = status and _ids(pid, "Uid")
        gids = status and _ids(pid, "Gid")
    finally:
        running.stop()
    if not status:
        return failed(f"`userns.py {host_id} sh -c 'echo READY; exec sleep 10'` did not start",
                      "make the first step pass first")
    if uids != [host_id] * 4 or gids != [host_id] * 4:
        root = uids and uids[0] == 0
        return failed(f"/proc/{pid}/status on the host: Uid {' '.join(map(str, uids))}, "
                      f"Gid {' '.join(map(str, gids))} (this attempt maps 0 onto {host_id})",
                      "root inside is root outside: the second field of a map line is the "
                      "host id that container id 0 becomes" if root else
                      "every id of COMMAND (real, effective, saved, fs) must be 0 inside, "
                      f"{host_id} outside: are both maps written with HOST_ID?")
    return passed(f"inside uid 0; from the host /proc/{pid}/status says Uid and Gid {host_id}: "
                  "an unprivileged id")


def _ids(pid: int, field: str) -> list[int]:
    """The ids of the ``Uid`` or ``Gid`` line of /proc/PID/status (none if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return [int(x) for x in line.split()[1:]]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return []


def files_owned_by_host_id(ctx):
    """a file COMMAND creates in a host directory belongs to the mapped host id"""
    host_id = _host_id(ctx)
    with Scratch(ctx.nonce) as scratch:
        made = scratch.file(f"shared/made-{ctx.nonce}")
        ran = _run(ctx, "sh", "-c", f"touch {made} && stat -c '%u %g' {made}")
        stat = os.stat(made) if os.path.exists(made) else None
    if ran.returncode != 0 or stat is None:
        return failed(f"`userns.py {host_id} touch {made}`: {ran.summary()}",
                      "make the first step pass first")
    inside = ran.stdout.strip()
    owner = (stat.st_uid, stat.st_gid)
    if owner != (host_id, host_id):
        return failed(f"inside, the new file is owned by `{inside}`; on the host by "
                      f"{owner[0]}:{owner[1]}, not {host_id}:{host_id}",
                      "files get the fs uid and gid of their creator as the host counts them: "
                      "those of host root unless the maps send 0 elsewhere" if 0 in owner else
                      "a map line sends container id 0 to the host id in its second field: "
                      "are both maps written with HOST_ID?")
    return passed(f"inside it is owned by `{inside}` (root), on the host by "
                  f"{host_id}:{host_id}")


def _run_holding_group_root(ctx, *command: str) -> Ran:
    """:meth:`Context.run`, but the program starts holding supplementary group 0 (root),
    as `sudo` gives it."""
    process = subprocess.Popen([sys.executable, ctx.program(PROGRAM), str(_host_id(ctx)),
                                *command], cwd=ctx.workspace, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                               start_new_session=True, extra_groups=[0])
    try:
        stdout, stderr = process.communicate(timeout=10)
        return Ran(process.returncode, stdout, stderr)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return Ran(None, stdout, stderr, timed_out=True)


def host_root_files_unreadable(ctx):
    """root inside cannot read root's private files on the host"""
    with Scratch(ctx.nonce) as scratch:
        ran = _run_holding_group_root(
            ctx, "sh", "-c", f"id -u; for f in secret group-secret; do "
            f"cat {scratch.file('$f')} 2>/dev/null || echo denied $f; done")
    lines = ran.stdout.split("\n")
    if ran.returncode != 0 or not lines or lines[0] != "0":
        return failed(f"`userns.py ... sh -c 'id -u; cat ...'`: {ran.summary()}",
                      "make the first step pass first")
    if f"lab06-secret-{ctx.nonce}" in ran.stdout:
        return failed("root inside read the host's `secret` (mode 0600, owner root)",
                      "the kernel checks files against the host's ids: COMMAND must not hold "
                      "host uid 0; make the 'mapped host id' step pass")
    if f"lab06-group-secret-{ctx.nonce}" in ran.stdout:
        return failed("root inside read the host's `group-secret` (mode 0640, group root): "
                      "started with supplementary group 0, as under sudo, it kept it",
                      "a user namespace does not translate supplementary groups: the child "
                      "keeps the host's (root's, here) until it calls setgroups() itself")
    return passed("`cat` of root's 0600 `secret` and 0640 `group-secret` on the host: "
                  "Permission denied, although `id -u` is 0 inside")


def pitfall_host_root_mount(ctx):
    """the pitfall: `--userns host -v /:/host` (host-root-mount): root inside writes the host"""
    return ctx.pitfall("host-root-mount")


def pitfall_proc_self_exe(ctx):
    """the pitfall: proc-self-exe (CVE-2019-5736), and the user namespace alone stops it"""
    from minicontainer import escapes
    from minicontainer.escapes import runner
    from minicontainer.escapes.base import BLOCKED

    result = ctx.pitfall("proc-self-exe")
    if result.verdict != "PASS":
        return result
    escape = escapes.find("proc-self-exe")
    at = escape.weakening.index("--userns")
    flags = escape.weakening[:at] + escape.weakening[at + 2:]
    alone = runner.run_one(escape, runner.config_for(escape, flags))
    result.detail += f"; `{' '.join(flags)}` (only the user namespace back): {alone.verdict}"
    if alone.verdict != BLOCKED:
        return failed(result.detail, "with --share pid and CAP_SYS_PTRACE, container root "
                      "should still be a stranger to host root's processes: run "
                      f"`minicontainer run {' '.join(flags)} -- sh` and look at /proc/1/exe")
    return result


STEPS = [root_inside, host_sees_mapped_id, files_owned_by_host_id, host_root_files_unreadable,
         pitfall_host_root_mount, pitfall_proc_self_exe]


def _observe(ctx, command, ok):
    """Run userns.py HOST_ID COMMAND, the student's if it answers, else the reference."""
    ran = _run(ctx, *command) if ctx.has(PROGRAM) else None
    if ran is not None and ok(ran):
        return ran, "your userns.py"
    return _run(ctx.reference(), *command), "the reference userns.py"


_UNMAPPED = """
import os
from minicontainer import namespaces
pid = namespaces.clone(namespaces.Namespace.USER)
if pid == 0:
    os.execvp("id", ["id", "-u"])
os.waitpid(pid, 0)
"""
_UNPRIVILEGED_GID_MAP = """
import os
from minicontainer import namespaces, native
os.setgroups([]); os.setresgid(65534, 65534, 65534); os.setresuid(65534, 65534, 65534)
native.set_dumpable(True)  # a change of uid made /proc/self root's: take it back
namespaces.unshare(namespaces.Namespace.USER)
for name, data in (("uid_map", "0 65534 1"), ("gid_map", "0 65534 1")):
    try:
        fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
        os.write(fd, data.encode())
        os.close(fd)
        print(name, "ok")
    except OSError as e:
        print(name, e.strerror)
"""


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now."""
    if question_id == "id-inside":
        ran, whose = _observe(ctx, ["sh", "-c", "id -u; readlink /proc/self/ns/user"],
                              lambda r: r.stdout.split() == ["0", *r.stdout.split()[1:2]]
                              and _host_user_ns() not in r.stdout)
        uid = (ran.stdout.split() or ["?"])[0]
        return ({"0": "A", str(_host_id(ctx)): "B", "65534": "C"}.get(uid, "D"),
                f"{whose} {_host_id(ctx)} id -u: printed {uid}")
    if question_id == "host-view":
        return _host_view(ctx)
    if question_id == "unmapped":
        uid = subprocess.run([sys.executable, "-c", _UNMAPPED], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        return ({"0": "A", "65534": "B"}.get(uid, "C"),
                f"a new user namespace with no map written: `id -u` printed {uid}")
    if question_id == "root-file":
        with Scratch(ctx.nonce) as scratch:
            ran, whose = _observe(ctx, ["cat", scratch.file("secret")],
                                  lambda r: r.returncode != 0 and "denied" in r.stderr)
        seen = ran.stderr.strip().splitlines()[-1:] or [ran.stdout.strip()]
        return ("B" if "denied" in ran.stderr else "A", f"{whose}: `cat` said {seen[0]!r}")
    if question_id == "unprivileged-gid-map":
        out = subprocess.run([sys.executable, "-c", _UNPRIVILEGED_GID_MAP], capture_output=True,
                             text=True, timeout=10).stdout
        refused = "gid_map Operation not permitted" in out
        return ("B" if refused else "A",
                "uid 65534 in its own new user namespace: " + "; ".join(out.splitlines()))
    return None


def _host_view(ctx):
    """The host uid of COMMAND under the student's program if it maps it, else under the
    reference."""
    attempts = [(ctx.reference(), "the reference userns.py")]
    if ctx.has(PROGRAM):
        attempts.insert(0, (ctx, "your userns.py"))
    host_id = _host_id(ctx)
    for attempt, whose in attempts:
        pid, uid = _host_uid_of_sleep(attempt, host_id)
        if uid == host_id or attempt is attempts[-1][0]:
            choice = "A" if uid == 0 else "B" if uid == host_id else "C"
            return choice, (f"{whose} {host_id} sleep: /proc/{pid}/status on the host says "
                            f"Uid {uid}")


def _host_uid_of_sleep(ctx, host_id: int) -> tuple[int | None, int | None]:
    running = ctx.start(PROGRAM, str(host_id), "sh", "-c", "echo READY; exec sleep 5")
    try:
        running.wait_for("READY", timeout=5)
        pid = _descendant(running.process.pid, "sleep")
        return pid, (_ids(pid, "Uid") or [None])[0] if pid else None
    finally:
        running.stop()
