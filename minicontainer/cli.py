"""The ``minicontainer`` command.

Every runtime error ends as one line, ``minicontainer: error: <what> (<why>)``,
and exit status 125; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys

EXIT_USAGE = 125


class _Formatter(argparse.HelpFormatter):
    """Asks the terminal its width through os rather than shutil, once.

    argparse builds a formatter for every add_argument, and its default one
    imports shutil for the width: several milliseconds on each ``run``; and asked
    anew each time, the width is an ioctl (and, off a terminal, an exception) per
    argument.
    """

    width: int | None = None

    def __init__(self, prog: str) -> None:
        if _Formatter.width is None:
            try:
                _Formatter.width = os.get_terminal_size().columns - 2
            except OSError:
                _Formatter.width = 78
        super().__init__(prog, width=_Formatter.width)


class _Parser(argparse.ArgumentParser):
    """argparse, but bad usage is a one-line error with the runtime's exit status."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:
        """Print one line and exit 125, like every other runtime error."""
        self.exit(EXIT_USAGE, f"minicontainer: error: {message}\n")


class _Version(argparse.Action):
    """``--version``: two lines as runc's, ``minicontainer version X`` (engines read the
    first) and ``spec: V``, the runtime spec version implemented; then exit 0."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from importlib.metadata import PackageNotFoundError, version

        from minicontainer.state import OCI_VERSION

        try:
            ours = version("minicontainer")
        except PackageNotFoundError:
            ours = "unknown"
        print(f"minicontainer version {ours}\nspec: {OCI_VERSION}")
        parser.exit(0)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``command``, only that subcommand is built.

    argparse spends milliseconds on each subparser, and ``run`` is on everyone's
    start-up path.
    """
    parser = _Parser(
        prog="minicontainer",
        description="A small, honest container runtime for learning how isolation works.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-v", "--version", action=_Version, nargs=0,
                        help="print the version and the OCI runtime spec version, as runc")
    parser.add_argument("--root", default="/run/minicontainer", metavar="DIR",
                        help="where container state is kept (default /run/minicontainer)")
    parser.add_argument("--log", metavar="FILE",
                        help="also append errors to FILE, as runc does (default: stderr only)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="the lines --log writes: text, or json with level, msg and time")
    parser.add_argument("--systemd-cgroup", action="store_true",
                        help="accepted for runc's callers, but unsupported: create and run "
                        "refuse it (minicontainer makes its own cgroupfs tree)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    builders = [COMMANDS[command]] if command in COMMANDS else dict.fromkeys(COMMANDS.values())
    for add in builders:
        add(commands)
    return parser


def _add_run(commands) -> None:
    run = commands.add_parser(
        "run",
        help="run a command in a new container",
        description="Run COMMAND in a new container, in the foreground. By default it "
        "gets new user, pid, mount, uts, ipc, net and cgroup namespaces, the busybox "
        "rootfs under a private overlay, and only a loopback interface.",
    )
    run.add_argument("-d", "--detach", action="store_true",
                     help="run in the background, print the id; output goes to `logs`")
    run.add_argument("--name", help="the container's id (default: 12 random hex digits)")
    run.add_argument("--rm", action="store_true",
                     help="with -d: remove the container's record when it stops")
    run.add_argument("-i", "--interactive", action="store_true",
                     help="keep stdin attached (it always is; accepted for Docker habits)")
    run.add_argument("-t", "--tty", action="store_true",
                     help="a new pty from the container's devpts, in a new session")
    run.add_argument("--hostname", help="hostname inside (default: the container id)")
    run.add_argument("-e", "--env", action="append", default=[], metavar="NAME=VALUE",
                     help="set an environment variable (repeatable)")
    run.add_argument("-w", "--workdir", default="/", metavar="DIR",
                     help="working directory inside (created if missing; default /)")
    run.add_argument("-u", "--user", metavar="UID[:GID]", help="numeric user and group inside")
    run.add_argument("-v", "--volume", action="append", default=[], metavar="HOST:CTR[:ro]",
                     help="bind-mount a host path (repeatable)")
    run.add_argument("--rootfs", metavar="DIR|NAME",
                     help="root filesystem: a directory or a stored rootfs name "
                     "(default: the busybox rootfs)")
    run.add_argument("--read-only", action="store_true", help="mount the root read-only")
    run.add_argument("--no-overlay", action="store_true",
                     help="write straight into the rootfs instead of a private overlay layer")
    run.add_argument("--share", default="", metavar="NS[,NS...]",
                     help="keep these host namespaces: pid, net, ipc, uts, cgroup, user")
    run.add_argument("--net", default="none", metavar="MODE",
                     help="none (loopback only, the default), host (the host's network: its "
                     "loopback services too), bridge (a veth on mc0 with NAT), container:ID "
                     "(share another container's)")
    run.add_argument("-p", "--publish", action="append", default=[],
                     metavar="[ADDR:]HOSTPORT:CTRPORT[/tcp|/udp]",
                     help="with --net bridge: forward a host port to the container (repeatable)")
    run.add_argument("--subnet", metavar="CIDR",
                     help="with --net bridge: the bridge's private network "
                     "(default 10.88.0.0/16)")
    run.add_argument("--userns", choices=("private", "host"), default="private",
                     help="'host': no user namespace, container root is host root")
    run.add_argument("--userns-range", default="shared", metavar="shared|auto|HOSTUID[:COUNT]",
                     help="host ids of the user namespace: the range every container shares "
                     "(default), a 65536-id block of its own ('auto'), or this range")
    run.add_argument("--cap-add", action="append", default=[], metavar="CAP",
                     help="add a capability (CHOWN, CAP_CHOWN, any case; ALL) (repeatable)")
    run.add_argument("--cap-drop", action="append", default=[], metavar="CAP",
                     help="drop a capability (repeatable; ALL drops every one)")
    run.add_argument("--security-opt", action="append", default=[], metavar="OPT",
                     help="no-new-privileges=false | seccomp=unconfined | seccomp=FILE.json | "
                     "systempaths=unconfined (no masked or read-only paths) | "
                     "devices=unconfined (no device layer: every device node usable) | "
                     "fd-hygiene=false (inherited fds stay open, the cwd is not checked) | "
                     "new-session=false (the container keeps the caller's session and tty) | "
                     "apparmor=PROFILE (a loaded AppArmor profile) | apparmor=unconfined "
                     "(none; the default is minicontainer-default where AppArmor runs)")
    run.add_argument("--privileged", action="store_true",
                     help="switch off every hardening layer: for escape demos only")
    run.add_argument("--rootfs-mode", choices=("pivot", "chroot"), default="pivot",
                     help="'chroot': chroot into the rootfs instead of pivot_root, leaving the "
                     "host's tree mounted behind it (runc --no-pivot; for escape demos)")
    run.add_argument("--rootfs-propagation", default="rprivate", metavar="MODE",
                     help="mount propagation of the container's mounts: rprivate (default), "
                     "private, rslave, slave, rshared, shared, runbindable, unbindable")
    run.add_argument("--device", action="append", default=[], metavar="HOST[:CTR][:rwm]",
                     help="make the host device node HOST in the container (at CTR) and let "
                     "the device layer allow it (r read, w write, m mknod) (repeatable)")
    run.add_argument("--device-cgroup-rule", action="append", default=[],
                     metavar="'TYPE MAJ:MIN rwm'",
                     help="allow devices by number, e.g. 'c 1:3 rwm' or 'b 7:* r' (repeatable)")
    limits = run.add_argument_group("resource limits (cgroup v2)")
    limits.add_argument("--memory", metavar="SIZE", help="memory.max, e.g. 64m; an OOM kills "
                        "the whole container")
    limits.add_argument("--memory-swap", metavar="SIZE", help="memory plus swap, as Docker "
                        "counts it; -1 for unlimited swap (default with --memory: no swap)")
    limits.add_argument("--memory-high", metavar="SIZE", help="memory.high: reclaim and slow "
                        "down above this")
    limits.add_argument("--cpus", metavar="N", help="cpu.max as a number of CPUs, e.g. 0.5")
    limits.add_argument("--cpu-weight", metavar="N", help="cpu.weight, 1-10000 (default 100)")
    limits.add_argument("--pids-limit", metavar="N", help="pids.max: at most N processes")
    limits.add_argument("--cpuset-cpus", metavar="LIST", help="cpuset.cpus, e.g. 0 or 0-1")
    limits.add_argument("--io-read-bps", action="append", default=[], metavar="DEV:RATE",
                        help="io.max rbps for a block device, e.g. /dev/vda:1m (repeatable)")
    limits.add_argument("--io-write-bps", action="append", default=[], metavar="DEV:RATE",
                        help="io.max wbps (repeatable)")
    run.add_argument("--stats", action="store_true",
                     help="print the container's resource usage on stderr when it ends")
    run.add_argument("--log-opt", action="append", default=[], metavar="max-size=SIZE",
                     help="with -d: rotate the log at SIZE (default 4m; one old file kept)")
    oci = run.add_argument_group("OCI bundle (runc's run: create, start and wait)")
    add_bundle_options(oci, bundle_default=None)
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARG...]")
    run.set_defaults(handler=_run)


def add_bundle_options(parser, bundle_default: str | None = ".") -> None:
    """The options of ``create``, as runc has them; ``run --bundle`` takes them too."""
    parser.add_argument("-b", "--bundle", default=bundle_default, metavar="DIR",
                        help="the bundle: config.json and the rootfs" + (
                            " (default: the current directory)" if bundle_default else
                            "; the container id follows instead of a command"))
    parser.add_argument("--pid-file", metavar="FILE",
                        help="write the host pid of the container's process here")
    parser.add_argument("--console-socket", metavar="SOCKET",
                        help="with process.terminal: send the pty master over this unix "
                        "socket (SCM_RIGHTS) instead of keeping it")
    parser.add_argument("--no-pivot", action="store_true",
                        help="chroot instead of pivot_root (the host's tree stays mounted "
                        "behind the root; escape demos)")
    parser.add_argument("--no-new-keyring", action="store_true",
                        help="accepted: minicontainer never makes a session keyring (the "
                        "default seccomp profile blocks the keyring calls instead)")
    parser.add_argument("--preserve-fds", default="0", metavar="N",
                        help="pass the caller's fds 3 to 3+N-1 on to the command")


def _add_rootfs(commands) -> None:
    rootfs = commands.add_parser("rootfs", help="build or import root filesystems")
    rootfs_commands = rootfs.add_subparsers(dest="rootfs_command", required=True,
                                            parser_class=_Parser)
    build = rootfs_commands.add_parser("build", help="build the default busybox rootfs, offline")
    build.add_argument("kind", choices=("busybox",))
    build.add_argument("dir", nargs="?", help="where (default: the stored 'busybox' rootfs)")
    build.set_defaults(handler=_rootfs_build)
    imp = rootfs_commands.add_parser("import", help="unpack a rootfs tarball safely")
    imp.add_argument("tarball")
    imp.add_argument("name")
    imp.add_argument("--max-size", metavar="SIZE", default="4g",
                     help="refuse more file data than this (default: 4g)")
    imp.add_argument("--max-files", metavar="N", default="200000",
                     help="refuse more members than this (default: 200000)")
    imp.add_argument("--keep-setuid", action="store_true",
                     help="keep setuid/setgid bits (default: cleared)")
    imp.set_defaults(handler=_rootfs_import)


def _add_seccomp(commands) -> None:
    seccomp = commands.add_parser("seccomp", help="look at seccomp profiles")
    seccomp_commands = seccomp.add_subparsers(dest="seccomp_command", required=True,
                                              parser_class=_Parser)
    show = seccomp_commands.add_parser(
        "show", help="print the filter libseccomp builds from a profile",
        description="Print the filter libseccomp builds from a profile (the default one "
        "unless --profile), for the capabilities of a default container.")
    show.add_argument("--profile", metavar="FILE", help="a Docker/OCI JSON profile")
    show.add_argument("--cap-add", action="append", default=[], metavar="CAP",
                      help="build as for a container with this capability added")
    form = show.add_mutually_exclusive_group()
    form.add_argument("--pfc", action="store_true", help="libseccomp's pseudo-code (default)")
    form.add_argument("--bpf", action="store_true", help="the BPF program, one instruction a line")
    form.add_argument("--json", action="store_true", help="the profile itself, as JSON")
    form.add_argument("--by-arch", action="store_true",
                      help="a table: what each architecture (x86_64, x86 through int 0x80, "
                      "x32) does with each syscall a rule names")
    show.set_defaults(handler=_seccomp_show)
    check = seccomp_commands.add_parser("check", help="validate a profile")
    check.add_argument("file")
    check.set_defaults(handler=_seccomp_check)


def _add_ps(commands) -> None:
    ps = commands.add_parser(
        "ps", help="list containers; with an ID, the processes in it (as runc's ps)",
        description="Without ID: the containers (running ones, or all with -a). With ID, "
        "as runc's ps: the processes of the container's cgroup, by host pid, as the host's "
        "`ps -ef` shows them (or with PS_ARG... instead of -ef), or as a JSON list of pids.")
    ps.add_argument("-a", "--all", action="store_true", help="include stopped containers")
    ps.add_argument("-f", "--format", choices=("table", "json"), default="table")
    ps.add_argument("id", nargs="?", help="a container: list its processes")
    ps.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="PS_ARG",
                    help="with ID: options for the host's ps (default -ef)")
    ps.set_defaults(handler=_ps)


