"""Lab 06's checker works on real host files: it must leave none of them behind, also
when the program under check wrote there as host root."""

import glob

import labtests

from minicontainer import labs


def test_the_host_file_steps_leave_no_scratch_directory(tmp_path):
    lab = labs.find("06-userns")
    checker = lab.checker()
    before = set(glob.glob("/tmp/mc-lab06-*"))
    for part in ("exercise", "solution"):
        ctx = labs.Context(lab, labtests.copy(lab, part, tmp_path / part))
        verdicts = [checker.files_owned_by_host_id(ctx).verdict,
                    checker.host_root_files_unreadable(ctx).verdict]
        assert verdicts == ([labs.FAIL] * 2 if part == "exercise" else [labs.PASS] * 2)
    assert set(glob.glob("/tmp/mc-lab06-*")) == before
