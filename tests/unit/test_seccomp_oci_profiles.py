"""OCI ``linux.seccomp`` objects as podman, runc and crun know them.

``data/podman-4.3-seccomp.json`` is the ``linux.seccomp`` object podman 4.3 puts
in a bundle's config.json (its default profile, resolved for the default
capabilities): ENOSYS by default, ``setns`` both allowed and denied, and four
rules for ``socket`` of which two are the same.
"""

from __future__ import annotations

import copy
import json
import os
import struct
import tempfile

import pytest

from minicontainer import seccomp

PODMAN = os.path.join(os.path.dirname(__file__), "data", "podman-4.3-seccomp.json")
ERRNO_ENOSYS = seccomp.ACTIONS["SCMP_ACT_ERRNO"] | seccomp.ENOSYS


@pytest.fixture
def podman() -> dict:
    with open(PODMAN) as f:
        return json.load(f)


def _export(profile: dict, bpf: bool, caps: frozenset[str] = frozenset()) -> bytes:
    with tempfile.TemporaryFile() as f:
        seccomp.build(profile, set(caps), arch="SCMP_ARCH_X86_64").export(f.fileno(), bpf=bpf)
        f.seek(0)
        return f.read()


def _pfc(profile: dict) -> dict[str, str]:
    text = _export(profile, bpf=False).decode()
    return {s.split()[0]: s for s in text.split("# filter for arch ")[1:]}


def _block(section: str, name: str) -> str:
    start = section.index(f'# filter for syscall "{name}"')
    end = section.find("# filter for syscall", start + 1)
    return section[start:end if end != -1 else section.index("# default action")]


def _returns(program: bytes) -> set[int]:
    return {k for code, _, _, k in struct.iter_unpack("=HBBI", program) if code == 0x06}


def test_podmans_whole_profile_compiles_for_every_architecture(podman):
    sections = _pfc(podman)
    assert set(sections) == {"x86_64", "x86", "x32"}
    for section in sections.values():
        assert "action ERRNO(38);" in section.split("# default action")[1]
        assert "$a2" in _block(section, "socket")


def test_podmans_profile_validates_with_one_warning_for_setns(podman):
    assert seccomp.validate(podman) == [
        "syscalls[10]: 'setns' is SCMP_ACT_ERRNO(1) here but SCMP_ACT_ALLOW by syscalls[1], "
        "both unconditionally: syscalls[1] wins, as in runc and crun"]
    # libseccomp keeps the first of two unconditional rules, as runc and crun load it.
    assert "action ALLOW" in _block(_pfc(podman)["x86_64"], "setns")


def test_socketcall_is_denied_although_enosys_is_the_default(podman):
    # The failure this fixes: libseccomp refused the ENOSYS rule for socketcall (the
    # default's action), derived "socketcall if call == SYS_SOCKET" rules from the
    # socket rules, and refused the third of them with EEXIST.
    x86 = _pfc(podman)["x86"]
    socketcall = _block(x86, "socketcall")
    assert "$a0" not in socketcall and "action ERRNO(38)" in socketcall
    assert "$a2" in _block(x86, "socket")


def test_the_stand_in_default_never_reaches_the_program(podman):
    program = _export(podman, bpf=True)
    assert len(program) % 8 == 0
    errno = seccomp.ACTIONS["SCMP_ACT_ERRNO"]
    # kill (a foreign architecture), the profile's errnos 1, 22 and 38, allow: no stand-in.
    assert _returns(program) == {seccomp.ACTIONS["SCMP_ACT_KILL"], errno | 1, errno | 22,
                                 ERRNO_ENOSYS, seccomp.ACTIONS["SCMP_ACT_ALLOW"]}
    assert "ERRNO(4094)" not in _export(podman, bpf=False).decode()


