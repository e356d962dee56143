"""Fixtures: nothing may be left behind; containers need root."""

from __future__ import annotations

import os

import pytest

from helpers import leftovers


@pytest.fixture(autouse=True)
def nothing_left_behind(request):
    """Fail any test that leaves a mount, scratch dir or container process behind."""
    if request.node.get_closest_marker("unit"):
        yield
        return
    before = leftovers()
    yield
    after = leftovers()
    for kind in before:
        if kind == "processes":
            extra = after[kind] - before[kind]
        else:
            extra = sorted(set(after[kind]) - set(before[kind]))
        assert not extra, f"test left {kind} behind: {extra}"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/unit" in str(item.fspath):
            item.add_marker(pytest.mark.unit)
        elif os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(
                reason="this machine runs the tests without root; containers need root"))
