"""The socket escapes: host services reached through a shared network namespace.

Their three verdicts (default, weakened, one layer restored) are in
test_escape_verdicts.py; here: the decoy services listen on the host's loopback and abstract
namespace only, and are closed after every attempt.
"""

from __future__ import annotations

import importlib
import json

import pytest

from helpers import mc
from minicontainer.escapes import runner
from minicontainer.escapes.base import ESCAPED, Escape

NAMES = ["abstract-socket", "host-loopback"]


def find(name: str) -> Escape:
    """The escape's own module, without importing the rest of the catalogue."""
    return importlib.import_module(f"minicontainer.escapes.{name.replace('-', '_')}").ESCAPE


@pytest.mark.parametrize("name", NAMES)
def test_the_listener_is_closed_after_the_attempt(name):
    escape = find(name)
    runner.run_one(escape, runner.config_for(escape, escape.weakening))
    assert escape._listeners == {}
    with open("/proc/net/unix") as f:
        assert "@mc-escape-" not in f.read()


def test_cli_run_default_and_weakened():
    blocked = mc("escape", "run", "host-loopback", check=True)
    assert "host-loopback against the hardened default: BLOCKED" in blocked.stdout
    assert "Connection refused" in blocked.stdout
    escaped = json.loads(mc("escape", "run", "abstract-socket", "--weakened", "--json",
                            check=True).stdout)
    assert escaped["verdict"] == ESCAPED and escaped["flags"] == ["--net", "host"]
    assert "the listener said:" in escaped["evidence"]
