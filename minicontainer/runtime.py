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
process in the runtime's place; OCI ``create`` (:meth:`Container.create`) leaves
none: the init waits at its start gate, its caller's to reap.  The last steps of
the recipe, shared with ``exec``, and the reporting between parent and child are
in :mod:`minicontainer.process`.
"""

from __future__ import annotations

import os
import signal
import stat
import sys

from minicontainer import execstub, idmap, mounts, namespaces, native, network, process, rootfs
from minicontainer.config import OCI_NAMESPACE_BY_TYPE, Config, ConfigError, hostname_for
from minicontainer.errors import EXIT_RUNTIME_ERROR, ContainerError, describe
from minicontainer.namespaces import Namespace
from minicontainer.process import (
    FORWARDED_SIGNALS,
    SignalForwarder,
    become_the_command,
    check_console,
    check_preserved_fds,
    close_fds,
    exit_code,
    kill_and_reap,
    raise_reported,
    read_all,
    report,
    run_reporting,
    set_oom_score_adj,
    settle_apparmor,
)
from minicontainer.state import (
    NETWORK_DIR,
    OCI_VERSION,
    STATE_ROOT,
    Scratch,
    StateStore,
    new_id,
    process_start_time,
    valid_id,
)


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
        self.run_hooks = None  # the config's hooks, ready to run (see _hook_runner)

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
            if self.run_hooks is not None:
                self.run_hooks("poststop", "stopped", 0)

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
        """OCI ``create``: set the container up and stop its init at the last step
        before its execve; its host pid once it waits there (status ``created``).

        :func:`minicontainer.oci.start` lets it go on.  No process of minicontainer
        stays, as with runc: the init is this process's child, and its caller's once
        this process ends.  A container engine's monitor (conmon, containerd's shim)
        is a child subreaper, so it reaps the command and learns its exit code;
        ``delete`` frees what the container used.  The command keeps the caller's
        stdin, stdout and stderr, and ``console_socket`` receives the pty master
        of a terminal (there must be one: nothing stays to relay it).
        """
        from minicontainer.startgate import StartGate

        cfg = self.config
        check_console(cfg, self.console_socket, detached=True)
        if cfg.userns_range == "auto":
            raise ConfigError("userns_range", "auto", "needs a monitor to hold the range: "
                              "not with create")
        seccomp_program = self._prepare()
        self._register(detached=True, auto_remove=False)
        self.gate = StartGate(self.store.dir(self.id))
        scratch = Scratch(self.id)
        try:
            self.cgroup = _create_cgroup(self.id, cfg)
            self.store.update(self.id, cgroup=self.cgroup.path if self.cgroup else None)
            scratch.create(cfg.overlay, cfg.host_uid(0), cfg.host_gid(0))
            return self._start_and_wait(scratch, seccomp_program, (None, None, None),
                                        None, hand_over_fds=False)
        except BaseException:
            self._free(scratch)  # what it cannot free, `cleanup` finds; the cause matters more
            self.store.remove(self.id)
            raise

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
        if not cfg.overlay and rootfs.in_store(cfg.rootfs):
            raise ConfigError("rootfs", cfg.rootfs, "is minicontainer's stored rootfs, which "
                              "every container shares: without the overlay the container "
                              "would write into it (keep the overlay; in a config.json, the "
                              "annotation minicontainer.overlay: \"true\"), or use a copy")
        settle_apparmor(cfg)
        self.run_hooks = self._hook_runner()
        return process.seccomp_program(cfg)

    def _hook_runner(self):
        """A function that runs the config's hooks of one phase with this container's
        state, or None if it has none.  Made before the clone: the init, which runs
        createContainer and startContainer, can import nothing."""
        if not any(self.config.hooks.values()):
            return None
        from minicontainer import hooks

        def run(phase: str, status: str, pid: int | None = None) -> None:
            """``pid`` None: this process's, as the namespace it runs in numbers it."""
            state = {"ociVersion": self.oci_version, "id": self.id, "status": status,
                     "pid": os.getpid() if pid is None else pid,
                     "bundle": self.bundle or Scratch(self.id).dir,
                     "annotations": self.annotations}
            hooks.run(phase, self.config.hooks.get(phase, []), state)

        return run

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

        It starts the container, records it running and releases the CLI; then it
        becomes mc-monitor, which stays while the container runs and hands the end
        back to :meth:`_finish` (:mod:`minicontainer.monitor`).  The container
        writes into a pipe, not the log: mc-monitor copies it.
        """
        from minicontainer import logs, monitor

        released = False
        try:
            monitor.check_installed()
            os.setsid()
            os.dup2(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), 0)
            keep = 3 + self.config.preserve_fds  # runc's --preserve-fds: the caller's, passed on
            if ready_w > keep:
                native.close_range(keep, ready_w - 1)
            native.close_range(ready_w + 1)
            devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
            path = self.store.log_path(self.id)
            log = logs.open_log(path)
            log_r, log_w = os.pipe2(os.O_CLOEXEC)
            os.dup2(log_w, 1)
            os.dup2(log_w, 2)
            os.close(log_w)
            native.set_child_subreaper()
            if self.store.update(self.id, monitorPid=os.getpid(), ownMonitor=True,
                                 monitorStartTime=process_start_time(os.getpid())) is None:
                # The CLI died before this update, and `cleanup` took the record for a
                # crash's: start nothing that no record would own.
                raise ContainerError(f"the record of {self.id} was removed while it started")
            if self.config.userns_range == "auto":
                idmap.RangeAllocator().adopt(self.id, os.getpid(),
                                             process_start_time(os.getpid()))

            def running(pid: int) -> None:
                """Record the container as running, release the waiting CLI, and
                become mc-monitor (the poststart hooks first: their turn is now)."""
                nonlocal released
                self._record_running(pid)
                os.write(ready_w, b"ok")
                os.close(ready_w)
                released = True
                if self.run_hooks is not None:
                    self.run_hooks("poststart", "running", pid)
                for fd in (1, 2):
                    os.dup2(devnull, fd)  # the container holds the last writers of the pipe
                monitor.become_resident(pid, log_r, log, path,
                                        log_max_size or logs.DEFAULT_MAX_SIZE, self.store.root,
                                        self.id, self.config.userns_range, auto_remove)

            # Returns only by raising: `running` execs mc-monitor.
            self._launch(seccomp_program, (None, None, None), running, hand_over_fds=True)
        except BaseException as e:
            if released:
                # It ran, or freeing it failed: keep the record so that `rm` retries.
                self.store.update(self.id, status="stopped", error=describe(e))
            else:
                report(ready_w, getattr(e, "exit_code", EXIT_RUNTIME_ERROR), describe(e))
                self.store.remove(self.id)
        finally:
            os._exit(EXIT_RUNTIME_ERROR)

    @classmethod
    def _from_record(cls, store: StateStore, container_id: str,
                     userns_range: str) -> Container | None:
        """The container whose record is in ``store``, as far as freeing it needs (its
        config, cgroup, bridge and hooks); None if it has no record.  ``userns_range``
        is the config's, which config.json does not carry."""
        state = store.load(container_id)
        if state is None:
            return None
        container = cls(Config.from_oci(state["config"]), container_id, store.root)
        container.config.userns_range = userns_range
        container.bundle = state.get("bundle")
        container.annotations = state.get("annotations") or {}
        container.oci_version = state.get("ociVersion", OCI_VERSION)
        if state.get("cgroup"):
            from minicontainer.cgroups import Cgroup

            container.cgroup = Cgroup(state["cgroup"])
        if (state.get("network") or {}).get("mode") == "bridge":
            container.bridge = network.BridgeNetwork(NETWORK_DIR, state["network"]["subnet"])
        container.run_hooks = container._hook_runner()
        return container

    def _finish(self, status: int, log_r: int, log: int, log_max_size: int,
                auto_remove: bool) -> None:
        """The end of a detached container, run by mc-monitor once its init has ended
        with wait ``status``: free what it used, copy the rest of its output from
        ``log_r`` into ``log``, record the exit, remove it if asked to.

        Freeing comes first: it kills any process the init left (a shared pid
        namespace), which could otherwise hold the pipe open.  Loaded by
        :meth:`_from_record`; the OOM note goes to stderr, which is the log.
        """
        import threading
        import time

        from minicontainer import logs

        try:
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                self._explain_oom()
            failures = self._free(Scratch(self.id))
            relay = threading.Thread(target=logs.relay, daemon=True, args=(
                log_r, log, self.store.log_path(self.id), log_max_size))
            relay.start()
            relay.join(10)
            ended = {"status": "stopped", "exitCode": exit_code(status),
                     "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "finalStats": self.final_stats}
            if failures:
                # Keep the record so that `rm` retries.
                self.store.update(self.id, **ended, error=f"freeing container {self.id}: "
                                  f"{'; '.join(failures)}")
                return
            self.store.update(self.id, **ended)
            if self.run_hooks is not None:
                self.run_hooks("poststop", "stopped", 0)
            if auto_remove:
                self.store.remove(self.id)
        except BaseException as e:
            self.store.update(self.id, status="stopped", error=describe(e))

    def _start_and_wait(self, scratch: Scratch, seccomp_program,
                        stdio: tuple[int | None, ...], on_running, hand_over_fds: bool) -> int:
        cfg = self.config
        gate = self.gate
        rootfs_tree = _shifted_rootfs(cfg)  # first: nothing else is open yet if it fails
        sync_r = sync_w = err_r = err_w = cgroup_fd = stub = None
        channel = parent_channel = terminal = None
        homes: list[tuple[Namespace, int]] = []
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
                homes = _enter_namespaces(cfg)
                pid = namespaces.clone(cfg.namespaces, cgroup_fd)
            finally:
                if pid != 0:  # what only the child needs
                    close_fds(stub, rootfs_tree, cgroup_fd)
                    _leave_namespaces(homes)
        except BaseException:
            if pid > 0:
                kill_and_reap(pid)
            close_fds(sync_r, sync_w, err_r, err_w)
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
            close_fds(sync_w, cgroup_fd, *(home for _, home in homes))
            if parent_channel is not None:
                parent_channel.close()
            if gate is not None:
                gate.in_child()
            _child(cfg, scratch, seccomp_program, sync_r, err_w, channel, terminal, stdio, stub,
                   rootfs_tree, held, gate, self.run_hooks)
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
                if cfg.oom_score_adj is not None:
                    set_oom_score_adj(cfg.oom_score_adj, pid)
                if cfg.network == "bridge":
                    self._connect_bridge(pid, scratch)
                if self.run_hooks is not None:
                    self.run_hooks("prestart", "creating", pid)
                    self.run_hooks("createRuntime", "creating", pid)
                os.write(sync_w, b"go")
                master = None
                if terminal is not None:
                    master = terminal.receive_master(parent_channel)
                if master is not None and cfg.console_size is not None:
                    terminal.set_window_size(master, *cfg.console_size)
                if master is not None and self.console_socket is not None:
                    terminal.send_to_console_socket(self.console_socket, master)
                    master = None
                if gate is not None and gate.wait_created():
                    self._record_running(pid, status="created")
                    self.store.update(self.id, monitorPid=None, monitorStartTime=None)
                    return pid  # `create`: the init waits at the gate, on its own now
                failure = read_all(err_r)
                if gate is not None and not failure:
                    failure = f"{EXIT_RUNTIME_ERROR} the init ended before its start gate".encode()
                if not failure:
                    on_running(pid)
                    if self.run_hooks is not None:
                        self.run_hooks("poststart", "running", pid)
            except BaseException:
                kill_and_reap(pid)
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


def _enter_namespaces(cfg: Config) -> list[tuple[Namespace, int]]:
    """Step into the namespaces the config joins by path (the network one, and ipc,
    uts, pid, cgroup); fds to come back with.

    A clone cannot be told to join an existing namespace, but it inherits the
    caller's (for pid: its children are born in the one joined): the runtime steps
    into the others' namespaces, clones, and steps back (:func:`_leave_namespaces`).
    """
    wanted = [(Namespace.NET, cfg.network_path)] if cfg.network_path else []
    wanted += [(OCI_NAMESPACE_BY_TYPE[kind], path)
               for kind, path in cfg.joined_namespaces.items()]
    homes: list[tuple[Namespace, int]] = []
    try:
        for namespace, path in wanted:
            target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                home = os.open(f"/proc/self/ns/{namespace.proc_name}",
                               os.O_RDONLY | os.O_CLOEXEC)
                try:
                    native.setns(target, int(namespace), path)
                except BaseException:
                    os.close(home)
                    raise
                homes.append((namespace, home))
            finally:
                os.close(target)
    except BaseException:
        _leave_namespaces(homes)
        raise
    return homes


def _leave_namespaces(homes: list[tuple[Namespace, int]]) -> None:
    for namespace, home in reversed(homes):
        native.setns(home, int(namespace), f"/proc/self/ns/{namespace.proc_name}")
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
        cgroup = cgroups.Cgroup.create(hierarchy, container_id, files, cfg.cgroups_path)
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
          terminal, stub: int, err_w: int, rootfs_tree: int | None, gate, run_hooks) -> None:
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
    entries = cfg.all_mounts()
    trees = mounts.open_binds(entries)
    if cfg.user_namespace:
        idmap.become_root()
    if cfg.namespaces & Namespace.NET:
        network.loopback_up()
    namespaces.set_sysctls(cfg.sysctl)

    overlay = (scratch.upper, scratch.work) if cfg.overlay else (None, None)
    rootfs_dir = idmap.attach_tree(rootfs_tree, scratch.merged, cfg.rootfs)
    root = mounts.mount_rootfs(rootfs_dir, scratch.merged, *overlay)
    for entry, tree in zip(entries, trees, strict=True):  # in the config's order
        mounts.mount_entry(root, entry, tree, cfg.may_mount(entry.type))
    if cfg.fresh_dev:
        mounts.populate_dev(root, cfg.user_namespace)
    mounts.make_device_nodes(root, cfg.devices, cfg.user_namespace)
    mounts.mask_paths(root, cfg.masked_paths)
    mounts.readonly_paths(root, cfg.readonly_paths)
    if run_hooks is not None:
        run_hooks("createContainer", "creating")
    mounts.pivot_to(root) if cfg.root_mode == "pivot" else mounts.chroot_to(root)
    if terminal is not None:
        terminal.open_in_container(channel)
        channel.close()
    mounts.finish_root(cfg.readonly)
    mounts.set_propagation(cfg.rootfs_propagation)  # now for the container's own root
    mounts.set_entry_propagations(entries)

    if cfg.namespaces & Namespace.UTS:
        namespaces.set_hostname(cfg.hostname)
    become_the_command(cfg, seccomp_program, stub, err_w, gate, run_hooks)


def _child(cfg: Config, scratch: Scratch, seccomp_program, sync_r: int, err_w: int, channel,
           terminal, stdio: tuple[int | None, ...], stub: int, rootfs_tree: int | None,
           signal_mask, gate, run_hooks) -> None:
    """Run :func:`_init` and never return: report any failure on ``err_w`` and exit."""
    for target, fd in enumerate(stdio):
        if fd is not None:
            os.dup2(fd, target)
    run_reporting(err_w, "container init",
                  lambda: _init(cfg, scratch, seccomp_program, sync_r, channel, terminal,
                                stub, err_w, rootfs_tree, gate, run_hooks), signal_mask)


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


