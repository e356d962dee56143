"""OCI hooks: programs a bundle's ``config.json`` asks the runtime to run at six
points of a container's lifecycle, each given the container's state as JSON on
its stdin.

::

    prestart         create, runtime namespace (deprecated: createRuntime)
    createRuntime    create, runtime namespace, before pivot_root
    createContainer  create, container namespace, before pivot_root
    startContainer   start, container namespace, just before the command
    poststart        start, runtime namespace, once the command runs
    poststop         delete, runtime namespace, once everything is freed

A hook that fails in one of the first four phases stops the container; in
the last two it is only a warning.

The same code runs a hook on the host and inside the container's init, where
the host's files (Python's own included) are gone after ``pivot_root``: so
nothing here imports a module after this module's import, and no
``subprocess`` (the init is a raw clone): a fork, an execve, a pidfd.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
from dataclasses import dataclass, field

from minicontainer.config import ConfigError
from minicontainer.errors import ContainerError

PHASES = ("prestart", "createRuntime", "createContainer", "startContainer",
          "poststart", "poststop")
# A failure in these phases stops the container; in the others it is a warning.
FATAL_PHASES = frozenset(PHASES[:4])
FIELDS = ("path", "args", "env", "timeout")
# Above every fd the kernel hands out (close_range takes the whole span at once).
_FD_LIMIT = 2**31 - 1


@dataclass
class Hook:
    """One entry of a ``hooks`` phase: what to execute, with which argv and environment.

    ``args`` is the argv as execv takes it (``args[0]`` is the program's own
    name; empty means ``[path]``); ``env`` is the whole environment, ``NAME=value``
    strings (empty means none at all); after ``timeout`` seconds the hook and
    its process group are killed.
    """

    path: str
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    timeout: int | None = None

    def argv(self) -> list[str]:
        """The argv of the execve."""
        return self.args or [self.path]

    def environment(self) -> dict[str, str]:
        """``env`` as the mapping ``os.execve`` takes (:func:`parse` refused repeats)."""
        return dict(entry.split("=", 1) for entry in self.env)

    def to_oci(self) -> dict[str, object]:
        """This hook as a ``config.json`` entry."""
        entry: dict[str, object] = {"path": self.path}
        if self.args:
            entry["args"] = list(self.args)
        if self.env:
            entry["env"] = list(self.env)
        if self.timeout is not None:
            entry["timeout"] = self.timeout
        return entry


def parse(doc: object) -> dict[str, list[Hook]]:
    """The hooks of ``config.json``'s top-level ``hooks`` object, every phase a key.

    ``None`` (no ``hooks``) gives six empty lists.  An unknown phase or hook
    field is an error naming it (``hooks.poststrat``, ``hooks.poststop[0].timout``):
    a misspelt one ignored would silently drop a hook or its timeout.
    """
    hooks: dict[str, list[Hook]] = {phase: [] for phase in PHASES}
    if doc is None:
        return hooks
    if not isinstance(doc, dict):
        raise ConfigError("hooks", doc, "is not an object")
    for phase, entries in doc.items():
        if phase not in PHASES:
            raise ConfigError(f"hooks.{phase}", entries,
                              f"is not a hook phase (one of {', '.join(PHASES)})")
        if not isinstance(entries, list):
            raise ConfigError(f"hooks.{phase}", entries, "is not a list of hooks")
        hooks[phase] = [_parse_hook(f"hooks.{phase}[{i}]", entry)
                        for i, entry in enumerate(entries)]
    return hooks


def to_oci(hooks: dict[str, list[Hook]]) -> dict[str, list[dict[str, object]]]:
    """``hooks`` back as the ``config.json`` object (phases without hooks left out)."""
    return {phase: [hook.to_oci() for hook in hooks[phase]]
            for phase in PHASES if hooks.get(phase)}


def run(phase: str, hooks: list[Hook], state: dict | bytes) -> None:
    """Run ``hooks`` of ``phase`` one after the other, each with ``state`` on its stdin.

    ``state`` is the OCI state (a dict, or its JSON already serialized).  In a
    fatal phase the first failure raises :class:`~minicontainer.errors.ContainerError`
    and the hooks after it do not run; in ``poststart`` and ``poststop`` each
    failure is one warning line on stderr and the next hook runs.
    """
    if phase not in PHASES:
        raise ValueError(f"{phase!r} is not a hook phase")
    state_json = state if isinstance(state, bytes) else json.dumps(state).encode()
    for i, hook in enumerate(hooks):
        failure = _execute(hook, state_json)
        if failure is None:
            continue
        message = f"{phase} hook {i} {hook.path} ({failure})"
        if phase in FATAL_PHASES:
            raise ContainerError(message)
        print(f"minicontainer: warning: {message}", file=sys.stderr, flush=True)


def _parse_hook(where: str, entry: object) -> Hook:
    if not isinstance(entry, dict):
        raise ConfigError(where, entry, "is not an object")
    for key in entry:
        if key not in FIELDS:
            raise ConfigError(f"{where}.{key}", entry[key],
                              f"is not a hook field (one of {', '.join(FIELDS)})")
    path = entry.get("path")
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where}.path", path, "is missing or not a string")
    if not path.startswith("/"):
        raise ConfigError(f"{where}.path", path, "is not an absolute path")
    if "\0" in path:
        raise ConfigError(f"{where}.path", path, "contains a NUL byte")
    args = _strings(f"{where}.args", entry.get("args", []))
    if args and not args[0]:
        raise ConfigError(f"{where}.args", args, "has an empty args[0]")
    env = _strings(f"{where}.env", entry.get("env", []))
    names: set[str] = set()
    for entry_env in env:
        name, equals, _ = entry_env.partition("=")
        if not name or not equals:
            raise ConfigError(f"{where}.env", entry_env, "is not NAME=value")
        if name in names:
            raise ConfigError(f"{where}.env", entry_env, f"sets {name} a second time")
        names.add(name)
    timeout = entry.get("timeout")
    if timeout is not None and (type(timeout) is not int or timeout <= 0):
        raise ConfigError(f"{where}.timeout", timeout, "is not a whole number of seconds > 0")
    return Hook(path, args, env, timeout)


def _strings(where: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(where, value, "is not a list of strings")
    if any("\0" in v for v in value):
        raise ConfigError(where, value, "contains a NUL byte")
    return list(value)


def _execute(hook: Hook, state_json: bytes) -> str | None:
    """Run ``hook`` to its end: ``None`` if it exited 0, else what went wrong.

    The state is on stdin as a memfd (a file: a hook that never reads it cannot
    block the runtime, and no filesystem is needed inside the container).  The
    hook gets its own process group so that a timeout kills what it started too.
    """
    stdin = os.memfd_create("oci-state", os.MFD_CLOEXEC)
    report_r = report_w = -1
    try:
        _write_all(stdin, state_json)
        os.lseek(stdin, 0, os.SEEK_SET)
        report_r, report_w = os.pipe()  # close-on-exec: EOF means the execve happened
        pid = os.fork()
        if pid == 0:
            _become_hook(hook, stdin, report_w)
        os.close(report_w)
        report_w = -1
        report = _read_all(report_r)
    finally:
        for fd in (stdin, report_r, report_w):
            if fd >= 0:
                os.close(fd)
    if report:
        os.waitpid(pid, 0)
        return f"cannot be executed: {report.decode(errors='replace')}"
    if hook.timeout is not None and not _ends_within(pid, hook.timeout):
        _kill(pid)
        os.waitpid(pid, 0)
        return f"killed after its timeout of {hook.timeout} s"
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code > 0:
        return f"exited with code {code}"
    if code < 0:
        return f"killed by {_signal_name(-code)}"
    return None


def _become_hook(hook: Hook, stdin: int, report_w: int) -> None:
    """In the forked child: the hook's stdin, fds, signals and group, then execve.

    Never returns; a failure is written to ``report_w`` for the parent.
    """
    try:
        os.setpgid(0, 0)
        os.dup2(stdin, 0)
        os.set_inheritable(0, True)  # stdin may have been fd 0 itself, close-on-exec
        os.closerange(3, report_w)
        os.closerange(max(3, report_w + 1), _FD_LIMIT)
        # Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored
        # across execve; the caller may have signals blocked.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.execve(hook.path, hook.argv(), hook.environment())
    except BaseException as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        why = why or type(e).__name__  # an empty report would read as a successful execve
        os.write(report_w, why.encode())
    finally:
        os._exit(127)


def _ends_within(pid: int, seconds: int) -> bool:
    """Whether ``pid`` (our child) exits within ``seconds``; it is not reaped."""
    pidfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        return bool(poller.poll(seconds * 1000))
    finally:
        os.close(pidfd)


def _kill(pid: int) -> None:
    """SIGKILL the hook's process group, and the hook itself should it have left it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)  # not reaped yet: always there


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)