def test_the_stand_in_program_is_the_one_libseccomp_makes_for_another_default():
    # With EPERM as the default libseccomp needs no stand-in; its program, with the
    # default's returns made ENOSYS, is the program built for the ENOSYS default.
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
               "architectures": ["SCMP_ARCH_X86"],
               "syscalls": [{"names": ["read", "write", "socketcall"], "action": "SCMP_ACT_ALLOW"},
                            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}
    eperm = _export({**profile, "defaultErrnoRet": 1}, bpf=True)
    errno_eperm = seccomp.ACTIONS["SCMP_ACT_ERRNO"] | seccomp.EPERM
    assert errno_eperm in _returns(eperm)
    assert seccomp._swap_returns(eperm, errno_eperm, ERRNO_ENOSYS) == _export(profile, bpf=True)


SOCKET_NE_9 = {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 2, "value": 9, "op": "SCMP_CMP_NE"}]}


@pytest.mark.parametrize("arches", [[], ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]])
def test_an_identical_rule_given_twice_compiles_to_one(arches):
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": arches,
               "syscalls": [SOCKET_NE_9]}
    twice = {**profile, "syscalls": [SOCKET_NE_9, copy.deepcopy(SOCKET_NE_9)]}
    assert seccomp.validate(twice) == []
    assert _export(twice, bpf=True) == _export(profile, bpf=True)


def test_the_same_args_in_another_order_are_the_same_rule():
    both = [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 2, "value": 9, "op": "SCMP_CMP_NE"}]
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": both},
        {"names": ["socket"], "action": "SCMP_ACT_KILL", "args": both[::-1]}]}
    with pytest.raises(seccomp.ProfileError, match=r"syscalls\[1\].names: 'socket' is "
                       r"SCMP_ACT_KILL here but SCMP_ACT_ALLOW by syscalls\[0\] for the same"):
        seccomp.build(profile, set())


def test_a_true_conflict_is_refused_at_build_time_too():
    # A bundle's profile reaches build() without load_file(): build validates it.
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        SOCKET_NE_9, {**SOCKET_NE_9, "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    with pytest.raises(seccomp.ProfileError) as e:
        seccomp.build(profile, set())
    assert str(e.value) == (
        "seccomp profile: syscalls[1].names: 'socket' is SCMP_ACT_ERRNO(13) here but "
        "SCMP_ACT_ALLOW by syscalls[0] for the same args (libseccomp, runc and crun refuse "
        "this too)")


def test_a_partial_overlap_libseccomp_refuses_names_the_earlier_rules():
    # Other comparisons, so validate() lets it pass; libseccomp then finds that the
    # second rule ends where the first does, with another action (EEXIST).
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]},
        {"names": ["socket"], "action": "SCMP_ACT_KILL",
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}
    assert seccomp.validate(profile) == []
    with pytest.raises(seccomp.ProfileError) as e:
        seccomp.build(profile, set())
    assert str(e.value) == ("seccomp profile: syscalls[1]: 'socket' cannot be added: its args "
                            "overlap those of syscalls[0] with another action, and libseccomp "
                            "refuses that (EEXIST), as runc and crun do")


def test_a_rule_with_the_default_action_is_left_out_as_runc_and_crun_do():
    # libseccomp refuses it (EACCES); podman's older profiles have such rules.
    base = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    redundant = {**base, "syscalls": [*base["syscalls"],
                                      {"names": ["bdflush"], "action": "SCMP_ACT_ERRNO",
                                       "errnoRet": 1}]}
    assert _export(redundant, bpf=True) == _export(base, bpf=True)


def test_an_errno_rule_without_errnoret_is_eperm_whatever_the_default():
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
               "syscalls": [{"names": ["bpf"], "action": "SCMP_ACT_ERRNO"}]}
    assert "action ERRNO(1)" in _block(_pfc(profile)["x86_64"], "bpf")
    titles, rows = seccomp.by_arch(profile, set(), arch="SCMP_ARCH_X86_64")
    table = {row[0]: row[1] for row in rows}
    assert table["bpf"] == "errno 1" and table["(any other)"] == "default (errno 38)"


