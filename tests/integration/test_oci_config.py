"""What a bundle's config.json asks for, seen from inside the container: mounts in their
order and with their options, the process's umask, groups, rlimits, oom score and console
size, namespaced sysctls, the cgroup path, and every refusal naming its field."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from helpers import MC, console_socket, container_id, copy_rootfs, mc, oci_state, read_until
from minicontainer import cgroups, rootfs
from minicontainer.state import StateStore

BASE_ROOTFS = rootfs.stored(rootfs.DEFAULT_NAME)


@pytest.fixture
def cid(request):
    """A container id for this test, deleted (forcibly) afterwards."""
    value = container_id(request, "cfg")
    yield value
    mc("delete", "--force", value)


class Bundle:
    """A bundle made by `spec` whose config.json is ``doc``: change it, then ``run`` or
    ``create`` (each writes it out first)."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(os.path.join(path, "config.json")) as f:
            self.doc = json.load(f)

    def write(self) -> str:
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.doc, f)
        return self.path

    def command(self, script: str) -> Bundle:
        self.doc["process"]["args"] = ["sh", "-c", script]
        return self

    def add_mount(self, destination: str, type: str, source: str | None = None,
                  options: list[str] | None = None) -> Bundle:
        entry = {"destination": destination, "type": type, "source": source or type}
        if options is not None:
            entry["options"] = options
        self.doc["mounts"].append(entry)
        return self

    def run(self, cid: str) -> subprocess.CompletedProcess:
        """`run --bundle` in the foreground: its exit code, stdout and stderr."""
        return mc("run", "--bundle", self.write(), cid, stdin=subprocess.DEVNULL)

    def output(self, cid: str) -> str:
        """stdout of a `run --bundle` that must succeed."""
        result = self.run(cid)
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture
def bundle(tmp_path):
    """A `spec` bundle on the busybox rootfs."""
    mc("spec", "--bundle", str(tmp_path), "--rootfs", BASE_ROOTFS, check=True)
    return Bundle(str(tmp_path))


@pytest.fixture
def rootfs_copy():
    """A private copy of the busybox rootfs, owned as the original is: a bundle's rootfs
    is written to directly, and a mountpoint missing in it is made there."""
    target = copy_rootfs(BASE_ROOTFS)
    yield target
    shutil.rmtree(os.path.dirname(target))


@pytest.fixture
def host_dir(tmp_path):
    """A host directory with a file ``marker`` in it, to bind into a container."""
    path = tmp_path / "host-dir"
    path.mkdir()
    path.chmod(0o755)
    (path / "marker").write_text("from-the-host\n")
    return str(path)


def refused(result: subprocess.CompletedProcess, cid: str) -> str:
    """The one error line of a refused create or run; and nothing of it is left."""
    assert result.returncode == 125, result.stdout + result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("minicontainer: error: ")
    assert mc("state", cid).returncode == 125
    assert not os.path.exists(StateStore().dir(cid))
    return result.stderr


def create_refused(bundle: Bundle, cid: str) -> str:
    return refused(mc("create", "--bundle", bundle.write(), cid, stdin=subprocess.DEVNULL), cid)


def mountinfo(text: str) -> dict[str, dict]:
    """``/proc/self/mountinfo`` lines by mount point: fstype, per-mount and super options."""
    found = {}
    for line in text.splitlines():
        fields = line.split()
        rest = fields[fields.index("-") + 1:]
        found[fields[4]] = {"options": set(fields[5].split(",")), "fstype": rest[0],
                            "super": set(rest[2].split(","))}
    return found


# Mounts, in order


def test_a_bind_after_a_tmpfs_lands_in_it(cid, bundle, rootfs_copy, host_dir):
    bundle.doc["root"]["path"] = rootfs_copy
    bundle.add_mount("/a", "tmpfs").add_mount("/a/b", "bind", host_dir, ["rbind", "ro"])
    assert bundle.command("cat /a/b/marker").output(cid) == "from-the-host\n"


def test_a_tmpfs_after_a_bind_hides_it(cid, bundle, rootfs_copy, host_dir):
    bundle.doc["root"]["path"] = rootfs_copy
    bundle.add_mount("/a/b", "bind", host_dir, ["rbind", "ro"]).add_mount("/a", "tmpfs")
    out = bundle.command("ls -A /a; cat /a/b/marker || echo hidden").output(cid)
    assert out == "hidden\n"


