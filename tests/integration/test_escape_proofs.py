"""The proofs cannot be forged: an attack that only *says* it got through is BLOCKED.

A read-type proof must bring back the attempt's secret, which is on the host only
and never in the container's environment; a write-type proof is a change the host
sees in its own marker.  So a script that prints the nonce and its whole
environment, under the weakening (where the real attack escapes), proves nothing.
Only the host-safe escapes run here; the host-changing ones are the VM's.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import mc
from minicontainer import escapes
from minicontainer.escapes import runner
from minicontainer.escapes.base import BLOCKED, stale_workdirs
from minicontainer.state import remove_tree

# Says everything the container knows: the nonce, with and without PROOF, and its env.
FORGERY = 'echo "PROOF $MC_NONCE"; echo "$MC_NONCE"; env'
# tiocsti's forgery: write the line the real attack types into the terminal, instead
# of typing it (TIOCSTI).
TERMINAL_FORGERY = 'printf "echo PROOF %s\\n" "$MC_NONCE" >&0; echo "wrote to the terminal"'

NAMES = [e.name for e in escapes.catalogue() if not e.host_changes and e.stopped_by]


def _forged(name: str, script: str, monkeypatch):
    escape = escapes.find(name)
    reason = escape.missing()
    if reason:
        pytest.skip(reason)
    monkeypatch.setattr(escape, "script", lambda: script)
    return runner.run_one(escape, runner.config_for(escape, escape.weakening))


@pytest.mark.parametrize("name", NAMES)
def test_printing_the_nonce_and_environment_proves_nothing(name, monkeypatch):
    outcome = _forged(name, FORGERY, monkeypatch)
    assert outcome.verdict == BLOCKED, outcome.evidence


def test_the_host_control_socket_cannot_be_forged_either(monkeypatch):
    outcome = _forged("host-control-socket", FORGERY, monkeypatch)
    assert outcome.verdict == BLOCKED, outcome.evidence


def test_writing_the_line_to_the_terminal_is_not_typing_it(monkeypatch):
    """Bytes the container writes to its terminal go out to the other end, never into
    the input queue, where only TIOCSTI can put them."""
    outcome = _forged("tiocsti", TERMINAL_FORGERY, monkeypatch)
    assert outcome.verdict == BLOCKED, outcome.evidence
    assert "wrote to the terminal" in outcome.evidence


def test_the_control_daemon_knows_two_requests_and_runs_nothing(tmp_path):
    from minicontainer.escapes.host_control_socket import ControlDaemon

    daemon = ControlDaemon(str(tmp_path / "control.sock"), "s3cret")
    try:
        assert daemon.respond("cat secret") == "s3cret\n"
        assert daemon.respond("id").startswith("uid=0(root) gid=0(root)")
        for request in ("sh -c id", "cat /etc/shadow", "id; touch x", "cat secret; id"):
            assert daemon.respond(request) == f"unknown command: {request}\n"
    finally:
        daemon.close()
    assert list(tmp_path.iterdir()) == [tmp_path / "control.sock"]


def test_the_host_counts_the_processes_of_a_running_container():
    """The host-side count the fork-bomb proof rests on (cgroup.procs needs no controller)."""
    from minicontainer import cli
    from minicontainer.escapes.cgroupwatch import PROCS, CgroupWatch
    from minicontainer.runtime import Container

    container_id = f"escape-watch-{os.urandom(4).hex()}"
    watch = CgroupWatch(container_id, [PROCS])
    argv = ["run", "--", "sh", "-c", "for i in 1 2 3 4 5; do sleep 2 & done; wait"]
    config = cli.config_from_args(cli.build_parser("run").parse_args(argv))
    with open(os.devnull, "w") as null:
        assert Container(config, container_id).run(stdout=null.fileno(),
                                                   stderr=null.fileno()) == 0
    # The shell and its five sleepers (and the init, if it stays in the cgroup).
    assert watch.stop().get(PROCS, 0) >= 6


_MAKES_AN_ATTEMPT = """
from minicontainer import escapes
from minicontainer.escapes.base import Attempt
print(Attempt(escapes.find("host-loopback")).workdir, flush=True)
import time; time.sleep(60)
"""


def _killed_demo_leaving_its_workdir() -> tuple[subprocess.Popen, str]:
    demo = subprocess.Popen([sys.executable, "-c", _MAKES_AN_ATTEMPT], stdout=subprocess.PIPE,
                            text=True)
    workdir = demo.stdout.readline().strip()
    assert os.path.isdir(workdir)
    return demo, workdir


def test_cleanup_removes_what_a_killed_demo_left_and_keeps_a_running_ones():
    killed, stale = _killed_demo_leaving_its_workdir()
    killed.kill()
    killed.wait()
    running, live = _killed_demo_leaving_its_workdir()
    try:
        with open(os.path.join(stale, "marker"), "w") as f:
            f.write("left behind")
        assert stale in stale_workdirs() and live not in stale_workdirs()
        removed = mc("cleanup", check=True).stdout.splitlines()
        assert stale in removed and live not in removed
        assert not os.path.exists(stale) and os.path.isdir(live)
    finally:
        running.kill()
        running.wait()
        killed.stdout.close()
        running.stdout.close()
        remove_tree(live)
        if os.path.isdir(stale):
            remove_tree(stale)
