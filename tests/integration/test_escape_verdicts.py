"""Every escape that is safe to try on this host, three ways: BLOCKED under the
default, ESCAPED under its weakening, and BLOCKED again when any one layer it
claims is restored onto the weakened config.  The evidence is what the kernel
answered, seen from inside (default), and what shows the escape (weakened).

The escapes that change kernel-wide state, and the limit escapes, are tried in the
VM (tests/vm/test_escapes_kernel.py, tests/vm/test_escapes_limits.py); each group's
own file here checks what its host side plants and removes.
"""

from __future__ import annotations

import pytest

from minicontainer import escapes
from minicontainer.escapes import layers, runner
from minicontainer.escapes.base import BLOCKED, ESCAPED

# name: (the default's evidence, the weakening's evidence)
EVIDENCE = {
    "host-root-mount": ("Permission denied", "wrote the nonce into the host file"),
    "chroot-breakout": ("No such file or directory", "PROOF"),
    "host-disk-mount": ("mknod /dev/mc-host-disk", "PROOF"),
    "sys-admin-mount": ("mount -o ro -t ext2 /dev/mc-disk /mnt/disk: refused", "PROOF"),
    "propagation-leak": ("mount -t tmpfs mc-propagation-leak /vol/leak: refused",
                         "is a mount (the container's tmpfs)"),
    "proc-self-exe": ("no such process in this pid namespace", "PROOF"),
    "masked-proc": ("no host key in sight", "PROOF"),
    "shocker": ("open_by_handle_at: Operation not permitted", "PROOF"),
    "leaked-fd": ("nothing leaked in", "PROOF"),
    "tiocsti": ("ioctl(TIOCSTI) on standard input: Operation not permitted",
                "typed 28 bytes into the terminal"),
    "proc-root": ("no such process in this pid namespace", "PROOF"),
    "nsenter-host": ("can't open '/proc/", "PROOF"),
    "ptrace-inject": ("No such process", "PROOF"),
    "setuid-no-nnp": ("effective uid 1000", "PROOF"),
    "host-keyring": ("Operation not permitted", "PROOF"),
    "abstract-socket": ("Connection refused", "PROOF"),
    "host-loopback": ("Connection refused", "PROOF"),
}
NAMES = list(EVIDENCE)


def _escape(name: str):
    escape = escapes.find(name)
    reason = escape.missing()
    if reason:
        pytest.skip(reason)
    return escape


# Its weakening lets it write its own memory.max, which only a cgroup with the memory
# controller has: the VM's.
IN_THE_VM = {"writable-cgroupfs"}


def test_every_escape_a_layer_stops_is_tried_here_or_in_the_vm():
    stoppable = {e.name for e in escapes.catalogue() if e.weakening and not e.host_changes}
    assert stoppable == set(NAMES) | IN_THE_VM


@pytest.mark.parametrize("name", NAMES)
def test_blocked_by_default(name):
    escape = _escape(name)
    outcome = runner.run_one(escape, runner.config_for(escape, []))
    assert outcome.verdict == BLOCKED, outcome.evidence
    assert EVIDENCE[name][0] in outcome.evidence


@pytest.mark.parametrize("name", NAMES)
def test_escapes_when_weakened(name):
    escape = _escape(name)
    outcome = runner.run_one(escape, runner.config_for(escape, escape.weakening))
    assert outcome.verdict == ESCAPED, outcome.evidence
    assert EVIDENCE[name][1] in outcome.evidence


@pytest.mark.parametrize("name,layer", [(n, layer) for n in NAMES
                                         for layer in escapes.find(n).stopped_by])
def test_each_stopping_layer_alone_blocks_it(name, layer):
    escape = _escape(name)
    cfg = runner.config_for(escape, escape.weakening)
    assert not layers.find(layer).is_on(cfg), f"the weakening leaves {layer} on"
    layers.find(layer).restore(cfg)
    outcome = runner.run_one(escape, cfg)
    assert outcome.verdict == BLOCKED, outcome.evidence
