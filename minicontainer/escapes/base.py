"""What an escape is, and how one attempt of it runs.

An :class:`Escape` is one classic way out of a container, written so that a
student can read it top to bottom:

- its story: what it attacks, the real incident or CVE behind it;
- its scenario: the ``run`` flags of the situation it needs (a volume, a shared
  namespace), applied to every attempt;
- its weakening: the ``run`` flags that switch off the layers that would stop it
  (``--security-opt apparmor=unconfined`` among them where the AppArmor profile would
  stop it too: a no-op on a host without AppArmor);
- the layers expected to stop it (names from :mod:`minicontainer.escapes.layers`);
- its host side: :meth:`Escape.plant` puts a marker on the host, :meth:`Escape.proven`
  says whether the attack reached it, :meth:`Escape.restore` puts the host back as
  it was (always, in a ``finally``);
- its attack: a busybox ``sh`` script beside the module (``NAME.sh``), run inside
  the container as ``sh -c SCRIPT``, with the marker's place in its environment.

Each attempt has two fresh random values.  The *nonce* is in the attack's
environment (``MC_NONCE``): a write-type proof writes it into a host marker, and
the host checks the marker.  The *secret* is only on the host: a read-type proof
must bring it back in the attack's output, which it cannot do without reaching it.

An attempt is one container run of an escape under one config.  Its verdict is
``ESCAPED`` (the proof holds: the secret came back, the host marker changed),
``BLOCKED`` (with the evidence: the last lines the attack printed), ``SKIP`` (a
host precondition is missing, named) or ``ERROR`` (the container did not start).
"""

from __future__ import annotations

import os
import tempfile

ESCAPED = "ESCAPED"
BLOCKED = "BLOCKED"
SKIP = "SKIP"
ERROR = "ERROR"

_HERE = os.path.dirname(os.path.abspath(__file__))
WORKDIR_PREFIX = "mc-escape-"


class Attempt:
    """One run of an escape: its nonce, a private host directory, and what the
    host side adds to the container (flags, environment) for this run."""

    def __init__(self, escape: Escape) -> None:
        self.escape = escape
        self.nonce = os.urandom(8).hex()
        # What a read-type proof must bring back: planted on the host only, never put
        # in the container's environment, so the attack cannot just print it.
        self.secret = os.urandom(8).hex()
        self.container_id = f"escape-{escape.name}-{self.nonce[:8]}"
        self.workdir = tempfile.mkdtemp(prefix=f"{_owner_prefix()}{escape.name}-")
        self.flags: list[str] = []
        self.env: dict[str, str] = {"MC_NONCE": self.nonce}
        # A terminal (a pty's slave fd) to start the container from, as its stdin and
        # the worker's controlling terminal; None: /dev/null, no terminal.
        self.stdin_tty: int | None = None
        # Host fds (opened close-on-exec) that this attempt's container alone inherits:
        # the runner makes them inheritable in its worker only, never in the others.
        self.pass_fds: list[int] = []
        self.output = ""
        self.exit_code: int | None = None

    def path(self, name: str) -> str:
        """A path inside this attempt's private host directory."""
        return os.path.join(self.workdir, name)

    def clean_up(self) -> None:
        """Put the host back as it was (the escape's ``restore``), then remove the
        attempt's private directory, even if the restore failed."""
        from minicontainer.state import remove_tree

        try:
            self.escape.restore(self)
        finally:
            remove_tree(self.workdir)


def _owner_prefix(pid: int | None = None) -> str:
    """``mc-escape-PID.START-``: which process made an attempt's directory, so that a
    directory whose maker died without its ``finally`` (SIGKILL) can be told apart."""
    from minicontainer.state import process_start_time

    pid = os.getpid() if pid is None else pid
    return f"{WORKDIR_PREFIX}{pid}.{process_start_time(pid)}-"


def stale_workdirs(parent: str | None = None) -> list[str]:
    """Attempt directories (under ``parent``, by default the temporary directory)
    whose maker is gone: left by a run that was killed before it could restore."""
    from minicontainer.state import alive

    parent = parent or tempfile.gettempdir()
    stale = []
    for name in sorted(os.listdir(parent)):
        if not name.startswith(WORKDIR_PREFIX):
            continue
        pid, _, start = name[len(WORKDIR_PREFIX):].split("-", 1)[0].partition(".")
        if not (pid.isdigit() and start.isdigit()):
            continue
        path = os.path.join(parent, name)
        if not alive(int(pid), int(start)) and os.path.isdir(path) \
                and not os.path.islink(path):
            stale.append(path)
    return stale


class Outcome:
    """The verdict of one attempt, with what shows it."""

    def __init__(self, verdict: str, evidence: str) -> None:
        self.verdict = verdict
        self.evidence = evidence

    def to_dict(self) -> dict:
        """The outcome as JSON-ready data."""
        return {"verdict": self.verdict, "evidence": self.evidence}

    def __repr__(self) -> str:
        return f"Outcome({self.verdict}, {self.evidence!r})"


class Escape:
    """One escape of the catalogue; a module defines a subclass and ``ESCAPE = It()``."""

    name = ""
    title = ""
    attacks = ""
    incident = ""
    scenario: list[str] = []
    weakening: list[str] = []
    stopped_by: list[str] = []
    host_changes = False
    timeout = 20.0

    @property
    def script_path(self) -> str:
        """The in-container attack, beside the module."""
        return os.path.join(_HERE, f"{self.name.replace('-', '_')}.sh")

    def script(self) -> str:
        """The text of the in-container attack."""
        with open(self.script_path) as f:
            return f.read()

    def explanation(self) -> str:
        """The module's docstring: the story a student reads first."""
        import importlib

        module = importlib.import_module(type(self).__module__)
        return (module.__doc__ or "").strip()

    def missing(self) -> str | None:
        """The host precondition this machine lacks, or None if the escape can run."""
        return None

    def plant(self, attempt: Attempt) -> None:
        """Put the marker on the host; add flags and environment to ``attempt``."""

    def proven(self, attempt: Attempt) -> bool:
        """Whether the attack reached the marker; by default, the attack printed the
        secret, which it can only have read from the host."""
        return attempt.secret in attempt.output

    def restore(self, attempt: Attempt) -> None:
        """Put back anything :meth:`plant` or the attack changed on the host."""

    def evidence(self, attempt: Attempt) -> str:
        """What the attack printed last: the call that failed and how."""
        lines = [line for line in attempt.output.splitlines() if line.strip()]
        return "\n".join(lines[-4:]) if lines else f"exit {attempt.exit_code}, no output"

    def to_dict(self) -> dict:
        """The metadata of the escape, as ``escape list --json`` prints it."""
        return {"name": self.name, "title": self.title, "attacks": self.attacks,
                "incident": self.incident, "scenario": self.scenario,
                "weakening": self.weakening, "stopped_by": self.stopped_by,
                "host_changes": self.host_changes, "missing": self.missing()}
