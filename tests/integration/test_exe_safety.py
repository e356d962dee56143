"""No host binary is ever the program of a container process (CVE-2019-5736), and
the inheritable capability set gives a user nothing (CVE-2022-24769).

The first has no switch to turn off (there is no runtime option to exec the
command from host Python again), so its twin shows the trick itself working:
the same /proc/self/exe link exec'd by a container's own process reruns that
process's program.  The runtime's last execve is made by the sealed stub, so
there the trick finds only the stub.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from helpers import MC, mc
from minicontainer import execstub

BASE = "/var/lib/minicontainer/rootfs/busybox"
USERNS = [pytest.param([], id="userns-private"),
          pytest.param(["--userns", "host"], id="userns-host")]
PLANT = ("ln -s /proc/self/exe /usr/bin/planted"
         " && printf '#!/proc/self/exe\\n' > /usr/bin/planted-script"
         " && chmod 755 /usr/bin/planted-script")
STUB_SAYS = "minicontainer-execstub: this is minicontainer's exec stub (/proc/self/exe is /memfd:"


def _shared_libraries(program: str) -> list[str]:
    """The dynamic loader and libraries ``program`` needs (from ldd)."""
    out = subprocess.run(["ldd", program], capture_output=True, text=True, check=True).stdout
    return [word for line in out.splitlines() for word in line.split() if word.startswith("/")]


@pytest.fixture(scope="module")
def trap_rootfs():
    """A copy of the busybox rootfs with the CVE-2019-5736 traps in /usr/bin, and a
    probe carrying only inheritable (and effective) file capabilities.

    It also holds the host Python's loader and libraries, as a glibc rootfs would:
    without them the host's Python could not start in the container even if the
    trap reached it, and the test could not tell.  Under /var/tmp, because the
    container's root must be able to reach it.
    """
    parent = tempfile.mkdtemp(prefix="mc-test-", dir="/var/tmp")
    os.chmod(parent, 0o755)
    target = os.path.join(parent, "rootfs")
    shutil.copytree(BASE, target, symlinks=True)
    owner = os.lstat(BASE)
    for dirpath, dirnames, filenames in os.walk(target):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            st = os.lstat(os.path.join(BASE, os.path.relpath(name, target)))
            os.lchown(name, st.st_uid, st.st_gid)
    for library in _shared_libraries(os.path.realpath(sys.executable)):
        copy = os.path.join(target, library.lstrip("/"))
        os.makedirs(os.path.dirname(copy), exist_ok=True)
        shutil.copy(library, copy)
    bin_dir = os.path.join(target, "usr", "bin")
    os.symlink("/proc/self/exe", os.path.join(bin_dir, "evil"))
    script = os.path.join(bin_dir, "evil-script")
    with open(script, "w") as f:
        f.write("#!/proc/self/exe\n")
    os.chmod(script, 0o755)
    inheritable_probe = os.path.join(bin_dir, "mc-probe-inh")
    shutil.copy(os.path.join(bin_dir, "mc-probe"), inheritable_probe)
    for path in (os.path.join(bin_dir, "evil"), script, inheritable_probe):
        os.lchown(path, owner.st_uid, owner.st_gid)
    if shutil.which("setcap") is None:
        pytest.skip("setcap is missing (Debian's libcap2-bin)")
    subprocess.run(["setcap", "cap_net_raw+ei", inheritable_probe], check=True)
    yield target
    shutil.rmtree(parent)


def assert_ran_the_stub(result: subprocess.CompletedProcess) -> None:
    """The link to /proc/self/exe started the sealed stub, not the host's Python."""
    assert "Python" not in result.stdout + result.stderr
    assert STUB_SAYS in result.stderr
    assert result.returncode == 126


# ---- CVE-2019-5736: /proc/self/exe at the runtime's last execve


