"""``minicontainer audit``: each finding appears when its flag weakens a running
container, with the live value the kernel shows as evidence, and is absent from
the default container; ``--config`` audits a file; JSON and exit codes for CI.

The default container's findings are the expected ones only: no memory, pids or
CPU limit (medium, medium, low: a denial of service, not a way out) and a
writable root (low); where the host runs AppArmor the default runs under
minicontainer-default, and ``apparmor=unconfined`` brings 5.1.  That the
limits remove their findings needs cgroup v2 controllers: tests/vm/test_audit_limits.py.
"""

from __future__ import annotations

import json
import os
import socket

import pytest

from helpers import mc
from minicontainer import Config, Container, audit
from minicontainer.capabilities import ALL as CAPABILITIES
from minicontainer.namespaces import Namespace
from minicontainer.state import StateStore

DEFAULT_FINDINGS = {"memory-limit", "pids-limit", "cpu-limit", "readonly-root"}


@pytest.fixture
def name(request):
    """A container name for this test, removed (forcibly) afterwards."""
    value = f"t-audit-{request.node.name[5:35].replace('[', '-').replace(']', '')}-{os.getpid()}"
    yield value
    mc("rm", "-f", value)


def start(name: str, *flags: str) -> None:
    result = mc("run", "-d", "--name", name, *flags, "--", "sleep", "1000")
    assert result.returncode == 0, result.stderr


def audit_json(*args: str) -> tuple[int, list[dict]]:
    result = mc("audit", "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def findings_of(name: str) -> dict[str, dict]:
    _, reports = audit_json(name)
    return {f["check"]: f for f in reports[0]["findings"]}


def pid_of(name: str) -> int:
    return json.loads(mc("inspect", name, check=True).stdout)["pid"]


def test_default_container_has_only_the_expected_findings_and_exits_0(name):
    start(name)
    code, reports = audit_json(name)
    assert code == 0
    found = {f["check"]: f for f in reports[0]["findings"]}
    assert set(found) == DEFAULT_FINDINGS
    assert {found[c]["severity"] for c in ("memory-limit", "pids-limit")} == {"medium"}
    assert found["cpu-limit"]["severity"] == found["readonly-root"]["severity"] == "low"
    assert f"/proc/{pid_of(name)}/mountinfo" in found["readonly-root"]["evidence"]
    assert found["memory-limit"]["escapes"] == ["memory-hog"]


def test_json_is_a_list_with_one_entry_per_container(name):
    start(name)
    _, reports = audit_json(name)
    assert isinstance(reports, list) and len(reports) == 1
    report = reports[0]
    assert report["id"] == name and report["pid"] == pid_of(name)
    assert report["source"] == "live" and report["cisVersion"] == audit.CIS_VERSION
    assert set(report["summary"]) == {"high", "medium", "low"}
    for finding in report["findings"]:
        assert set(finding) == {"check", "cis", "title", "severity", "evidence",
                                "remediation", "escapes"}
        assert finding["severity"] in ("high", "medium", "low") and finding["remediation"]


def test_text_output_is_a_table(name):
    start(name)
    result = mc("audit", name)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"container {name} (pid {pid_of(name)}, live state): ")
    assert lines[1].split() == ["SEVERITY", "CIS", "CHECK", "TITLE"]
    assert any(line.split()[:3] == ["medium", "5.10", "memory-limit"] for line in lines)
    assert any("fix: --memory" in line for line in lines)


