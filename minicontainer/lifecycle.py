"""What can be done to a container that exists: list, inspect, signal, stop, pause,
enter, remove.

Every function takes the :class:`~minicontainer.state.StateStore` and a container
id.  A container's status is worked out from its record *and* the processes
alive now: a record saying "running" whose process is gone (the runtime or the
monitor was killed) is shown as ``stopped`` if its exit was recorded and
``unknown`` if not, never as running.

``exec`` enters a container the way the kernel allows: a forked helper joins the
container's cgroup, then its namespaces with setns(2), user namespace first (so
it holds capabilities over the others) and mount namespace last (after it, the
host's files are out of reach); joining a pid namespace applies only to
children, so the helper forks once more.  The command then gets the same
capabilities, no_new_privs and seccomp filter as the container's own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from minicontainer import idmap
from minicontainer.config import Config, ConfigError, parse_int
from minicontainer.errors import ContainerError, describe
from minicontainer.namespaces import Namespace, members
from minicontainer.state import (
    CONTAINERS_DIR,
    NETWORK_DIR,
    STATE_ROOT,
    Scratch,
    StateStore,
    alive,
    valid_id,
)

ACTIVE = ("creating", "created", "running", "paused")


def status(state: dict) -> str:
    """creating, created, running, paused, stopped or unknown, as the processes show it now.

    While its monitor lives the record is kept true (the monitor records the exit);
    a record still active whose monitor is gone lost its ending: unknown.  A
    container OCI ``create`` made has no monitor: once its process is gone it is
    stopped (its exit code is whoever reaped it's to know).
    """
    stored = state.get("status")
    if stored not in ACTIVE + ("stopped",):
        return "unknown"  # a record another version wrote, or no record at all
    if stored not in ACTIVE or alive(state.get("monitorPid"), state.get("monitorStartTime")):
        return stored
    if stored != "creating" and alive(state.get("pid"), state.get("pidStartTime")):
        return stored
    if stored != "creating" and state.get("monitorPid") is None:
        return "stopped"  # made by `create`, which leaves no monitor: its process ended
    return "unknown"


def not_found(container_id: str) -> ContainerError:
    """The error for an id nothing is known of, in runc's words: engines (podman)
    take "does not exist" to mean the container is gone."""
    return ContainerError(f'container "{container_id}" does not exist')


def get(store: StateStore, container_id: str) -> dict:
    """The record of ``container_id`` with its current status; an error if there is none."""
    state = _load_partial(store, container_id) if valid_id(container_id) else None
    if state is None:
        raise not_found(container_id)
    state["id"] = container_id
    state["status"] = status(state)
    return state


def exists(store: StateStore, container_id: str) -> bool:
    """Whether anything of ``container_id`` is here: a record, or what a crash left
    (what :func:`remove` would find to remove)."""
    return valid_id(container_id) and (_load_partial(store, container_id) is not None
                                        or bool(_leftovers(store, container_id)))


def list_containers(store: StateStore | None = None, include_stopped: bool = True) -> list[dict]:
    """Every container's record, with its current status, oldest first."""
    store = store or StateStore()
    found = []
    for container_id in store.ids():
        state = _load_partial(store, container_id)
        if state is None:
            continue
        state["id"] = container_id
        state["status"] = status(state)
        if include_stopped or state["status"] in ACTIVE:
            found.append(state)
    return sorted(found, key=lambda s: str(s.get("created", "")))


def _running(store: StateStore, container_id: str, action: str) -> dict:
    state = get(store, container_id)
    if state["status"] not in ("running", "paused"):
        raise ContainerError(f"cannot {action} container {container_id}: it is "
                             f"{state['status']}")
    return state


def kill(store: StateStore, container_id: str, signum: int = signal.SIGTERM,
         every_process: bool = False) -> None:
    """Send ``signum`` to the container's first process (checked by its start time), or
    with ``every_process`` to each process in its cgroup.

    A ``created`` container (OCI ``create``, not yet started) can be signalled too,
    as the OCI runtime spec asks; its init is a pid namespace's init, which
    ignores the signals it has no handler for, so only SIGKILL ends it.
    """
    state = get(store, container_id)
    if state["status"] not in ("created", "running", "paused"):
        raise ContainerError(f"cannot signal container {container_id}: it is "
                             f"{state['status']}")
    if state["status"] == "paused" and signum != signal.SIGKILL:
        raise ContainerError(f"container {container_id} is paused: unpause it first, or "
                             "send SIGKILL")
    if not every_process:
        os.kill(state["pid"], signum)
        return
    for pid in _cgroup(state).pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def parse_signal(text: str) -> int:
    """``TERM``, ``SIGTERM``, ``sigterm`` or ``15`` -> 15."""
    if text[:1].isdigit():
        number = parse_int("signal", text, 1)
        if number not in {s.value for s in signal.Signals}:
            raise ConfigError("signal", text, "is not a signal number")
        return number
    name = text.upper() if text.upper().startswith("SIG") else f"SIG{text.upper()}"
    try:
        return signal.Signals[name].value
    except KeyError:
        raise ConfigError("signal", text, "is not a signal name") from None


def wait(store: StateStore, container_id: str, timeout: float | None = None) -> int | None:
    """Wait until the container is no longer running; its exit code, None if unrecorded."""
    if timeout is not None and not 0 <= timeout < float("inf"):  # nan too
        raise ConfigError("timeout", timeout, "must be a finite number of seconds, 0 or more")
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        state = _load_partial(store, container_id)
        if state is None:
            return None
        current = status(state)
        if current not in ACTIVE:
            return state.get("exitCode")
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"container {container_id} still {current}")
        time.sleep(0.05)