@pytest.mark.parametrize("flags", USERNS)
@pytest.mark.parametrize("command", ["evil", "/usr/bin/evil", "evil-script"])
def test_run_of_a_link_to_proc_self_exe_starts_the_stub_not_host_python(trap_rootfs, flags,
                                                                         command):
    # `python -V` needs no standard library: were it the host's Python, it would answer.
    assert_ran_the_stub(mc("run", "--rootfs", trap_rootfs, *flags, "--", command, "-V"))


@pytest.fixture
def name(request):
    """A container name for this test, removed (forcibly) afterwards."""
    value = f"t-exe-{request.node.name[:40].replace('[', '-').replace(']', '')}-{os.getpid()}"
    yield value
    mc("rm", "-f", value)


@pytest.mark.parametrize("flags", USERNS)
def test_exec_of_a_trap_the_container_planted_starts_the_stub(trap_rootfs, name, flags):
    # The attack of CVE-2019-5736: the container plants the link and waits for an exec.
    mc("run", "-d", "--name", name, "--rootfs", trap_rootfs, *flags, "--", "sleep", "60",
       check=True)
    mc("exec", name, "sh", "-c", PLANT, check=True)
    for command in ("planted", "planted-script"):
        assert_ran_the_stub(mc("exec", name, command, "-V"))


def test_twin_a_containers_own_process_reruns_its_own_program_through_the_link():
    # The trick works: exec'd by busybox sh, /proc/self/exe is busybox again.  At the
    # runtime's last execve the caller is the stub, so that is all the trick can reach.
    out = mc("run", "--", "sh", "-c", "ln -s /proc/self/exe /tmp/echo; /tmp/echo reached",
             check=True).stdout
    assert out == "reached\n"


def test_the_stub_is_a_sealed_copy_that_refuses_writes_even_from_host_root():
    # What the container could reach through /proc/PID/exe of the stub: a reopen
    # (as /proc/PID/exe would be) of a memfd no one can write, resize or unseal.
    import fcntl

    fd = execstub.sealed_copy()
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        assert seals & fcntl.F_SEAL_WRITE and seals & fcntl.F_SEAL_SEAL
        assert os.fstat(fd).st_ino != os.stat(os.path.realpath(sys.executable)).st_ino
        with open(f"/proc/self/fd/{fd}", "r+b", buffering=0) as reopened:
            with pytest.raises(PermissionError):
                reopened.write(b"\x7fELF")
            with pytest.raises(PermissionError):
                os.ftruncate(reopened.fileno(), 0)
        with pytest.raises(PermissionError):
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, 0)  # F_SEAL_SEAL: no seal can change
    finally:
        os.close(fd)


def test_a_profile_without_execveat_cannot_start_the_stub_and_says_so(tmp_path):
    # The stub is exec'd from its memfd with execveat: a profile must allow it.
    profile = tmp_path / "p.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["execveat"], '
                       '"action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}')
    result = mc("run", "--security-opt", f"seccomp={profile}", "--", "true")
    assert result.returncode == 125
    assert result.stderr == ("minicontainer: error: container init: execveat of the exec stub "
                             "(Operation not permitted)\n")


def test_exec_helper_is_not_in_the_containers_pid_namespace(name):
    mc("run", "-d", "--name", name, "--", "sleep", "60", check=True)
    assert mc("exec", name, "sh", "-c", "echo $PPID", check=True).stdout == "0\n"


def test_exec_helper_is_out_of_reach_of_a_container_sharing_the_hosts_pids(name):
    # The helper is host Python: with the host's pids and no user namespace the
    # command can see it as its parent, but a non-dumpable process's /proc/PID/exe
    # needs CAP_SYS_PTRACE.  The twin adds that capability.
    script = "head -c 0 /proc/$PPID/exe && readlink /proc/$PPID/exe"
    mc("run", "-d", "--name", name, "--share", "pid", "--userns", "host", "--", "sleep", "60",
       check=True)
    denied = mc("exec", name, "sh", "-c", script)
    assert "Permission denied" in denied.stderr and denied.stdout == ""
    mc("rm", "-f", name, check=True)
    mc("run", "-d", "--name", name, "--share", "pid", "--userns", "host",
       "--cap-add", "SYS_PTRACE", "--", "sleep", "60", check=True)
    allowed = mc("exec", name, "sh", "-c", script, check=True)
    assert os.path.realpath(sys.executable) in allowed.stdout


