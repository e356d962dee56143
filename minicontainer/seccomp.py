"""The seccomp layer: a syscall filter in the Docker/OCI profile format, built by libseccomp.

A profile says what happens to each system call: the ``defaultAction`` unless a
rule in ``syscalls`` matches the call's name (and, optionally, its arguments).
libseccomp turns the profile into a BPF program for each architecture; the kernel
runs that program on every system call the container makes, for the rest of its
life, and no process in it can remove it.

Generating the BPF program takes libseccomp tens of milliseconds, so
:func:`compiled` keeps each program it generated in a cache directory, keyed by
everything that decides it (profile, capabilities, architecture, kernel and
libseccomp versions, and ``BUILD_LOGIC``); :func:`minicontainer.native.seccomp_load`
installs one.  :func:`by_arch` says what the filter does on each architecture, the
32-bit doors of an x86_64 kernel included.

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
ENOSYS = 38
# Calls that x86 (and s390, ppc, mips o32) processes can also make through a
# multiplexer: its first argument picks the call, its second points at the call's
# arguments in memory, where seccomp cannot read.  libseccomp compiles a rule on
# such a call into "multiplexer, if call == N" and drops the argument tests, so
# minicontainer denies the multiplexer on those architectures whenever a rule looks
# at the arguments of one of its calls (the direct syscalls stay, filtered).
MULTIPLEXERS = {
    "socketcall": {"socket", "bind", "connect", "listen", "accept", "getsockname",
                   "getpeername", "socketpair", "send", "recv", "sendto", "recvfrom",
                   "shutdown", "setsockopt", "getsockopt", "sendmsg", "recvmsg", "accept4",
                   "recvmmsg", "sendmmsg"},
    "ipc": {"semop", "semget", "semctl", "semtimedop", "msgsnd", "msgrcv", "msgget", "msgctl",
            "shmat", "shmdt", "shmget", "shmctl"},
}
MULTIPLEXING_ARCHES = {"SCMP_ARCH_X86", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PPC",
                       "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_MIPS",
                       "SCMP_ARCH_MIPSEL"}
# SECCOMP_FILTER_FLAG_* a profile may name, and why minicontainer refuses those it refuses:
# it installs its filter with no flags.  TSYNC asks the kernel to give the filter to every
# thread; the init and the exec helper install it while they have one thread, so it holds.
REFUSED_FLAGS = {
    "SECCOMP_FILTER_FLAG_LOG": "would send every action but SCMP_ACT_ALLOW to the audit log, "
                               "and minicontainer installs its filter without flags",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": "would turn off the kernel's Speculative Store Bypass "
                                      "mitigation, which minicontainer keeps (it installs its "
                                      "filter without flags)",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": "is for SCMP_ACT_NOTIFY agents, which "
                                              "minicontainer does not support",
}
# Part of the cache key: change it whenever build() turns a profile into another program.
BUILD_LOGIC = 3
_SCHEMA = os.path.join(os.path.dirname(__file__), "schemas", "seccomp.json")


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
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ProfileError(f"seccomp profile {path}: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProfileError(f"seccomp profile {path}: not UTF-8 (byte {data[e.start]:#04x} "
                           f"at offset {e.start})") from None
    try:
        profile = json.loads(text)
    except json.JSONDecodeError as e:
        raise ProfileError(f"seccomp profile {path}: not JSON ({e})") from None
    validate(profile)
    return profile


def default_profile() -> dict:
    """The profile minicontainer applies unless told otherwise (see default_profile.py)."""
    from minicontainer import default_profile

    return default_profile.PROFILE


def _field_error(where: str, value: object, why: str) -> ProfileError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ProfileError(f"seccomp profile: {where}: {shown} {why}")


def validate(profile: object) -> list[str]:
    """Raise :class:`ProfileError` for the first unusable field; return warnings.

    The shape (types, names, ranges) is checked against the JSON schema in
    ``schemas/seccomp.json``; what a schema cannot say (architectures libseccomp
    knows, flags and errno values that have no effect, rules that contradict each
    other) is checked here.  Warnings are syscall names this libseccomp does not
    know (Docker, runc and crun ignore those too, so a profile written for a newer
    kernel still loads) and unconditional rules the first rule for the call
    overrides.
    """
    _check_schema(profile)
    for i, arch in enumerate(profile.get("architectures", [])):
        _check_arch(f"architectures[{i}]", arch)
    for i, entry in enumerate(profile.get("archMap", [])):
        _check_arch(f"archMap[{i}].architecture", entry["architecture"])
        for j, sub in enumerate(entry.get("subArchitectures", [])):
            _check_arch(f"archMap[{i}].subArchitectures[{j}]", sub)
    for i, flag in enumerate(profile.get("flags", [])):
        if flag in REFUSED_FLAGS:
            raise _field_error(f"flags[{i}]", flag, REFUSED_FLAGS[flag])
    if "defaultErrnoRet" in profile and profile["defaultAction"] != "SCMP_ACT_ERRNO":
        raise _field_error("defaultErrnoRet", profile["defaultErrnoRet"],
                           f"is for defaultAction SCMP_ACT_ERRNO, not {profile['defaultAction']}")
    syscalls = profile.get("syscalls", [])
    for i, rule in enumerate(syscalls):
        _check_rule(i, rule)
    warnings = _check_contradictions(syscalls, _verdict({
        "action": profile["defaultAction"], "errnoRet": profile.get("defaultErrnoRet", EPERM)}))
    return [f"syscalls[{i}]: syscall {n!r} is unknown to libseccomp, ignored"
            for i, rule in enumerate(syscalls) for n in _rule_names(rule)
            if lib.mc_seccomp_syscall_number(n.encode()) == -1] + warnings


def _check_rule(i: int, rule: dict) -> None:
    """Refuse an errnoRet or a comparison that libseccomp would drop or reject."""
    if "errnoRet" in rule and rule["action"] != "SCMP_ACT_ERRNO":
        raise _field_error(f"syscalls[{i}].errnoRet", rule["errnoRet"],
                           f"is for action SCMP_ACT_ERRNO, not {rule['action']}")
    seen: dict[int, int] = {}
    for k, comparison in enumerate(rule.get("args") or []):
        where = f"syscalls[{i}].args[{k}]"
        if comparison.get("valueTwo", 0) and comparison["op"] != "SCMP_CMP_MASKED_EQ":
            raise _field_error(f"{where}.valueTwo", comparison["valueTwo"],
                               f"is used by SCMP_CMP_MASKED_EQ only, not {comparison['op']}")
        # runc and crun split such a rule into one rule per comparison, which turns
        # "and" into "or"; a rule that means something else than it says is refused.
        if comparison["index"] in seen:
            raise _field_error(f"{where}.index", comparison["index"],
                               f"is compared by args[{seen[comparison['index']]}] already: "
                               "libseccomp allows one comparison per argument in a rule "
                               "(write one rule per comparison)")
        seen[comparison["index"]] = k


def _check_schema(profile: object) -> None:
    import json

    import jsonschema

    with open(_SCHEMA) as f:
        schema = json.load(f)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(profile))
    if errors:
        raise _schema_error(jsonschema.exceptions.best_match(errors))


def _schema_error(error) -> ProfileError:
    """The message for one jsonschema error, from the ``x-`` hints of its subschema."""
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    where = where.lstrip(".") or "profile"
    schema, instance = error.schema, error.instance
    if error.validator == "additionalProperties":
        extra = sorted(set(instance) - set(schema.get("properties", {})))[0]
        return _field_error(where, extra, f"is not {schema['x-field']}")
    if error.validator in ("required", "anyOf") and "x-why-required" in schema:
        missing = "names" if error.validator == "anyOf" else next(
            k for k in schema["required"] if k not in instance)
        where = missing if where == "profile" else f"{where}.{missing}"
        return ProfileError(f"seccomp profile: {where}: missing; {schema['x-why-required']}")
    if where == "profile" and error.validator == "type":
        return _field_error(where, type(instance).__name__, schema["x-why"])
    return _field_error(where, instance, schema.get("x-why", f"is not valid: {error.message}"))


def _check_arch(where: str, arch: str) -> None:
    if lib.mc_seccomp_arch_known(arch[10:].lower().encode()) == -1:
        raise _field_error(where, arch, "is not an architecture libseccomp knows")


def _exclusive(a: dict, b: dict) -> bool:
    """Whether two rules' includes/excludes can never hold at the same time."""
    for one, other in ((a, b), (b, a)):
        inc, exc = one.get("includes") or {}, other.get("excludes") or {}
        if set(inc.get("caps", [])) & set(exc.get("caps", [])):
            return True
        if set(inc.get("arches", [])) & set(exc.get("arches", [])):
            return True
    arches_a = set((a.get("includes") or {}).get("arches", []))
    arches_b = set((b.get("includes") or {}).get("arches", []))
    return bool(arches_a and arches_b and not arches_a & arches_b)