def stop(store: StateStore, container_id: str, timeout: float = 10) -> int | None:
    """SIGTERM, then SIGKILL to every process if it is still running after ``timeout``."""
    state = _running(store, container_id, "stop")
    if state["status"] == "paused":
        _cgroup(state).freeze(False)
    os.kill(state["pid"], signal.SIGTERM)
    try:
        return wait(store, container_id, timeout)
    except TimeoutError:
        _kill_all(container_id, state)
        return wait(store, container_id, 10)


def _cgroup(state: dict):
    from minicontainer.cgroups import Cgroup

    if not state.get("cgroup"):
        raise ContainerError(f"container {state['id']} has no cgroup on this host")
    return Cgroup(state["cgroup"])


def _kill_all(container_id: str, state: dict | None) -> None:
    """SIGKILL every process of the container: its cgroup, found from the id (a crash
    may come before the cgroup was recorded), or else its first process."""
    from minicontainer.cgroups import Cgroup

    cgroup = _cgroup_path(container_id, state)
    if cgroup is not None and os.path.isdir(cgroup):
        Cgroup(cgroup).kill()
    elif state and alive(state.get("pid"), state.get("pidStartTime")):
        os.kill(state["pid"], signal.SIGKILL)


def pause(store: StateStore, container_id: str) -> None:
    """Freeze every process of the container (cgroup.freeze)."""
    state = _running(store, container_id, "pause")
    _cgroup(state).freeze(True)
    store.update(container_id, status="paused")


def unpause(store: StateStore, container_id: str) -> None:
    """Thaw a paused container."""
    state = _running(store, container_id, "unpause")
    _cgroup(state).freeze(False)
    store.update(container_id, status="running")


def remove(store: StateStore, container_id: str, force: bool = False) -> None:
    """Delete a container and everything it owned; a running one only with ``force``.

    After a crash this is also the cleanup, whatever the crash left: a record, a
    state directory without one, or only a scratch directory or a cgroup.  Every
    step runs even if one before it failed; the failures are raised together.
    """
    if not valid_id(container_id):
        raise not_found(container_id)
    state = _load_partial(store, container_id)
    if state is None and not _leftovers(store, container_id):
        raise not_found(container_id)
    current = status(state or {})
    if state is None and not force and not _orphan(store, container_id):
        raise ContainerError(f"container {container_id} has no record here but processes in "
                             "its cgroup (or a record in the default store): remove it with -f")
    if current in ACTIVE and not force:
        raise ContainerError(f"container {container_id} is {current}: stop it first, "
                             "or remove it with -f")
    errors: list[str] = []
    _step(errors, "processes", lambda: _stop_monitor(store, container_id, state, force))
    with _lock_if_present(store, container_id):
        from minicontainer.cgroups import Cgroup

        cgroup = _cgroup_path(container_id, state)
        if cgroup is not None:
            _step(errors, "cgroup", Cgroup(cgroup).destroy)
        from minicontainer.network import BridgeNetwork

        # Whatever the record says: a crash during attach leaves a lease it never recorded.
        _step(errors, "network", lambda: BridgeNetwork(NETWORK_DIR).detach(container_id))
        _step(errors, "scratch", Scratch(container_id).remove)
        _step(errors, "userns range", lambda: idmap.RangeAllocator().release(container_id))
        _step(errors, "state", lambda: store.remove(container_id))
    if errors:
        raise ContainerError(f"removing {container_id}: {'; '.join(errors)}")


