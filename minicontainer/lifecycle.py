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

import os
import signal
import time

from minicontainer.config import Config, ConfigError
from minicontainer.errors import ContainerError
from minicontainer.namespaces import Namespace, members
from minicontainer.state import NETWORK_DIR, Scratch, StateStore, alive, valid_id

ACTIVE = ("creating", "running", "paused")


def status(state: dict) -> str:
    """creating, running, paused, stopped or unknown, as the processes show it now.

    While its monitor lives the record is kept true (the monitor records the exit);
    a record still active whose monitor is gone lost its ending: unknown.
    """
    stored = state["status"]
    if stored not in ACTIVE or alive(state["monitorPid"], state["monitorStartTime"]):
        return stored
    if stored != "creating" and alive(state["pid"], state["pidStartTime"]):
        return stored
    return "unknown"


def get(store: StateStore, container_id: str) -> dict:
    """The record of ``container_id`` with its current status; an error if there is none."""
    state = store.load(container_id) if valid_id(container_id) else None
    if state is None:
        raise ContainerError(f"no such container: {container_id}")
    state["status"] = status(state)
    return state


def list_containers(store: StateStore | None = None, include_stopped: bool = True) -> list[dict]:
    """Every container's record, with its current status, oldest first."""
    store = store or StateStore()
    found = []
    for container_id in store.ids():
        state = store.load(container_id)
        if state is None:
            continue
        state["status"] = status(state)
        if include_stopped or state["status"] in ACTIVE:
            found.append(state)
    return sorted(found, key=lambda s: s["created"])


def _running(store: StateStore, container_id: str, action: str) -> dict:
    state = get(store, container_id)
    if state["status"] not in ("running", "paused"):
        raise ContainerError(f"cannot {action} container {container_id}: it is "
                             f"{state['status']}")
    return state


def kill(store: StateStore, container_id: str, signum: int = signal.SIGTERM) -> None:
    """Send ``signum`` to the container's first process (checked by its start time)."""
    state = _running(store, container_id, "signal")
    if state["status"] == "paused" and signum != signal.SIGKILL:
        raise ContainerError(f"container {container_id} is paused: unpause it first, or "
                             "send SIGKILL")
    os.kill(state["pid"], signum)


def parse_signal(text: str) -> int:
    """``TERM``, ``SIGTERM``, ``sigterm`` or ``15`` -> 15."""
    if text.isdigit():
        number = int(text)
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
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        state = store.load(container_id)
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
        _kill_all(state)
        return wait(store, container_id, 10)


def _cgroup(state: dict):
    from minicontainer.cgroups import Cgroup

    if not state.get("cgroup"):
        raise ContainerError(f"container {state['id']} has no cgroup on this host")
    return Cgroup(state["cgroup"])


def _kill_all(state: dict) -> None:
    if state.get("cgroup") and os.path.isdir(state["cgroup"]):
        _cgroup(state).kill()
    elif alive(state["pid"], state["pidStartTime"]):
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

    After a crash of its monitor this is also the cleanup: the processes, the
    cgroup, the overlay directories and the record all go.
    """
    state = get(store, container_id)
    if state["status"] in ACTIVE and not force:
        raise ContainerError(f"container {container_id} is {state['status']}: stop it first, "
                             "or remove it with -f")
    _kill_all(state)
    monitor = (state["monitorPid"], state["monitorStartTime"])
    deadline = time.monotonic() + 10
    while alive(*monitor) and time.monotonic() < deadline:
        time.sleep(0.02)  # the monitor records the exit and frees what it can itself
    with store.lock(container_id):
        from minicontainer.cgroups import Cgroup, container_path

        cgroup = container_path(container_id)  # derived: a crash may come before it was recorded
        if cgroup is not None:
            Cgroup(cgroup).destroy()
        if state.get("network", {}).get("mode") == "bridge":
            from minicontainer.network import BridgeNetwork

            BridgeNetwork(NETWORK_DIR, state["network"]["subnet"]).detach(container_id)
        Scratch(container_id).remove()
        store.remove(container_id)


def cleanup(store: StateStore, everything: bool = False) -> list[str]:
    """Remove every container that is not running (stopped, or left behind by a crash);
    with ``everything``, the running ones too (``rm -f --all``)."""
    removed = []
    for state in list_containers(store):
        if everything or state["status"] in ("stopped", "unknown"):
            remove(store, state["id"], force=everything)
            removed.append(state["id"])
    return removed


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
    if not state["detached"]:
        raise ContainerError(f"container {container_id} runs in the foreground: its output "
                             "goes to the terminal that started it, not to a log")
    return store.log_path(container_id)


def follow_log(store: StateStore, container_id: str, out: int, follow: bool) -> None:
    """Copy the log to ``out``; with ``follow``, keep copying until the container stops."""
    path = log_path(store, container_id)
    with open(path, "rb") as log:
        while True:
            chunk = log.read(65536)
            if chunk:
                os.write(out, chunk)
                continue
            if not follow:
                return
            state = store.load(container_id)
            if state is None or status(state) not in ACTIVE:
                os.write(out, log.read())
                return
            time.sleep(0.1)


def exec_in(store: StateStore, container_id: str, args: list[str], *, tty: bool = False,
            uid: int | None = None, gid: int | None = None, env: list[str] = (),
            cwd: str | None = None) -> int:
    """Run ``args`` inside a running container and return its exit code.

    The command gets the container's capabilities, no_new_privs and seccomp
    filter, its user unless ``uid``/``gid`` say otherwise, its environment plus
    ``env``, and its working directory unless ``cwd``.  No file descriptor of the
    caller but stdin, stdout and stderr reaches it.
    """
    from minicontainer import runtime

    state = get(store, container_id)
    if state["status"] != "running":
        raise ContainerError(f"cannot exec in container {container_id}: it is "
                             f"{state['status']}")
    cfg = Config.from_oci(state["config"])
    cfg.args = list(args)
    cfg.env = cfg.env + list(env)
    cfg.terminal = tty
    if uid is not None:
        cfg.uid = uid
        cfg.gid = gid if gid is not None else 0
        cfg.ambient_capabilities = set()
    if cwd is not None:
        cfg.cwd = cwd
    cfg.validate_process()
    program = runtime.seccomp_program(cfg)
    pid = state["pid"]
    joined = [(ns, os.open(f"/proc/{pid}/ns/{ns.proc_name}", os.O_RDONLY | os.O_CLOEXEC))
              for ns in members(Namespace(sum(Namespace)))
              if os.stat(f"/proc/{pid}/ns/{ns.proc_name}").st_ino
              != os.stat(f"/proc/self/ns/{ns.proc_name}").st_ino]
    from minicontainer import nsenter

    try:
        return nsenter.run(joined, state.get("cgroup"), cfg, program)
    finally:
        for _, fd in joined:
            os.close(fd)