def _comparisons(rule: dict) -> tuple:
    """A rule's comparisons as libseccomp sees them: one per argument, in argument order."""
    return tuple(sorted((a["index"], a["op"], a.get("value", 0), a.get("valueTwo", 0))
                        for a in rule.get("args") or []))


def _check_contradictions(syscalls: list[dict], default: str) -> list[str]:
    """Refuse two actions for one call under the same comparisons; warn of overridden rules.

    libseccomp decides what happens when rules for one call meet.  The same
    comparisons (or none) with the same action is one rule given twice: it is
    merged, and loads, as in runc and crun.  The same comparisons with another
    action is refused by libseccomp (EEXIST), and by runc and crun with it, and so
    it is here, naming both rules.  Two unconditional rules with different actions
    are an exception: libseccomp keeps the first and drops the second without a
    word, runc and crun load that filter, and podman's default profile relies on
    it (``setns`` is allowed, then denied); minicontainer loads it too, and says
    which rule lost.  A rule with the ``default`` verdict is left out of the filter
    (see :func:`build`), so it meets no other rule.
    """
    warnings = []
    seen: dict[tuple[str, tuple], list[tuple[int, dict]]] = {}
    for i, rule in enumerate(syscalls):
        if _verdict(rule) == default:
            continue
        comparisons = _comparisons(rule)
        for name in _rule_names(rule):
            for j, earlier in seen.get((name, comparisons), []):
                if _verdict(earlier) == _verdict(rule) or _exclusive(earlier, rule):
                    continue
                if comparisons:
                    raise _field_error(f"syscalls[{i}].names", name,
                                       f"is {_verdict(rule)} here but {_verdict(earlier)} by "
                                       f"syscalls[{j}] for the same args (libseccomp, runc "
                                       "and crun refuse this too)")
                warnings.append(f"syscalls[{i}]: {name!r} is {_verdict(rule)} here but "
                                f"{_verdict(earlier)} by syscalls[{j}], both unconditionally: "
                                f"syscalls[{j}] wins, as in runc and crun")
                break
            seen.setdefault((name, comparisons), []).append((i, rule))
    return warnings