# Mount types and options


def test_a_tmpfs_gets_its_size_and_mode(cid, bundle, rootfs_copy):
    bundle.doc["root"]["path"] = rootfs_copy
    # 1777 is a tmpfs's default (mountinfo leaves it out): 1770 shows the option works.
    bundle.add_mount("/scratch", "tmpfs", options=["nosuid", "size=1m", "mode=1770"])
    out = bundle.command("stat -c %a /scratch; df -k /scratch | tail -n 1; "
                         "cat /proc/self/mountinfo").output(cid)
    mode, df, *table = out.splitlines()
    assert mode == "1770"
    assert df.split()[1] == "1024"  # 1 MiB in KiB blocks
    seen = mountinfo("\n".join(table))["/scratch"]
    assert seen["fstype"] == "tmpfs" and "nosuid" in seen["options"]
    assert {"size=1024k", "mode=1770"} <= seen["super"]


@pytest.mark.parametrize("readonly", [True, False])
def test_a_read_only_tmpfs_refuses_writes(cid, bundle, rootfs_copy, readonly):
    bundle.doc["root"]["path"] = rootfs_copy
    bundle.add_mount("/scratch", "tmpfs", options=["ro"] if readonly else [])
    result = bundle.command("echo x > /scratch/f && echo written").run(cid)
    if readonly:
        assert result.returncode != 0 and "Read-only file system" in result.stderr
    else:
        assert (result.returncode, result.stdout) == (0, "written\n"), result.stderr


def test_the_filesystems_spec_lists_are_mounted_as_it_writes_them(cid, bundle):
    table = mountinfo(bundle.command("cat /proc/self/mountinfo").output(cid))
    by_destination = {m["destination"]: m for m in bundle.doc["mounts"]}
    assert {"/proc", "/dev/pts", "/dev/mqueue", "/sys", "/sys/fs/cgroup"} <= set(by_destination)
    kinds = {"proc": "proc", "sysfs": "sysfs", "devpts": "devpts", "mqueue": "mqueue",
             "cgroup": "cgroup2", "tmpfs": "tmpfs"}
    for destination, entry in by_destination.items():
        seen = table[destination]
        assert seen["fstype"] == kinds[entry["type"]], destination
        flags = {o for o in entry["options"] if o in ("nosuid", "nodev", "noexec", "ro")}
        assert flags <= seen["options"], (destination, seen)
    assert {"ptmxmode=666", "mode=620"} <= table["/dev/pts"]["super"]


