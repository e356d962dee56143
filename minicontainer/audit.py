"""``minicontainer audit``: the CIS Docker Benchmark's container checks, on live state.

A container's record says what was asked for; the kernel says what the
container got.  The audit reads the kernel first: the init's
``/proc/PID/status`` (capability sets, no_new_privs, seccomp mode), its
``mountinfo``, its namespace inodes against the host's, its ``uid_map``, the
files of its cgroup and the programs attached there.  The record adds only
what the kernel does not show (a custom seccomp profile, the root mode).
``--config`` runs the same checks on an OCI ``config.json`` alone, statically.

Both paths first gather :class:`Facts` (each value with the evidence it was
read from), and one list of checks turns facts into :class:`Finding` objects,
so a check reads the same whether its facts are live or static.

Ids follow the CIS Docker Benchmark v1.5.0, section 5 (the numbering of
v1.2.0 to v1.5.0; v1.6.0 inserted a swarm item at 5.1 and moved the rest up by
one).  Checks the benchmark has no item for (masked paths, /sys, the root mode)
have ``cis`` None and are named by their ``check`` alone.

Example::

    from minicontainer import audit
    from minicontainer.state import StateStore

    report = audit.audit_container(StateStore(), "web")
    for finding in report.findings:
        print(finding.severity, finding.cis, finding.evidence)
"""

from __future__ import annotations

import os
import stat

from minicontainer.config import DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, Config
from minicontainer.errors import ContainerError
from minicontainer.state import LIB_DIR, STATE_ROOT, StateStore

CIS_VERSION = "1.5.0"
SEVERITIES = ("high", "medium", "low")
# CIS 5.5 names /, /boot, /dev, /etc, /lib, /proc, /sys and /usr; /run (and its old
# name /var/run) holds the host's sockets; the runtime's own state is ours to add.
SENSITIVE_DIRS = ("/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr", "/run",
                  "/var/run", LIB_DIR, STATE_ROOT)
# Beyond the defaults, these are a way out (or a host-wide lever) on their own.
DANGEROUS_CAPABILITIES = {
    "CAP_SYS_ADMIN": ["sys-admin-mount", "release-agent", "host-disk-mount"],
    "CAP_SYS_MODULE": ["module-load"],
    "CAP_SYS_PTRACE": ["ptrace-inject"],
    "CAP_DAC_READ_SEARCH": ["shocker"],
    "CAP_SYS_RAWIO": ["masked-proc"],
    "CAP_SYS_BOOT": [],
    "CAP_NET_ADMIN": [],
    "CAP_BPF": [],
    "CAP_PERFMON": [],
    "CAP_SYSLOG": [],
    "CAP_MAC_ADMIN": [],
    "CAP_MAC_OVERRIDE": [],
}
SHARED_NAMESPACES = {  # proc name -> (CIS id, check, severity, title, remediation, escapes)
    "net": ("5.9", "host-network", "high", "the host's network namespace is shared",
            "--net none (the default) or --net bridge", ["abstract-socket", "host-loopback"]),
    "pid": ("5.15", "host-pid", "high", "the host's pid namespace is shared",
            "leave pid out of --share", ["proc-root", "nsenter-host", "ptrace-inject"]),
    "ipc": ("5.16", "host-ipc", "medium", "the host's IPC namespace is shared",
            "leave ipc out of --share", []),
    "uts": ("5.20", "host-uts", "low", "the host's UTS namespace is shared",
            "leave uts out of --share", []),
    # Not a CIS item: the host's cgroup namespace shows the whole host hierarchy.
    "cgroup": (None, "host-cgroup", "medium", "the host's cgroup namespace is shared",
               "leave cgroup out of --share", ["release-agent"]),
}
NAMESPACES = [*SHARED_NAMESPACES, "user"]
# The escapes minicontainer-default stops on its own when their weakening leaves it on.
APPARMOR_STOPS = ["sys-admin-mount", "release-agent", "propagation-leak", "core-pattern",
                  "sysrq-trigger", "masked-proc", "ptrace-inject", "proc-root", "proc-self-exe",
                  "nsenter-host"]
_AT_FDCWD = -100


class Finding:
    """One failed check: what it is, how bad, what shows it, how to fix it, who uses it."""

    def __init__(self, check: str, cis: str | None, title: str, severity: str, evidence: str,
                 remediation: str, escapes: list[str]) -> None:
        self.check = check
        self.cis = cis
        self.title = title
        self.severity = severity
        self.evidence = evidence
        self.remediation = remediation
        self.escapes = list(escapes)

    def __repr__(self) -> str:
        return f"Finding({self.check}, {self.severity}, {self.evidence!r})"

    def to_dict(self) -> dict:
        """The finding as JSON-ready data."""
        return {"check": self.check, "cis": self.cis, "title": self.title,
                "severity": self.severity, "evidence": self.evidence,
                "remediation": self.remediation, "escapes": self.escapes}


