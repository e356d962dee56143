"""Host-side measurement of a container's cgroup, for the limit escapes.

A limit escape is proven by what the container *used*, and the container's own
report of it is only its word.  The host reads the same numbers from the
container's cgroup directory while the container runs: a thread polls a few
files there (``memory.max``, ``memory.peak``, the processes in
``cgroup.procs``) and keeps the largest value it saw of each, until the
runtime removes the cgroup at the container's end.
"""

from __future__ import annotations

import os
import threading
import time

POLL_SECONDS = 0.05
APPEAR_SECONDS = 30.0  # for the container to start and its cgroup to appear
PROCS = "cgroup.procs"


class CgroupWatch:
    """Poll ``files`` of container ``container_id``'s cgroup from the host; ``peak``
    holds the largest number seen in each (for ``cgroup.procs``: how many processes)."""

    def __init__(self, container_id: str, files: list[str]) -> None:
        from minicontainer import cgroups

        self.path = cgroups.container_path(container_id)
        self.files = files
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True,
                                        name="mc-escape-cgroup-watch")
        self._thread.start()

    def _watch(self) -> None:
        if self.path is None:
            return
        deadline = time.monotonic() + APPEAR_SECONDS
        while not os.path.isdir(self.path):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            time.sleep(POLL_SECONDS)
        while not self._stop.is_set() and os.path.isdir(self.path):
            for name in self.files:
                value = self._read(name)
                if value is not None and value > self.peak.get(name, -1):
                    self.peak[name] = value
            time.sleep(POLL_SECONDS)

    def _read(self, name: str) -> int | None:
        try:
            with open(os.path.join(self.path, name)) as f:
                text = f.read()
        except OSError:
            return None  # not (or no longer) there
        if name == PROCS:
            return len(text.split())
        text = text.strip()
        return int(text) if text.isdigit() else None  # "max": no limit, nothing to compare

    def stop(self) -> dict[str, int]:
        """Wait for the container's cgroup to go (or stop now if it never came); the peaks."""
        self._thread.join(APPEAR_SECONDS)
        self.close()
        return self.peak

    def close(self) -> None:
        """Stop watching now."""
        self._stop.set()
        self._thread.join()
