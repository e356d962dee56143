"""The lab command's parsing, the lab files' shape, and where progress is kept."""

from __future__ import annotations

import argparse
import json
import os

import pytest

from minicontainer import lab_command, labs


def test_answers_are_letters_separated_by_commas():
    assert labs.parse_answers("a, B,c", 3) == ["A", "B", "C"]


@pytest.mark.parametrize("text", ["A,B", "A,B,C,D", "A,BB,C", "1,2,3", ""])
def test_answers_of_the_wrong_count_or_shape_are_refused(text):
    with pytest.raises(ValueError, match="3 letters"):
        labs.parse_answers(text, 3)


def test_hint_level_by_number_name_or_next_unseen():
    assert labs.parse_hint_level("2", 0) == 2
    assert labs.parse_hint_level("nearly", 0) == 3
    assert labs.parse_hint_level(None, 0) == 1
    assert labs.parse_hint_level(None, 1) == 2
    assert labs.parse_hint_level(None, 3) == 3


@pytest.mark.parametrize("text", ["0", "4", "two", "-1"])
def test_bad_hint_levels_are_refused(text):
    with pytest.raises(ValueError, match="1, 2 or 3"):
        labs.parse_hint_level(text, 0)


@pytest.mark.parametrize("key", ["1", "01", "001", "pid", "01-pid"])
def test_a_lab_is_found_by_number_or_name(key):
    assert labs.find(key).slug == "01-pid"


def test_an_unknown_lab_names_the_known_ones():
    with pytest.raises(KeyError, match="00-preflight"):
        labs.find("rootfs-of-doom")


def test_labs_root_can_be_pointed_elsewhere(tmp_path, monkeypatch):
    lab = tmp_path / "07-caps"
    lab.mkdir()
    (lab / "README.md").write_text("intro\n# Lab 07: capabilities\n")
    (lab / "lab.json").write_text(json.dumps(
        {"layer": "capabilities", "pitfall": "shocker", "minutes": 25, "program": "caps.py"}))
    (tmp_path / "notes").mkdir()
    monkeypatch.setenv("MINICONTAINER_LABS", str(tmp_path))
    [found] = labs.all_labs()
    assert (found.number, found.name, found.title) == ("07", "caps", "Lab 07: capabilities")
    assert labs.find("7").path == str(lab)


@pytest.mark.parametrize("lab", labs.all_labs(), ids=lambda lab: lab.slug)
def test_every_lab_has_its_parts(lab):
    for part in ("README.md", "INSTRUCTOR.md", "checker.py", "hints.toml", "quiz.json",
                 "expect.toml"):
        assert os.path.isfile(lab.file(part)), part
    assert os.path.isfile(lab.file("exercise", lab.program))
    assert os.path.isfile(lab.file("solution", lab.program))
    assert lab.title.startswith(f"Lab {lab.number}: ")


@pytest.mark.parametrize("lab", labs.all_labs(), ids=lambda lab: lab.slug)
def test_every_lab_is_a_page_of_the_docs(lab):
    docs = os.path.join(os.path.dirname(labs.labs_root()), "docs", "labs")
    with open(os.path.join(docs, f"{lab.slug}.md")) as f:
        assert f"../../labs/{lab.slug}/README.md" in f.read(), "a MyST include, not a copy"
    with open(os.path.join(docs, "index.md")) as f:
        index = f.read()
    assert f"\n{lab.slug}\n" in index, "listed in the toctree of docs/labs/index.md"
    assert f"]({lab.slug}.md)" in index, "a row of the table in docs/labs/index.md"


@pytest.mark.parametrize("lab", labs.all_labs(), ids=lambda lab: lab.slug)
def test_every_hint_level_says_something(lab):
    hints = lab.hints()
    assert len(hints) == 3 and all(len(hint) > 40 for hint in hints)
    assert len(set(hints)) == 3


@pytest.mark.parametrize("lab", labs.all_labs(), ids=lambda lab: lab.slug)
def test_every_quiz_is_three_to_five_answerable_questions(lab):
    questions = lab.quiz()
    assert 3 <= len(questions) <= 5
    assert len({q["id"] for q in questions}) == len(questions)
    for question in questions:
        assert question["answer"] in question["choices"], question["id"]
        assert question["question"] and question["explain"]


@pytest.mark.parametrize("lab", labs.all_labs(), ids=lambda lab: lab.slug)
def test_every_step_has_a_title(lab):
    for step in lab.checker().STEPS:
        assert step.__doc__ and step.__doc__.strip(), step.__name__


def test_progress_goes_to_the_xdg_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    student = labs.Student("ann", os.getuid(), os.getgid(), str(tmp_path / "home"))
    assert student.state_file() == str(tmp_path / "state" / "minicontainer" / "labs.json")
    monkeypatch.delenv("XDG_STATE_HOME")
    assert student.state_file() == str(
        tmp_path / "home" / ".local" / "state" / "minicontainer" / "labs.json")
    lab = labs.find("00")
    assert student.workspace(None, lab) == str(tmp_path / "home" / "minicontainer-labs" /
                                               "00-preflight")
    assert student.workspace("/w", lab) == "/w/00-preflight"


def test_progress_round_trips(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    student = labs.Student("ann", os.getuid(), os.getgid(), str(tmp_path))
    progress = labs.Progress(student)
    lab = labs.find("pid")
    assert progress.status(lab) == "-"
    progress.of(lab)["passed"] = True
    progress.save()
    assert labs.Progress(student).status(lab) == "passed"


def test_the_invoking_user_is_sudo_user_under_sudo(monkeypatch):
    monkeypatch.setenv("SUDO_USER", "nobody")
    student = labs.Student.invoking()
    if os.geteuid() == 0:
        assert (student.name, student.uid) == ("nobody", 65534)
    else:
        assert student.uid == os.getuid()


def _run_args(*rest: str) -> argparse.Namespace:
    return argparse.Namespace(args=list(rest), workspace=None)


def test_lab_run_takes_workspace_after_the_lab():
    args = _run_args("--workspace", "/w", "--", "sh", "-c", "echo $$")
    assert lab_command._split_workspace(args) == ["sh", "-c", "echo $$"]
    assert args.workspace == "/w"
    args = _run_args("--workspace=/v", "--", "--share", "net")
    assert lab_command._split_workspace(args) == ["--share", "net"]
    assert args.workspace == "/v"


def test_lab_run_leaves_the_exercise_arguments_alone():
    args = _run_args("--", "--workspace", "x")
    assert lab_command._split_workspace(args) == ["--workspace", "x"]
    assert args.workspace is None
