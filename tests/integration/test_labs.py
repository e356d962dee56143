"""The labs are tested content: every checker passes the reference solution, fails the
untouched skeleton and known-wrong solutions with the hint tied to the reason, and the
quiz keys match what a real run shows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import labtests
import pytest

from helpers import mc
from minicontainer import labs
from minicontainer.namespaces import Namespace

LABS = labtests.slugs("host")


@pytest.mark.parametrize("slug", LABS)
def test_reference_solution_passes_in_time(slug, tmp_path):
    labtests.reference_solution_passes_in_time(slug, tmp_path)


@pytest.mark.parametrize("slug", LABS)
def test_untouched_skeleton_fails_with_its_hint(slug, tmp_path):
    labtests.untouched_skeleton_fails_with_its_hint(slug, tmp_path)


@pytest.mark.parametrize("variant", labtests.wrong_variants("host"))
def test_known_wrong_solution_fails(variant, tmp_path):
    labtests.known_wrong_solution_fails(variant, tmp_path)


@pytest.mark.parametrize("slug", LABS)
def test_quiz_key_matches_a_real_run(slug, tmp_path):
    labtests.quiz_key_matches_a_real_run(slug, tmp_path)


def _host_queue_keys() -> set[int]:
    with open("/proc/sysvipc/msg") as f:
        return {int(line.split()[0]) for line in f.readlines()[1:] if line.split()}


def test_stand_in_host_takes_what_would_change_the_host(tmp_path):
    name, key = f"stand-in-{os.getpid()}", 0x5E0000 + os.getpid() % 0xFFFF
    with open("/proc/self/mountinfo") as f:
        host_mounts = f.read()
    with labtests.HostnameWatch() as watch, labs.StandInHost(Namespace.UTS | Namespace.IPC |
                                                     Namespace.MNT) as host:
        inside = host.preexec(str(tmp_path))
        subprocess.run(["hostname", name], preexec_fn=inside, check=True)
        subprocess.run(["mount", "-t", "proc", "proc", "/proc"], preexec_fn=inside, check=True)
        host.make_queue(key)
        assert host.hostname() == name
        assert key in host.queue_keys()
        assert host.proc_mounts() == 2
        assert key not in _host_queue_keys()
    assert not watch.others
    with open("/proc/self/mountinfo") as f:
        assert f.read() == host_mounts


def test_quiz_falls_back_to_the_reference_for_a_broken_exercise(tmp_path):
    lab = labs.find("pid")
    workspace = labtests.copy(lab, "exercise", tmp_path)
    choice, evidence = labs.live_answer(lab, "own-pid", workspace)
    assert choice == "B" and "reference" in evidence


def _student_env(tmp_path) -> dict[str, str]:
    return {**os.environ, "SUDO_USER": "nobody", "XDG_STATE_HOME": str(tmp_path / "state")}


def test_start_copies_the_exercise_owned_by_the_invoking_user(tmp_path):
    env = _student_env(tmp_path)
    mc("lab", "start", "pid", "--workspace", str(tmp_path / "ws"), env=env, check=True)
    copy = tmp_path / "ws" / "01-pid"
    assert (copy / "mini_init.py").read_text() == \
        open(labs.find("pid").file("exercise", "mini_init.py")).read()
    nobody = 65534
    assert copy.stat().st_uid == nobody and (copy / "mini_init.py").stat().st_uid == nobody
    progress = tmp_path / "state" / "minicontainer" / "labs.json"
    assert progress.stat().st_uid == nobody
    assert "started" in json.loads(progress.read_text())["labs"]["01-pid"]
    again = mc("lab", "start", "01", "--workspace", str(tmp_path / "ws"), env=env)
    assert again.returncode == 125 and "lab reset 01" in again.stderr


def test_check_records_progress_and_exits_by_verdict(tmp_path):
    env = _student_env(tmp_path)
    ws = str(tmp_path / "ws")
    mc("lab", "start", "2", "--workspace", ws, env=env, check=True)
    failing = mc("lab", "check", "uts-ipc", "--workspace", ws, env=env)
    assert failing.returncode == 1
    assert "FAIL  COMMAND sees the hostname you gave" in failing.stdout
    assert "hint: " in failing.stdout
    shutil.copy(labs.find("02").file("solution", "uts_ipc.py"), os.path.join(ws, "02-uts-ipc"))
    passing = mc("lab", "check", "02-uts-ipc", "--workspace", ws, env=env)
    assert passing.returncode == 0, passing.stdout
    record = json.loads((tmp_path / "state" / "minicontainer" / "labs.json").read_text())
    assert record["labs"]["02-uts-ipc"]["checks"] == 2
    assert record["labs"]["02-uts-ipc"]["passed"] is True
    listing = mc("lab", "list", env=env, check=True).stdout
    assert any(line.startswith("02-uts-ipc") and line.endswith("passed")
               for line in listing.splitlines())


def test_lab_run_starts_the_exercise_with_its_arguments(tmp_path):
    env = _student_env(tmp_path)
    ws = str(tmp_path / "ws")
    mc("lab", "start", "01", "--workspace", ws, env=env, check=True)
    shutil.copy(labs.find("01").file("solution", "mini_init.py"), os.path.join(ws, "01-pid"))
    ran = mc("lab", "run", "--workspace", ws, "01", "--", "sh", "-c", "echo $$ $PPID", env=env)
    assert ran.stdout.split() == ["2", "1"]


def test_quiz_with_answers_scores_them(tmp_path):
    env = _student_env(tmp_path)
    ws = str(tmp_path / "ws")
    key = ",".join(q["answer"] for q in labs.find("02").quiz())
    ran = mc("lab", "quiz", "02", "--workspace", ws, "--answers", key, env=env, check=True)
    assert "3/3 predicted right" in ran.stdout and "ran it:" in ran.stdout
    bad = mc("lab", "quiz", "02", "--answers", "A", env=env)
    assert bad.returncode == 125 and "--answers" in bad.stderr


def test_hint_solution_and_reset(tmp_path):
    env = _student_env(tmp_path)
    ws = str(tmp_path / "ws")
    first = mc("lab", "hint", "pid", env=env, check=True).stdout
    second = mc("lab", "hint", "pid", env=env, check=True).stdout
    assert "hint 1 of 3" in first and "hint 2 of 3" in second
    refused = mc("lab", "solution", "01", env=env, input="n\n")
    assert refused.returncode == 1 and "namespaces.clone(" not in refused.stdout
    shown = mc("lab", "solution", "01", "--yes", env=env, check=True).stdout
    assert "Namespace.PID | Namespace.MNT" in shown
    mc("lab", "start", "01", "--workspace", ws, env=env, check=True)
    (tmp_path / "ws" / "01-pid" / "mini_init.py").write_text("# my work\n")
    reset = mc("lab", "reset", "01", "--yes", "--workspace", ws, env=env, check=True).stdout
    backups = [p for p in os.listdir(ws) if p.startswith("01-pid.bak-")]
    assert len(backups) == 1 and backups[0] in reset
    assert "TODO 1" in (tmp_path / "ws" / "01-pid" / "mini_init.py").read_text()
    record = json.loads((tmp_path / "state" / "minicontainer" / "labs.json").read_text())
    assert "solution_seen" not in record["labs"]["01-pid"]


def test_show_is_plain_markdown_when_piped():
    shown = mc("lab", "show", "0", check=True).stdout
    assert shown == labs.find("00").readme()


def test_unknown_lab_is_one_line_naming_it():
    result = mc("lab", "check", "99")
    assert result.returncode == 125
    assert result.stderr.strip().splitlines() == [
        "minicontainer: error: lab: '99' is not a lab; labs: "
        + ", ".join(lab.slug for lab in labs.all_labs())]


def test_newcomer_path_of_lab_00(tmp_path):
    """The README's first-lab path: start, do the TODOs, check, in well under 15 minutes."""
    env = _student_env(tmp_path)
    ws = str(tmp_path / "ws")
    mc("lab", "start", "00", "--workspace", ws, env=env, check=True)
    before = mc("lab", "check", "00", "--workspace", ws, env=env)
    assert before.returncode == 1
    shutil.copy(labs.find("00").file("solution", "tour.py"), os.path.join(ws, "00-preflight"))
    table = mc("lab", "run", "--workspace", ws, "00", "--", "--share", "net", env=env,
               check=True).stdout
    assert any(line.startswith("net ") and line.endswith(" shared") for line in table.splitlines())
    after = mc("lab", "check", "00", "--workspace", ws, env=env)
    assert after.returncode == 0, after.stdout
    assert "0 failed" in after.stdout


def test_commands_that_start_containers_ask_for_sudo(tmp_path):
    for command in (["check", "00"], ["quiz", "00", "--answers", "A,A,A,B"],
                    ["run", "00"]):
        result = mc("lab", *command, "--workspace", str(tmp_path),
                    env={**os.environ, "XDG_STATE_HOME": str(tmp_path)},
                    preexec_fn=lambda: (os.setgroups([]), os.setgid(65534), os.setuid(65534)))
        assert result.returncode == 125
        assert result.stderr == f"minicontainer: error: lab {command[0]} starts containers: " \
            "run it with sudo\n"