@pytest.mark.parametrize("options", [["nosuid", "nodev", "noexec"], []])
def test_a_binds_flags_show_in_mountinfo_and_hold(cid, bundle, host_dir, options):
    prog = os.path.join(host_dir, "prog")
    with open(prog, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(prog, 0o755)
    bundle.add_mount("/mnt", "bind", host_dir, ["rbind", *options])
    out = bundle.command("grep ' /mnt ' /proc/self/mountinfo; "
                         "/mnt/prog && echo ran || echo not-run").output(cid)
    line, verdict = out.splitlines()
    flags = set(line.split()[5].split(","))
    if options:
        assert {"nosuid", "nodev", "noexec"} <= flags and verdict == "not-run"
    else:
        assert not {"nosuid", "nodev", "noexec"} & flags and verdict == "ran"


@pytest.mark.parametrize("readonly", [True, False])
def test_a_read_only_bind_refuses_writes(cid, bundle, host_dir, readonly):
    os.chmod(host_dir, 0o777)  # the container's root is an unprivileged host uid
    bundle.add_mount("/mnt", "bind", host_dir, ["rbind", "ro" if readonly else "rw"])
    result = bundle.command("echo x > /mnt/new && echo written").run(cid)
    if readonly:
        assert result.returncode != 0 and "Read-only file system" in result.stderr
        assert not os.path.exists(os.path.join(host_dir, "new"))
    else:
        assert result.stdout == "written\n", result.stderr
        with open(os.path.join(host_dir, "new")) as f:
            assert f.read() == "x\n"


@pytest.mark.parametrize("copyup", [True, False])
def test_tmpcopyup_starts_the_tmpfs_with_what_it_covers(cid, bundle, rootfs_copy, copyup):
    data = os.path.join(rootfs_copy, "data")
    os.makedirs(data, exist_ok=True)
    with open(os.path.join(data, "kept"), "w") as f:
        f.write("original\n")
    os.chown(os.path.join(data, "kept"), *_owner(data))
    bundle.doc["root"]["path"] = rootfs_copy
    bundle.add_mount("/data", "tmpfs", options=["tmpcopyup"] if copyup else [])
    out = bundle.command("cat /data/kept || echo missing; "
                         "echo changed > /data/kept && cat /data/kept").output(cid)
    if copyup:
        assert out == "original\nchanged\n"
    else:
        assert out.startswith("missing\n")
    with open(os.path.join(data, "kept")) as f:
        assert f.read() == "original\n"  # the rootfs's own copy is untouched


def _owner(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_uid, st.st_gid


def test_a_bind_onto_a_symlink_to_etc_stays_in_the_container(cid, bundle, rootfs_copy,
                                                              host_dir):
    from helpers import host_mounts

    os.symlink("/etc", os.path.join(rootfs_copy, "data"))
    bundle.doc["root"]["path"] = rootfs_copy
    bundle.add_mount("/data", "bind", host_dir, ["rbind", "ro"])
    before = host_mounts()
    out = bundle.command("cat /etc/marker; test -e /etc/passwd || echo etc-covered").output(cid)
    assert out == "from-the-host\netc-covered\n"
    assert not os.path.exists("/etc/marker")
    assert host_mounts() == before


# Refusals


def test_an_unknown_mount_type_is_refused_naming_it(cid, bundle):
    bundle.add_mount("/mnt", "nfs")
    line = create_refused(bundle, cid)
    index = len(bundle.doc["mounts"]) - 1
    assert f"mounts[{index}]" in line and "nfs" in line, line


def test_a_known_mount_type_twin_starts(cid, bundle, rootfs_copy):
    bundle.doc["root"]["path"] = rootfs_copy
    bundle.add_mount("/mnt", "tmpfs")
    assert bundle.command("echo ok").output(cid) == "ok\n"


@pytest.mark.parametrize("where, key, value, field", [
    ("linux.resources", "memory", {"reservation": 1048576}, "linux.resources.memory.reservation"),
    ("process", "ioPriority", {"class": "IOPRIO_CLASS_IDLE", "priority": 0},
     "process.ioPriority"),
    ("linux", "intelRdt", {"closID": "x"}, "linux.intelRdt"),
    ("", "noSuchField", 1, "noSuchField"),
])
def test_an_unknown_or_unsupported_field_is_refused_naming_it(cid, bundle, where, key, value,
                                                              field):
    place = bundle.doc
    for part in filter(None, where.split(".")):
        place = place.setdefault(part, {})
    place[key] = value
    line = create_refused(bundle, cid)
    assert field in line, line


def test_the_unchanged_spec_bundle_is_created(cid, bundle):
    create_ok(bundle.command("true"), cid)
    assert json.loads(mc("state", cid, check=True).stdout)["status"] == "created"


# The process


@pytest.mark.parametrize("umask, mode", [(0o077, "600"), (None, "644")])
def test_the_umask_is_the_processs(cid, bundle, umask, mode):
    if umask is not None:
        bundle.doc["process"]["user"]["umask"] = umask
    out = bundle.command("umask; touch /dev/shm/f; stat -c %a /dev/shm/f").output(cid)
    assert out.splitlines() == [f"{0o022 if umask is None else umask:04o}", mode]


@pytest.mark.parametrize("gids, expected", [([10, 20], "0 10 20"), (None, "0")])
def test_additional_gids_are_the_processs_groups(cid, bundle, gids, expected):
    if gids is not None:
        bundle.doc["process"]["user"]["additionalGids"] = gids
    assert bundle.command("id -G").output(cid) == f"{expected}\n"


def test_rlimits_are_set_in_the_container(cid, bundle):
    bundle.doc["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 1024}]
    assert bundle.command("ulimit -Sn; ulimit -Hn").output(cid) == "1000\n1024\n"


def test_without_rlimits_the_container_has_the_runtimes(cid, bundle):
    import resource

    out = bundle.command("ulimit -Sn; ulimit -Hn").output(cid)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert out == f"{soft}\n{hard}\n" and (soft, hard) != (1000, 1024)


def test_an_rlimit_with_soft_above_hard_is_refused_naming_it(cid, bundle):
    bundle.doc["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}]
    line = create_refused(bundle, cid)
    assert line == ("minicontainer: error: process.rlimits[0].soft: 2048 is more than hard "
                    "(1024)\n")


def without_user_namespace(bundle: Bundle) -> None:
    linux = bundle.doc["linux"]
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "user"]
    linux.pop("uidMappings")
    linux.pop("gidMappings")


@pytest.mark.parametrize("userns", [True, False])
@pytest.mark.parametrize("adj", [500, None])
def test_oom_score_adj_is_the_processs(cid, bundle, adj, userns):
    if adj is not None:
        bundle.doc["process"]["oomScoreAdj"] = adj
    if not userns:
        without_user_namespace(bundle)
    with open("/proc/self/oom_score_adj") as f:
        ours = int(f.read())
    out = bundle.command("cat /proc/self/oom_score_adj").output(cid)
    assert int(out) == (ours if adj is None else adj)
    assert ours != 500


@pytest.mark.parametrize("size", [{"height": 33, "width": 111}, None])
def test_console_size_sizes_the_pty(cid, bundle, tmp_path, size):
    bundle.doc["process"]["terminal"] = True
    if size is not None:
        bundle.doc["process"]["consoleSize"] = size
    bundle.command("stty size; echo size-done")
    sock_path = str(tmp_path / "console.sock")
    with console_socket(sock_path) as receive:
        created = mc("create", "--bundle", bundle.write(), "--console-socket", sock_path, cid,
                     stdin=subprocess.DEVNULL, capture_output=False,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert created.returncode == 0, created.stderr
        master, = receive()
        try:
            mc("start", cid, check=True)
            out = read_until(master, b"size-done").decode()
        finally:
            os.close(master)
    first = out.replace("\r", "").splitlines()[0]
    if size is not None:
        assert first == "33 111", out
    else:
        assert first != "33 111" and "size-done" in out, out


# linux.sysctl


def _host_sysctl(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as f:
        return f.read().strip()


# ip_forward is 1 on this host, and a new network namespace copies the host's IPv4
# settings: it has no twin (the other two have one, whose value differs from what is set).
@pytest.mark.parametrize("key, value, namespace, asked", [
    ("net.ipv4.ip_forward", "1", "network", True),
    ("net.ipv4.ip_unprivileged_port_start", "1000", "network", True),
    ("net.ipv4.ip_unprivileged_port_start", "1000", "network", False),
    ("kernel.shmmax", "1073741824", "ipc", True),
    ("kernel.shmmax", "1073741824", "ipc", False),
])
def test_a_namespaced_sysctl_is_the_containers_only(cid, bundle, key, value, namespace, asked):
    assert namespace in {n["type"] for n in bundle.doc["linux"]["namespaces"]}
    if asked:
        bundle.doc["linux"]["sysctl"] = {key: value}
    host_before = _host_sysctl(key)
    try:
        out = bundle.command(f"cat /proc/sys/{key.replace('.', '/')}").output(cid)
    finally:
        host_after = _host_sysctl(key)
        if host_after != host_before:  # never leave the host changed, even on a failure
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(host_before)
    assert host_after == host_before
    if asked:
        assert out.strip() == value
    else:
        assert out.strip() != value  # a fresh namespace's default: the setting did it


@pytest.mark.parametrize("key", ["kernel.panic", "vm.swappiness"])
def test_a_host_wide_sysctl_is_refused_naming_it(cid, bundle, key):
    before = _host_sysctl(key)
    bundle.doc["linux"]["sysctl"] = {key: "7"}
    line = create_refused(bundle, cid)
    assert key in line and "whole host" in line, line
    assert _host_sysctl(key) == before


def test_a_net_sysctl_with_the_hosts_network_is_refused(cid, bundle):
    bundle.doc["linux"]["namespaces"] = [n for n in bundle.doc["linux"]["namespaces"]
                                         if n["type"] != "network"]
    bundle.doc["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    line = create_refused(bundle, cid)
    assert "net.ipv4.ip_forward" in line and "network namespace" in line, line


def test_the_hosts_network_without_a_net_sysctl_starts(cid, bundle):
    bundle.doc["linux"]["namespaces"] = [n for n in bundle.doc["linux"]["namespaces"]
                                         if n["type"] != "network"]
    assert bundle.command("echo ok").output(cid) == "ok\n"


def test_an_ipc_sysctl_without_an_ipc_namespace_is_refused(cid, bundle):
    bundle.doc["linux"]["namespaces"] = [n for n in bundle.doc["linux"]["namespaces"]
                                         if n["type"] != "ipc"]
    bundle.doc["mounts"] = [m for m in bundle.doc["mounts"] if m["type"] != "mqueue"]
    bundle.doc["linux"]["sysctl"] = {"kernel.shmmax": "1073741824"}
    line = create_refused(bundle, cid)
    assert "kernel.shmmax" in line and "IPC namespace" in line, line


# linux.cgroupsPath


def _hierarchy():
    hierarchy = cgroups.find_hierarchy()
    if hierarchy is None:
        pytest.skip("this host has no cgroup v2 hierarchy")
    return hierarchy


@pytest.fixture
def cgroup_parent():
    """``/mc-test-PID``, a cgroup directory this test may make, removed afterwards."""
    name = f"mc-test-{os.getpid()}"
    path = os.path.join(_hierarchy().mountpoint, name)
    yield name, path
    for leftover in (os.path.join(path, "inner"), path):
        if os.path.isdir(leftover):
            os.rmdir(leftover)


def test_an_absolute_cgroups_path_is_where_the_cgroup_is(cid, bundle, cgroup_parent):
    name, parent = cgroup_parent
    bundle.doc["linux"]["cgroupsPath"] = f"/{name}/inner"
    create_ok(bundle.command("sleep 30"), cid)
    expected = os.path.join(parent, "inner")
    record = json.loads(mc("inspect", cid, check=True).stdout)
    assert record["cgroup"] == expected
    pid = record["pid"]
    with open(os.path.join(expected, "cgroup.procs")) as f:
        assert str(pid) in f.read().split()
    mc("delete", "--force", cid, check=True)
    assert not os.path.exists(expected)


def test_a_relative_cgroups_path_is_under_minicontainer(cid, bundle):
    hierarchy = _hierarchy()
    name = f"rel-{os.getpid()}"
    bundle.doc["linux"]["cgroupsPath"] = name
    create_ok(bundle.command("sleep 30"), cid)
    expected = os.path.join(hierarchy.mountpoint, cgroups.BASE, name)
    assert json.loads(mc("inspect", cid, check=True).stdout)["cgroup"] == expected
    assert os.path.isdir(expected)
    mc("delete", "--force", cid, check=True)
    assert not os.path.exists(expected)


def test_without_a_cgroups_path_the_cgroup_is_named_by_the_id(cid, bundle):
    hierarchy = _hierarchy()
    create_ok(bundle.command("sleep 30"), cid)
    expected = os.path.join(hierarchy.mountpoint, cgroups.BASE, cid)
    assert json.loads(mc("inspect", cid, check=True).stdout)["cgroup"] == expected
    mc("delete", "--force", cid, check=True)
    assert not os.path.exists(expected)


@pytest.mark.parametrize("path", ["system.slice:mc:inner", "/mc-test/../escape", "a/./b"])
def test_a_cgroups_path_minicontainer_cannot_use_is_refused(cid, bundle, path):
    bundle.doc["linux"]["cgroupsPath"] = path
    line = create_refused(bundle, cid)
    assert "cgroupsPath" in line and repr(path) in line, line


def create_ok(bundle: Bundle, cid: str) -> None:
    """`create`, which must succeed.  The container keeps create's stderr: a file, not a
    pipe, which would stay open as long as it runs."""
    with tempfile.TemporaryFile() as errors:
        result = subprocess.run([*MC, "create", "--bundle", bundle.write(), cid],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=errors, timeout=60)
        errors.seek(0)
        assert result.returncode == 0, errors.read().decode()


# linux.resources.pids


def test_a_pids_limit_of_0_is_no_limit(cid, bundle):
    bundle.doc["linux"].setdefault("resources", {})["pids"] = {"limit": 0}
    assert bundle.command("echo started").output(cid) == "started\n"


def test_a_positive_pids_limit_needs_the_pids_controller(cid, bundle):
    hierarchy = _hierarchy()
    if "pids" in hierarchy.controllers:
        pytest.skip("this host has the pids controller in cgroup v2 (limits are tested in "
                    "the VM)")
    bundle.doc["linux"].setdefault("resources", {})["pids"] = {"limit": 64}
    line = create_refused(bundle, cid)
    assert line == f"minicontainer: error: cgroup: {hierarchy.describe_missing('pids')}\n"


# Destinations that would leave the root, and propagation per mount

@pytest.mark.parametrize("where", ["mounts", "maskedPaths", "readonlyPaths"])
def test_a_destination_with_dotdot_is_refused_naming_it(cid, bundle, where):
    escape = f"/../../../tmp/mc-dotdot-{os.getpid()}"
    if where == "mounts":
        bundle.add_mount(escape, "tmpfs")
    else:
        bundle.doc["linux"][where].append(escape)
    error = create_refused(bundle, cid)
    assert "'..'" in error and escape in error
    assert not os.path.exists(f"/tmp/mc-dotdot-{os.getpid()}")


def test_a_tmpfs_onto_a_symlink_is_refused(cid, bundle, rootfs_copy):
    """A filesystem of the container's own is never mounted through a symlink: the
    rootfs's /data -> /etc is refused rather than followed (before the pivot, it would
    lead to the host's /etc)."""
    os.symlink("/etc", os.path.join(rootfs_copy, "data"))
    bundle.doc["root"]["path"] = rootfs_copy
    result = bundle.add_mount("/data", "tmpfs", options=["tmpcopyup"]).command("true").run(cid)
    assert result.returncode == 125 and "symlink" in result.stderr
    assert not os.path.ismount("/etc")


@pytest.mark.parametrize("option, slave", [(None, True), ("rprivate", False)])
def test_a_binds_own_propagation_holds(cid, bundle, host_dir, option, slave):
    """Under an rslave root, a bind of a shared host mount is its slave (mountinfo's
    optional field master:N); one that asks for rprivate is not, though the root's
    propagation is set on every mount at the end."""
    shared = tempfile.mkdtemp(prefix="mc-shared-", dir="/tmp")
    subprocess.run(["mount", "--bind", "--make-shared", shared, shared], check=True)
    try:
        bundle.doc["linux"]["rootfsPropagation"] = "rslave"
        bundle.add_mount("/mnt", "bind", shared, ["rbind", *([option] if option else [])])
        line = bundle.command("grep ' /mnt ' /proc/self/mountinfo").output(cid)
        optional = line.split(" - ")[0].split()[6:]
        assert any(f.startswith("master:") for f in optional) == slave, line
    finally:
        subprocess.run(["umount", shared], check=True)
        os.rmdir(shared)


def test_a_propagation_for_one_mount_other_than_private_is_refused(cid, bundle, host_dir):
    bundle.add_mount("/mnt", "bind", host_dir, ["rbind", "rslave"])
    error = create_refused(bundle, cid)
    assert "mounts[" in error and "'rslave'" in error and "rootfsPropagation" in error


# Namespaces joined by path (a pod: its containers join the first one's)

def test_joined_namespaces_are_the_other_containers(request, cid, bundle, tmp_path):
    """ipc, uts, pid and cgroup joined by path are the first container's; the mount
    namespace stays the second's own."""
    first = container_id(request, "pod")
    (tmp_path / "first").mkdir()
    mc("spec", "--bundle", str(tmp_path / "first"), "--rootfs", BASE_ROOTFS, check=True)
    other = Bundle(str(tmp_path / "first"))
    # As a rootful podman pod: no user namespaces, whose owners would differ
    without_user_namespace(other)
    without_user_namespace(bundle)
    try:
        create_ok(other.command("sleep 60"), first)
        host_pid = oci_state(first)["pid"]
        kinds = ("ipc", "uts", "pid", "cgroup")
        bundle.doc["linux"]["namespaces"] = [
            n for n in bundle.doc["linux"]["namespaces"] if n["type"] not in kinds]
        bundle.doc["linux"]["namespaces"] += [
            {"type": kind, "path": f"/proc/{host_pid}/ns/{kind}"} for kind in kinds]
        bundle.doc.pop("hostname", None)
        create_ok(bundle.command("sleep 60"), cid)
        pid = oci_state(cid)["pid"]
        for name in kinds:
            assert os.readlink(f"/proc/{pid}/ns/{name}") == \
                os.readlink(f"/proc/{host_pid}/ns/{name}"), name
        assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink(f"/proc/{host_pid}/ns/mnt")
    finally:
        mc("delete", "--force", first)


def test_a_user_or_mount_namespace_path_is_refused_naming_it(cid, bundle):
    bundle.doc["linux"]["namespaces"] = [
        n for n in bundle.doc["linux"]["namespaces"] if n["type"] != "user"]
    bundle.doc["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user"})
    error = create_refused(bundle, cid)
    assert "linux.namespaces.user" in error and "cannot be joined" in error
