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
# Patterns as text: re compiles (and caches) each on its first use, so that the
# ones a start never needs cost it nothing.
_HOSTNAME = rf"{_LABEL}(\.{_LABEL})*"
_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
MAX_ID = 0xFFFFFFFE
MAX_PRESERVED_FDS = 1024
# What a config.json's linux.seccomp holds for minicontainer's built-in profile.
DEFAULT_SECCOMP = {"profile": "minicontainer default"}


class ConfigError(ValueError):
    """A config field holds a value minicontainer cannot use.

    The message names the field and the value, e.g.
    ``hostname: 'a_b' is not a valid hostname``.
    """

    def __init__(self, field: str, value: object, why: str) -> None:
        super().__init__(f"{field}: {value!r} {why}")
        self.field = field
        self.value = value


def read_json_object(path: str, field: str) -> dict:
    """The JSON object in the file at ``path``; a ConfigError naming ``field`` if it
    cannot be read, is not JSON, or is not an object."""
    import json

    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        raise ConfigError(field, path, f"cannot be read ({e.strerror})") from None
    except ValueError as e:
        raise ConfigError(field, path, f"is not JSON ({e})") from None
    if not isinstance(doc, dict):
        raise ConfigError(field, path, "is not a JSON object")
    return doc


class Mount:
    """A mount in the container, an OCI ``mounts`` entry: a bind of a host path (``-v``,
    type ``bind``) or a filesystem of its own (``proc``, ``sysfs``, ``tmpfs``, ``devpts``,
    ``mqueue``, ``cgroup``).

    ``options`` are the entry's other options, in order: mount flags (``nosuid``,
    ``noexec``, ``nodev``, ``relatime`` ...), a propagation (``rprivate`` ...), or a
    filesystem's own data (``mode=755``, ``size=65536k``, ``newinstance``); ``ro``
    and ``rbind`` live in ``readonly`` and ``recursive``.
    """

    __slots__ = ("source", "destination", "readonly", "type", "options", "recursive")

    def __init__(self, source: str, destination: str, readonly: bool = False, *,
                 type: str = "bind", options: list[str] | tuple[str, ...] = (),
                 recursive: bool = True) -> None:
        self.source = source
        self.destination = destination
        self.readonly = readonly
        self.type = type
        self.options = list(options)
        self.recursive = recursive

    def __repr__(self) -> str:
        extra = "" if self.type == "bind" else f", type={self.type!r}, options={self.options!r}"
        return f"Mount({self.source!r}, {self.destination!r}, readonly={self.readonly}{extra})"

    def to_oci(self) -> dict[str, object]:
        """This mount as an OCI ``mounts`` entry."""
        if self.type == "bind":
            first = ["rbind" if self.recursive else "bind"]
        else:
            first = []
        access = ["ro"] if self.readonly else ["rw"] if self.type == "bind" else []
        return {
            "destination": self.destination,
            "type": self.type,
            "source": self.source,
            "options": [*first, *self.options, *access],
        }

    @classmethod
    def from_oci(cls, doc: dict, field: str) -> Mount:
        """An OCI ``mounts`` entry; ``field`` (``mounts[3]``) names it in errors."""
        options = list(doc.get("options") or [])
        kind = doc.get("type") or ("bind" if {"bind", "rbind"} & set(options) else None)
        if kind is None:
            raise ConfigError(f"{field}.type", None, "is missing (and the options say no bind)")
        if kind == "cgroup2":
            kind = "cgroup"
        if kind not in MOUNT_TYPES:
            raise ConfigError(f"{field}.type", kind,
                              f"is not one of {', '.join(MOUNT_TYPES)}")
        readonly = False
        recursive = kind == "bind" and "rbind" in options
        rest = []
        for option in options:
            if option in ("slave", "rslave", "shared", "rshared", "unbindable",
                          "runbindable"):
                raise ConfigError(f"{field}.options", option,
                                  "is a propagation minicontainer does not set on one mount "
                                  "(private or rprivate only; linux.rootfsPropagation sets "
                                  "every mount's)")
            if option in ("ro", "rw"):
                readonly = option == "ro"
            elif option not in ("bind", "rbind"):
                if kind == "bind" and option not in BIND_OPTIONS:
                    raise ConfigError(f"{field}.options", option,
                                      "is not an option a bind mount takes here")
                rest.append(option)
        source = doc.get("source") or kind
        return cls(source, doc["destination"], readonly, type=kind, options=rest,
                   recursive=recursive)

    @classmethod
    def parse(cls, spec: str) -> Mount:
        """``HOST:CONTAINER[:ro|:rw]``, as ``-v`` takes it."""
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise ConfigError("volume", spec, "is not HOST:CONTAINER[:ro|:rw]")
        if len(parts) == 3 and parts[2] not in ("ro", "rw"):
            raise ConfigError("volume", spec, "has an option other than ro or rw")
        return cls(parts[0], parts[1], readonly=len(parts) == 3 and parts[2] == "ro")


_SHOWN_BY = {"proc": Namespace.PID, "sysfs": Namespace.NET, "mqueue": Namespace.IPC,
             "cgroup": Namespace.CGROUP}
MOUNT_TYPES = ("bind", "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup")
# What a bind's mount_setattr can set, and the propagations; mount(2) takes more, but a
# bind copies the host's flags and these are the ones that matter for it.
BIND_OPTIONS = frozenset({"nosuid", "nodev", "noexec", "suid", "dev", "exec", "private",
                          "rprivate"})


