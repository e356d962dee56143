"""Checks of lab 11: the student's launch.py, judged by what COMMAND inherits from it.

The checker plays a careless caller: it leaves a descriptor of a host directory open
for launch.py, and starts it from a pseudo-terminal of its own (never a real one) as
its controlling terminal, as an interactive shell would.  What COMMAND can still reach
of that caller is the outcome: the directory through ``/proc/self/fd``, the session
and its terminal (``TIOCSTI``), the launcher's own binary through ``/proc/self/exe``.
"""

import errno
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import termios

from minicontainer.labs import Ran, failed, passed, skipped

PROGRAM = "launch.py"
LEAKED_FD_FROM = 40
LEGACY_TIOCSTI = "/proc/sys/dev/tty/legacy_tiocsti"
NOBODY = 65534
# Types its argument into the terminal on stdin as an unprivileged user would: host
# root holds CAP_SYS_ADMIN, which lets it push input into any terminal it has open.
TYPER = f"""
import fcntl, os, sys, termios
os.setgroups([])
os.setresgid({NOBODY}, {NOBODY}, {NOBODY})
os.setresuid({NOBODY}, {NOBODY}, {NOBODY})
try:
    for byte in sys.argv[1].encode():
        fcntl.ioctl(0, termios.TIOCSTI, bytes([byte]))
    print("typed", len(sys.argv[1]), "bytes")
except OSError as e:
    print("refused:", e.strerror)
"""
TRAP = "#!/proc/self/exe\nimport os\nprint('TRAP', os.readlink('/proc/self/exe'))\n"
STUB_SAYS = "this is minicontainer's exec stub"


class Terminal:
    """A fresh pseudo-terminal, echo off: its slave becomes launch.py's stdin and
    controlling terminal; ``typed()`` reads what was pushed into its input queue."""

    def __enter__(self) -> "Terminal":
        self.master, self.slave = os.openpty()
        modes = termios.tcgetattr(self.slave)
        modes[3] &= ~termios.ECHO  # lflag: what COMMAND writes never comes back as input
        termios.tcsetattr(self.slave, termios.TCSANOW, modes)
        self.reader = os.open(os.ttyname(self.slave), os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        return self

    def typed(self) -> str:
        """Whatever sits in the input queue, where the caller's shell reads its next line."""
        data = b""
        try:
            while chunk := os.read(self.reader, 4096):
                data += chunk
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EIO):
                raise
        return data.decode(errors="replace")

    def __exit__(self, *exc) -> None:
        for fd in (self.reader, self.master, self.slave):
            os.close(fd)


def _launch(ctx, *command: str, pass_fds=(), terminal: Terminal | None = None,
            timeout: float = 10.0) -> tuple[Ran, int]:
    """Run ``launch.py COMMAND`` with ``pass_fds`` left open, from ``terminal`` (its
    stdin and controlling terminal) if given; the run and launch.py's pid, which is
    also its session id."""
    def take_terminal() -> None:
        if terminal is not None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        [sys.executable, ctx.program(PROGRAM), *command], cwd=ctx.workspace,
        stdin=terminal.slave if terminal else subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True, pass_fds=pass_fds,
        preexec_fn=take_terminal)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        return Ran(process.returncode, stdout, stderr), process.pid
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return Ran(None, stdout, stderr, timed_out=True), process.pid


def _session_of(stat: str) -> tuple[int, int] | None:
    """The session id and tty_nr of a /proc/PID/stat line."""
    fields = stat.rsplit(")", 1)[-1].split()
    return (int(fields[3]), int(fields[4])) if len(fields) > 4 else None


def runs_a_command(ctx):
    """launch.py runs COMMAND, passing its output and exit status through"""
    ran, _ = _launch(ctx, "sh", "-c", f"echo hello-{ctx.nonce}; exit 7")
    if ran.returncode == 7 and f"hello-{ctx.nonce}" in ran.stdout:
        return passed(f"`launch.py sh -c 'echo hello-{ctx.nonce}; exit 7'` printed it, exit 7")
    if "setsid" in ran.stderr and "Operation not permitted" in ran.stderr:
        return failed(f"`launch.py sh -c ...`: {ran.summary()}",
                      "setsid() fails in a process group leader, which launch.py is when a "
                      "shell starts it: call it in the child you fork")
    return failed(f"`launch.py sh -c 'echo ...; exit 7'`: {ran.summary()}",
                  "run it by hand: `sudo minicontainer lab run 11 -- sh -c 'echo hi; exit 7'` "
                  "and read the traceback")


