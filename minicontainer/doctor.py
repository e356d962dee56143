"""``minicontainer doctor``: can this machine run minicontainer, and what is missing?

Each check returns a :class:`Finding`: ``ok``, ``warn`` (works, with less) or
``fail`` (a container cannot start), with how to fix it.
"""

from __future__ import annotations

import os
import shutil

from minicontainer import apparmor, cgroups, devices, execstub, idmap, rootfs, seccomp
from minicontainer.errors import ContainerError

MIN_KERNEL = (5, 12)  # mount_setattr; clone3 into a cgroup needs 5.7, overlay in a userns 5.11
ALL_CONTROLLERS = ("cpu", "cpuset", "io", "memory", "pids")


class Finding:
    """The outcome of one check."""

    def __init__(self, level: str, what: str, fix: str = "") -> None:
        self.level = level
        self.what = what
        self.fix = fix

    def __str__(self) -> str:
        line = f"{self.level:5} {self.what}"
        return f"{line}\n      fix: {self.fix}" if self.fix else line


def check_root() -> Finding:
    """minicontainer needs root."""
    if os.geteuid() == 0:
        return Finding("ok", "running as root")
    return Finding("fail", "not running as root", "run it with sudo")


def check_kernel() -> Finding:
    """A kernel with every syscall the runtime uses."""
    release = os.uname().release
    if seccomp.kernel_version(release) >= MIN_KERNEL:
        return Finding("ok", f"kernel {release}")
    wanted = ".".join(map(str, MIN_KERNEL))
    return Finding("fail", f"kernel {release} is older than {wanted}",
                   f"boot a kernel {wanted} or newer (Debian 12 ships 6.1)")


def check_user_namespaces() -> Finding:
    """User namespaces, for the default mapping."""
    if idmap.user_namespaces_enabled():
        return Finding("ok", "user namespaces enabled")
    return Finding("fail", "user namespaces are off: default containers cannot start",
                   "sysctl -w user.max_user_namespaces=15000 (or use --userns host)")


def check_apparmor_userns() -> Finding | None:
    """Ubuntu's AppArmor switch; None where the kernel has none."""
    path = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
    if not os.path.exists(path):
        return None
    with open(path) as f:
        restricted = f.read().strip() == "1"
    state = "restricts" if restricted else "does not restrict"
    return Finding("ok", f"AppArmor {state} unprivileged user namespaces (minicontainer runs "
                   "as root: not affected)")


def check_apparmor() -> Finding:
    """AppArmor, for the default profile: where it runs, that the profile can be
    loaded; where it does not, said once here (containers then run without it)."""
    if not apparmor.enabled():
        return Finding("warn", f"AppArmor is not enabled ({apparmor.why_not_enabled()}): "
                       "containers run without a mandatory access control profile, and "
                       "--security-opt apparmor=PROFILE is refused",
                       "boot a kernel with AppArmor (Debian's default; the kernel command "
                       "line may need apparmor=1 security=apparmor)")
    try:
        loaded = apparmor.loaded_profiles()
    except ContainerError as e:
        return Finding("fail", str(e), f"mount -t securityfs securityfs {apparmor.SECURITYFS}")
    if apparmor.DEFAULT_PROFILE in loaded:
        state = f"loaded ({loaded[apparmor.DEFAULT_PROFILE]})"
    elif apparmor.parser_path() is not None:
        state = "loaded by the first container"
    else:
        return Finding("fail", f"AppArmor is enabled, but {apparmor.PARSER} is missing: "
                       f"{apparmor.DEFAULT_PROFILE} cannot be loaded, and containers start "
                       "only with --security-opt apparmor=unconfined",
                       "apt-get install apparmor")
    return Finding("ok", f"AppArmor enabled: containers run under {apparmor.DEFAULT_PROFILE}, "
                   f"{state}")


def check_selinux() -> Finding:
    """SELinux is detected only: minicontainer applies no SELinux labels."""
    if apparmor.selinux_enabled():
        return Finding("warn", "SELinux is enabled, and minicontainer applies no SELinux "
                       "labels: containers run in the runtime's own context")
    return Finding("ok", "SELinux is not enabled (minicontainer applies no SELinux labels)")


