"""An OCI ``process`` object, as ``exec --process FILE`` takes it (runc's
``exec -p``), made into the :class:`~minicontainer.config.Config` of one more
process in a running container.

The object is the whole process, as runc reads it: its ``args``, ``env``,
``cwd``, ``user`` and ``terminal`` replace the container's, the environment
too (nothing of the container's ``process.env`` is kept; minicontainer fills in
``PATH`` and ``HOME`` when missing, as for every command).  What it leaves out
of ``capabilities``, ``noNewPrivileges``, ``apparmorProfile``, ``rlimits`` and
``oomScoreAdj`` stays the container's: runc takes a missing ``noNewPrivileges``
as false, but a field left out never weakens a process here.  A field this
runtime cannot honour is refused by name.
"""

from __future__ import annotations

import resource

from minicontainer.config import Config, ConfigError, read_json_object

# The container's values stand for these when the process object leaves them out.
_INHERITED = ("capabilities", "noNewPrivileges", "apparmorProfile", "rlimits", "oomScoreAdj")
_CAPABILITY_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")
_REFUSED = {
    "selinuxLabel": "cannot be honoured: minicontainer has no SELinux layer",
    "ioPriority": "cannot be honoured: minicontainer sets no I/O priority",
    "scheduler": "cannot be honoured: minicontainer sets no scheduling policy",
    "execCPUAffinity": "cannot be honoured: minicontainer sets no CPU affinity",
    "commandLine": "is Windows only",
}
_FIELDS = {"terminal", "consoleSize", "user", "args", "env", "cwd", *_INHERITED}


def load(path: str) -> dict:
    """The process object in the JSON file at ``path``."""
    return read_json_object(path, "process")


def exec_config(container: dict, process: dict) -> tuple[Config, tuple[int, int] | None]:
    """The Config of ``process`` run in the container whose config.json is
    ``container``, and the terminal's size (rows, columns) it asks for, if any."""
    _check_fields(process)
    merged = {key: container.get("process", {})[key] for key in _INHERITED
              if key not in process and key in container.get("process", {})}
    merged.update(process)
    return Config.from_oci({**container, "process": merged}), _console_size(process)


def _check_fields(process: dict) -> None:
    """Every field known and of its type, the required ones there."""
    for key, value in process.items():
        if key in _REFUSED and value not in ("", None):
            raise ConfigError(f"process.{key}", value, _REFUSED[key])
        if key not in _FIELDS and key not in _REFUSED:
            raise ConfigError(f"process.{key}", value, "is not a field of an OCI process")
    args = process.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise ConfigError("process.args", args, "is not a non-empty list of strings")
    cwd = process.get("cwd")
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise ConfigError("process.cwd", cwd, "is missing or not an absolute path")
    env = process.get("env", [])
    if not isinstance(env, list) or not all(isinstance(e, str) for e in env):
        raise ConfigError("process.env", env, "is not a list of NAME=VALUE strings")
    for key in ("terminal", "noNewPrivileges"):
        if key in process and not isinstance(process[key], bool):
            raise ConfigError(f"process.{key}", process[key], "is not true or false")
    if "apparmorProfile" in process and not isinstance(process["apparmorProfile"], str):
        raise ConfigError("process.apparmorProfile", process["apparmorProfile"],
                          "is not a string")
    if "oomScoreAdj" in process:
        _check_int("process.oomScoreAdj", process["oomScoreAdj"], -1000, 1000)
    if "rlimits" in process:
        _check_rlimits(process["rlimits"])
    _check_user(process.get("user", {}))
    if "capabilities" in process:
        _check_capabilities(process["capabilities"], process.get("user", {}).get("uid", 0))


def _check_int(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(field, value, f"is not a whole number from {low} to {high}")
    return value


def _check_user(user: object) -> None:
    if not isinstance(user, dict):
        raise ConfigError("process.user", user, "is not an object")
    for key, value in user.items():
        if key in ("uid", "gid"):
            _check_int(f"process.user.{key}", value, 0, 2**32 - 2)
        elif key == "umask":
            _check_int("process.user.umask", value, 0, 0o777)
        elif key == "additionalGids":
            if not isinstance(value, list):
                raise ConfigError("process.user.additionalGids", value, "is not a list of gids")
            for gid in value:
                _check_int("process.user.additionalGids", gid, 0, 2**32 - 2)
        elif key == "username":
            raise ConfigError("process.user.username", value, "is Windows only")
        else:
            raise ConfigError(f"process.user.{key}", value, "is not a field of an OCI user")


def _check_capabilities(caps: object, uid: int) -> None:
    """The five sets, of capability names, in a shape minicontainer's model holds:
    root's permitted and effective sets are its bounding set; another user's may
    be any part of the bounding set, since the execve leaves such a user its
    ambient set and nothing more whatever they hold (as with runc, whose podman
    exec of a user lists the bounding set there)."""
    from minicontainer import capabilities

    if not isinstance(caps, dict):
        raise ConfigError("process.capabilities", caps, "is not an object")
    for kind, names in caps.items():
        field = f"process.capabilities.{kind}"
        if kind not in _CAPABILITY_SETS:
            raise ConfigError(field, names, "is not a capability set")
        if not isinstance(names, list) or not all(
                isinstance(n, str) and n in capabilities.ALL for n in names):
            raise ConfigError(field, names, "is not a list of capability names (CAP_...)")
    bounding = set(caps.get("bounding", []))
    for kind in ("permitted", "effective"):
        if kind not in caps:
            continue
        if uid == 0 and set(caps[kind]) != bounding:
            raise ConfigError(f"process.capabilities.{kind}", caps[kind],
                              "cannot be honoured: for uid 0 it must equal the bounding set")
        if uid != 0 and not set(caps[kind]) <= bounding | set(caps.get("ambient", [])):
            raise ConfigError(f"process.capabilities.{kind}", caps[kind],
                              "cannot be honoured: it holds more than the bounding set")


def _check_rlimits(rlimits: object) -> None:
    """``[{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}, ...]``, each type once."""
    if not isinstance(rlimits, list):
        raise ConfigError("process.rlimits", rlimits, "is not a list")
    seen = set()
    for i, entry in enumerate(rlimits):
        field = f"process.rlimits[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"type", "soft", "hard"}:
            raise ConfigError(field, entry, "is not an object with type, soft and hard")
        kind = entry.get("type")
        if not isinstance(kind, str) or not kind.startswith("RLIMIT_") \
                or not hasattr(resource, kind):
            raise ConfigError(f"{field}.type", kind, "is not an RLIMIT_ name")
        soft = _check_int(f"{field}.soft", entry.get("soft"), 0, 2**64 - 1)
        hard = _check_int(f"{field}.hard", entry.get("hard"), 0, 2**64 - 1)
        if soft > hard:
            raise ConfigError(f"{field}.soft", soft, f"is above the hard limit {hard}")
        if kind in seen:
            raise ConfigError(f"{field}.type", kind, "is given twice")
        seen.add(kind)


def _console_size(process: dict) -> tuple[int, int] | None:
    size = process.get("consoleSize")
    if size is None:
        return None
    if not isinstance(size, dict) or set(size) != {"height", "width"}:
        raise ConfigError("process.consoleSize", size, "is not an object with height and width")
    if not process.get("terminal"):
        raise ConfigError("process.consoleSize", size, "goes with process.terminal true")
    return (_check_int("process.consoleSize.height", size["height"], 0, 65535),
            _check_int("process.consoleSize.width", size["width"], 0, 65535))