def _add_list(commands) -> None:
    listing = commands.add_parser(
        "list", help="list containers as runc's list does",
        description="Every container of --root, as runc lists them: ID, PID, STATUS, "
        "BUNDLE, CREATED and OWNER, or as JSON (the state of each, with its owner).")
    listing.add_argument("-f", "--format", choices=("table", "json"), default="table")
    listing.add_argument("-q", "--quiet", action="store_true", help="only the ids")
    listing.set_defaults(handler=_list)


def _add_logs(commands) -> None:
    logs = commands.add_parser("logs", help="print a detached container's output")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing until it stops")
    logs.add_argument("id")
    logs.set_defaults(handler=_logs)


def _add_exec(commands) -> None:
    exec_ = commands.add_parser(
        "exec", help="run a command in a running container",
        description="Run COMMAND in a running container: the same namespaces, cgroup, "
        "capabilities, no_new_privs and seccomp filter as its own processes.")
    exec_.add_argument("-i", "--interactive", action="store_true",
                       help="keep stdin attached (it always is)")
    exec_.add_argument("-t", "--tty", action="store_true", help="a new pty of the container")
    exec_.add_argument("-u", "--user", metavar="UID[:GID]")
    exec_.add_argument("-e", "--env", action="append", default=[], metavar="NAME=VALUE")
    exec_.add_argument("-w", "--workdir", "--cwd", metavar="DIR")
    exec_.add_argument("-p", "--process", metavar="FILE",
                       help="an OCI process object (JSON): the whole process, instead of "
                       "COMMAND and -u, -e, -w (runc's exec --process)")
    exec_.add_argument("-d", "--detach", action="store_true",
                       help="return once the command runs; it stays a descendant of the "
                       "caller, whose child subreaper reaps it")
    exec_.add_argument("--pid-file", metavar="FILE",
                       help="write the command's host pid here (atomically)")
    exec_.add_argument("--console-socket", metavar="SOCKET",
                       help="with a terminal: send the pty master over this unix socket "
                       "(SCM_RIGHTS) instead of relaying it")
    exec_.add_argument("--preserve-fds", default="0", metavar="N",
                       help="pass the caller's fds 3 to 3+N-1 on to the command")
    exec_.add_argument("id")
    exec_.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
    exec_.set_defaults(handler=_exec)


