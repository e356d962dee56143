"""config.json's hooks, driven as an engine drives them: the six phases in order with
the state on their stdin, where each runs, their exact argv and environment, timeouts,
and which failures stop the container and which only warn."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from helpers import MC, container_id, copy_rootfs, mc, oci_state, wait_for_status
from minicontainer import rootfs
from minicontainer.state import StateStore

BASE_ROOTFS = rootfs.stored(rootfs.DEFAULT_NAME)
PHASES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
          "poststop")
# Records one line per run: the phase, its mount and uts namespaces, the state on stdin.
RECORDER = """#!/bin/sh
state=$(cat)
printf '%s\\t%s\\t%s\\t%s\\n' "$1" "$(readlink /proc/self/ns/mnt)" \\
    "$(readlink /proc/self/ns/uts)" "$state" >> "$2"
"""
HOOK_ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]


@pytest.fixture
def cid(request):
    """A container id for this test, deleted (forcibly) afterwards."""
    value = container_id(request, "hk")
    yield value
    mc("delete", "--force", value)


@pytest.fixture
def workdir():
    """Under /var/tmp, the rootfs copy (its owners kept), the host's hook script and the
    log directory the container gets bound at /log."""
    target = copy_rootfs(BASE_ROOTFS)
    parent = os.path.dirname(target)
    for script in (os.path.join(parent, "record.sh"), os.path.join(target, "record.sh")):
        with open(script, "w") as f:
            f.write(RECORDER)
        os.chmod(script, 0o755)
    os.mkdir(os.path.join(parent, "log"))
    yield parent
    shutil.rmtree(parent)


class Bundle:
    """A `spec` bundle on a private rootfs copy, without a user namespace (the hooks in the
    container then write where the test reads), with /log bound from the host."""

    def __init__(self, path: str, work: str) -> None:
        self.path, self.work = path, work
        self.log = os.path.join(work, "log", "hooks")
        with open(os.path.join(path, "config.json")) as f:
            self.doc = json.load(f)
        linux = self.doc["linux"]
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "user"]
        del linux["uidMappings"], linux["gidMappings"]
        self.doc["root"]["path"] = os.path.join(work, "rootfs")
        self.doc["mounts"].append({"destination": "/log", "type": "bind",
                                   "source": os.path.join(work, "log"),
                                   "options": ["rbind", "rw"]})
        self.doc["hooks"] = {}

    def record_every_phase(self) -> Bundle:
        """A recording hook in each of the six phases."""
        for phase in PHASES:
            self.add_hook(phase, self.recorder(phase))
        return self

    def recorder(self, phase: str) -> dict:
        if phase == "startContainer":  # a file of the container, after pivot_root
            return {"path": "/record.sh", "args": ["record.sh", phase, "/log/hooks"],
                    "env": HOOK_ENV}
        return {"path": os.path.join(self.work, "record.sh"),
                "args": ["record.sh", phase, self.log], "env": HOOK_ENV}

    def add_hook(self, phase: str, hook: dict) -> Bundle:
        self.doc["hooks"].setdefault(phase, []).append(hook)
        return self

    def command(self, args: list[str]) -> Bundle:
        self.doc["process"]["args"] = args
        return self

    def write(self) -> str:
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.doc, f)
        return self.path

    def records(self) -> list[dict]:
        """What the recording hooks wrote, in order."""
        if not os.path.exists(self.log):
            return []
        found = []
        with open(self.log) as f:
            for line in f:
                phase, mnt, uts, state = line.rstrip("\n").split("\t")
                found.append({"phase": phase, "mnt": mnt, "uts": uts,
                              "state": json.loads(state)})
        return found


@pytest.fixture
def bundle(tmp_path, workdir):
    mc("spec", "--bundle", str(tmp_path), "--rootfs", BASE_ROOTFS, check=True)
    return Bundle(str(tmp_path), workdir)


def create(bundle: Bundle, cid: str) -> subprocess.CompletedProcess:
    """`create`; its stderr from a file (the container keeps it: a pipe would stay open)."""
    with tempfile.TemporaryFile() as errors:
        result = subprocess.run([*MC, "create", "--bundle", bundle.write(), cid],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=errors, timeout=60)
        errors.seek(0)
        result.stderr = errors.read().decode()
    return result






def ours(kind: str) -> str:
    return os.readlink(f"/proc/self/ns/{kind}")


def assert_left_nothing(cid: str) -> None:
    assert mc("state", cid).returncode == 125
    assert not os.path.exists(StateStore().dir(cid))


def test_the_six_phases_run_in_order_with_their_state_and_namespaces(cid, bundle):
    bundle.record_every_phase().command(["sh", "-c", "exit 0"])
    created = create(bundle, cid)
    assert (created.returncode, created.stderr) == (0, "")
    pid = oci_state(cid)["pid"]
    container_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    container_uts = os.readlink(f"/proc/{pid}/ns/uts")
    assert [r["phase"] for r in bundle.records()] == list(PHASES[:3])
    started = mc("start", cid)
    assert (started.returncode, started.stderr) == (0, "")
    assert [r["phase"] for r in bundle.records()] == list(PHASES[:5])
    wait_for_status(cid, "stopped")
    deleted = mc("delete", cid)
    assert (deleted.returncode, deleted.stderr) == (0, "")
    records = bundle.records()
    assert [r["phase"] for r in records] == list(PHASES)

    expected = {"prestart": ("creating", pid), "createRuntime": ("creating", pid),
                "createContainer": ("creating", 1), "startContainer": ("created", 1),
                "poststart": ("running", pid), "poststop": ("stopped", 0)}
    for record in records:
        seen = record["state"]
        assert (seen["status"], seen["pid"]) == expected[record["phase"]], record
        assert seen["id"] == cid and seen["bundle"] == bundle.path
        assert seen["ociVersion"] == bundle.doc["ociVersion"]
        in_container = record["phase"] in ("createContainer", "startContainer")
        assert (record["mnt"], record["uts"]) == (
            (container_mnt, container_uts) if in_container else (ours("mnt"), ours("uts"))
        ), record
    assert container_mnt != ours("mnt") and container_uts != ours("uts")


def test_run_bundle_in_the_foreground_runs_the_six_in_order(cid, bundle):
    bundle.record_every_phase().command(["sh", "-c", "echo the-command"])
    result = mc("run", "--bundle", bundle.write(), cid, stdin=subprocess.DEVNULL)
    assert (result.returncode, result.stdout, result.stderr) == (0, "the-command\n", "")
    records = bundle.records()
    assert [r["phase"] for r in records] == list(PHASES)
    assert [r["state"]["status"] for r in records] == [
        "creating", "creating", "creating", "created", "running", "stopped"]
    assert records[-1]["state"]["pid"] == 0
    assert_left_nothing(cid)


def test_a_hook_gets_exactly_its_args_and_env(cid, bundle, workdir):
    out = os.path.join(workdir, "log")
    script = f"/bin/cat /proc/$$/cmdline > {out}/argv; /bin/cat /proc/$$/environ > {out}/env"
    bundle.add_hook("createRuntime", {"path": "/bin/sh",
                                      "args": ["named-hook", "-c", script, "x y", ""],
                                      "env": ["A=1", "B=two words", "EMPTY="]})
    bundle.add_hook("poststart", {"path": "/bin/sh",
                                  "args": ["sh", "-c", f": > {out}/no-env; /bin/cat "
                                                       f"/proc/$$/environ >> {out}/no-env"]})
    bundle.command(["sleep", "30"])
    assert create(bundle, cid).returncode == 0
    with open(os.path.join(out, "argv"), "rb") as f:
        assert f.read().split(b"\0")[:-1] == [b"named-hook", b"-c", script.encode(), b"x y",
                                              b""]
    with open(os.path.join(out, "env"), "rb") as f:
        assert f.read().split(b"\0")[:-1] == [b"A=1", b"B=two words", b"EMPTY="]
    assert mc("start", cid, check=True).stderr == ""
    with open(os.path.join(out, "no-env"), "rb") as f:
        assert f.read() == b""  # no env: an empty environment, not the runtime's


def _processes_with(argv: list[str]) -> list[int]:
    wanted = "\0".join(argv).encode() + b"\0"
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read() == wanted:
                    found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("phase", ["createRuntime", "prestart", "createContainer"])
def test_a_hook_past_its_timeout_fails_create_and_leaves_nothing(cid, bundle, phase):
    bundle.add_hook(phase, {"path": "/bin/sleep", "args": ["sleep", "1007"], "timeout": 1})
    bundle.command(["true"])
    started = time.monotonic()
    result = create(bundle, cid)
    assert time.monotonic() - started < 20
    assert result.returncode == 125
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(
        "minicontainer: error: "), result.stderr
    assert f"{phase} hook 0 /bin/sleep (killed after its timeout of 1 s)" in result.stderr
    assert _processes_with(["sleep", "1007"]) == []
    assert_left_nothing(cid)


def test_a_hook_within_its_timeout_passes(cid, bundle):
    bundle.add_hook("createRuntime", {"path": "/bin/sleep", "args": ["sleep", "0.2"],
                                      "timeout": 5})
    bundle.command(["true"])
    result = create(bundle, cid)
    assert (result.returncode, result.stderr) == (0, "")
    assert oci_state(cid)["status"] == "created"


@pytest.mark.parametrize("phase", ["createRuntime", "prestart"])
def test_a_failing_create_hook_fails_create_and_stops_the_next(cid, bundle, phase):
    bundle.add_hook(phase, {"path": "/bin/false"})
    bundle.add_hook(phase, bundle.recorder(phase))
    bundle.add_hook("createContainer", bundle.recorder("createContainer"))
    bundle.command(["true"])
    result = create(bundle, cid)
    assert result.returncode == 125
    assert result.stderr == (f"minicontainer: error: {phase} hook 0 /bin/false (exited with "
                             "code 1)\n")
    assert bundle.records() == []  # the hooks after it did not run
    assert_left_nothing(cid)


def test_a_failing_start_container_hook_fails_start(cid, bundle):
    bundle.add_hook("startContainer", {"path": "/bin/false"})
    bundle.command(["sleep", "30"])
    assert create(bundle, cid).returncode == 0
    result = mc("start", cid)
    assert result.returncode == 125
    assert len(result.stderr.splitlines()) == 1 and "/bin/false" in result.stderr, result.stderr
    assert "exited with code 1" in result.stderr
    assert oci_state(cid)["status"] == "stopped"


def test_a_failing_poststart_hook_only_warns(cid, bundle):
    bundle.add_hook("poststart", {"path": "/bin/false"})
    bundle.add_hook("poststart", bundle.recorder("poststart"))
    bundle.command(["sleep", "30"])
    assert create(bundle, cid).returncode == 0
    result = mc("start", cid)
    assert result.returncode == 0
    assert result.stderr == ("minicontainer: warning: poststart hook 0 /bin/false (exited "
                             "with code 1)\n")
    assert oci_state(cid)["status"] == "running"
    assert [r["phase"] for r in bundle.records()] == ["poststart"]  # the next one ran


def test_a_failing_poststop_hook_only_warns(cid, bundle):
    bundle.add_hook("poststop", {"path": "/bin/false"})
    bundle.add_hook("poststop", bundle.recorder("poststop"))
    bundle.command(["sleep", "30"])
    assert create(bundle, cid).returncode == 0
    mc("start", cid, check=True)
    result = mc("delete", "--force", cid)
    assert result.returncode == 0
    assert result.stderr == ("minicontainer: warning: poststop hook 0 /bin/false (exited "
                             "with code 1)\n")
    assert [r["phase"] for r in bundle.records()] == ["poststop"]
    assert_left_nothing(cid)
