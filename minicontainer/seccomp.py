"""The seccomp layer: a syscall filter in the Docker/OCI profile format, built by libseccomp.

A profile says what happens to each system call: the ``defaultAction`` unless a
rule in ``syscalls`` matches the call's name (and, optionally, its arguments).
libseccomp turns the profile into a BPF program for each architecture; the kernel
runs that program on every system call the container makes, for the rest of its
life, and no process in it can remove it.

Generating the BPF program takes libseccomp tens of milliseconds, so
:func:`compiled` keeps each program it generated in a cache directory, keyed by
everything that decides it (profile, capabilities, architecture, kernel and
libseccomp versions); :func:`minicontainer.native.seccomp_load` installs one.

Example::

    from minicontainer import native, seccomp

    profile = seccomp.default_profile()
    seccomp.build(profile, capabilities={"CAP_CHOWN"}).export(1)   # libseccomp's pseudo-code
    program = seccomp.compiled(profile, {"CAP_CHOWN"}, "/tmp/bpf-cache")
    native.seccomp_load(program)    # from now on the filter applies to this process
"""

from __future__ import annotations

import os

from minicontainer._native import ffi, lib
from minicontainer.errors import ContainerError

ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}
OPERATORS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}
# The architectures of os.uname().machine and the profile names of their sub-architectures.
NATIVE_ARCH = {
    "x86_64": "SCMP_ARCH_X86_64",
    "i686": "SCMP_ARCH_X86",
    "aarch64": "SCMP_ARCH_AARCH64",
    "armv7l": "SCMP_ARCH_ARM",
    "riscv64": "SCMP_ARCH_RISCV64",
    "s390x": "SCMP_ARCH_S390X",
    "ppc64le": "SCMP_ARCH_PPC64LE",
}
EPERM = 1
_TOP_KEYS = {"defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls",
             "flags", "listenerPath", "listenerMetadata"}
_RULE_KEYS = {"names", "name", "action", "errnoRet", "args", "includes", "excludes", "comment"}
_ARG_KEYS = {"index", "value", "valueTwo", "op"}
_FILTER_KEYS = {"caps", "arches", "minKernel"}


class ProfileError(ContainerError):
    """A profile that cannot be used; the message names the field and its value."""


def native_arch() -> str:
    """The profile name of the architecture this kernel runs (``SCMP_ARCH_X86_64``)."""
    machine = os.uname().machine
    return NATIVE_ARCH.get(machine, f"SCMP_ARCH_{machine.upper()}")


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """(major, minor) of the running kernel, for ``includes.minKernel``."""
    release = release or os.uname().release
    major, minor = release.split(".")[:2]
    digits = len(minor) - len(minor.lstrip("0123456789"))
    return int(major), int(minor[:digits] or 0)


