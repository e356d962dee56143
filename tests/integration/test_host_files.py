"""Host-side operations on a container's files: none may follow a symlink the container
made, go below a mount point, or leave a door open to other host users."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from helpers import CONTAINERS_DIR, copy_rootfs, mc, sh
from minicontainer import rootfs, state

BASE = rootfs.stored(rootfs.DEFAULT_NAME)
NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]


@pytest.fixture
def rootfs_copy():
    """A private copy of the busybox rootfs under /var/tmp, reachable by the container's root."""
    target = copy_rootfs(BASE)
    yield target
    shutil.rmtree(os.path.dirname(target))


@pytest.fixture
def host_nonce(tmp_path_factory):
    """A host file owned by root that no container may touch."""
    fd, path = tempfile.mkstemp(prefix="mc-nonce-", dir="/tmp")
    os.write(fd, b"nonce: the host's own file\n")
    os.close(fd)
    os.chmod(path, 0o644)
    yield path
    os.unlink(path)


def _owner_and_text(path: str) -> tuple[int, int, str]:
    st = os.stat(path)
    with open(path) as f:
        return st.st_uid, st.st_gid, f.read()


# ---- item 4: /etc files of a bridge container


def test_etc_hosts_symlinked_to_a_host_file_is_replaced_not_followed(rootfs_copy, host_nonce):
    hosts = os.path.join(rootfs_copy, "etc/hosts")
    os.unlink(hosts)
    os.symlink(host_nonce, hosts)
    before = _owner_and_text(host_nonce)
    result = mc("run", "--rootfs", rootfs_copy, "--no-overlay", "--net", "bridge",
                "--hostname", "inside", "--", "cat", "/etc/hosts", "/etc/hostname")
    assert _owner_and_text(host_nonce) == before
    assert result.returncode == 0, result.stderr
    assert "localhost" in result.stdout and "inside" in result.stdout
    assert "nonce" not in result.stdout
    assert not os.path.islink(hosts)


def test_etc_hosts_is_written_when_it_is_a_regular_file(rootfs_copy):
    out = sh("--rootfs", rootfs_copy, "--no-overlay", "--net", "bridge", "--hostname", "inside",
             script="cat /etc/hosts /etc/hostname; stat -c '%u %n' /etc/hosts")
    assert "10.88." in out and "inside" in out.split()
    assert "0 /etc/hosts" in out
    with open(os.path.join(rootfs_copy, "etc/hosts")) as f:
        assert "inside" in f.read()


def test_a_symlinked_etc_directory_is_refused_with_a_clear_error(rootfs_copy, tmp_path):
    shutil.rmtree(os.path.join(rootfs_copy, "etc"))
    os.symlink(str(tmp_path), os.path.join(rootfs_copy, "etc"))
    result = mc("run", "--rootfs", rootfs_copy, "--no-overlay", "--net", "bridge", "--", "true")
    assert result.returncode == 125
    assert "etc" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []


# ---- item 5 and 10: removing a container's tree


def test_removal_does_not_follow_a_directory_swapped_for_a_symlink(tmp_path, monkeypatch):
    """The swap comes between listing a directory and entering its subdirectory, the
    moment a container racing ``rm`` would aim for."""
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    (host_dir / "keep").write_text("host data")
    top = tmp_path / "upper"
    (top / "a").mkdir(parents=True)
    (top / "a" / "f").write_text("x")
    real_scandir = os.scandir
    swapped = []

    class Listing:
        """What os.scandir returns, read to the end before the swap."""

        def __init__(self, entries):
            self._entries = iter(entries)

        def __iter__(self):
            return self

        def __next__(self):
            return next(self._entries)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def close(self):
            return None

    def scandir_then_swap(target="."):
        with real_scandir(target) as it:
            entries = Listing(list(it))
        if not swapped:
            swapped.append(True)
            os.rename(top / "a", tmp_path / "moved")
            os.symlink(host_dir, top / "a")
        return entries

    monkeypatch.setattr(os, "scandir", scandir_then_swap)
    state.remove_tree(str(top))
    monkeypatch.undo()
    assert swapped
    assert (host_dir / "keep").read_text() == "host data"
    assert not top.exists()


@pytest.mark.parametrize("source", ["tmpfs", "bind"])
def test_removal_stops_at_a_mount_point(tmp_path, source):
    """A tmpfs has a device of its own; a bind mount of the same filesystem has not."""
    top = tmp_path / "upper"
    mnt = top / "a" / "mnt"
    mnt.mkdir(parents=True)
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    if source == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "mc-test", str(mnt)], check=True)
    else:
        subprocess.run(["mount", "--bind", str(host_dir), str(mnt)], check=True)
    try:
        (mnt / "keep").write_text("mounted data")
        with pytest.raises(OSError, match="mount point"):
            state.remove_tree(str(top))
        assert (mnt / "keep").read_text() == "mounted data"
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    state.remove_tree(str(top))
    assert not top.exists()


