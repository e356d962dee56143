"""``minicontainer lab``: list, start, check and get help with the guided labs."""

from __future__ import annotations

import argparse
import sys
import time

EXIT_FAILED = 1


def add_parser(commands, parser_class) -> None:
    """Add ``lab`` and its subcommands to the CLI's subparsers."""
    lab = commands.add_parser(
        "lab", help="guided labs: build each isolation layer yourself, auto-checked",
        description="Guided labs, one per isolation layer and pitfall. Start with "
        "`lab list`, then `lab show 00`, `lab start 00`, `lab check 00`. A lab is named by "
        "its number (01) or its name (pid).")
    sub = lab.add_subparsers(dest="lab_command", required=True, parser_class=parser_class)

    def add(name: str, handler, help: str, takes_lab: bool = True):
        command = sub.add_parser(name, help=help, description=help)
        if takes_lab:
            command.add_argument("lab", help="the lab's number (01) or name (pid)")
        command.add_argument("--workspace", metavar="DIR",
                             help="where the labs are copied (default ~/minicontainer-labs "
                             "of the invoking user)")
        command.set_defaults(handler=handler)
        return command

    add("list", _list, "the labs, with your progress", takes_lab=False)
    add("status", _status, "your progress, and the next lab to do", takes_lab=False)
    add("show", _show, "the lab's README")
    add("start", _start, "copy the lab's exercise to your workspace")
    add("check", _check, "check your work: each step PASS, FAIL (with a hint) or SKIP")
    run = add("run", _run, "run your exercise with minicontainer's Python (as `sudo`); "
              "its arguments go after --")
    run.add_argument("args", nargs=argparse.REMAINDER, help="-- then its arguments")
    hint = add("hint", _hint, "a hint: 1 a nudge, 2 the concept, 3 nearly the answer")
    hint.add_argument("level", nargs="?", help="1, 2 or 3 (default: the next one)")
    quiz = add("quiz", _quiz, "predict, then run: answers checked against a real run")
    quiz.add_argument("--answers", metavar="A,B,...", help="answer without asking (scripts)")
    solution = add("solution", _solution, "show the reference solution (asks first)")
    solution.add_argument("--yes", action="store_true", help="do not ask")
    reset = add("reset", _reset, "move your copy aside and start the lab afresh")
    reset.add_argument("--yes", action="store_true", help="do not ask")


def _lab(args: argparse.Namespace):
    from minicontainer import labs
    from minicontainer.config import ConfigError

    try:
        return labs.find(args.lab)
    except KeyError:
        known = ", ".join(lab.slug for lab in labs.all_labs())
        raise ConfigError("lab", args.lab, f"is not a lab; labs: {known}") from None


def _need_root(what: str) -> None:
    import os

    if os.geteuid() != 0:
        from minicontainer.errors import ContainerError

        raise ContainerError(f"lab {what} starts containers: run it with sudo")


def _context(args: argparse.Namespace):
    from minicontainer import labs

    lab = _lab(args)
    student = labs.Student.invoking()
    return lab, student, student.workspace(args.workspace, lab)


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = zip(row, widths, strict=True)
        print("  ".join(cell.ljust(width) for cell, width in cells).rstrip())


def _list(args: argparse.Namespace) -> int:
    from minicontainer import labs

    progress = labs.Progress(labs.Student.invoking())
    rows = [("LAB", "TITLE", "LAYER", "MIN", "STATUS")]
    rows += [(lab.slug, lab.title, lab.layer, str(lab.minutes), progress.status(lab))
             for lab in labs.all_labs()]
    _table(rows)
    return 0


def _status(args: argparse.Namespace) -> int:
    from minicontainer import labs

    student = labs.Student.invoking()
    progress = labs.Progress(student)
    all_labs = labs.all_labs()
    rows = [("LAB", "STATUS", "CHECKS", "HINTS", "QUIZ", "SOLUTION SEEN")]
    for lab in all_labs:
        record = progress.labs.get(lab.slug, {})
        rows.append((lab.slug, progress.status(lab), str(record.get("checks", 0)),
                     str(record.get("hints", 0)), record.get("quiz", "-"),
                     "yes" if record.get("solution_seen") else "no"))
    _table(rows)
    upcoming = [lab for lab in all_labs if progress.status(lab) != "passed"]
    if upcoming:
        print(f"\nnext: minicontainer lab show {upcoming[0].number}   ({upcoming[0].title})")
    print(f"progress kept in {progress.path}")
    return 0


def _show(args: argparse.Namespace) -> int:
    lab = _lab(args)
    text = lab.readme()
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
    else:
        sys.stdout.write(text)
    return 0


def _start(args: argparse.Namespace) -> int:
    from minicontainer import labs

    lab, student, workspace = _context(args)
    made = labs.start(lab, student, workspace)
    progress = labs.Progress(student)
    progress.of(lab).setdefault("started", time.strftime("%Y-%m-%dT%H:%M:%S"))
    progress.save()
    print(f"{lab.title}: your exercise is in {workspace}")
    for fixture in made:
        print(f"  prepared: {fixture}")
    print(f"read it with `minicontainer lab show {lab.number}`, then "
          f"`sudo minicontainer lab check {lab.number}`")
    return 0


