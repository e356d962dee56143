"""The container configuration: a subset of the OCI runtime-spec ``config.json``.

:class:`Config` is flat so that a script can write ``Config(args=["hostname"],
hostname="x")``; :meth:`Config.to_oci` and :meth:`Config.from_oci` show where each
field lives in a real ``config.json``, so what a student learns here reads
straight across to runc, Docker and Kubernetes.

Every isolation layer is a field.  Switching one off is a change of config, never
a special case in the layer's code.
"""

from __future__ import annotations

import os
import re
import stat

from minicontainer import idmap
from minicontainer.namespaces import ALL, Namespace

MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/proc/interrupts", "/sys/firmware", "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
DEFAULT_CAPABILITIES = frozenset({
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
})
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAX_HOSTNAME = 64
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_ID = 0xFFFFFFFE


class ConfigError(ValueError):
    """A config field holds a value minicontainer cannot use.

    The message names the field and the value, e.g.
    ``hostname: 'a_b' is not a valid hostname``.
    """

    def __init__(self, field: str, value: object, why: str) -> None:
        super().__init__(f"{field}: {value!r} {why}")
        self.field = field
        self.value = value


class Mount:
    """A bind mount of a host path into the container (an OCI ``mounts`` entry)."""

    __slots__ = ("source", "destination", "readonly")

    def __init__(self, source: str, destination: str, readonly: bool = False) -> None:
        self.source = source
        self.destination = destination
        self.readonly = readonly

    def __repr__(self) -> str:
        return f"Mount({self.source!r}, {self.destination!r}, readonly={self.readonly})"

    def to_oci(self) -> dict[str, object]:
        """This bind mount as an OCI ``mounts`` entry."""
        options = ["rbind", "ro" if self.readonly else "rw"]
        return {
            "destination": self.destination,
            "type": "bind",
            "source": self.source,
            "options": options,
        }

    @classmethod
    def parse(cls, spec: str) -> Mount:
        """``HOST:CONTAINER[:ro|:rw]``, as ``-v`` takes it."""
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise ConfigError("volume", spec, "is not HOST:CONTAINER[:ro|:rw]")
        if len(parts) == 3 and parts[2] not in ("ro", "rw"):
            raise ConfigError("volume", spec, "has an option other than ro or rw")
        return cls(parts[0], parts[1], readonly=len(parts) == 3 and parts[2] == "ro")


_SIZE_SUFFIXES = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
CPU_PERIOD = 100_000


def parse_size(field: str, text: str) -> int:
    """``64m``, ``1g``, ``512k``, ``1048576`` -> bytes; more than 0."""
    value = text.strip().lower()
    number, suffix = value.rstrip("bkmgt"), value[len(value.rstrip("bkmgt")):]
    if suffix.endswith("b") and len(suffix) == 2:
        suffix = suffix[0]
    if suffix not in _SIZE_SUFFIXES or not number.isdigit():
        raise ConfigError(field, text, "is not a size (a number with an optional k, m or g)")
    size = int(number) * _SIZE_SUFFIXES[suffix]
    if size <= 0:
        raise ConfigError(field, text, "must be more than 0")
    return size


def _parse_cpuset(field: str, text: str) -> str:
    cpus = set()
    try:
        for part in text.split(","):
            first, _, last = part.partition("-")
            cpus.update(range(int(first), int(last or first) + 1))
    except ValueError:
        raise ConfigError(field, text, "is not a CPU list such as 0-1,3") from None
    available = os.sched_getaffinity(0)
    if not cpus or not cpus <= available:
        raise ConfigError(field, text, f"names CPUs this machine lacks (it has "
                          f"{','.join(map(str, sorted(available)))})")
    return text


def _device_number(field: str, device: str) -> str:
    """``/dev/sda`` or ``8:0`` -> ``8:0``, the form io.max takes; a block device only."""
    major, sep, minor = device.partition(":")
    if sep and major.isdigit() and minor.isdigit():
        if not os.path.exists(f"/sys/dev/block/{device}"):
            raise ConfigError(field, device, "is not a block device of this machine")
        return device
    try:
        st = os.stat(device)
    except OSError:
        raise ConfigError(field, device, "is not a block device of this machine") from None
    if not stat.S_ISBLK(st.st_mode):
        raise ConfigError(field, device, "is not a block device")
    return f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"


