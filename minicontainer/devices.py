"""The device layer: which device nodes the container may use, as a cgroup BPF program.

A device node is only a name for a (type, major, minor) triple: whoever may
``mknod`` can make a node for the host's disk, and a write to it is a write to
the disk.  cgroup v1 had a ``devices`` controller with an allow list in
``devices.allow``; cgroup v2 has no such file.  Instead, a small eBPF program of
type ``BPF_PROG_TYPE_CGROUP_DEVICE`` is attached to the cgroup, and the kernel
runs it on every open and mknod of a device node by a process in that cgroup
(or below it).  It answers 1 (allow) or 0 (the call fails with EPERM).

The program is written here by hand, one instruction at a time, from a list of
:class:`~minicontainer.config.DeviceRule`.  The kernel gives it a pointer (in
register r1) to::

    struct bpf_cgroup_dev_ctx {
        __u32 access_type;   /* (access << 16) | type */
        __u32 major;
        __u32 minor;
    };

where type is 1 for a block device, 2 for a char device, and access is a bit
set of 1 mknod, 2 read, 4 write (an ``open(O_RDWR)`` asks for 6).

Rules are read from the last to the first, and each bit of access is decided
by the last rule that names it, as runc and crun do: register r3 starts as the
bits asked for; a matching allow rule clears its bits and, once none is left,
returns 1; a matching deny rule returns 0 if it names a bit still asked for.
Nothing left to read means no rule allowed it: return 0.
"""

from __future__ import annotations

import os
import struct

from minicontainer import native
from minicontainer.config import DeviceRule

PROGRAM_NAME = "mc_devices"  # what `bpftool cgroup show` lists

# The OCI default devices, which every container gets (runc also allows /dev/net/tun;
# here that takes --device).  mknod of any node is allowed: the node is a name, and
# using it is an open, which only the rules below allow.
DEFAULT_RULES = (
    DeviceRule(True, "c", None, None, "m"),
    DeviceRule(True, "b", None, None, "m"),
    DeviceRule(True, "c", 1, 3, "rwm"),     # /dev/null
    DeviceRule(True, "c", 1, 5, "rwm"),     # /dev/zero
    DeviceRule(True, "c", 1, 7, "rwm"),     # /dev/full
    DeviceRule(True, "c", 1, 8, "rwm"),     # /dev/random
    DeviceRule(True, "c", 1, 9, "rwm"),     # /dev/urandom
    DeviceRule(True, "c", 5, 0, "rwm"),     # /dev/tty
    DeviceRule(True, "c", 5, 1, "rwm"),     # /dev/console
    DeviceRule(True, "c", 5, 2, "rwm"),     # /dev/ptmx
    DeviceRule(True, "c", 136, None, "rwm"),  # /dev/pts/N, the container's terminals
)

# struct bpf_cgroup_dev_ctx, from include/uapi/linux/bpf.h
CTX_ACCESS_TYPE, CTX_MAJOR, CTX_MINOR = 0, 4, 8
DEVICE_TYPE = {"b": 1, "c": 2}         # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
ACCESS_BIT = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE

# Opcodes, from include/uapi/linux/bpf.h and bpf_common.h: class | operation | source.
LOAD_U32 = 0x61   # BPF_LDX | BPF_MEM | BPF_W:   dst = *(u32 *)(src + off)
MOVE_IMM = 0xB7   # BPF_ALU64 | BPF_MOV | BPF_K: dst = imm
MOVE_REG = 0xBF   # BPF_ALU64 | BPF_MOV | BPF_X: dst = src
AND_IMM = 0x57    # BPF_ALU64 | BPF_AND | BPF_K: dst &= imm
SHIFT_IMM = 0x77  # BPF_ALU64 | BPF_RSH | BPF_K: dst >>= imm
JUMP_EQ = 0x15    # BPF_JMP | BPF_JEQ | BPF_K:   if dst == imm: skip off instructions
JUMP_NE = 0x55    # BPF_JMP | BPF_JNE | BPF_K:   if dst != imm: skip off instructions
EXIT = 0x95       # BPF_JMP | BPF_EXIT:          return r0

R0, R1, R2, R3, R4, R5 = range(6)
NEXT_RULE = "next rule"  # a jump target, resolved once a rule's block is complete


class Instruction:
    """One ``struct bpf_insn``, with what it means in words.

    A plain class, not a NamedTuple: importing typing costs every ``run`` 4 ms.
    ``heading`` starts a part of the program: the listing prints it above.
    """

    __slots__ = ("code", "dst", "src", "offset", "imm", "comment", "heading")

    def __init__(self, code: int, dst: int = 0, src: int = 0, offset: int | str = 0,
                 imm: int = 0, comment: str = "", heading: str = "") -> None:
        self.code, self.dst, self.src, self.offset = code, dst, src, offset
        self.imm, self.comment, self.heading = imm, comment, heading

    def _replace(self, **changes) -> Instruction:
        fields = {name: getattr(self, name) for name in self.__slots__}
        return Instruction(**{**fields, **changes})

    def encode(self) -> bytes:
        """The 8 bytes the kernel reads: opcode, dst and src in one byte, offset, imm."""
        return struct.pack("<BBhi", self.code, self.dst | self.src << 4, self.offset, self.imm)


