"""The escape catalogue: classic ways out of a container, one readable unit each.

Each escape is a module here (its story in the docstring, its metadata and host
side as an :class:`~minicontainer.escapes.base.Escape`) with its in-container
attack beside it as a busybox ``sh`` script of the same name.  The labs, the
matrix, ``audit`` and the tests all read this one catalogue.

Example::

    from minicontainer import escapes
    from minicontainer.escapes import runner

    escape = escapes.find("host-root-mount")
    print(runner.run_one(escape, runner.config_for(escape, escape.weakening)).verdict)
"""

from __future__ import annotations

import importlib

from minicontainer.escapes.base import Escape

# In the order a student meets them: filesystem, processes, kernel interfaces, sockets.
MODULES = [
    "host_root_mount",
    "proc_root",
    "nsenter_host",
    "ptrace_inject",
    "setuid_no_nnp",
    "host_keyring",
    "masked_proc",
    "shocker",
    "leaked_fd",
    "tiocsti",
    "host_control_socket",
    "chroot_breakout",
    "host_disk_mount",
    "sys_admin_mount",
    "propagation_leak",
    "proc_self_exe",
    "core_pattern",
    "release_agent",
    "sysrq_trigger",
    "module_load",
    "abstract_socket",
    "host_loopback",
    "writable_cgroupfs",
    "fork_bomb",
    "memory_hog",
    "nsenter_cgroup",
]


def catalogue() -> list[Escape]:
    """Every escape, in catalogue order."""
    return [importlib.import_module(f"minicontainer.escapes.{m}").ESCAPE for m in MODULES]


def find(name: str) -> Escape:
    """The escape called ``name``; KeyError naming the known ones if there is none."""
    for escape in catalogue():
        if escape.name == name:
            return escape
    raise KeyError(f"{name!r} is not an escape; known: {', '.join(e.name for e in catalogue())}")
