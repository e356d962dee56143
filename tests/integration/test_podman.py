"""podman as a real client of the OCI runtime interface: conmon calls ``RUNTIME create``,
podman ``start``, ``state``, ``exec --process``, ``pause``/``resume``, ``kill``, ``delete``."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import time

import pytest

from helpers import read_until
from minicontainer import cgroups
from minicontainer.rootfs import default_rootfs
from podman import IMAGE, Podman

pytestmark = pytest.mark.podman

RUNTIME = "/usr/local/bin/minicontainer"


@pytest.fixture(scope="session")
def runtime() -> str:
    """The OCI runtime podman drives; MC_PODMAN_RUNTIME=/usr/sbin/runc checks the harness
    itself against the reference runtime."""
    return os.environ.get("MC_PODMAN_RUNTIME", RUNTIME)


@pytest.fixture(scope="session")
def podman(runtime):
    lacking = [tool for tool in ("podman", "conmon", "nsenter", "unshare")
               if shutil.which(tool) is None]
    if lacking:
        pytest.skip(f"this machine has no {', '.join(lacking)}")
    hierarchy = cgroups.find_hierarchy()
    if hierarchy is None:
        pytest.skip("this machine has no cgroup v2 hierarchy")
    client = Podman(runtime, default_rootfs(), hierarchy.mountpoint)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def settled(podman):
    """Each test ends only when podman's asynchronous cleanup has."""
    yield
    podman.settle()


@pytest.fixture
def container(podman):
    """Start a detached ``sleep 1000``; removed however the test ends."""
    started = []

    def start(*command: str, flags: tuple[str, ...] = ()) -> str:
        started.append(podman.detached(*flags, IMAGE, *(command or ("sleep", "1000"))))
        return started[-1]

    yield start
    for cid in started:
        podman(["rm", "--force", "--time", "0", cid])


def test_exit_code_and_stdout(podman):
    result = podman.run(IMAGE, "sh", "-c", "echo out-marker; echo err-marker >&2; exit 3")
    assert result.returncode == 3, result.stderr
    assert result.stdout == "out-marker\n"
    assert "err-marker" in result.stderr


def test_stdin(podman):
    result = podman.run("-i", IMAGE, "cat", input="piped data\n")
    assert (result.returncode, result.stdout) == (0, "piped data\n"), result.stderr


def test_without_i_stdin_is_not_the_callers(podman):
    result = podman.run(IMAGE, "cat", input="piped data\n")
    assert (result.returncode, result.stdout) == (0, ""), result.stderr


def _run_on_terminal(podman, *args: str) -> tuple[int, bytes]:
    main, terminal = pty.openpty()
    try:
        process = subprocess.Popen(podman.argv(["run", "--rm", "--network", "none",
                                                "--pids-limit", "0",
                                                "--ulimit", "nofile=1024:1024",
                                                "--ulimit", "nproc=1024:1024", *args]),
                                   env=podman.env, stdin=terminal, stdout=terminal,
                                   stderr=terminal, start_new_session=True)
        os.close(terminal)
        terminal = -1
        output = read_until(main, b"done-marker", timeout=60)
        return process.wait(timeout=60), output
    finally:
        if terminal != -1:
            os.close(terminal)
        os.close(main)


def test_t_gives_the_container_a_terminal(podman):
    returncode, output = _run_on_terminal(
        podman, "-t", IMAGE, "sh", "-c", "test -t 0 && test -t 1 && echo tty-yes; echo done-marker")
    assert returncode == 0, output
    assert b"tty-yes" in output


def test_without_t_no_terminal(podman):
    returncode, output = _run_on_terminal(
        podman, IMAGE, "sh", "-c", "test -t 0 || test -t 1 || echo tty-no; echo done-marker")
    assert returncode == 0, output
    assert b"tty-no" in output


def test_env(podman):
    result = podman.run("-e", "MC_MARKER=env-value", IMAGE, "sh", "-c", 'echo "$MC_MARKER"')
    assert result.stdout == "env-value\n", result.stderr


def test_workdir(podman):
    result = podman.run("-w", "/etc", IMAGE, "pwd")
    assert result.stdout == "/etc\n", result.stderr