def load_file(path: str) -> dict:
    """Read and validate a profile file."""
    import json

    try:
        with open(path) as f:
            profile = json.load(f)
    except OSError as e:
        raise ProfileError(f"seccomp profile {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ProfileError(f"seccomp profile {path}: not JSON ({e})") from None
    validate(profile)
    return profile


def default_profile() -> dict:
    """The profile minicontainer applies unless told otherwise (see default_profile.py)."""
    from minicontainer import default_profile

    return default_profile.PROFILE


def _field_error(where: str, value: object, why: str) -> ProfileError:
    return ProfileError(f"seccomp profile: {where}: {value!r} {why}")


def validate(profile: object) -> list[str]:
    """Raise :class:`ProfileError` for the first unusable field; return warnings.

    Warnings are syscall names this libseccomp does not know: Docker ignores
    those too, so a profile written for a newer kernel still loads.
    """
    if not isinstance(profile, dict):
        raise _field_error("profile", type(profile).__name__, "is not a JSON object")
    unknown = set(profile) - _TOP_KEYS
    if unknown:
        raise _field_error("profile", sorted(unknown)[0], "is not a profile field")
    _check_action("defaultAction", profile.get("defaultAction"))
    if "defaultErrnoRet" in profile:
        _check_errno("defaultErrnoRet", profile["defaultErrnoRet"])
    for arch in profile.get("architectures", []):
        _check_arch("architectures", arch)
    for i, entry in enumerate(profile.get("archMap", [])):
        _check_arch(f"archMap[{i}].architecture", entry.get("architecture"))
        for sub in entry.get("subArchitectures", []):
            _check_arch(f"archMap[{i}].subArchitectures", sub)
    warnings = []
    syscalls = profile.get("syscalls", [])
    if not isinstance(syscalls, list):
        raise _field_error("syscalls", syscalls, "is not a list")
    for i, rule in enumerate(syscalls):
        warnings += _check_rule(f"syscalls[{i}]", rule)
    return warnings


def _check_action(where: str, action: object) -> None:
    if action not in ACTIONS:
        raise _field_error(where, action, f"is not an action ({', '.join(ACTIONS)})")


def _check_errno(where: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 4095:
        raise _field_error(where, value, "is not an errno number (0-4095)")


def _check_arch(where: str, arch: object) -> None:
    if not isinstance(arch, str) or not arch.startswith("SCMP_ARCH_"):
        raise _field_error(where, arch, "is not an architecture (SCMP_ARCH_...)")
    if lib.mc_seccomp_arch_known(arch[10:].lower().encode()) == -1:
        raise _field_error(where, arch, "is not an architecture libseccomp knows")


def _check_rule(where: str, rule: object) -> list[str]:
    if not isinstance(rule, dict):
        raise _field_error(where, rule, "is not a JSON object")
    unknown = set(rule) - _RULE_KEYS
    if unknown:
        raise _field_error(where, sorted(unknown)[0], "is not a rule field")
    names = _rule_names(rule)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise _field_error(f"{where}.names", names, "must be a list of syscall names")
    _check_action(f"{where}.action", rule.get("action"))
    if "errnoRet" in rule:
        _check_errno(f"{where}.errnoRet", rule["errnoRet"])
    args = rule.get("args") or []
    if not isinstance(args, list) or len(args) > 6:
        raise _field_error(f"{where}.args", args, "must be a list of at most 6 comparisons")
    for j, arg in enumerate(args):
        _check_arg(f"{where}.args[{j}]", arg)
    for key in ("includes", "excludes"):
        cond = rule.get(key) or {}
        if not isinstance(cond, dict) or set(cond) - _FILTER_KEYS:
            raise _field_error(f"{where}.{key}", cond, "may hold only caps, arches, minKernel")
    return [f"{where}: syscall {n!r} is unknown to libseccomp, ignored"
            for n in names if lib.mc_seccomp_syscall_number(n.encode()) == -1]


def _check_arg(where: str, arg: object) -> None:
    if not isinstance(arg, dict) or set(arg) - _ARG_KEYS:
        raise _field_error(where, arg, "is not {index, value, valueTwo, op}")
    index = arg.get("index")
    if not isinstance(index, int) or not 0 <= index <= 5:
        raise _field_error(f"{where}.index", index, "is not an argument index 0-5")
    for key in ("value", "valueTwo"):
        value = arg.get(key, 0)
        if not isinstance(value, int) or not 0 <= value < 2**64:
            raise _field_error(f"{where}.{key}", value, "is not an unsigned 64-bit number")
    if arg.get("op") not in OPERATORS:
        raise _field_error(f"{where}.op", arg.get("op"), f"is not one of {', '.join(OPERATORS)}")


def _rule_names(rule: dict) -> list[str]:
    return rule.get("names") or ([rule["name"]] if rule.get("name") else [])


def _applies(rule: dict, capabilities: set[str], arches: set[str],
             kernel: tuple[int, int]) -> bool:
    includes = rule.get("includes") or {}
    excludes = rule.get("excludes") or {}
    if includes.get("caps") and not set(includes["caps"]) <= capabilities:
        return False
    if includes.get("arches") and not set(includes["arches"]) & arches:
        return False
    if includes.get("minKernel") and kernel < kernel_version(includes["minKernel"] + ".0"):
        return False
    if excludes.get("caps") and set(excludes["caps"]) & capabilities:
        return False
    return not (excludes.get("arches") and set(excludes["arches"]) & arches)


def _action(name: str, errno_ret: int | None, default_errno: int) -> int:
    value = ACTIONS[name]
    if name == "SCMP_ACT_ERRNO":
        value |= default_errno if errno_ret is None else errno_ret
    return value


class Filter:
    """A filter built by libseccomp.  Its BPF program (:func:`compiled` caches it) is
    what gets installed, with :func:`minicontainer.native.seccomp_load`."""

    def __init__(self, ctx) -> None:
        self._ctx = ffi.gc(ctx, lib.mc_seccomp_release)

    def export(self, fd: int, bpf: bool = False) -> None:
        """Write libseccomp's pseudo-code (or the raw BPF program) to ``fd``."""
        if lib.mc_seccomp_export(self._ctx, fd, int(bpf)) == -1:
            errno = ffi.errno
            raise OSError(errno, os.strerror(errno), "seccomp_export")


def libseccomp_version() -> str:
    """The version of the libseccomp the native module is linked with."""
    numbers = ffi.new("unsigned int[3]")
    lib.mc_seccomp_version(numbers, numbers + 1, numbers + 2)
    return ".".join(str(n) for n in numbers)


def compiled(profile: dict, capabilities: set[str], cache_dir: str) -> bytes:
    """The BPF program for ``profile`` and ``capabilities``, from the cache if it is there.

    A cache file holds the whole key, a NUL, then the program; its name is only a
    CRC of the key, so a file whose key differs is rebuilt, never used.  (hashlib
    would cost more to import than the cache saves on a slow machine.)  A new
    file is written beside its final name and renamed into place, so concurrent
    starts never read half of one.
    """
    import zlib

    key = repr((profile, sorted(capabilities), native_arch(), kernel_version(),
                libseccomp_version())).encode()
    path = os.path.join(cache_dir, f"{zlib.crc32(key):08x}-{len(key)}.bpf")
    try:
        with open(path, "rb") as f:
            stored = f.read()
        if stored[:len(key)] == key and stored[len(key):len(key) + 1] == b"\0":
            return stored[len(key) + 1:]
    except FileNotFoundError:
        pass
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    partial = f"{path}.{os.getpid()}"
    fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, key + b"\0")
        build(profile, capabilities).export(fd, bpf=True)
        os.lseek(fd, len(key) + 1, os.SEEK_SET)
        program = os.read(fd, 1 << 20)
    finally:
        os.close(fd)
    os.rename(partial, path)
    return program


def build(profile: dict, capabilities: set[str], arch: str | None = None,
          kernel: tuple[int, int] | None = None) -> Filter:
    """Compile ``profile`` for a process holding ``capabilities``.

    Rules whose ``includes``/``excludes`` do not fit the capabilities, the
    architecture or the kernel are left out, as Docker does.  The native
    architecture is always in the filter; the profile adds its
    sub-architectures (x86 and x32 beside x86_64), whose syscall numbers differ.
    """
    arch = arch or native_arch()
    kernel = kernel or kernel_version()
    arches = {arch}
    for entry in profile.get("archMap", []):
        if entry.get("architecture") == arch:
            arches |= set(entry.get("subArchitectures", []))
    arches |= set(profile.get("architectures", []))
    default_errno = profile.get("defaultErrnoRet", EPERM)
    ctx = lib.mc_seccomp_init(_action(profile["defaultAction"], None, default_errno))
    if ctx == ffi.NULL:
        raise ProfileError(f"seccomp profile: defaultAction {profile['defaultAction']!r} refused")
    flt = Filter(ctx)
    for name in sorted(arches - {arch}):
        if lib.mc_seccomp_arch_add(ctx, name[10:].lower().encode()) == -1:
            raise _field_error("architectures", name, "cannot be added by libseccomp")
    for i, rule in enumerate(profile.get("syscalls", [])):
        if not _applies(rule, capabilities, arches, kernel):
            continue
        action = _action(rule["action"], rule.get("errnoRet"), default_errno)
        args = rule.get("args") or []
        comparisons = ffi.new("uint64_t[]", [
            number for a in args
            for number in (a["index"], OPERATORS[a["op"]], a.get("value", 0), a.get("valueTwo", 0))
        ] or [0])
        for name in _rule_names(rule):
            nr = lib.mc_seccomp_syscall_number(name.encode())
            if nr == -1:
                continue
            if lib.mc_seccomp_rule_add(ctx, action, nr, len(args), comparisons) == -1:
                errno = ffi.errno
                raise _field_error(f"syscalls[{i}]", name,
                                   f"cannot be added: {os.strerror(errno)} "
                                   "(a rule for it with another action exists already?)")
    return flt
