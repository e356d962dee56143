"""Where the milliseconds of ``run`` and ``exec`` go: with ``MINICONTAINER_TIMING=1``
each phase's duration is printed on stderr when the command ends.

The phases are functions of the runtime, wrapped here when timing is asked for, so
that the code of a layer carries no timers and a normal start pays nothing::

    MINICONTAINER_TIMING=1 minicontainer run -- /bin/true

Nested phases are indented under the phase that called them; ``main`` is the
whole command from the parsing of its line to its exit.  What a benchmark measures
beyond ``main`` is the interpreter's start and the imports before it.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import os
import sys
import time

# (module, attribute path, label): the functions whose calls are timed.
PHASES = (
    ("minicontainer.cli", "build_parser", "parse: build the parser"),
    ("minicontainer.cli", "config_from_args", "config from the flags"),
    ("minicontainer.runtime", "Container._prepare", "prepare: checks, apparmor, seccomp"),
    ("minicontainer.process", "seccomp_program", "seccomp program (cache or compile)"),
    ("minicontainer.runtime", "Container._register", "state: register"),
    ("minicontainer.runtime", "_create_cgroup", "cgroup: create"),
    ("minicontainer.state", "Scratch.create", "scratch dirs: create"),
    ("minicontainer.namespaces", "clone", "clone"),
    ("minicontainer.idmap", "write_maps", "uid/gid maps"),
    ("minicontainer.runtime", "read_all", "until the init's execve"),
    ("minicontainer.runtime", "Container._record_running", "state: running"),
    ("minicontainer.runtime", "Container._free", "free: cgroup, scratch"),
    ("minicontainer.state", "StateStore.remove", "state: remove"),
    ("minicontainer.lifecycle", "get", "exec: read the record"),
    ("minicontainer.lifecycle", "_exec_config", "exec: config from the record"),
    ("minicontainer.nsenter", "run", "exec: fork, join, run the command"),
    ("minicontainer.nsenter", "read_all", "exec: wait: the helper's fork, then the execve"),
)

_records: list[tuple[int, str, float, float]] = []
_depth = 0


def install() -> None:
    """Wrap every phase and print the report when the process exits."""
    for module_name, path, label in PHASES:
        owner = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        setattr(owner, name, _timed(getattr(owner, name), label))
    atexit.register(_report, os.getpid(), time.perf_counter())


def _timed(function, label: str):
    @functools.wraps(function)
    def timed(*args, **kwargs):
        global _depth
        start = time.perf_counter()
        _depth += 1
        try:
            return function(*args, **kwargs)
        finally:
            _depth -= 1
            _records.append((_depth, label, start, time.perf_counter()))

    return timed


def _report(pid: int, installed: float) -> None:
    if os.getpid() != pid:  # a forked child that returned here: not the command's report
        return
    lines = [f"timing: main {(time.perf_counter() - installed) * 1000:7.1f} ms"]
    for depth, label, start, end in sorted(_records, key=lambda r: (r[2], r[0])):
        lines.append(f"timing: {'  ' * (depth + 1)}{label} {(end - start) * 1000:7.1f} ms")
    print("\n".join(lines), file=sys.stderr)
