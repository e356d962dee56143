"""Seccomp on the 32-bit entry points of an x86_64 kernel, chroot, and bad profiles.

An x86_64 process can also make system calls through ``int 0x80`` (the i386
table, with its socketcall and ipc multiplexers) and, on a kernel with
CONFIG_X86_X32_ABI, with bit 30 set in the number (the x32 table).  Every rule of
the default profile that looks at an argument must hold on each of them.  Each
attempt is made by mc-probe inside the container; its twin runs with only the
seccomp layer off (``seccomp=unconfined``) and gets past the filter.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import mc, probe, sh

UNCONFINED = ["--security-opt", "seccomp=unconfined"]
pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64",
                                reason="the 32-bit entry points are those of an x86_64 kernel")


@pytest.fixture(scope="module")
def confined() -> dict:
    return probe()["syscalls"]


@pytest.fixture(scope="module")
def unconfined() -> dict:
    return probe(*UNCONFINED)["syscalls"]


def result(seen: dict, name: str) -> str:
    return seen[name]["result"]


def test_vsock_through_socketcall_is_refused(confined, unconfined):
    # Before the fix libseccomp had compiled the AF_VSOCK rule into "socketcall
    # allowed if call == SYS_SOCKET": this made a vsock socket.
    assert result(confined, "socketcall(SYS_SOCKET,AF_VSOCK)(int 0x80)") == "ENOSYS"
    # socketcall as a whole answers ENOSYS: its arguments are out of the filter's reach.
    assert result(confined, "socketcall(SYS_SOCKET,AF_UNIX)(int 0x80)") == "ENOSYS"
    # Twin: without the filter socketcall works (shown with AF_UNIX, which every kernel
    # has), and so does AF_VSOCK where the kernel has vsock.
    assert result(unconfined, "socketcall(SYS_SOCKET,AF_UNIX)(int 0x80)") == "ok"
    assert result(unconfined, "socketcall(SYS_SOCKET,AF_VSOCK)(int 0x80)") in ("ok",
                                                                            "EAFNOSUPPORT")


@pytest.mark.parametrize("name", ["socket(AF_VSOCK)", "socket(AF_VSOCK)(int 0x80)"])
def test_vsock_through_the_direct_socket_calls_is_refused(confined, unconfined, name):
    assert result(confined, name) == "EPERM"
    assert result(unconfined, name) in ("ok", "EAFNOSUPPORT")


def test_vsock_twin_shows_the_kernel_has_vsock(unconfined):
    if result(unconfined, "socket(AF_VSOCK)") == "EAFNOSUPPORT":
        pytest.skip("this kernel has no vsock transport (EAFNOSUPPORT without the filter), "
                    "so the AF_VSOCK twins above show only that the errno is not the filter's")
    assert result(unconfined, "socket(AF_VSOCK)(int 0x80)") == "ok"
    assert result(unconfined, "socketcall(SYS_SOCKET,AF_VSOCK)(int 0x80)") == "ok"


def test_other_families_still_work_through_the_direct_32_bit_socket_call(confined):
    assert result(confined, "socket(AF_UNIX)(int 0x80)") == "ok"


@pytest.mark.parametrize("name", ["ioctl(TIOCSTI)(int 0x80)", "ioctl(TIOCLINUX)(int 0x80)"])
def test_terminal_ioctls_through_int_0x80_are_refused(confined, unconfined, name):
    # On /dev/null: past the filter the tty layer answers ENOTTY.
    assert result(confined, name) == "EPERM"
    assert result(unconfined, name) == "ENOTTY"


@pytest.mark.parametrize("name", ["personality(READ_IMPLIES_EXEC)",
                                  "personality(READ_IMPLIES_EXEC)(int 0x80)"])
def test_read_implies_exec_personality_is_refused(confined, unconfined, name):
    assert result(confined, name) == "EPERM"
    assert result(unconfined, name) == "ok"


def test_clone_into_a_namespace_through_int_0x80_needs_seccomp_off_and_sys_admin(confined):
    name = "clone(CLONE_NEWNS)(int 0x80)"
    assert result(confined, name) == "EPERM"
    seen = probe("--cap-add", "SYS_ADMIN", *UNCONFINED)["syscalls"]
    assert result(seen, name) == "ok"


X32 = ["socket(AF_VSOCK)(x32)", "ioctl(TIOCSTI)(x32)", "clone(CLONE_NEWNS)(x32)",
       "personality(READ_IMPLIES_EXEC)(x32)"]


@pytest.mark.parametrize("name", X32)
def test_x32_numbers_meet_the_same_rules(confined, name):
    # The filter runs before the kernel looks the number up, so this holds with or
    # without x32 support in the kernel.
    assert result(confined, name) == "EPERM"


@pytest.mark.parametrize("name", [n for n in X32 if not n.startswith("clone")])
def test_x32_twin(unconfined, name):
    if result(unconfined, "getpid(x32)") == "ENOSYS":
        pytest.skip("this kernel has no x32 ABI (CONFIG_X86_X32_ABI): x32 numbers get ENOSYS")
    assert result(unconfined, name) in ("ok", "ENOTTY", "EAFNOSUPPORT")


def test_chroot_works_with_the_default_capabilities():
    # Docker allows chroot to a container that holds CAP_SYS_CHROOT, which is in the
    # default set; the profile refused it before.
    assert sh(script="chroot / true && echo chrooted") == "chrooted\n"


def test_chroot_without_cap_sys_chroot_is_refused():
    result_ = mc("run", "--cap-drop", "SYS_CHROOT", "--", "chroot", "/", "true")
    assert result_.returncode != 0 and "Operation not permitted" in result_.stderr
    # The capability is what decides: with the filter off the kernel still refuses.
    off = mc("run", "--cap-drop", "SYS_CHROOT", *UNCONFINED, "--", "chroot", "/", "true")
    assert off.returncode != 0 and "Operation not permitted" in off.stderr


@pytest.mark.parametrize(("content", "message"), [
    ('{"defaultAction": "SCMP_ACT_TRACE"}', "defaultAction: 'SCMP_ACT_TRACE' needs a tracer"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "keyctl", '
     '"action": "SCMP_ACT_ERRNO"}]}', "syscalls[0].names: 'keyctl' must be a list"),
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["keyctl"], '
     '"action": "SCMP_ACT_ERRNO", "includes": {"caps": "CAP_SYS_ADMIN"}}]}',
     "syscalls[0].includes.caps: 'CAP_SYS_ADMIN' is not a list"),
])
def test_run_with_a_bad_profile_is_one_line_and_exit_125(tmp_path, content, message):
    path = tmp_path / "profile.json"
    path.write_text(content)
    result_ = mc("run", "--security-opt", f"seccomp={path}", "--", "true")
    assert result_.returncode == 125
    assert result_.stderr.count("\n") == 1 and message in result_.stderr


def _imports(*flags: str) -> str:
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "minicontainer", "run",
                           *flags, "--", "true"], capture_output=True, text=True,
                          timeout=60, check=True).stderr


def test_jsonschema_is_loaded_only_for_a_profile_file(tmp_path):
    assert "jsonschema" not in _imports()
    path = tmp_path / "profile.json"
    path.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    assert "jsonschema" in _imports("--security-opt", f"seccomp={path}")
