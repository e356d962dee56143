"""Building the busybox rootfs and importing tarballs without letting them escape."""

from __future__ import annotations

import io
import os
import shutil
import tarfile

import pytest

from helpers import mc
from minicontainer import idmap, rootfs

ROOT = idmap.default_mappings("uid")[0].host_id


def _add(tar: tarfile.TarFile, name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"",
         linkname: str = "", mode: int = 0o644, uid: int = 0) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid = kind, mode, uid, uid
    info.linkname, info.size = linkname, len(data)
    tar.addfile(info, io.BytesIO(data) if data else None)


def _tarball(path, members) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            _add(tar, **member)
    return str(path)


@pytest.fixture
def name():
    value = f"test-{os.getpid()}"
    yield value
    shutil.rmtree(rootfs.stored(value), ignore_errors=True)


def _no_partial_import():
    return not [e for e in os.listdir(rootfs.ROOTFS_DIR) if e.startswith(".import-")]


def test_import_shifts_owners_keeps_modes_and_runs(tmp_path, name):
    with open(rootfs.BUSYBOX, "rb") as f:
        busybox = f.read()
    archive = _tarball(tmp_path / "r.tar.gz", [
        {"name": "bin", "kind": tarfile.DIRTYPE, "mode": 0o755},
        {"name": "bin/busybox", "data": busybox, "mode": 0o755},
        {"name": "bin/sh", "kind": tarfile.SYMTYPE, "linkname": "busybox"},
        {"name": "bin/ash", "kind": tarfile.LNKTYPE, "linkname": "bin/busybox", "mode": 0o755},
        {"name": "home", "kind": tarfile.DIRTYPE, "mode": 0o755},
        {"name": "home/u", "data": b"x", "uid": 1000},
        {"name": "bin/setuid-demo", "data": b"#!/bin/sh\n", "mode": 0o4755},
    ])
    target = mc("rootfs", "import", archive, name, check=True).stdout.strip()
    assert target == rootfs.stored(name)
    assert os.stat(os.path.join(target, "bin/busybox")).st_uid == ROOT
    assert os.stat(os.path.join(target, "home/u")).st_uid == ROOT + 1000
    assert os.stat(os.path.join(target, "bin/setuid-demo")).st_mode & 0o7777 == 0o755
    out = mc("run", "--rootfs", name, "--", "sh", "-c", "echo ok; id -u", check=True).stdout
    assert out.split() == ["ok", "0"]


@pytest.mark.parametrize("members", [
    [{"name": "../escaped", "data": b"x"}],
    [{"name": "a/../../escaped", "data": b"x"}],
    [{"name": "link", "kind": tarfile.SYMTYPE, "linkname": "/tmp"},
     {"name": "link/escaped", "data": b"x"}],
    [{"name": "hard", "kind": tarfile.LNKTYPE, "linkname": "../../../../etc/passwd"}],
], ids=["dotdot", "nested-dotdot", "through-symlink", "hardlink-out"])
def test_import_refuses_paths_that_escape(tmp_path, name, members):
    archive = _tarball(tmp_path / "evil.tar.gz", members)
    result = mc("rootfs", "import", archive, name)
    assert result.returncode == 125
    assert "outside the rootfs" in result.stderr
    assert not os.path.exists("/tmp/escaped") and not os.path.exists(rootfs.stored(name))
    assert _no_partial_import()


def test_import_skips_device_nodes(tmp_path, name):
    with tarfile.open(tmp_path / "dev.tar", "w") as tar:
        info = tarfile.TarInfo("dev/sda")
        info.type, info.devmajor, info.devminor = tarfile.BLKTYPE, 8, 0
        tar.addfile(info)
        _add(tar, "etc/ok", data=b"ok")
    result = mc("rootfs", "import", str(tmp_path / "dev.tar"), name, check=True)
    assert "skipped 1 device node" in result.stdout
    assert not os.path.exists(os.path.join(rootfs.stored(name), "dev/sda"))
    assert os.path.exists(os.path.join(rootfs.stored(name), "etc/ok"))


def test_import_refuses_a_bad_name(tmp_path):
    archive = _tarball(tmp_path / "r.tar", [{"name": "x", "data": b"x"}])
    result = mc("rootfs", "import", archive, "../up")
    assert result.returncode == 125 and "name" in result.stderr


