"""The device layer: a cgroup BPF program decides which device nodes a container may use.

The attack: with ``--userns host`` the container's root holds CAP_MKNOD (one of
Docker's default capabilities), so it can make a node for any disk of the host
and read or write it.  Each test that shows the layer refusing something has a
twin where only the device layer is off and the same action succeeds.  The disk
is a loop device the test makes over a file holding a nonce, and detaches after.
"""

from __future__ import annotations

import os
import pty
import secrets
import shutil
import subprocess

import pytest

from helpers import MC, mc, read_until
from minicontainer import Config, Container, cgroups, devices
from minicontainer.config import Device, DeviceRule, Resources, standard_mounts
from minicontainer.errors import ContainerError
from minicontainer.namespaces import ALL, Namespace

HOST_USERS = ["--userns", "host"]
NO_DEVICE_LAYER = ["--security-opt", "devices=unconfined"]
EPERM = "Operation not permitted"


class Disk:
    """A loop device over a small file that starts with a nonce."""

    def __init__(self, path: str, nonce: str, backing: str) -> None:
        self.path = path
        self.nonce = nonce
        self.backing = backing
        st = os.stat(path)
        self.major, self.minor = os.major(st.st_rdev), os.minor(st.st_rdev)

    def mknod_and(self, command: str) -> str:
        """A script that makes a node for this disk at /dev/disk, then runs ``command``."""
        return f"mknod /dev/disk b {self.major} {self.minor} && echo made; {command}"

    def content(self) -> bytes:
        with open(self.backing, "rb") as f:
            return f.read(len(self.nonce))


@pytest.fixture
def disk(tmp_path):
    if shutil.which("losetup") is None:
        pytest.skip("this machine has no losetup (util-linux) to make a loop device")
    if not os.path.exists("/dev/loop-control"):
        pytest.skip("this machine has no loop devices (/dev/loop-control is missing)")
    nonce = f"NONCE-{secrets.token_hex(8)}"
    backing = tmp_path / "disk.img"
    backing.write_bytes(nonce.encode() + b"\0" * (1 << 20))
    made = subprocess.run(["losetup", "-f", "--show", str(backing)], capture_output=True,
                          text=True)
    if made.returncode != 0:
        pytest.skip(f"losetup could not attach a loop device here: {made.stderr.strip()}")
    path = made.stdout.strip()
    try:
        yield Disk(path, nonce, str(backing))
    finally:
        subprocess.run(["losetup", "-d", path], check=True)


def sh_in(*flags: str, script: str) -> subprocess.CompletedProcess:
    return mc("run", *flags, "--", "sh", "-c", script)


# ---- a host disk


def test_a_node_for_a_host_disk_can_be_made_but_not_opened(disk):
    result = sh_in(*HOST_USERS, script=disk.mknod_and(f"head -c {len(disk.nonce)} /dev/disk"))
    assert "made" in result.stdout  # mknod is allowed, as in runc: a node is only a name
    assert disk.nonce not in result.stdout
    assert f"/dev/disk: {EPERM}" in result.stderr


def test_twin_without_the_device_layer_the_disk_is_read(disk):
    result = sh_in(*HOST_USERS, *NO_DEVICE_LAYER,
                   script=disk.mknod_and(f"head -c {len(disk.nonce)} /dev/disk"))
    assert result.returncode == 0, result.stderr
    assert disk.nonce in result.stdout


def test_twin_privileged_switches_the_device_layer_off(disk):
    result = sh_in(*HOST_USERS, "--privileged",
                   script=disk.mknod_and(f"head -c {len(disk.nonce)} /dev/disk"))
    assert result.returncode == 0, result.stderr
    assert disk.nonce in result.stdout


def test_a_write_to_the_host_disk_is_refused(disk):
    result = sh_in(*HOST_USERS, script=disk.mknod_and("echo OVERWRITTEN > /dev/disk"))
    assert f"/dev/disk: {EPERM}" in result.stderr
    assert disk.content() == disk.nonce.encode()


def test_exec_into_the_container_is_under_the_same_program(disk):
    cid = mc("run", "-d", *HOST_USERS, "--", "sleep", "60", check=True).stdout.strip()
    try:
        result = mc("exec", cid, "sh", "-c", disk.mknod_and("head -c 8 /dev/disk"))
        assert f"/dev/disk: {EPERM}" in result.stderr
    finally:
        mc("rm", "-f", cid, check=True)