def _check(args: argparse.Namespace) -> int:
    from minicontainer import labs

    _need_root("check")
    lab, student, workspace = _context(args)
    began = time.monotonic()
    results = labs.check(lab, workspace)
    for result in results:
        print(f"{result.verdict:4}  {result.title}")
        if result.detail:
            print(f"      {result.detail}".replace("\n", "\n      "))
        if result.hint:
            print(f"      hint: {result.hint}")
    failures = sum(r.verdict == labs.FAIL for r in results)
    counts = {v: sum(r.verdict == v for r in results) for v in (labs.PASS, labs.FAIL, labs.SKIP)}
    print(f"\n{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped "
          f"in {time.monotonic() - began:.1f} s")
    progress = labs.Progress(student)
    record = progress.of(lab)
    record["checks"] = record.get("checks", 0) + 1
    if not failures:
        record["passed"] = True
        record.setdefault("passed_at", time.strftime("%Y-%m-%dT%H:%M:%S"))
        print(f"lab {lab.slug} done. Next: `minicontainer lab status`")
    progress.save()
    return EXIT_FAILED if failures else 0


def _split_workspace(args: argparse.Namespace) -> list[str]:
    """The exercise's arguments of ``lab run``, once a ``--workspace`` given after LAB
    (argparse leaves it in the remainder) is taken out into ``args``."""
    rest = list(args.args)
    while rest and rest[0].startswith("--workspace"):
        option = rest.pop(0)
        if "=" in option:
            args.workspace = option.split("=", 1)[1]
        elif rest:
            args.workspace = rest.pop(0)
    return rest[1:] if rest[:1] == ["--"] else rest


def _run(args: argparse.Namespace) -> int:
    import os

    rest = _split_workspace(args)
    _need_root("run")
    lab, _, workspace = _context(args)
    program = os.path.join(workspace, lab.program)
    if not os.path.isfile(program):
        from minicontainer.config import ConfigError

        raise ConfigError("lab", args.lab, f"has no {program}: `lab start {lab.number}` first")
    from minicontainer import labs

    labs.prepare(lab, workspace)  # as before a check: the fixtures, if any went missing
    os.chdir(workspace)
    os.execv(sys.executable, [sys.executable, program, *rest])


def _hint(args: argparse.Namespace) -> int:
    from minicontainer import labs
    from minicontainer.config import ConfigError

    lab, student, _ = _context(args)
    progress = labs.Progress(student)
    record = progress.of(lab)
    try:
        level = labs.parse_hint_level(args.level, record.get("hints", 0))
    except ValueError as e:
        raise ConfigError("level", args.level, str(e)) from None
    print(f"hint {level} of 3 ({labs.HINT_LEVELS[level - 1]}):\n")
    print(lab.hints()[level - 1])
    record["hints"] = max(record.get("hints", 0), level)
    progress.save()
    return 0


def _quiz(args: argparse.Namespace) -> int:
    from minicontainer import labs
    from minicontainer.config import ConfigError

    _need_root("quiz")
    lab, student, workspace = _context(args)
    questions = lab.quiz()
    given = None
    if args.answers is not None:
        try:
            given = labs.parse_answers(args.answers, len(questions))
        except ValueError as e:
            raise ConfigError("--answers", args.answers, str(e)) from None
    right = 0
    for number, question in enumerate(questions, 1):
        print(f"{number}. {question['question']}")
        for letter, text in question["choices"].items():
            print(f"   {letter}) {text}")
        if given is not None:
            answer = given[number - 1]
            print(f"   your prediction: {answer}")
        else:
            try:
                answer = input("   your prediction: ").strip().upper()
            except EOFError:
                print("\nno answer: stopped")
                return EXIT_FAILED
        observed = labs.live_answer(lab, question["id"], workspace)
        truth = observed[0] if observed else question["answer"]
        if observed:
            print(f"   ran it: {observed[1]}")
        verdict = "right" if answer == truth else f"no: {truth}"
        right += answer == truth
        print(f"   {verdict}. {question['explain']}\n")
    print(f"{right}/{len(questions)} predicted right")
    progress = labs.Progress(student)
    progress.of(lab)["quiz"] = f"{right}/{len(questions)}"
    progress.save()
    return 0


def _confirmed(args: argparse.Namespace, question: str) -> bool:
    if args.yes:
        return True
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _solution(args: argparse.Namespace) -> int:
    from minicontainer import labs

    lab, student, _ = _context(args)
    if not _confirmed(args, "Try `lab hint` first? The solution spoils the lab. Show it"):
        print("not shown")
        return EXIT_FAILED
    for name in labs.solution_files(lab):
        path = lab.file("solution", name)
        print(f"==> {path} <==")
        with open(path) as f:
            sys.stdout.write(f.read())
        print()
    progress = labs.Progress(student)
    progress.of(lab)["solution_seen"] = True
    progress.save()
    return 0


def _reset(args: argparse.Namespace) -> int:
    from minicontainer import labs

    lab, student, workspace = _context(args)
    if not _confirmed(args, f"Move {workspace} aside and start {lab.slug} afresh?"):
        print("not reset")
        return EXIT_FAILED
    backup = labs.reset(lab, student, workspace)
    progress = labs.Progress(student)
    progress.labs.pop(lab.slug, None)
    progress.of(lab)["started"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    progress.save()
    if backup:
        print(f"your previous copy is in {backup}")
    print(f"a fresh exercise is in {workspace}")
    return 0