def no_leaked_fd(ctx):
    """a host directory the caller left open is not reachable from COMMAND"""
    directory = tempfile.mkdtemp(prefix="mc-lab11-")
    try:
        os.chmod(directory, 0o755)
        with open(os.path.join(directory, "secret"), "w") as f:
            f.write(f"secret-{ctx.nonce}\n")
        opened = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        leaked = fcntl.fcntl(opened, fcntl.F_DUPFD, LEAKED_FD_FROM + int(ctx.nonce[0], 16))
        os.close(opened)
        try:
            ran, _ = _launch(ctx, "sh", "-c", "echo \"fds $(ls /proc/self/fd | tr '\\n' ' ')\"; "
                             f"cat /proc/self/fd/{leaked}/secret 2>/dev/null", pass_fds=[leaked])
        finally:
            os.close(leaked)
    finally:
        shutil.rmtree(directory)
    fds = next((line.split()[1:] for line in ran.stdout.splitlines()
                if line.startswith("fds")), None)
    if ran.returncode is None or fds is None:
        return failed(f"`launch.py sh -c 'ls /proc/self/fd'`: {ran.summary()}",
                      "make the first step pass first")
    if f"secret-{ctx.nonce}" in ran.stdout or str(leaked) in fds:
        read = " and read its secret through /proc/self/fd" if "secret-" in ran.stdout else ""
        return failed(f"fd {leaked}, a host directory launch.py's caller left open, reached "
                      f"COMMAND{read} (its fds: {' '.join(fds)})",
                      "fork and execve keep every descriptor not marked close-on-exec, "
                      "whoever opened it: close every fd above 2 in the child, not only those "
                      "you know of")
    return passed(f"launch.py got fd {leaked} (a host directory) from its caller; COMMAND's "
                  f"fds are {' '.join(fds)} (ls's own directory among them)")


def new_session(ctx):
    """COMMAND runs in a session of its own, without a controlling terminal"""
    with Terminal() as terminal:
        ran, caller = _launch(ctx, "cat", "/proc/self/stat", terminal=terminal)
    seen = _session_of(ran.stdout) if ran.returncode == 0 else None
    if seen is None:
        return failed(f"`launch.py cat /proc/self/stat`: {ran.summary()}",
                      "make the first step pass first")
    session, tty = seen
    if session == caller:
        return failed(f"COMMAND is in its caller's session ({session}), with the caller's "
                      f"terminal as its controlling terminal (tty_nr {tty})",
                      "a new process group (setpgid) is not a new session: only setsid() "
                      "leaves the caller's session and its controlling terminal")
    if tty != 0:
        return failed(f"COMMAND is in session {session} but still has a controlling terminal "
                      f"(tty_nr {tty})", "the new session must not open a terminal again "
                      "without O_NOCTTY")
    return passed(f"COMMAND is in session {session} (its caller's: {caller}), with no "
                  "controlling terminal (tty_nr 0)")


def _tiocsti_disabled() -> bool:
    try:
        with open(LEGACY_TIOCSTI) as f:
            return f.read().strip() == "0"
    except FileNotFoundError:
        return False  # before Linux 6.2: TIOCSTI always works on one's own terminal


def tiocsti_refused(ctx):
    """COMMAND cannot type into the caller's terminal (TIOCSTI)"""
    if _tiocsti_disabled():
        return skipped("TIOCSTI is disabled by this kernel (dev.tty.legacy_tiocsti = 0): "
                       "nobody without CAP_SYS_ADMIN can type into a terminal here")
    line = f"echo PROOF {ctx.nonce}\n"
    with Terminal() as terminal:
        ran, _ = _launch(ctx, sys.executable, "-c", TYPER, line, terminal=terminal)
        typed = terminal.typed()
    said = next((out for out in ran.stdout.splitlines()
                 if out.startswith(("typed", "refused"))), None)
    if said is None:
        return failed(f"`launch.py python3 -c '<TIOCSTI>'`: {ran.summary()}",
                      "make the first step pass first")
    if line.strip() in typed:
        return failed(f"COMMAND (uid {NOBODY}) {said}: `{line.strip()}` is in the caller's "
                      "terminal, where its shell would run it next, as the caller",
                      "TIOCSTI works on one's controlling terminal: the caller's, as long as "
                      "COMMAND stays in the caller's session")
    return passed(f"COMMAND (uid {NOBODY}) tried TIOCSTI on the terminal it holds as stdin: "
                  f"{said}; the caller's input queue is empty")