class Report:
    """The findings for one subject: a running container, or a config file."""

    def __init__(self, subject: dict, findings: list[Finding]) -> None:
        self.subject = subject
        self.findings = sorted(findings, key=lambda f: (SEVERITIES.index(f.severity),
                                                        _cis_key(f.cis), f.check))

    def count(self, severity: str) -> int:
        """How many findings have ``severity``."""
        return sum(f.severity == severity for f in self.findings)

    def to_dict(self) -> dict:
        """The report as JSON-ready data: the subject's fields, then the findings."""
        return {**self.subject, "cisVersion": CIS_VERSION,
                "summary": {s: self.count(s) for s in SEVERITIES},
                "findings": [f.to_dict() for f in self.findings]}


def _cis_key(cis: str | None) -> tuple[int, ...]:
    return tuple(int(part) for part in cis.split(".")) if cis else (99,)


class Fact:
    """A value the checks judge, with where it was read (``evidence``)."""

    __slots__ = ("value", "evidence")

    def __init__(self, value, evidence: str) -> None:
        self.value = value
        self.evidence = evidence


class Volume:
    """A host path mounted into the container, as the audit sees it."""

    __slots__ = ("host_path", "destination", "writable", "socket", "evidence")

    def __init__(self, host_path: str | None, destination: str, writable: bool, socket: bool,
                 evidence: str) -> None:
        self.host_path = host_path
        self.destination = destination
        self.writable = writable
        self.socket = socket
        self.evidence = evidence


class Facts:
    """Everything the checks judge; each field a :class:`Fact` (or a list of volumes).

    ``bounding``: capability names; ``host_bounding``: what host root holds;
    ``seccomp``: 0 off, 1 strict, 2 filter; ``seccomp_custom``; ``no_new_privs``;
    ``shared``: proc names of namespaces shared with the host; ``root_is_host_root``;
    ``volumes``; ``memory``/``pids``/``cpu``: the limit, None for none;
    ``root_writable``; ``unmasked``/``writable_system_paths``: paths; ``sys_writable``;
    ``all_devices``; ``extra_devices``: node paths; ``propagation_shared``;
    ``apparmor``: the label, None where the host has no AppArmor; ``root_mode``;
    ``close_fds``; ``new_session``.
    """

    def __init__(self, **facts) -> None:
        for name, fact in facts.items():
            setattr(self, name, fact)


# --- the checks: facts in, findings out --------------------------------------------

def _check_apparmor(facts: Facts) -> list[Finding]:
    if facts.apparmor.value != "unconfined":
        return []
    return [Finding("apparmor", "5.1", "no AppArmor profile confines the container", "medium",
                    facts.apparmor.evidence, "leave out --security-opt apparmor=unconfined "
                    "and --privileged: by default the container runs under "
                    "minicontainer-default", APPARMOR_STOPS)]


def _check_privileged(facts: Facts) -> list[Finding]:
    if not facts.bounding.value >= facts.host_bounding.value:
        return []
    return [Finding("privileged", "5.4", "the container is privileged (every capability of "
                    "host root)", "high", facts.bounding.evidence, "drop --privileged",
                    ["host-disk-mount", "core-pattern", "release-agent", "sysrq-trigger",
                     "module-load", "masked-proc"])]


def _check_capabilities(facts: Facts) -> list[Finding]:
    extra = sorted(facts.bounding.value - DEFAULT_CAPABILITIES)
    if not extra or facts.bounding.value >= facts.host_bounding.value:
        return []  # all of them is 5.4, privileged
    dangerous = [c for c in extra if c in DANGEROUS_CAPABILITIES]
    escapes = sorted({e for c in dangerous for e in DANGEROUS_CAPABILITIES[c]})
    return [Finding("capabilities", "5.3", "capabilities beyond the default set",
                    "high" if dangerous else "medium",
                    f"{facts.bounding.evidence}; beyond the default: {', '.join(extra)}",
                    f"drop {' '.join('--cap-add ' + c[4:] for c in extra)} (or --cap-drop "
                    "ALL and add back only what the command needs)", escapes)]


