"""User namespace: container root is an unprivileged host uid, unless --userns host."""

from __future__ import annotations

import os
import subprocess

from helpers import MC, mc, probe
from minicontainer import idmap

MAPPED_ROOT = idmap.default_mappings("uid")[0].host_id


def _host_uid_of_container_init(*flags: str) -> int:
    """The uid the host sees on the container's first process."""
    runtime = subprocess.Popen(
        [*MC, "run", *flags, "--", "sh", "-c",
         "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert runtime.stdout.readline() == "ready\n"
        with open(f"/proc/{runtime.pid}/task/{runtime.pid}/children") as f:
            init = f.read().split()[0]
        with open(f"/proc/{init}/status") as f:
            status = dict(line.split(":", 1) for line in f)
        return int(status["Uid"].split()[0])
    finally:
        runtime.terminate()
        runtime.wait(10)


def test_root_inside_is_an_unprivileged_uid_outside():
    seen = probe()
    assert seen["uid"] == 0
    assert seen["uid_map"] == [[0, MAPPED_ROOT, 65536]]
    assert _host_uid_of_container_init() == MAPPED_ROOT


def test_userns_host_makes_container_root_host_root():
    seen = probe("--userns", "host")
    assert seen["uid_map"] == [[0, 0, 4294967295]]
    assert _host_uid_of_container_init("--userns", "host") == 0


def test_files_written_on_a_bind_mount_belong_to_the_mapped_range(tmp_path):
    tmp_path.chmod(0o777)
    mc("run", "-v", f"{tmp_path}:/data", "--", "touch", "/data/root-file", check=True)
    assert (tmp_path / "root-file").stat().st_uid == MAPPED_ROOT


def test_files_written_by_a_non_root_user_map_too(tmp_path):
    tmp_path.chmod(0o777)
    mc("run", "-u", "1000:1000", "-v", f"{tmp_path}:/data", "--", "touch", "/data/f", check=True)
    st = (tmp_path / "f").stat()
    assert (st.st_uid, st.st_gid) == (MAPPED_ROOT + 1000, MAPPED_ROOT + 1000)


def test_files_written_without_a_user_namespace_belong_to_host_root(tmp_path):
    mc("run", "--userns", "host", "-v", f"{tmp_path}:/data", "--", "touch", "/data/f", check=True)
    assert (tmp_path / "f").stat().st_uid == 0


def test_user_flag_sets_ids_and_groups():
    out = mc("run", "-u", "1000:1000", "--", "sh", "-c", "id -u; id -g; id -G", check=True).stdout
    assert out.split() == ["1000", "1000", "1000"]


def test_container_root_cannot_write_host_owned_files(tmp_path):
    # The twin of the test above: the same write as host root succeeds.
    target = tmp_path / "host-owned"
    target.write_text("host\n")
    os.chmod(target, 0o644)
    denied = mc("run", "-v", f"{tmp_path}:/data", "--", "sh", "-c", "echo x > /data/host-owned")
    assert denied.returncode != 0
    allowed = mc("run", "--userns", "host", "-v", f"{tmp_path}:/data", "--",
                 "sh", "-c", "echo x > /data/host-owned")
    assert allowed.returncode == 0
    assert target.read_text() == "x\n"
