"""The OCI runtime interface: a bundle, and create / start / state / kill / delete.

A container engine (podman through conmon, containerd through its shim, CRI-O for
Kubernetes) never starts a container itself: it writes a *bundle* (a directory
with ``config.json`` and usually the root filesystem) and calls a runtime such
as runc with the operations of the OCI runtime specification (``runtime.md``)::

    create --bundle DIR ID     set everything up; the command does not run yet
    start ID                   run the command (status: created -> running)
    state ID                   the state as JSON
    kill ID SIGNAL             signal it (created or running)
    delete ID                  free everything (once stopped)

``create`` runs the whole init recipe and parks the init at its last step before
the execve, on the exec fifo (:mod:`minicontainer.startgate`); a monitor process
owns the container from then on, records its exit and frees what it used.
``start`` opens the fifo, which lets the execve happen.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import NamedTuple

from minicontainer import bundle_schema, lifecycle
from minicontainer.config import Config, ConfigError
from minicontainer.errors import ContainerError, describe
from minicontainer.runtime import Container
from minicontainer.state import OCI_VERSION, StateStore, alive

OCI_VERSION_MIN = "1.0.0"
GATE_TIMEOUT = 30  # how long `start` waits for the init to pass the gate it opened


class Bundle(NamedTuple):
    """What a bundle's config.json says: the config, its annotations, and the
    ociVersion it was written for (which ``state`` reports)."""

    config: Config
    annotations: dict[str, str]
    oci_version: str


def load_bundle(bundle: str) -> Bundle:
    """The :class:`~minicontainer.config.Config`, annotations and ociVersion of
    ``bundle``/config.json.

    ``root.path`` is taken relative to the bundle; ``process`` and ``root`` must
    be there (the runtime spec requires them of a Linux container).  A field of
    the wrong type, or one minicontainer does not support, is an error naming it
    (:mod:`minicontainer.bundle_schema`): nothing is silently ignored.
    """
    path = os.path.join(bundle, "config.json")
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise ContainerError(f"bundle {bundle}: no config.json in it") from None
    except (OSError, ValueError) as e:
        raise ContainerError(f"bundle {bundle}: config.json: {describe(e)}") from None
    bundle_schema.check(doc)
    return Bundle(Config.from_oci(doc, bundle), doc.get("annotations", {}), doc["ociVersion"])


def bundle_container(store: StateStore, container_id: str, bundle: str, *,
                     console_socket: str | None = None, no_pivot: bool = False,
                     preserve_fds: int = 0) -> Container:
    """The :class:`Container` of ``bundle`` with runc's create options applied (not
    started; :meth:`~minicontainer.runtime.Container.create` and
    :meth:`~minicontainer.runtime.Container.run` check the console socket and the
    preserved fds)."""
    bundle = os.path.abspath(bundle)
    config, annotations, oci_version = load_bundle(bundle)
    if no_pivot:
        config.root_mode = "chroot"
    config.preserve_fds = preserve_fds
    container = Container(config, container_id, root=store.root)
    container.bundle = bundle
    container.annotations = annotations
    container.oci_version = oci_version
    container.console_socket = console_socket
    return container


def create(store: StateStore, container_id: str, bundle: str, *, pid_file: str | None = None,
           console_socket: str | None = None, no_pivot: bool = False,
           preserve_fds: int = 0) -> int:
    """OCI ``create``: the container set up from ``bundle``, its init waiting just
    before the execve; its host pid (also written to ``pid_file``)."""
    container = bundle_container(store, container_id, bundle, console_socket=console_socket,
                                 no_pivot=no_pivot, preserve_fds=preserve_fds)
    pid_file = os.path.abspath(pid_file) if pid_file else None
    if pid_file and not os.path.isdir(os.path.dirname(pid_file)):
        raise ConfigError("pid-file", pid_file, "is in a directory that does not exist")
    pid = container.create()
    if pid_file:
        try:
            write_pid_file(pid_file, pid)
        except OSError as e:
            lifecycle.remove(store, container_id, force=True)
            raise ContainerError(f"pid-file {pid_file}: {describe(e)}") from None
    return pid


def write_pid_file(path: str, pid: int) -> None:
    """Write the pid atomically, as runc does: a reader never sees a partial number."""
    partial = f"{path}.{os.getpid()}.partial"
    try:
        with open(partial, "w") as f:
            f.write(str(pid))
        os.rename(partial, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise


def start(store: StateStore, container_id: str) -> None:
    """OCI ``start``: let the created container's init make its execve, and record it
    running.  An error for a container that is not ``created``, or whose init died
    before it passed the gate."""
    from minicontainer import startgate

    lifecycle.get(store, container_id)  # one that does not exist has no lock to take
    with store.lock(container_id):
        state = lifecycle.get(store, container_id)
        if state["status"] != "created":
            raise ContainerError(f"cannot start container {container_id}: it is "
                                 f"{oci_status(state['status'])}, not created")
        gate = startgate.open_gate(store.dir(container_id), container_id)
    try:
        report = startgate.pass_gate(gate, lambda: alive(state["pid"], state["pidStartTime"]),
                                     GATE_TIMEOUT)
    except TimeoutError:
        # The fifo is gone already (a second start must not find it): no way back.
        raise ContainerError(f"container {container_id} did not pass its start gate in "
                             f"{GATE_TIMEOUT} s (is it stopped?) and cannot be started "
                             f"again: delete it") from None
    if report is None:
        raise ContainerError(f"container {container_id} ended before it started")
    if report:  # the init's "CODE message": the code is the command's, not start's
        raise ContainerError(report.decode(errors="backslashreplace").partition(" ")[2])
    store.update(container_id, status="running")
    _run_hooks("poststart", state, "running", state["pid"])


def _run_hooks(phase: str, record: dict, status: str, pid: int) -> None:
    """The ``phase`` hooks of the config.json a record was created from, with the state
    ``state`` would print (both phases run here only warn when a hook fails)."""
    entries = record.get("config", {}).get("hooks", {}).get(phase)
    if not entries:
        return
    from minicontainer import hooks

    doc = {"ociVersion": record.get("ociVersion", OCI_VERSION), "id": record["id"],
           "status": status, "pid": pid, "bundle": record.get("bundle"),
           "annotations": record.get("annotations") or {}}
    hooks.run(phase, hooks.parse({phase: entries})[phase], doc)


def oci_status(status: str) -> str:
    """Our status in OCI words: ``unknown`` (its monitor died and its processes are
    gone) is ``stopped``; the others are the spec's, plus ``paused`` as runc has."""
    return "stopped" if status == "unknown" else status


