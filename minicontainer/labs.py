"""Guided labs: find them, run their checkers, keep each student's progress.

A lab is a directory ``labs/NN-name/`` (found beside the package in a checkout or an
editable install, or where ``$MINICONTAINER_LABS`` points) holding:

- ``README.md``: the concept, the steps, the pitfall; its first heading is the title;
- ``lab.json``: ``{"layer": ..., "pitfall": ..., "minutes": N, "program": FILE}``,
  ``program`` being the exercise file ``lab run`` starts;
- ``exercise/``: what ``lab start`` copies to the student's workspace;
- ``checker.py``: the checks, written against the API below;
- ``hints.toml``: ``nudge``, ``concept`` and ``nearly`` (levels 1, 2, 3);
- ``quiz.json``: "predict, then run" questions;
- ``solution/``: the reference solution (same file names as ``exercise/``);
- ``INSTRUCTOR.md``: timing, expected output, common mistakes.

The checker API
---------------

``checker.py`` defines ``STEPS``, a list of functions ``step(ctx: Context) -> Result``;
the first line of a step's docstring is its title.  A step returns :func:`passed`,
:func:`failed` (with a hint tied to the reason) or :func:`skipped` (naming the host
precondition that is missing).  It judges *outcomes*: it runs the student's program
(:meth:`Context.run`, :meth:`Context.start`), looks from the host (``/proc``, the
:class:`StandInHost`) and from inside a container (:meth:`Context.probe`), and runs the
lab's pitfall from the escape catalogue (:meth:`Context.escape`).  It never reads the
student's source.  Each attempt has a fresh ``nonce``.  A program whose mistake would
change the whole host (its hostname, IPC objects, mount table) runs inside a
:class:`StandInHost` (``run(..., host=...)``), which the step then inspects.

``checker.py`` may also define ``quiz_answer(question_id, ctx) -> (choice, evidence)``:
the right choice of a quiz question as the student's own container shows it (None
where the question is not observable), and ``prepare(workspace) -> list[str]``: the
host fixtures the lab needs (a root filesystem to build on, say), made in the workspace
by ``lab start`` and again before each check if missing, so it must be idempotent; it
returns one line per fixture it made, for the student.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field

PASS = "PASS"
FAIL = "FAIL"
SKIP = "SKIP"
HINT_LEVELS = ("nudge", "concept", "nearly")
CHECK_BUDGET = 30.0
IPC_CREAT = 0o1000
_LAB_DIR = re.compile(r"^(\d\d)-([a-z0-9-]+)$")


# --- where the labs are -------------------------------------------------------------

def labs_root() -> str:
    """The directory holding the labs: ``$MINICONTAINER_LABS``, else ``labs/`` beside
    the package (a checkout, or an editable install of one)."""
    configured = os.environ.get("MINICONTAINER_LABS")
    if configured:
        return configured
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "labs")


class Lab:
    """One lab directory and what it declares."""

    def __init__(self, path: str) -> None:
        match = _LAB_DIR.match(os.path.basename(path))
        if match is None:
            raise ValueError(f"{path}: a lab directory is named NN-name")
        self.path = path
        self.number, self.name = match.groups()
        self.slug = os.path.basename(path)
        with open(os.path.join(path, "lab.json")) as f:
            meta = json.load(f)
        self.layer: str = meta["layer"]
        self.pitfall: str = meta["pitfall"]
        self.minutes: int = meta["minutes"]
        self.program: str = meta["program"]
        self.title = _title(os.path.join(path, "README.md")) or self.slug

    def file(self, *parts: str) -> str:
        """A path inside the lab's directory."""
        return os.path.join(self.path, *parts)

    def readme(self) -> str:
        """The README's text."""
        with open(self.file("README.md")) as f:
            return f.read()

    def hints(self) -> list[str]:
        """The three hints, nudge first."""
        with open(self.file("hints.toml"), "rb") as f:
            data = tomllib.load(f)
        return [data[level].strip() for level in HINT_LEVELS]

    def quiz(self) -> list[dict]:
        """The quiz questions: ``id``, ``question``, ``choices`` (letter: text), ``answer``,
        ``explain``."""
        with open(self.file("quiz.json")) as f:
            return json.load(f)["questions"]

    def checker(self):
        """The lab's checker module, loaded from its file."""
        spec = importlib.util.spec_from_file_location(f"minicontainer_lab_{self.number}",
                                                      self.file("checker.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def _title(readme: str) -> str:
    with open(readme) as f:
        for line in f:
            if line.startswith("# "):
                return line[2:].strip()
    return ""


def all_labs(root: str | None = None) -> list[Lab]:
    """Every lab, in number order."""
    root = root or labs_root()
    return [Lab(os.path.join(root, entry)) for entry in sorted(os.listdir(root))
            if _LAB_DIR.match(entry) and os.path.isdir(os.path.join(root, entry))]


def find(key: str, root: str | None = None) -> Lab:
    """The lab named by ``key``: its number (``1``, ``01``), name (``pid``) or both
    (``01-pid``); KeyError listing the labs if none matches."""
    labs = all_labs(root)
    for lab in labs:
        if key in (lab.slug, lab.name) or (key.isdigit() and int(key) == int(lab.number)):
            return lab
    raise KeyError(f"no lab {key!r}; labs: {', '.join(lab.slug for lab in labs)}")


# --- the student -----------------------------------------------------------------

@dataclass
class Student:
    """The user who invoked the command (``SUDO_USER`` under sudo), and where their
    labs and progress live."""

    name: str
    uid: int
    gid: int
    home: str

    @classmethod
    def invoking(cls) -> Student:
        """The invoking user: ``SUDO_USER`` when run through sudo, else the caller."""
        sudo_user = os.environ.get("SUDO_USER")
        if sudo_user and os.geteuid() == 0:
            entry = pwd.getpwnam(sudo_user)
        else:
            entry = pwd.getpwuid(os.getuid())
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)

    def workspace(self, base: str | None, lab: Lab) -> str:
        """The student's copy of ``lab``: ``BASE/NN-name``, by default under
        ``~/minicontainer-labs``."""
        return os.path.join(base or os.path.join(self.home, "minicontainer-labs"), lab.slug)

    def state_file(self) -> str:
        """``labs.json`` in the XDG state directory of the student."""
        # sudo resets the environment: a XDG_STATE_HOME that survives it is the student's.
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(self.home, ".local", "state")
        return os.path.join(base, "minicontainer", "labs.json")

    def give(self, path: str) -> None:
        """Make ``path`` (a tree) the student's, without following symlinks."""
        os.chown(path, self.uid, self.gid, follow_symlinks=False)
        for top, dirs, files in os.walk(path):
            for entry in dirs + files:
                os.chown(os.path.join(top, entry), self.uid, self.gid, follow_symlinks=False)


class Progress:
    """What one student did in each lab, kept as JSON in their state directory."""

    def __init__(self, student: Student) -> None:
        self.student = student
        self.path = student.state_file()
        try:
            with open(self.path) as f:
                self.labs: dict[str, dict] = json.load(f).get("labs", {})
        except FileNotFoundError:
            self.labs = {}

    def of(self, lab: Lab) -> dict:
        """The record of ``lab`` (empty if never touched)."""
        return self.labs.setdefault(lab.slug, {})

    def status(self, lab: Lab) -> str:
        """``passed``, ``started`` or ``-``."""
        record = self.labs.get(lab.slug, {})
        if record.get("passed"):
            return "passed"
        return "started" if record else "-"

    def save(self) -> None:
        """Write the file (and its directories), owned by the student."""
        directory = os.path.dirname(self.path)
        made = []
        probe = directory
        while not os.path.isdir(probe):
            made.append(probe)
            probe = os.path.dirname(probe)
        os.makedirs(directory, exist_ok=True)
        temporary = self.path + ".tmp"
        with open(temporary, "w") as f:
            json.dump({"labs": self.labs}, f, indent=2)
        os.replace(temporary, self.path)
        for path in [*made, self.path]:
            os.chown(path, self.student.uid, self.student.gid, follow_symlinks=False)


# --- the checker API -------------------------------------------------------------

@dataclass
class Result:
    """The verdict of one step: PASS, FAIL (with a hint) or SKIP (with what is missing)."""

    verdict: str
    detail: str
    hint: str = ""
    title: str = ""
    step: str = ""


def passed(detail: str) -> Result:
    """The step holds; ``detail`` is what was seen."""
    return Result(PASS, detail)


def failed(detail: str, hint: str) -> Result:
    """The step does not hold: ``detail`` is what was seen, ``hint`` what to look at."""
    return Result(FAIL, detail, hint)


def skipped(missing: str) -> Result:
    """The step cannot run on this host: ``missing`` names the precondition."""
    return Result(SKIP, missing)


@dataclass
class Ran:
    """A finished run of the student's program."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def output(self) -> str:
        """stdout and stderr together."""
        return self.stdout + self.stderr

    def summary(self) -> str:
        """One line for a FAIL's detail: how it ended and its last line of stderr."""
        if self.timed_out:
            return "it did not finish in time"
        last = [line for line in self.stderr.splitlines() if line.strip()][-1:]
        return f"exit {self.returncode}" + (f": {last[0]}" if last else "")


class Running:
    """The student's program running in the background, in a session of its own."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.seen = ""
        os.set_blocking(process.stdout.fileno(), False)

    def wait_for(self, text: str, timeout: float = 10.0) -> bool:
        """Read its stdout until ``text`` shows; False if it did not in ``timeout``."""
        import select

        deadline = time.monotonic() + timeout
        while text not in self.seen and time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:
                chunk = self.process.stdout.read()
                if not chunk:
                    break
                self.seen += chunk
        return text in self.seen

    def children(self, pid: int | None = None) -> list[int]:
        """The children of ``pid`` (default: of the program), as host pids."""
        pid = pid or self.process.pid
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                status = read_status(int(entry))
                if status and status.get("PPid") == str(pid):
                    found.append(int(entry))
        return sorted(found)

    def exited_within(self, timeout: float) -> bool:
        """Whether the program ends within ``timeout`` seconds."""
        try:
            self.process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        """Kill the program's whole session and reap it."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.process.stdout.close()


def read_status(pid: int) -> dict[str, str] | None:
    """``/proc/PID/status`` as a dict of its first fields (None if the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return {k: v.split()[0] if v.split() else "" for k, v in
                    (line.split(":", 1) for line in f if ":" in line)}
    except (FileNotFoundError, ProcessLookupError):
        return None


class StandInHost:
    """Throwaway namespaces that play the host for a student's program.

    A wrong solution changes kernel-wide state where it runs (the hostname, System V
    IPC objects, the mount table, the network): run inside a stand-in, the change
    lands in these namespaces and the checker reads it from them, while the real host
    never sees it.  A helper process holds the namespaces (``flags``, a
    :class:`Namespace` mask of UTS, IPC, NET and MNT) and answers questions about them;
    they go when it exits.  A stand-in network namespace has its loopback up, as a
    host's is.
    """

    def __init__(self, flags) -> None:
        self.flags = int(flags)

    def __enter__(self) -> StandInHost:
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from minicontainer.labs import serve_stand_in; "
             "serve_stand_in()", str(self.flags)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "ready":
            self.__exit__()
            raise RuntimeError("the stand-in host's namespaces could not be made")
        return self

    def __exit__(self, *exc) -> None:
        self.process.stdin.close()
        self.process.wait(10)
        self.process.stdout.close()

    def ask(self, *question: str) -> str:
        """One answer of the helper (see ``serve_stand_in``)."""
        self.process.stdin.write(" ".join(question) + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().rstrip("\n")

    def hostname(self) -> str:
        """The stand-in's hostname."""
        return self.ask("hostname")

    def queue_keys(self) -> set[int]:
        """The keys of the System V message queues of the stand-in."""
        return {int(key) for key in self.ask("queues").split()}

    def make_queue(self, key: int) -> None:
        """A message queue with ``key`` in the stand-in (gone with it)."""
        answer = self.ask("make-queue", str(key))
        if answer != "made":
            raise RuntimeError(f"msgget({key}) in the stand-in host: {answer}")

    def proc_mounts(self) -> int:
        """How many mounts on ``/proc`` the stand-in's mount table has."""
        # Read through the host's /proc: a procfs mounted over the stand-in's may not
        # know the helper.
        with open(f"/proc/{self.process.pid}/mountinfo") as f:
            return sum(row.split()[4] == "/proc" for row in f)

    def mount_table(self) -> set[str]:
        """The rows of the stand-in's ``mountinfo``: a mount that appears between two
        calls is a new row (every mount has an id of its own)."""
        with open(f"/proc/{self.process.pid}/mountinfo") as f:
            return set(f.read().splitlines())

    def inode(self, namespace) -> int:
        """The inode of the stand-in's ``namespace`` (the host's, if it does not have
        that one)."""
        from minicontainer import namespaces

        return namespaces.inode(self.process.pid, namespace)

    def links(self) -> list:
        """The interfaces of the stand-in's network namespace, as
        :func:`minicontainer.network.links` lists them."""
        from minicontainer.network import Link

        return [Link(*fields[:4], tuple(fields[4])) for fields in json.loads(self.ask("links"))]

    def routes(self) -> list[str]:
        """The IPv4 routes of the stand-in's network namespace
        (:func:`minicontainer.network.routes`)."""
        return json.loads(self.ask("routes"))

    def preexec(self, cwd: str):
        """A ``preexec_fn`` that moves the new process into the stand-in's namespaces,
        then to ``cwd`` (joining a mount namespace goes to its ``/``)."""
        # Imported here, in the parent: a child forked while another thread holds the
        # import lock would wait for it forever.
        from minicontainer import namespaces
        from minicontainer.namespaces import Namespace

        joined = [namespace for namespace in (Namespace.UTS, Namespace.IPC, Namespace.NET,
                                              Namespace.MNT)
                  if self.flags & namespace]
        holder = self.process.pid

        def enter() -> None:
            for namespace in joined:
                namespaces.setns(holder, namespace)
            os.chdir(cwd)
        return enter


def serve_stand_in() -> None:
    """The helper of :class:`StandInHost`: make the namespaces ``sys.argv[1]`` names,
    say ``ready``, then answer one line per question read from stdin until it closes."""
    import ctypes

    from minicontainer import mounts, namespaces
    from minicontainer.namespaces import Namespace

    flags = int(sys.argv[1])
    namespaces.unshare(flags)
    if flags & Namespace.MNT:
        mounts.set_propagation("rprivate")
    if flags & Namespace.NET:
        from minicontainer import network

        network.loopback_up()
    libc = ctypes.CDLL(None, use_errno=True)
    print("ready", flush=True)
    for line in sys.stdin:
        question, *args = line.split()
        if question == "hostname":
            answer = socket.gethostname()
        elif question == "queues":
            with open("/proc/sysvipc/msg") as f:
                answer = " ".join(row.split()[0] for row in f.readlines()[1:] if row.split())
        elif question == "make-queue":
            queue = libc.msgget(int(args[0]), IPC_CREAT | 0o600)
            answer = "made" if queue >= 0 else f"error {ctypes.get_errno()}"
        elif question in ("links", "routes"):
            from minicontainer import network

            answer = json.dumps(getattr(network, question)())
        else:
            answer = f"unknown question {question!r}"
        print(answer, flush=True)


def probe_binary() -> str:
    """The static mc-probe of the default rootfs (it runs on the host as well)."""
    from minicontainer import rootfs

    return os.path.join(rootfs.default_rootfs(), rootfs.PROBE_PATH)


def minicontainer(*args: str, timeout: float = 20.0,
                  host: StandInHost | None = None) -> subprocess.CompletedProcess:
    """Run ``minicontainer ARGS`` (this installation's, inside ``host`` if given) and
    capture its output."""
    return subprocess.run([sys.executable, "-m", "minicontainer", *args], capture_output=True,
                          text=True, timeout=timeout,
                          preexec_fn=host and host.preexec(os.getcwd()))


@dataclass
class Context:
    """One attempt at checking a lab: the student's workspace, a fresh nonce."""

    lab: Lab
    workspace: str
    nonce: str = field(default_factory=lambda: os.urandom(6).hex())
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.workspace = os.path.abspath(self.workspace)

    def reference(self) -> Context:
        """The same attempt against the lab's reference solution: what a working
        container shows, for quiz questions the student's program cannot answer yet."""
        return Context(self.lab, self.lab.file("solution"), self.nonce, self.started)

    def program(self, name: str) -> str:
        """The path of the student's file ``name``."""
        return os.path.join(self.workspace, name)

    def has(self, name: str) -> bool:
        """Whether the student's workspace holds ``name``."""
        return os.path.isfile(self.program(name))

    def run(self, name: str, *args: str, timeout: float = 10.0,
            host: StandInHost | None = None) -> Ran:
        """Run the student's Python program ``name`` with ``args`` (inside ``host``,
        if given); killed (with everything it started) after ``timeout`` seconds."""
        process = subprocess.Popen([sys.executable, self.program(name), *args],
                                   cwd=self.workspace, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                   text=True, start_new_session=True,
                                   preexec_fn=host and host.preexec(self.workspace))
        try:
            stdout, stderr = process.communicate(timeout=timeout)
            return Ran(process.returncode, stdout, stderr)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            return Ran(None, stdout, stderr, timed_out=True)

    def start(self, name: str, *args: str, host: StandInHost | None = None) -> Running:
        """Start the student's program ``name`` in the background (inside ``host``, if
        given; stop it with :meth:`Running.stop`, in a ``finally``)."""
        process = subprocess.Popen([sys.executable, self.program(name), *args],
                                   cwd=self.workspace, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                   text=True, start_new_session=True,
                                   preexec_fn=host and host.preexec(self.workspace))
        return Running(process)

    def probe(self, *run_flags: str) -> dict:
        """What mc-probe sees inside a minicontainer container run with ``run_flags``."""
        result = minicontainer("run", *run_flags, "--", "mc-probe", "--json")
        if result.returncode != 0:
            raise RuntimeError(f"minicontainer run {' '.join(run_flags)} failed: "
                               f"{result.stderr.strip()}")
        return json.loads(result.stdout)

    def escape(self, name: str, weakened: bool):
        """Run escape ``name`` of the catalogue against the default or its weakening;
        its ``Outcome`` (``verdict``, ``evidence``)."""
        from minicontainer import escapes
        from minicontainer.escapes import runner

        escape = escapes.find(name)
        flags = escape.weakening if weakened else []
        return runner.run_one(escape, runner.config_for(escape, flags))

    def pitfall(self, name: str) -> Result:
        """The lab's pitfall from the escape catalogue, weakened then hardened: PASS
        when it escapes weakened and is blocked by default, as documented."""
        from minicontainer import escapes
        from minicontainer.escapes.base import BLOCKED, ESCAPED

        missing = escapes.find(name).missing()
        if missing:
            return skipped(missing)
        weak = self.escape(name, weakened=True)
        hard = self.escape(name, weakened=False)
        answer = (hard.evidence.splitlines() or [""])[-1]
        detail = (f"`minicontainer escape run {name} --weakened`: {weak.verdict}; "
                  f"default: {hard.verdict} ({answer.strip()})")
        if weak.verdict == ESCAPED and hard.verdict == BLOCKED:
            return passed(detail)
        return failed(detail, "the runtime does not behave as the catalogue documents: "
                      f"run `minicontainer escape run {name} --weakened` and read its output")


def check(lab: Lab, workspace: str) -> list[Result]:
    """Run every step of ``lab``'s checker against ``workspace``; a step that raises
    is a FAIL naming the exception."""
    module = lab.checker()
    context = Context(lab, workspace)
    started = os.path.isdir(workspace)
    if started:
        prepare(lab, workspace)
    results = []
    for step in module.STEPS:
        title = (step.__doc__ or step.__name__).strip().splitlines()[0]
        if not started:
            result = failed(f"no workspace at {workspace}",
                            f"run `minicontainer lab start {lab.number}` first")
        else:
            try:
                result = step(context)
            except Exception as e:  # a broken program must not stop the other steps
                result = failed(f"the check could not run: {type(e).__name__}: {e}",
                                "run your program by hand with the step's command")
        result.title, result.step = title, step.__name__
        results.append(result)
    return results


def live_answer(lab: Lab, question_id: str, workspace: str) -> tuple[str, str] | None:
    """The right choice of a quiz question as observed now, with what shows it; None
    when the checker does not observe this question."""
    module = lab.checker()
    answer = getattr(module, "quiz_answer", None)
    if answer is None:
        return None
    return answer(question_id, Context(lab, workspace))


# --- workspace operations -----------------------------------------------------------

def prepare(lab: Lab, workspace: str) -> list[str]:
    """Make the host fixtures the lab's checker asks for in ``workspace`` (those
    missing); one line per fixture made."""
    fixtures = getattr(lab.checker(), "prepare", None)
    return fixtures(workspace) if fixtures else []


def copy_default_rootfs(destination: str) -> bool:
    """Copy the default busybox rootfs to ``destination`` unless something is there;
    whether it copied.

    A fixture for labs that build a root of their own on a tree the student may
    write to.  The copy lands in a student's workspace, so no file in it keeps a
    setuid or setgid bit (not even for the moment before its owner changes), and
    it is made beside ``destination`` and renamed, so that a copy cut short is never
    taken for a whole one.
    """
    if os.path.lexists(destination):
        return False
    from minicontainer import rootfs

    def copy_without_setid(source: str, target: str) -> None:
        shutil.copyfile(source, target, follow_symlinks=False)
        os.chmod(target, os.lstat(source).st_mode & 0o1777)

    partial = f"{destination}.partial"
    if os.path.lexists(partial):
        shutil.rmtree(partial)
    shutil.copytree(rootfs.default_rootfs(), partial, symlinks=True,
                    copy_function=copy_without_setid)
    os.rename(partial, destination)
    return True


def start(lab: Lab, student: Student, destination: str) -> list[str]:
    """Copy the lab's exercise to ``destination`` (refused if it exists) and make its
    fixtures, all owned by the student; one line per fixture made."""
    if os.path.lexists(destination):
        raise FileExistsError(f"{destination} exists: `lab reset {lab.number}` starts over")
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    parent = os.path.dirname(destination)
    shutil.copytree(lab.file("exercise"), destination, symlinks=True)
    made = prepare(lab, destination)
    student.give(destination)
    if os.stat(parent).st_uid == 0 and parent.startswith(student.home + os.sep):
        os.chown(parent, student.uid, student.gid, follow_symlinks=False)
    return made


def reset(lab: Lab, student: Student, destination: str) -> str | None:
    """Move the student's copy aside (``NAME.bak-TIME``) and start afresh; the backup's
    path, or None if there was no copy."""
    backup = None
    if os.path.lexists(destination):
        backup = f"{destination}.bak-{time.strftime('%Y%m%d-%H%M%S')}"
        os.rename(destination, backup)
    start(lab, student, destination)
    return backup


def solution_files(lab: Lab) -> list[str]:
    """The files of the reference solution, relative to ``solution/``."""
    root = lab.file("solution")
    return sorted(os.path.relpath(os.path.join(top, f), root)
                  for top, _, files in os.walk(root) for f in files
                  if "__pycache__" not in top)


def parse_answers(text: str, count: int) -> list[str]:
    """``A,b, C`` as ``["A", "B", "C"]``; ValueError unless there are ``count`` letters."""
    answers = [a.strip().upper() for a in text.split(",") if a.strip()]
    if len(answers) != count or not all(re.fullmatch(r"[A-Z]", a) for a in answers):
        raise ValueError(f"give {count} letters separated by commas")
    return answers


def parse_hint_level(text: str | None, seen: int) -> int:
    """The hint level asked for: ``1``-``3`` or a name (``nudge``, ``concept``,
    ``nearly``); with none, the next one after the ``seen`` levels (at most 3)."""
    if text is None:
        return min(seen + 1, len(HINT_LEVELS))
    if text in HINT_LEVELS:
        return HINT_LEVELS.index(text) + 1
    if text.isdigit() and 1 <= int(text) <= len(HINT_LEVELS):
        return int(text)
    raise ValueError("a hint level is 1, 2 or 3 (or nudge, concept, nearly)")
