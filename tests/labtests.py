"""The tests every lab gets, from the expectations in its own ``expect.toml``: the
reference solution passes in time, the untouched skeleton and each known-wrong solution
fail with the hint tied to the reason, and the quiz keys match a real run.  Host labs run
them in tests/integration/test_labs.py, labs with ``where = "vm"`` in tests/vm."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import tomllib

from minicontainer import labs


def expectations(lab: labs.Lab) -> dict:
    """The lab's ``expect.toml``: ``skeleton`` (step: hint words), ``wrong`` (name:
    ``replace`` pairs, ``step``, ``words``, optionally ``file``), ``where``."""
    with open(lab.file("expect.toml"), "rb") as f:
        return tomllib.load(f)


def slugs(where: str) -> list[str]:
    """The labs whose checkers run ``where`` ("host" by default, or "vm")."""
    return [lab.slug for lab in labs.all_labs()
            if expectations(lab).get("where", "host") == where]


def wrong_variants(where: str) -> list[str]:
    """Every known-wrong solution of those labs, as ``slug/name``."""
    return [f"{slug}/{name}" for slug in slugs(where)
            for name in expectations(labs.find(slug)).get("wrong", {})]


def copy(lab: labs.Lab, part: str, destination) -> str:
    target = os.path.join(str(destination), lab.slug)
    shutil.copytree(lab.file(part), target)
    return target


def verdicts(results: list[labs.Result]) -> dict[str, labs.Result]:
    return {result.step: result for result in results}


class HostnameWatch:
    """Samples the host's hostname every millisecond while it is entered: every name
    other than the first seen is in ``others``."""

    def __enter__(self):
        self.name, self.others = socket.gethostname(), set()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch)
        self.thread.start()
        return self

    def _watch(self):
        while not self.done.wait(0.001):
            now = socket.gethostname()
            if now != self.name:
                self.others.add(now)

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        if socket.gethostname() != self.name:
            self.others.add(socket.gethostname())


def reference_solution_passes_in_time(slug: str, tmp_path) -> None:
    lab = labs.find(slug)
    began = time.monotonic()
    results = labs.check(lab, copy(lab, "solution", tmp_path))
    took = time.monotonic() - began
    failures = [f"{r.step}: {r.detail} ({r.hint})" for r in results if r.verdict == labs.FAIL]
    assert not failures
    assert any(r.verdict == labs.PASS for r in results)
    assert took < labs.CHECK_BUDGET, f"the checker took {took:.1f} s"


def untouched_skeleton_fails_with_its_hint(slug: str, tmp_path) -> None:
    lab = labs.find(slug)
    expected = expectations(lab)["skeleton"]
    assert expected, "a lab names at least one step its skeleton fails"
    results = verdicts(labs.check(lab, copy(lab, "exercise", tmp_path)))
    for step, words in expected.items():
        assert results[step].verdict == labs.FAIL, (step, results[step])
        assert words in results[step].hint, (step, results[step].hint)


def known_wrong_solution_fails(variant: str, tmp_path) -> None:
    slug, name = variant.split("/")
    lab = labs.find(slug)
    wrong = expectations(lab)["wrong"][name]
    workspace = copy(lab, "solution", tmp_path)
    program = os.path.join(workspace, wrong.get("file", lab.program))
    with open(program) as f:
        source = f.read()
    for old, new in wrong["replace"]:
        assert old in source, "the reference changed: update this variant"
        source = source.replace(old, new)
    with open(program, "w") as f:
        f.write(source)
    with open("/proc/self/mountinfo") as f:
        host_mounts = f.read()
    with HostnameWatch() as host:
        results = verdicts(labs.check(lab, workspace))
    assert not host.others, f"the host was renamed {host.others} while the checker ran"
    with open("/proc/self/mountinfo") as f:
        assert f.read() == host_mounts, "the host's mount table changed"
    step = results[wrong["step"]]
    assert step.verdict == labs.FAIL, step
    assert wrong["words"] in step.hint + step.detail, step


def quiz_key_matches_a_real_run(slug: str, tmp_path) -> None:
    lab = labs.find(slug)
    workspace = copy(lab, "solution", tmp_path)
    questions = lab.quiz()
    assert 3 <= len(questions) <= 5
    for question in questions:
        observed = labs.live_answer(lab, question["id"], workspace)
        assert observed is not None, f"{question['id']} is not observed"
        assert observed[0] == question["answer"], (question["id"], observed)
