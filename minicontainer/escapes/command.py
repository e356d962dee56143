"""``minicontainer escape``: list, show and run the escapes of the catalogue."""

from __future__ import annotations

import argparse
import json

EXIT_USAGE = 125


def add_parser(commands, parser_class) -> None:
    """Add ``escape`` and its subcommands to the CLI's subparsers."""
    escape = commands.add_parser(
        "escape", help="classic container escapes: see them fail, weaken, see them work",
        description="Run a classic container escape against the hardened default (it is "
        "BLOCKED, with the evidence) or against its documented weakening (it ESCAPES, with "
        "the proof). Proofs are nonce markers the demo plants and removes.")
    sub = escape.add_subparsers(dest="escape_command", required=True,
                                parser_class=parser_class)
    listing = sub.add_parser("list", help="the catalogue as a table")
    listing.add_argument("--json", action="store_true", help="as JSON")
    listing.set_defaults(handler=_list)
    show = sub.add_parser("show", help="the story and the attack of one escape")
    show.add_argument("name")
    show.set_defaults(handler=_show)
    run = sub.add_parser(
        "run", help="run one escape",
        description="Run NAME against the hardened default, against its weakening "
        "(--weakened), or with any flags of `run` given after --.")
    run.add_argument("name")
    run.add_argument("--weakened", action="store_true",
                     help="apply the escape's documented weakening")
    run.add_argument("--allow-host-changes", action="store_true",
                     help="let an escape that changes kernel-wide state run weakened "
                     "(it saves and restores what it changes); for a VM")
    run.add_argument("--json", action="store_true", help="print the outcome as JSON")
    run.add_argument("flags", nargs=argparse.REMAINDER,
                     help="-- then flags of `run` to attack with instead")
    run.set_defaults(handler=_run)


def _find(name: str):
    from minicontainer import escapes
    from minicontainer.config import ConfigError

    try:
        return escapes.find(name)
    except KeyError:
        known = ", ".join(e.name for e in escapes.catalogue())
        raise ConfigError("escape", name, f"is not an escape; known: {known}") from None


def _list(args: argparse.Namespace) -> int:
    from minicontainer import escapes

    catalogue = escapes.catalogue()
    if args.json:
        print(json.dumps([e.to_dict() for e in catalogue], indent=2))
        return 0
    rows = [("NAME", "ATTACKS", "INCIDENT", "WEAKENING", "STOPPED BY")]
    rows += [(e.name, e.attacks, e.incident, " ".join(e.weakening), ", ".join(e.stopped_by))
             for e in catalogue]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _show(args: argparse.Namespace) -> int:
    escape = _find(args.name)
    print(f"{escape.name}: {escape.title}\n")
    print(escape.explanation())
    print(f"\nattacks:    {escape.attacks}\nincident:   {escape.incident}")
    print(f"scenario:   {' '.join(escape.scenario) or '(none)'}")
    print(f"weakening:  {' '.join(escape.weakening)}")
    print(f"stopped by: {', '.join(escape.stopped_by)}")
    if escape.host_changes:
        print("host:       changes kernel-wide state (saved and restored); weakened runs "
              "need --allow-host-changes")
    missing = escape.missing()
    if missing:
        print(f"here:       SKIP ({missing})")
    print(f"\nthe attack ({escape.script_path}):\n")
    print(escape.script())
    return 0


_RUN_OPTIONS = {"--weakened": "weakened", "--json": "json",
                "--allow-host-changes": "allow_host_changes"}


def _split_options(args: argparse.Namespace) -> list[str]:
    """The flags of ``run`` to attack with; the options before them set on ``args``.

    argparse hands everything after NAME to the remainder (dropping a ``--``), so
    that flags of ``run`` are never taken for options of ``escape run``: leading
    options are picked off here, the rest are ``run`` flags.
    """
    rest = list(args.flags)
    while rest and rest[0] in _RUN_OPTIONS:
        setattr(args, _RUN_OPTIONS[rest.pop(0)], True)
    return rest[1:] if rest[:1] == ["--"] else rest


def _run(args: argparse.Namespace) -> int:
    from minicontainer.config import ConfigError
    from minicontainer.escapes import runner

    escape = _find(args.name)
    flags = _split_options(args)
    if args.weakened and flags:
        raise ConfigError("flags", " ".join(flags), "go instead of --weakened, not with it")
    if args.weakened:
        flags = escape.weakening
    if flags and escape.host_changes and not args.allow_host_changes:
        raise ConfigError("escape", escape.name, "changes kernel-wide state when it works; "
                          "run it weakened only in a VM, with --allow-host-changes")
    outcome = runner.run_one(escape, runner.config_for(escape, flags))
    if args.json:
        print(json.dumps({"escape": escape.name, "flags": flags, **outcome.to_dict()}))
    else:
        against = " ".join(flags) if flags else "the hardened default"
        print(f"{escape.name} against {against}: {outcome.verdict}")
        for line in outcome.evidence.splitlines():
            print(f"  {line}")
    return 0 if outcome.verdict in ("ESCAPED", "BLOCKED", "SKIP") else EXIT_USAGE