def test_build_busybox_into_a_directory(tmp_path):
    target = tmp_path / "bb"
    mc("rootfs", "build", "busybox", str(target), check=True)
    assert os.stat(target / "bin/busybox").st_uid == ROOT
    assert os.access(target / rootfs.PROBE_PATH, os.X_OK)
    assert os.readlink(target / "bin/sh") == "/bin/busybox"


def test_import_clears_setuid_and_setgid_unless_asked(tmp_path, name):
    members = [{"name": "suid", "data": b"x", "mode": 0o4755},
               {"name": "sgid", "data": b"x", "mode": 0o2755},
               {"name": "shared", "kind": tarfile.DIRTYPE, "mode": 0o2775}]
    archive = _tarball(tmp_path / "s.tar", members)
    result = mc("rootfs", "import", archive, name, check=True)
    assert "cleared the setuid/setgid bits of 2 file(s)" in result.stderr
    modes = {m: os.stat(os.path.join(rootfs.stored(name), m)).st_mode & 0o7777
             for m in ("suid", "sgid", "shared")}
    assert modes == {"suid": 0o755, "sgid": 0o755, "shared": 0o2775}


def test_twin_import_keeps_setuid_with_keep_setuid(tmp_path, name):
    archive = _tarball(tmp_path / "s.tar", [{"name": "suid", "data": b"x", "mode": 0o4755}])
    mc("rootfs", "import", "--keep-setuid", archive, name, check=True)
    assert os.stat(os.path.join(rootfs.stored(name), "suid")).st_mode & 0o7777 == 0o4755


def test_import_of_something_that_is_not_a_tar_is_one_line(tmp_path, name):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not an archive\n" * 100)
    result = mc("rootfs", "import", str(junk), name)
    assert result.returncode == 125
    assert result.stderr.strip().splitlines() == [
        f"minicontainer: error: importing {junk}: not a tar archive (plain, gzip, bzip2 or xz)"]
    assert not os.path.exists(rootfs.stored(name)) and _no_partial_import()


def test_import_refuses_a_hard_link_to_a_missing_member(tmp_path, name):
    archive = _tarball(tmp_path / "h.tar", [
        {"name": "etc/ok", "data": b"x"},
        {"name": "bin/ash", "kind": tarfile.LNKTYPE, "linkname": "bin/busybox"},
    ])
    result = mc("rootfs", "import", archive, name)
    assert result.returncode == 125
    assert "'bin/ash'" in result.stderr and "'bin/busybox'" in result.stderr
    assert "KeyError" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not os.path.exists(rootfs.stored(name)) and _no_partial_import()


def test_implied_parent_directories_belong_to_the_containers_root(tmp_path, name):
    archive = _tarball(tmp_path / "p.tar", [{"name": "a/b/c", "data": b"x"}])
    target = mc("rootfs", "import", archive, name, check=True).stdout.strip()
    for path in ("a", "a/b", "a/b/c"):
        st = os.stat(os.path.join(target, path))
        assert (st.st_uid, st.st_gid) == (ROOT, ROOT), path
    assert os.stat(os.path.join(target, "a")).st_mode & 0o777 == 0o755


@pytest.mark.parametrize("flags, members, what", [
    (["--max-files", "3"], [{"name": f"f{i}", "data": b"x"} for i in range(4)], "members"),
    (["--max-size", "1k"], [{"name": "a", "data": b"x" * 600}, {"name": "b", "data": b"x" * 600}],
     "bytes"),
], ids=["members", "size"])
def test_import_refuses_a_tar_bomb_and_leaves_nothing(tmp_path, name, flags, members, what):
    archive = _tarball(tmp_path / "bomb.tar", members)
    result = mc("rootfs", "import", *flags, archive, name)
    assert result.returncode == 125 and "more than" in result.stderr and what in result.stderr
    assert not os.path.exists(rootfs.stored(name)) and _no_partial_import()
    # The twin: the same archive within the default limits.
    mc("rootfs", "import", archive, name, check=True)


def test_import_limits_are_checked_flags(tmp_path, name):
    archive = _tarball(tmp_path / "r.tar", [{"name": "x", "data": b"x"}])
    result = mc("rootfs", "import", "--max-files", "1_000", archive, name)
    assert result.returncode == 125 and "max-files" in result.stderr
    result = mc("rootfs", "import", "--max-size", "lots", archive, name)
    assert result.returncode == 125 and "max-size" in result.stderr


def test_the_store_is_closed_to_other_host_users():
    mc("run", "--", "true", check=True)
    st = os.stat(rootfs.ROOTFS_DIR)
    gid = idmap.default_mappings("gid")[0].host_id
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, gid, 0o710)
