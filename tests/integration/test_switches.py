"""The layers that are switches for escape demos: root mode, fd hygiene, the new
session, mount propagation.

Each test pairs a switched-off run, in which the escape step reaches a nonce the
test planted on the host, with its twin: the same step with only that layer on
(the default), which does not reach it.  Nothing is left on the host: every
nonce file, directory and mount the test makes is removed in a ``finally``.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import termios

import pytest

from helpers import MC, mc

UNCONFINED = ["--security-opt", "seccomp=unconfined"]
NO_FD_HYGIENE = ["--security-opt", "fd-hygiene=false"]

# The classic breakout (a process that may chroot and is not chrooted into its
# cwd climbs out with ".."), written in C because busybox's chroot always
# enters the new root, which is what closes this door for a shell.
CHROOT_BREAKOUT = r"""
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char buf[256];
    mkdir("breakout.d", 0700);
    if (chroot("breakout.d") != 0) { perror("chroot breakout.d"); return 2; }
    for (int i = 0; i < 64; i++) chdir("..");  /* the cwd is outside the new root */
    if (chroot(".") != 0) { perror("chroot ."); return 2; }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { perror(argv[1]); return 1; }
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) write(1, buf, n);
    return 0;
}
"""


@pytest.fixture
def host_nonce():
    """A world-readable file in the host's /tmp holding a fresh nonce: (path, nonce)."""
    nonce = secrets.token_hex(16)
    fd, path = tempfile.mkstemp(prefix="mc-switch-nonce-", dir="/tmp")
    try:
        os.write(fd, nonce.encode())
        os.fchmod(fd, 0o644)
        os.close(fd)
        yield path, nonce
    finally:
        os.unlink(path)


@pytest.fixture
def host_dir_with_nonce():
    """A host directory under /tmp the container's root may enter, holding ``nonce``."""
    nonce = secrets.token_hex(16)
    path = tempfile.mkdtemp(prefix="mc-switch-dir-", dir="/tmp")
    try:
        os.chmod(path, 0o755)
        with open(os.path.join(path, "nonce"), "w") as f:
            f.write(nonce)
        os.chmod(os.path.join(path, "nonce"), 0o644)
        yield path, nonce
    finally:
        shutil.rmtree(path)


