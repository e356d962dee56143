"""Starting containers, and the init recipe.

Process model of a run::

    runtime (host root)                        container init (after clone)
      validate config, compile seccomp,
      register state, create cgroup + overlay dirs
      pid = clone3(CLONE_NEW*, into the cgroup) --->  waits on the sync pipe
      write uid_map / gid_map, attach the bridge
      release the child        ---------------->  _init(): one layer per line, then execve
      forward signals, wait, free everything

The init reports a failure over a close-on-exec pipe: if the pipe closes empty,
execve succeeded.  A detached container (:meth:`Container.start`) has a monitor
process in the runtime's place.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import sys

from minicontainer import capabilities, execstub, idmap, mounts, namespaces, native, network, rootfs
from minicontainer.config import Config, ConfigError, hostname_for
from minicontainer.errors import EXIT_RUNTIME_ERROR, ContainerError, describe
from minicontainer.namespaces import Namespace
from minicontainer.state import (
    NETWORK_DIR,
    OCI_VERSION,
    SECCOMP_CACHE_DIR,
    STATE_ROOT,
    Scratch,
    StateStore,
    new_id,
    process_start_time,
    valid_id,
)

FORWARDED_SIGNALS = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
_CLOSE_RANGE_CLOEXEC = 4
DEBUG_VARIABLE = "MINICONTAINER_DEBUG"  # set by --debug: the init reports its traceback


class Container:
    """One container: a config, an id, and the processes started from them.

    Example::

        from minicontainer import Config, Container

        exit_code = Container(Config(args=["hostname"], hostname="x")).run()

        with Container(Config(args=["sleep", "60"])) as c:   # started detached
            c.exec(["ps"])
        # removed here
    """

    def __init__(self, config: Config, container_id: str | None = None,
                 root: str = STATE_ROOT) -> None:
        self.config = config
        self.id = new_id() if container_id is None else container_id
        self.store = StateStore(root)
        self.pid: int | None = None
        self.cgroup = None
        self.bridge = None
        self.final_stats: dict | None = None
        # OCI: the bundle directory and config.json's annotations for the record, and
        # where a terminal's pty master goes instead of being relayed here.
        self.bundle: str | None = None
        self.annotations: dict = {}
        self.console_socket: str | None = None
        self.oci_version = OCI_VERSION  # a bundle's own, which OCI `state` reports
        self.gate = None  # a StartGate while `create` holds the init

    def stats(self) -> dict:
        """Resource usage (see :meth:`Cgroup.stats <minicontainer.cgroups.Cgroup.stats>`);
        after the container ended, the last reading."""
        if self.cgroup is not None:
            return self.cgroup.stats()
        if self.final_stats is not None:
            return self.final_stats
        from minicontainer import lifecycle

        return lifecycle.stats(self.store, self.id)

    def run(self, stdin: int | None = None, stdout: int | None = None,
            stderr: int | None = None) -> int:
        """Run the container in the foreground and return its exit code.

        The code is the command's own, 128+N if signal N killed it, 126 if it is
        not executable, 127 if it does not exist.  ``stdin``, ``stdout`` and
        ``stderr`` are file descriptors to give the command instead of ours.
        While it runs, ``minicontainer ps`` lists it and ``exec`` can enter it.
        Raises :class:`~minicontainer.config.ConfigError` or
        :class:`~minicontainer.errors.ContainerError` if the container
        cannot start; nothing is left behind either way.
        """
        check_console(self.config, self.console_socket, detached=False)
        seccomp_program = self._prepare()
        self._register(detached=False, auto_remove=True)
        try:
            return self._launch(seccomp_program, (stdin, stdout, stderr), self._record_running)
        finally:
            self.store.remove(self.id)

    def start(self, auto_remove: bool = False, log_max_size: int | None = None) -> str:
        """Start the container detached and return its id once it runs.

        A monitor process (a new session, child subreaper) waits for it, writes
        its output to the log (rotated at ``log_max_size`` bytes, see
        :mod:`minicontainer.logs`), records its exit, then frees its resources; the
        state stays for ``ps -a``, ``logs`` and ``inspect`` until removed, unless
        ``auto_remove``.
        """
        seccomp_program = self._prepare()
        self._register(detached=True, auto_remove=auto_remove)
        self._detach(seccomp_program, auto_remove, log_max_size)
        return self.id

    def create(self) -> int:
        """OCI ``create``: set the container up detached and stop its init at the last
        step before its execve; its host pid once it waits there (status ``created``).

        :func:`minicontainer.oci.start` lets it go on.  Unlike :meth:`start`, the
        command keeps the caller's stdin, stdout and stderr (no log), and
        ``console_socket`` receives the pty master of a terminal (there must be one:
        nothing stays to relay it).  The command's exit is recorded by the monitor.
        """
        from minicontainer.startgate import StartGate

        check_console(self.config, self.console_socket, detached=True)
        seccomp_program = self._prepare()
        self._register(detached=True, auto_remove=False)
        self.gate = StartGate(self.store.dir(self.id))
        self._detach(seccomp_program, False, None)
        return self.store.load(self.id)["pid"]

    def _detach(self, seccomp_program: bytes | None, auto_remove: bool,
                log_max_size: int | None) -> None:
        """Fork the monitor and wait until it says the container runs (or is created)."""
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        first = os.fork()
        if first == 0:
            # Fork again so that the monitor is nobody's child here: no zombie for a
            # long-lived caller, and the CLI can exit at once.
            if os.fork() == 0:
                self._monitor(seccomp_program, ready_w, auto_remove, log_max_size)
            os._exit(0)
        os.close(ready_w)
        os.waitpid(first, 0)
        # Up to "ok", not to the end: a created container's init, waiting before its
        # execve, still holds a copy of the write end (close-on-exec).
        report = b""
        while report != b"ok" and (chunk := os.read(ready_r, 4096)):
            report += chunk
        os.close(ready_r)
        if report != b"ok":
            if self.config.userns_range == "auto":
                idmap.RangeAllocator().release(self.id)
            code, _, message = report.decode(errors="backslashreplace").partition(" ")
            raise ContainerError(message or "the monitor died before the container ran",
                                 int(code) if code.isdigit() else EXIT_RUNTIME_ERROR)

    def exec(self, args: list[str], **options) -> int:
        """Run ``args`` in the running container (:func:`minicontainer.lifecycle.exec_in`)."""
        from minicontainer import lifecycle

        return lifecycle.exec_in(self.store, self.id, args, **options)

    def kill(self, signum: int = signal.SIGTERM) -> None:
        """Send ``signum`` to the container's first process."""
        from minicontainer import lifecycle

        lifecycle.kill(self.store, self.id, signum)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait until the container stops; its exit code (None if unknown)."""
        from minicontainer import lifecycle

        return lifecycle.wait(self.store, self.id, timeout)

    def remove(self, force: bool = False) -> None:
        """Delete the stopped container (``force``: kill it first) and all it owned."""
        from minicontainer import lifecycle

        lifecycle.remove(self.store, self.id, force)

    def __enter__(self) -> Container:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.remove(force=True)

    def _prepare(self) -> bytes | None:
        """Check and complete the config; the compiled seccomp program."""
        cfg = self.config
        if os.geteuid() != 0:
            raise ContainerError("minicontainer must run as root (try sudo)")
        if not valid_id(self.id):
            raise ConfigError("name", self.id,
                              "is not a container name (letters, digits, '_', '.', '-'; "
                              "at most 64; not starting with '_', '.' or '-')")
        if cfg.rootfs is None:
            cfg.rootfs = rootfs.default_rootfs()
        _check_startable(cfg)
        check_preserved_fds(cfg.preserve_fds)
        if cfg.hostname is None and cfg.namespaces & Namespace.UTS:
            cfg.hostname = hostname_for(self.id)
        cfg.validate()
        settle_apparmor(cfg)
        return seccomp_program(cfg)

    def _register(self, detached: bool, auto_remove: bool) -> None:
        import time

        block = self._allocate_id_range()
        state = {
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": "creating",
            "pid": None,
            "bundle": self.bundle or Scratch(self.id).dir,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "annotations": self.annotations,
            "pidStartTime": None,
            "monitorPid": os.getpid(),
            "monitorStartTime": process_start_time(os.getpid()),
            "detached": detached,
            # Until a detached container's monitor takes over, monitorPid is the
            # caller's process, which `rm -f` must never kill.
            "ownMonitor": False,
            "autoRemove": auto_remove,
            "cgroup": None,
            "exitCode": None,
            "finished": None,
            "config": self.config.to_oci(),
        }
        try:
            self.store.create(self.id, state)
        except FileExistsError:
            if block is not None:
                idmap.RangeAllocator().release(self.id, block)
            raise ConfigError("name", self.id, "is in use by another container") from None

    def _allocate_id_range(self) -> int | None:
        """Give a ``userns_range="auto"`` container a block of host ids of its own
        (its first id), owned by this process until a monitor adopts it."""
        cfg = self.config
        if cfg.userns_range != "auto" or not cfg.user_namespace:
            return None
        try:
            block = idmap.RangeAllocator().allocate(self.id, os.getpid(),
                                                    process_start_time(os.getpid()))
        except OSError as e:
            raise ContainerError(f"userns range: {describe(e)}") from None
        cfg.uid_mappings = [idmap.IdMapping(0, block, idmap.BLOCK_SIZE)]
        cfg.gid_mappings = [idmap.IdMapping(0, block, idmap.BLOCK_SIZE)]
        return block

    def _record_running(self, pid: int, status: str = "running") -> None:
        self.store.update(self.id, status=status, pid=pid,
                          pidStartTime=process_start_time(pid),
                          cgroup=self.cgroup.path if self.cgroup is not None else None)

    def _launch(self, seccomp_program: bytes | None, stdio: tuple[int | None, ...],
                on_running, hand_over_fds: bool = False) -> int:
        """Create the cgroup and scratch space, run the container, free them again.

        ``hand_over_fds`` (in a monitor): the preserved fds are closed here once the
        container has them, as runc's ``create`` ends and leaves them to it alone.
        """
        cfg = self.config
        self.cgroup = _create_cgroup(self.id, cfg)
        scratch = Scratch(self.id)
        try:
            scratch.create(cfg.overlay, cfg.host_uid(0), cfg.host_gid(0))
            code = self._start_and_wait(scratch, seccomp_program, stdio, on_running,
                                        hand_over_fds)
        except BaseException:
            self._free(scratch)  # what it cannot free, `cleanup` finds; the cause matters more
            raise
        failures = self._free(scratch)
        if failures:
            raise ContainerError(f"freeing container {self.id}: {'; '.join(failures)}")
        return code

    def _free(self, scratch: Scratch) -> list[str]:
        """Free what :meth:`_launch` made, each step even if one before it failed; what
        failed, as text."""
        failures = []
        processes_gone = True
        if self.cgroup is not None:
            try:
                self.final_stats = self.cgroup.stats()
            except OSError as e:
                failures.append(f"cgroup statistics: {describe(e)}")
            try:
                self.cgroup.destroy()
            except Exception as e:  # noqa: BLE001 - every step runs; failures are reported
                processes_gone = False
                failures.append(f"cgroup: {describe(e)}")
        if self.bridge is not None:
            try:
                self.bridge.detach(self.id)
            except Exception as e:  # noqa: BLE001
                failures.append(f"network: {describe(e)}")
            self.bridge = None
        # Every process of the container dies before its files go: with --share pid
        # one could outlive the init and change its layer while it is removed.
        if processes_gone:
            try:
                scratch.remove()
            except Exception as e:  # noqa: BLE001
                failures.append(f"scratch: {describe(e)}")
        else:
            failures.append(f"scratch: {scratch.dir} kept while the cgroup may hold processes")
        if self.config.userns_range == "auto":
            try:
                idmap.RangeAllocator().release(self.id)
            except Exception as e:  # noqa: BLE001
                failures.append(f"userns range: {describe(e)}")
        self.cgroup = None
        return failures

    def _monitor(self, seccomp_program: bytes | None, ready_w: int, auto_remove: bool,
                 log_max_size: int | None) -> None:
        """The monitor of a detached container; never returns.

        The container writes into a pipe, not the log: the monitor relays it in a
        thread started only after the clone (a raw clone copies the calling thread
        alone, and a second one could hold the interpreter lock the child needs).
        Under :meth:`create` (``self.gate`` set) there is no log: the command keeps
        the caller's stdio, and the caller is released once the init waits at the gate.
        """
        import threading
        import time

        from minicontainer import logs

        code = EXIT_RUNTIME_ERROR
        released = False
        relay = None
        try:
            os.setsid()
            if self.gate is None:
                os.dup2(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), 0)
            keep = 3 + self.config.preserve_fds  # runc's --preserve-fds: the caller's, passed on
            if ready_w > keep:
                native.close_range(keep, ready_w - 1)
            native.close_range(ready_w + 1)
            devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
            if self.gate is None:  # under `create` the command keeps the caller's stdio
                path = self.store.log_path(self.id)
                log = logs.open_log(path)
                log_r, log_w = os.pipe2(os.O_CLOEXEC)
                os.dup2(log_w, 1)
                os.dup2(log_w, 2)
                os.close(log_w)
                relay = threading.Thread(target=logs.relay, daemon=True, args=(
                    log_r, log, path, log_max_size or logs.DEFAULT_MAX_SIZE))
            native.set_child_subreaper()
            if self.store.update(self.id, monitorPid=os.getpid(), ownMonitor=True,
                                 monitorStartTime=process_start_time(os.getpid())) is None:
                # The CLI died before this update, and `cleanup` took the record for a
                # crash's: start nothing that no record would own.
                raise ContainerError(f"the record of {self.id} was removed while it started")
            if self.config.userns_range == "auto":
                idmap.RangeAllocator().adopt(self.id, os.getpid(),
                                             process_start_time(os.getpid()))

            def release() -> None:
                """Tell the waiting CLI that the container is up."""
                nonlocal released
                os.write(ready_w, b"ok")
                os.close(ready_w)
                released = True

            def running(pid: int) -> None:
                """Record the container as running, start the log relay and release
                the waiting CLI (under `create`, released already)."""
                self._record_running(pid)
                if self.gate is None:
                    relay.start()
                    release()

            def created(pid: int) -> None:
                """The init waits at the start gate: record it, let go of the caller's
                stdio (the container has it) and release `create`."""
                self._record_running(pid, status="created")
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                release()

            if self.gate is not None:
                self.gate.on_created = created
            code = self._launch(seccomp_program, (None, None, None), running, hand_over_fds=True)
            for fd in (1, 2):
                os.dup2(devnull, fd)  # the last writer gone: the relay sees the end
            if relay is not None and relay.is_alive():
                relay.join(10)
            self.store.update(self.id, status="stopped", exitCode=code,
                              finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              finalStats=self.final_stats)
            if auto_remove:
                self.store.remove(self.id)
        except BaseException as e:
            if released:
                # It ran (or, under `create`, its execve failed), or freeing it failed:
                # keep the record so that `rm` retries, and say why for `start`.
                self.store.update(self.id, status="stopped", error=describe(e))
            else:
                _report(ready_w, getattr(e, "exit_code", EXIT_RUNTIME_ERROR), describe(e))
                self.store.remove(self.id)
        finally:
            os._exit(code)

    def _start_and_wait(self, scratch: Scratch, seccomp_program,
                        stdio: tuple[int | None, ...], on_running, hand_over_fds: bool) -> int:
        cfg = self.config
        gate = self.gate
        rootfs_tree = _shifted_rootfs(cfg)  # first: nothing else is open yet if it fails
        sync_r = sync_w = err_r = err_w = cgroup_fd = stub = home = None
        channel = parent_channel = terminal = None
        pid = -1
        # Blocked until each side has its handlers: the parent forwards to the child
        # once it exists, the child takes the defaults (run_reporting) and the mask back.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
        try:
            try:
                sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
                err_r, err_w = os.pipe2(os.O_CLOEXEC)
                if gate is not None:
                    gate.open()
                if cfg.terminal:
                    import socket

                    from minicontainer import terminal

                    parent_channel, channel = socket.socketpair(socket.AF_UNIX,
                                                                socket.SOCK_STREAM)
                cgroup_fd = self.cgroup.open_fd() if self.cgroup is not None else None
                stub = execstub.sealed_copy()
                home = _enter_network_namespace(cfg.network_path)
                pid = namespaces.clone(cfg.namespaces, cgroup_fd)
            finally:
                if pid != 0:  # what only the child needs
                    _close_fds(stub, rootfs_tree, cgroup_fd)
                    _leave_network_namespace(home)
        except BaseException:
            if pid > 0:
                _kill_and_reap(pid)
            _close_fds(sync_r, sync_w, err_r, err_w)
            for end in (channel, parent_channel):
                if end is not None:
                    end.close()
            if gate is not None:
                gate.close()
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            raise
        if pid == 0:
            # The init needs none of the runtime's own fds, and each would be a door out
            # (CVE-2024-21626 was runc's cgroup fd). sync_w goes so that a runtime killed
            # before the release is an end of file.
            _close_fds(sync_w, cgroup_fd, home)
            if parent_channel is not None:
                parent_channel.close()
            if gate is not None:
                gate.in_child()
            _child(cfg, scratch, seccomp_program, sync_r, err_w, channel, terminal, stdio, stub,
                   rootfs_tree, held, gate)
        self.pid = pid
        forwarder = SignalForwarder()
        forwarder.target = pid
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        os.close(sync_r)
        os.close(err_w)
        if channel is not None:
            channel.close()
        if gate is not None:
            gate.in_parent()
        if hand_over_fds and cfg.preserve_fds:
            native.close_range(3, 2 + cfg.preserve_fds)
        try:
            try:
                if cfg.user_namespace:
                    idmap.write_maps(pid, cfg.uid_mappings, cfg.gid_mappings)
                if cfg.network == "bridge":
                    self._connect_bridge(pid, scratch)
                os.write(sync_w, b"go")
                master = None
                if terminal is not None:
                    master = terminal.receive_master(parent_channel)
                if master is not None and self.console_socket is not None:
                    terminal.send_to_console_socket(self.console_socket, master)
                    master = None
                if gate is not None and gate.wait_created():
                    gate.on_created(pid)
                    gate.wait_started()
                failure = read_all(err_r)
                # Under `create`, an init killed at the gate closes its pipe empty too.
                if not failure and (gate is None or gate.started):
                    on_running(pid)
            except BaseException:
                _kill_and_reap(pid)
                raise
            if failure:
                raise_reported(pid, failure)
            if master is not None:
                terminal.relay(master)
            _, status = os.waitpid(pid, 0)
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                self._explain_oom()
            return exit_code(status)
        finally:
            forwarder.restore()
            for fd in (sync_w, err_r):
                os.close(fd)
            if parent_channel is not None:
                parent_channel.close()
            if gate is not None:
                gate.close()
            self.pid = None

    def _connect_bridge(self, pid: int, scratch: Scratch) -> None:
        """Give the new network namespace its veth, address and routes, and the
        container its /etc/hosts, hostname and resolv.conf, before it is released."""
        from minicontainer import network

        cfg = self.config
        bridge = network.BridgeNetwork(NETWORK_DIR, cfg.subnet)
        try:
            address = bridge.attach(self.id, pid, process_start_time(pid), cfg.ports)
        except network.NetworkError as e:
            raise ContainerError(f"network: {e.strerror}") from None
        self.bridge = bridge  # only now: a failed attach has undone itself
        try:
            network.write_etc_files(scratch.upper if cfg.overlay else cfg.rootfs,
                                    cfg.hostname or self.id, address,
                                    (cfg.host_uid(0), cfg.host_gid(0)))
        except OSError as e:
            raise ContainerError(f"network: writing the container's /etc files: "
                                 f"{describe(e)}") from None
        self.store.update(self.id, network={"mode": "bridge", "address": address,
                                            "subnet": cfg.subnet, "bridge": network.BRIDGE,
                                            "ports": [repr(p) for p in cfg.ports]})

    def _explain_oom(self) -> None:
        """Say so when the memory limit, not a plain SIGKILL, ended the container."""
        if self.cgroup is not None and self.cgroup.oom_killed():
            limit = self.config.resources.memory
            print(f"minicontainer: the container hit its memory limit ({limit // 1024} KiB, "
                  f"memory.max) and the OOM killer ended it", file=sys.stderr)


def _shifted_rootfs(cfg: Config) -> int | None:
    """With a range of its own, the rootfs as an idmapped mount for the init (an fd):
    its files are owned for the shared range, and must look owned by this one."""
    if cfg.userns_range == "shared" or not cfg.user_namespace:
        return None
    try:
        return idmap.shifted_tree(cfg.rootfs, cfg.uid_mappings[0], cfg.gid_mappings[0])
    except OSError as e:
        raise ContainerError(f"an idmapped mount of the rootfs {cfg.rootfs}: {describe(e)} "
                             "(its filesystem may not support idmapped mounts)") from None


def _enter_network_namespace(path: str | None) -> int | None:
    """Step into the network namespace at ``path``; an fd to come back with.

    A clone cannot be told to join an existing namespace, but it inherits the
    caller's: the runtime steps into the other container's network namespace,
    clones, and steps back (:func:`_leave_network_namespace`).  The child keeps
    it, under a user namespace of its own.
    """
    if path is None:
        return None
    target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except BaseException:
        os.close(target)
        raise
    try:
        native.setns(target, int(Namespace.NET), path)
    except BaseException:
        os.close(home)
        raise
    finally:
        os.close(target)
    return home


def _leave_network_namespace(home: int | None) -> None:
    if home is not None:
        native.setns(home, int(Namespace.NET), "/proc/self/ns/net")
        os.close(home)


def _create_cgroup(container_id: str, cfg: Config):
    """The container's cgroup with its limits and its device program, or None on a
    host without cgroup v2 (where asking for a limit or the device layer is an error)."""
    from minicontainer import cgroups

    files = cgroups.limit_files(cfg.resources)
    hierarchy = cgroups.find_hierarchy()
    if hierarchy is None:
        if files:
            raise ContainerError("resource limits need cgroup v2, and this host mounts "
                                 "only cgroup v1")
        if cfg.device_cgroup:
            raise ContainerError("the device layer needs cgroup v2 (a BPF program on the "
                                 "container's cgroup), and this host mounts only cgroup v1; "
                                 "--security-opt devices=unconfined runs without it")
        return None
    try:
        cgroup = cgroups.Cgroup.create(hierarchy, container_id, files)
    except cgroups.CgroupError as e:
        raise ContainerError(f"cgroup: {e.strerror}") from None
    if cfg.device_cgroup:
        _restrict_devices(cgroup, cfg)
    return cgroup


def _restrict_devices(cgroup, cfg: Config) -> None:
    """The device layer, attached while the cgroup is still empty: the container's
    first process starts under it (clone3 into the cgroup)."""
    from minicontainer import devices

    try:
        devices.restrict(cgroup.path, cfg.resources.devices)
    except OSError as e:
        cgroup.destroy()
        raise ContainerError(f"devices: {describe(e)}") from None


def _init(cfg: Config, scratch: Scratch, seccomp_program, sync_r: int, channel,
          terminal, stub: int, err_w: int, rootfs_tree: int | None, gate) -> None:
    """The container's init: each line one layer, in the order that makes them hold.

    Runs in the child of the clone, already inside every new namespace.  Nothing
    here may import a module: after the pivot the host's files, Python's
    included, are out of reach (``terminal`` comes in already imported).
    """
    native.set_dumpable(False)
    if cfg.new_session:
        os.setsid()
    if os.read(sync_r, 2) != b"go":  # end of file: the runtime died before releasing us
        raise ContainerError("the runtime ended before it released the container")
    os.close(sync_r)
    mounts.set_propagation(cfg.rootfs_propagation)
    volumes = mounts.open_volumes([m.source for m in cfg.mounts])
    if cfg.user_namespace:
        idmap.become_root()
    if cfg.namespaces & Namespace.NET:
        network.loopback_up()

    overlay = (scratch.upper, scratch.work) if cfg.overlay else (None, None)
    rootfs_dir = idmap.attach_tree(rootfs_tree, scratch.merged, cfg.rootfs)
    root = mounts.mount_rootfs(rootfs_dir, scratch.merged, *overlay)
    mounts.mount_proc(root, cfg.may_mount_own(Namespace.PID))
    mounts.mount_sys(root, cfg.may_mount_own(Namespace.NET), cfg.sys_readonly)
    mounts.mount_dev(root, cfg.user_namespace, cfg.may_mount_own(Namespace.IPC))
    mounts.make_device_nodes(root, cfg.devices, cfg.user_namespace)
    mounts.mount_cgroup(root, cfg.may_mount_own(Namespace.CGROUP), cfg.sys_readonly)
    mounts.mask_paths(root, cfg.masked_paths)
    mounts.readonly_paths(root, cfg.readonly_paths)
    mounts.pivot_to(root) if cfg.root_mode == "pivot" else mounts.chroot_to(root)
    mounts.attach_volumes(volumes, [m.destination for m in cfg.mounts],
                          [m.readonly for m in cfg.mounts])
    if terminal is not None:
        terminal.open_in_container(channel)
        channel.close()
    mounts.finish_root(cfg.readonly)
    mounts.set_propagation(cfg.rootfs_propagation)  # now for the container's own root

    if cfg.namespaces & Namespace.UTS:
        namespaces.set_hostname(cfg.hostname)
    become_the_command(cfg, seccomp_program, stub, err_w, gate)


def become_the_command(cfg: Config, seccomp_program: bytes | None, stub: int,
                       err_w: int, gate=None) -> None:
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
    if seccomp_program is not None and not cfg.no_new_privileges:
        native.seccomp_load(seccomp_program)  # without no_new_privs it needs CAP_SYS_ADMIN: now
    capabilities.before_user_switch(cfg.capabilities)
    idmap.switch_user(cfg.uid, cfg.gid, [])
    capabilities.apply(cfg.capabilities, cfg.uid == 0, cfg.ambient_capabilities,
                       cfg.inheritable_capabilities)
    if cfg.no_new_privileges:
        native.set_no_new_privs()
    _pass_preserved_fds(cfg.preserve_fds)
    if cfg.close_fds:
        native.close_range(3 + cfg.preserve_fds, flags=_CLOSE_RANGE_CLOEXEC)
    _enter_cwd(cfg.cwd, check_inside_root=cfg.close_fds)
    native.set_pdeathsig(signal.SIGKILL)
    if gate is not None:  # `create` ends here, as runc's, once the command is found
        execstub.require_command(cfg.args[0], cfg.environment())
        gate.wait_for_start()
    # AppArmor switches the profile at the execve below; asked for before seccomp, so
    # that a custom filter need not allow the write.  (Imported before the fork.)
    if confined(cfg):
        from minicontainer import apparmor

        apparmor.exec_profile(cfg.apparmor_profile)
    if seccomp_program is not None and cfg.no_new_privileges:
        native.seccomp_load(seccomp_program)
    execstub.exec_command(stub, err_w, cfg.args, cfg.environment())


def _child(cfg: Config, scratch: Scratch, seccomp_program, sync_r: int, err_w: int, channel,
           terminal, stdio: tuple[int | None, ...], stub: int, rootfs_tree: int | None,
           signal_mask, gate) -> None:
    """Run :func:`_init` and never return: report any failure on ``err_w`` and exit."""
    for target, fd in enumerate(stdio):
        if fd is not None:
            os.dup2(fd, target)
    run_reporting(err_w, "container init",
                  lambda: _init(cfg, scratch, seccomp_program, sync_r, channel, terminal,
                                stub, err_w, rootfs_tree, gate), signal_mask)


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
        _report(err_w, code, message)
    finally:
        os._exit(code)


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


# The longest path a unix socket address holds (sun_path, less its final NUL).
_MAX_SOCKET_PATH = 107


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


def _report(err_w: int, code: int, message: str) -> None:
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


def _close_fds(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None:
            os.close(fd)


def _kill_and_reap(pid: int) -> None:
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


def _check_startable(cfg: Config) -> None:
    if cfg.overlay and cfg.rootfs and any(c in cfg.rootfs for c in ",:"):
        raise ConfigError("rootfs", cfg.rootfs,
                          "contains ',' or ':', which overlayfs cannot take; use --no-overlay")
    if cfg.hostname is not None and not cfg.namespaces & Namespace.UTS:
        raise ConfigError("hostname", cfg.hostname,
                          "needs a UTS namespace of its own, but uts is shared")
    if cfg.user_namespace and not idmap.user_namespaces_enabled():
        raise ContainerError(
            "this kernel does not allow user namespaces (CONFIG_USER_NS, or "
            "user.max_user_namespaces is 0); use --userns host or enable them"
        )
    if cfg.user_namespace and cfg.userns_range == "shared":  # else the runtime opens it
        blocked = _unreachable_dir(cfg.rootfs, cfg.host_uid(0), cfg.host_gid(0))
        if blocked:
            raise ConfigError(
                "rootfs", cfg.rootfs,
                f"is out of reach of the container's root (host uid {cfg.host_uid(0)}): "
                f"{blocked} does not let it pass; use a directory it can enter",
            )


def _unreachable_dir(path: str, uid: int, gid: int) -> str | None:
    """The first directory on the way to ``path`` that ``uid``/``gid`` may not search.

    The overlay is mounted by the container's root, a nobody on the host, so
    every directory down to the rootfs, itself included, must let it through.
    """
    parts = os.path.abspath(path).split("/")[1:]
    for current in ["/", *("/" + "/".join(parts[:i + 1]) for i in range(len(parts)))]:
        try:
            st = os.stat(current)
        except OSError:
            return None  # missing: validation names it
        if not stat.S_ISDIR(st.st_mode):
            return None  # not a directory: validation names it
        if st.st_uid == uid:
            allowed = st.st_mode & 0o100
        elif st.st_gid == gid:
            allowed = st.st_mode & 0o010
        else:
            allowed = st.st_mode & 0o001
        if not allowed:
            return current
    return None


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
