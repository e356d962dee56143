"""Lab 13's checker keeps the catalogue away from a runtime whose writes reach ROOTFS,
leaves ROOTFS as it found it, and gives the runtime a ROOTFS of the lab's own."""

from __future__ import annotations

import os
import shutil

from minicontainer import labs, rootfs


def _lab() -> labs.Lab:
    return labs.Lab(os.path.join(labs.labs_root(), "13-capstone"))


def test_the_lab_runs_runtimes_on_a_root_owned_copy_of_the_rootfs_not_the_shared_one():
    checker = _lab().checker()
    checker.prepare("")
    assert checker.prepare("") == []  # idempotent
    assert os.path.realpath(checker.ROOTFS) != os.path.realpath(rootfs.default_rootfs())
    store = os.stat(os.path.dirname(checker.ROOTFS))
    assert (store.st_uid, store.st_mode & 0o7777) == (0, 0o710)
    for name in ("bin/busybox", "tmp", "usr/bin/mc-probe"):
        copy = os.lstat(os.path.join(checker.ROOTFS, name))
        shared = os.lstat(os.path.join(rootfs.default_rootfs(), name))
        assert (copy.st_uid, copy.st_gid, copy.st_mode) == \
            (shared.st_uid, shared.st_gid, shared.st_mode), name
    probe = os.path.join(checker.ROOTFS, "usr/bin/mc-probe")
    os.utime(probe, ns=(0, 0), follow_symlinks=False)  # as if the shared rootfs were rebuilt
    assert len(checker.prepare("")) == 1
    assert os.lstat(probe).st_mtime_ns == \
        os.lstat(os.path.join(rootfs.default_rootfs(), "usr/bin/mc-probe")).st_mtime_ns


def test_a_root_that_is_rootfs_itself_gets_no_catalogue_and_rootfs_stays_clean(tmp_path):
    lab = _lab()
    workspace = shutil.copytree(lab.file("solution"), tmp_path / lab.slug)
    program = workspace / lab.program
    source = program.read_text()
    overlay = 'f"{scratch}/upper",\n                               f"{scratch}/work")'
    assert overlay in source, "the reference changed: update this test"
    program.write_text(source.replace(overlay, "None, None)"))  # a bind: writes go through
    lab.checker().prepare("")
    private = lab.checker().ROOTFS
    before = sorted(os.listdir(private)), sorted(os.listdir(rootfs.default_rootfs()))
    results = {r.step: r for r in labs.check(lab, str(workspace))}
    assert results["own_root"].verdict == labs.FAIL
    assert "removed now" in results["own_root"].detail
    assert results["escape_catalogue"].verdict == labs.FAIL
    assert "lands in ROOTFS itself" in results["escape_catalogue"].detail
    assert (sorted(os.listdir(private)), sorted(os.listdir(rootfs.default_rootfs()))) == before
