"""The layers as switches on a :class:`~minicontainer.config.Config`, for ablation.

"Which layer stopped it?" is answered by running, never by reading an errno: a
bare EPERM cannot tell seccomp from a capability check.  So each layer here can
be switched off on a config and put back to the hardened default, and the
matrix runs an escape with exactly one layer changed.  The layer modules
themselves know nothing of this: a layer is only the config fields it reads.
"""

from __future__ import annotations

from minicontainer.namespaces import Namespace


class Layer:
    """One layer: how to tell it is on, switch it off, and put it back."""

    def __init__(self, name: str, what: str, is_on, remove, restore) -> None:
        self.name = name
        self.what = what
        self.is_on = is_on
        self.remove = remove
        self.restore = restore

    def __repr__(self) -> str:
        return f"Layer({self.name})"


def _namespace(flag: Namespace, network: bool = False):
    def is_on(cfg) -> bool:
        return bool(cfg.namespaces & flag)

    def remove(cfg) -> None:
        cfg.namespaces &= ~flag
        if network:
            cfg.network, cfg.ports = "host", []

    def restore(cfg) -> None:
        cfg.namespaces |= flag
        if network and cfg.network in ("host", "container"):
            cfg.network, cfg.network_path = "none", None

    return is_on, remove, restore


def _user_namespace():
    from minicontainer import idmap

    def remove(cfg) -> None:
        cfg.namespaces &= ~Namespace.USER
        cfg.uid_mappings, cfg.gid_mappings = [], []
        cfg.userns_range = "shared"

    def restore(cfg) -> None:
        cfg.namespaces |= Namespace.USER
        cfg.uid_mappings = idmap.default_mappings("uid")
        cfg.gid_mappings = idmap.default_mappings("gid")

    return (lambda cfg: bool(cfg.namespaces & Namespace.USER)), remove, restore


def _field(name: str, on, off):
    """A layer that is one field: ``on`` is its hardened value, ``off`` its weak one."""
    def is_on(cfg) -> bool:
        return getattr(cfg, name) == on()

    def remove(cfg) -> None:
        setattr(cfg, name, off())

    def restore(cfg) -> None:
        setattr(cfg, name, on())

    return is_on, remove, restore


def _capabilities():
    from minicontainer import capabilities
    from minicontainer.config import DEFAULT_CAPABILITIES

    def remove(cfg) -> None:
        cfg.capabilities = set(capabilities.ALL)

    def restore(cfg) -> None:
        cfg.capabilities = set(DEFAULT_CAPABILITIES)
        cfg.ambient_capabilities &= cfg.capabilities

    return (lambda cfg: cfg.capabilities <= DEFAULT_CAPABILITIES), remove, restore


def _seccomp():
    def remove(cfg) -> None:
        cfg.seccomp = False

    def restore(cfg) -> None:
        cfg.seccomp, cfg.seccomp_profile = True, None

    return (lambda cfg: cfg.seccomp and cfg.seccomp_profile is None), remove, restore


def _apparmor():
    def remove(cfg) -> None:
        cfg.apparmor_profile = "unconfined"

    def restore(cfg) -> None:
        cfg.apparmor_profile = None  # the default: minicontainer-default, where AppArmor runs

    return (lambda cfg: cfg.apparmor_profile in (None, "minicontainer-default")), remove, restore


def _limits():
    from minicontainer.config import Resources

    def is_on(cfg) -> bool:
        r = cfg.resources
        return r.memory is not None and r.pids is not None

    def remove(cfg) -> None:
        cfg.resources = Resources()

    def restore(cfg) -> None:
        cfg.resources.memory = cfg.resources.memory or HARDENED_MEMORY
        cfg.resources.pids = cfg.resources.pids or HARDENED_PIDS

    return is_on, remove, restore


HARDENED_MEMORY = 256 * 1024 * 1024
HARDENED_PIDS = 256


def all_layers() -> list[Layer]:
    """Every layer the matrix has a column for, in the order of the recipe; AppArmor
    only where the kernel runs it (elsewhere there is nothing to put back)."""
    from minicontainer import apparmor
    from minicontainer.config import MASKED_PATHS, READONLY_PATHS

    mac = [Layer("apparmor", "the minicontainer-default AppArmor profile", *_apparmor())
           ] if apparmor.enabled() else []
    return [
        Layer("user ns", "a user namespace: container root is a nobody on the host",
              *_user_namespace()),
        Layer("pid ns", "a pid namespace: host processes are out of sight",
              *_namespace(Namespace.PID)),
        Layer("net ns", "a network namespace: host sockets are out of reach",
              *_namespace(Namespace.NET, network=True)),
        Layer("cgroup ns", "a cgroup namespace: new cgroup v1 hierarchies cannot be made",
              *_namespace(Namespace.CGROUP)),
        Layer("pivot_root", "pivot_root and the old root detached (not chroot)",
              *_field("root_mode", lambda: "pivot", lambda: "chroot")),
        Layer("propagation", "private mount propagation",
              *_field("rootfs_propagation", lambda: "rprivate", lambda: "rshared")),
        Layer("masked paths", "host information in /proc and /sys hidden",
              *_field("masked_paths", lambda: list(MASKED_PATHS), list)),
        Layer("read-only paths", "/proc/sys, sysrq-trigger and others read-only",
              *_field("readonly_paths", lambda: list(READONLY_PATHS), list)),
        Layer("/sys ro", "/sys mounted read-only",
              *_field("sys_readonly", lambda: True, lambda: False)),
        Layer("capabilities", "Docker's 14 capabilities, no more", *_capabilities()),
        Layer("no_new_privs", "no privilege gained through execve",
              *_field("no_new_privileges", lambda: True, lambda: False)),
        *mac,
        Layer("seccomp", "the default seccomp allowlist", *_seccomp()),
        Layer("devices", "the BPF device program",
              *_field("device_cgroup", lambda: True, lambda: False)),
        Layer("fd hygiene", "fds above 2 closed, the cwd proved inside the root",
              *_field("close_fds", lambda: True, lambda: False)),
        Layer("new session", "a session of its own: no terminal to type into",
              *_field("new_session", lambda: True, lambda: False)),
        Layer("cgroup limits", "memory and pids limits", *_limits()),
    ]


def find(name: str) -> Layer:
    """The layer called ``name``; KeyError if there is none."""
    for layer in all_layers():
        if layer.name == name:
            return layer
    raise KeyError(name)
