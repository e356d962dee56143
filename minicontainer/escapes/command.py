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
    run.add_argument("--narrate", action="store_true",
                     help="instructor mode: show each step (setup, attack, answer, proof, "
                     "verdict, layer) and wait for Enter between them")
    run.add_argument("--pace", metavar="SECONDS",
                     help="with --narrate: advance by itself after SECONDS")
    run.add_argument("flags", nargs=argparse.REMAINDER,
                     help="-- then flags of `run` to attack with instead")
    run.set_defaults(handler=_run)
    matrix = sub.add_parser(
        "matrix", help="which layer alone stops which escape, measured live",
        description="Run every escape against its weakening with one layer put back at a "
        "time, and against the default with one layer taken away at a time; print which "
        "layers block it.")
    matrix.add_argument("--format", choices=["text", "md", "json", "html"], default="text",
                        help="a table for the terminal (default), Markdown, JSON with the "
                        "evidence of every run, or an HTML page")
    matrix.add_argument("--only", metavar="NAME,...", help="only these escapes")
    matrix.add_argument("--parallel", type=int, default=2, metavar="N",
                        help="containers at once (default 2, the fastest on 2 cores); "
                        "escapes with host changes run alone")
    matrix.add_argument("--allow-host-changes", action="store_true",
                        help="also run the escapes that change kernel-wide state; for a VM")
    matrix.set_defaults(handler=_matrix)


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
    width = _terminal_width()
    if width:
        widths = _fit(widths, width)
    wrapped = [_wrap_row(row, widths) for row in rows]
    spaced = any(len(lines) > 1 for lines in wrapped)  # a blank line tells rows apart
    for number, lines in enumerate(wrapped):
        if spaced and number:
            print()
        print("\n".join(lines))
    return 0


def _terminal_width() -> int | None:
    """The width to fit a table to: the terminal's (or $COLUMNS); None when piped,
    so that each row stays one line for grep."""
    import os
    import shutil
    import sys

    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        return None
    return shutil.get_terminal_size().columns


def _fit(widths: list[int], total: int, gap: int = 2, narrowest: int = 12) -> list[int]:
    """Column widths that fit ``total``: the widest columns (never the first, the
    names) give up characters first, down to ``narrowest``."""
    widths = list(widths)
    while sum(widths) + gap * (len(widths) - 1) > total:
        widest = max(range(1, len(widths)), key=lambda i: widths[i])
        if widths[widest] <= narrowest:
            break
        widths[widest] -= 1
    return widths


def _wrap_row(row, widths: list[int]) -> list[str]:
    """One table row as lines, each cell wrapped to its column."""
    import textwrap

    cells = [textwrap.wrap(cell, w, break_on_hyphens=False) or [""]
             for cell, w in zip(row, widths, strict=True)]
    height = max(len(c) for c in cells)
    return ["  ".join((c[i] if i < len(c) else "").ljust(w)
                      for c, w in zip(cells, widths, strict=True)).rstrip()
            for i in range(height)]


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
                "--allow-host-changes": "allow_host_changes", "--narrate": "narrate"}
_RUN_VALUE_OPTIONS = {"--pace": "pace"}


def _split_options(args: argparse.Namespace) -> list[str]:
    """The flags of ``run`` to attack with; the options before them set on ``args``.

    argparse hands everything after NAME to the remainder (dropping a ``--``), so
    that flags of ``run`` are never taken for options of ``escape run``: leading
    options are picked off here, the rest are ``run`` flags.
    """
    from minicontainer.config import ConfigError

    rest = list(args.flags)
    while rest:
        option, has_value, value = rest[0].partition("=")
        if option in _RUN_OPTIONS and not has_value:
            setattr(args, _RUN_OPTIONS[rest.pop(0)], True)
        elif option in _RUN_VALUE_OPTIONS:
            rest.pop(0)
            if not has_value:
                if not rest:
                    raise ConfigError(option, "", "needs a value")
                value = rest.pop(0)
            setattr(args, _RUN_VALUE_OPTIONS[option], value)
        else:
            break
    return rest[1:] if rest[:1] == ["--"] else rest


def _pace(args: argparse.Namespace) -> float | None:
    """The seconds between narrated steps; None to wait for Enter."""
    from minicontainer.config import ConfigError

    if args.pace is None:
        return None
    if not args.narrate:
        raise ConfigError("--pace", args.pace, "goes with --narrate")
    try:
        seconds = float(args.pace)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise ConfigError("--pace", args.pace, "is not a number of seconds from 0 to 3600")
    return seconds


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
    pace = _pace(args)
    if args.narrate:
        if args.json:
            raise ConfigError("--json", True, "does not go with --narrate")
        from minicontainer.escapes import narrate

        outcome = narrate.narrate(escape, flags, pace, args.allow_host_changes)
        return 0 if outcome.verdict in ("ESCAPED", "BLOCKED", "SKIP") else EXIT_USAGE
    outcome = runner.run_one(escape, runner.config_for(escape, flags),
                             allow_host_changes=args.allow_host_changes)
    if args.json:
        print(json.dumps({"escape": escape.name, "flags": flags, **outcome.to_dict()}))
    else:
        against = " ".join(flags) if flags else "the hardened default"
        print(f"{escape.name} against {against}: {outcome.verdict}")
        for line in outcome.evidence.splitlines():
            print(f"  {line}")
    return 0 if outcome.verdict in ("ESCAPED", "BLOCKED", "SKIP") else EXIT_USAGE



def _matrix(args: argparse.Namespace) -> int:
    import sys

    from minicontainer import escapes
    from minicontainer.config import ConfigError
    from minicontainer.escapes import matrix

    if args.only:
        chosen = [_find(name.strip()) for name in args.only.split(",") if name.strip()]
    else:
        chosen = escapes.catalogue()
    if not 1 <= args.parallel <= 64:
        raise ConfigError("--parallel", args.parallel, "is not from 1 to 64")
    if sys.stderr.isatty():
        print(f"minicontainer: measuring {len(chosen)} escapes live, "
              f"{args.parallel} containers at a time...", file=sys.stderr)
    measured = matrix.build(chosen, parallel=args.parallel,
                            allow_host_changes=args.allow_host_changes)
    print(matrix.RENDERERS[args.format](measured), end="")
    return 0
