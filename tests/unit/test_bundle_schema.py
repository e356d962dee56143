"""The config.json check: what minicontainer supports passes, anything else is an
error naming its field."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from minicontainer import bundle_schema, oci
from minicontainer.config import ConfigError

PODMAN_CONFIG = os.path.join(os.path.dirname(__file__), "data", "podman-config.json")


def spec_with(change) -> dict:
    doc = oci.default_spec()
    change(doc)
    return doc


def refusal(change) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        bundle_schema.check(spec_with(change))
    return caught.value


def test_podmans_config_passes():
    with open(PODMAN_CONFIG) as f:
        doc = json.load(f)
    assert doc["linux"]["seccomp"]["syscalls"]  # the whole document, profile included
    bundle_schema.check(doc)


def test_the_spec_command_output_passes():
    bundle_schema.check(oci.default_spec())


def test_importing_the_check_leaves_jsonschema_unloaded():
    code = "import sys, minicontainer.bundle_schema; print('jsonschema' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def _set(path: str, value):
    """A change that sets ``path`` (keys joined by /; parents made if missing) to ``value``."""
    *parents, last = path.split("/")

    def change(doc):
        for key in parents:
            doc = doc.setdefault(key, {})
        doc[last] = value
    return change


def _drop(path: str):
    """A change that removes the key at ``path``."""
    *parents, last = path.split("/")

    def change(doc):
        for key in parents:
            doc = doc[key]
        del doc[last]
    return change


def _append(path: str, value):
    """A change that appends ``value`` to the list at ``path`` (made if missing)."""
    *parents, last = path.split("/")

    def change(doc):
        for key in parents:
            doc = doc.setdefault(key, {})
        doc.setdefault(last, []).append(value)
    return change


BIND = {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind"]}
RLIMIT = {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}

REFUSED = [
    # top level
    (_set("domainname", "example.org"), "domainname", "not supported"),
    (_set("windows", {}), "windows", "Linux containers only"),
    (_set("solaris", {}), "solaris", "Linux containers only"),
    (_set("vm", {}), "vm", "no virtual machines"),
    (_set("zos", {}), "zos", "Linux containers only"),
    (_set("platform", {"os": "linux"}), "platform", "is not supported by minicontainer"),
    (_drop("ociVersion"), "ociVersion", "is missing"),
    (_set("ociVersion", 1), "ociVersion", "not a version string"),
    (_drop("process"), "process", "is missing"),
    (_drop("root"), "root", "is missing"),
    (_set("hostname", 7), "hostname", "not a string"),
    (_set("annotations", {"a.b": 1}), 'annotations."a.b"', "not a string"),
    # hooks
    (_set("hooks", {"onstart": []}), "hooks.onstart", "not supported"),
    (_set("hooks", {"prestart": [{"args": ["x"]}]}), "hooks.prestart[0].path", "is missing"),
    (_set("hooks", {"poststop": [{"path": "bin/x"}]}), "hooks.poststop[0].path",
     "not an absolute path"),
    (_set("hooks", {"createRuntime": [{"path": "/x", "timeout": 0}]}),
     "hooks.createRuntime[0].timeout", "at least 1"),
    (_set("hooks", {"poststart": [{"path": "/x", "cwd": "/"}]}), "hooks.poststart[0].cwd",
     "not supported"),
    # process
    (_set("process/ioPriority", {"class": "IOPRIO_CLASS_IDLE"}), "process.ioPriority",
     "I/O priority"),
    (_set("process/scheduler", {"policy": "SCHED_BATCH"}), "process.scheduler",
     "scheduling"),
    (_set("process/execCPUAffinity", {"initial": "0"}), "process.execCPUAffinity",
     "affinity"),
    (_set("process/commandLine", "sh"), "process.commandLine", "Windows"),
    (_set("process/user/username", "root"), "process.user.username", "give uid and gid"),
    (_drop("process/user/gid"), "process.user.gid", "is missing"),
    (_set("process/user/uid", 4294967295), "process.user.uid", "not an id"),
    (_set("process/user/uid", 1.0), "process.user.uid", "not an id"),
    (_set("process/user/uid", True), "process.user.uid", "not an id"),
    (_set("process/user/umask", 0o1000), "process.user.umask", "not a umask"),
    (_set("process/user/additionalGids", [5, "6"]), "process.user.additionalGids[1]",
     "not an id"),
    (_set("process/terminal", "yes"), "process.terminal", "not true or false"),
    (_set("process/consoleSize", {"height": 24}), "process.consoleSize.width", "is missing"),
    (_set("process/consoleSize", {"height": -1, "width": 80}), "process.consoleSize.height",
     "whole number"),
    (_set("process/args", []), "process.args", "non-empty list"),
    (_set("process/args", ["sh", 1]), "process.args[1]", "not a string"),
    (_drop("process/args"), "process.args", "is missing"),
    (_drop("process/cwd"), "process.cwd", "is missing"),
    (_set("process/env", "PATH=/bin"), "process.env", "not a list of strings"),
    (_set("process/capabilities/bounding", ["chown"]), "process.capabilities.bounding[0]",
     "not a capability name"),
    (_set("process/capabilities/all", []), "process.capabilities.all", "not supported"),
    (_set("process/rlimits", [{"type": "RLIMIT_NOFILES", "soft": 1, "hard": 1}]),
     "process.rlimits[0].type", "not a Linux resource limit"),
    (_set("process/rlimits", [RLIMIT, {"type": "RLIMIT_CORE", "soft": 0}]),
     "process.rlimits[1].hard", "is missing"),
    (_set("process/rlimits", [{**RLIMIT, "hard": 2**64}]), "process.rlimits[0].hard",
     "18446744073709551615"),
    (_set("process/rlimits", [{**RLIMIT, "soft": -1}]), "process.rlimits[0].soft",
     "whole number"),
    (_set("process/noNewPrivileges", 1), "process.noNewPrivileges", "not true or false"),
    (_set("process/apparmorProfile", None), "process.apparmorProfile", "not a string"),
    (_set("process/oomScoreAdj", 1001), "process.oomScoreAdj", "-1000 to 1000"),
    (_set("process/selinuxLabel", "system_u:system_r:container_t:s0"),
     "process.selinuxLabel", "no SELinux layer"),
    # root
    (_set("root/path", ""), "root.path", "not a path"),
    (_drop("root/path"), "root.path", "is missing"),
    (_set("root/readonly", "true"), "root.readonly", "not true or false"),
    (_set("root/options", []), "root.options", "not supported"),
    # mounts
    (_append("mounts", {**BIND, "type": "overlay"}), "mounts[-1].type",
     "not a mount type minicontainer supports"),
    (_append("mounts", {"destination": "/data", "source": "/srv", "options": ["ro"]}),
     "mounts[-1]", "has no type"),
    (_append("mounts", {"destination": "/data", "type": "bind", "options": ["rbind"]}),
     "mounts[-1].source", "needs a source"),
    (_append("mounts", {"destination": "/data", "options": ["bind"]}), "mounts[-1].source",
     "needs a source"),
    (_append("mounts", {"type": "tmpfs", "source": "tmpfs"}), "mounts[-1].destination",
     "is missing"),
    (_append("mounts", {**BIND, "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}),
     "mounts[-1].uidMappings", "id-mapped"),
    (_append("mounts", {**BIND, "gidMappings": []}), "mounts[-1].gidMappings", "id-mapped"),
    (_append("mounts", {**BIND, "options": "rbind"}), "mounts[-1].options",
     "not a list of strings"),
    # linux
    (_append("linux/namespaces", {"type": "time"}), "linux.namespaces[-1].type",
     "the time namespace is not supported"),
    (_append("linux/namespaces", {"type": "net"}), "linux.namespaces[-1].type",
     "not a namespace type"),
    (_append("linux/namespaces", {"path": "/proc/1/ns/net"}), "linux.namespaces[-1].type",
     "is missing"),
    (_append("linux/namespaces", {"type": "network", "path": "run/netns/x"}),
     "linux.namespaces[-1].path", "not an absolute path"),
    (_set("linux/intelRdt", {"closID": "x"}), "linux.intelRdt", "resctrl"),
    (_set("linux/personality", {"domain": "LINUX32"}), "linux.personality",
     "execution domain"),
    (_set("linux/timeOffsets", {"monotonic": {"secs": 1}}), "linux.timeOffsets",
     "time namespace"),
    (_set("linux/memoryPolicy", {"mode": "MPOL_BIND"}), "linux.memoryPolicy", "NUMA"),
    (_set("linux/netDevices", {"eth1": {}}), "linux.netDevices", "network devices"),
    (_set("linux/mountLabel", "system_u:object_r:container_file_t:s0"), "linux.mountLabel",
     "no SELinux layer"),
    (_set("linux/sysctl", {"net.ipv4.ip_forward": 1}), 'linux.sysctl."net.ipv4.ip_forward"',
     "not a string"),
    (_set("linux/uidMappings", [{"containerID": 0, "hostID": 100000}]),
     "linux.uidMappings[0].size", "is missing"),
    (_set("linux/gidMappings", [{"containerID": 0, "hostID": -1, "size": 1}]),
     "linux.gidMappings[0].hostID", "not an id"),
    (_set("linux/cgroupsPath", ["a"]), "linux.cgroupsPath", "not a string"),
    (_set("linux/rootfsPropagation", "runbindable"), "linux.rootfsPropagation",
     "not a propagation"),
    (_set("linux/seccomp", []), "linux.seccomp", "not an object"),
    (_set("linux/maskedPaths", ["proc/kcore"]), "linux.maskedPaths[0]", "absolute"),
    (_set("linux/readonlyPaths", "/proc/sys"), "linux.readonlyPaths", "list"),
    (_set("linux/devices", [{"path": "/dev/p", "type": "p"}]), "linux.devices[0].type",
     "no fifos"),
    (_set("linux/devices", [{"path": "/dev/x", "type": "x", "major": 1, "minor": 1}]),
     "linux.devices[0].type", "c, u or b"),
    (_set("linux/devices", [{"path": "/dev/null", "type": "c", "major": 1}]),
     "linux.devices[0].minor", "is missing"),
    (_set("linux/devices", [{"path": "dev/null", "type": "c", "major": 1, "minor": 3}]),
     "linux.devices[0].path", "absolute"),
    (_set("linux/devices", [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3,
                             "fileMode": 0o10000}]), "linux.devices[0].fileMode",
     "file mode"),
    (_set("linux/devices", [{"path": "/dev/null", "type": "c", "major": -1, "minor": 3}]),
     "linux.devices[0].major", "device number"),
    # linux.resources
    (_set("linux/resources/hugepageLimits", []), "linux.resources.hugepageLimits",
     "not supported"),
    (_set("linux/resources/devices", [{"access": "rwm"}]), "linux.resources.devices[0].allow",
     "is missing"),
    (_set("linux/resources/devices", [{"allow": True, "type": "u"}]),
     "linux.resources.devices[0].type", "a, b or c"),
    (_set("linux/resources/devices", [{"allow": True, "access": "rwx"}]),
     "linux.resources.devices[0].access", "rwm"),
    (_set("linux/resources/devices", [{"allow": True, "access": "rr"}]),
     "linux.resources.devices[0].access", "each once"),
    (_set("linux/resources/devices", [{"allow": True, "major": None}]),
     "linux.resources.devices[0].major", "device number"),
    (_set("linux/resources/memory", {"limit": 1 << 20, "reservation": 1 << 19}),
     "linux.resources.memory.reservation", "is not supported by minicontainer"),
    (_set("linux/resources/memory", {"limit": -1}), "linux.resources.memory.limit",
     "leave limit out"),
    (_set("linux/resources/memory", {"swap": 1 << 20}), "linux.resources.memory.swap",
     "needs a limit"),
    (_set("linux/resources/memory", {"limit": 1 << 20, "swap": -2}),
     "linux.resources.memory.swap", "-1 for unlimited"),
    (_set("linux/resources/cpu", {"shares": 1024}), "linux.resources.cpu.shares",
     "not supported"),
    (_set("linux/resources/cpu", {"period": 100000}), "linux.resources.cpu.period",
     "needs a quota"),
    (_set("linux/resources/cpu", {"quota": 50000, "period": 10}),
     "linux.resources.cpu.period", "1000 to 1000000"),
    (_set("linux/resources/cpu", {"cpus": "0-1,"}), "linux.resources.cpu.cpus", "CPU list"),
    (_set("linux/resources/cpu", {"mems": "0"}), "linux.resources.cpu.mems", "not supported"),
    (_set("linux/resources/pids", {"limit": "64"}), "linux.resources.pids.limit",
     "pids limit"),
    (_set("linux/resources/blockIO", {"weight": 10}), "linux.resources.blockIO.weight",
     "not supported"),
    (_set("linux/resources/blockIO", {"throttleReadBpsDevice": [{"major": 8, "minor": 0}]}),
     "linux.resources.blockIO.throttleReadBpsDevice[0].rate", "is missing"),
    (_set("linux/resources/blockIO", {"throttleWriteBpsDevice": [
        {"major": 8, "minor": 0, "rate": 0}]}),
     "linux.resources.blockIO.throttleWriteBpsDevice[0].rate", "bytes per second"),
    (_set("linux/resources/unified", {"memory.low": "1048576"}),
     'linux.resources.unified."memory.low"', "only memory.high and cpu.weight"),
    (_set("linux/resources/unified", {"memory.high": "1g"}),
     'linux.resources.unified."memory.high"', "number of bytes"),
    (_set("linux/resources/unified", {"cpu.weight": "10001"}),
     'linux.resources.unified."cpu.weight"', "CPU weight"),
]


def _last_index(field: str, doc: dict) -> str:
    """``mounts[-1]...`` with the index of the entry the change appended."""
    for prefix, items in (("mounts", doc["mounts"]),
                          ("linux.namespaces", doc["linux"]["namespaces"])):
        if field.startswith(f"{prefix}[-1]"):
            return field.replace("[-1]", f"[{len(items) - 1}]", 1)
    return field


@pytest.mark.parametrize("change, field, why", REFUSED,
                         ids=[f"{field}-{i}" for i, (_, field, _) in enumerate(REFUSED)])
def test_each_refusal_names_its_field(change, field, why):
    doc = spec_with(change)
    field = _last_index(field, doc)
    with pytest.raises(ConfigError) as caught:
        bundle_schema.check(doc)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert why in str(caught.value)
    assert "\n" not in str(caught.value)


ACCEPTED = [
    _set("process/selinuxLabel", ""),
    _set("linux/mountLabel", ""),
    _set("process/consoleSize", {"height": 24, "width": 80}),
    _set("process/user/additionalGids", [5, 6]),
    _set("process/oomScoreAdj", -1000),
    _set("process/rlimits", [{"type": "RLIMIT_CORE", "soft": 0, "hard": 2**64 - 1}]),
    _set("hooks", {kind: [{"path": "/bin/true", "args": ["true"], "env": [], "timeout": 5}]
                   for kind in ("prestart", "createRuntime", "createContainer",
                                "startContainer", "poststart", "poststop")}),
    _append("mounts", {"destination": "/data", "source": "/srv", "options": ["rbind", "ro"]}),
    _append("mounts", {"destination": "/sys/fs/cgroup", "type": "cgroup2",
                       "source": "cgroup"}),
    _append("mounts", {"destination": "/tmp", "type": "tmpfs"}),
    _set("linux/namespaces", [{"type": "network", "path": "/run/netns/x"}]),
    _set("linux/devices", [{"path": "/dev/null", "type": "u", "major": 1, "minor": 3,
                            "fileMode": 0o666, "uid": 0, "gid": 0}]),
    _set("linux/resources", {
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": -1, "access": "mr"}],
        "memory": {"limit": 1 << 20, "swap": -1},
        "cpu": {"quota": 50000, "period": 100000, "cpus": "0-1,3"},
        "pids": {"limit": 64},
        "blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1 << 20}],
                    "throttleWriteBpsDevice": [{"major": 8, "minor": 16, "rate": 1}]},
        "unified": {"memory.high": "1048576", "cpu.weight": "10000"},
    }),
    _set("linux/resources/memory", {"limit": 1 << 20, "swap": 1 << 20}),
    _set("linux/sysctl", {"net.ipv4.ip_forward": "1"}),
    _set("linux/cgroupsPath", "/minicontainer/x"),
    _set("linux/rootfsPropagation", "rslave"),
    _set("linux/seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "anything": "seccomp.py's"}),
    _set("annotations", {"org.example": "x"}),
]


@pytest.mark.parametrize("change", ACCEPTED)
def test_what_minicontainer_supports_passes(change):
    bundle_schema.check(spec_with(change))


def test_an_unknown_capability_is_an_error():
    error = refusal(_append("process/capabilities/bounding", "CAP_FOO"))
    index = len(oci.default_spec()["process"]["capabilities"]["bounding"])
    assert str(error) == f"process.capabilities.bounding[{index}]: 'CAP_FOO' is not a capability"


def test_an_unknown_ambient_capability_is_an_error():
    error = refusal(_set("process/capabilities/ambient", ["CAP_CHOWN", "CAP_SYS_MAGIC"]))
    assert error.field == "process.capabilities.ambient[1]" and error.value == "CAP_SYS_MAGIC"


def test_a_soft_limit_above_the_hard_one_is_an_error():
    error = refusal(_set("process/rlimits", [RLIMIT, {**RLIMIT, "type": "RLIMIT_CORE",
                                                       "soft": 2, "hard": 1}]))
    assert str(error) == "process.rlimits[1].soft: 2 is more than hard (1)"


def test_a_soft_limit_equal_to_the_hard_one_passes():
    bundle_schema.check(spec_with(_set("process/rlimits", [{**RLIMIT, "soft": 7, "hard": 7}])))


def test_an_rlimit_type_given_twice_is_an_error():
    error = refusal(_set("process/rlimits", [RLIMIT, {**RLIMIT, "type": "RLIMIT_CORE"},
                                             {**RLIMIT, "soft": 1}]))
    assert error.field == "process.rlimits[2].type"
    assert "given twice (process.rlimits[0] too)" in str(error)


def test_a_namespace_type_given_twice_is_an_error():
    error = refusal(_set("linux/namespaces", [{"type": "pid"}, {"type": "network"},
                                              {"type": "pid", "path": "/proc/1/ns/pid"}]))
    assert error.field == "linux.namespaces[2].type"
    assert "given twice (linux.namespaces[0] too)" in str(error)


def test_swap_below_the_memory_limit_is_an_error():
    error = refusal(_set("linux/resources/memory", {"limit": 2 << 20, "swap": 1 << 20}))
    assert error.field == "linux.resources.memory.swap"
    assert "less than limit" in str(error)


def test_a_config_that_is_not_an_object_is_named():
    with pytest.raises(ConfigError, match=r"^config.json: 'list' is not a JSON object$"):
        bundle_schema.check([])