def _cgroup_path(container_id: str, state: dict | None) -> str | None:
    """The container's cgroup: where its record says (a config.json's cgroupsPath), or
    where it would be by default."""
    from minicontainer.cgroups import container_path

    return (state or {}).get("cgroup") or container_path(container_id)


def _load_partial(store: StateStore, container_id: str) -> dict | None:
    """The record, or None if it is missing or unreadable (a crash, another version)."""
    try:
        state = store.load(container_id)
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def _leftovers(store: StateStore, container_id: str) -> list[str]:
    """What the host still holds under ``container_id``: its state directory, scratch
    directory and cgroup, those that exist."""
    from minicontainer.network import BridgeNetwork

    paths = (store.dir(container_id), Scratch(container_id).dir,
             _cgroup_path(container_id, _load_partial(store, container_id)))
    found = [p for p in paths if p is not None and os.path.lexists(p)]
    return (found + BridgeNetwork(NETWORK_DIR).held_by(container_id)
            + idmap.RangeAllocator().held_by(container_id))


def _stop_monitor(store: StateStore, container_id: str, state: dict | None,
                  force: bool) -> None:
    """Kill the container and wait for its monitor (or foreground runtime) to end: it
    records the exit and frees what it can itself.  While it lives, the cgroup is
    killed again (a container still being created may appear in it); with ``force``,
    a monitor of a detached container that outlives the wait is killed too.

    A foreground runtime is never killed: it is the process of whoever ran the
    container (``minicontainer run``, or a program using the Python API), which
    goes on once the container has ended and its record is gone.  So the record
    is read again while waiting: the monitor it names may have taken over from
    the command that started it, or the record may be gone with the container.
    """
    _kill_all(container_id, state)
    deadline = time.monotonic() + 10
    while state:
        monitor = (state.get("monitorPid"), state.get("monitorStartTime"))
        if not alive(*monitor):
            return
        if time.monotonic() > deadline:
            if not force or not state.get("ownMonitor"):
                what = "monitor" if state.get("ownMonitor") else "runtime"
                raise ContainerError(f"its {what} (pid {monitor[0]}) did not end")
            with contextlib.suppress(ProcessLookupError):
                os.kill(monitor[0], signal.SIGKILL)
        time.sleep(0.02)
        _kill_all(container_id, state)
        state = _load_partial(store, container_id)


@contextlib.contextmanager
def _lock_if_present(store: StateStore, container_id: str):
    """The container's lock while its state directory exists (a foreground runtime
    removes it when its container ends); nothing to lock out otherwise."""
    try:
        lock = store.lock(container_id).__enter__()
    except (FileNotFoundError, NotADirectoryError):
        yield
        return
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def _step(errors: list[str], what: str, action) -> None:
    """Run one removal step; a failure is noted in ``errors`` and the next step runs."""
    try:
        action()
    except Exception as e:  # noqa: BLE001 - each step is independent; all are reported
        errors.append(f"{what}: {describe(e)}")


def cleanup(store: StateStore, everything: bool = False) -> tuple[list[str], dict[str, str]]:
    """Remove every container that is not running (stopped, or left behind by a crash,
    with a record or without one); with ``everything``, the running ones too
    (``rm -f --all``).  Goes on past a failure: the removed ids, and the ones that
    could not be removed with why."""
    removed, failed = [], {}
    for container_id in _all_ids(store):
        state = _load_partial(store, container_id)
        if state is None and not _orphan(store, container_id):
            continue
        if not everything and state is not None and status(state) in ACTIVE:
            continue
        try:
            remove(store, container_id, force=everything)
            removed.append(container_id)
        except ContainerError as e:
            failed[container_id] = str(e)
    from minicontainer.network import BridgeNetwork, NetworkError

    try:
        BridgeNetwork(NETWORK_DIR).reclaim()  # leases of containers gone without a record
    except NetworkError as e:
        failed["network"] = f"network: {e.strerror}"
    try:
        idmap.RangeAllocator().reclaim()  # blocks of runtimes killed before they freed them
    except OSError as e:
        failed["userns range"] = f"userns range: {describe(e)}"
    return removed, failed