def _add_kill(commands) -> None:
    kill = commands.add_parser("kill", help="send a signal to a container's first process")
    kill.add_argument("-a", "--all", action="store_true",
                      help="to every process of the container (its cgroup), not only the first")
    kill.add_argument("id")
    kill.add_argument("signal", nargs="?", default="TERM", help="name or number (default TERM)")
    kill.set_defaults(handler=_kill)


def _add_stop(commands) -> None:
    stop = commands.add_parser("stop", help="SIGTERM, then SIGKILL after a timeout")
    stop.add_argument("-t", "--time", default="10", metavar="SECONDS",
                      help="how long to wait after SIGTERM (default 10)")
    stop.add_argument("id")
    stop.set_defaults(handler=_stop)


def _add_rm(commands) -> None:
    rm = commands.add_parser("rm", help="remove containers and everything they own")
    rm.add_argument("-f", "--force", action="store_true", help="kill running ones first")
    rm.add_argument("--all", action="store_true", help="every container")
    rm.add_argument("ids", nargs="*", metavar="ID")
    rm.set_defaults(handler=_rm)


def _add_cleanup(commands) -> None:
    cleanup = commands.add_parser(
        "cleanup", help="remove every stopped or crashed container, and what an escape "
        "demo killed before it could restore left in the temporary directory")
    cleanup.set_defaults(handler=_cleanup)


