"""What a bundle's config.json may hold: exactly the part of the OCI runtime spec
minicontainer carries out, and nothing it would silently ignore.

The shape (keys, types, ranges, names) is the JSON schema in
``schemas/config.json``; every object in it refuses keys it does not list, so a
field minicontainer does not support is an error naming it, never a setting
that quietly does nothing.  What a schema cannot say (capabilities this kernel
has, soft limits above hard ones, a type given twice) is checked here.
``linux.seccomp`` is only required to be an object: :mod:`minicontainer.seccomp`
validates the profile.

Example::

    from minicontainer import bundle_schema, oci

    doc = oci.default_spec()
    doc["domainname"] = "example.org"
    bundle_schema.check(doc)
    # ConfigError: domainname: 'example.org' is not supported by minicontainer: ...
"""

from __future__ import annotations

import json
import os
import re

from minicontainer.config import ConfigError

_SCHEMA = os.path.join(os.path.dirname(__file__), "schemas", "config.json")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check(doc: dict) -> None:
    """Raise :class:`~minicontainer.config.ConfigError` for the first field of
    ``doc`` (a parsed config.json) that minicontainer does not support; its
    ``field`` is the dotted path, such as ``process.rlimits[1].type``."""
    _check_schema(doc)
    _check_capabilities(doc["process"].get("capabilities", {}))
    _check_rlimits(doc["process"].get("rlimits", []))
    _check_mounts(doc.get("mounts", []))
    linux = doc.get("linux", {})
    _check_namespaces(linux.get("namespaces", []))
    _check_swap(linux.get("resources", {}).get("memory", {}))


def _check_schema(doc: object) -> None:
    import jsonschema

    with open(_SCHEMA) as f:
        schema = json.load(f)
    base = jsonschema.Draft202012Validator
    # JSON's 1.0 is a float in Python: an id, a limit or a mode must be written 1.
    types = base.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool))
    validator = jsonschema.validators.extend(base, type_checker=types)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        raise _schema_error(error)


def _path(parts) -> str:
    """``["process", "rlimits", 1, "type"]`` -> ``process.rlimits[1].type``; a key
    that is not a plain name is quoted: ``linux.sysctl."net.ipv4.ip_forward"``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if _NAME.fullmatch(part) else f".{json.dumps(part)}"
    return text.lstrip(".")


def _schema_error(error) -> ConfigError:
    """The error for one jsonschema error, worded by the ``x-`` hints of its subschema."""
    parts = list(error.absolute_path)
    schema, instance = error.schema, error.instance
    if error.validator == "additionalProperties":
        key = next(k for k in instance if k not in schema.get("properties", {}))
        why = schema.get("x-refused", {}).get(key) or schema.get(
            "x-unknown", "is not supported by minicontainer")
        return ConfigError(_path([*parts, key]), instance[key], why)
    if error.validator == "required":
        key = next(k for k in schema["required"] if k not in instance)
        return ConfigError(_path([*parts, key]), None, schema.get("x-why-required", "is missing"))
    if error.validator == "dependentRequired":
        key = next(k for k, needs in schema["dependentRequired"].items()
                   if k in instance and not all(n in instance for n in needs))
        return ConfigError(_path([*parts, key]), instance[key], schema["x-why-dependent"])
    if not parts and error.validator == "type":
        return ConfigError("config.json", type(instance).__name__, schema["x-why"])
    return ConfigError(_path(parts), instance,
                       schema.get("x-why", f"is not valid: {error.message}"))


def _check_capabilities(capabilities: dict) -> None:
    from minicontainer.capabilities import ALL

    for kind, names in capabilities.items():
        for i, name in enumerate(names):
            if name not in ALL:
                raise ConfigError(f"process.capabilities.{kind}[{i}]", name,
                                  "is not a capability")


def _check_rlimits(rlimits: list[dict]) -> None:
    seen: dict[str, int] = {}
    for i, rlimit in enumerate(rlimits):
        if rlimit["type"] in seen:
            raise ConfigError(f"process.rlimits[{i}].type", rlimit["type"],
                              f"is given twice (process.rlimits[{seen[rlimit['type']]}] too)")
        seen[rlimit["type"]] = i
        if rlimit["soft"] > rlimit["hard"]:
            raise ConfigError(f"process.rlimits[{i}].soft", rlimit["soft"],
                              f"is more than hard ({rlimit['hard']})")


def _check_mounts(mounts: list[dict]) -> None:
    for i, mount in enumerate(mounts):
        bind_option = {"bind", "rbind"} & set(mount.get("options", []))
        if "type" not in mount and not bind_option:
            raise ConfigError(f"mounts[{i}]", mount["destination"],
                              "has no type (and no bind or rbind option to make it a bind "
                              "mount)")
        if mount.get("type", "bind") == "bind" and "source" not in mount:
            raise ConfigError(f"mounts[{i}].source", None,
                              "is missing: a bind mount needs a source")


def _check_namespaces(namespaces: list[dict]) -> None:
    seen: dict[str, int] = {}
    for i, entry in enumerate(namespaces):
        if entry["type"] in seen:
            raise ConfigError(f"linux.namespaces[{i}].type", entry["type"],
                              f"is given twice (linux.namespaces[{seen[entry['type']]}] too)")
        seen[entry["type"]] = i


def _check_swap(memory: dict) -> None:
    swap = memory.get("swap", -1)
    if swap != -1 and swap < memory["limit"]:
        raise ConfigError("linux.resources.memory.swap", swap,
                          f"is less than limit ({memory['limit']}): it counts memory plus swap")