@pytest.fixture(scope="module")
def breakout_binary(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("this machine has no gcc to build the static chroot breakout")
    where = tmp_path_factory.mktemp("breakout")
    os.chmod(where, 0o755)
    source = where / "breakout.c"
    source.write_text(CHROOT_BREAKOUT)
    binary = where / "breakout"
    built = subprocess.run(["gcc", "-static", "-O2", "-o", str(binary), str(source)],
                           capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"this machine cannot link a static binary: {built.stderr.strip()}")
    return str(binary)


# ---- root mode: pivot_root or chroot


def _breakout(binary: str, nonce_path: str, *flags: str) -> subprocess.CompletedProcess:
    return mc("run", *flags, "-v", f"{binary}:/breakout:ro", "--", "/breakout", nonce_path)


def test_chroot_mode_lets_the_dotdot_breakout_reach_the_host(breakout_binary, host_nonce):
    path, nonce = host_nonce
    result = _breakout(breakout_binary, path, "--rootfs-mode", "chroot")
    assert result.returncode == 0, result.stderr
    assert result.stdout == nonce


def test_pivot_root_leaves_no_host_tree_to_climb_to(breakout_binary, host_nonce):
    path, nonce = host_nonce
    result = _breakout(breakout_binary, path)
    assert result.returncode == 1, result.stderr
    assert "No such file or directory" in result.stderr
    assert nonce not in result.stdout


# ---- fd hygiene (CVE-2024-21626)


def _run_with_fd(fd: int, *flags: str, command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([*MC, "run", *flags, "--", *command], pass_fds=[fd],
                          capture_output=True, text=True, timeout=60)


def test_without_fd_hygiene_an_inherited_fd_makes_the_cwd_a_host_directory(host_dir_with_nonce):
    path, nonce = host_dir_with_nonce
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        off = _run_with_fd(fd, *NO_FD_HYGIENE, "-w", f"/proc/self/fd/{fd}",
                           command=["cat", "nonce"])
        on = _run_with_fd(fd, "-w", f"/proc/self/fd/{fd}", command=["cat", "nonce"])
    finally:
        os.close(fd)
    assert off.returncode == 0, off.stderr
    assert off.stdout == nonce
    assert on.returncode == 125
    assert "outside the container root" in on.stderr
    assert nonce not in on.stdout


def test_without_fd_hygiene_an_inherited_fd_reaches_the_command(host_dir_with_nonce):
    path, nonce = host_dir_with_nonce
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        off = _run_with_fd(fd, *NO_FD_HYGIENE, command=["cat", f"/proc/self/fd/{fd}/nonce"])
        on = _run_with_fd(fd, command=["cat", f"/proc/self/fd/{fd}/nonce"])
    finally:
        os.close(fd)
    assert off.returncode == 0, off.stderr
    assert off.stdout == nonce
    assert on.returncode == 1
    assert "No such file or directory" in on.stderr


def test_no_runtime_fd_leads_out_even_without_fd_hygiene(host_nonce):
    # The CVE itself was runc's own fd (a cgroup directory) still open in the init
    # while it entered the cwd. Ours closes every fd of its own in the child right
    # after the clone, so even with the hygiene layer off no fd of the runtime is
    # there to climb out of; what can leak is what the caller passed in (above).
    path, nonce = host_nonce
    climb = f"for i in $(seq 32); do cd ..; done; cat .{path}"
    for fd in range(3, 16):
        off = mc("run", *NO_FD_HYGIENE, "-w", f"/proc/self/fd/{fd}", "--", "sh", "-c", climb)
        assert off.stdout != nonce, f"the runtime's fd {fd} led out of the container"


# ---- new session (CVE-2017-5226)


def _probe_with_caller_tty(*flags: str) -> tuple[str, str]:
    """The probe's TIOCSTI result, the runtime started with the test's own pty as its
    controlling terminal (seccomp off, so that only the session layer differs)."""
    master, slave = os.openpty()
    try:
        result = subprocess.run(
            [*MC, "run", *UNCONFINED, *flags, "--", "sh", "-c",
             "if (: </dev/tty) 2>/dev/null; then echo tty-open; else echo tty-none; fi; "
             "mc-probe --json"],
            stdin=slave, capture_output=True, text=True, timeout=60, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    finally:
        os.close(slave)
        os.close(master)
    assert result.returncode == 0, result.stderr
    first, _, probe = result.stdout.partition("\n")
    return first, json.loads(probe)["syscalls"]["ioctl(TIOCSTI)"]["result"]


def test_without_a_new_session_the_container_has_the_callers_terminal():
    assert _probe_with_caller_tty("--security-opt", "new-session=false") == ("tty-open", "ok")


def test_a_new_session_leaves_the_container_no_terminal_to_type_into():
    assert _probe_with_caller_tty() == ("tty-none", "ENXIO")


# ---- mount propagation


@pytest.fixture
def shared_host_dir():
    """A directory under /tmp made a shared mount of its own, and unmade afterwards."""
    path = tempfile.mkdtemp(prefix="mc-switch-shared-", dir="/tmp")
    try:
        os.chmod(path, 0o755)
        subprocess.run(["mount", "--bind", path, path], check=True)
        try:
            subprocess.run(["mount", "--make-shared", path], check=True)
            os.mkdir(os.path.join(path, "sub"))  # for a container root that is not host root
            yield path
        finally:
            sub = os.path.join(path, "sub")
            if os.path.ismount(sub):
                subprocess.run(["umount", sub], check=True)
            subprocess.run(["umount", path], check=True)
    finally:
        shutil.rmtree(path)


MOUNT_INSIDE = ["--cap-add", "SYS_ADMIN", *UNCONFINED, "--", "sh", "-c",
                "mkdir -p /vol/sub && mount -t tmpfs -o size=64k mc-switch-test /vol/sub "
                "&& grep -c mc-switch-test /proc/self/mounts"]


def _mount_inside(shared_dir: str, *flags: str) -> bool:
    """Mount a tmpfs below the volume inside; whether it appeared on the host."""
    result = mc("run", *flags, "-v", f"{shared_dir}:/vol", *MOUNT_INSIDE)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n"  # the mount is there inside, in every arm
    return os.path.ismount(os.path.join(shared_dir, "sub"))


def test_rshared_propagation_lets_a_container_mount_reach_the_host(shared_host_dir):
    assert _mount_inside(shared_host_dir, "--userns", "host", "--rootfs-propagation", "rshared")


def test_private_propagation_keeps_a_container_mount_inside(shared_host_dir):
    assert not _mount_inside(shared_host_dir, "--userns", "host")


def test_a_user_namespace_keeps_even_rshared_mounts_inside(shared_host_dir):
    # The kernel makes the host's shared mounts slaves in a mount namespace owned
    # by a less privileged user namespace: events reach it, none come back.
    assert not _mount_inside(shared_host_dir, "--rootfs-propagation", "rshared")


# A host whose / is shared (systemd's default), simulated in a mount namespace of the
# test's own: made private first, so nothing of it reaches the real host.
ON_A_SHARED_HOST = """
mount --make-rshared /
before=$(cut -d' ' -f5 /proc/self/mountinfo | sort)
"$@" || exit $?
after=$(cut -d' ' -f5 /proc/self/mountinfo | sort)
[ "$before" = "$after" ] && echo unchanged || echo "$after"
"""


@pytest.mark.parametrize("mode", ["rshared", "rslave", "rprivate"])
def test_on_a_shared_host_the_setup_mounts_nothing_there_and_unmounts_nothing(mode):
    # Without making the mount under the scratch directory private, the container's
    # /proc, /dev, ... would appear on the host and pivot_root would refuse; without
    # making the old root a slave, its detached unmount would unmount the host's mounts.
    if shutil.which("unshare") is None:
        pytest.skip("this machine has no unshare(1) to make a mount namespace for the test")
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", ON_A_SHARED_HOST, "sh",
         *MC, "run", "--userns", "host", "--rootfs-propagation", mode, "--", "true"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "unchanged\n"