def _add_by_id(commands, name: str, text: str) -> None:
    sub = commands.add_parser(name, help=text)
    sub.add_argument("id")
    sub.set_defaults(handler=_by_id)


def _add_resume(commands) -> None:
    resume = commands.add_parser("resume", aliases=["unpause"], help="thaw a paused container")
    resume.add_argument("id")
    resume.set_defaults(handler=_by_id)


def _add_stats(commands) -> None:
    stats = commands.add_parser("stats", help="resource usage from the container's cgroup")
    stats.add_argument("--json", action="store_true")
    stats.add_argument("id")
    stats.set_defaults(handler=_stats)


def _add_devices(commands) -> None:
    devices = commands.add_parser("devices", help="look at the device layer's BPF program")
    devices_commands = devices.add_subparsers(dest="devices_command", required=True,
                                              parser_class=_Parser)
    show = devices_commands.add_parser(
        "show", help="print the BPF program a container's cgroup gets",
        description="Print the cgroup device program, one instruction a line (its 8 bytes "
        "and what it does), for the default devices plus the rules these flags add.")
    show.add_argument("--device", action="append", default=[], metavar="HOST[:CTR][:rwm]")
    show.add_argument("--device-cgroup-rule", action="append", default=[],
                      metavar="'TYPE MAJ:MIN rwm'")
    show.set_defaults(handler=_devices_show)


def _add_doctor(commands) -> None:
    doctor = commands.add_parser("doctor", help="check what this machine can run",
                                 description="Check the kernel, namespaces, cgroups, overlayfs, "
                                 "libseccomp, the rootfs and nftables; say how to fix what fails.")
    doctor.set_defaults(handler=_doctor)


def _add_escape(commands) -> None:
    from minicontainer.escapes import command

    command.add_parser(commands, _Parser)


def _add_lab(commands) -> None:
    from minicontainer import lab_command

    lab_command.add_parser(commands, _Parser)


def _add_oci(commands, name: str) -> None:
    from minicontainer import oci_command

    oci_command.add_parser(commands, name)


def _add_audit(commands) -> None:
    audit = commands.add_parser(
        "audit", help="check containers against the CIS Docker Benchmark (section 5)",
        description="Check running containers (their live state: /proc/PID/status, "
        "mountinfo, namespaces, uid_map, cgroup files) or a config.json against the CIS "
        "Docker Benchmark's container checks. Exits 1 when any finding is high.")
    audit.add_argument("ids", nargs="*", metavar="ID", help="running containers to audit")
    audit.add_argument("--all", action="store_true", help="every running container")
    audit.add_argument("--config", metavar="FILE",
                       help="audit an OCI config.json statically, without a container")
    audit.add_argument("--json", action="store_true", help="a JSON list, one entry a subject")
    audit.set_defaults(handler=_audit)


COMMANDS = {
    "run": _add_run,
    "ps": _add_ps,
    "list": _add_list,
    "exec": _add_exec,
    "logs": _add_logs,
    "kill": _add_kill,
    "stop": _add_stop,
    "rm": _add_rm,
    "cleanup": _add_cleanup,
    "pause": lambda c: _add_by_id(c, "pause", "freeze every process (cgroup.freeze)"),
    "resume": _add_resume,
    "unpause": _add_resume,
    "inspect": lambda c: _add_by_id(c, "inspect", "print a container's record as JSON"),
    "stats": _add_stats,
    "rootfs": _add_rootfs,
    "seccomp": _add_seccomp,
    "devices": _add_devices,
    "doctor": _add_doctor,
    "escape": _add_escape,
    "audit": _add_audit,
    "lab": _add_lab,
    **{name: (lambda c, n=name: _add_oci(c, n))
       for name in ("create", "start", "state", "delete", "spec", "features")},
}


def _command_in(argv: list[str]) -> str | None:
    """The subcommand named in ``argv``, skipping the global options before it."""
    args = iter(argv)
    for arg in args:
        if arg in ("--root", "--log", "--log-format"):
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def config_from_args(args: argparse.Namespace):
    """The :class:`~minicontainer.config.Config` that ``run``'s flags describe."""
    from minicontainer import rootfs
    from minicontainer.config import (
        Config,
        ConfigError,
        Mount,
        Resources,
        parse_namespaces,
        parse_user,
    )
    from minicontainer.namespaces import ALL, Namespace

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise ConfigError("command", "", "is missing: minicontainer run [OPTIONS] -- COMMAND")
    shared = parse_namespaces(args.share)
    if shared & Namespace.MNT:
        raise ConfigError("share", "mnt", "cannot be shared: the rootfs is set up in a new one")
    if args.userns == "host":
        shared |= Namespace.USER
    uid, gid = parse_user(args.user) if args.user else (0, None)
    hardening = _hardening_from_args(args, uid)
    networking = _network_from_args(args, net_shared=bool(shared & Namespace.NET))
    if networking["network"] in ("host", "container"):
        shared |= Namespace.NET
    nodes, device_rules = _devices_from_args(args)
    config = Config(
        args=command,
        env=args.env,
        cwd=args.workdir,
        uid=uid,
        gid=0 if gid is None else gid,
        terminal=args.tty,
        hostname=args.hostname,
        rootfs=rootfs.resolve(args.rootfs) if args.rootfs else None,
        readonly=args.read_only,
        overlay=not args.no_overlay,
        namespaces=ALL & ~shared,
        userns_range=args.userns_range,
        mounts=[Mount.parse(spec) for spec in args.volume],
        resources=Resources.from_flags(
            memory=args.memory, memory_swap=args.memory_swap, memory_high=args.memory_high,
            cpus=args.cpus, cpu_weight=args.cpu_weight, pids_limit=args.pids_limit,
            cpuset_cpus=args.cpuset_cpus, io_read_bps=args.io_read_bps,
            io_write_bps=args.io_write_bps),
        devices=nodes,
        root_mode=args.rootfs_mode,
        rootfs_propagation=args.rootfs_propagation,
        **hardening,
        **networking,
    )
    config.resources.devices = device_rules
    return config