def _check_volumes(facts: Facts) -> list[Finding]:
    findings = []
    for volume in facts.volumes:
        path = volume.host_path
        if volume.socket:
            findings.append(Finding(
                "socket-mount", "5.31", "a host socket is mounted into the container", "high",
                volume.evidence, f"do not mount {path}: whoever holds a control socket "
                "commands its (root) service", ["host-control-socket"]))
        elif path is not None and _sensitive(path):
            escapes = ["host-root-mount"] if path == "/" else []
            if path.startswith(("/run", "/var/run")):
                escapes.append("host-control-socket")
            findings.append(Finding(
                "sensitive-mount", "5.5", "a sensitive host directory is mounted",
                "high" if volume.writable else "medium", volume.evidence,
                f"do not mount {path}; mount a narrower directory, with :ro" if volume.writable
                else f"do not mount {path}; mount a narrower directory", escapes))
    return findings


def _sensitive(path: str) -> bool:
    return path == "/" or any(path == d or path.startswith(d + "/") for d in SENSITIVE_DIRS)


def _check_namespaces(facts: Facts) -> list[Finding]:
    findings = []
    for name, (cis, check, severity, title, fix, escapes) in SHARED_NAMESPACES.items():
        if name in facts.shared.value:
            findings.append(Finding(check, cis, title, severity,
                                    facts.shared.evidence[name], fix, escapes))
    return findings


def _check_user_namespace(facts: Facts) -> list[Finding]:
    if not facts.root_is_host_root.value:
        return []
    return [Finding("host-user", "5.30", "container root is host root (the host's user "
                    "namespace, or a mapping of uid 0 to host uid 0)", "high",
                    facts.root_is_host_root.evidence, "--userns private (the default)",
                    ["host-root-mount", "host-keyring", "proc-self-exe"])]


def _check_limits(facts: Facts) -> list[Finding]:
    findings = []
    for name, cis, severity, what, fix, escapes in (
            ("memory", "5.10", "medium", "memory", "--memory 512m", ["memory-hog"]),
            ("cpu", "5.11", "low", "CPU", "--cpus 1 or --cpu-weight 50", []),
            ("pids", "5.28", "medium", "process (pids)", "--pids-limit 256", ["fork-bomb"])):
        fact = getattr(facts, name)
        if fact.value is None:
            findings.append(Finding(f"{name}-limit", cis, f"no {what} limit", severity,
                                    fact.evidence, fix, escapes))
    return findings


def _check_readonly_root(facts: Facts) -> list[Finding]:
    if not facts.root_writable.value:
        return []
    return [Finding("readonly-root", "5.12", "the root filesystem is writable", "low",
                    facts.root_writable.evidence, "--read-only (with -v for what the command "
                    "writes)", [])]


def _check_seccomp(facts: Facts) -> list[Finding]:
    if facts.seccomp.value == 0:
        return [Finding("seccomp", "5.21", "no seccomp filter", "high", facts.seccomp.evidence,
                        "drop --security-opt seccomp=unconfined (and --privileged)",
                        ["host-keyring", "shocker", "tiocsti"])]
    if facts.seccomp_custom.value:
        return [Finding("seccomp", "5.21", "a custom seccomp profile instead of the default",
                        "low", f"{facts.seccomp.evidence}; {facts.seccomp_custom.evidence}",
                        "review it (minicontainer seccomp check FILE) or drop "
                        "--security-opt seccomp=FILE", [])]
    return []


def _check_no_new_privs(facts: Facts) -> list[Finding]:
    if facts.no_new_privs.value:
        return []
    return [Finding("no-new-privileges", "5.25", "setuid and file capabilities can raise "
                    "privileges (no_new_privs off)", "medium", facts.no_new_privs.evidence,
                    "drop --security-opt no-new-privileges=false (and --privileged)",
                    ["setuid-no-nnp"])]


def _check_devices(facts: Facts) -> list[Finding]:
    if facts.all_devices.value:
        return [Finding("host-devices", "5.17", "every host device is usable (no device "
                        "layer)", "high", facts.all_devices.evidence,
                        "drop --security-opt devices=unconfined (and --privileged)",
                        ["host-disk-mount"])]
    if facts.extra_devices.value:
        return [Finding("host-devices", "5.17", "host devices are exposed to the container",
                        "medium", facts.extra_devices.evidence,
                        "drop --device unless the command needs it, and allow only r or rw",
                        [])]
    return []


def _check_propagation(facts: Facts) -> list[Finding]:
    if not facts.propagation_shared.value:
        return []
    return [Finding("mount-propagation", "5.19", "mount propagation is shared", "medium",
                    facts.propagation_shared.evidence, "--rootfs-propagation rprivate "
                    "(the default)", ["propagation-leak"])]