def state(store: StateStore, container_id: str) -> dict:
    """OCI ``state``: the state document of ``container_id`` (runc's fields)."""
    record = lifecycle.get(store, container_id)
    status = oci_status(record["status"])
    config = record.get("config", {})
    return {
        "ociVersion": record.get("ociVersion", OCI_VERSION),  # the bundle's
        "id": container_id,
        "status": status,
        # The spec asks for the pid while created or running; runc says 0 after.
        "pid": (record.get("pid") or 0) if status in ("created", "running", "paused") else 0,
        "bundle": record.get("bundle"),
        "rootfs": config.get("root", {}).get("path"),
        "created": record.get("created"),
        "annotations": record.get("annotations") or {},
    }


def delete(store: StateStore, container_id: str, force: bool = False) -> None:
    """OCI ``delete``: free everything the container has.

    A running (or paused) container is refused unless ``force``.  A ``created``
    one is deleted without ``force``, its waiting init killed, as runc does: the
    spec says a container that is not ``stopped`` must be refused, but nothing
    of the user's has run in it yet, and engines rely on runc's behaviour.  Its
    exec fifo is taken away first, under the lock ``start`` takes, so that no
    ``start`` releases the command being killed; a fifo gone already means a
    ``start`` is under way, and only ``force`` deletes it then.  Forced, a
    container that is not there is deleted already; a state directory without a
    record (a crash's) is removed either way.
    """
    from minicontainer import startgate

    try:
        record = lifecycle.get(store, container_id)
        current = record["status"]
    except ContainerError:
        if force and not lifecycle.exists(store, container_id):
            return
        lifecycle.remove(store, container_id, force=force)
        return
    if current == "created":
        with store.lock(container_id):
            current = lifecycle.get(store, container_id)["status"]
            withdrawn = current == "created" and startgate.withdraw(store.dir(container_id))
        if current == "created" and not withdrawn and not force:
            raise ContainerError(f"cannot delete container {container_id}: it is being "
                                 "started (delete --force kills it)")
    if current in ("creating", "running", "paused") and not force:
        raise ContainerError(f"cannot delete container {container_id}: it is {current} "
                             "(kill it first, or delete --force)")
    lifecycle.remove(store, container_id, force=force or current == "created")
    _run_hooks("poststop", record, "stopped", 0)


