"""The mount namespace: the container's own root, /proc, /sys, /dev, and no leaks."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from helpers import copy_rootfs, host_mounts, mc, probe, sh
from minicontainer import rootfs

BASE = rootfs.stored(rootfs.DEFAULT_NAME)


def _fingerprint(root: str) -> str:
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(filenames + dirnames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest.update(f"{path} {st.st_mode} {st.st_uid} {st.st_size}".encode())
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    digest.update(f.read())
    return digest.hexdigest()


@pytest.fixture
def rootfs_copy():
    """A private copy of the busybox rootfs that a test may damage.

    Under /var/tmp, because the container's root must be able to reach it:
    pytest's own tmp_path sits below a directory only host root may enter.
    """
    target = copy_rootfs(BASE)
    yield target
    shutil.rmtree(os.path.dirname(target))


def test_mount_table_is_the_containers_own():
    targets = {m["target"]: m for m in probe()["mounts"]}
    assert targets["/"]["fstype"] == "overlay"
    expected = {"/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue",
                "/sys/fs/cgroup"} | {f"/dev/{d}" for d in ("null", "zero", "full", "random",
                                                           "urandom", "tty")}
    from minicontainer.config import MASKED_PATHS, READONLY_PATHS

    hardening = {p for p in MASKED_PATHS + READONLY_PATHS if os.path.exists(p)}
    assert set(targets) == expected | hardening
    assert targets["/proc"]["fstype"] == "proc"


def test_sys_is_read_only_nosuid_nodev_noexec():
    mounts = {m["target"]: m for m in probe()["mounts"]}
    options = mounts["/sys"]["options"].split(",")
    assert {"ro", "nosuid", "nodev", "noexec"} <= set(options)
    result = mc("run", "--", "sh", "-c", "echo 1 > /sys/kernel/uevent_helper")
    assert result.returncode != 0
    assert "Read-only file system" in result.stderr


def test_dev_holds_only_the_harmless_devices():
    out = sh(script="ls /dev; readlink /dev/ptmx; readlink /dev/fd; cat /dev/null; "
                    "head -c 4 /dev/zero | od -An -tx1")
    names = out.split()
    for expected in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm",
                     "mqueue", "fd", "stdin", "stdout", "stderr", "ptmx"):
        assert expected in names
    assert "sda" not in names and "vda" not in names and "mem" not in names
    assert "pts/ptmx" in names and "/proc/self/fd" in names
    assert names[-4:] == ["00", "00", "00", "00"]


def test_devpts_is_a_new_instance():
    # A new devpts instance is a filesystem of its own: another device number than the
    # host's /dev/pts, and none of the host's ptys in it.
    mounts = {m["target"]: m for m in probe()["mounts"]}
    assert mounts["/dev/pts"]["fstype"] == "devpts"
    inside_dev = int(sh(script="stat -c %d /dev/pts").strip())
    assert inside_dev != os.stat("/dev/pts").st_dev
    assert sh(script="ls /dev/pts").split() == ["ptmx"]


def test_old_root_is_gone():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert os.path.isdir(os.path.join(repo, "tests"))
    result = mc("run", "--", "test", "-e", os.path.join(repo, "tests"))
    assert result.returncode == 1


def test_base_rootfs_is_unchanged_after_writes():
    before = _fingerprint(BASE)
    sh(script="echo changed > /etc/passwd; rm /bin/ls; touch /newfile; mkdir -p /opt/x")
    assert _fingerprint(BASE) == before


def test_no_overlay_writes_through_to_the_rootfs(rootfs_copy):
    before = _fingerprint(rootfs_copy)
    sh("--rootfs", rootfs_copy, "--no-overlay", script="touch /newfile")
    assert os.path.exists(os.path.join(rootfs_copy, "newfile"))
    assert _fingerprint(rootfs_copy) != before


def test_read_only_root_refuses_writes():
    result = mc("run", "--read-only", "--", "touch", "/x")
    assert result.returncode == 1
    assert "Read-only file system" in result.stderr
    assert mc("run", "--", "touch", "/x").returncode == 0


def test_read_only_root_keeps_tmpfs_mounts_writable():
    assert mc("run", "--read-only", "--", "touch", "/dev/shm/x").returncode == 0


def test_mounts_made_inside_do_not_reach_the_host():
    before = host_mounts()
    out = sh("--userns", "host", "--cap-add", "SYS_ADMIN",
             script="mount -t tmpfs inside /mnt && grep ' /mnt ' /proc/mounts")
    assert "inside" in out
    assert host_mounts() == before


def test_a_symlinked_mountpoint_in_the_rootfs_is_refused(rootfs_copy):
    proc = os.path.join(rootfs_copy, "proc")
    os.rmdir(proc)
    os.symlink("/etc", proc)
    result = mc("run", "--rootfs", rootfs_copy, "--", "true")
    assert result.returncode == 125
    assert "symlink" in result.stderr


def test_volume_destination_symlink_stays_inside(rootfs_copy, tmp_path):
    # /data -> /etc in the rootfs: the volume lands on the container's /etc, not the host's.
    os.symlink("/etc", os.path.join(rootfs_copy, "data"))
    src = tmp_path / "vol"
    src.mkdir()
    (src / "marker").write_text("m")
    before = host_mounts()
    out = sh("--rootfs", rootfs_copy, "-v", f"{src}:/data:ro", script="ls /etc")
    assert "marker" in out.split()
    assert host_mounts() == before


def test_read_only_volume():
    result = mc("run", "-v", "/etc:/hostetc:ro", "--", "touch", "/hostetc/x")
    assert result.returncode == 1 and "Read-only" in result.stderr