def test_one_program_is_attached_to_the_cgroup_and_none_when_off():
    """The host's view (what `bpftool cgroup show` lists), for both settings."""
    seen = {}
    for name, flags in (("on", []), ("off", NO_DEVICE_LAYER)):
        cid = mc("run", "-d", *flags, "--", "sleep", "60", check=True).stdout.strip()
        try:
            seen[name] = devices.attached(cgroups.container_path(cid))
        finally:
            mc("rm", "-f", cid, check=True)
    assert len(seen["on"]) == 1
    assert seen["off"] == []


# ---- --device and --device-cgroup-rule


def test_device_flag_makes_the_node_and_lets_it_through(disk):
    result = sh_in(*HOST_USERS, "--device", disk.path,
                   script=f"head -c {len(disk.nonce)} {disk.path}")
    assert result.returncode == 0, result.stderr
    assert disk.nonce in result.stdout


def test_device_flag_with_a_container_path_and_read_only_permissions(disk):
    result = sh_in(*HOST_USERS, "--device", f"{disk.path}:/dev/xvda:r",
                   script=f"head -c {len(disk.nonce)} /dev/xvda; echo; "
                   "echo OVERWRITTEN > /dev/xvda")
    assert disk.nonce in result.stdout
    assert f"/dev/xvda: {EPERM}" in result.stderr
    assert disk.content() == disk.nonce.encode()


def test_device_cgroup_rule_allows_a_node_the_container_makes(disk):
    result = sh_in(*HOST_USERS, "--device-cgroup-rule", f"b {disk.major}:* r",
                   script=disk.mknod_and(f"head -c {len(disk.nonce)} /dev/disk"))
    assert result.returncode == 0, result.stderr
    assert disk.nonce in result.stdout


@pytest.mark.parametrize("flag, value", [
    ("--device", "/nonexistent/disk"),
    ("--device", "/etc/hostname"),
    ("--device", "/dev/null:/dev/n:rwx"),
    ("--device", "/dev/null:relative/path:rw"),
    ("--device", "/dev/null:/dev/n:rw:extra"),
    ("--device-cgroup-rule", "x 1:3 rwm"),
    ("--device-cgroup-rule", "c 1:three rwm"),
    ("--device-cgroup-rule", "c 1:3"),
])
def test_bad_device_input_is_one_line_naming_the_field(flag, value):
    result = mc("run", flag, value, "--", "true")
    assert result.returncode == 125
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"minicontainer: error: {flag[2:]}: "), lines
    assert repr(value) in lines[0]


@pytest.mark.parametrize("flags", [[], HOST_USERS], ids=["userns", "userns-host"])
def test_a_device_over_a_node_already_there_is_refused(flags):
    result = mc("run", *flags, "--device", "/dev/zero:/dev/null", "--", "true")
    assert result.returncode == 125
    assert result.stderr.strip() == ("minicontainer: error: container init: device /dev/null "
                                     "(is already there, refusing to replace it)")


# ---- the default devices still work


@pytest.mark.parametrize("flags", [[], HOST_USERS], ids=["userns", "userns-host"])
def test_the_default_devices_still_work(flags):
    script = ("echo x > /dev/null && head -c 4 /dev/null | wc -c && head -c 4 /dev/zero | wc -c"
              " && head -c 4 /dev/urandom | wc -c && head -c 4 /dev/random | wc -c"
              " && { echo x > /dev/full; echo full=$?; }")
    result = sh_in(*flags, script=script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "4", "4", "4", "full=1"]
    assert "No space left on device" in result.stderr  # /dev/full opened, then full


def test_a_node_made_for_a_default_device_works():
    result = sh_in(*HOST_USERS, script="mknod /dev/z c 1 5 && head -c 3 /dev/z | wc -c")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3"]