def _all_ids(store: StateStore) -> list[str]:
    """Every id this host holds something for: records, scratch directories, cgroups."""
    from minicontainer import cgroups

    found = set(store.ids())
    hierarchy = cgroups.find_hierarchy()
    parents = [CONTAINERS_DIR]
    if hierarchy is not None:
        parents.append(os.path.join(hierarchy.mountpoint, cgroups.BASE))
    for parent in parents:
        if os.path.isdir(parent):
            found.update(e.name for e in os.scandir(parent)
                         if e.is_dir(follow_symlinks=False) and valid_id(e.name))
    return sorted(found)


def _orphan(store: StateStore, container_id: str) -> bool:
    """Whether what ``container_id`` left has no owner: no record in this store (looked
    up under the store's lock, which registration holds) nor in the default one, and
    no process in its cgroup (a live container of yet another ``--root`` has some)."""
    from minicontainer.cgroups import container_path

    for owner in {store.root: store, STATE_ROOT: StateStore(STATE_ROOT)}.values():
        with owner.lock():
            if _load_partial(owner, container_id) is not None:
                return False
    cgroup = container_path(container_id)
    if cgroup is None:
        return True
    try:
        with open(os.path.join(cgroup, "cgroup.events")) as f:
            return "populated 1" not in f.read()  # counts processes of sub-cgroups too
    except (FileNotFoundError, NotADirectoryError):
        return True


def inspect(store: StateStore, container_id: str) -> dict:
    """The record, plus what the kernel says now: namespace inodes and the cgroup."""
    state = get(store, container_id)
    if state["status"] in ("running", "paused"):
        state["namespaces"] = {}
        for ns in members(Namespace(sum(Namespace))):
            try:
                inode = os.stat(f"/proc/{state['pid']}/ns/{ns.proc_name}").st_ino
            except FileNotFoundError:
                continue
            state["namespaces"][ns.proc_name] = inode
    return state


def stats(store: StateStore, container_id: str) -> dict:
    """Resource usage from the cgroup; for a stopped container, its last reading."""
    state = get(store, container_id)
    if state["status"] in ("running", "paused"):
        return _cgroup(state).stats()
    if state.get("finalStats"):
        return state["finalStats"]
    raise ContainerError(f"container {container_id} is {state['status']}: no statistics")


def log_path(store: StateStore, container_id: str) -> str:
    """The log file of a detached container; an error for a foreground one."""
    state = get(store, container_id)
    if not state.get("detached"):
        raise ContainerError(f"container {container_id} runs in the foreground: its output "
                             "goes to the terminal that started it, not to a log")
    return store.log_path(container_id)


def follow_log(store: StateStore, container_id: str, out: int, follow: bool) -> None:
    """Copy the log (its rotated part first) to ``out``; with ``follow``, keep copying
    until the container stops."""
    from minicontainer import logs

    def still_running() -> bool:
        """Whether the container may still write to its log."""
        state = _load_partial(store, container_id)
        return state is not None and status(state) in ACTIVE

    logs.copy(log_path(store, container_id), out, follow, still_running)


