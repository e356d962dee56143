"""AppArmor: a mandatory access control layer, the profile a container's command runs under.

AppArmor is a Linux Security Module (LSM): the kernel asks it about every
file opened, every mount, every signal and ptrace, and it answers from the
*profile* the process runs under, whatever the process's uid or capabilities.
Root in a container with ``CAP_SYS_ADMIN`` and no seccomp filter still cannot
mount if its profile says ``deny mount``.

minicontainer's profile, ``PROFILE_TEXT``, is loaded into the kernel on
demand (``apparmor_parser -Kr``) and reloaded only when its text changes: a
hash of the text is kept in ``CACHE_DIR``, which like the kernel's policy
lasts until the next boot.  A container enters it on exec: the last step of
the init writes ``exec minicontainer-default`` to its own
``/proc/thread-self/attr/apparmor/exec``, and the kernel switches the profile
at the next execve, as runc does (:func:`exec_profile`).

Where the kernel does not run AppArmor, a container runs without it by default
(``doctor`` and ``mc-probe`` say so); asking for a profile there is an error.
SELinux is only detected (:func:`selinux_enabled`): minicontainer applies no
SELinux labels.

Example::

    from minicontainer import apparmor

    name = apparmor.resolve(None)          # "minicontainer-default" or "unconfined"
    if name != apparmor.UNCONFINED:
        apparmor.ensure_loaded(name)       # in the runtime, on the host
    ...
    apparmor.exec_profile(name)            # in the init, just before execve
"""

from __future__ import annotations

import errno
import os

from minicontainer.config import ConfigError
from minicontainer.errors import ContainerError

DEFAULT_PROFILE = "minicontainer-default"
UNCONFINED = "unconfined"
CACHE_DIR = "/run/minicontainer-apparmor"  # /run: the kernel forgets loaded profiles at boot too
ENABLED_PARAMETER = "/sys/module/apparmor/parameters/enabled"
SECURITYFS = "/sys/kernel/security"
LOADED_PROFILES = "/sys/kernel/security/apparmor/profiles"
SELINUXFS = "/sys/fs/selinux"  # the kernel makes this mount point only when SELinux runs
PARSER = "apparmor_parser"
# The per-thread attribute: a profile set for the next exec is a property of the
# thread that calls execve.  The LSM-named file exists from Linux 5.1 on.
EXEC_ATTRIBUTES = ("/proc/thread-self/attr/apparmor/exec", "/proc/thread-self/attr/exec")

PROFILE_TEXT = """\
# minicontainer-default: the AppArmor profile of a minicontainer container.
#
# A second wall behind the other layers: what the namespaces, capabilities,
# seccomp and the masked and read-only paths stop, this stops again by path and
# operation, so that one weakened layer is not yet a way out.  Each deny names
# the escape of the catalogue (minicontainer escape list) it stops.
# minicontainer loads it with `apparmor_parser -Kr` and puts a container's
# command in it on exec.  docs/layers/apparmor.md explains every rule.

profile minicontainer-default flags=(attach_disconnected,mediate_deleted) {
  # The base: what the other layers already judge stays theirs. Files by path
  # (the denies below cut holes in this), sockets, capabilities.
  file,
  network,
  capability,

  # Signals come from the host (minicontainer kill, the runtime's forwarding)
  # and from the container's own processes, and go only to those: not to a host
  # process the container can see with --share pid.
  signal (receive) peer=unconfined,
  signal (send, receive) peer=minicontainer-default,

  # ptrace, and reading another process's /proc/PID/{root,exe,mem,environ,ns},
  # only within this profile: no host process is reachable even when its pid is
  # in sight and CAP_SYS_PTRACE is granted.
  # Stops ptrace-inject, proc-root, proc-self-exe and nsenter-host.
  ptrace (trace, read, tracedby, readby) peer=minicontainer-default,

  # No mount of any kind, no unmount, no new root: with CAP_SYS_ADMIN and no
  # seccomp a container could otherwise mount the host's disk or a procfs, a
  # cgroup v1 hierarchy with a release_agent, or unmount a masked path's cover.
  # Stops sys-admin-mount, release-agent and propagation-leak.
  deny mount,
  deny remount,
  deny umount,
  deny pivot_root,

  # No writes to the files at the top of /proc: /proc/sysrq-trigger (reboot,
  # crash or freeze the host), /proc/kmsg and the like.  Stops sysrq-trigger.
  deny /proc/* w,
  deny /proc/sysrq-trigger rwklx,
  # Nor below a /proc directory that is not a process: /proc/sys (core_pattern
  # runs a host program as root; modprobe, hotplug), /proc/fs, /proc/irq,
  # /proc/bus, /proc/driver.  Stops core-pattern.
  deny /proc/[^0-9]*/** w,
  # The host kernel's memory, and the keys of every user on the kernel, not even
  # to read, should their masks be gone.  Stops masked-proc.
  deny /proc/kcore rwklx,
  deny /proc/keys rwklx,

  # No writes to /sys outside /sys/fs/cgroup, even when /sys is mounted
  # read-write: /sys/kernel/uevent_helper (runs a host program as root), device
  # and driver knobs, /sys/power/state.
  deny /sys/[^f]*/** wklx,
  deny /sys/f[^s]*/** wklx,
  deny /sys/fs/[^c]*/** wklx,
  deny /sys/fs/c[^g]*/** wklx,
  deny /sys/fs/cg[^r]*/** wklx,
  # Firmware tables and EFI variables; and securityfs, where this very profile
  # could be replaced or removed.
  deny /sys/firmware/** rwklx,
  deny /sys/kernel/security/** rwklx,
}
"""


