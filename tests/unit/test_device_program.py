"""The device program's logic, run by a small interpreter of the instructions it uses.

The kernel's verdict is tested from inside containers (tests/integration/test_devices.py);
here every corner of the rule semantics is checked quickly, byte for byte as loaded.
"""

from __future__ import annotations

import struct

import pytest

from minicontainer import devices
from minicontainer.config import ConfigError, Device, DeviceRule

MKNOD, READ, WRITE = 1, 2, 4
BLOCK, CHAR = 1, 2


def run(program: bytes, kind: int, access: int, major: int, minor: int) -> int:
    """Execute ``program`` on one bpf_cgroup_dev_ctx, as the kernel would."""
    ctx = struct.pack("<III", access << 16 | kind, major, minor)
    regs = [0] * 11
    pc = 0
    mask = (1 << 64) - 1
    while True:
        code, regs_byte, off, imm = struct.unpack_from("<BBhi", program, pc * 8)
        dst, src = regs_byte & 0xF, regs_byte >> 4
        pc += 1
        if code == devices.LOAD_U32:
            assert src == 1, "only the context is read"
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == devices.MOVE_IMM:
            regs[dst] = imm & mask
        elif code == devices.MOVE_REG:
            regs[dst] = regs[src]
        elif code == devices.AND_IMM:
            regs[dst] &= imm & mask
        elif code == devices.SHIFT_IMM:
            regs[dst] >>= imm
        elif code == devices.JUMP_EQ:
            pc += off if regs[dst] == imm & mask else 0
        elif code == devices.JUMP_NE:
            pc += off if regs[dst] != imm & mask else 0
        elif code == devices.EXIT:
            return regs[0]
        else:
            raise AssertionError(f"opcode {code:#x} is not one the device program uses")


def verdict(rules: list[DeviceRule], kind: int, access: int, major: int, minor: int) -> int:
    program = b"".join(insn.encode() for insn in devices.compile_rules(rules))
    return run(program, kind, access, major, minor)


def defaults(kind: int, access: int, major: int, minor: int) -> int:
    return verdict(devices.effective_rules([]), kind, access, major, minor)


@pytest.mark.parametrize("major, minor", [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0),
                                          (5, 1), (5, 2), (136, 0), (136, 77)])
def test_the_default_devices_are_allowed_every_access(major, minor):
    for access in (READ, WRITE, READ | WRITE, MKNOD):
        assert defaults(CHAR, access, major, minor) == 1


@pytest.mark.parametrize("kind, major, minor", [(BLOCK, 8, 0), (BLOCK, 7, 0), (CHAR, 1, 1),
                                                (CHAR, 10, 200), (BLOCK, 1, 3), (CHAR, 1, 4)])
def test_other_devices_may_be_made_but_not_opened(kind, major, minor):
    assert defaults(kind, MKNOD, major, minor) == 1
    for access in (READ, WRITE, READ | WRITE, READ | MKNOD):
        assert defaults(kind, access, major, minor) == 0


def test_an_allow_rule_must_cover_every_bit_asked_for():
    rules = [DeviceRule(True, "b", 7, None, "r")]
    assert verdict(rules, BLOCK, READ, 7, 3) == 1
    assert verdict(rules, BLOCK, READ | WRITE, 7, 3) == 0
    assert verdict(rules, CHAR, READ, 7, 3) == 0


def test_bits_granted_by_two_rules_add_up():
    rules = [DeviceRule(True, "c", 10, 200, "r"), DeviceRule(True, "c", 10, 200, "w")]
    assert verdict(rules, CHAR, READ | WRITE, 10, 200) == 1


def test_the_last_rule_naming_an_access_decides_it():
    allow_then_deny = [DeviceRule(True, "b", 7, 0, "rw"), DeviceRule(False, "b", 7, None, "w")]
    assert verdict(allow_then_deny, BLOCK, READ, 7, 0) == 1
    assert verdict(allow_then_deny, BLOCK, WRITE, 7, 0) == 0
    assert verdict(allow_then_deny, BLOCK, READ | WRITE, 7, 0) == 0
    deny_then_allow = [DeviceRule(False, "a"), DeviceRule(True, "b", 7, 0, "rw")]
    assert verdict(deny_then_allow, BLOCK, READ | WRITE, 7, 0) == 1
    assert verdict(deny_then_allow, BLOCK, READ, 7, 1) == 0


def test_type_a_with_no_numbers_matches_everything():
    assert verdict([DeviceRule(True, "a")], BLOCK, READ | WRITE | MKNOD, 8, 0) == 1
    assert verdict([], BLOCK, READ, 8, 0) == 0


def test_a_config_rule_cannot_take_a_default_device_away():
    rules = devices.effective_rules([DeviceRule(False, "c", 1, 3, "rwm")])
    assert verdict(rules, CHAR, READ | WRITE, 1, 3) == 1


def test_every_jump_lands_inside_the_program():
    program = devices.compile_rules(devices.effective_rules([DeviceRule(False, "a")]))
    for n, insn in enumerate(program):
        if insn.code in (devices.JUMP_EQ, devices.JUMP_NE):
            assert 0 <= n + 1 + insn.offset < len(program)
    assert program[-1].code == devices.EXIT


@pytest.mark.parametrize("spec", ["x 1:3 rwm", "c 1:3", "c 1-3 rw", "c 1:3 rwx", "c 1:3 rr",
                                  "c 1:3 ", "c ٣:3 r", "c 1:99999999999 r"])
def test_bad_device_cgroup_rules_name_the_field(spec):
    with pytest.raises(ConfigError, match="^device-cgroup-rule: "):
        DeviceRule.parse(spec)


@pytest.mark.parametrize("doc", [
    {"allow": "yes"}, {"allow": True, "type": "p"}, {"allow": True, "access": "rwq"},
    {"allow": True, "major": "8"}, {"allow": True, "major": True}, "c 1:3 rwm",
])
def test_bad_oci_device_rules_name_the_field(doc):
    with pytest.raises(ConfigError, match=r"^linux\.resources\.devices: "):
        DeviceRule.from_oci(doc)


@pytest.mark.parametrize("doc", [
    {"path": "dev/x", "type": "c", "major": 1, "minor": 3},
    {"path": "/dev/x", "type": "p", "major": 0, "minor": 0},
    {"path": "/dev/x", "type": "c", "major": 1},
    {"path": "/dev/x", "type": "c", "major": 1, "minor": 3, "fileMode": 0o17777},
])
def test_bad_oci_device_nodes_name_the_field(doc):
    with pytest.raises(ConfigError, match=r"^linux\.devices: "):
        Device.from_oci(doc)


def test_device_flag_forms():
    node, rule = Device.parse("/dev/null")
    assert (node.path, node.kind, node.major, node.minor, rule.access) == (
        "/dev/null", "c", 1, 3, "rwm")
    node, rule = Device.parse("/dev/null:r")
    assert (node.path, rule.access) == ("/dev/null", "r")
    node, rule = Device.parse("/dev/null:/dev/sub/n:rw")
    assert (node.path, node.host_path, rule.access, str(rule)) == (
        "/dev/sub/n", "/dev/null", "rw", "c 1:3 rw")
