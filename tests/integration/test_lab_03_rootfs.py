"""The fixtures of labs 03 and 04: a copy of the busybox rootfs in the student's
workspace, with no setuid file in it, and the stand-in host's mount table."""

from __future__ import annotations

import os
import stat
import subprocess

from helpers import mc
from minicontainer import labs, rootfs
from minicontainer.namespaces import Namespace

NOBODY = 65534


def _tree(top: str) -> dict[str, tuple[int, str]]:
    """Every entry below ``top``: its file type and, for a symlink, its target."""
    found = {}
    for where, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(where, name)
            st = os.lstat(path)
            found[os.path.relpath(path, top)] = (
                stat.S_IFMT(st.st_mode), os.readlink(path) if stat.S_ISLNK(st.st_mode) else "")
    return found


def _setid_files(top: str) -> list[str]:
    return [path for path, _ in _tree(top).items()
            if os.lstat(os.path.join(top, path)).st_mode & (stat.S_ISUID | stat.S_ISGID)]


def test_the_rootfs_copy_has_every_file_and_no_setuid_bit(tmp_path):
    source = rootfs.default_rootfs()
    assert _setid_files(source), "the default rootfs has its setuid probe"
    copy = str(tmp_path / "lower")
    assert labs.copy_default_rootfs(copy) is True
    assert _tree(copy) == _tree(source)
    assert _setid_files(copy) == []
    probe = os.path.join(copy, rootfs.PROBE_PATH)
    assert os.stat(probe).st_mode & 0o111, "executables stay executable"
    assert labs.copy_default_rootfs(copy) is False


def test_a_copy_cut_short_is_made_again(tmp_path):
    copy = str(tmp_path / "lower")
    os.makedirs(f"{copy}.partial/etc")
    assert labs.copy_default_rootfs(copy) is True
    assert not os.path.lexists(f"{copy}.partial")
    assert os.path.isfile(os.path.join(copy, "bin", "busybox"))


def test_start_gives_the_student_the_image_and_the_layers(tmp_path):
    env = {**os.environ, "SUDO_USER": "nobody", "XDG_STATE_HOME": str(tmp_path / "state")}
    for lab, extra in (("03", []), ("04", ["shared"])):
        started = mc("lab", "start", lab, "--workspace", str(tmp_path / "ws"), env=env,
                     check=True)
        assert "prepared: lower/" in started.stdout
        workspace = str(tmp_path / "ws" / labs.find(lab).slug)
        for name in ("lower", "upper", "work", "merged", *extra):
            assert os.stat(os.path.join(workspace, name)).st_uid == NOBODY, name
        assert os.stat(os.path.join(workspace, "lower", "bin", "busybox")).st_uid == NOBODY
        assert _setid_files(os.path.join(workspace, "lower")) == []
        assert labs.prepare(labs.find(lab), workspace) == []


def test_the_stand_in_mount_table_has_what_was_mounted_in_it(tmp_path):
    with open("/proc/self/mountinfo") as f:
        host_mounts = f.read()
    with labs.StandInHost(Namespace.MNT) as host:
        before = host.mount_table()
        subprocess.run(["mount", "-t", "tmpfs", "lab-stand-in", str(tmp_path)],
                       preexec_fn=host.preexec("/"), check=True)
        added = host.mount_table() - before
    assert [row.split()[4] for row in added] == [str(tmp_path)]
    assert " lab-stand-in " in added.pop()
    with open("/proc/self/mountinfo") as f:
        assert f.read() == host_mounts
