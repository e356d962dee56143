"""The vm tests need every cgroup v2 controller: they run under scripts/test-vm."""

import pytest

from minicontainer import cgroups

NEEDED = {"memory", "pids", "cpu", "cpuset", "io"}


@pytest.fixture(autouse=True)
def cgroup_v2_controllers():
    hierarchy = cgroups.find_hierarchy()
    missing = NEEDED - (hierarchy.controllers if hierarchy else set())
    if missing:
        pytest.fail(f"this kernel's cgroup v2 lacks {sorted(missing)}: run these tests with "
                    "`make test-vm`, which boots a VM that has them")
