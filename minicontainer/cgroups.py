"""The cgroup v2 layer: limits, accounting, freezing and killing, through files.

A cgroup is a directory under the cgroup2 mount; its processes are listed in
``cgroup.procs`` and each controller adds files (``memory.max``, ``pids.max``,
``cpu.max`` ...).  A controller is usable in a cgroup only when its parent lists
it in ``cgroup.subtree_control``, and only a cgroup without processes may do
that (the no-internal-process rule), so containers live one level below a
process-free ``minicontainer`` cgroup::

    /sys/fs/cgroup/                       cgroup.subtree_control: +memory +pids ...
      minicontainer/                      no processes; cgroup.subtree_control: +memory ...
        <container id>/                   memory.max, pids.max, cgroup.procs ...

No controller is needed to group processes, freeze them or kill them all, so a
host whose cgroup2 mount has no controllers (the hybrid layout, where the
controllers sit in v1 hierarchies) still gets a cgroup per container; only
limits are refused there.  The v1 hierarchies are never touched.
"""

from __future__ import annotations

import errno
import os
import signal
import time

from minicontainer.config import Resources

BASE = "minicontainer"


class CgroupError(OSError):
    """A cgroup could not be set up as asked; the message says which controller and why."""


class Hierarchy:
    """The cgroup2 mount of this host and the controllers its root offers."""

    def __init__(self, mountpoint: str, hybrid: bool) -> None:
        self.mountpoint = mountpoint
        self.hybrid = hybrid
        self.controllers = set(_read(os.path.join(mountpoint, "cgroup.controllers")).split())

    def describe_missing(self, controller: str) -> str:
        """Why ``controller`` cannot be used here, in one sentence."""
        if self.hybrid:
            return (f"the {controller} controller is not in cgroup v2 on this host: its cgroup2 "
                    f"mount at {self.mountpoint} is the 'unified' half of a hybrid layout, and "
                    f"{controller} sits in a cgroup v1 hierarchy, which minicontainer does not use")
        return (f"the {controller} controller is not available in {self.mountpoint} "
                f"(cgroup.controllers: {' '.join(sorted(self.controllers)) or 'none'})")


def find_hierarchy(mountinfo: str = "/proc/self/mountinfo") -> Hierarchy | None:
    """The cgroup2 mount, or None on a host with cgroup v1 only.

    Hybrid means v1 hierarchies are mounted beside it (systemd's layout with
    ``/sys/fs/cgroup/unified``).
    """
    cgroup2 = []
    has_v1 = False
    with open(mountinfo) as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype == "cgroup2":
                cgroup2.append(fields[4])
            elif fstype == "cgroup":
                has_v1 = True
    # A mount can be hidden under a later one (a bind over /sys/fs/cgroup, say):
    # take one that can be seen, the standard place first.
    visible = [m for m in cgroup2 if os.path.exists(os.path.join(m, "cgroup.controllers"))]
    visible.sort(key=lambda m: m != "/sys/fs/cgroup")
    return Hierarchy(visible[0], has_v1) if visible else None


def container_path(name: str) -> str | None:
    """Where the cgroup of container ``name`` is (or would be); None without cgroup v2."""
    hierarchy = find_hierarchy()
    return os.path.join(hierarchy.mountpoint, BASE, name) if hierarchy else None


def limit_files(resources: Resources) -> dict[str, str]:
    """The cgroup files and values that put ``resources`` in force.

    ``memory.oom.group`` makes the OOM killer take the whole container at once
    rather than one process of it.
    """
    files: dict[str, str] = {}
    if resources.memory is not None:
        files["memory.max"] = str(resources.memory)
        files["memory.oom.group"] = "1"
        files["memory.swap.max"] = str(resources.swap or 0)
    if resources.memory_high is not None:
        files["memory.high"] = str(resources.memory_high)
    if resources.cpu_quota is not None:
        files["cpu.max"] = f"{resources.cpu_quota} {resources.cpu_period}"
    if resources.cpu_weight is not None:
        files["cpu.weight"] = str(resources.cpu_weight)
    if resources.pids is not None:
        files["pids.max"] = str(resources.pids)
    if resources.cpuset_cpus is not None:
        files["cpuset.cpus"] = resources.cpuset_cpus
    io_lines = {}
    for device, rate in resources.io_read_bps:
        io_lines.setdefault(device, []).append(f"rbps={rate}")
    for device, rate in resources.io_write_bps:
        io_lines.setdefault(device, []).append(f"wbps={rate}")
    if io_lines:
        files["io.max"] = "\n".join(f"{dev} {' '.join(v)}" for dev, v in io_lines.items())
    return files


def controllers_for(files: dict[str, str]) -> set[str]:
    """The controllers whose files these are (``memory.max`` -> ``memory``)."""
    return {name.split(".", 1)[0] for name in files}


