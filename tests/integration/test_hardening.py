"""Capabilities, no_new_privs, seccomp, masked and read-only paths, fd hygiene.

Each blocked action has a twin in which only the layer that blocks it is off, and
the same action succeeds: the block is that layer's doing, nothing else's.
"""

from __future__ import annotations

import os
import pty
import subprocess

import pytest

from helpers import MC, mc, probe, sh

DOCKER_DEFAULT = sorted([
    "chown", "dac_override", "fsetid", "fowner", "mknod", "net_raw", "setgid", "setuid",
    "setfcap", "setpcap", "net_bind_service", "sys_chroot", "kill", "audit_write"])
UNCONFINED = ["--security-opt", "seccomp=unconfined"]
NO_SYSTEM_PATHS = ["--security-opt", "systempaths=unconfined"]


def syscall(seen: dict, name: str) -> str:
    return seen["syscalls"][name]["result"]


# ---- capabilities


def test_default_capabilities_are_dockers_14_and_inheritable_and_ambient_are_empty():
    caps = probe()["capabilities"]
    for kind in ("bounding", "permitted", "effective"):
        assert sorted(caps[kind]) == DOCKER_DEFAULT, kind
    assert caps["inheritable"] == caps["ambient"] == []


def test_non_root_user_holds_no_capabilities():
    caps = probe("-u", "1000")["capabilities"]
    assert caps["permitted"] == caps["effective"] == caps["ambient"] == []
    assert sorted(caps["bounding"]) == DOCKER_DEFAULT


def test_capabilities_added_for_a_non_root_user_are_ambient():
    caps = probe("-u", "1000", "--cap-add", "net_admin")["capabilities"]
    assert caps["ambient"] == caps["effective"] == caps["permitted"] == ["net_admin"]


@pytest.mark.parametrize("spelling", ["SYS_ADMIN", "CAP_SYS_ADMIN", "cap_sys_admin", "Sys_Admin"])
def test_capability_names_in_any_spelling(spelling):
    assert "sys_admin" in probe("--cap-add", spelling)["capabilities"]["effective"]


def test_the_newest_capability_can_be_added_by_its_name():
    caps = probe("--cap-add", "CHECKPOINT_RESTORE")["capabilities"]
    assert "checkpoint_restore" in caps["effective"] and "checkpoint_restore" in caps["bounding"]
    assert mc("run", "--cap-add", "LAST_CAP", "--", "true").returncode == 125


def test_cap_drop_all_then_add_one():
    caps = probe("--cap-drop", "ALL", "--cap-add", "kill")["capabilities"]
    assert caps["bounding"] == caps["effective"] == ["kill"]


@pytest.mark.parametrize("flag", ["--cap-add", "--cap-drop"])
def test_unknown_capability_is_an_error(flag):
    result = mc("run", flag, "CAP_FLY", "--", "true")
    assert result.returncode == 125
    assert result.stderr == f"minicontainer: error: {flag[2:]}: 'CAP_FLY' is not a capability\n"


def test_cap_drop_chown_makes_chown_fail():
    script = "touch /tmp/f && chown 1000 /tmp/f"
    assert mc("run", "--", "sh", "-c", script).returncode == 0
    denied = mc("run", "--cap-drop", "CHOWN", "--", "sh", "-c", script)
    assert denied.returncode == 1
    assert "Operation not permitted" in denied.stderr


def test_mknod_of_a_block_device_needs_mknod_and_no_user_namespace():
    assert syscall(probe(), "mknod(block device)") == "EPERM"
    assert syscall(probe("--userns", "host"), "mknod(block device)") == "ok"
    without_mknod = probe("--userns", "host", "--cap-drop", "MKNOD")
    assert syscall(without_mknod, "mknod(block device)") == "EPERM"


def test_runtime_process_is_out_of_reach_of_a_container_sharing_its_pids():
    # Even as host root (no user namespace) with the pid namespace shared, the
    # container cannot open the runtime's /proc/PID/exe: its capabilities are not a
    # superset of the runtime's.  With CAP_SYS_PTRACE it could.
    script = "head -c 4 /proc/$PPID/exe | od -An -c"
    flags = ["--share", "pid", "--userns", "host"]
    denied = mc("run", *flags, "--", "sh", "-c", script)
    assert "Permission denied" in denied.stderr
    allowed = sh(*flags, "--cap-add", "SYS_PTRACE", script=script)
    assert allowed.split() == ["177", "E", "L", "F"]