# ---- CVE-2022-24769: the inheritable set


def _capabilities(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["capabilities"]


def test_roots_inheritable_set_is_empty():
    caps = _capabilities(mc("run", "--", "mc-probe", "--json"))
    assert caps["inheritable"] == []
    assert len(caps["permitted"]) == 14


def test_a_users_ambient_capabilities_are_its_only_inheritable_ones():
    caps = _capabilities(mc("run", "-u", "1000", "--cap-add", "net_admin", "--",
                            "mc-probe", "--json"))
    assert caps["inheritable"] == caps["ambient"] == caps["permitted"] == ["net_admin"]


SU_TO_USER = ["su", "-s", "/bin/sh", "user", "-c", "mc-probe-inh --json"]


def test_inheritable_file_capabilities_give_a_user_nothing(trap_rootfs):
    # root becomes `user` with su (setuid keeps the inheritable set) and runs a file
    # with inheritable file caps; no_new_privs is off so that only this layer decides.
    caps = _capabilities(mc("run", "--rootfs", trap_rootfs, "--security-opt",
                            "no-new-privileges=false", "--", *SU_TO_USER))
    assert caps["permitted"] == caps["effective"] == []


def test_twin_inheritable_asked_for_in_the_config_is_gained_through_the_file(trap_rootfs):
    # process.capabilities.inheritable of an OCI config: the one way to ask for it.
    program = (
        "import sys\n"
        "from minicontainer import Config, Container\n"
        f"cfg = Config({SU_TO_USER!r}, rootfs={trap_rootfs!r}, no_new_privileges=False,\n"
        "             inheritable_capabilities={'CAP_NET_RAW'})\n"
        "sys.exit(Container(cfg).run())\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            timeout=60)
    caps = _capabilities(result)
    assert caps["permitted"] == caps["effective"] == ["net_raw"]


def _in_pid_namespace_with_memfd_noexec(value: int, *args: str) -> subprocess.CompletedProcess:
    """``minicontainer ARGS`` in a new pid namespace whose vm.memfd_noexec is ``value``
    (the sysctl belongs to the pid namespace, so the host's stays as it is)."""
    script = f'echo {value} > {execstub.MEMFD_NOEXEC} && exec "$@"'
    return subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script,
                           "sh", *MC, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not os.path.exists(execstub.MEMFD_NOEXEC),
                    reason="this kernel (before 6.3) has no vm.memfd_noexec")
def test_memfds_that_may_not_run_are_named_as_the_reason():
    with open(execstub.MEMFD_NOEXEC) as f:
        host_value = f.read()
    refused = _in_pid_namespace_with_memfd_noexec(2, "run", "--", "true")
    assert refused.returncode == 125
    assert refused.stderr.splitlines() == [f"minicontainer: error: {execstub.NOEXEC_MEMFDS}"]
    doctor = _in_pid_namespace_with_memfd_noexec(2, "doctor")
    assert f"fail  {execstub.NOEXEC_MEMFDS}" in doctor.stdout and doctor.returncode == 1
    with open(execstub.MEMFD_NOEXEC) as f:
        assert f.read() == host_value


@pytest.mark.skipif(not os.path.exists(execstub.MEMFD_NOEXEC),
                    reason="this kernel (before 6.3) has no vm.memfd_noexec")
def test_memfds_sealed_by_default_still_run_the_stub_asked_for_as_executable():
    ran = _in_pid_namespace_with_memfd_noexec(1, "run", "--", "echo", "ran")
    assert (ran.returncode, ran.stdout) == (0, "ran\n"), ran.stderr
