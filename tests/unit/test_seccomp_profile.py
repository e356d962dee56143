"""The profile model: Docker-format validation and the default profile's rules."""

from __future__ import annotations

import pytest

from minicontainer import default_profile, seccomp


def test_default_profile_is_valid_and_knows_every_name():
    assert seccomp.validate(default_profile.PROFILE) == []


def test_default_profile_blocks_what_the_issue_lists():
    allowed = set(default_profile.ALLOWED)
    for name in ("keyctl", "add_key", "request_key", "userfaultfd", "bpf", "perf_event_open",
                 "kexec_load", "kexec_file_load", "init_module", "finit_module",
                 "delete_module", "open_by_handle_at", "mount", "umount2", "pivot_root",
                 "unshare", "setns", "clone", "clone3", "swapon", "swapoff", "reboot", "acct",
                 "syslog", "io_uring_setup", "io_uring_enter", "io_uring_register",
                 "personality", "socket", "ioctl", "ptrace"):
        assert name not in allowed, name


def _matches(rule_args: list[dict], value: int) -> bool:
    return all(value & a["value"] == a["valueTwo"] for a in rule_args)


@pytest.mark.parametrize(("excluded", "mask"), [([0x5412, 0x541C], 0xFFF), ([40], 0xFF)])
def test_allow_unless_allows_exactly_the_rest(excluded, mask):
    excluded = [e & mask for e in excluded]
    rules = default_profile.allow_unless(["x"], 1, excluded, mask)
    for value in range(mask + 1):
        allowed = any(_matches(r["args"], value) for r in rules)
        assert allowed == (value not in excluded), hex(value)


def test_tiocsti_rule_compares_only_the_low_32_bits():
    rules = [r for r in default_profile.PROFILE["syscalls"] if r["names"] == ["ioctl"]]
    smuggled = (1 << 32) | default_profile.TIOCSTI
    assert not any(_matches(r["args"], smuggled & 0xFFFFFFFF) for r in rules)
    assert all(a["value"] >> 32 == 0 for r in rules for a in r["args"])


def test_personality_allows_only_harmless_values():
    rules = [r for r in default_profile.PROFILE["syscalls"] if r["names"] == ["personality"]]
    allowed = {r["args"][0]["valueTwo"] for r in rules}
    assert allowed == {0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF}
    assert 0x0400000 not in allowed  # READ_IMPLIES_EXEC


@pytest.mark.parametrize(("profile", "message"), [
    ([], "profile: 'list' is not a JSON object"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "bogus": 1}, "'bogus' is not a profile field"),
    ({"defaultAction": "ALLOW"}, "defaultAction: 'ALLOW' is not an action"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}, "defaultErrnoRet: -1"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86"]}, "architectures: 'x86'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOPE"]},
     "not an architecture libseccomp knows"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]},
     "syscalls[0].names"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]},
     "syscalls[0].args[0].index: 6"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_LIKE"}]}]},
     "syscalls[0].args[0].op: 'SCMP_CMP_LIKE'"),
    ({"defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"user": 1}}]},
     "syscalls[0].includes"),
])
def test_bad_profiles_name_the_field(profile, message):
    with pytest.raises(seccomp.ProfileError) as e:
        seccomp.validate(profile)
    assert message in str(e.value)


def test_unknown_syscall_names_are_warnings():
    warnings = seccomp.validate({"defaultAction": "SCMP_ACT_ALLOW",
                                 "syscalls": [{"names": ["read", "no_such_call"],
                                               "action": "SCMP_ACT_ERRNO"}]})
    assert warnings == ["syscalls[0]: syscall 'no_such_call' is unknown to libseccomp, ignored"]


def test_includes_and_excludes_follow_capabilities_arches_and_kernel():
    rule = {"names": ["mount"], "action": "SCMP_ACT_ALLOW",
            "includes": {"caps": ["CAP_SYS_ADMIN"], "minKernel": "5.4"},
            "excludes": {"arches": ["SCMP_ARCH_ARM"]}}
    arch = {"SCMP_ARCH_X86_64"}
    assert seccomp._applies(rule, {"CAP_SYS_ADMIN"}, arch, (6, 1))
    assert not seccomp._applies(rule, set(), arch, (6, 1))
    assert not seccomp._applies(rule, {"CAP_SYS_ADMIN"}, arch, (5, 3))
    assert not seccomp._applies(rule, {"CAP_SYS_ADMIN"}, {"SCMP_ARCH_ARM"}, (6, 1))


@pytest.mark.parametrize("caps", [set(), {"CAP_SYS_ADMIN"}, {"CAP_SYS_ADMIN", "CAP_SYSLOG",
                                                              "CAP_BPF", "CAP_PERFMON"}])
def test_default_profile_builds_for_any_capabilities(caps):
    seccomp.build(default_profile.PROFILE, caps)


def test_kernel_version_parsing():
    assert seccomp.kernel_version("6.1.0-27-amd64") == (6, 1)
    assert seccomp.kernel_version("4.19.0") == (4, 19)
    assert seccomp.kernel_version("5.10rc1") == (5, 10)


def test_docker_format_arch_map_adds_sub_architectures():
    profile = {"defaultAction": "SCMP_ACT_ERRNO",
               "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                            "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}]}
    import tempfile

    flt = seccomp.build(profile, set(), arch="SCMP_ARCH_X86_64")
    with tempfile.TemporaryFile() as f:
        flt.export(f.fileno())
        f.seek(0)
        text = f.read().decode()
    assert "arch x86_64" in text and "arch x86 " in text and "arch x32" in text


def test_compiled_programs_are_cached_and_a_foreign_key_is_rebuilt(tmp_path):
    import os

    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"}]}
    first = seccomp.compiled(profile, set(), str(tmp_path))
    assert len(first) % 8 == 0 and len(first) > 0
    (cached,) = os.listdir(tmp_path)
    assert seccomp.compiled(profile, set(), str(tmp_path)) == first
    # A file under the same name but for another key (a CRC collision) is not used.
    path = tmp_path / cached
    data = path.read_bytes()
    path.write_bytes(b"X" + data[1:])
    assert seccomp.compiled(profile, set(), str(tmp_path)) == first
    assert path.read_bytes() == data
    other = {"defaultAction": "SCMP_ACT_ALLOW",
             "syscalls": [{"names": ["bpf"], "action": "SCMP_ACT_ERRNO"}]}
    assert seccomp.compiled(other, set(), str(tmp_path)) != first