def _verdict(rule: dict) -> str:
    action = rule["action"]
    if action == "SCMP_ACT_ERRNO":
        return f"{action}({rule.get('errnoRet', EPERM)})"
    return action


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


def _action(name: str, errno_ret: int | None) -> int:
    """The action's number; SCMP_ACT_ERRNO without an errno is EPERM, for a rule as for
    the default (``defaultErrnoRet`` is the default action's alone, as in runc and crun)."""
    value = ACTIONS[name]
    if name == "SCMP_ACT_ERRNO":
        value |= EPERM if errno_ret is None else errno_ret
    return value


class Filter:
    """A filter built by libseccomp.  Its BPF program (:func:`compiled` caches it) is
    what gets installed, with :func:`minicontainer.native.seccomp_load`."""

    def __init__(self, ctx, stand_in: int | None = None, default: int | None = None) -> None:
        self._ctx = ffi.gc(ctx, lib.mc_seccomp_release)
        # libseccomp was given the default action ``stand_in``; ``default`` is the real one.
        self._stand_in = stand_in
        self._default = default

    def export(self, fd: int, bpf: bool = False) -> None:
        """Write libseccomp's pseudo-code (or the raw BPF program) to ``fd``."""
        if self._stand_in is None:
            self._export(fd, bpf)
            return
        scratch = os.memfd_create("seccomp-export", os.MFD_CLOEXEC)
        try:
            self._export(scratch, bpf)
            os.lseek(scratch, 0, os.SEEK_SET)
            data = b""
            while chunk := os.read(scratch, 1 << 20):
                data += chunk
        finally:
            os.close(scratch)
        data = _swap_returns(data, self._stand_in, self._default) if bpf else data.replace(
            f"ERRNO({self._stand_in & 0xFFFF})".encode(),
            f"ERRNO({self._default & 0xFFFF})".encode())
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    def _export(self, fd: int, bpf: bool) -> None:
        if lib.mc_seccomp_export(self._ctx, fd, int(bpf)) == -1:
            errno = ffi.errno
            raise OSError(errno, os.strerror(errno), "seccomp_export")


_BPF_RET_K = 0x06  # BPF_RET | BPF_K: return the constant k