# ---- no_new_privs


def test_no_new_privs_is_on_by_default():
    assert probe()["no_new_privs"] is True
    assert probe("--security-opt", "no-new-privileges=false")["no_new_privs"] is False


def test_setuid_binary_gains_nothing_with_no_new_privs():
    on = probe_setuid()
    off = probe_setuid("--security-opt", "no-new-privileges=false")
    assert (on["uid"], on["euid"]) == (1000, 1000)
    assert (off["uid"], off["euid"]) == (1000, 0)


def probe_setuid(*flags: str) -> dict:
    import json

    result = mc("run", "-u", "1000", *flags, "--", "mc-probe-setuid", "--json", check=True)
    return json.loads(result.stdout)


# ---- seccomp


def test_seccomp_filter_is_loaded():
    seen = probe()
    assert seen["seccomp"] == "filter" and seen["seccomp_filters"] == 1
    assert probe(*UNCONFINED)["seccomp"] == "disabled"


@pytest.mark.parametrize("name", ["keyctl", "keyctl(int 0x80)", "unshare(CLONE_NEWUSER)", "bpf"])
def test_blocked_syscall_fails_with_eperm_and_is_allowed_unconfined(name):
    assert syscall(probe(), name) == "EPERM"
    assert syscall(probe(*UNCONFINED), name) != "EPERM"


def test_mount_needs_both_seccomp_off_and_sys_admin():
    assert syscall(probe(), "mount") == "EPERM"
    assert syscall(probe("--cap-add", "SYS_ADMIN", *UNCONFINED), "mount") == "ok"
    assert syscall(probe(*UNCONFINED), "mount") == "EPERM"  # the capability layer alone


def test_clone_into_a_new_namespace_needs_seccomp_off_and_sys_admin():
    assert syscall(probe(), "clone(CLONE_NEWNS)") == "EPERM"
    assert syscall(probe("--cap-add", "SYS_ADMIN", *UNCONFINED), "clone(CLONE_NEWNS)") == "ok"
    assert syscall(probe(*UNCONFINED), "clone(CLONE_NEWNS)") == "EPERM"


def test_sys_admin_brings_mount_back_through_the_default_profile():
    # As in Docker: the profile allows mount to a container that holds CAP_SYS_ADMIN.
    assert syscall(probe("--cap-add", "SYS_ADMIN"), "mount") == "ok"


def _probe_on_a_tty(*flags: str) -> str:
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(MC[0], [*MC, "run", "-t", *flags, "--", "mc-probe"])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out.decode()


def _tiocsti_result(text: str) -> str:
    # A successful TIOCSTI pushed a NUL into the pty, which echoes it as ^@: read
    # the word after the name, wherever the line starts.
    words = next(line for line in text.splitlines() if "ioctl(TIOCSTI)" in line).split()
    return words[words.index("ioctl(TIOCSTI)") + 1]


def test_tiocsti_on_the_containers_own_tty_is_blocked():
    assert _tiocsti_result(_probe_on_a_tty()) == "EPERM"
    assert _tiocsti_result(_probe_on_a_tty(*UNCONFINED)) == "ok"


def test_a_container_without_tty_has_no_controlling_terminal():
    # A new session: /dev/tty leads nowhere, so there is no terminal to push keys into.
    assert syscall(probe(*UNCONFINED), "ioctl(TIOCSTI)") == "ENXIO"


def test_custom_profile_file(tmp_path):
    profile = tmp_path / "p.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["keyctl"], '
                       '"action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}')
    seen = probe("--security-opt", f"seccomp={profile}")
    assert seen["syscalls"]["keyctl"]["result"] == "ENOSYS"
    assert syscall(seen, "bpf") != "EPERM"  # everything else allowed by this profile


def test_bad_profile_file_is_an_error(tmp_path):
    profile = tmp_path / "p.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], '
                       '"action": "SCMP_ACT_BOGUS"}]}')
    result = mc("run", "--security-opt", f"seccomp={profile}", "--", "true")
    assert result.returncode == 125
    assert "syscalls[0].action: 'SCMP_ACT_BOGUS' is not an action" in result.stderr


