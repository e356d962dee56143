"""The filesystem escapes: a chroot climbed out of, host disks mounted, a mount
propagated to the host, a host program reached through /proc/PID/exe.

Their three verdicts (default, weakened, one layer restored) are in
test_escape_verdicts.py; here: the minimum each needs, and that the
planted loop disks, shared mounts and decoy processes are gone after every
attempt (the leak fixture checks the host's mounts and processes; the tests
here check the loop devices and the decoys).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from helpers import mc
from minicontainer import escapes
from minicontainer.escapes import layers, loopdisk, runner
from minicontainer.escapes.base import BLOCKED, ESCAPED, Attempt

DISK_ESCAPES = ["host-disk-mount", "sys-admin-mount"]


def _run(name: str, flags: list[str]):
    escape = escapes.find(name)
    return runner.run_one(escape, runner.config_for(escape, flags))


def _skip_if_missing(name: str) -> None:
    reason = escapes.find(name).missing()
    if reason:
        pytest.skip(reason)


def _our_loop_devices() -> list[str]:
    """Loop devices backed by an image of an escape attempt."""
    listing = subprocess.run(["losetup", "--list", "--noheadings", "--output",
                              "NAME,BACK-FILE"], capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if "mc-escape-" in line]


def test_chroot_breakout_needs_cap_sys_chroot():
    """The climb starts with a chroot of our own: without CAP_SYS_CHROOT, no climb."""
    outcome = _run("chroot-breakout", ["--rootfs-mode", "chroot", "--cap-drop", "SYS_CHROOT"])
    assert outcome.verdict == BLOCKED, outcome.evidence
    assert 'chroot("/tmp/mc-breakout.d"): Operation not permitted' in outcome.evidence


def test_chroot_breakout_needs_no_more_than_the_root_mode():
    """Every other layer is on in the weakening: the user namespace, capabilities and
    seccomp do not stop a climb to a world-readable host file."""
    escape = escapes.find("chroot-breakout")
    cfg = runner.config_for(escape, escape.weakening)
    assert [layer.name for layer in layers.all_layers()
            if not layer.is_on(cfg) and layer.name != "cgroup limits"] == ["pivot_root"]


def test_host_disk_mount_minimum_is_sys_admin_devices_and_host_userns():
    """Not all of --privileged is needed: the capability, the device layer off and
    container root = host root; seccomp stays on."""
    _skip_if_missing("host-disk-mount")
    outcome = _run("host-disk-mount", ["--userns", "host", "--cap-add", "SYS_ADMIN",
                                       "--security-opt", "devices=unconfined"])
    assert outcome.verdict == ESCAPED, outcome.evidence


def test_seccomp_does_not_stop_host_disk_mount_once_sys_admin_is_held():
    """The default profile allows mount(2) to a container holding CAP_SYS_ADMIN
    (as Docker's does): why seccomp is not in stopped_by."""
    _skip_if_missing("host-disk-mount")
    escape = escapes.find("host-disk-mount")
    cfg = runner.config_for(escape, escape.weakening)
    layers.find("seccomp").restore(cfg)
    outcome = runner.run_one(escape, cfg)
    assert outcome.verdict == ESCAPED, outcome.evidence


@pytest.mark.parametrize("name", ["sys-admin-mount", "propagation-leak"])
def test_the_weakening_leaves_seccomp_on(name):
    """These escape with the default seccomp profile in force."""
    escape = escapes.find(name)
    assert layers.find("seccomp").is_on(runner.config_for(escape, escape.weakening))


def test_the_user_namespace_keeps_a_shared_mount_inside():
    """Under the user namespace the container may mount its own tmpfs on the shared
    volume, but the mount does not travel back to the host."""
    outcome = _run("propagation-leak", ["--rootfs-propagation", "rshared",
                                        "--cap-add", "SYS_ADMIN"])
    assert outcome.verdict == BLOCKED, outcome.evidence
    assert "mount -t tmpfs mc-propagation-leak /vol/leak: ok" in outcome.evidence
    assert "is no mount" in outcome.evidence


@pytest.mark.parametrize("name", DISK_ESCAPES)
def test_the_loop_disk_is_detached_after_the_attempt(name):
    _skip_if_missing(name)
    assert not _our_loop_devices()
    outcome = _run(name, escapes.find(name).weakening)
    assert outcome.verdict == ESCAPED, outcome.evidence
    assert not _our_loop_devices()


def test_the_loop_disk_is_read_only_and_holds_the_secret():
    if loopdisk.missing():
        pytest.skip(loopdisk.missing())
    attempt = Attempt(escapes.find("host-disk-mount"))
    try:
        device = loopdisk.attach(attempt)
        ro = subprocess.run(["blockdev", "--getro", device], capture_output=True, text=True)
        assert ro.stdout.strip() == "1"
        dump = subprocess.run(["debugfs", "-R", "cat /secret", attempt.path("disk.img")],
                              capture_output=True, text=True)
        assert dump.stdout == attempt.secret
    finally:
        loopdisk.detach(attempt)
        subprocess.run(["rm", "-rf", attempt.workdir], check=True)
    assert not _our_loop_devices()


def _decoys() -> list[str]:
    """Host processes running a decoy of proc-self-exe."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() == "mc-decoy":
                    found.append(entry)
        except (FileNotFoundError, NotADirectoryError, ProcessLookupError):
            continue
    return found


def test_the_decoy_is_reaped_after_the_attempt():
    assert not _decoys()
    outcome = _run("proc-self-exe", escapes.find("proc-self-exe").weakening)
    assert outcome.verdict == ESCAPED, outcome.evidence
    assert "visible (mc-decoy)" in outcome.evidence
    assert not _decoys()


def test_cli_run_default_and_weakened():
    blocked = mc("escape", "run", "chroot-breakout", check=True)
    assert "chroot-breakout against the hardened default: BLOCKED" in blocked.stdout
    assert "the climb did not reach the host's /" in blocked.stdout
    escaped = json.loads(mc("escape", "run", "proc-self-exe", "--weakened", "--json",
                            check=True).stdout)
    assert escaped["verdict"] == ESCAPED
    assert escaped["flags"] == ["--share", "pid", "--userns", "host", "--cap-add", "SYS_PTRACE",
                                "--security-opt", "apparmor=unconfined"]
    assert "open /proc/" in escaped["evidence"]