# flags, the check they trigger, its CIS id, severity, and text the live evidence holds
WEAKENINGS = [
    (["--cap-add", "SYS_ADMIN"], "capabilities", "5.3", "high", "CAP_SYS_ADMIN"),
    (["--cap-add", "SYS_NICE"], "capabilities", "5.3", "medium", "CapBnd 00000000a88425fb"),
    (["--privileged"], "privileged", "5.4", "high", "CapBnd 000001"),
    (["--net", "host"], "host-network", "5.9", "high", "/ns/net is net:["),
    (["--share", "pid"], "host-pid", "5.15", "high", "/ns/pid is pid:["),
    (["--share", "ipc"], "host-ipc", "5.16", "medium", "/ns/ipc is ipc:["),
    (["--share", "uts"], "host-uts", "5.20", "low", "/ns/uts is uts:["),
    (["--share", "cgroup"], "host-cgroup", None, "medium", "/ns/cgroup is cgroup:["),
    (["--userns", "host"], "host-user", "5.30", "high", "uid_map: 0 0 4294967295"),
    (["-v", "/etc:/mnt/etc"], "sensitive-mount", "5.5", "high",
     "/mnt/etc is host /etc (rw"),
    (["-v", "/etc:/mnt/etc:ro"], "sensitive-mount", "5.5", "medium", "/mnt/etc is host /etc (ro"),
    (["--security-opt", "seccomp=unconfined"], "seccomp", "5.21", "high", "Seccomp: 0"),
    (["--security-opt", "no-new-privileges=false"], "no-new-privileges", "5.25", "medium",
     "NoNewPrivs: 0"),
    (["--security-opt", "devices=unconfined"], "host-devices", "5.17", "high",
     "no BPF_CGROUP_DEVICE program attached"),
    (["--device", "/dev/zero:/dev/extra-zero"], "host-devices", "5.17", "medium",
     "/dev/extra-zero (c 1:5)"),
    (["--rootfs-propagation", "shared"], "mount-propagation", "5.19", "medium", "/ is shared:"),
    (["--security-opt", "systempaths=unconfined"], "masked-paths", None, "medium",
     "no mount over /proc/acpi, /proc/keys"),
    (["--security-opt", "systempaths=unconfined"], "readonly-paths", None, "medium",
     "/proc/sys"),
    (["--privileged"], "sysfs-writable", None, "medium", "/sys, /sys/fs/cgroup mounted rw"),
    # Without a user namespace, the kernel files are the host's to command.
    (["--userns", "host", "--security-opt", "systempaths=unconfined"], "masked-paths", None,
     "high", "/proc/keys"),
    (["--rootfs-mode", "chroot"], "root-mode", None, "high", "root mode chroot"),
    (["--security-opt", "fd-hygiene=false"], "fd-hygiene", None, "high", "fd hygiene off"),
    (["--security-opt", "new-session=false"], "new-session", None, "medium", "not its own"),
]


@pytest.mark.parametrize("flags,check,cis,severity,evidence", WEAKENINGS,
                         ids=[f"{w[1]}:{' '.join(w[0])}" for w in WEAKENINGS])
def test_each_weakening_brings_its_finding_with_live_evidence(name, flags, check, cis,
                                                               severity, evidence):
    assert check not in DEFAULT_FINDINGS
    start(name, *flags)
    found = findings_of(name)
    assert check in found, sorted(found)
    finding = found[check]
    assert (finding["cis"], finding["severity"]) == (cis, severity)
    assert evidence in finding["evidence"]
    code = mc("audit", name).returncode
    assert code == (1 if any(f["severity"] == "high" for f in found.values()) else 0)


def test_the_kernel_is_believed_over_the_record(name):
    start(name, "--security-opt", "seccomp=unconfined", "--cap-add", "SYS_ADMIN")
    store = StateStore()
    store.update(name, config=Config(args=["sleep", "1000"]).to_oci())  # a record that lies
    found = findings_of(name)
    assert "Seccomp: 0" in found["seccomp"]["evidence"]
    assert "CAP_SYS_ADMIN" in found["capabilities"]["evidence"]


def test_privileged_is_every_weakening_at_once(name):
    start(name, "--privileged")
    found = findings_of(name)
    for check in ("privileged", "seccomp", "no-new-privileges", "host-devices", "masked-paths",
                  "readonly-paths", "sysfs-writable"):
        assert check in found, check
    assert "capabilities" not in found  # all of them is 5.4, not 5.3