def _devices_from_args(args: argparse.Namespace) -> tuple[list, list]:
    """The nodes ``--device`` makes and the rules it and ``--device-cgroup-rule`` add
    (in that order, as Docker puts them)."""
    from minicontainer.config import Device, DeviceRule

    nodes, rules = [], []
    for spec in args.device:
        node, rule = Device.parse(spec)
        nodes.append(node)
        rules.append(rule)
    rules += [DeviceRule.parse(spec) for spec in args.device_cgroup_rule]
    return nodes, rules


def _network_from_args(args: argparse.Namespace, net_shared: bool) -> dict:
    """The network fields ``--net``, ``-p`` and ``--subnet`` ask for; ``--share net``
    is ``--net host``."""
    from minicontainer.config import ConfigError

    mode, _, target = args.net.partition(":")
    if mode not in ("none", "host", "bridge", "container") or (mode == "container") != bool(
            target):
        raise ConfigError("net", args.net, "is not none, host, bridge or container:ID")
    if net_shared and mode in ("bridge", "container"):
        raise ConfigError("share", "net", f"contradicts --net {args.net}")
    if net_shared:
        mode = "host"
    if args.subnet is not None and mode != "bridge":
        raise ConfigError("subnet", args.subnet, "needs --net bridge")
    fields: dict = {"network": mode}
    if args.subnet is not None:
        fields["subnet"] = args.subnet
    if mode == "host" and not net_shared:
        print("minicontainer: warning: --net host: the container shares the host's network "
              "stack, so it can reach services listening on the host's loopback and its "
              "abstract unix sockets", file=sys.stderr)
    if mode == "container":
        from minicontainer import lifecycle
        from minicontainer.errors import ContainerError

        try:
            state = lifecycle.get(_store(args), target)
        except ContainerError:
            raise ConfigError("net", args.net, "names no such container") from None
        if state["status"] != "running":
            raise ConfigError("net", args.net, f"names a container that is {state['status']}")
        fields["network_path"] = f"/proc/{state['pid']}/ns/net"
    if args.publish:
        from minicontainer.network import PortMapping

        ports = []
        for spec in args.publish:
            try:
                ports.append(PortMapping.parse(spec))
            except ValueError as e:
                raise ConfigError("publish", spec, str(e)) from None
        fields["ports"] = ports
    return fields


_HYGIENE_OPTIONS = {"fd-hygiene": "close_fds", "new-session": "new_session"}


def _hygiene_from_args(security_opt: list[str]) -> dict:
    """The fd hygiene and new session switches (``--security-opt fd-hygiene=false``,
    ``new-session=false``).  ``--privileged`` leaves them on, as Docker's does: they
    guard against leaks of the runtime itself, not against what a privilege allows."""
    fields = {}
    for opt in security_opt:
        key, _, value = opt.partition("=")
        if key in _HYGIENE_OPTIONS and value in ("true", "false"):
            fields[_HYGIENE_OPTIONS[key]] = value == "true"
    return fields


def _apparmor_from_args(security_opt: list[str]) -> dict:
    """The AppArmor profile ``--security-opt apparmor=PROFILE|unconfined`` names (the
    last one given), as a field; none given leaves the default."""
    from minicontainer.config import ConfigError, check_apparmor_profile

    fields = {}
    for opt in security_opt:
        key, _, value = opt.partition("=")
        if key == "apparmor":
            try:
                fields["apparmor_profile"] = check_apparmor_profile(value)
            except ConfigError:
                raise ConfigError("security-opt", opt, "names no AppArmor profile (letters, "
                                  "digits and _ / . @ + = -; or unconfined)") from None
    return fields


def _hardening_from_args(args: argparse.Namespace, uid: int) -> dict:
    """The capability, no_new_privs, seccomp and system-path fields the flags ask for."""
    from minicontainer import capabilities
    from minicontainer.config import DEFAULT_CAPABILITIES, ConfigError

    for flag, names in (("cap-add", args.cap_add), ("cap-drop", args.cap_drop)):
        for name in names:
            try:
                capabilities.normalize(name)
            except ValueError:
                raise ConfigError(flag, name, "is not a capability") from None
    if args.privileged:
        print("minicontainer: warning: --privileged: every capability, no seccomp, no "
              "no_new_privs, nothing masked, /proc/sys and /sys writable, every device "
              "usable, no AppArmor profile", file=sys.stderr)
        return {"capabilities": capabilities.ALL, "no_new_privileges": False,
                "seccomp": False, "masked_paths": [], "readonly_paths": [],
                "sys_readonly": False, "device_cgroup": False, "apparmor_profile": "unconfined",
                **_hygiene_from_args(args.security_opt), **_apparmor_from_args(args.security_opt)}
    caps, added = capabilities.resolve(DEFAULT_CAPABILITIES, args.cap_add, args.cap_drop)
    fields: dict = {"capabilities": caps, "ambient_capabilities": added if uid != 0 else set(),
                    **_hygiene_from_args(args.security_opt),
                    **_apparmor_from_args(args.security_opt)}
    for opt in args.security_opt:
        key, _, value = opt.partition("=")
        if key == "no-new-privileges" and value in ("", "true", "false"):
            fields["no_new_privileges"] = value != "false"
        elif key == "seccomp" and value == "unconfined":
            fields["seccomp"] = False
        elif key == "seccomp" and value:
            from minicontainer import seccomp

            fields["seccomp_profile"] = seccomp.load_file(value)
        elif opt == "systempaths=unconfined":
            fields["masked_paths"] = []
            fields["readonly_paths"] = []
        elif opt == "devices=unconfined":
            fields["device_cgroup"] = False
        elif (key in _HYGIENE_OPTIONS and value in ("true", "false")) or key == "apparmor":
            pass  # read by _hygiene_from_args and _apparmor_from_args
        else:
            raise ConfigError("security-opt", opt, "is not no-new-privileges=true|false, "
                              "seccomp=unconfined|FILE, systempaths=unconfined, "
                              "devices=unconfined, fd-hygiene=true|false, "
                              "new-session=true|false or apparmor=PROFILE|unconfined")
    return fields