def test_a_500_deep_tree_in_the_writable_layer_is_removed():
    name = f"deep-{os.getpid()}"
    # cd -P: a physical cd goes one name down, while the path of the deepest directory
    # ends up longer than PATH_MAX.
    script = ("cd /tmp && i=0; while [ $i -lt 500 ]; do mkdir dddddddddd && cd -P dddddddddd "
              "|| exit 1; i=$((i+1)); done; echo made")
    result = mc("run", "--name", name, "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["made"]
    assert not os.path.exists(os.path.join(CONTAINERS_DIR, name))


def test_remove_tree_handles_a_path_longer_than_path_max(tmp_path):
    top = tmp_path / "deep"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(500):
        os.mkdir("dddddddddd", dir_fd=fd)
        child = os.open("dddddddddd", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    os.close(fd)
    state.remove_tree(str(top))
    assert not top.exists()


# ---- item 6: other host users


def _as_nobody(*command: str) -> subprocess.CompletedProcess:
    # Through a shell: setpriv itself execs the command while it still holds root's
    # capabilities, which would let it through any directory.
    return subprocess.run([*NOBODY, "sh", "-c", 'exec "$0" "$@"', *command],
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def setuid_container():
    """A detached container that made a setuid copy of the probe, owned by its root, in
    its writable layer: whoever runs it becomes the container's root uid on the host."""
    name = f"suid-{os.getpid()}"
    mc("run", "-d", "--name", name, "--", "sh", "-c",
       "cp /usr/bin/mc-probe /tmp/probe && chmod 4755 /tmp/probe && touch /tmp/ready && sleep 60",
       check=True)
    upper = os.path.join(CONTAINERS_DIR, name, "upper")
    try:
        for _ in range(200):
            if os.path.exists(os.path.join(upper, "tmp/ready")):
                break
            subprocess.run(["sleep", "0.05"])
        yield os.path.join(upper, "tmp/probe")
    finally:
        mc("rm", "-f", name, check=True)


def test_other_host_users_cannot_reach_a_setuid_file_in_a_containers_layer(setuid_container):
    st = os.stat(setuid_container)
    assert st.st_mode & 0o4000 and st.st_uid == rootfs.idmap.default_mappings("uid")[0].host_id
    result = _as_nobody(setuid_container)
    assert result.returncode != 0 and "Permission denied" in result.stderr, result.stdout
    assert _as_nobody("ls", os.path.dirname(setuid_container)).returncode != 0


def test_twin_root_can_run_the_setuid_file_the_container_made(setuid_container):
    result = subprocess.run([setuid_container, "--json"], capture_output=True, text=True)
    assert json.loads(result.stdout)["euid"] == rootfs.idmap.default_mappings("uid")[0].host_id


def test_other_host_users_cannot_list_or_enter_the_rootfs_and_containers_dirs():
    sh(script="true")  # the dirs exist, with the permissions a run gives them
    for path in (rootfs.ROOTFS_DIR, CONTAINERS_DIR):
        assert _as_nobody("ls", path).returncode != 0, path
    assert _as_nobody("stat", BASE).returncode != 0
    assert _as_nobody("cat", os.path.join(BASE, "etc/passwd")).returncode != 0
    assert _as_nobody(os.path.join(BASE, rootfs.SETUID_PROBE_PATH)).returncode != 0


def test_twin_the_container_still_reaches_the_default_rootfs_and_its_layer():
    out = sh("-u", "1000", script="id -u; ls /bin/busybox; echo x > /tmp/x && cat /tmp/x")
    assert out.split() == ["1000", "/bin/busybox", "x"]


def test_the_probe_run_on_a_host_leaves_its_mount_propagation_alone():
    """mc-probe tries mount(2) in a child, and a child shares the mount namespace: on a
    host whose / is shared (systemd's) a propagation change there would be the host's.
    Here a throwaway mount namespace with a shared / plays that host."""
    probe = os.path.join(rootfs.default_rootfs(), rootfs.PROBE_PATH)
    script = (f"mount --make-rshared / && {probe} --json > /dev/null && "
              "findmnt --noheadings --output PROPAGATION /")
    result = subprocess.run(["unshare", "--mount", "--propagation", "unchanged", "sh", "-c",
                             script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "shared"