def test_a_mounted_socket_is_5_31(name, tmp_path):
    path = str(tmp_path / "control.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    try:
        start(name, "-v", f"{path}:/control.sock")
        found = findings_of(name)
    finally:
        server.close()
    assert found["socket-mount"]["cis"] == "5.31" and found["socket-mount"]["severity"] == "high"
    assert f"/control.sock is host {path}" in found["socket-mount"]["evidence"]
    assert found["socket-mount"]["escapes"] == ["host-control-socket"]


def test_a_custom_seccomp_profile_is_a_low_finding(name, tmp_path):
    profile = tmp_path / "profile.json"
    profile.write_text(mc("seccomp", "show", "--json", check=True).stdout)
    start(name, "--security-opt", f"seccomp={profile}")
    finding = findings_of(name)["seccomp"]
    assert finding["severity"] == "low"
    assert "Seccomp: 2" in finding["evidence"] and "custom profile" in finding["evidence"]


def test_read_only_root_removes_its_finding(name):
    start(name, "--read-only")
    found = findings_of(name)
    assert set(found) == DEFAULT_FINDINGS - {"readonly-root"}


@pytest.mark.skipif(not audit.apparmor_enabled(), reason="AppArmor is not enabled on this host")
def test_apparmor_unconfined_is_5_1(name):
    start(name, "--security-opt", "apparmor=unconfined")
    finding = findings_of(name)["apparmor"]
    assert finding["cis"] == "5.1" and "unconfined" in finding["evidence"]


def test_all_audits_every_running_container(name):
    start(name)
    _, reports = audit_json("--all")
    assert name in {r["id"] for r in reports}


def test_unknown_or_stopped_container_is_a_one_line_error(name):
    missing = mc("audit", "no-such-container")
    assert missing.returncode == 125
    assert missing.stderr == \
        'minicontainer: error: container "no-such-container" does not exist\n'
    assert mc("run", "-d", "--name", name, "--", "true").returncode == 0
    assert Container(Config(args=["x"]), name).wait(10) == 0
    stopped = mc("audit", name)
    assert stopped.returncode == 125 and stopped.stderr.count("\n") == 1
    assert "it is stopped" in stopped.stderr
    assert mc("audit").returncode == 125


# Weakenings the config cannot show: the control socket is mounted by the escape's own
# host side at run time (its live finding is test_a_mounted_socket_is_5_31), and the
# nsenter pitfall is in how `exec` enters, not in the container.
NOT_IN_CONFIG = {"host-control-socket", "nsenter-cgroup"}


def test_every_escape_of_the_catalogue_is_cited_under_its_weakening():
    from minicontainer import cli, escapes

    for escape in escapes.catalogue():
        if escape.name in NOT_IN_CONFIG:
            continue
        args = cli.build_parser("run").parse_args(
            ["run", *escape.scenario, *escape.weakening, "--", "true"])
        findings = audit.judge(audit.config_facts(cli.config_from_args(args)))
        cited = {name for finding in findings for name in finding.escapes}
        assert escape.name in cited, (escape.name, escape.weakening, sorted(cited))


def test_every_escape_the_audit_cites_is_in_the_catalogue(tmp_path):
    from minicontainer import escapes

    doc = Config(args=["sh"], namespaces=Namespace.MNT, capabilities=set(CAPABILITIES),
                 no_new_privileges=False, seccomp=False, masked_paths=[], readonly_paths=[],
                 sys_readonly=False, device_cgroup=False, root_mode="chroot",
                 rootfs_propagation="shared", close_fds=False, new_session=False).to_oci()
    doc["mounts"] = [{"destination": "/host", "type": "bind", "source": "/",
                      "options": ["rbind", "rw"]}]
    weak = tmp_path / "weakest.json"
    weak.write_text(json.dumps(doc))
    _, reports = audit_json("--config", str(weak))
    cited = {name for finding in reports[0]["findings"] for name in finding["escapes"]}
    cited |= {name for names in audit.DANGEROUS_CAPABILITIES.values() for name in names}
    assert cited <= {e.name for e in escapes.catalogue()}


def test_config_file_is_audited_statically(tmp_path):
    default = tmp_path / "default.json"
    default.write_text(json.dumps(Config(args=["sh"]).to_oci()))
    code, reports = audit_json("--config", str(default))
    assert code == 0 and reports[0]["source"] == "config"
    assert {f["check"] for f in reports[0]["findings"]} == DEFAULT_FINDINGS

    doc = Config(args=["sh"]).to_oci()
    del doc["linux"]["seccomp"]
    doc["linux"]["namespaces"] = [n for n in doc["linux"]["namespaces"] if n["type"] != "pid"]
    doc["mounts"] = [{"destination": "/host", "type": "bind", "source": "/",
                      "options": ["rbind", "rw"]}]
    weak = tmp_path / "weak.json"
    weak.write_text(json.dumps(doc))
    code, reports = audit_json("--config", str(weak))
    found = {f["check"]: f for f in reports[0]["findings"]}
    assert code == 1
    assert found["seccomp"]["evidence"] == "linux.seccomp is absent"
    assert found["host-pid"]["evidence"] == "linux.namespaces has no pid entry"
    assert found["sensitive-mount"]["severity"] == "high"
    assert found["sensitive-mount"]["escapes"] == ["host-root-mount"]


def test_config_file_that_is_not_json_is_an_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = mc("audit", "--config", str(bad))
    assert result.returncode == 125
    assert result.stderr.startswith(f"minicontainer: error: config: '{bad}' is not JSON")