def _swap_returns(program: bytes, old: int, new: int) -> bytes:
    """``program`` with every "return ``old``" made "return ``new``"."""
    import struct

    out = bytearray()
    for code, jt, jf, k in struct.iter_unpack("=HBBI", program):
        out += struct.pack("=HBBI", code, jt, jf, new if code == _BPF_RET_K and k == old else k)
    return bytes(out)


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

    key = repr((BUILD_LOGIC, profile, sorted(capabilities), native_arch(), kernel_version(),
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
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(partial, flags, 0o600)
    except FileExistsError:
        # Left by a process that was killed mid-write and had our pid: unlink never
        # follows a symlink, and the new file is made afresh.
        os.unlink(partial)
        fd = os.open(partial, flags, 0o600)
    try:
        try:
            os.write(fd, key + b"\0")
            build(profile, capabilities).export(fd, bpf=True)
            os.lseek(fd, len(key) + 1, os.SEEK_SET)
            program = os.read(fd, 1 << 20)
        finally:
            os.close(fd)
        os.rename(partial, path)
    except BaseException:
        os.unlink(partial)
        raise
    return program


class _Plan:
    """What :func:`build` puts in a filter: the arches, the rules that apply, and the
    multiplexers denied because a rule looks at the arguments of one of their calls."""

    def __init__(self, profile: dict, capabilities: set[str], arch: str,
                 kernel: tuple[int, int]) -> None:
        arches = {arch}
        for entry in profile.get("archMap", []):
            if entry.get("architecture") == arch:
                arches |= set(entry.get("subArchitectures", []))
        arches |= set(profile.get("architectures", []))
        self.native = arch
        self.arches = [arch, *sorted(arches - {arch})]
        self.default_action = _action(profile["defaultAction"], profile.get("defaultErrnoRet"))
        # A rule with the default action changes nothing, and libseccomp refuses it
        # (EACCES): it is left out, as runc and crun do.
        self.rules = [(i, rule) for i, rule in enumerate(profile.get("syscalls", []))
                      if _applies(rule, capabilities, arches, kernel)
                      and _action(rule["action"], rule.get("errnoRet")) != self.default_action]
        self.denied_multiplexers: dict[str, list[str]] = {}
        if arches & MULTIPLEXING_ARCHES:
            for _, rule in self.rules:
                for name in _rule_names(rule) if rule.get("args") else []:
                    for multiplexer, calls in MULTIPLEXERS.items():
                        if name in calls:
                            self.denied_multiplexers.setdefault(multiplexer, []).append(name)


def build(profile: dict, capabilities: set[str], arch: str | None = None,
          kernel: tuple[int, int] | None = None) -> Filter:
    """Compile ``profile`` for a process holding ``capabilities``.

    Rules whose ``includes``/``excludes`` do not fit the capabilities, the
    architecture or the kernel are left out, as Docker does.  The native
    architecture is always in the filter; the profile adds its
    sub-architectures (x86 and x32 beside x86_64), whose syscall numbers differ.
    A multiplexer (``socketcall``, ``ipc``) answers ENOSYS when a rule looks at
    the arguments of one of its calls: added first, this rule absorbs the
    argument-less "multiplexer, if call == N" rules libseccomp would derive.

    A profile that is not the default one is validated first: a bundle's
    ``linux.seccomp`` arrives here without having passed :func:`load_file`.
    """
    if profile is not default_profile():
        validate(profile)
    plan = _Plan(profile, capabilities, arch or native_arch(), kernel or kernel_version())
    deny = _action("SCMP_ACT_ERRNO", ENOSYS)
    stand_in = None
    if plan.denied_multiplexers and plan.default_action == deny:
        # ENOSYS is the default (podman's profile): libseccomp refuses the absorbing
        # rule, whose action is the default's, and the derived rules would stay, the
        # argument tests gone.  So libseccomp gets a default no rule has, and the real
        # one takes its place in the program it generates.
        used = {_action(r["action"], r.get("errnoRet")) for _, r in plan.rules}
        stand_in = next(a for a in range(_action("SCMP_ACT_ERRNO", 4094), deny, -1)
                        if a not in used)
    ctx = lib.mc_seccomp_init(plan.default_action if stand_in is None else stand_in)
    if ctx == ffi.NULL:
        raise ProfileError(f"seccomp profile: defaultAction {profile['defaultAction']!r} refused")
    flt = Filter(ctx, stand_in, plan.default_action)
    for name in plan.arches[1:]:
        if lib.mc_seccomp_arch_add(ctx, name[10:].lower().encode()) == -1:
            raise _field_error("architectures", name, "cannot be added by libseccomp")
    no_args = ffi.new("uint64_t[]", [0])
    for multiplexer in sorted(plan.denied_multiplexers):
        nr = lib.mc_seccomp_syscall_number(multiplexer.encode())
        if lib.mc_seccomp_rule_add(ctx, deny, nr, 0, no_args) == -1:
            raise OSError(ffi.errno, os.strerror(ffi.errno), f"seccomp rule for {multiplexer}")
    for i, rule in plan.rules:
        action = _action(rule["action"], rule.get("errnoRet"))
        args = rule.get("args") or []
        comparisons = ffi.new("uint64_t[]", [
            number for a in args
            for number in (a["index"], OPERATORS[a["op"]], a.get("value", 0), a.get("valueTwo", 0))
        ] or [0])
        for name in _rule_names(rule):
            nr = lib.mc_seccomp_syscall_number(name.encode())
            if nr == -1 or name in plan.denied_multiplexers:
                continue
            if lib.mc_seccomp_rule_add(ctx, action, nr, len(args), comparisons) == -1:
                raise _rule_refused(i, name, ffi.errno, plan.rules)
    return flt


def _rule_refused(i: int, name: str, errno: int, rules: list[tuple[int, dict]]) -> ProfileError:
    """Why libseccomp refused rule ``i`` for ``name``.  validate() refuses the plain
    conflicts; an EEXIST left is a partial overlap of comparisons that libseccomp
    cannot order (runc and crun stop there too)."""
    import errno as errnos

    if errno != errnos.EEXIST:
        return _field_error(f"syscalls[{i}]", name, f"cannot be added: {os.strerror(errno)}")
    earlier = ", ".join(f"syscalls[{j}]" for j, rule in rules
                        if j < i and name in _rule_names(rule))
    return _field_error(f"syscalls[{i}]", name,
                        f"cannot be added: its args overlap those of {earlier} with another "
                        "action, and libseccomp refuses that (EEXIST), as runc and crun do")


ARCH_LABELS = {"SCMP_ARCH_X86": "x86 (int 0x80)", "SCMP_ARCH_X32": "x32"}


def by_arch(profile: dict, capabilities: set[str], arch: str | None = None,
            kernel: tuple[int, int] | None = None) -> tuple[list[str], list[list[str]]]:
    """What each architecture of the filter does with each syscall a rule names.

    Returns the column titles and one row per syscall (name, then one cell per
    architecture): ``allow``, ``errno N``..., ``... if args`` for a rule that
    compares arguments, ``default`` where no rule applies, ``-`` where the
    architecture has no such call, for a multiplexer that is denied, why; and a
    last row for every other syscall.
    """
    plan = _Plan(profile, capabilities, arch or native_arch(), kernel or kernel_version())
    by_name: dict[str, list[str]] = {}
    for _, rule in plan.rules:
        text = _describe(rule["action"], rule.get("errnoRet"))
        if rule.get("args"):
            text += " if args"
        for name in _rule_names(rule):
            if text not in by_name.setdefault(name, []):
                by_name[name].append(text)
    names = sorted(set(by_name) | set(plan.denied_multiplexers))
    default = f"default ({_describe(profile['defaultAction'], profile.get('defaultErrnoRet'))})"
    rows = []
    for name in names:
        row = [name]
        for arch_name in plan.arches:
            nr = lib.mc_seccomp_syscall_number_arch(arch_name[10:].lower().encode(),
                                                    name.encode())
            multiplexed = -300 < nr <= -100
            if nr == -1 or nr <= -300 and name not in MULTIPLEXERS or (
                    name in MULTIPLEXERS and arch_name not in MULTIPLEXING_ARCHES):
                row.append("-")
            elif name in plan.denied_multiplexers:
                calls = ", ".join(sorted(set(plan.denied_multiplexers[name])))
                row.append(f"errno {ENOSYS}: the arguments of {calls} are out of reach")
            else:
                cell = "; ".join(by_name.get(name, [default]))
                via = next((m for m, calls in MULTIPLEXERS.items() if name in calls), None)
                if (multiplexed or nr >= 0) and via in plan.denied_multiplexers and \
                        arch_name in MULTIPLEXING_ARCHES:
                    cell += f"; through {via}: errno {ENOSYS}"
                row.append(cell)
        rows.append(row)
    rows.append(["(any other)", *(default for _ in plan.arches)])
    titles = ["syscall", *(ARCH_LABELS.get(a, a[10:].lower()) for a in plan.arches)]
    return titles, rows


def _describe(action: str, errno_ret: int | None) -> str:
    if action == "SCMP_ACT_ERRNO":
        return f"errno {EPERM if errno_ret is None else errno_ret}"
    return action[9:].lower().replace("_", " ")