def exe_not_exposed(ctx):
    """a COMMAND that is #!/proc/self/exe does not get your launcher's own binary"""
    directory = tempfile.mkdtemp(prefix="mc-lab11-")
    try:
        os.chmod(directory, 0o755)
        trap = os.path.join(directory, "trap")
        with open(trap, "w") as f:
            f.write(TRAP)
        os.chmod(trap, 0o755)
        plain = subprocess.run([trap], capture_output=True, text=True, timeout=10).stdout
        ran, _ = _launch(ctx, trap)
    finally:
        shutil.rmtree(directory)
    if not plain.startswith("TRAP "):
        return skipped("a #!/proc/self/exe script does not rerun its caller's program on "
                       "this kernel")
    twin = f"a plain execve of it from Python runs `{plain.split()[1]}`"
    if "TRAP " in ran.stdout:
        return failed(f"COMMAND `#!/proc/self/exe` ran {ran.stdout.split()[1]}, your launcher's "
                      f"own binary, as its program ({twin})",
                      "during execve, /proc/self/exe names the program of the process calling "
                      "it: let something other than this Python make the last execve")
    shown = next((out.strip() for out in ran.stderr.splitlines() if STUB_SAYS in out),
                 ran.summary())
    return passed(f"the trap found no launcher behind /proc/self/exe: {shown} ({twin})")


def leaked_fd_pitfall(ctx):
    """the pitfall in the catalogue: leaked-fd (CVE-2024-21626)"""
    return ctx.pitfall("leaked-fd")


def tiocsti_pitfall(ctx):
    """the pitfall in the catalogue: tiocsti (CVE-2017-5226)"""
    return ctx.pitfall("tiocsti")


def proc_self_exe_pitfall(ctx):
    """the pitfall in the catalogue: proc-self-exe (CVE-2019-5736)"""
    return ctx.pitfall("proc-self-exe")


STEPS = [runs_a_command, no_leaked_fd, new_session, tiocsti_refused, exe_not_exposed,
         leaked_fd_pitfall, tiocsti_pitfall, proc_self_exe_pitfall]


_PYTHON_FD = """
import os
print("fd", os.open("/etc", os.O_RDONLY))
os.execvp("ls", ["ls", "-l", "/proc/self/fd"])
"""
_LEADER_SETSID = """
import os
os.setpgid(0, 0)
try:
    os.setsid()
    print("new session")
except OSError as e:
    print("refused:", e.strerror)
"""
_ROOT_TYPES = """
import fcntl, os, sys, termios
os.setsid()
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
try:
    for byte in b"quiz\\n":
        fcntl.ioctl(fd, termios.TIOCSTI, bytes([byte]))
    print("typed")
except OSError as e:
    print("refused:", e.strerror)
"""


def _python(*args: str) -> str:
    return subprocess.run([sys.executable, "-c", *args], capture_output=True, text=True,
                          timeout=10).stdout.strip()


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now."""
    if question_id == "python-fd":
        out = _python(_PYTHON_FD).splitlines()
        fd = out[0].split()[1]
        kept = any(line.endswith(f" {fd} -> /etc") for line in out[1:])
        return ("A" if kept else "B",
                f"os.open('/etc') gave fd {fd}; after execvp, ls -l /proc/self/fd "
                f"{'shows' if kept else 'has no'} fd {fd} -> /etc")
    if question_id == "leader-setsid":
        said = _python(_LEADER_SETSID)
        return ("B" if said.startswith("refused") else "A",
                f"a process group leader calling setsid(): {said}")
    if question_id == "root-tiocsti":
        if _tiocsti_disabled():
            return "A", "dev.tty.legacy_tiocsti = 0 here: only CAP_SYS_ADMIN may, as observed"
        with Terminal() as terminal:
            said = _python(_ROOT_TYPES, os.ttyname(terminal.slave))
            typed = terminal.typed()
        return ("B" if "quiz" in typed else "A",
                f"root after setsid(), TIOCSTI on a terminal it opened: {said}; the "
                f"terminal's input queue holds {typed!r}")
    if question_id == "exe-trap":
        directory = tempfile.mkdtemp(prefix="mc-lab11-")
        try:
            trap = os.path.join(directory, "trap")
            with open(trap, "w") as f:
                f.write(TRAP)
            os.chmod(trap, 0o755)
            out = _python(f"import os; os.execv({trap!r}, [{trap!r}])")
        finally:
            shutil.rmtree(directory)
        return ("B" if out.startswith("TRAP") else "A",
                f"Python exec'd a #!/proc/self/exe script: it printed `{out}`")
    return None
