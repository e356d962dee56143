"""The AppArmor layer at work (the VM: Debian's kernel runs AppArmor by default).

minicontainer-default is loaded on demand and applied on exec; what it denies is
refused even with the other layers weakened, and the same run with
``--security-opt apparmor=unconfined`` (its twin) goes through.  ``exec`` enters
the container's profile too; an unchanged profile is not loaded again.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from helpers import mc, probe, sh
from minicontainer import apparmor
from minicontainer.escapes import layers, runner
from minicontainer.escapes.base import BLOCKED, ESCAPED

pytestmark = pytest.mark.vm
UNCONFINED = ("--security-opt", "apparmor=unconfined")
ALL_WEAK = ("--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined")
POLICY = "/sys/kernel/security/apparmor/policy/profiles"


@pytest.fixture(autouse=True)
def apparmor_runs():
    if not apparmor.enabled():
        pytest.fail(f"AppArmor is not enabled in this kernel ({apparmor.why_not_enabled()}): "
                    "these tests need the VM's Debian kernel")


def default_loaded() -> bool:
    """Whether the kernel holds minicontainer-default (its directory in the policy tree)."""
    return any(d.startswith(f"{apparmor.DEFAULT_PROFILE}.") for d in os.listdir(POLICY))


def remove_default_profile() -> None:
    subprocess.run([apparmor.parser_path(), "-R"], input=apparmor.PROFILE_TEXT, text=True,
                   check=True, capture_output=True)


def test_the_default_profile_is_loaded_and_applied():
    assert probe()["apparmor"] == "minicontainer-default (enforce)"
    assert apparmor.loaded_profiles()[apparmor.DEFAULT_PROFILE] == "enforce"


def test_unconfined_runs_without_a_profile():
    assert probe(*UNCONFINED)["apparmor"] == "unconfined"
    assert probe("--privileged")["apparmor"] == "unconfined"


def test_a_non_root_user_gets_the_profile_too():
    assert sh("-u", "1000", script="cat /proc/self/attr/current") == (
        "minicontainer-default (enforce)\n")


def test_exec_enters_the_containers_profile():
    for flags, expected in (((), "minicontainer-default (enforce)"), (UNCONFINED, "unconfined")):
        name = f"aa-exec-{len(flags)}"
        started = mc("run", "-d", "--name", name, *flags, "--", "sleep", "1000", timeout=120)
        assert started.returncode == 0, started.stderr
        try:
            seen = mc("exec", name, "cat", "/proc/self/attr/current", timeout=120)
        finally:
            mc("rm", "-f", name, timeout=120)
        assert seen.returncode == 0, seen.stderr
        assert seen.stdout == expected + "\n"


MOUNT = "mkdir -p /mnt/t && mount -t tmpfs mc-aa /mnt/t && echo mounted"


def test_a_mount_with_cap_sys_admin_and_no_seccomp_is_refused_by_the_profile():
    blocked = mc("run", *ALL_WEAK, "--", "sh", "-c", MOUNT, timeout=120)
    assert blocked.returncode != 0 and "mounted" not in blocked.stdout
    assert "Permission denied" in blocked.stderr
    twin = mc("run", *ALL_WEAK, *UNCONFINED, "--", "sh", "-c", MOUNT, timeout=120)
    assert twin.returncode == 0, twin.stderr
    assert twin.stdout == "mounted\n"


SYSRQ = "echo h > /proc/sysrq-trigger && echo wrote"  # h: the help text, in the kernel log


def test_a_write_to_sysrq_trigger_with_systempaths_unconfined_is_refused_by_the_profile():
    weak = ("--security-opt", "systempaths=unconfined", "--userns", "host")
    blocked = mc("run", *weak, "--", "sh", "-c", SYSRQ, timeout=120)
    assert blocked.returncode != 0 and "wrote" not in blocked.stdout
    assert "Permission denied" in blocked.stderr
    twin = mc("run", *weak, *UNCONFINED, "--", "sh", "-c", SYSRQ, timeout=120)
    assert twin.returncode == 0, twin.stderr
    assert twin.stdout == "wrote\n"


def test_a_profile_that_is_not_loaded_aborts_the_start():
    result = mc("run", "--security-opt", "apparmor=mc-test-not-loaded", "--", "true")
    assert result.returncode == 125
    assert result.stderr == ("minicontainer: error: apparmor_profile: 'mc-test-not-loaded' is "
                             "not a loaded AppArmor profile (load it with apparmor_parser -r "
                             "FILE)\n")


CUSTOM = """\
profile mc-test-custom flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  deny /etc/passwd r,
}
"""


def test_a_profile_of_ones_own_is_applied():
    subprocess.run([apparmor.parser_path(), "-K", "-r"], input=CUSTOM, text=True, check=True,
                   capture_output=True)
    try:
        flags = ("--security-opt", "apparmor=mc-test-custom")
        assert probe(*flags)["apparmor"] == "mc-test-custom (enforce)"
        denied = mc("run", *flags, "--", "cat", "/etc/passwd", timeout=120)
        assert denied.returncode == 1 and "Permission denied" in denied.stderr
        assert mc("run", "--", "cat", "/etc/passwd", timeout=120).returncode == 0
    finally:
        subprocess.run([apparmor.parser_path(), "-R"], input=CUSTOM, text=True, check=True,
                       capture_output=True)


def test_an_unchanged_profile_is_not_loaded_again_and_a_changed_one_is(monkeypatch):
    assert probe()["apparmor"] == "minicontainer-default (enforce)"
    stamp = os.path.join(apparmor.CACHE_DIR, f"{apparmor.DEFAULT_PROFILE}.sha256")
    with open(stamp) as f:
        assert f.read() == hashlib.sha256(apparmor.PROFILE_TEXT.encode()).hexdigest()
    loads = []
    real_load = apparmor.load
    monkeypatch.setattr(apparmor, "load", lambda text: (loads.append(text), real_load(text)))
    apparmor.ensure_loaded(apparmor.DEFAULT_PROFILE)
    assert loads == []
    with open(stamp, "w") as f:
        f.write("the hash of an older text")
    apparmor.ensure_loaded(apparmor.DEFAULT_PROFILE)
    assert loads == [apparmor.PROFILE_TEXT]
    with open(stamp) as f:
        assert f.read() == hashlib.sha256(apparmor.PROFILE_TEXT.encode()).hexdigest()
    assert probe()["apparmor"] == "minicontainer-default (enforce)"


def test_a_profile_removed_from_the_kernel_is_loaded_again():
    assert probe()["apparmor"] == "minicontainer-default (enforce)"
    remove_default_profile()
    assert not default_loaded()
    assert probe()["apparmor"] == "minicontainer-default (enforce)"
    assert default_loaded()


def test_doctor_and_audit_report_it():
    assert "ok    AppArmor enabled: containers run under minicontainer-default" in mc(
        "doctor").stdout
    for flags, expected in (((), False), (UNCONFINED, True)):
        name = f"aa-audit-{len(flags)}"
        started = mc("run", "-d", "--name", name, *flags, "--", "sleep", "1000", timeout=120)
        assert started.returncode == 0, started.stderr
        try:
            reports = json.loads(mc("audit", "--json", name, timeout=120).stdout)
        finally:
            mc("rm", "-f", name, timeout=120)
        found = {f["check"]: f for f in reports[0]["findings"]}
        assert ("apparmor" in found) == expected
        if expected:
            assert found["apparmor"]["cis"] == "5.1"
            assert found["apparmor"]["evidence"].endswith(": unconfined")


# The matrix's AppArmor column: the escapes the profile alone blocks when their
# weakening, AppArmor off included, lets them through; what the attack then sees.
PROFILE_STOPS = {
    "sys-admin-mount": "refused",
    "release-agent": "could not mount a cgroup v1 hierarchy",
    "propagation-leak": "is no mount",
    "core-pattern": "could not write /proc/sys/kernel/core_pattern",
    "sysrq-trigger": "could not write /proc/sysrq-trigger",
    "masked-proc": "can't open '/proc/keys': Permission denied",
    "ptrace-inject": "Permission denied",
    "proc-root": "can't open",
    "proc-self-exe": "",
    "nsenter-host": "Permission denied",
}


@pytest.mark.parametrize("name", list(PROFILE_STOPS))
def test_the_profile_alone_blocks_the_weakened_escape(name):
    from minicontainer import escapes

    escape = escapes.find(name)
    if escape.missing():
        pytest.skip(f"{name}: {escape.missing()}")
    assert escape.weakening[-2:] == ["--security-opt", "apparmor=unconfined"]
    weakened = runner.config_for(escape, escape.weakening)
    outcome = runner.run_one(escape, weakened, allow_host_changes=True)
    assert outcome.verdict == ESCAPED, outcome.evidence
    assert not layers.find("apparmor").is_on(weakened)
    layers.find("apparmor").restore(weakened)
    outcome = runner.run_one(escape, weakened, allow_host_changes=True)
    assert outcome.verdict == BLOCKED, outcome.evidence
    assert PROFILE_STOPS[name] in outcome.evidence


def test_the_escapes_that_need_apparmor_off_are_the_ones_it_stops():
    from minicontainer import escapes

    weakened_off = {e.name for e in escapes.catalogue() if "apparmor=unconfined" in e.weakening}
    assert weakened_off == set(PROFILE_STOPS)
