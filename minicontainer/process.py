"""The process plumbing of a container: how its process becomes the command, and how
the runtime hears of it.

Shared by the three ways a process enters a container: ``run``'s init and OCI
``create``'s (``minicontainer.runtime``), and ``exec``'s (``minicontainer.nsenter``).

- :func:`become_the_command`: the process's own layers (rlimits, user, capabilities,
  no_new_privs, fds, cwd, umask, AppArmor, seccomp), then the execve through the
  sealed exec stub;
- :func:`run_reporting`: a forked child that runs one of those and reports a failure
  as ``CODE message`` on a close-on-exec pipe (empty: the execve happened), and
  :func:`raise_reported` / :func:`exit_code` on the parent's side;
- :class:`SignalForwarder`: the runtime's signals passed on to the container;
- the checks made before anything starts: :func:`check_console`,
  :func:`check_preserved_fds`, and the settled AppArmor profile and compiled seccomp
  program (:func:`settle_apparmor`, :func:`seccomp_program`).
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import stat

from minicontainer import capabilities, execstub, idmap, native
from minicontainer.config import RLIM_INFINITY, Config, ConfigError
from minicontainer.errors import EXIT_RUNTIME_ERROR, ContainerError, describe
from minicontainer.state import SECCOMP_CACHE_DIR

FORWARDED_SIGNALS = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
_CLOSE_RANGE_CLOEXEC = 4
DEFAULT_UMASK = 0o022  # runc's, when process.user.umask is not given
DEBUG_VARIABLE = "MINICONTAINER_DEBUG"  # set by --debug: the init reports its traceback
# The longest path a unix socket address holds (sun_path, less its final NUL).
_MAX_SOCKET_PATH = 107


def become_the_command(cfg: Config, seccomp_program: bytes | None, stub: int,
                       err_w: int, gate=None, run_hooks=None) -> None:
    """The end of the recipe, shared with ``exec``: the process's own layers, then execve.

    Runs inside the container, as its root; ``cfg`` says the user, command,
    environment and working directory (``exec`` passes its own).  The execve
    of the command is made by the sealed exec stub open at ``stub``
    (:mod:`minicontainer.execstub`), never by this host Python; the stub
    reports a failure on ``err_w``.  Under ``create``, ``gate`` (a
    :class:`~minicontainer.startgate.StartGate`) holds it once the command is
    found, before the AppArmor switch and the seccomp filter: neither has to
    allow what the gate does.
    """
    set_rlimits(cfg.rlimits)  # while root: raising a hard limit needs CAP_SYS_RESOURCE
    if seccomp_program is not None and not cfg.no_new_privileges:
        native.seccomp_load(seccomp_program)  # without no_new_privs it needs CAP_SYS_ADMIN: now
    capabilities.before_user_switch(cfg.capabilities)
    idmap.switch_user(cfg.uid, cfg.gid, cfg.additional_gids)
    capabilities.apply(cfg.capabilities, cfg.uid == 0, cfg.ambient_capabilities,
                       cfg.inheritable_capabilities)
    if cfg.no_new_privileges:
        native.set_no_new_privs()
    _pass_preserved_fds(cfg.preserve_fds)
    if cfg.close_fds:
        native.close_range(3 + cfg.preserve_fds, flags=_CLOSE_RANGE_CLOEXEC)
    _enter_cwd(cfg.cwd, check_inside_root=cfg.close_fds)
    os.umask(DEFAULT_UMASK if cfg.umask is None else cfg.umask)
    if gate is None:  # under `create` the init outlives the process that made it
        native.set_pdeathsig(signal.SIGKILL)
    if gate is not None:  # `create` ends here, as runc's, once the command is found
        execstub.require_command(cfg.args[0], cfg.environment())
        gate.wait_for_start(err_w)
    if run_hooks is not None:
        run_hooks("startContainer", "created")
    # AppArmor switches the profile at the execve below; asked for before seccomp, so
    # that a custom filter need not allow the write.  (Imported before the fork.)
    if confined(cfg):
        from minicontainer import apparmor

        apparmor.exec_profile(cfg.apparmor_profile)
    if seccomp_program is not None and cfg.no_new_privileges:
        native.seccomp_load(seccomp_program)
    execstub.exec_command(stub, err_w, cfg.args, cfg.environment())


def run_reporting(err_w: int, what: str, body, signal_mask=None) -> None:
    """In a forked child: run ``body`` (which ends in execve) and never return.

    A failure is written to ``err_w`` as ``CODE message`` for the parent, which
    reads the pipe until it closes: empty means the execve succeeded.  With
    ``signal_mask``, the signals the parent blocked across the clone get that
    mask back once their handlers are the defaults.
    """
    code = EXIT_RUNTIME_ERROR
    debug = os.environ.get(DEBUG_VARIABLE)
    if debug:
        import traceback  # now: after the pivot no module can be imported
    try:
        # Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored
        # across execve: `yes | head` in the container would never end.
        for signum in (*FORWARDED_SIGNALS, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(signum, signal.SIG_DFL)
        if signal_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, signal_mask)
        body()
    except BaseException as e:
        message = f"{what}: {describe(e)}"
        if debug:
            message += "\n" + traceback.format_exc()
        report(err_w, code, message)
    finally:
        os._exit(code)


def set_rlimits(limits: list[tuple[str, int, int]]) -> None:
    """``process.rlimits``: each ``(RLIMIT_NAME, soft, hard)`` set on this process,
    which its command inherits; a failure names the limit."""
    for name, soft, hard in limits:
        try:
            resource.setrlimit(getattr(resource, name), (_rlim(soft), _rlim(hard)))
        except (OSError, ValueError) as e:
            raise ContainerError(f"rlimits: {name} {soft}:{hard}: {describe(e)}") from None


def _rlim(value: int) -> int:
    return resource.RLIM_INFINITY if value == RLIM_INFINITY else value


def set_oom_score_adj(value: int, pid: int | str = "self") -> None:
    """``process.oomScoreAdj``: how readily the kernel's OOM killer picks the command,
    written by the host's root (for the init, by its parent before the release; for
    ``exec``, by the helper before it joins): once non-dumpable, a process's own
    /proc files belong to the host's root, out of reach from its user namespace.
    The command inherits it across fork and execve."""
    try:
        with open(f"/proc/{pid}/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError as e:
        raise ContainerError(f"oomScoreAdj {value}: {describe(e)}") from None


def _pass_preserved_fds(count: int) -> None:
    """runc's ``--preserve-fds``: fds 3 to 3+count-1, inherited across the clone, stay
    open across the execve."""
    for fd in range(3, 3 + count):
        try:
            os.set_inheritable(fd, True)
        except OSError as e:
            raise OSError(e.errno, e.strerror, f"preserve-fds: fd {fd}") from None


def check_preserved_fds(count: int) -> None:
    """Every fd ``--preserve-fds`` would pass must be open before the runtime opens
    any of its own: else one of those could take its number and reach the container."""
    for fd in range(3, 3 + count):
        try:
            os.fstat(fd)
        except OSError:
            raise ConfigError("preserve-fds", count, f"names fd {fd}, which is not open") \
                from None


def check_console(cfg: Config, console_socket: str | None, detached: bool) -> None:
    """A terminal of a detached container needs a console socket (nothing stays to
    relay it), and a console socket needs a terminal and a unix socket at its path."""
    if cfg.terminal and console_socket is None and detached:
        raise ConfigError("process.terminal", True, "needs --console-socket: create "
                          "detaches, so the pty master must go to whoever holds the socket")
    if console_socket is None:
        return
    if not cfg.terminal:
        raise ConfigError("console-socket", console_socket,
                          "goes with process.terminal true (there is no pty to send)")
    if len(os.fsencode(console_socket)) > _MAX_SOCKET_PATH:
        raise ConfigError("console-socket", console_socket,
                          f"is longer than a unix socket path can be ({_MAX_SOCKET_PATH} bytes)")
    try:
        mode = os.stat(console_socket).st_mode
    except OSError as e:
        raise ConfigError("console-socket", console_socket, f"cannot be reached ({e.strerror})") \
            from None
    if not stat.S_ISSOCK(mode):
        raise ConfigError("console-socket", console_socket, "is not a unix socket")


def _enter_cwd(cwd: str, check_inside_root: bool = True) -> None:
    """chdir to the working directory, creating it, and prove it is inside the new root.

    A directory fd leaked from the host would make the cwd a door out of the
    container; the kernel then reports it as unreachable from our root.
    """
    os.makedirs(cwd, exist_ok=True)
    os.chdir(cwd)
    if not check_inside_root:
        return
    try:
        here = os.getcwd()
    except FileNotFoundError:  # the kernel's "(unreachable)": not below our root
        here = None
    if here is None or not here.startswith("/"):
        raise OSError(errno.EPERM, "outside the container root, refusing it", f"cwd {cwd}")


def report(err_w: int, code: int, message: str) -> None:
    text = f"{code} {message}"
    try:
        data = text.encode(errors="surrogateescape")  # an argument that was not UTF-8
    except UnicodeEncodeError:
        data = text.encode(errors="backslashreplace")
    try:
        os.write(err_w, data)
    except OSError:
        pass


def raise_reported(pid: int, report: bytes) -> None:
    """A child reported a failure (``CODE message``): reap it and raise what it said."""
    os.waitpid(pid, 0)
    code, _, message = report.decode(errors="backslashreplace").partition(" ")
    raise ContainerError(message, int(code))


def exit_code(status: int) -> int:
    """A wait status as a shell shows it: the exit code, or 128+N for signal N."""
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else (
        128 + os.WTERMSIG(status))


def read_all(fd: int) -> bytes:
    """Read a pipe until every writer has closed it."""
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)


def close_fds(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None:
            os.close(fd)


def kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


def confined(cfg: Config) -> bool:
    """Whether the command goes into an AppArmor profile on exec (the runtime has
    settled ``apparmor_profile``: None is only ever an old record's)."""
    return cfg.apparmor_profile not in (None, "unconfined")


def settle_apparmor(cfg: Config) -> None:
    """Settle the AppArmor profile (None: the default where AppArmor runs, none where
    it does not) and make sure the kernel holds it, loading the default if need be.

    Here on the host, before the clone: the init only writes the profile's name.
    """
    from minicontainer import apparmor

    cfg.apparmor_profile = apparmor.resolve(cfg.apparmor_profile)
    if confined(cfg):
        apparmor.ensure_loaded(cfg.apparmor_profile)


def seccomp_program(cfg: Config) -> bytes | None:
    """The container's seccomp filter as BPF, compiled here so that the init only loads it."""
    if not cfg.seccomp:
        return None
    from minicontainer import seccomp

    profile = cfg.seccomp_profile or seccomp.default_profile()
    return seccomp.compiled(profile, cfg.capabilities, SECCOMP_CACHE_DIR)


class SignalForwarder:
    """Pass the signals that would stop the runtime on to the container instead."""

    def __init__(self) -> None:
        self.target: int | None = None
        self._previous = {}
        for signum in FORWARDED_SIGNALS:
            try:
                self._previous[signum] = signal.signal(signum, self._forward)
            except ValueError:
                break  # not the main thread: a script handles its own signals

    def _forward(self, signum: int, _frame) -> None:
        if self.target is not None:
            try:
                os.kill(self.target, signum)
            except ProcessLookupError:
                pass

    def restore(self) -> None:
        """Put back the handlers that were there before."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