def check_cgroups() -> Finding:
    """cgroup v2 and which of its controllers can limit containers."""
    hierarchy = cgroups.find_hierarchy()
    if hierarchy is None:
        return Finding("fail", "no cgroup v2 mount: containers run without limits or pause, "
                       "and only with --security-opt devices=unconfined (no device layer)",
                       "boot with systemd.unified_cgroup_hierarchy=1")
    have = sorted(c for c in ALL_CONTROLLERS if c in hierarchy.controllers)
    missing = sorted(set(ALL_CONTROLLERS) - set(have))
    if not missing:
        return Finding("ok", f"cgroup v2 at {hierarchy.mountpoint} with {' '.join(have)}")
    layout = "a hybrid layout (controllers in cgroup v1)" if hierarchy.hybrid else "cgroup v2"
    return Finding("warn", f"cgroup v2 at {hierarchy.mountpoint}, {layout}, lacks "
                   f"{' '.join(missing)}: limits on them are refused",
                   "boot with systemd.unified_cgroup_hierarchy=1 (the default on Debian 12), "
                   "or run `make test-vm`")


def check_device_programs() -> Finding | None:
    """A cgroup device program loads, for the device layer; None without root."""
    if os.geteuid() != 0:
        return None
    try:
        devices.try_load()
    except OSError as e:
        return Finding("fail", f"BPF cgroup device programs do not load here ({e.strerror}): "
                       "containers start only with --security-opt devices=unconfined",
                       "a kernel with CONFIG_BPF_SYSCALL and CONFIG_CGROUP_BPF")
    return Finding("ok", "BPF cgroup device programs load (the device layer)")


def check_overlayfs() -> Finding:
    """overlayfs, for the private writable layer."""
    with open("/proc/filesystems") as f:
        if any(line.split()[-1] == "overlay" for line in f):
            return Finding("ok", "overlayfs available")
    return Finding("warn", "overlayfs is not loaded: use --no-overlay",
                   "modprobe overlay")


def check_libseccomp() -> Finding:
    """libseccomp 2.5 or newer."""
    version = seccomp.libseccomp_version()
    major, minor = (int(n) for n in version.split(".")[:2])
    if (major, minor) >= (2, 5):
        return Finding("ok", f"libseccomp {version}")
    return Finding("warn", f"libseccomp {version} is older than 2.5", "upgrade libseccomp2")


def check_rootfs() -> Finding:
    """The default busybox rootfs, or what it is built from."""
    path = rootfs.stored(rootfs.DEFAULT_NAME)
    if os.path.exists(os.path.join(path, rootfs.PROBE_PATH)):
        return Finding("ok", f"default rootfs at {path}")
    if not os.access(rootfs.BUSYBOX, os.X_OK):
        return Finding("fail", f"no default rootfs and no {rootfs.BUSYBOX} to build it from",
                       "apt-get install busybox-static")
    return Finding("warn", "the default rootfs is not built yet (the first run builds it)",
                   "minicontainer rootfs build busybox")


def check_memfd_exec() -> Finding | None:
    """Executable memfds, for the exec stub; None on a kernel before 6.3 (always allowed)."""
    try:
        with open(execstub.MEMFD_NOEXEC) as f:
            value = f.read().strip()
    except FileNotFoundError:
        return None
    if value == "2":
        return Finding("fail", execstub.NOEXEC_MEMFDS,
                       "run it from a pid namespace where vm.memfd_noexec is 0 or 1")
    return Finding("ok", f"vm.memfd_noexec is {value}: the exec stub may run from a memfd")


def check_nftables() -> Finding:
    """nft, for published ports."""
    if shutil.which("nft"):
        return Finding("ok", "nftables (nft) available")
    return Finding("warn", "nft is missing: bridge networking cannot publish ports",
                   "apt-get install nftables")


CHECKS = (check_root, check_kernel, check_user_namespaces, check_apparmor, check_apparmor_userns,
          check_selinux,
          check_cgroups, check_device_programs, check_overlayfs, check_libseccomp, check_rootfs,
          check_memfd_exec, check_nftables)


def run_checks() -> list[Finding]:
    """Every check that applies here, in order."""
    return [finding for check in CHECKS if (finding := check()) is not None]