def _devices_show(args: argparse.Namespace) -> int:
    from minicontainer import devices

    _, rules = _devices_from_args(args)
    print(devices.listing(devices.compile_rules(devices.effective_rules(rules))))
    return 0


def _store(args: argparse.Namespace):
    from minicontainer.state import StateStore

    return StateStore(args.root)


def _run(args: argparse.Namespace) -> int:
    from minicontainer.config import ConfigError
    from minicontainer.runtime import Container

    if args.bundle is not None or args.systemd_cgroup:
        from minicontainer import oci_command

        oci_command.check_systemd_cgroup(args)  # refuses --systemd-cgroup, bundle or not
        return oci_command.run_bundle(args)
    for option, value in (("pid-file", args.pid_file), ("console-socket", args.console_socket),
                          ("no-pivot", args.no_pivot), ("no-new-keyring", args.no_new_keyring),
                          ("preserve-fds", args.preserve_fds != "0" and args.preserve_fds)):
        if value:
            raise ConfigError(option, value, "goes with --bundle (runc's run of a bundle)")
    if args.rm and not args.detach:
        raise ConfigError("rm", "--rm", "goes with -d: a foreground container is always removed")
    if args.detach and args.tty:
        raise ConfigError("tty", "-t", "cannot go with -d: nothing would hold the terminal; "
                          "use `minicontainer exec -it ID sh` on the running container")
    if args.detach and args.stats:
        raise ConfigError("stats", "--stats", "goes with a foreground run; for a detached "
                          "container use `minicontainer stats ID`")
    log_max_size = _log_max_size(args.log_opt)
    if args.log_opt and not args.detach:
        raise ConfigError("log-opt", args.log_opt[0], "goes with -d: a foreground container "
                          "writes to the terminal, not to a log")
    container = Container(config_from_args(args), args.name, root=args.root)
    if args.detach:
        print(container.start(auto_remove=args.rm, log_max_size=log_max_size))
        return 0
    code = container.run()
    if args.stats and container.final_stats is not None:
        print(format_stats(container.final_stats), file=sys.stderr)
    return code


def _log_max_size(options: list[str]) -> int | None:
    """``--log-opt max-size=SIZE`` (the only option there is) -> bytes."""
    from minicontainer.config import ConfigError, parse_size

    size = None
    for option in options:
        key, sep, value = option.partition("=")
        if key != "max-size" or not sep:
            raise ConfigError("log-opt", option, "is not max-size=SIZE")
        size = parse_size("log-opt max-size", value)
    return size


def format_stats(stats: dict) -> str:
    """One line a figure, the unavailable ones left out."""
    return "\n".join(f"{name:20} {value}" for name, value in stats.items() if value is not None)


def _rootfs_build(args: argparse.Namespace) -> int:
    from minicontainer import rootfs

    path = rootfs.build_busybox(args.dir or rootfs.stored(rootfs.DEFAULT_NAME))
    print(path)
    return 0


def _rootfs_import(args: argparse.Namespace) -> int:
    from minicontainer import rootfs
    from minicontainer.config import parse_int, parse_size

    print(rootfs.import_tarball(args.tarball, args.name,
                                max_size=parse_size("max-size", args.max_size),
                                max_members=parse_int("max-files", args.max_files, 1),
                                keep_setuid=args.keep_setuid))
    return 0


def _ps(args: argparse.Namespace) -> int:
    from minicontainer import lifecycle

    if args.id is not None:
        return _ps_of(args)
    containers = lifecycle.list_containers(_store(args), include_stopped=args.all)
    if args.format == "json":
        import json

        print(json.dumps(containers, indent=2))
        return 0
    print(f"{'ID':16} {'STATUS':12} {'PID':>7}  {'CREATED':20} COMMAND")
    for c in containers:
        status = c["status"]
        if status == "stopped" and c.get("exitCode") is not None:
            status = f"exited({c['exitCode']})"
        pid = c.get("pid") if c["status"] in ("running", "paused") else "-"
        command = " ".join(c.get("config", {}).get("process", {}).get("args", []))
        print(f"{c['id']:16} {status:12} {pid!s:>7}  {c.get('created', '?'):20} {command[:60]}")
    return 0