class Cgroup:
    """One container's cgroup.

    Example::

        cg = Cgroup.create(find_hierarchy(), "demo", {"pids.max": "64"})
        ...  # start a process into cg.path
        print(cg.stats()["pids.current"])
        cg.destroy()
    """

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def create(cls, hierarchy: Hierarchy, name: str, files: dict[str, str],
               path: str | None = None) -> Cgroup:
        """Make ``<mount>/minicontainer/<name>`` with the controllers ``files`` need,
        and write the files.  Raises :class:`CgroupError` if a controller is missing.

        ``path`` (a config.json's ``linux.cgroupsPath``) puts it elsewhere: absolute
        from the root of the hierarchy, or relative to ``minicontainer/``; the
        cgroups above it are made as needed (and left, as runc leaves them).
        """
        needed = controllers_for(files)
        missing = sorted(needed - hierarchy.controllers)
        if missing:
            raise CgroupError(errno.EOPNOTSUPP, hierarchy.describe_missing(missing[0]))
        relative = path.strip("/") if path and path.startswith("/") else \
            os.path.join(BASE, path or name)
        parts = relative.split("/")
        parent = hierarchy.mountpoint
        _enable(parent, needed)
        for part in parts[:-1]:
            parent = os.path.join(parent, part)
            os.makedirs(parent, exist_ok=True)
            _enable(parent, needed)
        cgroup = cls(os.path.join(parent, parts[-1]))
        os.mkdir(cgroup.path)
        try:
            for filename, value in files.items():
                cgroup.write(filename, value)
        except BaseException:
            cgroup.destroy()
            raise
        return cgroup

    def write(self, filename: str, value: str) -> None:
        """Write ``value`` to one of the cgroup's files; CgroupError names the file."""
        path = os.path.join(self.path, filename)
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise CgroupError(e.errno, f"writing {value!r} to {path}: {e.strerror}") from None

    def read(self, filename: str) -> str:
        """The text of one of the cgroup's files."""
        return _read(os.path.join(self.path, filename))

    def open_fd(self) -> int:
        """An fd of the cgroup directory, for ``clone3(CLONE_INTO_CGROUP)``."""
        return os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def pids(self) -> list[int]:
        """The pids in the cgroup itself (``cgroup.procs``)."""
        return [int(p) for p in self.read("cgroup.procs").split()]

    def events(self, filename: str) -> dict[str, int]:
        """A flat-keyed file such as ``memory.events`` or ``cpu.stat`` as a dict."""
        try:
            text = self.read(filename)
        except FileNotFoundError:
            return {}
        return {k: int(v) for k, v in (line.split() for line in text.splitlines())}

    def oom_killed(self) -> int:
        """How many processes the OOM killer took in this cgroup."""
        return self.events("memory.events").get("oom_kill", 0)

    def stats(self) -> dict[str, int | str | None]:
        """Usage and limits: memory, pids, cpu time and throttling (what exists here)."""
        def number(filename: str) -> int | str | None:
            """A file's value as a number, its text (``max``), or None if absent."""
            try:
                value = self.read(filename).strip()
            except FileNotFoundError:
                return None
            return int(value) if value.isdigit() else value

        cpu = self.events("cpu.stat")
        memory_events = self.events("memory.events")
        return {
            "memory.current": number("memory.current"),
            "memory.peak": number("memory.peak"),
            "memory.max": number("memory.max"),
            "oom_kill": memory_events.get("oom_kill") if memory_events else None,
            "pids.current": number("pids.current"),
            "pids.max": number("pids.max"),
            "cpu.usage_usec": cpu.get("usage_usec"),
            "cpu.nr_periods": cpu.get("nr_periods"),
            "cpu.nr_throttled": cpu.get("nr_throttled"),
            "cpu.throttled_usec": cpu.get("throttled_usec"),
        }

    def freeze(self, frozen: bool = True) -> None:
        """Stop (or resume) every process in the cgroup, and wait until it took effect."""
        self.write("cgroup.freeze", "1" if frozen else "0")
        for _ in range(1000):
            if ("frozen 1" in self.read("cgroup.events")) == frozen:
                return
            time.sleep(0.001)
        raise CgroupError(errno.ETIMEDOUT, f"{self.path} did not {'' if frozen else 'un'}freeze")

    def kill(self) -> None:
        """SIGKILL every process in the cgroup at once (``cgroup.kill``, Linux 5.14),
        or one by one where the kernel is older.  A cgroup removed meanwhile (its
        monitor cleans up when the container ends) has nothing left to kill."""
        if os.path.exists(os.path.join(self.path, "cgroup.kill")):
            try:
                self.write("cgroup.kill", "1")
            except CgroupError as e:
                if e.errno != errno.ENOENT:
                    raise
            return
        try:  # an older kernel, or the cgroup went before cgroup.kill was looked for
            pids = self.pids()
        except FileNotFoundError:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def destroy(self, timeout: float = 5.0) -> None:
        """Remove the cgroup, killing what is still in it; a missing cgroup is fine."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError as e:
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise
            self.kill()
            time.sleep(0.005)


def _enable(cgroup: str, controllers: set[str]) -> None:
    enabled = set(_read(os.path.join(cgroup, "cgroup.subtree_control")).split())
    missing = controllers - enabled
    if missing:
        with open(os.path.join(cgroup, "cgroup.subtree_control"), "w") as f:
            f.write(" ".join(f"+{c}" for c in sorted(missing)))


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()