def standard_mounts(sys_readonly: bool = True, own_ipc: bool = True) -> list[Mount]:
    """The filesystems every container gets, as runc's ``spec`` lists them: /proc, a
    tmpfs /dev with devpts, shm and mqueue, /sys and the cgroup2 tree (read-only
    unless ``sys_readonly`` is off, as with ``--privileged``).  mqueue only with an
    IPC namespace of its own: its message queues are that namespace's."""
    ro = sys_readonly
    secure = ["nosuid", "noexec", "nodev"]
    found = [
        Mount("proc", "/proc", type="proc", options=secure),
        Mount("tmpfs", "/dev", type="tmpfs", options=["nosuid", "strictatime", "mode=755",
                                                      "size=65536k"]),
        Mount("devpts", "/dev/pts", type="devpts",
              options=["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
        Mount("shm", "/dev/shm", type="tmpfs", options=[*secure, "mode=1777", "size=65536k"]),
        Mount("mqueue", "/dev/mqueue", type="mqueue", options=secure),
        Mount("sysfs", "/sys", ro, type="sysfs", options=secure),
        Mount("cgroup", "/sys/fs/cgroup", ro, type="cgroup", options=[*secure, "relatime"]),
    ]
    return [m for m in found if own_ipc or m.type != "mqueue"]


_SIZE_SUFFIXES = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
CPU_PERIOD = 100_000
# Written out as [0-9], not \d or int() alone: int() also takes ' 7 ', '1_000' and '٣'.
_INTEGER = r"[0-9]+"
_DECIMAL = r"[0-9]+(\.[0-9]*)?|\.[0-9]+"
_SIZE = r"(?i)([0-9]+)([kmgt]?)b?"
MAX_SIZE = 2**63 - 1  # what the kernel's cgroup files take
MAX_DURATION = 365 * 24 * 3600


def parse_int(field: str, text: str, low: int = 0, high: int | None = None) -> int:
    """A whole number of ASCII digits from ``low`` to ``high``; anything else (spaces,
    signs, underscores, other scripts' digits) is a :class:`ConfigError` naming ``field``."""
    if not isinstance(text, str) or not re.fullmatch(_INTEGER, text):
        raise ConfigError(field, text, "is not a whole number (digits 0-9 only)")
    value = int(text)
    if value < low or (high is not None and value > high):
        raise ConfigError(field, text, f"must be from {low} to {high}" if high is not None
                          else f"must be at least {low}")
    return value


def parse_decimal(field: str, text: str, low: float, high: float) -> float:
    """A decimal number such as ``0.5`` or ``2``, from ``low`` to ``high``: no exponent,
    no ``nan`` or ``inf``, no spaces."""
    if not isinstance(text, str) or not re.fullmatch(_DECIMAL, text):
        raise ConfigError(field, text, "is not a decimal number (such as 2 or 0.5)")
    value = float(text)
    if not low <= value <= high:
        raise ConfigError(field, text, f"must be from {low:g} to {high:g}")
    return value


def parse_duration(field: str, text: str) -> float:
    """Seconds, as a decimal number from 0 to a year."""
    return parse_decimal(field, text, 0, MAX_DURATION)


def parse_size(field: str, text: str, high: int = MAX_SIZE, what: str = "") -> int:
    """``64m``, ``1g``, ``512k``, ``1048576`` -> bytes; more than 0, at most ``high``
    (``what`` says where that bound comes from)."""
    match = re.fullmatch(_SIZE, text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(field, text, "is not a size (digits 0-9 with an optional k, m, g "
                          "or t)")
    size = int(match[1]) * _SIZE_SUFFIXES[match[2].lower()]
    if size <= 0:
        raise ConfigError(field, text, "must be more than 0")
    if size > high:
        raise ConfigError(field, text, f"is more than {what or 'the largest size'} "
                          f"({high} bytes)")
    return size


def host_memory() -> tuple[int, int]:
    """The host's RAM and swap in bytes (``MemTotal``, ``SwapTotal`` of /proc/meminfo)."""
    found = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            found[key] = int(value.split()[0]) * 1024
    return found["MemTotal"], found.get("SwapTotal", 0)


def host_pid_max() -> int:
    """The most pids this kernel hands out (``kernel.pid_max``)."""
    with open("/proc/sys/kernel/pid_max") as f:
        return int(f.read())


def _parse_cpuset(field: str, text: str) -> str:
    """``0-1,3``: every CPU named must be one this process may run on."""
    cpus = set()
    for part in text.split(","):
        first, sep, last = part.partition("-")
        if not re.fullmatch(_INTEGER, first) or sep and not re.fullmatch(_INTEGER, last):
            raise ConfigError(field, text, "is not a CPU list such as 0-1,3")
        low, high = int(first), int(last) if sep else int(first)
        if low > high:
            raise ConfigError(field, text, f"has a range that goes backwards ({part})")
        cpus.update(range(low, min(high, 1 << 16) + 1))
    available = os.sched_getaffinity(0)
    if not cpus <= available:
        raise ConfigError(field, text, f"names CPUs this machine lacks (it has "
                          f"{','.join(map(str, sorted(available)))})")
    return text


def _device_number(field: str, device: str) -> str:
    """``/dev/sda`` or ``8:0`` -> ``8:0``, the form io.max takes; a block device only."""
    major, sep, minor = device.partition(":")
    if sep and re.fullmatch(_INTEGER, major) and re.fullmatch(_INTEGER, minor):
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
    ``devices`` (:class:`DeviceRule`) come before the device layer's defaults.
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
        devices: list[DeviceRule] | None = None,
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
        self.devices = list(devices or [])

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
        ram, swap = host_memory() if memory or memory_swap or memory_high else (0, 0)
        if memory is not None:
            resources.memory = parse_size("memory", memory, ram, "this machine's memory")
        if memory_swap is not None:
            if resources.memory is None:
                raise ConfigError("memory-swap", memory_swap, "needs --memory as well")
            if memory_swap == "-1":
                resources.swap = "max"
            else:
                total = parse_size("memory-swap", memory_swap, ram + swap,
                                   "this machine's memory and swap")
                if total < resources.memory:
                    raise ConfigError("memory-swap", memory_swap,
                                      "is less than --memory (it counts memory plus swap)")
                resources.swap = total - resources.memory
        if memory_high is not None:
            resources.memory_high = parse_size("memory-high", memory_high, ram,
                                               "this machine's memory")
        if cpus is not None:
            count = parse_decimal("cpus", cpus, 0.01, os.cpu_count() or 1)
            resources.cpu_quota = round(count * CPU_PERIOD)
        if cpu_weight is not None:
            resources.cpu_weight = parse_int("cpu-weight", cpu_weight, 1, 10000)
        if pids_limit is not None:
            resources.pids = parse_int("pids-limit", pids_limit, 1, host_pid_max())
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
        if self.devices:
            doc["devices"] = [rule.to_oci() for rule in self.devices]
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
            # runc's reading: 0 (podman's --pids-limit 0) and -1 are no limit
            pids=pids if (pids := doc.get("pids", {}).get("limit")) not in (0, -1) else None,
            cpuset_cpus=cpu.get("cpus"),
            io_read_bps=devices("throttleReadBpsDevice"),
            io_write_bps=devices("throttleWriteBpsDevice"),
            devices=[DeviceRule.from_oci(rule) for rule in doc.get("devices", [])],
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
    ``userns_range``
        minicontainer's own: ``"shared"`` (the mappings as given; by default the
        range every container shares), ``"auto"`` (a block of host ids of its own,
        allocated at start) or ``"HOSTUID:COUNT"`` (that range); with a range of its
        own the rootfs is seen through an idmapped mount (see ``parse_userns_range``).
    ``rootfs``, ``readonly``
        ``root.path`` and ``root.readonly``; ``None`` is the default busybox rootfs.
    ``overlay``
        minicontainer's own: a per-container writable layer keeps the rootfs pristine.
    ``capabilities``, ``ambient_capabilities``, ``inheritable_capabilities``
        ``process.capabilities``: the bounding set (also permitted and effective
        for root), for a non-root user the ones it keeps as ambient, and what the
        inheritable set holds besides those ambient ones (nothing by default).
    ``no_new_privileges``
        ``process.noNewPrivileges``.
    ``seccomp``, ``seccomp_profile``
        ``linux.seccomp``: off when ``seccomp`` is false; ``seccomp_profile`` None
        means the default profile.
    ``masked_paths``, ``readonly_paths``, ``sys_readonly``
        ``linux.maskedPaths``, ``linux.readonlyPaths``, and the ``ro`` option of /sys.
    ``resources``
        ``linux.resources``: cgroup limits (:class:`Resources`).
    ``devices``, ``device_cgroup``
        ``linux.devices``: device nodes made in the container (:class:`Device`).
        ``device_cgroup`` is the device layer: a BPF program on the container's cgroup
        that lets it use only the default devices and ``resources.devices``; off, every
        device is allowed (in OCI terms, an allow-all rule at the end of the list).
    ``network``, ``ports``, ``subnet``, ``network_path``
        ``none`` (a network namespace with loopback only), ``host`` (the host's),
        ``bridge`` (a veth on the ``mc0`` bridge, addresses from ``subnet``, ``ports``
        published through NAT), or ``container`` (the network namespace at
        ``network_path``, an OCI namespace entry with a path).
    ``joined_namespaces``
        the other OCI namespace entries with a path, by type (``ipc``, ``uts``,
        ``pid``, ``cgroup``): the container joins those instead of getting new ones,
        as a pod's containers join the namespaces of its first.
    ``root_mode``
        ``"pivot"`` (pivot_root, then the old root detached) or ``"chroot"`` (runc's
        ``--no-pivot``: the host's tree stays mounted under a chroot). OCI has no field
        for it: it travels as the annotation ``minicontainer.rootMode``.
    ``rootfs_propagation``
        ``linux.rootfsPropagation``: the propagation of the container's mounts
        (one of ``PROPAGATIONS``); ``"rprivate"`` lets no mount event cross either way.
    ``close_fds``, ``new_session``
        fd hygiene (every fd above 2 closed, the cwd proved inside the root) and a
        session of its own for the init (no controlling terminal to type into).
        minicontainer's own, as the annotations ``minicontainer.closeFds`` and
        ``minicontainer.newSession``.
    ``apparmor_profile``
        ``process.apparmorProfile``: the AppArmor profile the command runs under,
        ``"unconfined"`` for none; None means the default, ``minicontainer-default``
        where the kernel runs AppArmor and none where it does not (the runtime
        settles it at start, see :mod:`minicontainer.apparmor`).
    ``standard_mounts``
        whether the container gets :func:`standard_mounts` (/proc, /dev, /sys ...)
        before ``mounts``; a ``config.json`` lists them in ``mounts`` itself, as
        runc expects, so a bundle's config has this off.
    ``umask``, ``additional_gids``, ``rlimits``, ``oom_score_adj``
        ``process.user.umask`` (None: 0022), ``process.user.additionalGids``,
        ``process.rlimits`` (``(name, soft, hard)``, e.g. ``("RLIMIT_NOFILE", 1024,
        1024)``; a limit not listed is inherited from the runtime) and
        ``process.oomScoreAdj``.
    ``sysctl``
        ``linux.sysctl``: kernel settings written for the container; only those
        that belong to a namespace it has of its own (see :func:`check_sysctl`).
    ``cgroups_path``
        ``linux.cgroupsPath``: where its cgroup is, absolute from the cgroup2 root
        (outside ``minicontainer/``) or one name in ``minicontainer/``; None is
        ``minicontainer/ID`` (see :func:`check_cgroups_path`).
    ``hooks``
        the ``hooks`` of a ``config.json`` (:mod:`minicontainer.hooks`), by phase.
    ``console_size``
        ``process.consoleSize`` as ``(rows, columns)``: the size the pty starts
        with; None copies the caller's terminal (``run -t``) or leaves it 0x0.
    ``preserve_fds``
        runc's ``--preserve-fds N``: the caller's fds 3 to 3+N-1 (inheritable) reach
        the command, the fd hygiene step closes only those above.  Not part of
        ``config.json``: an option of ``create`` (see :mod:`minicontainer.oci`).
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
        userns_range: str = "shared",
        mounts: list[Mount] | None = None,
        capabilities: set[str] | frozenset[str] = DEFAULT_CAPABILITIES,
        ambient_capabilities: set[str] | frozenset[str] = frozenset(),
        inheritable_capabilities: set[str] | frozenset[str] = frozenset(),
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
        joined_namespaces: dict[str, str] | None = None,
        devices: list[Device] | None = None,
        device_cgroup: bool = True,
        root_mode: str = "pivot",
        rootfs_propagation: str = "rprivate",
        close_fds: bool = True,
        new_session: bool = True,
        apparmor_profile: str | None = None,
        standard_mounts: bool = True,
        umask: int | None = None,
        additional_gids: list[int] | None = None,
        rlimits: list[tuple[str, int, int]] | None = None,
        oom_score_adj: int | None = None,
        sysctl: dict[str, str] | None = None,
        cgroups_path: str | None = None,
        hooks: dict | None = None,
        console_size: tuple[int, int] | None = None,
        preserve_fds: int = 0,
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
        self.userns_range = userns_range = parse_userns_range(userns_range)
        if userns_range not in ("shared", "auto") and self.user_namespace:
            host_id, _, count = userns_range.partition(":")
            own = [idmap.IdMapping(0, int(host_id), int(count))]
            uid_mappings = own if uid_mappings is None else uid_mappings
            gid_mappings = own if gid_mappings is None else gid_mappings
        if uid_mappings is None:
            uid_mappings = idmap.default_mappings("uid") if self.user_namespace else []
        if gid_mappings is None:
            gid_mappings = idmap.default_mappings("gid") if self.user_namespace else []
        self.uid_mappings = uid_mappings
        self.gid_mappings = gid_mappings
        self.mounts = list(mounts) if mounts is not None else []
        self.capabilities = set(capabilities)
        self.ambient_capabilities = set(ambient_capabilities)
        self.inheritable_capabilities = set(inheritable_capabilities)
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
        self.joined_namespaces = dict(joined_namespaces or {})
        self.devices = list(devices or [])
        self.device_cgroup = device_cgroup
        self.root_mode = root_mode
        self.rootfs_propagation = rootfs_propagation
        self.close_fds = close_fds
        self.new_session = new_session
        self.apparmor_profile = apparmor_profile
        self.standard_mounts = standard_mounts
        self.umask = umask
        self.additional_gids = list(additional_gids or [])
        self.rlimits = list(rlimits or [])
        self.oom_score_adj = oom_score_adj
        self.sysctl = dict(sysctl or {})
        self.cgroups_path = cgroups_path
        self.hooks = dict(hooks or {})
        self.console_size = console_size
        self.preserve_fds = preserve_fds

    def all_mounts(self) -> list[Mount]:
        """Every mount of the container, in the order the init makes them."""
        standard = standard_mounts(self.sys_readonly, self.may_mount_own(Namespace.IPC)) \
            if self.standard_mounts else []
        return standard + self.mounts

    def may_mount_own(self, namespace: Namespace) -> bool:
        """Whether a fresh filesystem of ``namespace`` can be mounted (procfs for pid,
        sysfs for net, mqueue for ipc, cgroup2 for cgroup): the container has a
        namespace of its own, or no user namespace stands between it and the host's."""
        return bool(self.namespaces & namespace) or not self.user_namespace

    def may_mount(self, filesystem: str) -> bool:
        """``may_mount_own`` for the namespace a mount type shows: proc the pid
        namespace, sysfs the network one, mqueue the IPC one, cgroup the cgroup one."""
        shown = _SHOWN_BY.get(filesystem)
        return shown is None or self.may_mount_own(shown)

    @property
    def fresh_dev(self) -> bool:
        """Whether /dev is a tmpfs made for the container, which the init fills with
        the harmless devices (not a bind of a host directory)."""
        return any(m.type == "tmpfs" and os.path.normpath(m.destination) == "/dev"
                   for m in self.all_mounts())

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
            if not sep or not re.fullmatch(_ENV_NAME, name) or "\0" in entry:
                raise ConfigError("env", entry, "is not NAME=VALUE")
        if not self.cwd.startswith("/"):
            raise ConfigError("cwd", self.cwd, "is not an absolute path")
        if isinstance(self.preserve_fds, bool) or not isinstance(self.preserve_fds, int) \
                or not 0 <= self.preserve_fds <= MAX_PRESERVED_FDS:
            raise ConfigError("preserve_fds", self.preserve_fds,
                              f"is not a number of fds from 0 to {MAX_PRESERVED_FDS}")
        self._check_ids()
        self._check_process_limits()

    def _check_process_limits(self) -> None:
        if self.umask is not None and not _is_int(self.umask, 0, 0o777):
            raise ConfigError("umask", self.umask, "is not a mode from 0 to 0o777")
        seen = set()
        for name, soft, hard in self.rlimits:
            if name not in RLIMITS:
                raise ConfigError("rlimits", name, "is not a resource limit (RLIMIT_NOFILE ...)")
            if name in seen:
                raise ConfigError("rlimits", name, "is given twice")
            seen.add(name)
            if not (_is_int(soft, 0, RLIM_INFINITY) and _is_int(hard, 0, RLIM_INFINITY)):
                raise ConfigError("rlimits", name, f"has a limit outside 0..{RLIM_INFINITY}")
            if soft > hard:
                raise ConfigError("rlimits", name, f"has soft {soft} above hard {hard}")
        if self.oom_score_adj is not None and not _is_int(self.oom_score_adj, -1000, 1000):
            raise ConfigError("oom_score_adj", self.oom_score_adj,
                              "is not a number from -1000 to 1000")

    def validate(self) -> None:
        """Raise :class:`ConfigError` for the first field that cannot work."""
        self.validate_process()
        if not Namespace.MNT & self.namespaces:
            raise ConfigError(
                "namespaces", "mnt", "cannot be shared: the rootfs is set up in a new one"
            )
        for kind, path in self.joined_namespaces.items():
            if kind not in JOINABLE:
                raise ConfigError(f"linux.namespaces.{kind}", path,
                                  f"cannot be joined (only {', '.join(JOINABLE)} can)")
            if self.namespaces & OCI_NAMESPACE_BY_TYPE[kind]:
                raise ConfigError(f"linux.namespaces.{kind}", path,
                                  "is both joined and made new")
            if not os.path.exists(path):
                raise ConfigError(f"linux.namespaces.{kind}", path, "does not exist")
        if self.hostname is not None:
            _check_hostname(self.hostname)
        if self.rootfs is not None:
            if not os.path.exists(self.rootfs):
                raise ConfigError("rootfs", self.rootfs, "does not exist")
            if not os.path.isdir(self.rootfs):
                raise ConfigError("rootfs", self.rootfs, "is not a directory")
        self._check_network()
        self._check_userns_range()
        for field, paths in (("masked_paths", self.masked_paths),
                             ("readonly_paths", self.readonly_paths)):
            for path in paths:
                if not path.startswith("/") or ".." in path.split("/"):
                    raise ConfigError(field, path, "is not an absolute path without '..'")
        for m in self.mounts:
            if m.destination.startswith("/") and os.path.normpath(m.destination) in ("/", "//"):
                raise ConfigError("volume", f"{m.source}:{m.destination}",
                                  "would cover the container's whole root: mount it below /")
            if ".." in m.destination.split("/") or "\0" in m.destination:
                raise ConfigError("mounts", m.destination, "has a '..' in it: a destination "
                                  "names a place in the container's root")
            if m.type != "bind":
                if not m.destination.startswith("/"):
                    raise ConfigError("mounts", m.destination, "is not an absolute path")
                continue
            if not os.path.exists(m.source):
                raise ConfigError("volume", m.source, "does not exist on the host")
            if not m.destination.startswith("/"):
                raise ConfigError("volume", m.destination, "is not an absolute container path")
        for node in self.devices:
            if not node.path.startswith("/") or node.kind not in ("b", "c"):
                raise ConfigError("devices", node, "needs an absolute path and type b or c")
        for key, value in self.sysctl.items():
            check_sysctl(self, key, value)
        if self.cgroups_path is not None:
            check_cgroups_path(self.cgroups_path)
        self._check_switches()

    def _check_switches(self) -> None:
        if self.root_mode not in ROOT_MODES:
            raise ConfigError("root_mode", self.root_mode, "is not pivot or chroot")
        if self.rootfs_propagation not in PROPAGATIONS:
            raise ConfigError("rootfs_propagation", self.rootfs_propagation,
                              f"is not one of {', '.join(PROPAGATIONS)}")
        for field in ("close_fds", "new_session"):
            if not isinstance(getattr(self, field), bool):
                raise ConfigError(field, getattr(self, field), "is not true or false")
        if self.apparmor_profile is not None:
            check_apparmor_profile(self.apparmor_profile)
        if self.terminal and not self.new_session:
            raise ConfigError("new_session", False, "contradicts terminal: a -t pty becomes "
                              "the controlling terminal of a session of the init's own")

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
        published: dict = {}
        for port in self.ports:
            key = (port.host_port, port.protocol)
            if key in published:
                raise ConfigError("publish", port, f"uses host port {port.host_port}/"
                                  f"{port.protocol} again (after {published[key]!r})")
            published[key] = port
        if self.network == "bridge":
            from minicontainer.network import check_subnet

            try:
                check_subnet(self.subnet)
            except ValueError as e:
                raise ConfigError("subnet", self.subnet, str(e)) from None

    def _check_userns_range(self) -> None:
        if self.userns_range == "shared":
            return
        if not self.user_namespace:
            raise ConfigError("userns_range", self.userns_range,
                              "needs a user namespace, but --userns host is set")
        if not self.overlay:
            raise ConfigError("userns_range", self.userns_range,
                              "needs the overlay: the rootfs is owned for the shared range, "
                              "and with --no-overlay the runtime writes into it directly")

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
        namespaces += [{"type": kind, "path": path}
                       for kind, path in self.joined_namespaces.items()]
        linux: dict[str, object] = {
            "namespaces": namespaces,
            "maskedPaths": self.masked_paths,
            "readonlyPaths": self.readonly_paths,
        }
        if self.seccomp:
            linux["seccomp"] = self.seccomp_profile or DEFAULT_SECCOMP
        if self.resources:
            linux["resources"] = self.resources.to_oci()
        if not self.device_cgroup:
            resources = linux.setdefault("resources", {})
            resources["devices"] = [*resources.get("devices", []),
                                    DeviceRule(True, "a", access="rwm").to_oci()]
        if self.devices:
            linux["devices"] = [node.to_oci() for node in self.devices]
        if self.user_namespace:
            linux["uidMappings"] = [m.to_oci() for m in self.uid_mappings]
            linux["gidMappings"] = [m.to_oci() for m in self.gid_mappings]
        if self.sysctl:
            linux["sysctl"] = self.sysctl
        if self.cgroups_path is not None:
            linux["cgroupsPath"] = self.cgroups_path
        doc: dict[str, object] = {
            "ociVersion": "1.0.2",
            "process": self.process_to_oci(),
            "root": {"path": self.rootfs, "readonly": self.readonly},
            "mounts": [m.to_oci() for m in self.all_mounts()],
            "linux": linux,
        }
        if any(self.hooks.values()):
            from minicontainer import hooks

            doc["hooks"] = hooks.to_oci(self.hooks)
        if self.hostname is not None:
            doc["hostname"] = self.hostname
        if self.rootfs_propagation != "rprivate":
            linux["rootfsPropagation"] = self.rootfs_propagation
        annotations = {key: str(getattr(self, field)).lower()
                       for key, (field, default) in _ANNOTATIONS.items()
                       if getattr(self, field) != default}
        if annotations:
            doc["annotations"] = annotations
        return doc

    def process_to_oci(self) -> dict[str, object]:
        """The ``process`` object of this config (what ``exec --process`` also takes)."""
        user: dict[str, object] = {"uid": self.uid, "gid": self.gid}
        if self.umask is not None:
            user["umask"] = self.umask
        if self.additional_gids:
            user["additionalGids"] = self.additional_gids
        process: dict[str, object] = {
            "terminal": self.terminal,
            "user": user,
            "args": self.args,
            "env": self.environment(),
            "cwd": self.cwd,
            "capabilities": self._oci_capabilities(),
            "noNewPrivileges": self.no_new_privileges,
        }
        if self.console_size is not None:
            process["consoleSize"] = {"height": self.console_size[0],
                                      "width": self.console_size[1]}
        if self.rlimits:
            process["rlimits"] = [{"type": name, "soft": soft, "hard": hard}
                                  for name, soft, hard in self.rlimits]
        if self.oom_score_adj is not None:
            process["oomScoreAdj"] = self.oom_score_adj
        if self.apparmor_profile is not None:
            process["apparmorProfile"] = self.apparmor_profile
        return process

    def _oci_capabilities(self) -> dict[str, list[str]]:
        bounding = sorted(self.capabilities)
        held = bounding if self.uid == 0 else sorted(self.ambient_capabilities)
        ambient = [] if self.uid == 0 else held
        return {"bounding": bounding, "permitted": held, "effective": held,
                "inheritable": sorted(self.inheritable_capabilities | set(ambient)),
                "ambient": ambient}

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
        joined = {}
        for entry in linux.get("namespaces", []):
            kind = entry.get("type")
            if kind not in OCI_NAMESPACE_BY_TYPE:
                raise ConfigError("linux.namespaces", kind, "is not a namespace type")
            if entry.get("path") and kind in ("user", "mount"):
                raise ConfigError(f"linux.namespaces.{kind}", entry["path"],
                                  "cannot be joined: the runtime sets up a mount namespace "
                                  "of its own, as host root (network, ipc, uts, pid and "
                                  "cgroup ones can be)")
            if entry.get("path") and kind == "network":
                network_path = entry["path"]
            elif entry.get("path"):
                joined[kind] = entry["path"]
            else:
                namespaces |= OCI_NAMESPACE_BY_TYPE[kind]
        caps = process.get("capabilities")
        seccomp = linux.get("seccomp")
        if seccomp is not None and "defaultAction" not in seccomp and seccomp != DEFAULT_SECCOMP:
            raise ConfigError("linux.seccomp", seccomp, "has no defaultAction (for the built-in "
                              f"profile, write {DEFAULT_SECCOMP})")
        rootfs = root.get("path")
        if rootfs is not None and not rootfs.startswith("/"):
            rootfs = os.path.join(bundle, rootfs)
        mounts = [Mount.from_oci(m, f"mounts[{i}]") for i, m in enumerate(doc.get("mounts", []))]
        hooks = None
        if doc.get("hooks"):
            from minicontainer import hooks as oci_hooks

            hooks = oci_hooks.parse(doc["hooks"])
        return cls(
            args=process.get("args", []),
            env=process.get("env", []),
            cwd=process.get("cwd", "/"),
            uid=user.get("uid", 0),
            gid=user.get("gid", 0),
            umask=user.get("umask"),
            additional_gids=user.get("additionalGids"),
            rlimits=[(r["type"], r["soft"], r["hard"]) for r in process.get("rlimits", [])],
            oom_score_adj=process.get("oomScoreAdj"),
            console_size=(size["height"], size["width"])
            if (size := process.get("consoleSize")) else None,
            terminal=process.get("terminal", False),
            hostname=doc.get("hostname"),
            rootfs=rootfs,
            readonly=root.get("readonly", False),
            namespaces=namespaces,
            uid_mappings=_mappings(linux, "uidMappings", namespaces),
            gid_mappings=_mappings(linux, "gidMappings", namespaces),
            mounts=mounts,
            standard_mounts=False,
            sysctl=linux.get("sysctl"),
            cgroups_path=linux.get("cgroupsPath"),
            hooks=hooks,
            capabilities=set(caps.get("bounding", [])) if caps is not None
            else DEFAULT_CAPABILITIES,
            ambient_capabilities=set(caps.get("ambient", [])) if caps else frozenset(),
            # ambient ones must be inheritable too; they are added back for whoever holds them
            inheritable_capabilities=set(caps.get("inheritable", [])) - set(caps.get("ambient", []))
            if caps else frozenset(),
            no_new_privileges=process.get("noNewPrivileges", True),
            seccomp="seccomp" in linux,
            seccomp_profile=seccomp if seccomp and "defaultAction" in seccomp else None,
            masked_paths=linux.get("maskedPaths"),
            readonly_paths=linux.get("readonlyPaths"),
            resources=Resources.from_oci(linux.get("resources", {})),
            network="container" if network_path else (
                "none" if namespaces & Namespace.NET else "host"),
            network_path=network_path,
            joined_namespaces=joined,
            devices=[Device.from_oci(node) for node in linux.get("devices", [])],
            rootfs_propagation=linux.get("rootfsPropagation", "rprivate"),
            # runc's reading: an empty string is no profile asked for
            apparmor_profile=process.get("apparmorProfile") or None,
            sys_readonly=not any(m.type in ("sysfs", "bind") and not m.readonly
                                 for m in mounts if os.path.normpath(m.destination) == "/sys"),
            **{"overlay": False, **_switches_from_annotations(doc.get("annotations", {}))},
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
OCI_NAMESPACE_BY_TYPE = {v: k for k, v in _OCI_NAMESPACE.items()}
# The namespaces a container may join by path besides the network one; the runtime
# clones into them (see runtime._enter_namespaces).
JOINABLE = ("ipc", "uts", "pid", "cgroup")
ROOT_MODES = ("pivot", "chroot")
# runc's values for linux.rootfsPropagation but (r)unbindable: the runtime must still
# clone the volumes and the rootfs from below /.
PROPAGATIONS = ("rprivate", "private", "rslave", "slave", "rshared", "shared")
# Switches OCI has no field for: annotation key -> (Config field, default).
_ANNOTATIONS = {
    "minicontainer.rootMode": ("root_mode", "pivot"),
    "minicontainer.closeFds": ("close_fds", True),
    "minicontainer.newSession": ("new_session", True),
    # A bundle's rootfs is written to, as runc does; `run` keeps it pristine.
    "minicontainer.overlay": ("overlay", False),
}


def _switches_from_annotations(annotations: dict) -> dict:
    """The Config fields our own annotations set (other annotations are not ours)."""
    fields: dict = {}
    for key, (field, default) in _ANNOTATIONS.items():
        if key not in annotations:
            continue
        value = annotations[key]
        if isinstance(default, bool):
            if value not in ("true", "false"):
                raise ConfigError(f"annotations.{key}", value, "is not true or false")
            fields[field] = value == "true"
        else:
            fields[field] = value
    return fields


def _mappings(linux: dict, key: str, namespaces: Namespace) -> list[idmap.IdMapping] | None:
    if key not in linux:
        return None if namespaces & Namespace.USER else []
    return [idmap.IdMapping(m["containerID"], m["hostID"], m["size"]) for m in linux[key]]


def _check_hostname(name: str) -> None:
    if len(name) > MAX_HOSTNAME:
        raise ConfigError("hostname", name, f"is longer than {MAX_HOSTNAME} characters")
    if not re.fullmatch(_HOSTNAME, name) or any(len(label) > 63 for label in name.split(".")):
        raise ConfigError(
            "hostname", name, "is not a valid hostname (letters, digits, '-' and '.')"
        )


RLIMITS = ("RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE",
           "RLIMIT_LOCKS", "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE",
           "RLIMIT_NPROC", "RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING",
           "RLIMIT_STACK")
RLIM_INFINITY = 2**64 - 1  # as config.json writes "unlimited"


def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


# The sysctls that belong to a namespace (the kernel keeps one value per IPC, UTS or
# network namespace); any other is the whole host's, and a container may not set it.
_IPC_SYSCTLS = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                          "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                          "kernel.shm_rmid_forced"})
_UTS_SYSCTLS = frozenset({"kernel.hostname", "kernel.domainname"})
_SYSCTL_KEY = r"(?i)[a-z0-9_-]+(\.[a-z0-9_-]+)+"


def check_sysctl(cfg: Config, key: str, value: object) -> None:
    """Refuse a ``linux.sysctl`` entry that would reach beyond the container.

    net.* needs a network namespace that is not the host's, the IPC ones an IPC
    namespace of its own, kernel.hostname/domainname a UTS one (runc's rules).
    """
    field = f"sysctl.{key}"
    if not isinstance(value, str) or "\n" in value:
        raise ConfigError(field, value, "is not a one-line string")
    if not re.fullmatch(_SYSCTL_KEY, key):
        raise ConfigError("sysctl", key, "is not a sysctl name (like net.ipv4.ip_forward)")
    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        if not cfg.namespaces & Namespace.IPC:
            raise ConfigError(field, value, "needs an IPC namespace of the container's own")
    elif key in _UTS_SYSCTLS:
        if not cfg.namespaces & Namespace.UTS:
            raise ConfigError(field, value, "needs a UTS namespace of the container's own")
        if key == "kernel.hostname":
            raise ConfigError(field, value, "would fight the hostname field: set that instead")
    elif key.startswith("net."):
        joined_host = cfg.network_path is not None and _same_namespace(cfg.network_path,
                                                                       "/proc/self/ns/net")
        if cfg.network == "host" or joined_host:
            raise ConfigError(field, value, "needs a network namespace that is not the host's")
    else:
        raise ConfigError("sysctl", key, "is not a namespaced setting: it would change the "
                          "whole host")


def _same_namespace(path: str, other: str) -> bool:
    try:
        a, b = os.stat(path), os.stat(other)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def check_cgroups_path(path: object) -> None:
    """``linux.cgroupsPath``: a plain path with no ``..``; systemd's ``slice:prefix:name``
    form is for a systemd driver, which minicontainer does not have."""
    if not isinstance(path, str) or not path.strip("/") or "\0" in path:
        raise ConfigError("cgroupsPath", path, "is not a cgroup path")
    if ":" in path:
        raise ConfigError("cgroupsPath", path, "is systemd's slice:prefix:name form; "
                          "minicontainer manages cgroupfs paths only (podman: "
                          "--cgroup-manager cgroupfs)")
    if any(part in (".", "..") for part in path.split("/")):
        raise ConfigError("cgroupsPath", path, "has a . or .. in it")
    # minicontainer/ holds one cgroup per container, named by its id: a path into it
    # could land inside another container's cgroup, or take a future one's name.
    if path.startswith("/") and path.strip("/").split("/")[0] == "minicontainer":
        raise ConfigError("cgroupsPath", path, "is inside minicontainer/, where each "
                          "container's cgroup is named by its id: give a relative name")
    if not path.startswith("/") and "/" in path.strip("/"):
        raise ConfigError("cgroupsPath", path, "is relative, so a name in minicontainer/: "
                          "one part, without '/'")


# What AppArmor takes as a profile name here: no spaces or control characters (the
# kernel reads "exec NAME"), no leading '-' or ':' (a parser option, a namespace).
_APPARMOR_PROFILE = r"[A-Za-z0-9_/.][A-Za-z0-9_/.@+=-]{0,254}"


def check_apparmor_profile(name: object) -> str:
    """An AppArmor profile name (``unconfined``, ``minicontainer-default``,
    ``/usr/bin/foo``); :class:`ConfigError` naming ``apparmor_profile`` if not one."""
    if not isinstance(name, str) or not re.fullmatch(_APPARMOR_PROFILE, name):
        raise ConfigError("apparmor_profile", name, "is not an AppArmor profile name "
                          "(letters, digits and _ / . @ + = -, at most 255)")
    return name


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


def parse_state_root(path: str) -> str:
    """``--root DIR``: an absolute path that is, or can become, a directory."""
    if not path.startswith("/") or "\0" in path:
        raise ConfigError("root", path, "is not an absolute path")
    existing = path
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigError("root", path, f"cannot be a directory: {existing} is not one")
    return path


def parse_userns_range(spec: str) -> str:
    """``shared``, ``auto`` or ``HOSTUID[:COUNT]`` (COUNT 65536 if not given), as
    ``--userns-range`` takes it; the range in its canonical ``HOSTUID:COUNT`` form."""
    if spec in ("shared", "auto"):
        return spec
    host_text, sep, count_text = spec.partition(":")
    host_id = parse_int("userns_range", host_text, 1, idmap.MAX_HOST_ID)
    count = parse_int("userns_range", count_text, 1, idmap.MAX_HOST_ID) if sep \
        else idmap.BLOCK_SIZE
    if host_id + count - 1 > idmap.MAX_HOST_ID:
        raise ConfigError("userns_range", spec,
                          f"ends after host id {idmap.MAX_HOST_ID}, the last one there is")
    for kind in ("uid", "gid"):
        shared = idmap.shared_range(kind)
        if host_id < shared.host_id + shared.size and shared.host_id < host_id + count:
            raise ConfigError("userns_range", spec,
                              f"overlaps the shared {kind} range {shared.host_id}-"
                              f"{shared.host_id + shared.size - 1}: use 'shared' for it")
    return f"{host_id}:{count}"


def parse_user(spec: str) -> tuple[int, int | None]:
    """``UID[:GID]`` with numbers, as ``-u`` takes it."""
    uid_text, sep, gid_text = spec.partition(":")
    if not re.fullmatch(_INTEGER, uid_text) or sep and not re.fullmatch(_INTEGER, gid_text):
        raise ConfigError("user", spec, "is not UID[:GID] with numeric ids (digits 0-9 only)")
    uid, gid = int(uid_text), int(gid_text) if sep else None
    for value in (uid, gid):
        if value is not None and not 0 <= value <= MAX_ID:
            raise ConfigError("user", spec, f"has an id outside 0..{MAX_ID}")
    return uid, gid


_DEVICE_KINDS = {"a": "any device", "b": "block device", "c": "char device"}
MAX_DEVICE_NUMBER = 0x7FFFFFFF  # what a BPF immediate holds; Linux uses 12 + 20 bits


def _device_access(field: str, value: object, access: object) -> str:
    """``rwm`` letters (read, write, mknod), each at most once, at least one."""
    if not isinstance(access, str) or not access or set(access) - set("rwm") or len(
            set(access)) != len(access):
        raise ConfigError(field, value, "has an access other than letters from rwm "
                          "(r read, w write, m mknod)")
    return access


def _device_number_or_any(field: str, value: object, number: object) -> int | None:
    """A major or minor number; None (or -1, runc's wildcard) matches any."""
    if number is None or number == -1:
        return None
    if isinstance(number, bool) or not isinstance(number, int) or not (
            0 <= number <= MAX_DEVICE_NUMBER):
        raise ConfigError(field, value, f"has a device number that is not 0..{MAX_DEVICE_NUMBER}")
    return number


class DeviceRule:
    """Allow or deny an access to devices (an OCI ``linux.resources.devices`` entry).

    ``kind`` is ``a`` (any), ``b`` (block) or ``c`` (char); ``major`` or ``minor``
    None matches any number; ``access`` holds letters of ``rwm`` (read, write,
    mknod).  The device layer turns a list of these into its BPF program.
    """

    __slots__ = ("allow", "kind", "major", "minor", "access")

    def __init__(self, allow: bool, kind: str = "a", major: int | None = None,
                 minor: int | None = None, access: str = "rwm") -> None:
        self.allow = allow
        self.kind = kind
        self.major = major
        self.minor = minor
        self.access = access

    def __repr__(self) -> str:
        return f"DeviceRule({'allow' if self.allow else 'deny'} {self})"

    def __str__(self) -> str:
        major, minor = ("*" if n is None else str(n) for n in (self.major, self.minor))
        return f"{self.kind} {major}:{minor} {self.access}"

    def to_oci(self) -> dict[str, object]:
        """This rule as an OCI ``linux.resources.devices`` entry."""
        doc: dict[str, object] = {"allow": self.allow, "type": self.kind, "access": self.access}
        for key in ("major", "minor"):
            if getattr(self, key) is not None:
                doc[key] = getattr(self, key)
        return doc

    @classmethod
    def from_oci(cls, doc: object) -> DeviceRule:
        """An OCI ``linux.resources.devices`` entry; errors name that field."""
        field = "linux.resources.devices"
        if not isinstance(doc, dict) or not isinstance(doc.get("allow"), bool):
            raise ConfigError(field, doc, "is not an object with a boolean 'allow'")
        kind = doc.get("type", "a")
        if kind not in _DEVICE_KINDS:
            raise ConfigError(field, doc, "has a type other than a, b or c")
        return cls(doc["allow"], kind, _device_number_or_any(field, doc, doc.get("major")),
                   _device_number_or_any(field, doc, doc.get("minor")),
                   _device_access(field, doc, doc.get("access", "rwm")))

    @classmethod
    def parse(cls, spec: str) -> DeviceRule:
        """``TYPE MAJOR:MINOR ACCESS`` with ``*`` for any number, as Docker's
        ``--device-cgroup-rule`` takes it (``c 1:3 rwm``, ``b 7:* r``): an allow rule."""
        field = "device-cgroup-rule"
        parts = spec.split(" ")
        numbers = parts[1].split(":") if len(parts) == 3 else []
        if len(numbers) != 2 or parts[0] not in _DEVICE_KINDS:
            raise ConfigError(field, spec, "is not TYPE MAJOR:MINOR ACCESS (such as 'c 1:3 rwm')")
        parsed = []
        for text in numbers:
            if text == "*":
                parsed.append(None)
            elif text.isascii() and text.isdigit():
                parsed.append(_device_number_or_any(field, spec, int(text)))
            else:
                raise ConfigError(field, spec, "has a device number that is not digits or *")
        return cls(True, parts[0], parsed[0], parsed[1], _device_access(field, spec, parts[2]))


class Device:
    """A device node made in the container (an OCI ``linux.devices`` entry).

    ``kind`` is ``c`` or ``b``; ``file_mode``, ``uid`` and ``gid`` are the node's.
    ``host_path`` is the host node it copies (``--device``): inside a user
    namespace, where mknod is refused, that host node is bind-mounted instead.
    Making a node does not let the container use it: a :class:`DeviceRule` does.
    """

    __slots__ = ("path", "kind", "major", "minor", "file_mode", "uid", "gid", "host_path")

    def __init__(self, path: str, kind: str, major: int, minor: int, file_mode: int = 0o666,
                 uid: int = 0, gid: int = 0, host_path: str | None = None) -> None:
        self.path = path
        self.kind = kind
        self.major = major
        self.minor = minor
        self.file_mode = file_mode
        self.uid = uid
        self.gid = gid
        self.host_path = host_path

    def __repr__(self) -> str:
        return f"Device({self.path!r}, {self.kind!r}, {self.major}, {self.minor})"

    def to_oci(self) -> dict[str, object]:
        """This node as an OCI ``linux.devices`` entry."""
        return {"path": self.path, "type": self.kind, "major": self.major, "minor": self.minor,
                "fileMode": self.file_mode, "uid": self.uid, "gid": self.gid}

    @classmethod
    def from_oci(cls, doc: object) -> Device:
        """An OCI ``linux.devices`` entry (types c, u and b); errors name that field."""
        field = "linux.devices"
        if not isinstance(doc, dict) or not isinstance(doc.get("path"), str) or not doc[
                "path"].startswith("/"):
            raise ConfigError(field, doc, "is not an object with an absolute 'path'")
        kind = {"c": "c", "u": "c", "b": "b"}.get(doc.get("type"))
        if kind is None:
            raise ConfigError(field, doc, "has a type other than c, u or b (fifos are not "
                              "supported)")
        numbers = [doc.get("major"), doc.get("minor")]
        if None in numbers or -1 in numbers:
            raise ConfigError(field, doc, "needs a major and a minor number")
        major, minor = (_device_number_or_any(field, doc, n) for n in numbers)
        ids = [doc.get("fileMode", 0o666), doc.get("uid", 0), doc.get("gid", 0)]
        if any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_ID
               for v in ids) or ids[0] > 0o7777:
            raise ConfigError(field, doc, "has a fileMode, uid or gid out of range")
        return cls(doc["path"], kind, major, minor, *ids)

    @classmethod
    def parse(cls, spec: str) -> tuple[Device, DeviceRule]:
        """``HOST[:CONTAINER][:PERMISSIONS]``, as Docker's ``--device`` takes it.

        The node copies the host node's type, numbers, mode and owner; the rule
        lets the container use it with ``PERMISSIONS`` (letters of ``rwm``, all
        three by default).
        """
        field = "device"
        parts = spec.split(":")
        if len(parts) == 1:
            host, container, access = parts[0], parts[0], "rwm"
        elif len(parts) == 2 and parts[1].startswith("/"):
            host, container, access = parts[0], parts[1], "rwm"
        elif len(parts) == 2:
            host, container, access = parts[0], parts[0], parts[1]
        elif len(parts) == 3:
            host, container, access = parts
        else:
            host = container = access = ""
        if not host or not container:
            raise ConfigError(field, spec, "is not HOST[:CONTAINER][:PERMISSIONS]")
        _device_access(field, spec, access)
        if not container.startswith("/") or os.path.normpath(container) in ("/", "/dev"):
            raise ConfigError(field, spec, "needs an absolute container path for the node")
        try:
            st = os.stat(host)
        except OSError as e:
            raise ConfigError(field, spec, f"names a host path that cannot be used: "
                              f"{e.strerror}") from None
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            raise ConfigError(field, spec, "names a host path that is not a device node")
        kind = "b" if stat.S_ISBLK(st.st_mode) else "c"
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        node = cls(os.path.normpath(container), kind, major, minor, stat.S_IMODE(st.st_mode),
                   st.st_uid, st.st_gid, host_path=host)
        return node, DeviceRule(True, kind, major, minor, access)