def _ps_of(args: argparse.Namespace) -> int:
    """runc's ``ps ID``: the container's processes, a JSON list of host pids, or the
    lines of the host's ``ps`` (``-ef`` unless told otherwise) that show them."""
    import subprocess

    from minicontainer import lifecycle
    from minicontainer.config import ConfigError
    from minicontainer.errors import ContainerError, describe

    if args.all:
        raise ConfigError("all", "-a", "lists containers: it cannot go with an ID")
    pids = set(lifecycle.processes(_store(args), args.id))
    if args.format == "json":
        if args.ps_args:
            raise ConfigError("format", "json", "takes no ps options")
        import json

        print(json.dumps(sorted(pids)))
        return 0
    try:
        table = subprocess.run(["ps", *(args.ps_args or ["-ef"])], capture_output=True,
                               text=True, check=True).stdout.splitlines()
    except OSError as e:
        raise ContainerError(f"ps: {describe(e)}") from None
    except subprocess.CalledProcessError as e:
        raise ContainerError(f"ps {' '.join(e.cmd[1:])}: {e.stderr.strip()}") from None
    header = table[0].split() if table else []
    if "PID" not in header:
        raise ConfigError("ps", " ".join(args.ps_args), "leaves out the PID column")
    column = header.index("PID")
    print(table[0])
    for line in table[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in pids:
            print(line)
    return 0


def _list(args: argparse.Namespace) -> int:
    """runc's ``list``: ID, PID, STATUS, BUNDLE, CREATED, OWNER (or JSON, or ids only)."""
    from minicontainer import lifecycle, oci
    from minicontainer.errors import ContainerError

    store = _store(args)
    states = []
    for record in lifecycle.list_containers(store):
        try:
            state = oci.state(store, record["id"])
        except ContainerError:
            continue  # removed since it was listed
        states.append({**state, "owner": _owner(store.dir(record["id"]))})
    if args.quiet:
        for state in states:
            print(state["id"])
    elif args.format == "json":
        import json

        print(json.dumps(states))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")] + [
            (s["id"], str(s["pid"]), s["status"], s["bundle"] or "", s["created"] or "",
             s["owner"]) for s in states]
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        for row in rows:
            cells = [cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True)]
            print("   ".join([*cells, row[5]]))
    return 0


def _owner(path: str) -> str:
    """The user name owning ``path`` (runc's OWNER column), ``#UID`` without one."""
    import pwd

    try:
        uid = os.stat(path).st_uid
    except OSError:
        return ""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def _logs(args: argparse.Namespace) -> int:
    from minicontainer import lifecycle

    sys.stdout.flush()
    lifecycle.follow_log(_store(args), args.id, sys.stdout.fileno(), args.follow)
    return 0


def _exec(args: argparse.Namespace) -> int:
    from minicontainer import lifecycle
    from minicontainer.config import MAX_PRESERVED_FDS, ConfigError, parse_int, parse_user

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    preserve_fds = parse_int("preserve-fds", args.preserve_fds, 0, MAX_PRESERVED_FDS)
    process = None
    if args.process is not None:
        from minicontainer import process_spec

        for field, value in (("command", " ".join(command)), ("user", args.user),
                             ("env", args.env and args.env[0]), ("cwd", args.workdir)):
            if value:
                raise ConfigError(field, value, "cannot go with --process: the process "
                                  "file is the whole process")
        process = process_spec.load(args.process)
        if args.tty and process.get("terminal") is not True:
            raise ConfigError("tty", "-t", f"contradicts {args.process}, whose "
                              "process.terminal is not true")
    elif not command:
        raise ConfigError("command", "", "is missing: minicontainer exec ID COMMAND "
                          "(or --process FILE)")
    uid, gid = parse_user(args.user) if args.user else (None, None)
    return lifecycle.exec_in(_store(args), args.id, command, tty=args.tty, uid=uid, gid=gid,
                             env=args.env, cwd=args.workdir, process=process,
                             detach=args.detach, pid_file=args.pid_file,
                             console_socket=args.console_socket, preserve_fds=preserve_fds)


def _kill(args: argparse.Namespace) -> int:
    from minicontainer import lifecycle

    lifecycle.kill(_store(args), args.id, lifecycle.parse_signal(args.signal),
                   every_process=args.all)
    return 0


def _stop(args: argparse.Namespace) -> int:
    from minicontainer import lifecycle
    from minicontainer.config import parse_duration

    lifecycle.stop(_store(args), args.id, parse_duration("time", args.time))
    print(args.id)
    return 0


def _rm(args: argparse.Namespace) -> int:
    from minicontainer import lifecycle
    from minicontainer.config import ConfigError
    from minicontainer.errors import ContainerError

    store = _store(args)
    if args.all:
        return _report_removed(*lifecycle.cleanup(store, everything=args.force))
    if not args.ids:
        raise ConfigError("id", "", "is missing: minicontainer rm [-f] ID... (or --all)")
    removed, failed = [], {}
    for container_id in args.ids:
        try:
            lifecycle.remove(store, container_id, args.force)
            removed.append(container_id)
        except ContainerError as e:
            failed[container_id] = str(e)
    return _report_removed(removed, failed)


def _cleanup(args: argparse.Namespace) -> int:
    from minicontainer import lifecycle
    from minicontainer.escapes.base import stale_workdirs
    from minicontainer.state import remove_tree

    removed, failed = lifecycle.cleanup(_store(args))
    for workdir in stale_workdirs():  # an escape demo killed before it could restore
        try:
            remove_tree(workdir)
            removed.append(workdir)
        except OSError as e:
            failed[workdir] = f"{workdir}: {e.strerror}"
    return _report_removed(removed, failed)


def _report_removed(removed: list[str], failed: dict[str, str]) -> int:
    """Print the removed ids; if some could not be removed, one error line for all."""
    from minicontainer.errors import ContainerError

    for container_id in removed:
        print(container_id)
    if len(failed) == 1:
        raise ContainerError(next(iter(failed.values())))
    if failed:
        raise ContainerError(f"{len(failed)} containers were not removed: "
                             + "; ".join(failed.values()))
    return 0


def _by_id(args: argparse.Namespace) -> int:
    from minicontainer import lifecycle

    store = _store(args)
    if args.command == "inspect":
        import json

        print(json.dumps(lifecycle.inspect(store, args.id), indent=2))
    elif args.command == "pause":
        lifecycle.pause(store, args.id)
    else:  # resume, or unpause; silent, as runc's (engines pass their stdout on)
        lifecycle.unpause(store, args.id)
    return 0