def test_the_terminal_devices_work_under_the_layer():
    """-t: the pty (/dev/pts/0, major 136), /dev/tty and /dev/ptmx (a new pty)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(MC[0], [*MC, "run", "-t", "--", "sh", "-c",
                         "tty; echo via-tty > /dev/tty; exec 3<>/dev/ptmx && echo ptmx-ok; "
                         "echo done"])
    out = read_until(fd, b"done").decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert "/dev/pts/0" in out
    assert "via-tty" in out
    assert "ptmx-ok" in out


# ---- OCI linux.devices and linux.resources.devices, through the Python API


def _run_api(cfg: Config, tmp_path) -> tuple[int, str, str]:
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "w") as o, open(err, "w") as e:
        code = Container(cfg).run(stdout=o.fileno(), stderr=e.fileno())
    return code, out.read_text(), err.read_text()


def test_oci_resources_devices_rules_are_applied(disk, tmp_path):
    """allow rw, then deny w: each access is decided by the last rule naming it."""
    doc = {
        "process": {"args": ["sh", "-c", f"head -c {len(disk.nonce)} /dev/xvda; echo; "
                             "echo OVERWRITTEN > /dev/xvda"]},
        # /proc, /dev and the rest, as a config.json lists them; the stored rootfs, overlaid
        "mounts": [m.to_oci() for m in standard_mounts()],
        "annotations": {"minicontainer.overlay": "true"},
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "mount", "ipc", "uts")],
            "devices": [{"path": "/dev/xvda", "type": "b", "major": disk.major,
                         "minor": disk.minor, "fileMode": 0o600}],
            "resources": {"devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "b", "major": disk.major, "minor": disk.minor,
                 "access": "rw"},
                {"allow": False, "type": "b", "major": disk.major, "access": "w"},
            ]},
        },
    }
    code, out, err = _run_api(Config.from_oci(doc), tmp_path)
    assert disk.nonce in out
    assert f"/dev/xvda: {EPERM}" in err
    assert disk.content() == disk.nonce.encode()


def test_twin_without_the_oci_rules_the_node_is_refused(disk, tmp_path):
    cfg = Config(["head", "-c", "8", "/dev/xvda"], namespaces=ALL & ~Namespace.USER,
                 devices=[Device("/dev/xvda", "b", disk.major, disk.minor, 0o600)])
    code, out, err = _run_api(cfg, tmp_path)
    assert code != 0
    assert f"/dev/xvda: {EPERM}" in err


def test_a_program_the_verifier_refuses_aborts_the_start(monkeypatch, tmp_path):
    """Fail closed: no program, no container; the verifier's reason is in the one line."""
    no_return_value = [devices.Instruction(devices.EXIT, comment="return r0, never set")]
    monkeypatch.setattr(devices, "compile_rules", lambda rules: no_return_value)
    with pytest.raises(ContainerError) as failure:
        _run_api(Config(["true"]), tmp_path)
    message = str(failure.value)
    assert message.startswith("devices: bpf(BPF_PROG_LOAD): verifier:")
    assert "R0" in message
    assert "\n" not in message


def test_without_cgroup_v2_the_device_layer_is_refused_unless_off(monkeypatch, tmp_path):
    monkeypatch.setattr(cgroups, "find_hierarchy", lambda: None)
    with pytest.raises(ContainerError, match="devices=unconfined"):
        _run_api(Config(["true"]), tmp_path)
    assert _run_api(Config(["true"], device_cgroup=False), tmp_path)[0] == 0


def test_resources_devices_round_trip_through_oci():
    rules = [DeviceRule(False), DeviceRule(True, "c", 10, 200, "rw")]
    nodes = [Device("/dev/net/tun", "c", 10, 200, 0o620, 0, 5)]
    cfg = Config(["sh"], resources=Resources(devices=rules), devices=nodes)
    again = Config.from_oci(cfg.to_oci())
    assert [str(r) for r in again.resources.devices] == ["a *:* rwm", "c 10:200 rw"]
    assert [r.allow for r in again.resources.devices] == [False, True]
    assert again.devices[0].to_oci() == nodes[0].to_oci()


# ---- nodev


def test_nodev_on_every_mount_that_holds_no_device_nodes():
    """Checked with the host's /proc and /sys bound too (shared pid and net), as a
    bind keeps the host mount's flags."""
    for flags in ([], ["--share", "pid,net,cgroup"]):
        result = sh_in(*flags, script="cat /proc/self/mountinfo")
        assert result.returncode == 0, result.stderr
        options = {}
        for line in result.stdout.splitlines():
            fields = line.split()
            options[fields[4]] = set(fields[5].split(","))
        for path in ("/proc", "/sys", "/sys/fs/cgroup", "/dev/shm", "/dev/mqueue",
                     "/proc/acpi", "/sys/firmware", "/proc/sys"):
            assert {"nosuid", "nodev", "noexec"} <= options[path], (flags, path)
        assert {"nosuid", "noexec"} <= options["/dev/pts"]
        assert "nodev" not in options["/dev"]  # /dev is where the device nodes are