def default_spec(rootfs: str = "rootfs") -> dict:
    """The config.json of ``spec``: minicontainer's hardened default profile running
    ``sh`` in ``rootfs`` (relative to the bundle), without a terminal.

    ``linux.seccomp`` holds ``{"profile": "minicontainer default"}``, which means
    the built-in profile; a full profile there (OCI or Docker format) is used as is.
    The annotation ``minicontainer.overlay: "true"`` keeps the rootfs pristine, as
    ``run`` does (without it the container writes into the rootfs, as with runc).
    """
    return Config(args=["sh"], rootfs=rootfs).to_oci()


def write_spec(bundle: str, rootfs: str = "rootfs") -> str:
    """Write :func:`default_spec` to ``bundle``/config.json; never over an existing one."""
    path = os.path.join(bundle, "config.json")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise ContainerError(f"{path} exists already: remove it first") from None
    except OSError as e:
        raise ContainerError(f"spec: {describe(e)}") from None
    with os.fdopen(fd, "w") as f:
        json.dump(default_spec(rootfs), f, indent=2)
        f.write("\n")
    return path


def features() -> dict:
    """What this runtime implements, as the runtime spec's ``features.md`` document.

    Only what minicontainer itself supports: the six hooks, the mount options
    :mod:`minicontainer.mounts` understands, cgroup v2 through its own cgroupfs
    tree (no systemd driver), libseccomp's actions, operators and architectures,
    AppArmor where its layer is built in, no SELinux.
    """
    import importlib.util

    from minicontainer import capabilities, hooks, mounts, seccomp
    from minicontainer.config import BIND_OPTIONS

    return {
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION,
        "hooks": list(hooks.PHASES),
        "mountOptions": sorted({"bind", "rbind", "ro", "rw", mounts.TMPCOPYUP, *BIND_OPTIONS,
                                *mounts.MOUNT_FLAG_OPTIONS}),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": sorted(capabilities.ALL),
            "cgroup": {"v1": False, "v2": True, "systemd": False, "systemdUser": False,
                       "rdma": False},
            "seccomp": {
                "enabled": True,
                "actions": sorted(seccomp.ACTIONS),
                "operators": sorted(seccomp.OPERATORS),
                "archs": _seccomp_architectures(),
                "knownFlags": [],
                "supportedFlags": [],
            },
            "apparmor": {"enabled": importlib.util.find_spec("minicontainer.apparmor")
                         is not None},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
        },
        "annotations": {"minicontainer.version": _version()},
    }


# The architectures a profile may name; those this libseccomp knows are reported.
_SECCOMP_ARCHS = ("x86", "x86_64", "x32", "arm", "aarch64", "loongarch64", "m68k", "mips",
                  "mips64", "mips64n32", "mipsel", "mipsel64", "mipsel64n32", "ppc", "ppc64",
                  "ppc64le", "riscv64", "s390", "s390x", "parisc", "parisc64", "sh", "sheb")


def _seccomp_architectures() -> list[str]:
    from minicontainer._native import lib

    return [f"SCMP_ARCH_{name.upper()}" for name in _SECCOMP_ARCHS
            if lib.mc_seccomp_arch_known(name.encode()) != -1]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("minicontainer")
    except PackageNotFoundError:
        return "unknown"