def _check_system_paths(facts: Facts) -> list[Finding]:
    # Without a user namespace these files are the host kernel's to command.
    severity = "high" if facts.root_is_host_root.value else "medium"
    findings = []
    if facts.unmasked.value:
        findings.append(Finding("masked-paths", None, "kernel files that leak host data are "
                                "not masked", severity, facts.unmasked.evidence,
                                "drop --security-opt systempaths=unconfined (and --privileged)",
                                ["masked-proc"]))
    if facts.writable_system_paths.value:
        findings.append(Finding("readonly-paths", None, "kernel control files are writable",
                                severity, facts.writable_system_paths.evidence,
                                "drop --security-opt systempaths=unconfined (and --privileged)",
                                ["sysrq-trigger", "core-pattern"]))
    if facts.sys_writable.value:
        findings.append(Finding("sysfs-writable", None, "/sys and the cgroup filesystem are "
                                "writable", severity, facts.sys_writable.evidence,
                                "drop --privileged", ["writable-cgroupfs", "release-agent"]))
    return findings


def _check_switches(facts: Facts) -> list[Finding]:
    findings = []
    if facts.root_mode.value == "chroot":
        findings.append(Finding("root-mode", None, "chroot instead of pivot_root: the host's "
                                "tree stays mounted behind the root", "high",
                                facts.root_mode.evidence, "--rootfs-mode pivot (the default)",
                                ["chroot-breakout"]))
    if not facts.close_fds.value:
        findings.append(Finding("fd-hygiene", None, "inherited file descriptors stay open",
                                "high", facts.close_fds.evidence,
                                "drop --security-opt fd-hygiene=false", ["leaked-fd"]))
    if not facts.new_session.value:
        findings.append(Finding("new-session", None, "the container keeps the caller's "
                                "session and terminal", "medium", facts.new_session.evidence,
                                "drop --security-opt new-session=false", ["tiocsti"]))
    return findings


CHECKS = [_check_apparmor, _check_capabilities, _check_privileged, _check_volumes,
          _check_namespaces, _check_limits, _check_readonly_root, _check_devices,
          _check_propagation, _check_seccomp, _check_no_new_privs, _check_user_namespace,
          _check_system_paths, _check_switches]


def judge(facts: Facts) -> list[Finding]:
    """Every finding the checks make of ``facts``."""
    return [finding for check in CHECKS for finding in check(facts)]


# --- live facts: what the kernel shows of a running container -----------------------

def _status(proc: str) -> dict[str, str]:
    with open(f"{proc}/status") as f:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}


def capability_names(mask: int) -> set[str]:
    """The names of the capabilities set in a ``CapBnd``-style bit mask."""
    from minicontainer import capabilities

    return capabilities.decode(mask)


class MountEntry:
    """One line of a mountinfo file."""

    __slots__ = ("device", "root", "mountpoint", "options", "optional", "fstype", "line")

    def __init__(self, line: str) -> None:
        fields = line.split()
        dash = fields.index("-")
        self.device = fields[2]
        self.root = _unescape(fields[3])
        self.mountpoint = _unescape(fields[4])
        self.options = fields[5].split(",")
        self.optional = fields[6:dash]
        self.fstype = fields[dash + 1]
        self.line = line.strip()

    @property
    def writable(self) -> bool:
        """Whether the mount itself is read-write."""
        return "rw" in self.options


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def read_mountinfo(path: str) -> list[MountEntry]:
    """The mounts of a mountinfo file, in its order (a later one covers an earlier one)."""
    with open(path) as f:
        return [MountEntry(line) for line in f if line.strip()]


def _topmost(mounts: list[MountEntry], mountpoint: str) -> MountEntry | None:
    found = [m for m in mounts if m.mountpoint == mountpoint]
    return found[-1] if found else None


def _host_path(entry: MountEntry, host_mounts: list[MountEntry]) -> str | None:
    """The host path a container's bind mount shows: through the host mount of the
    same device whose root holds the bind's root.  Of several, the one nearest the
    filesystem's own root (then the shortest mount point): a bind that propagated
    back from a container (shared propagation) must not name the file instead."""
    best = None
    for host in host_mounts:
        if host.device != entry.device:
            continue
        prefix = host.root.rstrip("/")
        if entry.root != host.root and not entry.root.startswith(prefix + "/"):
            continue
        key = (len(prefix), len(host.mountpoint))
        if best is None or key < best[0]:
            best = (key, host.mountpoint.rstrip("/") + entry.root[len(prefix):])
    return None if best is None else (best[1] or "/")


