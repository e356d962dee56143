"""The kernel-interface escapes on the host: only what cannot change the kernel.

core-pattern, release-agent, sysrq-trigger and module-load change kernel-wide
state when they work, so their attempts run only in the VM
(tests/vm/test_escapes_kernel.py).  Here: their metadata, what they say this
host lacks, and that the CLI refuses to run them weakened without
--allow-host-changes (which starts no container at all).
"""

from __future__ import annotations

import importlib
import json
import os

import pytest

from helpers import mc
from minicontainer.escapes import layers, runner

NAMES = ["core-pattern", "release-agent", "sysrq-trigger", "module-load"]


def find(name: str):
    return importlib.import_module(f"minicontainer.escapes.{name.replace('-', '_')}").ESCAPE


@pytest.mark.parametrize("name", NAMES)
def test_metadata_marks_a_host_changing_escape(name):
    escape = find(name)
    assert escape.name == name and escape.host_changes
    assert os.path.exists(escape.script_path)
    known = {layer.name for layer in layers.all_layers()}
    assert escape.stopped_by and set(escape.stopped_by) <= known
    weakened = runner.config_for(escape, escape.weakening)
    assert not any(layers.find(name).is_on(weakened) for name in escape.stopped_by)


def test_missing_names_what_this_host_lacks():
    sysrq, module = find("sysrq-trigger"), find("module-load")
    if os.path.exists("/proc/sysrq-trigger"):
        assert sysrq.missing() is None
    else:
        assert "/proc/sysrq-trigger" in sysrq.missing()
    if os.path.exists("/proc/modules"):
        assert module.missing() is None or "already" in module.missing()
    else:
        assert "no loadable module support" in module.missing()


def _core_pattern() -> str:
    with open("/proc/sys/kernel/core_pattern") as f:
        return f.read()


@pytest.mark.parametrize("name", NAMES)
def test_cli_refuses_a_weakened_run_without_allow_host_changes(name):
    before = _core_pattern()
    for flags in (["--weakened"], ["--", "--privileged", "--userns", "host"]):
        result = mc("escape", "run", name, *flags)
        assert result.returncode == 125, result.stdout + result.stderr
        assert result.stderr.startswith("minicontainer: error: escape:")
        assert "--allow-host-changes" in result.stderr
        assert result.stdout == ""
    assert _core_pattern() == before


def test_cli_lists_and_shows_them_as_host_changing():
    listed = {e["name"]: e for e in json.loads(mc("escape", "list", "--json", check=True).stdout)}
    assert all(listed[name]["host_changes"] for name in NAMES)
    shown = mc("escape", "show", "module-load", check=True).stdout
    assert "--allow-host-changes" in shown and "insmod" in shown
    if find("module-load").missing():
        assert f"SKIP ({find('module-load').missing()})" in shown
