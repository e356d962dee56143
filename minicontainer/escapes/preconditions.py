"""Host preconditions several escapes share, each as "what is missing", or None."""

from __future__ import annotations


def cgroup_controller_missing(controller: str) -> str | None:
    """Why ``controller`` cannot limit a container on this host, or None if it can."""
    from minicontainer import cgroups

    hierarchy = cgroups.find_hierarchy()
    if hierarchy is None:
        return f"no cgroup v2 on this host, so no {controller} limit (run it in the VM)"
    if controller not in hierarchy.controllers:
        return hierarchy.describe_missing(controller) + " (run it in the VM: make test-vm)"
    return None