def _is_socket(path: str | None, follow: bool = False) -> bool:
    """Whether ``path`` is a socket.  A path read from mountinfo is the kernel's own
    name, with no symlink in it; one that has a symlink now was changed since (by a
    container, perhaps), so none is followed.  A config's volume source is followed,
    as the runtime follows it."""
    if path is None:
        return False
    if follow:
        try:
            return stat.S_ISSOCK(os.stat(path).st_mode)
        except OSError:
            return False
    from minicontainer import native

    try:
        fd = native.openat2(_AT_FDCWD, path, os.O_PATH | os.O_NOFOLLOW,
                            native.RESOLVE_NO_SYMLINKS)
    except OSError:
        return False
    try:
        return stat.S_ISSOCK(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def _reference_namespaces() -> tuple[str, str]:
    """Whose namespaces and capabilities are the host's: pid 1's (the runtime may
    itself run in namespaces of its own), or this process's where pid 1's cannot be
    read (a machine that is itself a container can hide its init)."""
    try:
        os.stat("/proc/1/ns/net")
        return "/proc/1", "the host's init"
    except OSError:
        return "/proc/self", "the auditing process: the host's init is unreadable here"


def _runtime_mount(mountpoint: str) -> bool:
    """Whether the runtime itself mounts at ``mountpoint``: the root, /proc, /sys, /dev
    and what is below them."""
    return mountpoint == "/" or any(mountpoint == d or mountpoint.startswith(d + "/")
                                    for d in ("/proc", "/sys", "/dev"))


def live_facts(state: dict) -> Facts:
    """The facts of a running container, read from the kernel (its init, ``pid``)."""
    pid = state["pid"]
    cfg = Config.from_oci(state["config"])
    proc = f"/proc/{pid}"
    status = _status(proc)
    reference, whose = _reference_namespaces()
    reference_status = _status(reference)
    bounding = int(status["CapBnd"], 16)
    host_bounding = int(reference_status["CapBnd"], 16)
    mounts = read_mountinfo(f"{proc}/mountinfo")
    host_mounts = read_mountinfo("/proc/self/mountinfo")

    shared, ns_evidence = set(), {}
    for name in NAMESPACES:
        inode = os.stat(f"{proc}/ns/{name}").st_ino
        host_inode = os.stat(f"{reference}/ns/{name}").st_ino
        if inode == host_inode:
            shared.add(name)
        ns_evidence[name] = (f"{proc}/ns/{name} is {name}:[{inode}], and so is "
                             f"{reference}/ns/{name} ({whose})" if inode == host_inode else
                             f"{proc}/ns/{name} is {name}:[{inode}], {reference}/ns/{name} "
                             f"is {name}:[{host_inode}] ({whose})")
    with open(f"{proc}/uid_map") as f:
        uid_map = [line.split() for line in f if line.strip()]
    root_maps = [m for m in uid_map if int(m[0]) == 0]
    root_host = int(root_maps[0][1]) if root_maps else None
    uid_text = "; ".join(" ".join(m) for m in uid_map)
    root_evidence = (f"{ns_evidence['user']}; uid_map: {uid_text} (container uid 0 is "
                     f"host uid {root_host})")

    volumes = []
    destinations = {m.destination for m in cfg.mounts if m.type == "bind"}
    for entry in mounts:
        if entry.mountpoint not in destinations and _runtime_mount(entry.mountpoint):
            continue
        host_path = _host_path(entry, host_mounts)
        volumes.append(Volume(
            host_path, entry.mountpoint, entry.writable, _is_socket(host_path),
            f"{entry.mountpoint} is host {host_path or '(unknown path)'} "
            f"({'rw' if entry.writable else 'ro'}; mountinfo: {entry.line})"))

    root = _topmost(mounts, "/")
    cgroup_dir, limits = _live_limits(pid)
    return Facts(
        bounding=Fact(capability_names(bounding),
                      f"CapBnd {status['CapBnd']}, CapEff {status['CapEff']} ({proc}/status)"),
        host_bounding=Fact(capability_names(host_bounding), f"CapBnd of {whose}"),
        seccomp=Fact(int(status["Seccomp"]), f"Seccomp: {status['Seccomp']}, "
                     f"Seccomp_filters: {status.get('Seccomp_filters', '?')} ({proc}/status)"),
        seccomp_custom=_custom_profile(cfg),
        no_new_privs=Fact(status["NoNewPrivs"] == "1",
                          f"NoNewPrivs: {status['NoNewPrivs']} ({proc}/status)"),
        shared=Fact(shared, ns_evidence),
        root_is_host_root=Fact("user" in shared or root_host == 0, root_evidence),
        volumes=volumes,
        **limits,
        root_writable=Fact(root is not None and root.writable,
                           f"/ is mounted {'rw' if root and root.writable else 'ro'} "
                           f"({proc}/mountinfo: {root.line if root else 'no / entry'})"),
        **_live_system_paths(mounts, proc),
        **_live_devices(cgroup_dir, cfg),
        propagation_shared=_live_propagation(mounts, proc),
        apparmor=_live_apparmor(proc),
        root_mode=_root_mode(cfg, "the record's config"),
        **_live_process(proc, pid, cfg),
    )


def _live_process(proc: str, pid: int, cfg: Config) -> dict[str, Fact]:
    """The init's open file descriptors above 2 and its session, which show fd
    hygiene and the new session at work (or not) beside what the record says."""
    leaked = []
    for name in sorted(os.listdir(f"{proc}/fd"), key=int):
        if int(name) > 2:
            try:
                leaked.append(f"{name} -> {os.readlink(f'{proc}/fd/{name}')}")
            except FileNotFoundError:
                continue
    with open(f"{proc}/stat") as f:
        session = int(f.read().rsplit(")", 1)[1].split()[3])
    return {
        "close_fds": Fact(cfg.close_fds and not leaked,
                          f"fds above 2 in the init: {', '.join(leaked) or 'none'} "
                          f"({proc}/fd); fd hygiene {'on' if cfg.close_fds else 'off'} in the "
                          "record (annotation minicontainer.closeFds)"),
        "new_session": Fact(session == pid, f"the init (pid {pid}) is in session {session} "
                            f"({proc}/stat): {'its own' if session == pid else 'not its own'}"),
    }


def _live_limits(pid: int) -> tuple[str | None, dict[str, Fact]]:
    """The container's cgroup (from ``/proc/PID/cgroup``) and its memory, pids and cpu
    limits, None where the file says max or the controller is missing."""
    from minicontainer import cgroups

    with open(f"/proc/{pid}/cgroup") as f:
        unified = [line.split(":", 2)[2].strip() for line in f if line.startswith("0::")]
    hierarchy = cgroups.find_hierarchy()
    if not unified or hierarchy is None:
        missing = Fact(None, f"no cgroup v2 entry in /proc/{pid}/cgroup")
        return None, {"memory": missing, "pids": missing, "cpu": missing}
    cgroup_dir = os.path.join(hierarchy.mountpoint, unified[0].lstrip("/"))

    def read(filename: str) -> str | None:
        try:
            with open(os.path.join(cgroup_dir, filename)) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    facts = {}
    for name, filename in (("memory", "memory.max"), ("pids", "pids.max")):
        value = read(filename)
        path = os.path.join(cgroup_dir, filename)
        if value is None:
            facts[name] = Fact(None, f"{path} does not exist: no {name} controller in the "
                               "container's cgroup")
        else:
            facts[name] = Fact(None if value == "max" else int(value), f"{path}: {value}")
    quota, weight = read("cpu.max"), read("cpu.weight")
    cpu_path = os.path.join(cgroup_dir, "cpu.max")
    if quota is None:
        facts["cpu"] = Fact(None, f"{cpu_path} does not exist: no cpu controller in the "
                            "container's cgroup")
    elif quota.startswith("max") and weight in (None, "100"):
        facts["cpu"] = Fact(None, f"{cpu_path}: {quota}, cpu.weight: {weight}")
    else:
        facts["cpu"] = Fact(quota, f"{cpu_path}: {quota}, cpu.weight: {weight}")
    return cgroup_dir, facts


def _live_system_paths(mounts: list[MountEntry], proc: str) -> dict[str, Fact]:
    """Which of the default masked paths the container sees unmasked (no mount over
    them, though they exist on this host), which control files it can write, and
    whether /sys or its cgroup filesystem is read-write."""
    unmasked = [p for p in MASKED_PATHS if os.path.exists(p) and _topmost(mounts, p) is None]
    writable = []
    for path in READONLY_PATHS:
        if not os.path.exists(path):
            continue
        entry = _topmost(mounts, path)
        if entry is None or entry.writable:
            writable.append(path)
    writable_sys = [p for p in ("/sys", "/sys/fs/cgroup")
                    if (e := _topmost(mounts, p)) is not None and e.writable]
    where = f"({proc}/mountinfo)"
    return {
        "unmasked": Fact(unmasked, f"no mount over {', '.join(unmasked)} {where}"),
        "writable_system_paths": Fact(writable, f"{', '.join(writable)}: not mounted "
                                      f"read-only {where}"),
        "sys_writable": Fact(writable_sys, f"{', '.join(writable_sys)} mounted rw {where}"),
    }


def _live_devices(cgroup_dir: str | None, cfg: Config) -> dict[str, Fact]:
    """Whether the device layer's BPF program is attached to the container's cgroup,
    and the device nodes the config adds."""
    from minicontainer import devices

    programs = devices.attached(cgroup_dir) if cgroup_dir else []
    allow_all = any(r.allow and r.kind == "a" and r.major is None and r.minor is None
                    for r in cfg.resources.devices)
    if cgroup_dir is None:
        evidence = "the container has no cgroup v2 directory, so no device program"
    elif not programs:
        evidence = f"no BPF_CGROUP_DEVICE program attached to {cgroup_dir}"
    else:
        evidence = (f"device program ids {programs} on {cgroup_dir}, but the config allows "
                    "'a *:* rwm'")
    nodes = [f"{n.path} ({n.kind} {n.major}:{n.minor})" for n in cfg.devices]
    return {"all_devices": Fact(not programs or allow_all, evidence),
            "extra_devices": Fact(nodes, f"device nodes added: {', '.join(nodes)}")}


def _live_propagation(mounts: list[MountEntry], proc: str) -> Fact:
    shared = [m for m in mounts if any(o.startswith("shared:") for o in m.optional)]
    return Fact(bool(shared), "; ".join(f"{m.mountpoint} is {' '.join(m.optional)}"
                                        for m in shared) + f" ({proc}/mountinfo)")


def apparmor_enabled() -> bool:
    """Whether this kernel runs AppArmor."""
    from minicontainer import apparmor

    return apparmor.enabled()


def _live_apparmor(proc: str) -> Fact:
    if not apparmor_enabled():
        return Fact(None, "AppArmor is not enabled on this host")
    for path in (f"{proc}/attr/apparmor/current", f"{proc}/attr/current"):
        try:
            with open(path) as f:
                label = f.read().strip()
        except OSError:
            continue
        return Fact(label.split(" ")[0], f"{path}: {label}")
    return Fact("unconfined", f"no AppArmor label readable under {proc}/attr")


def _config_apparmor(cfg: Config) -> Fact:
    """The profile a config gets on this host: None where AppArmor does not run."""
    if not apparmor_enabled():
        return Fact(None, "AppArmor is not enabled on this host")
    if cfg.apparmor_profile is None:
        return Fact("minicontainer-default", "no process.apparmorProfile: the default, "
                    "minicontainer-default")
    return Fact(cfg.apparmor_profile, f"process.apparmorProfile is {cfg.apparmor_profile}")


def _custom_profile(cfg: Config) -> Fact:
    return Fact(cfg.seccomp and cfg.seccomp_profile is not None,
                f"linux.seccomp is a custom profile (defaultAction "
                f"{(cfg.seccomp_profile or {}).get('defaultAction')})")


def _root_mode(cfg: Config, where: str) -> Fact:
    """pivot or chroot: the kernel shows no difference a reader can trust (a chroot
    hides the mounts outside it from mountinfo), so this comes from the config."""
    return Fact(cfg.root_mode, f"root mode {cfg.root_mode} ({where}: annotation "
                "minicontainer.rootMode)")


def _switch_facts(cfg: Config, where: str) -> dict[str, Fact]:
    return {
        "root_mode": _root_mode(cfg, where),
        "close_fds": Fact(cfg.close_fds, f"fd hygiene off ({where}: annotation "
                          "minicontainer.closeFds)"),
        "new_session": Fact(cfg.new_session, f"no session of its own ({where}: annotation "
                            "minicontainer.newSession)"),
    }


# --- static facts: what a config file asks for ---------------------------------------

def config_facts(cfg: Config) -> Facts:
    """The facts a config describes, as this host would run it (no container needed)."""
    from minicontainer import capabilities
    from minicontainer.namespaces import Namespace

    own = {ns.proc_name for ns in Namespace if ns & cfg.namespaces}
    shared = {n for n in NAMESPACES if n not in own}
    if cfg.network == "container":
        shared.discard("net")
    evidence = {n: f"linux.namespaces has no {'network' if n == 'net' else n} entry"
                for n in shared}
    root_map = [m for m in cfg.uid_mappings if m.container_id == 0]
    root_is_host = not cfg.user_namespace or bool(root_map and root_map[0].host_id == 0)
    volumes = [Volume(os.path.normpath(m.source), m.destination, not m.readonly,
                      _is_socket(m.source, follow=True),
                      f"mounts: {m.source} -> {m.destination} "
                      f"({'ro' if m.readonly else 'rw'})") for m in cfg.mounts
               if m.type == "bind"]
    res = cfg.resources
    unmasked = [p for p in MASKED_PATHS if os.path.exists(p) and p not in cfg.masked_paths]
    writable = [p for p in READONLY_PATHS if os.path.exists(p) and p not in cfg.readonly_paths]
    allow_all = not cfg.device_cgroup or any(
        r.allow and r.kind == "a" and r.major is None and r.minor is None
        for r in res.devices)
    nodes = [f"{n.path} ({n.kind} {n.major}:{n.minor})" for n in cfg.devices]
    host_caps = capabilities.ALL
    return Facts(
        bounding=Fact(set(cfg.capabilities), "process.capabilities.bounding"),
        host_bounding=Fact(set(host_caps), "every capability"),
        seccomp=Fact(2 if cfg.seccomp else 0, "linux.seccomp is absent" if not cfg.seccomp
                     else "linux.seccomp is set"),
        seccomp_custom=_custom_profile(cfg),
        no_new_privs=Fact(cfg.no_new_privileges, "process.noNewPrivileges is false"),
        shared=Fact(shared, evidence),
        root_is_host_root=Fact(root_is_host, "linux.namespaces has no user entry"
                               if not cfg.user_namespace else
                               "linux.uidMappings maps container uid 0 to host uid 0"),
        volumes=volumes,
        memory=Fact(res.memory, "linux.resources.memory.limit is not set"),
        pids=Fact(res.pids, "linux.resources.pids.limit is not set"),
        cpu=Fact(res.cpu_quota or res.cpu_weight, "linux.resources.cpu.quota and "
                 "unified cpu.weight are not set"),
        root_writable=Fact(not cfg.readonly, "root.readonly is false"),
        unmasked=Fact(unmasked, f"linux.maskedPaths lacks {', '.join(unmasked)}"),
        writable_system_paths=Fact(writable, f"linux.readonlyPaths lacks {', '.join(writable)}"),
        sys_writable=Fact(not cfg.sys_readonly, "/sys is mounted rw"),
        all_devices=Fact(allow_all, "linux.resources.devices allows 'a *:* rwm'"),
        extra_devices=Fact(nodes, f"linux.devices: {', '.join(nodes)}"),
        propagation_shared=Fact(cfg.rootfs_propagation in ("shared", "rshared"),
                                f"linux.rootfsPropagation is {cfg.rootfs_propagation}"),
        apparmor=_config_apparmor(cfg),
        **_switch_facts(cfg, "the config"),
    )


# --- entry points ---------------------------------------------------------------------

def audit_container(store: StateStore, container_id: str) -> Report:
    """Audit a running container from its live state; ContainerError if it is not
    running."""
    from minicontainer import lifecycle

    state = lifecycle.get(store, container_id)
    if state["status"] not in ("running", "paused"):
        raise ContainerError(f"cannot audit container {container_id}: it is "
                             f"{state['status']} (audit reads a running container's "
                             "processes; use --config for a config file)")
    try:
        facts = live_facts(state)
    except (FileNotFoundError, ProcessLookupError):
        raise ContainerError(f"container {container_id} ended during the audit") from None
    return Report({"id": container_id, "pid": state["pid"], "source": "live"}, judge(facts))


def audit_config_file(path: str) -> Report:
    """Audit an OCI ``config.json`` statically."""
    from minicontainer.config import read_json_object

    doc = read_json_object(path, "config")
    cfg = Config.from_oci(doc, bundle=os.path.dirname(os.path.abspath(path)))
    return Report({"config": path, "source": "config"}, judge(config_facts(cfg)))


def running_ids(store: StateStore) -> list[str]:
    """The ids of the running containers, oldest first."""
    from minicontainer import lifecycle

    return [c["id"] for c in lifecycle.list_containers(store, include_stopped=False)
            if c["status"] == "running"]


def format_text(reports: list[Report]) -> str:
    """The reports as a table a person reads: one block per subject."""
    blocks = []
    for report in reports:
        subject = report.subject
        name = (f"container {subject['id']} (pid {subject['pid']}, live state)"
                if "id" in subject else f"config {subject['config']} (static)")
        summary = ", ".join(f"{report.count(s)} {s}" for s in SEVERITIES)
        lines = [f"{name}: {len(report.findings)} findings ({summary})"]
        if report.findings:
            lines.append(f"  {'SEVERITY':8}  {'CIS':5}  {'CHECK':18}  TITLE")
        for f in report.findings:
            lines.append(f"  {f.severity:8}  {f.cis or '-':5}  {f.check:18}  {f.title}")
            lines.append(f"  {'':8}  {'':5}  {'':18}  evidence: {f.evidence}")
            lines.append(f"  {'':8}  {'':5}  {'':18}  fix: {f.remediation}")
            if f.escapes:
                lines.append(f"  {'':8}  {'':5}  {'':18}  exploited by: {', '.join(f.escapes)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