class Resources:
    """Resource limits (OCI ``linux.resources``), each None when not limited.

    ``swap`` is the swap a container may use beyond ``memory`` (``memory.swap.max``);
    with a memory limit and no swap given, it gets none, so the limit is the limit.
    """

    def __init__(
        self,
        *,
        memory: int | None = None,
        swap: int | None = None,
        memory_high: int | None = None,
        cpu_quota: int | None = None,
        cpu_period: int = CPU_PERIOD,
        cpu_weight: int | None = None,
        pids: int | None = None,
        cpuset_cpus: str | None = None,
        io_read_bps: list[tuple[str, int]] | None = None,
        io_write_bps: list[tuple[str, int]] | None = None,
    ) -> None:
        self.memory = memory
        self.swap = swap
        self.memory_high = memory_high
        self.cpu_quota = cpu_quota
        self.cpu_period = cpu_period
        self.cpu_weight = cpu_weight
        self.pids = pids
        self.cpuset_cpus = cpuset_cpus
        self.io_read_bps = list(io_read_bps or [])
        self.io_write_bps = list(io_write_bps or [])

    def __bool__(self) -> bool:
        return any(value not in (None, []) for key, value in vars(self).items()
                   if key != "cpu_period")

    @classmethod
    def from_flags(cls, *, memory: str | None = None, memory_swap: str | None = None,
                   memory_high: str | None = None, cpus: str | None = None,
                   cpu_weight: str | None = None, pids_limit: str | None = None,
                   cpuset_cpus: str | None = None, io_read_bps: list[str] = (),
                   io_write_bps: list[str] = ()) -> Resources:
        """Limits from the ``run`` flags, as text; errors name the flag.

        ``--memory-swap`` is Docker's: memory plus swap, ``-1`` for unlimited swap.
        """
        resources = cls()
        if memory is not None:
            resources.memory = parse_size("memory", memory)
        if memory_swap is not None:
            if resources.memory is None:
                raise ConfigError("memory-swap", memory_swap, "needs --memory as well")
            if memory_swap.strip() == "-1":
                resources.swap = "max"
            else:
                total = parse_size("memory-swap", memory_swap)
                if total < resources.memory:
                    raise ConfigError("memory-swap", memory_swap,
                                      "is less than --memory (it counts memory plus swap)")
                resources.swap = total - resources.memory
        if memory_high is not None:
            resources.memory_high = parse_size("memory-high", memory_high)
        if cpus is not None:
            try:
                count = float(cpus)
            except ValueError:
                raise ConfigError("cpus", cpus, "is not a number of CPUs") from None
            if not 0.01 <= count <= (os.cpu_count() or 1):
                raise ConfigError("cpus", cpus, f"must be from 0.01 to this machine's "
                                  f"{os.cpu_count()} CPUs")
            resources.cpu_quota = round(count * CPU_PERIOD)
        if cpu_weight is not None:
            if not cpu_weight.isdigit() or not 1 <= int(cpu_weight) <= 10000:
                raise ConfigError("cpu-weight", cpu_weight, "must be from 1 to 10000")
            resources.cpu_weight = int(cpu_weight)
        if pids_limit is not None:
            if not pids_limit.isdigit() or int(pids_limit) < 1:
                raise ConfigError("pids-limit", pids_limit, "must be a number from 1")
            resources.pids = int(pids_limit)
        if cpuset_cpus is not None:
            resources.cpuset_cpus = _parse_cpuset("cpuset-cpus", cpuset_cpus)
        for field, specs, target in (("io-read-bps", io_read_bps, resources.io_read_bps),
                                     ("io-write-bps", io_write_bps, resources.io_write_bps)):
            for spec in specs:
                device, sep, rate = spec.rpartition(":")
                if not sep or not device:
                    raise ConfigError(field, spec, "is not DEVICE:RATE")
                target.append((_device_number(field, device), parse_size(field, rate)))
        return resources

    def to_oci(self) -> dict:
        """These limits as an OCI ``linux.resources`` object."""
        doc: dict = {}
        if self.memory is not None:
            swap = -1 if self.swap == "max" else self.memory + (self.swap or 0)
            doc["memory"] = {"limit": self.memory, "swap": swap}
        if self.cpu_quota is not None or self.cpuset_cpus is not None:
            doc["cpu"] = {k: v for k, v in (("quota", self.cpu_quota),
                                            ("period", self.cpu_period if self.cpu_quota else None),
                                            ("cpus", self.cpuset_cpus)) if v is not None}
        if self.pids is not None:
            doc["pids"] = {"limit": self.pids}
        io = {}
        for key, entries in (("throttleReadBpsDevice", self.io_read_bps),
                             ("throttleWriteBpsDevice", self.io_write_bps)):
            if entries:
                io[key] = [{"major": int(d.split(":")[0]), "minor": int(d.split(":")[1]),
                            "rate": rate} for d, rate in entries]
        if io:
            doc["blockIO"] = io
        unified = {}
        if self.memory_high is not None:
            unified["memory.high"] = str(self.memory_high)
        if self.cpu_weight is not None:
            unified["cpu.weight"] = str(self.cpu_weight)
        if unified:
            doc["unified"] = unified
        return doc

    @classmethod
    def from_oci(cls, doc: dict) -> Resources:
        """Limits from an OCI ``linux.resources`` object."""
        memory = doc.get("memory", {})
        cpu = doc.get("cpu", {})
        io = doc.get("blockIO", {})
        unified = doc.get("unified", {})
        limit = memory.get("limit")
        swap_total = memory.get("swap")
        swap = None
        if limit is not None and swap_total is not None:
            swap = "max" if swap_total == -1 else swap_total - limit

        def devices(key: str) -> list[tuple[str, int]]:
            """``[("MAJ:MIN", rate), ...]`` from one blockIO throttle list."""
            return [(f"{d['major']}:{d['minor']}", d["rate"]) for d in io.get(key, [])]

        return cls(
            memory=limit, swap=swap,
            memory_high=int(unified["memory.high"]) if "memory.high" in unified else None,
            cpu_quota=cpu.get("quota"), cpu_period=cpu.get("period") or CPU_PERIOD,
            cpu_weight=int(unified["cpu.weight"]) if "cpu.weight" in unified else None,
            pids=doc.get("pids", {}).get("limit"), cpuset_cpus=cpu.get("cpus"),
            io_read_bps=devices("throttleReadBpsDevice"),
            io_write_bps=devices("throttleWriteBpsDevice"),
        )