def enabled() -> bool:
    """Whether this kernel runs AppArmor (its module parameter says ``Y``)."""
    try:
        with open(ENABLED_PARAMETER) as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    """Whether this kernel runs SELinux (detected only: minicontainer sets no labels)."""
    return os.path.isdir(SELINUXFS)


def why_not_enabled() -> str:
    """Why a profile cannot be applied here, for messages."""
    if os.path.exists(ENABLED_PARAMETER):
        return f"this kernel has AppArmor, but it is switched off ({ENABLED_PARAMETER} is N)"
    return "this kernel does not run AppArmor"


def resolve(requested: str | None) -> str:
    """The profile a container gets: ``requested``, or where it is None the default
    (``minicontainer-default`` where AppArmor runs, else ``unconfined``).

    Asking for a profile on a host without AppArmor is a
    :class:`~minicontainer.config.ConfigError`.
    """
    if requested == UNCONFINED:
        return UNCONFINED
    if requested is None:
        return DEFAULT_PROFILE if enabled() else UNCONFINED
    if not enabled():
        raise ConfigError("apparmor_profile", requested,
                          f"needs AppArmor, and {why_not_enabled()}: use --security-opt "
                          "apparmor=unconfined or leave the option out")
    return requested


def loaded_profiles() -> dict[str, str]:
    """The profiles the kernel holds, name -> mode (``enforce``, ``complain``)."""
    try:
        with open(LOADED_PROFILES) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise ContainerError(f"AppArmor runs, but securityfs is not mounted at {SECURITYFS} "
                             f"(mount -t securityfs securityfs {SECURITYFS})") from None
    profiles = {}
    for line in lines:
        name, _, mode = line.rpartition(" (")
        profiles[name] = mode.rstrip(")")
    return profiles


def ensure_loaded(name: str) -> None:
    """Make sure the kernel holds profile ``name``; load ``PROFILE_TEXT`` if it is
    the default and the kernel lacks it or holds an older text.

    Another profile is the administrator's to load (``apparmor_parser -r FILE``);
    if the kernel lacks it, that is an error.
    """
    loaded = loaded_profiles()
    if name != DEFAULT_PROFILE:
        if name not in loaded:
            raise ConfigError("apparmor_profile", name, "is not a loaded AppArmor profile "
                              "(load it with apparmor_parser -r FILE)")
        return
    import hashlib

    digest = hashlib.sha256(PROFILE_TEXT.encode()).hexdigest()
    stamp = os.path.join(CACHE_DIR, f"{name}.sha256")
    if name in loaded and _read(stamp) == digest:
        return
    load(PROFILE_TEXT)
    os.makedirs(CACHE_DIR, mode=0o700, exist_ok=True)
    partial = f"{stamp}.{os.getpid()}"
    with open(partial, "w") as f:
        f.write(digest)
    os.replace(partial, stamp)


def load(text: str) -> None:
    """Load (or replace) the profiles in ``text`` into the kernel, skipping the
    parser's cache (``apparmor_parser -K -r``)."""
    import subprocess

    parser = parser_path()
    if parser is None:
        raise ContainerError(f"AppArmor profile {DEFAULT_PROFILE}: {PARSER} is missing "
                             "(apt-get install apparmor), or run with --security-opt "
                             "apparmor=unconfined")
    result = subprocess.run([parser, "-K", "-r"], input=text, capture_output=True,
                            text=True, timeout=60)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise ContainerError(f"AppArmor profile {DEFAULT_PROFILE}: {PARSER} failed "
                             f"({lines[-1] if lines else f'exit {result.returncode}'})")


def parser_path() -> str | None:
    """Where ``apparmor_parser`` is: on PATH, or in the sbin directories a user's PATH
    may lack."""
    import shutil

    return shutil.which(PARSER) or shutil.which(PARSER, path="/usr/sbin:/sbin")


def exec_profile(name: str) -> None:
    """Ask the kernel to switch this thread to profile ``name`` at its next execve.

    Runs in the container's init or exec helper, after the pivot, where no
    module can be imported: plain ``os`` calls only.
    """
    request = f"exec {name}".encode()
    for path in EXEC_ATTRIBUTES:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # a kernel before 5.1 has only the shared attr/exec
        try:
            os.write(fd, request)
        except OSError as e:
            raise OSError(e.errno, e.strerror, f"apparmor: write 'exec {name}' to {path}") \
                from None
        finally:
            os.close(fd)
        return
    raise OSError(errno.ENOENT, "no AppArmor exec attribute under /proc/thread-self/attr "
                  "(is /proc mounted?)", f"apparmor: profile {name}")


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None
