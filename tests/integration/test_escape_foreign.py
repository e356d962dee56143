"""The escape catalogue through another runtime (minicontainer.escapes.foreign), with
`minicontainer run --rootfs` standing in for a student's runtime: blocked by default,
escaped with only the layer that stops it switched off, and an ERROR, never a BLOCKED,
for a runtime that does not run the attack."""

from __future__ import annotations

import sys

from minicontainer import escapes, rootfs
from minicontainer.escapes import foreign
from minicontainer.escapes.base import BLOCKED, ERROR, ESCAPED, SKIP, Escape


def _minicontainer(*flags: str) -> list[str]:
    return [sys.executable, "-m", "minicontainer", "run", *flags, "--rootfs"]


def _try(names: list[str], runtime: list[str]) -> dict[str, str]:
    tried = [escapes.find(name) for name in names]
    outcomes = foreign.run_foreign(tried, runtime, rootfs.default_rootfs(), parallel=len(tried))
    return {e.name: o.verdict for e, o in zip(tried, outcomes, strict=True)}


def test_every_applicable_escape_is_blocked_by_the_default_runtime():
    tried = foreign.applicable(escapes.catalogue())
    outcomes = foreign.run_foreign(tried, _minicontainer(), rootfs.default_rootfs(),
                                   parallel=len(tried))
    ran = {e.name: o.verdict for e, o in zip(tried, outcomes, strict=True) if o.verdict != SKIP}
    assert len(ran) >= 8
    assert set(ran.values()) == {BLOCKED}, ran


def test_each_escape_gets_through_with_only_its_layer_off():
    assert _try(["leaked-fd"], _minicontainer("--security-opt", "fd-hygiene=false")) == \
        {"leaked-fd": ESCAPED}
    assert _try(["chroot-breakout"], _minicontainer("--rootfs-mode", "chroot")) == \
        {"chroot-breakout": ESCAPED}
    assert _try(["host-loopback"], _minicontainer("--net", "host")) == {"host-loopback": ESCAPED}


def test_an_escape_that_hands_in_a_volume_is_skipped_and_restored():
    [outcome] = foreign.run_foreign([escapes.find("shocker")], _minicontainer(),
                                    rootfs.default_rootfs())
    assert outcome.verdict == SKIP and "a volume" in outcome.evidence


def test_a_runtime_that_does_not_run_the_attack_is_an_error():
    [outcome] = foreign.run_foreign([escapes.find("leaked-fd")], ["true"],
                                    rootfs.default_rootfs())
    assert outcome.verdict == ERROR and "did not run the attack" in outcome.evidence


class _Slow(Escape):
    name = "slow-demo"
    timeout = 1.0

    def script(self) -> str:
        return "sleep 30"


def test_a_late_attempt_is_ended_with_its_processes():
    # A "runtime" that runs the attack on the host itself: harmless for this script only.
    runtime = ["sh", "-c", 'shift 2; exec "$@"', "host-runtime"]
    [outcome] = foreign.run_foreign([_Slow()], runtime, rootfs.default_rootfs())
    assert outcome.verdict == ERROR and "timed out" in outcome.evidence
