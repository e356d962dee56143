"""Cgroup.kill when the monitor removes the cgroup between the check and the write."""
import os
import shutil

import pytest

from minicontainer.cgroups import Cgroup, CgroupError


def vanishing_cgroup(tmp_path) -> Cgroup:
    """A cgroup directory that is removed just before each write reaches it, as when the
    container's monitor cleans up while `rm -f` kills it."""
    path = tmp_path / "gone"
    path.mkdir()
    (path / "cgroup.kill").write_text("0")
    cgroup = Cgroup(str(path))
    write = cgroup.write

    def write_after_removal(filename: str, value: str) -> None:
        shutil.rmtree(path, ignore_errors=True)
        write(filename, value)

    cgroup.write = write_after_removal
    return cgroup


def test_killing_a_cgroup_removed_meanwhile_is_not_an_error(tmp_path):
    cgroup = vanishing_cgroup(tmp_path)
    cgroup.kill()
    assert not os.path.exists(cgroup.path)


def test_other_write_failures_of_cgroup_kill_are_raised(tmp_path):
    path = tmp_path / "kill-is-a-directory"
    path.mkdir()
    (path / "cgroup.kill").mkdir()
    with pytest.raises(CgroupError, match="cgroup.kill"):
        Cgroup(str(path)).kill()


def test_killing_a_cgroup_already_gone_is_not_an_error(tmp_path):
    """Gone before `rm -f` even looked: neither cgroup.kill nor cgroup.procs is there."""
    Cgroup(str(tmp_path / "removed-before")).kill()


def test_without_cgroup_kill_each_listed_process_is_killed(tmp_path, monkeypatch):
    path = tmp_path / "old-kernel"
    path.mkdir()
    (path / "cgroup.procs").write_text("4242\n4243\n")
    killed = []
    monkeypatch.setattr(os, "kill", lambda pid, signum: killed.append(pid))
    Cgroup(str(path)).kill()
    assert killed == [4242, 4243]