def _stats(args: argparse.Namespace) -> int:
    from minicontainer import lifecycle

    stats = lifecycle.stats(_store(args), args.id)
    if args.json:
        import json

        print(json.dumps(stats, indent=2))
    else:
        print(format_stats(stats))
    return 0


def _audit(args: argparse.Namespace) -> int:
    from minicontainer import audit
    from minicontainer.config import ConfigError

    if not (args.ids or args.all or args.config):
        raise ConfigError("id", "", "is missing: minicontainer audit ID... (or --all, or "
                          "--config FILE)")
    store = _store(args)
    ids = list(args.ids)
    if args.all:
        ids += [i for i in audit.running_ids(store) if i not in ids]
    reports = [audit.audit_container(store, container_id) for container_id in ids]
    if args.config:
        reports.append(audit.audit_config_file(args.config))
    if args.json:
        import json

        print(json.dumps([r.to_dict() for r in reports], indent=2))
    elif reports:
        print(audit.format_text(reports))
    else:
        print("no running containers to audit")
    return 1 if any(r.count("high") for r in reports) else 0


def _doctor(args: argparse.Namespace) -> int:
    from minicontainer import doctor

    findings = doctor.run_checks()
    for finding in findings:
        print(finding)
    failed = [f for f in findings if f.level == "fail"]
    print(f"\n{len(failed)} problem(s) stop containers here" if failed
          else "\nminicontainer can run here")
    return 1 if failed else 0


def _seccomp_show(args: argparse.Namespace) -> int:
    from minicontainer import capabilities, seccomp
    from minicontainer.config import DEFAULT_CAPABILITIES, ConfigError

    profile = seccomp.load_file(args.profile) if args.profile else seccomp.default_profile()
    if args.json:
        import json

        print(json.dumps(profile, indent=2))
        return 0
    for name in args.cap_add:
        try:
            capabilities.normalize(name)
        except ValueError:
            raise ConfigError("cap-add", name, "is not a capability") from None
    caps, _ = capabilities.resolve(DEFAULT_CAPABILITIES, args.cap_add, [])
    if args.by_arch:
        titles, rows = seccomp.by_arch(profile, caps)
        widths = [max(len(row[i]) for row in [titles, *rows]) for i in range(len(titles) - 1)]
        for row in [titles, *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)),
                  row[-1])
        return 0
    syscall_filter = seccomp.build(profile, caps)
    sys.stdout.flush()
    if not args.bpf:
        syscall_filter.export(sys.stdout.fileno())
        return 0
    import struct
    import tempfile

    with tempfile.TemporaryFile() as raw:
        syscall_filter.export(raw.fileno(), bpf=True)
        raw.seek(0)
        program = raw.read()
    print(f"{'#':>5}  {'code':>6} {'jt':>3} {'jf':>3}  k")
    for i in range(0, len(program), 8):
        code, jt, jf, k = struct.unpack("=HBBI", program[i:i + 8])
        print(f"{i // 8:5}  0x{code:04x} {jt:3} {jf:3}  0x{k:08x}")
    return 0


def _seccomp_check(args: argparse.Namespace) -> int:
    from minicontainer import seccomp

    profile = seccomp.load_file(args.file)
    for warning in seccomp.validate(profile):
        print(f"minicontainer: warning: {warning}", file=sys.stderr)
    rules = profile.get("syscalls", [])
    print(f"{args.file}: valid, default action {profile['defaultAction']}, {len(rules)} rules")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Without ``argv`` this is the process's own command (``sys.argv``), and it ends
    the process when done (see :func:`_end_process`) rather than return.
    """
    if argv is not None:
        return _main(argv)
    _end_process(_main(sys.argv[1:]))


def _end_process(code: int) -> None:
    """Exit with ``code`` (never returns), skipping the interpreter's teardown.

    Freeing every module and object one by one costs each ``run`` and ``exec``
    about 8 ms and frees nothing the kernel would not free at the exit anyway.
    What must happen at an exit still happens: the atexit handlers run and stdout
    and stderr are flushed.  A process whose threads still run ends the usual way,
    which waits for them.
    """
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        sys.exit(code)  # the usual exit reports what could not be written
    os._exit(code)


def _main(argv: list[str]) -> int:
    if os.environ.get("MINICONTAINER_TIMING") == "1":
        from minicontainer import timing

        timing.install()  # docs/performance.md: where each millisecond goes
    args = build_parser(_command_in(argv)).parse_args(argv)
    if args.debug:
        os.environ["MINICONTAINER_DEBUG"] = "1"
    try:
        from minicontainer.config import parse_state_root

        args.root = parse_state_root(args.root)
        return args.handler(args)
    except BrokenPipeError:
        # The reader went away (`| head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        from minicontainer.errors import EXIT_RUNTIME_ERROR, describe

        if args.log:
            _log(args.log, args.log_format, "error", describe(e))
        if args.debug:
            raise
        code = getattr(e, "exit_code", EXIT_RUNTIME_ERROR)
        print(f"minicontainer: error: {describe(e)}", file=sys.stderr)
        return code


def _log(path: str, log_format: str, level: str, message: str) -> None:
    """Append one line to ``--log`` as runc writes it: ``{"level", "msg", "time"}`` in
    json, ``time="..." level=... msg="..."`` in text.  The line on stderr is the
    error itself, so a log that cannot be written is only a warning."""
    import json
    import time

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if log_format == "json":
        line = json.dumps({"level": level, "msg": message, "time": now})
    else:
        line = f"time={json.dumps(now)} level={level} msg={json.dumps(message)}"
    try:
        with open(path, "a") as f:
            f.write(line + "\n")
    except OSError as e:
        print(f"minicontainer: warning: --log {path}: {e.strerror}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