def exec_in(store: StateStore, container_id: str, args: list[str] | None = None, *,
            tty: bool = False, uid: int | None = None, gid: int | None = None,
            env: list[str] = (), cwd: str | None = None, process: dict | None = None,
            detach: bool = False, pid_file: str | None = None,
            console_socket: str | None = None, preserve_fds: int = 0) -> int:
    """Run ``args`` inside a running container and return its exit code (0 at once
    with ``detach``, once it has made its execve).

    The command gets the container's capabilities, no_new_privs and seccomp
    filter, its user unless ``uid``/``gid`` say otherwise, its environment plus
    ``env``, and its working directory unless ``cwd``.  ``process`` instead is an
    OCI process object (runc's ``exec --process``), the whole process: see
    :mod:`minicontainer.process_spec`.  ``pid_file`` gets the command's host pid
    (written atomically once it runs); with a terminal, ``console_socket`` gets
    the pty master.  No file descriptor of the caller but stdin, stdout and
    stderr (and with ``preserve_fds`` N, fds 3 to 3+N-1) reaches it, unless the
    container runs with its fd hygiene switched off (``close_fds``), which
    ``exec`` follows too.  As runc's, a container that is not running (created,
    paused, stopped) is refused.
    """
    from minicontainer.process import (
        check_console,
        check_preserved_fds,
        confined,
        seccomp_program,
        settle_apparmor,
    )

    check_preserved_fds(preserve_fds)  # before this call opens a file of its own
    state = get(store, container_id)
    if state["status"] != "running":
        raise ContainerError(f"cannot exec in container {container_id}: it is "
                             f"{state['status']}")
    cfg, console_size = _exec_config(state["config"], args, tty=tty, uid=uid, gid=gid,
                                     env=env, cwd=cwd, process=process)
    cfg.preserve_fds = preserve_fds
    cfg.validate_process()
    if detach and cfg.terminal and console_socket is None:
        raise ConfigError("tty", True, "needs --console-socket with --detach: nothing would "
                          "hold the terminal")
    check_console(cfg, console_socket, detached=False)
    started = None
    if pid_file:
        pid_file = os.path.abspath(pid_file)
        if not os.path.isdir(os.path.dirname(pid_file)):
            raise ConfigError("pid-file", pid_file, "is in a directory that does not exist")
        started = _pid_file_writer(pid_file)
    if confined(cfg):
        settle_apparmor(cfg)  # the container's profile, reloaded if it was dropped
    program = seccomp_program(cfg)
    pid = state["pid"]
    joined = [(ns, os.open(f"/proc/{pid}/ns/{ns.proc_name}", os.O_RDONLY | os.O_CLOEXEC))
              for ns in members(Namespace(sum(Namespace)))
              if os.stat(f"/proc/{pid}/ns/{ns.proc_name}").st_ino
              != os.stat(f"/proc/self/ns/{ns.proc_name}").st_ino]
    from minicontainer import nsenter

    try:
        return nsenter.run(joined, state.get("cgroup"), cfg, program, detach=detach,
                           console_socket=console_socket, console_size=console_size,
                           started=started)
    finally:
        for _, fd in joined:
            os.close(fd)


def _exec_config(container: dict, args: list[str] | None, *, tty: bool, uid: int | None,
                 gid: int | None, env: list[str], cwd: str | None,
                 process: dict | None) -> tuple[Config, tuple[int, int] | None]:
    """The Config of the process ``exec`` starts, and the terminal size it asks for:
    from an OCI process object, or the container's own with the flags over it."""
    if process is not None:
        from minicontainer import process_spec

        return process_spec.exec_config(container, process)
    cfg = Config.from_oci(container)
    cfg.args = list(args or [])
    cfg.env = cfg.env + list(env)
    cfg.terminal = tty
    if uid is not None:
        cfg.uid = uid
        cfg.gid = gid if gid is not None else 0
        cfg.ambient_capabilities = set()
    if cwd is not None:
        cfg.cwd = cwd
    return cfg, None


def _pid_file_writer(path: str):
    """What writes the exec'd command's pid to ``path`` once it runs; a pid file
    that cannot be written kills the command (the caller would not know it)."""
    from minicontainer.oci import write_pid_file

    def write(pid: int) -> None:
        try:
            write_pid_file(path, pid)
        except OSError as e:
            os.kill(pid, signal.SIGKILL)
            raise ContainerError(f"pid-file {path}: {describe(e)}") from None

    return write


def processes(store: StateStore, container_id: str) -> list[int]:
    """The host pids of every process of the container (its cgroup), as runc's ``ps``."""
    state = get(store, container_id)
    if state["status"] not in ("created", "running", "paused"):
        raise ContainerError(f"container {container_id} is {state['status']}: it has no "
                             "processes")
    return sorted(_cgroup(state).pids())