def _prologue() -> list[Instruction]:
    """Spread the context over registers: r2 type, r3 access, r4 major, r5 minor."""
    return [
        Instruction(LOAD_U32, R2, R1, CTX_ACCESS_TYPE, comment="r2 = ctx->access_type",
                    heading="the context (r1) into registers"),
        Instruction(AND_IMM, R2, imm=0xFFFF, comment="r2 &= 0xffff: the type, 1 block 2 char"),
        Instruction(LOAD_U32, R3, R1, CTX_ACCESS_TYPE, comment="r3 = ctx->access_type"),
        Instruction(SHIFT_IMM, R3, imm=16, comment="r3 >>= 16: the access asked for, "
                    "1 mknod 2 read 4 write"),
        Instruction(LOAD_U32, R4, R1, CTX_MAJOR, comment="r4 = ctx->major"),
        Instruction(LOAD_U32, R5, R1, CTX_MINOR, comment="r5 = ctx->minor"),
    ]


def _rule_block(rule: DeviceRule) -> list[Instruction]:
    """The instructions of one rule; each mismatch jumps to the next rule's block."""
    block = []
    if rule.kind != "a":
        block.append(Instruction(JUMP_NE, R2, offset=NEXT_RULE, imm=DEVICE_TYPE[rule.kind],
                                 comment=f"not a {'block' if rule.kind == 'b' else 'char'} "
                                 "device: next rule"))
    if rule.major is not None:
        block.append(Instruction(JUMP_NE, R4, offset=NEXT_RULE, imm=rule.major,
                                 comment=f"major is not {rule.major}: next rule"))
    if rule.minor is not None:
        block.append(Instruction(JUMP_NE, R5, offset=NEXT_RULE, imm=rule.minor,
                                 comment=f"minor is not {rule.minor}: next rule"))
    bits = sum(ACCESS_BIT[letter] for letter in rule.access)
    if rule.allow:
        block += [
            Instruction(AND_IMM, R3, imm=~bits, comment=f"r3 &= ~{bits}: '{rule.access}' "
                        "is granted"),
            Instruction(JUMP_NE, R3, offset=NEXT_RULE, imm=0,
                        comment="some access is still asked for: next rule"),
            Instruction(MOVE_IMM, R0, imm=1, comment="r0 = 1: allow"),
        ]
    else:
        block += [
            Instruction(MOVE_REG, R1, R3, comment="r1 = r3"),
            Instruction(AND_IMM, R1, imm=bits, comment=f"r1 &= {bits}: what this rule "
                        f"denies ('{rule.access}') of what is asked"),
            Instruction(JUMP_EQ, R1, offset=NEXT_RULE, imm=0,
                        comment="none of it: next rule"),
            Instruction(MOVE_IMM, R0, imm=0, comment="r0 = 0: deny"),
        ]
    block.append(Instruction(EXIT, comment="return r0"))
    block[0] = block[0]._replace(heading=f"{'allow' if rule.allow else 'deny'} {rule}")
    # A jump skips `offset` instructions after itself: to the first one after the block.
    return [insn._replace(offset=len(block) - 1 - i) if insn.offset == NEXT_RULE else insn
            for i, insn in enumerate(block)]


def compile_rules(rules: list[DeviceRule]) -> list[Instruction]:
    """The device program for ``rules``: the last rule that names a bit of access
    decides it, and access that no rule allows is denied."""
    program = _prologue()
    for rule in reversed(rules):
        program += _rule_block(rule)
    program += [
        Instruction(MOVE_IMM, R0, imm=0, comment="r0 = 0: no rule allowed it, deny",
                    heading="the default"),
        Instruction(EXIT, comment="return r0"),
    ]
    return program


def effective_rules(rules: list[DeviceRule]) -> list[DeviceRule]:
    """The config's rules with the defaults after them, so that (as in runc) no rule
    can take the default devices away."""
    return [*rules, *DEFAULT_RULES]


def listing(program: list[Instruction]) -> str:
    """The program one instruction a line: its number, its 8 bytes, what it does."""
    lines = []
    for n, insn in enumerate(program):
        if insn.heading:
            lines.append(f"     ; {insn.heading}")
        target = f" (to {n + 1 + insn.offset})" if insn.code in (JUMP_EQ, JUMP_NE) else ""
        lines.append(f"{n:3}: {insn.encode().hex(' ')}   {insn.comment}{target}")
    return "\n".join(lines)


def _bytes(rules: list[DeviceRule]) -> bytes:
    """The program for ``rules`` and the defaults, as the kernel takes it."""
    return b"".join(insn.encode() for insn in compile_rules(effective_rules(rules)))


def restrict(cgroup_path: str, rules: list[DeviceRule]) -> None:
    """Load the device program for ``rules`` and attach it to the cgroup at ``cgroup_path``.

    Attached with ``BPF_F_ALLOW_MULTI``, as runc does: a program attached below
    (by a runtime nested in the container) runs as well and can only deny more.
    The attachment holds the program; it goes when the cgroup is removed.
    """
    prog_fd = native.bpf_load_device_program(_bytes(rules), PROGRAM_NAME)
    try:
        cgroup_fd = os.open(cgroup_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            native.bpf_prog_attach(cgroup_fd, prog_fd, native.BPF_CGROUP_DEVICE,
                                   native.BPF_F_ALLOW_MULTI, cgroup_path)
        finally:
            os.close(cgroup_fd)
    finally:
        os.close(prog_fd)


def try_load() -> None:
    """Load the default program and drop it again: OSError if this kernel cannot."""
    os.close(native.bpf_load_device_program(_bytes([]), PROGRAM_NAME))


def attached(cgroup_path: str) -> list[int]:
    """The ids of the device programs attached to the cgroup at ``cgroup_path``."""
    cgroup_fd = os.open(cgroup_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return native.bpf_prog_query(cgroup_fd, native.BPF_CGROUP_DEVICE, cgroup_path)
    finally:
        os.close(cgroup_fd)