def test_user(podman):
    result = podman.run("-u", "1000:1000", IMAGE, "sh", "-c", "id -u; id -g")
    assert result.stdout == "1000\n1000\n", result.stderr
    result = podman.run(IMAGE, "id", "-u")
    assert result.stdout == "0\n", result.stderr


def test_hostname(podman):
    result = podman.run("--hostname", "mc-podman-host", IMAGE, "hostname")
    assert result.stdout == "mc-podman-host\n", result.stderr


def test_network_none_leaves_only_loopback(podman):
    result = podman.run(IMAGE, "cat", "/proc/net/dev")
    assert result.returncode == 0, result.stderr
    interfaces = [line.split(":")[0].strip() for line in result.stdout.splitlines()[2:]]
    assert interfaces == ["lo"]


def test_read_only(podman):
    write = "touch /mc-marker && echo root-written; touch /tmp/mc-marker && echo tmp-written"
    result = podman.run("--read-only", IMAGE, "sh", "-c", write)
    assert result.stdout == "tmp-written\n", result.stderr
    assert "Read-only file system" in result.stderr
    result = podman.run(IMAGE, "sh", "-c", write)
    assert result.stdout == "root-written\ntmp-written\n", result.stderr


def test_volume(podman, tmp_path):
    result = podman.run("-v", f"{tmp_path}:/data", IMAGE, "sh", "-c",
                        "echo from-inside > /data/marker")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "marker").read_text() == "from-inside\n"


def test_detached_then_exec(podman, container):
    cid = container()
    assert podman.status(cid) == "running"
    result = podman(["exec", cid, "sh", "-c", "echo exec-marker; cat /proc/1/cmdline"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == "exec-marker\nsleep\x001000\x00"
    assert podman(["exec", cid, "sh", "-c", "exit 7"]).returncode == 7


def test_exec_with_env_workdir_and_user(podman, container):
    cid = container()
    result = podman(["exec", "-e", "MC_MARKER=exec-env", "-w", "/etc", "-u", "1000:1000", cid,
                     "sh", "-c", 'echo "$MC_MARKER $(pwd) $(id -u)"'])
    assert result.stdout == "exec-env /etc 1000\n", result.stderr


def test_logs(podman, container):
    cid = container("sh", "-c", "echo logged-line; echo logged-err >&2")
    assert podman(["wait", cid]).stdout.strip() == "0"
    result = podman(["logs", cid], check=True)
    assert "logged-line" in result.stdout
    assert "logged-err" in result.stderr


def test_stop_kills_after_the_timeout(podman, container):
    cid = container()
    started = time.monotonic()
    result = podman(["stop", "-t", "2", cid])
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    # busybox sleep as pid 1 has no SIGTERM handler, so the kernel ignores SIGTERM:
    # only the SIGKILL after the 2 s timeout ends it.
    assert 2 <= elapsed < 30
    assert podman.status(cid) == "exited"
    assert podman(["inspect", "-f", "{{.State.ExitCode}}", cid]).stdout.strip() == "137"


def test_rm(podman, container):
    stopped = container("true")
    podman(["wait", stopped], check=True)
    running = container()
    podman(["rm", stopped], check=True)
    assert podman(["rm", running]).returncode != 0  # running: needs --force
    podman(["rm", "--force", "--time", "0", running], check=True)
    listed = podman(["ps", "--all", "--no-trunc", "--format", "{{.ID}}"], check=True).stdout
    assert stopped not in listed and running not in listed
    assert podman(["inspect", stopped]).returncode != 0


def test_pause_unpause(podman, container, tmp_path):
    tick = tmp_path / "tick"
    cid = container("sh", "-c", "while :; do date +%s%N > /data/tick; usleep 50000; done",
                    flags=("-v", f"{tmp_path}:/data"))
    if not os.path.isfile(os.path.join(podman.cgroup, "cgroup.freeze")):
        pytest.skip(f"this kernel's cgroup v2 has no cgroup.freeze ({podman.cgroup})")
    podman(["pause", cid], check=True)
    assert podman.status(cid) == "paused"
    frozen = tick.read_text()
    time.sleep(0.5)
    assert tick.read_text() == frozen
    podman(["unpause", cid], check=True)
    assert podman.status(cid) == "running"
    time.sleep(0.5)
    assert tick.read_text() != frozen
