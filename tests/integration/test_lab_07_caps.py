"""Lab 07's checker chowns real host files: it must leave none of them behind, also
when the program under check gave them away."""

import glob

import labtests

from minicontainer import labs


def test_the_drop_and_grant_steps_leave_no_scratch_directory(tmp_path):
    lab = labs.find("07-caps")
    checker = lab.checker()
    before = set(glob.glob("/tmp/mc-lab07-*"))
    for part in ("exercise", "solution"):
        ctx = labs.Context(lab, labtests.copy(lab, part, tmp_path / part))
        verdicts = [checker.drop_blocks_only_the_dropped(ctx).verdict,
                    checker.grant_survives_execve(ctx).verdict]
        assert verdicts == ([labs.FAIL] * 2 if part == "exercise" else [labs.PASS] * 2)
    assert set(glob.glob("/tmp/mc-lab07-*")) == before