class Config:
    """Everything that decides what a container is.

    Layer fields and their OCI homes:

    ``namespaces``
        the namespaces to create (``linux.namespaces``); missing ones are shared
        with the host.
    ``uid_mappings`` / ``gid_mappings``
        ``linux.uidMappings`` / ``linux.gidMappings``; ``None`` means the default
        unprivileged range, ``[]`` with no user namespace.
    ``rootfs``, ``readonly``
        ``root.path`` and ``root.readonly``; ``None`` is the default busybox rootfs.
    ``overlay``
        minicontainer's own: a per-container writable layer keeps the rootfs pristine.
    ``capabilities``, ``ambient_capabilities``
        ``process.capabilities``: the bounding set (also permitted, effective and
        inheritable for root) and, for a non-root user, the ones it keeps as ambient.
    ``no_new_privileges``
        ``process.noNewPrivileges``.
    ``seccomp``, ``seccomp_profile``
        ``linux.seccomp``: off when ``seccomp`` is false; ``seccomp_profile`` None
        means the default profile.
    ``masked_paths``, ``readonly_paths``, ``sys_readonly``
        ``linux.maskedPaths``, ``linux.readonlyPaths``, and the ``ro`` option of /sys.
    ``resources``
        ``linux.resources``: cgroup limits (:class:`Resources`).
    ``network``, ``ports``, ``subnet``, ``network_path``
        ``none`` (a network namespace with loopback only), ``host`` (the host's),
        ``bridge`` (a veth on the ``mc0`` bridge, addresses from ``subnet``, ``ports``
        published through NAT), or ``container`` (the network namespace at
        ``network_path``, an OCI namespace entry with a path).
    """

    def __init__(
        self,
        args: list[str],
        *,
        env: list[str] | None = None,
        cwd: str = "/",
        uid: int = 0,
        gid: int = 0,
        terminal: bool = False,
        hostname: str | None = None,
        rootfs: str | None = None,
        readonly: bool = False,
        overlay: bool = True,
        namespaces: Namespace = ALL,
        uid_mappings: list[idmap.IdMapping] | None = None,
        gid_mappings: list[idmap.IdMapping] | None = None,
        mounts: list[Mount] | None = None,
        capabilities: set[str] | frozenset[str] = DEFAULT_CAPABILITIES,
        ambient_capabilities: set[str] | frozenset[str] = frozenset(),
        no_new_privileges: bool = True,
        seccomp: bool = True,
        seccomp_profile: dict | None = None,
        masked_paths: list[str] | None = None,
        readonly_paths: list[str] | None = None,
        sys_readonly: bool = True,
        resources: Resources | None = None,
        network: str | None = None,
        ports: list | None = None,
        subnet: str = "10.88.0.0/16",
        network_path: str | None = None,
    ) -> None:
        self.args = list(args)
        self.env = list(env) if env is not None else []
        self.cwd = cwd
        self.uid = uid
        self.gid = gid
        self.terminal = terminal
        self.hostname = hostname
        self.rootfs = rootfs
        self.readonly = readonly
        self.overlay = overlay
        self.namespaces = Namespace(namespaces)
        if uid_mappings is None:
            uid_mappings = idmap.default_mappings("uid") if self.user_namespace else []
        if gid_mappings is None:
            gid_mappings = idmap.default_mappings("gid") if self.user_namespace else []
        self.uid_mappings = uid_mappings
        self.gid_mappings = gid_mappings
        self.mounts = list(mounts) if mounts is not None else []
        self.capabilities = set(capabilities)
        self.ambient_capabilities = set(ambient_capabilities)
        self.no_new_privileges = no_new_privileges
        self.seccomp = seccomp
        self.seccomp_profile = seccomp_profile
        self.masked_paths = list(MASKED_PATHS if masked_paths is None else masked_paths)
        self.readonly_paths = list(READONLY_PATHS if readonly_paths is None else readonly_paths)
        self.sys_readonly = sys_readonly
        self.resources = resources or Resources()
        self.network = network or ("none" if self.namespaces & Namespace.NET else "host")
        self.ports = list(ports or [])
        self.subnet = subnet
        self.network_path = network_path

    def may_mount_own(self, namespace: Namespace) -> bool:
        """Whether a fresh filesystem of ``namespace`` can be mounted (procfs for pid,
        sysfs for net, mqueue for ipc, cgroup2 for cgroup): the container has a
        namespace of its own, or no user namespace stands between it and the host's."""
        return bool(self.namespaces & namespace) or not self.user_namespace

    @property
    def user_namespace(self) -> bool:
        """Whether the container gets a user namespace of its own."""
        return bool(self.namespaces & Namespace.USER)

    def environment(self) -> list[str]:
        """The environment the command starts with: defaults, then ``env`` over them."""
        defaults = {"PATH": DEFAULT_PATH, "HOME": "/root" if self.uid == 0 else "/"}
        if self.hostname:
            defaults["HOSTNAME"] = self.hostname
        if self.terminal:
            defaults["TERM"] = "xterm"
        for entry in self.env:
            name, _, value = entry.partition("=")
            defaults[name] = value
        return [f"{k}={v}" for k, v in defaults.items()]

    def host_uid(self, container_uid: int) -> int:
        """The host uid that ``container_uid`` is (itself without a user namespace)."""
        if not self.user_namespace:
            return container_uid
        return idmap.to_host(self.uid_mappings, container_uid)

    def host_gid(self, container_gid: int) -> int:
        """The host gid that ``container_gid`` is (itself without a user namespace)."""
        if not self.user_namespace:
            return container_gid
        return idmap.to_host(self.gid_mappings, container_gid)

    def validate_process(self) -> None:
        """Check the fields of the process alone (what ``exec`` may change)."""
        if not self.args or not self.args[0]:
            raise ConfigError("args", self.args, "is empty: give a command to run")
        for entry in self.env:
            name, sep, _ = entry.partition("=")
            if not sep or not _ENV_NAME.fullmatch(name) or "\0" in entry:
                raise ConfigError("env", entry, "is not NAME=VALUE")
        if not self.cwd.startswith("/"):
            raise ConfigError("cwd", self.cwd, "is not an absolute path")
        self._check_ids()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for the first field that cannot work."""
        self.validate_process()
        if not Namespace.MNT & self.namespaces:
            raise ConfigError(
                "namespaces", "mnt", "cannot be shared: the rootfs is set up in a new one"
            )
        if self.hostname is not None:
            _check_hostname(self.hostname)
        if self.rootfs is not None:
            if not os.path.exists(self.rootfs):
                raise ConfigError("rootfs", self.rootfs, "does not exist")
            if not os.path.isdir(self.rootfs):
                raise ConfigError("rootfs", self.rootfs, "is not a directory")
        self._check_network()
        for field, paths in (("masked_paths", self.masked_paths),
                             ("readonly_paths", self.readonly_paths)):
            for path in paths:
                if not path.startswith("/"):
                    raise ConfigError(field, path, "is not an absolute path")
        for m in self.mounts:
            if not os.path.exists(m.source):
                raise ConfigError("volume", m.source, "does not exist on the host")
            if not m.destination.startswith("/"):
                raise ConfigError("volume", m.destination, "is not an absolute container path")

    def _check_network(self) -> None:
        own = bool(self.namespaces & Namespace.NET)
        if self.network not in ("none", "host", "bridge", "container"):
            raise ConfigError("net", self.network,
                              "is not none, host, bridge or container:ID")
        if self.network in ("none", "bridge") and not own:
            raise ConfigError("net", self.network, "needs a network namespace of its own, "
                              "but net is shared")
        if self.network == "container" and not self.network_path:
            raise ConfigError("net", "container", "needs the container to join")
        if self.ports and self.network != "bridge":
            raise ConfigError("publish", self.ports[0], "needs --net bridge")
        if self.network == "bridge":
            from minicontainer.network import check_subnet

            try:
                check_subnet(self.subnet)
            except ValueError as e:
                raise ConfigError("subnet", self.subnet, str(e)) from None

    def _check_ids(self) -> None:
        for field, value, mappings in (
            ("uid", self.uid, self.uid_mappings),
            ("gid", self.gid, self.gid_mappings),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
                raise ConfigError(field, value, f"is not an id from 0 to {MAX_ID}")
            if self.user_namespace:
                try:
                    idmap.to_host(mappings, value)
                except ValueError:
                    raise ConfigError(field, value, "is outside the container's id mapping") \
                        from None

    def to_oci(self) -> dict[str, object]:
        """This config as an OCI runtime-spec ``config.json`` document."""
        namespaces = [{"type": kind} for ns, kind in _OCI_NAMESPACE.items() if ns & self.namespaces]
        if self.network_path:
            namespaces.append({"type": "network", "path": self.network_path})
        linux: dict[str, object] = {
            "namespaces": namespaces,
            "maskedPaths": self.masked_paths,
            "readonlyPaths": self.readonly_paths,
        }
        if self.seccomp:
            linux["seccomp"] = self.seccomp_profile or {"profile": "minicontainer default"}
        if self.resources:
            linux["resources"] = self.resources.to_oci()
        if self.user_namespace:
            linux["uidMappings"] = [m.to_oci() for m in self.uid_mappings]
            linux["gidMappings"] = [m.to_oci() for m in self.gid_mappings]
        doc: dict[str, object] = {
            "ociVersion": "1.0.2",
            "process": {
                "terminal": self.terminal,
                "user": {"uid": self.uid, "gid": self.gid},
                "args": self.args,
                "env": self.environment(),
                "cwd": self.cwd,
                "capabilities": self._oci_capabilities(),
                "noNewPrivileges": self.no_new_privileges,
            },
            "root": {"path": self.rootfs, "readonly": self.readonly},
            "mounts": [m.to_oci() for m in self.mounts],
            "linux": linux,
        }
        if self.hostname is not None:
            doc["hostname"] = self.hostname
        return doc

    def _oci_capabilities(self) -> dict[str, list[str]]:
        bounding = sorted(self.capabilities)
        held = bounding if self.uid == 0 else sorted(self.ambient_capabilities)
        return {"bounding": bounding, "permitted": held, "effective": held,
                "inheritable": held, "ambient": [] if self.uid == 0 else held}

    @classmethod
    def from_oci(cls, doc: dict, bundle: str = ".") -> Config:
        """Load the subset of an OCI ``config.json`` that minicontainer understands.

        A relative ``root.path`` is taken relative to ``bundle``, as runc does.
        """
        process = doc.get("process", {})
        user = process.get("user", {})
        root = doc.get("root", {})
        linux = doc.get("linux", {})
        namespaces = Namespace(0)
        network_path = None
        for entry in linux.get("namespaces", []):
            kind = entry.get("type")
            if kind not in _OCI_NAMESPACE_BY_TYPE:
                raise ConfigError("linux.namespaces", kind, "is not a namespace type")
            if entry.get("path") and kind != "network":
                raise ConfigError("linux.namespaces", entry["path"],
                                  "joining is supported for the network namespace only")
            if entry.get("path"):
                network_path = entry["path"]
            else:
                namespaces |= _OCI_NAMESPACE_BY_TYPE[kind]
        caps = process.get("capabilities")
        seccomp = linux.get("seccomp")
        rootfs = root.get("path")
        if rootfs is not None and not rootfs.startswith("/"):
            rootfs = os.path.join(bundle, rootfs)
        mounts = []
        for m in doc.get("mounts", []):
            options = m.get("options", [])
            if m.get("type") == "bind" or "bind" in options or "rbind" in options:
                mounts.append(Mount(m["source"], m["destination"], "ro" in options))
        return cls(
            args=process.get("args", []),
            env=process.get("env", []),
            cwd=process.get("cwd", "/"),
            uid=user.get("uid", 0),
            gid=user.get("gid", 0),
            terminal=process.get("terminal", False),
            hostname=doc.get("hostname"),
            rootfs=rootfs,
            readonly=root.get("readonly", False),
            namespaces=namespaces,
            uid_mappings=_mappings(linux, "uidMappings", namespaces),
            gid_mappings=_mappings(linux, "gidMappings", namespaces),
            mounts=mounts,
            capabilities=set(caps.get("bounding", [])) if caps is not None
            else DEFAULT_CAPABILITIES,
            ambient_capabilities=set(caps.get("ambient", [])) if caps else frozenset(),
            no_new_privileges=process.get("noNewPrivileges", True),
            seccomp="seccomp" in linux,
            seccomp_profile=seccomp if seccomp and "defaultAction" in seccomp else None,
            masked_paths=linux.get("maskedPaths"),
            readonly_paths=linux.get("readonlyPaths"),
            resources=Resources.from_oci(linux.get("resources", {})),
            network="container" if network_path else (
                "none" if namespaces & Namespace.NET else "host"),
            network_path=network_path,
        )


_OCI_NAMESPACE = {
    Namespace.PID: "pid",
    Namespace.NET: "network",
    Namespace.MNT: "mount",
    Namespace.IPC: "ipc",
    Namespace.UTS: "uts",
    Namespace.USER: "user",
    Namespace.CGROUP: "cgroup",
}
_OCI_NAMESPACE_BY_TYPE = {v: k for k, v in _OCI_NAMESPACE.items()}


def _mappings(linux: dict, key: str, namespaces: Namespace) -> list[idmap.IdMapping] | None:
    if key not in linux:
        return None if namespaces & Namespace.USER else []
    return [idmap.IdMapping(m["containerID"], m["hostID"], m["size"]) for m in linux[key]]


def _check_hostname(name: str) -> None:
    if len(name) > MAX_HOSTNAME:
        raise ConfigError("hostname", name, f"is longer than {MAX_HOSTNAME} characters")
    if not _HOSTNAME.fullmatch(name) or any(len(label) > 63 for label in name.split(".")):
        raise ConfigError(
            "hostname", name, "is not a valid hostname (letters, digits, '-' and '.')"
        )


def hostname_for(name: str) -> str:
    """A valid hostname from a container name: ``web_1`` -> ``web-1``."""
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", name)[:63].strip("-")
    return cleaned or "container"


def parse_namespaces(names: str) -> Namespace:
    """``pid,net`` (as ``--share`` takes it) to the flags of those namespaces."""
    flags = Namespace(0)
    for name in filter(None, (n.strip() for n in names.split(","))):
        try:
            flags |= Namespace.from_name(name)
        except ValueError:
            known = ", ".join(ns.proc_name for ns in Namespace)
            raise ConfigError("share", name, f"is not a namespace (one of: {known})") from None
    return flags


def parse_user(spec: str) -> tuple[int, int | None]:
    """``UID[:GID]`` with numbers, as ``-u`` takes it."""
    uid_text, _, gid_text = spec.partition(":")
    try:
        uid = int(uid_text)
        gid = int(gid_text) if gid_text else None
    except ValueError:
        raise ConfigError("user", spec, "is not UID[:GID] with numeric ids") from None
    for value in (uid, gid):
        if value is not None and not 0 <= value <= MAX_ID:
            raise ConfigError("user", spec, f"has an id outside 0..{MAX_ID}")
    return uid, gid
