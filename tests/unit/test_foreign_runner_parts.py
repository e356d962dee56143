"""Which escapes another runtime can be tried with, and the command line it gets."""

from __future__ import annotations

import shutil

from minicontainer import escapes
from minicontainer.escapes import foreign
from minicontainer.escapes.base import Attempt, Escape


def test_escapes_that_need_minicontainer_flags_or_the_vm_are_not_applicable():
    reasons = {e.name: foreign.unsuitable(e) for e in escapes.catalogue()}
    assert "-v /:/host" in reasons["host-root-mount"]
    assert "-u 1000" in reasons["setuid-no-nnp"]
    assert "kernel-wide" in reasons["core-pattern"]
    assert "cgroup limits" in reasons["fork-bomb"]
    assert "--memory 64m" in reasons["writable-cgroupfs"]


def test_applicable_escapes_are_the_runtime_ones():
    names = {e.name for e in foreign.applicable(escapes.catalogue())}
    assert {"proc-root", "leaked-fd", "chroot-breakout", "host-loopback",
            "host-keyring"} <= names
    assert not names & {"host-root-mount", "core-pattern", "memory-hog", "release-agent"}


class _Demo(Escape):
    name = "demo-escape"

    def script(self) -> str:
        return "echo attack"


def test_the_runtime_gets_rootfs_then_the_attack_with_its_environment():
    escape = _Demo()
    attempt = Attempt(escape)
    try:
        attempt.env["MC_TARGET"] = "/x"
        command = foreign.command_for(["my_runtime.py"], "/rootfs", escape, attempt)
    finally:
        shutil.rmtree(attempt.workdir)
    assert command[:3] == ["my_runtime.py", "/rootfs", "--"]
    assert command[3] == "env" and f"MC_NONCE={attempt.nonce}" in command
    assert "MC_TARGET=/x" in command
    assert command[-4:-2] == ["sh", "-c"] and command[-1] == "demo-escape"
    assert command[-2] == f"echo {foreign.STARTED}\necho attack"
