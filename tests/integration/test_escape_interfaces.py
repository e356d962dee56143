"""The kernel-interface escapes: /proc files, file handles, fds, terminals, sockets.

Their three verdicts (default, weakened, one layer restored) are in
test_escape_verdicts.py; here: the host control socket escapes under the
default, since no layer of the container's own stands in its way.  The planted
key, fd, terminal and daemon are gone after every attempt.
"""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from helpers import mc
from minicontainer import escapes
from minicontainer.escapes import layers, runner
from minicontainer.escapes.base import BLOCKED, ESCAPED


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _run(name: str, flags: list[str]):
    escape = escapes.find(name)
    return runner.run_one(escape, runner.config_for(escape, flags))


def test_seccomp_does_not_stop_shocker_once_the_capability_is_given():
    """The default profile allows open_by_handle_at to a container holding
    CAP_DAC_READ_SEARCH (as Docker's does): why seccomp is not in stopped_by."""
    escape = escapes.find("shocker")
    cfg = runner.config_for(escape, escape.weakening)
    assert layers.find("seccomp").is_on(cfg)
    outcome = runner.run_one(escape, cfg)
    assert outcome.verdict == ESCAPED, outcome.evidence


def test_masked_proc_user_namespace_hides_the_host_key_from_an_unmasked_file():
    """Unmasked, /proc/keys is readable under the default user namespace, but
    lists no key of an owner unmapped there."""
    outcome = _run("masked-proc", ["--security-opt", "systempaths=unconfined"])
    assert outcome.verdict == BLOCKED, outcome.evidence
    assert "mounted over it" not in outcome.evidence
    assert "no host key in sight" in outcome.evidence


def test_the_host_control_socket_escapes_under_the_default():
    """No layer of the container's own stops a host daemon doing what it is asked."""
    escape = escapes.find("host-control-socket")
    assert escape.weakening == [] and escape.stopped_by == []
    outcome = runner.run_one(escape, runner.config_for(escape, []))
    assert outcome.verdict == ESCAPED, outcome.evidence
    assert "the daemon read a host file for us" in outcome.evidence


def test_the_control_daemon_is_stopped_after_the_attempt():
    before = _open_fds()
    outcome = _run("host-control-socket", [])
    assert outcome.verdict == ESCAPED, outcome.evidence
    assert not [t for t in threading.enumerate() if t.name == "mc-escape-control-daemon"]
    assert _open_fds() == before


@pytest.mark.parametrize("name", ["leaked-fd", "tiocsti"])
def test_the_planted_fds_are_closed_after_the_attempt(name):
    before = _open_fds()
    outcome = _run(name, escapes.find(name).weakening)
    assert outcome.verdict == ESCAPED, outcome.evidence
    assert _open_fds() == before


def test_the_planted_key_is_gone_after_the_attempt():
    outcome = _run("masked-proc", escapes.find("masked-proc").weakening)
    assert outcome.verdict == ESCAPED, outcome.evidence
    # An invalidated key is unlinked at once and collected by the kernel's key
    # garbage collector soon after.
    deadline = time.monotonic() + 5
    while "mc-escape-masked-proc-" in _read("/proc/keys"):
        assert time.monotonic() < deadline, "the planted key is still there"
        time.sleep(0.05)


def test_tiocsti_skips_where_the_kernel_disables_it(tmp_path, monkeypatch):
    from minicontainer.escapes import tiocsti

    switch = tmp_path / "legacy_tiocsti"
    switch.write_text("0\n")
    monkeypatch.setattr(tiocsti, "LEGACY_TIOCSTI", str(switch))
    assert "legacy_tiocsti = 0" in escapes.find("tiocsti").missing()
    switch.write_text("1\n")
    assert escapes.find("tiocsti").missing() is None


def test_cli_run_default_and_weakened():
    blocked = mc("escape", "run", "leaked-fd", check=True)
    assert "leaked-fd against the hardened default: BLOCKED" in blocked.stdout
    assert "nothing leaked in" in blocked.stdout
    escaped = json.loads(mc("escape", "run", "shocker", "--weakened", "--json",
                            check=True).stdout)
    assert escaped["verdict"] == ESCAPED
    assert escaped["flags"] == ["--cap-add", "DAC_READ_SEARCH", "--userns", "host"]
    assert "opened the host file outside every mount" in escaped["evidence"]
