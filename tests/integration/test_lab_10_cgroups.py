"""Lab 10 needs cgroup v2 with the memory, pids and cpu controllers.  On a host without
them (the development machines' hybrid layout) every step SKIPs, naming what is
missing and where the lab runs instead; the lab itself is tested in the VM
(tests/vm/test_labs_in_vm.py)."""

from __future__ import annotations

import labtests
import pytest

from minicontainer import cgroups, labs

NEEDED = {"memory", "pids", "cpu"}


@pytest.mark.parametrize("part", ["solution", "exercise"])
def test_every_step_skips_naming_the_missing_controllers(part, tmp_path):
    hierarchy = cgroups.find_hierarchy()
    if hierarchy is not None and NEEDED <= hierarchy.controllers:
        pytest.skip("this host's cgroup v2 has every controller the lab needs: it runs "
                    "for real here (tests/vm/test_labs_in_vm.py)")
    lab = labs.find("10")
    results = labs.check(lab, labtests.copy(lab, part, tmp_path))
    assert len(results) == len(lab.checker().STEPS)
    for result in results:
        assert result.verdict == labs.SKIP, result
        assert "controller" in result.detail or "no cgroup v2" in result.detail, result
        assert "vagrant up" in result.detail and "make test-vm" in result.detail, result


def test_the_quiz_is_not_observed_without_the_controllers(tmp_path):
    hierarchy = cgroups.find_hierarchy()
    if hierarchy is not None and NEEDED <= hierarchy.controllers:
        pytest.skip("this host's cgroup v2 has every controller the lab needs")
    lab = labs.find("10")
    workspace = labtests.copy(lab, "solution", tmp_path)
    assert all(labs.live_answer(lab, q["id"], workspace) is None for q in lab.quiz())
