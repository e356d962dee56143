"""The kernel-interface escapes, which change kernel-wide state when they work (the VM).

core-pattern, release-agent, sysrq-trigger and module-load each reach the one
kernel the host and its containers share.  Each is BLOCKED under the default,
ESCAPES under its weakening, and is BLOCKED again when any one layer it claims
is restored onto the weakened config; and after every attempt the kernel is as
it was before: core_pattern, the loaded modules, the cgroup v1 hierarchies.
They run only here, never on a host (escape-conventions: host_changes).
"""

from __future__ import annotations

import importlib
import os

import pytest

from helpers import mc
from minicontainer.escapes import layers, runner
from minicontainer.escapes.base import BLOCKED, ESCAPED, Escape

pytestmark = pytest.mark.vm

# What the kernel answers under the default, seen from inside.
DEFAULT_EVIDENCE = {
    "core-pattern": "Read-only file system",
    "release-agent": "could not mount",
    "sysrq-trigger": "Read-only file system",
    "module-load": "Operation not permitted",
}
NAMES = list(DEFAULT_EVIDENCE)
# The proof, seen from inside, of a weakened run.
WEAKENED_EVIDENCE = {
    "core-pattern": "the kernel ran the handler on the host",
    "release-agent": "the kernel runs release_agent on the host",
    "sysrq-trigger": "the host kernel logged its SysRq help",
    "module-load": "insmod worked",
}
# What the kernel answers when one layer is restored onto the weakened config.
LAYER_EVIDENCE = {
    ("core-pattern", "read-only paths"): "Read-only file system",
    ("core-pattern", "user ns"): "Permission denied",
    ("release-agent", "user ns"): "could not mount",
    ("release-agent", "cgroup ns"): "could not mount",
    ("release-agent", "capabilities"): "could not mount",
    ("sysrq-trigger", "read-only paths"): "Read-only file system",
    ("sysrq-trigger", "user ns"): "Permission denied",
    ("module-load", "capabilities"): "Operation not permitted",
    ("module-load", "user ns"): "Operation not permitted",
}


def find(name: str) -> Escape:
    """The escape's own module, without importing the rest of the catalogue."""
    return importlib.import_module(f"minicontainer.escapes.{name.replace('-', '_')}").ESCAPE


def kernel_state() -> dict[str, object]:
    """What these escapes change when they work."""
    with open("/proc/sys/kernel/core_pattern") as f:
        core_pattern = f.read()
    with open("/proc/modules") as f:
        modules = sorted(line.split()[0] for line in f)
    with open("/proc/self/cgroup") as f:
        hierarchies = sorted(line.split(":")[1] for line in f)
    return {"core_pattern": core_pattern, "modules": modules, "hierarchies": hierarchies}


@pytest.fixture(autouse=True)
def kernel_restored():
    """Every attempt leaves the kernel as it found it."""
    before = kernel_state()
    yield
    assert kernel_state() == before


def attempt(name: str, flags: list[str], restore: str | None = None):
    escape = find(name)
    reason = escape.missing()
    if reason:
        pytest.skip(f"{name}: {reason}")
    cfg = runner.config_for(escape, flags)
    if restore:
        layers.find(restore).restore(cfg)
    return runner.run_one(escape, cfg, allow_host_changes=True)


@pytest.mark.parametrize("name", NAMES)
def test_blocked_by_default(name):
    outcome = attempt(name, [])
    assert outcome.verdict == BLOCKED, outcome.evidence
    assert DEFAULT_EVIDENCE[name] in outcome.evidence


@pytest.mark.parametrize("name", NAMES)
def test_escapes_when_weakened(name):
    outcome = attempt(name, find(name).weakening)
    assert outcome.verdict == ESCAPED, outcome.evidence
    assert WEAKENED_EVIDENCE[name] in outcome.evidence


@pytest.mark.parametrize("name,layer", list(LAYER_EVIDENCE))
def test_each_stopping_layer_alone_blocks_it(name, layer):
    assert layer in find(name).stopped_by
    outcome = attempt(name, find(name).weakening, restore=layer)
    assert outcome.verdict == BLOCKED, outcome.evidence
    assert LAYER_EVIDENCE[name, layer] in outcome.evidence


def test_every_claimed_layer_is_tested():
    claimed = {(name, layer) for name in NAMES for layer in find(name).stopped_by}
    assert claimed == set(LAYER_EVIDENCE)


def test_cli_runs_the_weakened_attempt_only_when_host_changes_are_allowed():
    refused = mc("escape", "run", "sysrq-trigger", "--weakened")
    assert refused.returncode == 125 and "--allow-host-changes" in refused.stderr
    if find("sysrq-trigger").missing():
        pytest.skip(f"sysrq-trigger: {find('sysrq-trigger').missing()}")
    escaped = mc("escape", "run", "sysrq-trigger", "--weakened", "--allow-host-changes",
                 timeout=120)
    assert escaped.returncode == 0, escaped.stderr
    assert escaped.stdout.startswith("sysrq-trigger against --security-opt "
                                     "systempaths=unconfined --userns host --security-opt "
                                     "apparmor=unconfined: ESCAPED")
    blocked = mc("escape", "run", "sysrq-trigger", timeout=120)
    assert "against the hardened default: BLOCKED" in blocked.stdout


def test_release_agent_restore_removes_a_hierarchy_left_with_a_child(tmp_path):
    """A named hierarchy with a child cgroup outlives its last mount; restore() finds
    and removes it."""
    from minicontainer import native
    from minicontainer.escapes.base import Attempt

    escape = find("release-agent")
    if escape.missing():
        pytest.skip(f"release-agent: {escape.missing()}")
    left = Attempt(escape)
    name = f"mcescape{left.nonce[:8]}"
    left.env["MC_CGROUP_NAME"] = name
    native.mount("cgroup", str(tmp_path), "cgroup", 0, f"none,name={name}")
    (tmp_path / "x").mkdir()
    native.umount2(str(tmp_path))
    with open("/proc/self/cgroup") as f:
        assert f"name={name}:" in f.read()
    try:
        escape.restore(left)
    finally:
        os.rmdir(left.workdir)
    with open("/proc/self/cgroup") as f:
        assert f"name={name}:" not in f.read()