def test_seccomp_show_prints_the_filter():
    out = mc("seccomp", "show", check=True).stdout
    assert "# filter for arch x86_64" in out and 'syscall "ioctl"' in out
    bpf = mc("seccomp", "show", "--bpf", check=True).stdout.splitlines()
    assert len(bpf) > 100 and bpf[1].split()[1] == "0x0020"  # first: load the arch


def test_seccomp_check():
    good = mc("seccomp", "check", "/dev/stdin", input='{"defaultAction": "SCMP_ACT_ALLOW"}')
    assert good.returncode == 0 and "valid" in good.stdout
    bad = mc("seccomp", "check", "/dev/stdin", input='{"defaultAction": 5}')
    assert bad.returncode == 125 and "defaultAction: 5 is not an action" in bad.stderr


# ---- masked and read-only paths


def _present_masked() -> list[str]:
    from minicontainer.config import MASKED_PATHS

    return [p for p in MASKED_PATHS if os.path.exists(p)]


def test_masked_paths_are_masked_and_unmasked_without_the_layer():
    present = _present_masked()
    assert present, "no masked path exists on this kernel"
    masked = probe()["masked_paths"]
    unmasked = probe(*NO_SYSTEM_PATHS)["masked_paths"]
    for path in present:
        assert masked[path] == {"state": "masked", "readable": False}, path
        assert unmasked[path]["state"] == "visible", path


def test_a_masked_file_reads_empty_and_is_readable_without_the_mask():
    path = "/proc/interrupts"  # readable by anyone on the host
    assert mc("run", "--", "cat", path, check=True).stdout == ""
    assert "CPU0" in mc("run", *NO_SYSTEM_PATHS, "--", "cat", path, check=True).stdout


def test_proc_sys_is_read_only_and_writable_without_the_layer():
    # Without a user namespace, to see the read-only layer alone (a user namespace
    # already denies it).  kernel.hostname belongs to the container's UTS namespace,
    # and the same value is written back: nothing of the host changes.
    script = "cat /proc/sys/kernel/hostname > /proc/sys/kernel/hostname"
    denied = mc("run", "--userns", "host", "--", "sh", "-c", script)
    assert "Read-only file system" in denied.stderr
    assert mc("run", "--userns", "host", *NO_SYSTEM_PATHS, "--", "sh", "-c", script).returncode == 0


def test_core_pattern_is_not_writable():
    # core_pattern is host-wide: the probe asks access(W_OK), never writes.
    ro = probe("--userns", "host")["readonly_paths"]["/proc/sys/kernel/core_pattern"]
    rw = probe("--userns", "host", *NO_SYSTEM_PATHS)["readonly_paths"][
        "/proc/sys/kernel/core_pattern"]
    assert ro == {"writable": False, "why": "Read-only file system"}
    assert rw["writable"] is True


def test_sys_fs_cgroup_is_read_only():
    seen = probe("--userns", "host")["readonly_paths"]["/sys/fs/cgroup"]
    assert seen == {"writable": False, "why": "Read-only file system"}


# ---- --privileged


def test_privileged_turns_every_layer_off_and_says_so():
    result = mc("run", "--privileged", "--userns", "host", "--", "mc-probe", "--json", check=True)
    import json

    seen = json.loads(result.stdout)
    assert "--privileged" in result.stderr and "warning" in result.stderr
    assert "sys_admin" in seen["capabilities"]["effective"]
    assert seen["seccomp"] == "disabled" and seen["no_new_privs"] is False
    assert all(v["state"] != "masked" for v in seen["masked_paths"].values())
    mounts = {m["target"]: m["options"].split(",") for m in seen["mounts"]}
    assert "rw" in mounts["/sys"]


# ---- fd and cwd hygiene


def test_a_leaked_directory_fd_cannot_become_the_cwd():
    fd = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)
    try:
        result = subprocess.run([*MC, "run", "-w", f"/proc/self/fd/{fd}", "--", "pwd"],
                                pass_fds=[fd], capture_output=True, text=True, timeout=30)
    finally:
        os.close(fd)
    assert result.returncode == 125
    assert "outside the container root" in result.stderr
    assert mc("run", "-w", "/etc", "--", "pwd", check=True).stdout == "/etc\n"
