"""Drive podman against an OCI runtime without touching the host's podman setup.

Every podman call runs in one private mount namespace, held for the session by a
``sleep`` whose only job is to keep it alive: there, on a hybrid host, the cgroup v2
hierarchy (/sys/fs/cgroup/unified) is bound over /sys/fs/cgroup, so podman and the runtime
never see the v1 hierarchies, which belong to the machine; and whatever podman or conmon
mount (a container's /dev/shm) stays out of the host's mount table. Storage, podman's
temporary and event files, its network configuration and the containers' cgroups all live
under one session directory and one session cgroup, both removed at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
import time

IMAGE = "localhost/busybox"
TIMEOUT = 60

CONTAINERS_CONF = """\
[containers]
log_driver = "k8s-file"

[network]
network_backend = "cni"
network_config_dir = "{top}/networks"

[engine]
runtime = "minicontainer"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{top}/events.log"
tmp_dir = "{top}/tmp"
image_copy_tmp_dir = "{top}/copy"
static_dir = "{top}/root/libpod"
volume_path = "{top}/root/volumes"
runtime_supports_json = ["minicontainer"]

[engine.runtimes]
minicontainer = ["{runtime}"]
"""

STORAGE_CONF = """\
[storage]
driver = "vfs"
graphroot = "{top}/root"
runroot = "{top}/run"
"""


class Podman:
    """podman with its configuration, storage and mount namespace private to a session."""

    def __init__(self, runtime: str, rootfs: str, cgroup2: str):
        self.runtime = runtime
        self.cgroup2 = cgroup2
        self.top = tempfile.mkdtemp(prefix="mc-podman-")
        for sub in ("networks", "tmp", "copy"):
            os.mkdir(os.path.join(self.top, sub))
        # cgroupfs puts each container under --cgroup-parent and conmon under its "conmon"
        # child: a session cgroup keeps podman's cgroups apart from the host's and ours.
        self.cgroup_parent = "/" + os.path.basename(self.top)
        self.cgroup = os.path.join(cgroup2, self.cgroup_parent.lstrip("/"))
        self.env = {**os.environ,
                    "CONTAINERS_CONF": self._write("containers.conf", CONTAINERS_CONF),
                    "CONTAINERS_STORAGE_CONF": self._write("storage.conf", STORAGE_CONF),
                    "CONTAINERS_REGISTRIES_CONF": self._write("registries.conf", ""),
                    "TMPDIR": os.path.join(self.top, "tmp")}
        self.holder = self._hold_namespace()
        try:
            self._import(rootfs)
        except BaseException:
            self.close()
            raise

    def _write(self, name: str, template: str) -> str:
        path = os.path.join(self.top, name)
        with open(path, "w") as f:
            f.write(template.format(top=self.top, runtime=self.runtime))
        return path

    def _hold_namespace(self) -> subprocess.Popen:
        bind = "" if self.cgroup2 == "/sys/fs/cgroup" else \
            f"mount --bind {self.cgroup2} /sys/fs/cgroup && "
        holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f"{bind}echo ready && exec sleep infinity"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        if holder.stdout.readline().strip() != "ready":
            holder.wait(timeout=TIMEOUT)
            raise RuntimeError(f"cannot bind {self.cgroup2} over /sys/fs/cgroup "
                               "in a mount namespace")
        return holder

    def _import(self, rootfs: str) -> None:
        archive = os.path.join(self.top, "busybox.tar")
        with tarfile.open(archive, "w") as tar:
            tar.add(rootfs, arcname=".")
        # c/image keeps a blob cache in /var/lib/containers/cache whatever --root says:
        # the import sees /var/lib through an overlay whose upper layer is ours.
        varlib = os.path.join(self.top, "varlib")
        os.makedirs(os.path.join(varlib, "upper"))
        os.mkdir(os.path.join(varlib, "work"))
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   "mount -t overlay overlay -o lowerdir=/var/lib,upperdir=$0/upper,"
                   'workdir=$0/work /var/lib && exec "$@"', varlib,
                   "podman", "import", archive, IMAGE]
        result = subprocess.run(command, env=self.env, capture_output=True, text=True,
                                timeout=TIMEOUT)
        if result.returncode != 0:
            raise AssertionError(f"podman import exited {result.returncode}: {result.stderr}")
        os.unlink(archive)

    def argv(self, args: list[str]) -> list[str]:
        """The host command line of ``podman ARGS`` in the session's namespace."""
        if args and args[0] in ("run", "create"):
            args = [args[0], "--cgroup-parent", self.cgroup_parent, *args[1:]]
        return ["nsenter", f"--target={self.holder.pid}", "--mount", "--",
                "podman", *args]

    def __call__(self, args: list[str], check: bool = False, **kwargs
                 ) -> subprocess.CompletedProcess:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        kwargs.setdefault("timeout", TIMEOUT)
        result = subprocess.run(self.argv(args), env=self.env, **kwargs)
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}{result.stderr}")
        return result

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        """``podman run --rm`` of busybox with the flags every run needs here, then ARGS:
        no network, and rlimits and a pids limit that need no cgroup controller."""
        return self(["run", "--rm", "--network", "none", "--pids-limit", "0",
                     "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                     *args], **kwargs)

    def detached(self, *args: str) -> str:
        """The id of a container started with ``podman run -d ARGS`` (removed by the caller)."""
        result = self(["run", "-d", "--network", "none", "--pids-limit", "0",
                       "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                       *args], check=True)
        return result.stdout.strip()

    def status(self, container: str) -> str:
        return self(["inspect", "-f", "{{.State.Status}}", container],
                    check=True).stdout.strip()

    def settle(self) -> None:
        """Wait until no podman, conmon or runtime process is left in the session's
        namespace. A container's exit makes conmon run podman's exit command (``podman
        container cleanup``), which calls the runtime after the podman command that saw
        the exit (``wait``, ``rm``, ``run --rm``) may have returned; call with no
        container left running, whose conmon would stay."""
        mine = os.readlink(f"/proc/{self.holder.pid}/ns/mnt")
        deadline = time.monotonic() + TIMEOUT
        while True:
            left = {}
            for entry in os.listdir("/proc"):
                if not entry.isdigit() or int(entry) == self.holder.pid:
                    continue
                try:
                    if os.readlink(f"/proc/{entry}/ns/mnt") != mine:
                        continue
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        left[int(entry)] = f.read().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue  # gone, or not ours to look at
            if not left:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"podman's processes did not end: {left}")
            time.sleep(0.05)

    def close(self) -> None:
        """Remove every container, the storage, the session cgroup and the namespace."""
        self(["rm", "--all", "--force", "--time", "0"])
        # vfs layers are plain directories, but podman's --root may hold mounts made
        # inside the namespace: unmount there before the directory goes.
        subprocess.run(["nsenter", f"--target={self.holder.pid}", "--mount", "--",
                        "umount", "-R", "-q", self.top], stderr=subprocess.DEVNULL)
        self.holder.kill()
        self.holder.wait(timeout=TIMEOUT)
        self.holder.stdout.close()
        _remove_cgroup(self.cgroup)
        shutil.rmtree(self.top, ignore_errors=True)


def _remove_cgroup(path: str) -> None:
    """rmdir a cgroup tree, children first; a cgroup empties a moment after its last
    process has been reaped."""
    if not os.path.isdir(path):
        return
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            _remove_cgroup(entry.path)
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.1)
    os.rmdir(path)