def test_masked_eq_compares_the_masked_argument_with_valuetwo():
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 1, "value": 0xFF00, "valueTwo": 0x1200,
                   "op": "SCMP_CMP_MASKED_EQ"}]}]}
    clone = _block(_pfc(profile)["x86_64"], "clone")
    assert "if ($a1.lo32 & 0x0000ff00 == 4608)" in clone


def test_tsync_is_accepted_since_the_filter_is_installed_by_one_thread():
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"]}
    assert seccomp.validate(profile) == []
    assert _export(profile, bpf=True) == _export({"defaultAction": "SCMP_ACT_ALLOW"}, bpf=True)


ALLOW_ALL = {"defaultAction": "SCMP_ACT_ALLOW"}
READ = {"names": ["read"], "action": "SCMP_ACT_ALLOW"}


@pytest.mark.parametrize(("profile", "message"), [
    ({**ALLOW_ALL, "flags": ["SECCOMP_FILTER_FLAG_LOG"]},
     "flags[0]: 'SECCOMP_FILTER_FLAG_LOG' would send every action but SCMP_ACT_ALLOW to the "
     "audit log"),
    ({**ALLOW_ALL, "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]},
     "flags[1]: 'SECCOMP_FILTER_FLAG_SPEC_ALLOW' would turn off the kernel's Speculative Store "
     "Bypass mitigation"),
    ({**ALLOW_ALL, "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]},
     "flags[0]: 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV' is for SCMP_ACT_NOTIFY agents"),
    ({**ALLOW_ALL, "listenerPath": "/run/agent.sock"},
     "listenerPath: '/run/agent.sock' is for SCMP_ACT_NOTIFY agents, which minicontainer does "
     "not support"),
    ({**ALLOW_ALL, "listenerMetadata": "x"},
     "listenerMetadata: 'x' is for SCMP_ACT_NOTIFY agents"),
    ({**ALLOW_ALL, "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
     "syscalls[0].action: 'SCMP_ACT_NOTIFY' hands the call to a listenerPath agent"),
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, "defaultAction: 'SCMP_ACT_NOTIFY' hands the call"),
    ({"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 38},
     "defaultErrnoRet: 38 is for defaultAction SCMP_ACT_ERRNO, not SCMP_ACT_KILL"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 4095},
     "defaultErrnoRet: 4095 is not an errno number libseccomp takes (0-4094)"),
    ({**ALLOW_ALL, "syscalls": [{**READ, "errnoRet": 1}]},
     "syscalls[0].errnoRet: 1 is for action SCMP_ACT_ERRNO, not SCMP_ACT_ALLOW"),
    ({**ALLOW_ALL, "syscalls": [{**READ, "args": [{"index": 0, "value": 1, "valueTwo": 2,
                                                   "op": "SCMP_CMP_EQ"}]}]},
     "syscalls[0].args[0].valueTwo: 2 is used by SCMP_CMP_MASKED_EQ only, not SCMP_CMP_EQ"),
    ({**ALLOW_ALL, "syscalls": [{**READ, "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_GE"},
                                                  {"index": 0, "value": 9, "op": "SCMP_CMP_LE"}]}]},
     "syscalls[0].args[1].index: 0 is compared by args[0] already"),
    ({**ALLOW_ALL, "syscalls": [{**READ, "args": [{"value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "syscalls[0].args[0].index: missing"),
    ({**ALLOW_ALL, "architectures": ["SCMP_ARCH_VAX"]},
     "architectures[0]: 'SCMP_ARCH_VAX' is not an architecture libseccomp knows"),
])
def test_each_refused_field_is_named(profile, message):
    for check in (seccomp.validate, lambda p: seccomp.build(p, set())):
        with pytest.raises(seccomp.ProfileError) as e:
            check(profile)
        assert message in str(e.value)
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("field", ["listenerPath", "flags"])
def test_podmans_profile_with_a_refused_field_is_refused_by_name(podman, field):
    podman[field] = "/run/agent.sock" if field == "listenerPath" else ["SECCOMP_FILTER_FLAG_LOG"]
    with pytest.raises(seccomp.ProfileError, match=field):
        seccomp.build(podman, set())
