"""Helpers for the tests: run the real CLI, read the probe, list leftovers."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from minicontainer.escapes.base import WORKDIR_PREFIX

MC = [sys.executable, "-m", "minicontainer"]
CONTAINERS_DIR = "/var/lib/minicontainer/containers"


def mc(*args: str, check: bool = False, **kwargs) -> subprocess.CompletedProcess:
    """Run ``minicontainer ARGS`` and capture its output as text."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 60)
    result = subprocess.run([*MC, *args], **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"minicontainer {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout}{result.stderr}")
    return result


def run_in(*flags: str, command: list[str]) -> subprocess.CompletedProcess:
    return mc("run", *flags, "--", *command)


def sh(*flags: str, script: str) -> str:
    """stdout of ``sh -c SCRIPT`` in a container that must succeed."""
    result = mc("run", *flags, "--", "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout


def probe(*flags: str) -> dict:
    """What mc-probe sees inside a container started with ``flags``."""
    result = mc("run", *flags, "--", "mc-probe", "--json", check=True)
    return json.loads(result.stdout)


def read_until(fd: int, marker: bytes, timeout: float = 20) -> bytes:
    """Read a terminal's master side until ``marker`` shows (or ``timeout`` passes)."""
    import select
    import time

    out = b""
    deadline = time.monotonic() + timeout
    while marker not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                out += os.read(fd, 4096)
            except OSError:  # EIO: the other side closed
                break
    return out


def host_mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return sorted(" ".join(line.split()[3:5]) for line in f)


def container_processes() -> set[int]:
    """Host processes that belong to a container or to the runtime."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if status["State"].split()[0] in ("Z", "X"):
            continue  # dead, waiting for its new parent to reap it
        uid = int(status["Uid"].split()[0])
        if uid >= 1_000_000_000 or _is_runtime(cmdline.split(b"\0")):
            found.add(int(entry))
    return found


def _is_runtime(argv: list[bytes]) -> bool:
    """Whether a process is minicontainer's own (a CLI, a monitor, an exec helper): its
    program is the entry point, or Python running it (``-m minicontainer`` or the
    script); not a command that merely names it, such as a developer's
    ``timeout 600 flock LOCK minicontainer ...`` waiting its turn, or a VM's command line."""
    program = [a for a in argv[:3] if a]
    if not program:
        return False
    if program[0].endswith(b"/minicontainer") or program[0] == b"minicontainer":
        return True
    python = os.path.basename(program[0]).startswith(b"python")
    return python and (program[1:3] == [b"-m", b"minicontainer"]
                       or (len(program) > 1 and program[1].endswith(b"bin/minicontainer")))


def container_cgroups() -> list[str]:
    from minicontainer import cgroups

    hierarchy = cgroups.find_hierarchy()
    if hierarchy is None:
        return []
    base = os.path.join(hierarchy.mountpoint, cgroups.BASE)
    if not os.path.isdir(base):
        return []
    return sorted(e.name for e in os.scandir(base) if e.is_dir())


def state_dirs() -> list[str]:
    from minicontainer.state import StateStore

    return StateStore().ids()


def network_pieces() -> list[str]:
    """Our links, the NAT table and the leases: a bridge container leaves none behind."""
    import json
    import subprocess

    pieces = [name for name in os.listdir("/sys/class/net")
              if name == "mc0" or name.startswith("mcv")]
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    pieces += [line for line in tables.splitlines() if "minicontainer" in line]
    try:
        with open("/run/minicontainer-network/leases.json") as f:
            pieces += [f"lease {a}" for a in json.load(f)["leases"]]
    except FileNotFoundError:
        pass
    return pieces


def userns_blocks() -> list[str]:
    """The host id blocks of --userns-range auto containers, with their owners."""
    try:
        with open("/run/minicontainer-userns/ranges.json") as f:
            return [f"{first} {owner['id']}" for first, owner in json.load(f)["blocks"].items()]
    except FileNotFoundError:
        return []


def leftovers() -> dict[str, object]:
    return {
        "userns blocks": userns_blocks(),
        "network pieces": network_pieces(),
        "state dirs": state_dirs(),
        "mounts": host_mounts(),
        "cgroups": container_cgroups(),
        "scratch dirs": sorted(os.listdir(CONTAINERS_DIR)) if os.path.isdir(CONTAINERS_DIR) else [],
        "processes": container_processes(),
        "escape workdirs": sorted(n for n in os.listdir(tempfile.gettempdir())
                                  if n.startswith(WORKDIR_PREFIX)),
    }


def container_id(request, prefix: str) -> str:
    """An id for the container of the test asking (``request``), valid whatever the
    test's parameters hold, and distinct per test run."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:36]
    return f"{prefix}-{name}-{os.getpid()}"


def oci_state(cid: str) -> dict:
    """What `minicontainer state` prints, which must succeed."""
    return json.loads(mc("state", cid, check=True).stdout)


def wait_for_status(cid: str, wanted: str, timeout: float = 20) -> dict:
    """The state of ``cid`` once its status is ``wanted``; an AssertionError after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    current = None
    while time.monotonic() < deadline:
        current = oci_state(cid)
        if current["status"] == wanted:
            return current
        time.sleep(0.05)
    raise AssertionError(f"{cid} never became {wanted}: {current}")


def copy_rootfs(source: str) -> str:
    """A private copy of the rootfs ``source``, every file owned as in the original,
    in a new directory under /var/tmp (reachable by the container's unprivileged root);
    the copy's path, ``rootfs`` in that directory."""
    import shutil

    parent = tempfile.mkdtemp(prefix="mc-test-", dir="/var/tmp")
    os.chmod(parent, 0o755)
    target = os.path.join(parent, "rootfs")
    shutil.copytree(source, target, symlinks=True)
    for dirpath, dirnames, filenames in os.walk(target):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            st = os.lstat(os.path.join(source, os.path.relpath(name, target)))
            os.lchown(name, st.st_uid, st.st_gid)
    return target


@contextlib.contextmanager
def console_socket(path: str):
    """A unix socket listening at ``path``, as conmon's for ``--console-socket``; yields
    a function that takes the one connection and returns the fds it carried
    (SCM_RIGHTS), each of which the caller closes."""
    import socket

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def receive() -> list[int]:
        connection, _ = listener.accept()
        with connection:
            _, fds, _, _ = socket.recv_fds(connection, 64, 1)
        return fds

    try:
        yield receive
    finally:
        listener.close()
