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
    ({}, "defaultAction: missing; a profile needs a defaultAction"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "bogus": 1}, "'bogus' is not a profile field"),
    ({"defaultAction": "ALLOW"}, "defaultAction: 'ALLOW' is not an action"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}, "defaultErrnoRet: -1"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86"]}, "architectures[0]: 'x86'"),
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


ALLOW_ALL = {"defaultAction": "SCMP_ACT_ALLOW"}
READ = {"names": ["read"], "action": "SCMP_ACT_ALLOW"}


@pytest.mark.parametrize(("profile", "message"), [
    ({**ALLOW_ALL, "syscalls": [{"names": "read", "action": "SCMP_ACT_ALLOW"}]},
     "syscalls[0].names: 'read' must be a list of syscall names"),
    ({**ALLOW_ALL, "syscalls": [{**READ, "includes": {"caps": "CAP_SYS_ADMIN"}}]},
     "syscalls[0].includes.caps: 'CAP_SYS_ADMIN' is not a list of capability names"),
    ({**ALLOW_ALL, "syscalls": [{**READ, "excludes": {"caps": ["SYS_ADMIN"]}}]},
     "syscalls[0].excludes.caps[0]: 'SYS_ADMIN' is not a capability name"),
    ({**ALLOW_ALL, "archMap": [5]},
     "archMap[0]: 5 is not an {architecture, subArchitectures} object"),
    ({**ALLOW_ALL, "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": [3]}]},
     "archMap[0].subArchitectures[0]: 3 is not an architecture"),
    ({**ALLOW_ALL, "syscalls": [{**READ, "includes": {"minKernel": 5}}]},
     "syscalls[0].includes.minKernel: 5 is not a kernel version string"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {**READ, "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}]},
        {"names": ["read"], "action": "SCMP_ACT_KILL",
         "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}]}]},
     "syscalls[1].names: 'read' is SCMP_ACT_KILL here but SCMP_ACT_ALLOW by syscalls[0] for "
     "the same args"),
    ({**ALLOW_ALL, "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]},
     "flags[0]: 'SECCOMP_FILTER_FLAG_BOGUS' is not a seccomp filter flag"),
    ({**ALLOW_ALL, "flags": "SECCOMP_FILTER_FLAG_LOG"},
     "flags: 'SECCOMP_FILTER_FLAG_LOG' is not a list of flags"),
    ({**ALLOW_ALL, "syscalls": [{"names": ["re\0ad"], "action": "SCMP_ACT_ALLOW"}]},
     r"syscalls[0].names[0]: 're\x00ad' is not a syscall name"),
    ({"defaultAction": "SCMP_ACT_TRACE"},
     "defaultAction: 'SCMP_ACT_TRACE' needs a tracer, and minicontainer attaches none"),
    ({**ALLOW_ALL, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_TRACE"}]},
     "syscalls[0].action: 'SCMP_ACT_TRACE' needs a tracer"),
    ({**ALLOW_ALL, "syscalls": [{"names": ["read"]}]},
     "syscalls[0].action: missing; a rule needs names"),
    ({**ALLOW_ALL, "syscalls": [{**READ, "args": [{"index": 0, "value": -1,
                                                   "op": "SCMP_CMP_EQ"}]}]},
     "syscalls[0].args[0].value: -1 is not an unsigned 64-bit number"),
    ({**ALLOW_ALL, "syscalls": [{**READ, "errnoRet": True}]},
     "syscalls[0].errnoRet: True is not an errno number"),
    ({**ALLOW_ALL, "listenerPath": "/run/agent.sock"},
     "listenerPath: '/run/agent.sock' is for SCMP_ACT_NOTIFY agents"),
])
def test_bad_input_names_the_field_and_the_value(profile, message):
    with pytest.raises(seccomp.ProfileError) as e:
        seccomp.validate(profile)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_rules_that_cannot_hold_together_are_not_contradictions():
    # Docker's clone3 pair: one rule for containers with the capability, one without.
    seccomp.validate({**ALLOW_ALL, "syscalls": [
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["clone3"], "action": "SCMP_ACT_KILL", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        READ, READ]})


def test_a_non_utf8_profile_file_is_named(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"defaultAction": "SCMP_ACT_ALLOW", "comment": "caf\xe9"}')
    with pytest.raises(seccomp.ProfileError) as e:
        seccomp.load_file(str(path))
    assert str(e.value) == f"seccomp profile {path}: not UTF-8 (byte 0xe9 at offset 51)"


def _pfc(profile: dict, caps: set[str] = frozenset()) -> dict[str, str]:
    """libseccomp's pseudo-code for ``profile``, one text per architecture."""
    import tempfile

    with tempfile.TemporaryFile() as f:
        seccomp.build(profile, set(caps), arch="SCMP_ARCH_X86_64").export(f.fileno())
        f.seek(0)
        text = f.read().decode()
    sections = text.split("# filter for arch ")[1:]
    return {section.split()[0]: section for section in sections}


def _syscall_block(section: str, name: str) -> str:
    start = section.index(f'# filter for syscall "{name}"')
    end = section.find("# filter for syscall", start + 1)
    return section[start:end if end != -1 else None]


def test_socketcall_answers_enosys_on_x86_since_the_socket_rule_looks_at_arguments():
    x86 = _pfc(default_profile.PROFILE)["x86"]
    socketcall = _syscall_block(x86, "socketcall")
    # Before the fix: "if ($a0 == 1) action ALLOW" -- socket(AF_VSOCK) through socketcall.
    assert "$a0" not in socketcall and "action ERRNO(38)" in socketcall
    direct = _syscall_block(x86, "socket")
    assert "(359)" in direct and "$a0" in direct


def test_the_multiplexer_stays_when_no_rule_looks_at_its_calls_arguments():
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
               "syscalls": [{"names": ["socket", "bind"], "action": "SCMP_ACT_ALLOW"}]}
    socketcall = _syscall_block(_pfc(profile)["x86"], "socketcall")
    assert "if ($a0 == 1)" in socketcall and "ERRNO(38)" not in socketcall


def test_an_argument_rule_on_an_ipc_call_denies_the_ipc_multiplexer():
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
               "syscalls": [{"names": ["msgget"], "action": "SCMP_ACT_ALLOW",
                             "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}]}
    x86 = _pfc(profile)["x86"]
    assert "action ERRNO(38)" in _syscall_block(x86, "ipc")
    assert "ipc" not in _pfc({**profile, "architectures": []})["x86_64"].split("default")[0]


def test_a_profile_that_allows_socketcall_gives_way_on_x86():
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
               "syscalls": [{"names": ["socketcall"], "action": "SCMP_ACT_ALLOW"},
                            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}
    assert "action ERRNO(38)" in _syscall_block(_pfc(profile)["x86"], "socketcall")


def test_every_argument_rule_of_the_default_profile_is_in_every_architecture():
    sections = _pfc(default_profile.PROFILE)
    assert set(sections) == {"x86_64", "x86", "x32"}
    for arch, section in sections.items():
        for name in ("ioctl", "socket", "personality", "clone"):
            assert "$a0" in _syscall_block(section, name) or "$a1" in _syscall_block(
                section, name), (arch, name)


def test_by_arch_says_what_each_architecture_does():
    titles, rows = seccomp.by_arch(default_profile.PROFILE, set(), arch="SCMP_ARCH_X86_64")
    assert titles == ["syscall", "x86_64", "x32", "x86 (int 0x80)"]
    table = {row[0]: row[1:] for row in rows}
    assert table["socket"][:2] == ["allow if args", "allow if args"]
    assert table["socket"][2] == "allow if args; through socketcall: errno 38"
    assert table["socketcall"] == ["-", "-", "errno 38: the arguments of socket are out of reach"]
    assert table["ioctl"] == ["allow if args"] * 3
    assert table["arch_prctl"][0] == "allow"
    assert table["(any other)"] == ["default (errno 1)"] * 3


def test_chroot_comes_with_cap_sys_chroot_as_in_docker():
    with_cap = {row[0]: row[1] for row in seccomp.by_arch(
        default_profile.PROFILE, {"CAP_SYS_CHROOT"}, arch="SCMP_ARCH_X86_64")[1]}
    without = {row[0]: row[1] for row in seccomp.by_arch(
        default_profile.PROFILE, set(), arch="SCMP_ARCH_X86_64")[1]}
    assert with_cap["chroot"] == "allow"
    assert "chroot" not in without


def test_the_cache_key_changes_with_the_build_logic(tmp_path, monkeypatch):
    import os

    profile = {"defaultAction": "SCMP_ACT_ALLOW"}
    seccomp.compiled(profile, set(), str(tmp_path))
    monkeypatch.setattr(seccomp, "BUILD_LOGIC", seccomp.BUILD_LOGIC + 1)
    seccomp.compiled(profile, set(), str(tmp_path))
    assert len(os.listdir(tmp_path)) == 2


def test_a_failed_build_leaves_no_partial_file_in_the_cache(tmp_path, monkeypatch):
    import os

    def failing_build(profile, capabilities):
        raise RuntimeError("simulated")

    monkeypatch.setattr(seccomp, "build", failing_build)
    with pytest.raises(RuntimeError, match="simulated"):
        seccomp.compiled({"defaultAction": "SCMP_ACT_ALLOW"}, set(), str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_a_partial_file_is_never_written_through_a_symlink(tmp_path):
    import os

    profile = {"defaultAction": "SCMP_ACT_ALLOW"}
    cache = tmp_path / "cache"
    seccomp.compiled(profile, set(), str(cache))
    (cached,) = os.listdir(cache)
    os.unlink(cache / cached)
    target = tmp_path / "target"
    target.write_bytes(b"untouched")
    os.symlink(target, cache / f"{cached}.{os.getpid()}")
    assert seccomp.compiled(profile, set(), str(cache))
    assert target.read_bytes() == b"untouched"
    assert sorted(os.listdir(cache)) == [cached]


def _cli(capsys, *args: str):
    """Run the command line in this process (a child would look like a leftover
    container process to an integration test running at the same time)."""
    from types import SimpleNamespace

    from minicontainer import cli

    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=out, stderr=err)


@pytest.mark.parametrize(("content", "message"), [
    (b'{"defaultAction": "SCMP_ACT_TRACE"}', "defaultAction: 'SCMP_ACT_TRACE' needs a tracer"),
    (b'{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "keyctl", '
     b'"action": "SCMP_ACT_ERRNO"}]}', "syscalls[0].names: 'keyctl' must be a list"),
    (b'{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [1]}', "archMap[0]: 1 is not"),
    (b'{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["X"]}',
     "flags[0]: 'X' is not a seccomp filter flag"),
    (b'{"defaultAction": "SCMP_ACT_ALLOW", "comment": "\xff"}', "not UTF-8"),
])
def test_cli_bad_profile_is_one_line_and_exit_125(tmp_path, capsys, content, message):
    path = tmp_path / "profile.json"
    path.write_bytes(content)
    for args in (("seccomp", "check", str(path)), ("seccomp", "show", "--profile", str(path))):
        result = _cli(capsys, *args)
        assert result.returncode == 125, result
        assert result.stdout == ""
        assert result.stderr.startswith("minicontainer: error: seccomp profile")
        assert result.stderr.count("\n") == 1 and message in result.stderr


def test_cli_seccomp_show_refuses_an_unknown_capability(capsys):
    result = _cli(capsys, "seccomp", "show", "--cap-add", "FOO")
    assert result.returncode == 125
    assert result.stderr == "minicontainer: error: cap-add: 'FOO' is not a capability\n"
    assert result.stdout == ""


def test_cli_seccomp_show_by_arch_prints_one_column_per_architecture(capsys):
    result = _cli(capsys, "seccomp", "show", "--by-arch")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "x86 (int 0x80)" in lines["syscall"] and "x32" in lines["syscall"]
    assert "errno 38: the arguments of socket are out of reach" in lines["socketcall"]
