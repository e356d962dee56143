"""The OCI subcommands of ``minicontainer``, spelled as runc spells them:
``create``, ``start``, ``state``, ``delete``, ``spec``, ``features`` (``kill`` and
``run --bundle`` are in :mod:`minicontainer.cli`, shared with the other commands)."""

from __future__ import annotations

import argparse

_HELP = {
    "create": "OCI: set up a container from a bundle; its command waits for `start`",
    "start": "OCI: run the command of a created container",
    "state": "OCI: print a container's state as JSON",
    "delete": "OCI: remove a stopped (or created) container and all it owns",
    "spec": "OCI: write a config.json with the hardened default profile",
    "features": "OCI: print what this runtime implements, as JSON",
}


def add_parser(commands, name: str) -> None:
    """Add the OCI subcommand ``name`` to the CLI's subparsers."""
    sub = commands.add_parser(name, help=_HELP[name], description=_DESCRIPTIONS.get(name))
    if name == "create":
        from minicontainer.cli import add_bundle_options

        add_bundle_options(sub)
    if name == "delete":
        sub.add_argument("-f", "--force", action="store_true",
                         help="kill a running container first")
    if name == "spec":
        sub.add_argument("-b", "--bundle", default=".", metavar="DIR",
                         help="where to write config.json (default: the current directory)")
        sub.add_argument("--rootfs", default="rootfs", metavar="PATH",
                         help="root.path: relative to the bundle, or absolute (default rootfs)")
    if name not in ("spec", "features"):
        sub.add_argument("id", help="the container's id")
    sub.set_defaults(handler=_HANDLERS[name])


_DESCRIPTIONS = {
    "create": "Set up the container ID from the bundle's config.json: namespaces, mounts, "
    "cgroup, seccomp, everything but the execve of the command, which waits until "
    "`minicontainer start ID`. The command keeps this call's stdin, stdout and stderr.",
    "start": "Let the created container ID run its command; an error if it is not created.",
    "state": "Print the OCI state of ID: ociVersion, id, status (creating, created, running, "
    "paused, stopped), pid, bundle, annotations.",
    "delete": "Remove ID and everything it owns. A running container is refused unless "
    "--force; a created one is removed (its waiting process killed), as runc does.",
    "spec": "Write config.json, minicontainer's hardened default profile running sh, into "
    "the bundle directory; an existing config.json is never overwritten.",
    "features": "Print the runtime spec's features document: OCI versions, namespaces, "
    "capabilities, cgroup, seccomp actions, operators and architectures.",
}


def check_systemd_cgroup(args: argparse.Namespace) -> None:
    """``--systemd-cgroup`` would put the container in a systemd unit; minicontainer
    writes its own cgroupfs tree, so a start asking for it is refused."""
    from minicontainer.config import ConfigError

    if args.systemd_cgroup:
        raise ConfigError("systemd-cgroup", True, "is not supported: minicontainer manages "
                          "/sys/fs/cgroup/minicontainer/ID itself (for podman: "
                          "--cgroup-manager cgroupfs)")


def create_from_args(args: argparse.Namespace) -> int:
    """``create`` (and the first half of ``run --bundle -d``): the container's pid."""
    from minicontainer import oci

    check_systemd_cgroup(args)
    return oci.create(_store(args), args.id, args.bundle, pid_file=args.pid_file,
                      console_socket=args.console_socket, no_pivot=args.no_pivot,
                      preserve_fds=_preserve_fds(args))


def _preserve_fds(args: argparse.Namespace) -> int:
    from minicontainer.config import MAX_PRESERVED_FDS, parse_int

    return parse_int("preserve-fds", args.preserve_fds, 0, MAX_PRESERVED_FDS)


def run_bundle(args: argparse.Namespace) -> int:
    """``run --bundle DIR ID``: create and start; in the foreground (the default) wait
    for the command, relay its terminal (unless --console-socket), and return its
    exit code, removing the container; with ``-d`` return once it runs."""
    from minicontainer import lifecycle, oci
    from minicontainer.config import ConfigError

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if len(command) != 1:
        raise ConfigError("id", " ".join(command), "is not one container id: with --bundle, "
                          "run takes `run --bundle DIR ID` (config.json has the command)")
    args.id = command[0]
    _check_only_bundle_options(args)
    check_systemd_cgroup(args)
    if args.detach:
        create_from_args(args)
        try:
            oci.start(_store(args), args.id)
        except BaseException:
            lifecycle.remove(_store(args), args.id, force=True)  # as runc: a failed run leaves none
            raise
        return 0
    if args.pid_file:
        raise ConfigError("pid-file", args.pid_file, "goes with run -d (or create)")
    container = oci.bundle_container(_store(args), args.id, args.bundle,
                                     console_socket=args.console_socket,
                                     no_pivot=args.no_pivot, preserve_fds=_preserve_fds(args))
    return container.run()


# What run's config flags are when not given; with --bundle, config.json decides them.
_BUNDLE_COMPATIBLE = {"bundle", "pid_file", "console_socket", "no_pivot", "no_new_keyring",
                      "preserve_fds", "detach", "command", "id", "handler", "debug", "root",
                      "log", "log_format", "systemd_cgroup"}


def _check_only_bundle_options(args: argparse.Namespace) -> None:
    from minicontainer.cli import build_parser
    from minicontainer.config import ConfigError

    defaults = build_parser("run").parse_args(["run", "--", "true"])
    for key, value in vars(args).items():
        if key not in _BUNDLE_COMPATIBLE and getattr(defaults, key, value) != value:
            raise ConfigError(key.replace("_", "-"), value, "cannot go with --bundle: the "
                              "bundle's config.json says how the container is made")


def _store(args: argparse.Namespace):
    from minicontainer.state import StateStore

    return StateStore(args.root)


def _create(args: argparse.Namespace) -> int:
    create_from_args(args)
    return 0


def _start(args: argparse.Namespace) -> int:
    from minicontainer import oci

    oci.start(_store(args), args.id)
    return 0


def _state(args: argparse.Namespace) -> int:
    import json

    from minicontainer import oci

    print(json.dumps(oci.state(_store(args), args.id), indent=2))
    return 0


def _delete(args: argparse.Namespace) -> int:
    from minicontainer import oci

    oci.delete(_store(args), args.id, args.force)
    return 0


def _spec(args: argparse.Namespace) -> int:
    from minicontainer import oci

    oci.write_spec(args.bundle, args.rootfs)
    return 0


def _features(args: argparse.Namespace) -> int:
    import json

    from minicontainer import oci

    print(json.dumps(oci.features(), indent=2))
    return 0


_HANDLERS = {"create": _create, "start": _start, "state": _state, "delete": _delete,
             "spec": _spec, "features": _features}
