"""Config parsing and validation: no privilege, no container."""

from __future__ import annotations

import re

import pytest

from minicontainer.config import (
    Config,
    ConfigError,
    Mount,
    Resources,
    host_memory,
    parse_decimal,
    parse_duration,
    parse_int,
    parse_namespaces,
    parse_size,
    parse_state_root,
    parse_user,
)
from minicontainer.idmap import IdMapping, subid_range, to_host
from minicontainer.namespaces import ALL, Namespace
from minicontainer.state import valid_id


def test_defaults_are_the_hardened_profile():
    cfg = Config(args=["sh"])
    assert cfg.namespaces == ALL
    assert cfg.user_namespace and cfg.overlay and not cfg.readonly
    assert cfg.uid_mappings[0].container_id == 0 and cfg.uid_mappings[0].size == 65536
    assert cfg.uid_mappings[0].host_id != 0


def test_no_user_namespace_means_no_mapping():
    cfg = Config(args=["sh"], namespaces=ALL & ~Namespace.USER)
    assert cfg.uid_mappings == [] and cfg.host_uid(0) == 0


@pytest.mark.parametrize("name", ["a", "lab1", "a-b.c-d", "x" * 63, "a." + "b" * 61])
def test_good_hostnames(name):
    Config(args=["sh"], hostname=name).validate()


@pytest.mark.parametrize("name", ["", "a_b", "-a", "a-", "a..b", "a" * 65, "a b", "é"])
def test_bad_hostnames_name_the_field(name):
    with pytest.raises(ConfigError) as e:
        Config(args=["sh"], hostname=name).validate()
    assert e.value.field == "hostname"
    assert repr(name) in str(e.value)


@pytest.mark.parametrize("entry", ["A", "=x", "1A=x", "A B=x"])
def test_bad_env(entry):
    with pytest.raises(ConfigError, match="^env: "):
        Config(args=["sh"], env=[entry]).validate()


def test_env_overrides_defaults():
    env = Config(args=["sh"], env=["PATH=/x", "A=b=c"], hostname="h").environment()
    assert "PATH=/x" in env and "A=b=c" in env and "HOSTNAME=h" in env


def test_ids_must_be_mapped():
    with pytest.raises(ConfigError, match="^uid: 65536 "):
        Config(args=["sh"], uid=65536).validate()
    Config(args=["sh"], uid=65536, namespaces=ALL & ~Namespace.USER).validate()


def test_mount_namespace_cannot_be_shared():
    with pytest.raises(ConfigError, match="^namespaces: "):
        Config(args=["sh"], namespaces=ALL & ~Namespace.MNT).validate()


def test_empty_command():
    with pytest.raises(ConfigError, match="^args: "):
        Config(args=[]).validate()


def test_parse_namespaces():
    assert parse_namespaces("pid,net") == Namespace.PID | Namespace.NET
    assert parse_namespaces("") == Namespace(0)
    with pytest.raises(ConfigError, match="^share: 'bogus'"):
        parse_namespaces("pid,bogus")


@pytest.mark.parametrize(("spec", "ids"), [("0", (0, None)), ("1000:1000", (1000, 1000))])
def test_parse_user(spec, ids):
    assert parse_user(spec) == ids


@pytest.mark.parametrize("spec", ["root", "1:x", "-1", "4294967296", ":"])
def test_parse_user_rejects(spec):
    with pytest.raises(ConfigError, match="^user: "):
        parse_user(spec)


def test_mount_parse():
    m = Mount.parse("/a:/b:ro")
    assert (m.source, m.destination, m.readonly) == ("/a", "/b", True)
    assert not Mount.parse("/a:/b").readonly
    for bad in ("/a", "/a:/b:rx", ":/b"):
        with pytest.raises(ConfigError, match="^volume: "):
            Mount.parse(bad)


def test_oci_document_has_the_spec_shape():
    doc = Config(args=["sh"], hostname="h", namespaces=ALL & ~Namespace.NET).to_oci()
    types = {ns["type"] for ns in doc["linux"]["namespaces"]}
    assert types == {"pid", "mount", "ipc", "uts", "user", "cgroup"}
    assert doc["process"]["args"] == ["sh"]
    assert doc["linux"]["uidMappings"][0]["size"] == 65536


def test_from_oci_reads_a_runc_style_bundle():
    doc = {
        "process": {"args": ["/bin/true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "bundle",
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]},
    }
    cfg = Config.from_oci(doc, bundle="/b")
    assert cfg.rootfs == "/b/rootfs" and cfg.readonly and cfg.hostname == "bundle"
    assert cfg.namespaces == Namespace.PID | Namespace.MNT
    assert cfg.uid_mappings == []


def test_from_oci_rejects_unknown_namespace():
    with pytest.raises(ConfigError, match="^linux.namespaces: 'time'"):
        Config.from_oci({"linux": {"namespaces": [{"type": "time"}]}})


def test_subid_range(tmp_path):
    f = tmp_path / "subuid"
    f.write_text("alice:100000:65536\nminicontainer:2000000:65536\n")
    assert subid_range(str(f)) == IdMapping(0, 2000000, 65536)
    assert subid_range(str(tmp_path / "missing")) is None


def test_to_host():
    maps = [IdMapping(0, 1000, 10), IdMapping(10, 5000, 5)]
    assert to_host(maps, 0) == 1000 and to_host(maps, 12) == 5002
    with pytest.raises(ValueError):
        to_host(maps, 15)


@pytest.mark.parametrize("value", ["a", "web-1", "x.y_z", "a" * 64])
def test_valid_ids(value):
    assert valid_id(value)


@pytest.mark.parametrize("value", ["", "../x", "a/b", "-a", "a" * 65, ".hidden"])
def test_invalid_ids(value):
    assert not valid_id(value)


def test_user_namespaces_switched_off_are_detected(tmp_path):
    from minicontainer.idmap import user_namespaces_enabled

    limit = tmp_path / "max_user_namespaces"
    limit.write_text("0\n")
    assert not user_namespaces_enabled(str(limit))
    limit.write_text("15000\n")
    assert user_namespaces_enabled(str(limit))


@pytest.mark.parametrize(("name", "hostname"), [("web1", "web1"), ("t_a.b", "t-a-b"),
                                                ("_x_", "x"), ("a" * 64, "a" * 63)])
def test_hostname_for_a_container_name(name, hostname):
    from minicontainer.config import hostname_for

    assert hostname_for(name) == hostname


# -- the strict parsers: every numeric flag goes through one of them


@pytest.mark.parametrize("spec", ["1_000", " 7 ", "7 ", "\u0663", "+7", "7:", "0x10", "1:\u0661",
                                  "1e3", ""])
def test_parse_user_takes_ascii_digits_only(spec):
    with pytest.raises(ConfigError, match=f"^user: {re.escape(repr(spec))} "):
        parse_user(spec)


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("42", 42), ("007", 7)])
def test_parse_int(text, value):
    assert parse_int("n", text) == value


@pytest.mark.parametrize("text", ["1_000", " 7", "7\n", "\u0663", "-1", "+1", "", "1.0", "1e3"])
def test_parse_int_rejects_what_int_would_take(text):
    with pytest.raises(ConfigError, match=f"^n: {re.escape(repr(text))} is not a whole number"):
        parse_int("n", text)


def test_parse_int_checks_the_range():
    with pytest.raises(ConfigError, match="^n: '11' must be from 1 to 10$"):
        parse_int("n", "11", 1, 10)
    with pytest.raises(ConfigError, match="^n: '0' must be at least 1$"):
        parse_int("n", "0", 1)


@pytest.mark.parametrize(("text", "size"), [
    ("64m", 64 << 20), ("64MB", 64 << 20), ("512k", 512 << 10), ("1048576", 1 << 20),
    ("10b", 10), ("1G", 1 << 30)])
def test_parse_size(text, size):
    assert parse_size("memory", text) == size


@pytest.mark.parametrize("text", ["1_000m", " 64m", "64m ", "\u0666\u0664m", "-1", "0", "0m", "m",
                                  "1.5g", "64x", "nan", "inf", ""])
def test_parse_size_rejects(text):
    with pytest.raises(ConfigError, match=f"^memory: {re.escape(repr(text))} "):
        parse_size("memory", text)


def test_parse_size_names_the_bound():
    with pytest.raises(ConfigError, match="is more than this machine's memory"):
        parse_size("memory", "2k", 1024, "this machine's memory")


@pytest.mark.parametrize(("text", "seconds"), [("0", 0), ("10", 10), ("0.5", 0.5), (".5", 0.5),
                                               ("2.", 2)])
def test_parse_duration(text, seconds):
    assert parse_duration("time", text) == seconds


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "-1", "1e3", " 1", "1_0", "\u0661",
                                  "", ".", "99999999999"])
def test_parse_duration_rejects_what_would_hang_or_lie(text):
    with pytest.raises(ConfigError, match=f"^time: {re.escape(repr(text))} "):
        parse_duration("time", text)


def test_parse_decimal_refuses_nan_which_fails_every_comparison():
    with pytest.raises(ConfigError, match="^cpus: 'nan' is not a decimal number"):
        parse_decimal("cpus", "nan", 0.01, 2)
    assert parse_decimal("cpus", "0.5", 0.01, 2) == 0.5


@pytest.mark.parametrize(("flag", "text"), [
    ("cpus", "1_0"), ("cpus", " 1"), ("cpus", "\u0661"), ("cpus", "inf"), ("cpus", "1000"),
    ("cpu_weight", "\u0661\u0660"), ("cpu_weight", "1_0"), ("cpu_weight", "0"),
    ("pids_limit", " 5"), ("pids_limit", "\u0665"), ("pids_limit", "99999999999"),
    ("cpuset_cpus", "\u0660"), ("cpuset_cpus", "0,,1"), ("cpuset_cpus", " 0"),
    ("cpuset_cpus", "1-0"), ("cpuset_cpus", "4096"), ("cpuset_cpus", "0-99999999999"),
    ("memory", "1_0m"), ("memory", "100000t"), ("memory_high", "\u0661m"),
])
def test_every_resource_flag_is_strict_and_checked_against_the_host(flag, text):
    field = flag.replace("_", "-")
    with pytest.raises(ConfigError, match=f"^{field}: {re.escape(repr(text))} "):
        Resources.from_flags(**{flag: text})


def test_memory_swap_is_checked_against_memory_and_swap():
    ram, swap = host_memory()
    with pytest.raises(ConfigError, match="^memory-swap: .* memory and swap"):
        Resources.from_flags(memory="64m", memory_swap=str(ram + swap + 1))
    assert Resources.from_flags(memory="64m", memory_swap="-1").swap == "max"


def test_resource_flags_within_the_host_are_taken():
    resources = Resources.from_flags(cpus="0.5", cpu_weight="200", pids_limit="64",
                                     cpuset_cpus="0", memory="64m")
    assert (resources.cpu_quota, resources.cpu_weight, resources.pids) == (50_000, 200, 64)
    assert resources.cpuset_cpus == "0" and resources.memory == 64 << 20


@pytest.mark.parametrize("destination", ["/", "//", "/.", "/tmp/.."])
def test_a_volume_over_the_whole_root_is_refused(destination):
    cfg = Config(args=["sh"], mounts=[Mount("/tmp", destination)])
    with pytest.raises(ConfigError, match="^volume: .* would cover the container's whole root"):
        cfg.validate()


@pytest.mark.parametrize(("path", "why"), [("", "is not an absolute path"),
                                           ("relative", "is not an absolute path"),
                                           ("/dev/null", "/dev/null is not one"),
                                           ("/etc/passwd/x/y", "/etc/passwd is not one")])
def test_a_bad_state_root_is_refused(path, why):
    with pytest.raises(ConfigError, match=f"^root: {re.escape(repr(path))} .*{re.escape(why)}"):
        parse_state_root(path)


def test_a_state_root_that_is_or_can_be_a_directory(tmp_path):
    assert parse_state_root(str(tmp_path)) == str(tmp_path)
    assert parse_state_root(str(tmp_path / "new" / "dir")) == str(tmp_path / "new" / "dir")


@pytest.mark.parametrize("text", ["\u0669", "9 ", "1_5", "0", "99"])
def test_signal_numbers_are_strict(text):
    from minicontainer.lifecycle import parse_signal

    with pytest.raises(ConfigError, match="^signal: "):
        parse_signal(text)


def test_userns_range_parses_auto_shared_and_explicit_ranges():
    from minicontainer.config import parse_userns_range

    assert parse_userns_range("auto") == "auto"
    assert parse_userns_range("shared") == "shared"
    assert parse_userns_range("2000000000") == "2000000000:65536"
    assert parse_userns_range("2000000000:10") == "2000000000:10"
    cfg = Config(args=["sh"], userns_range="2000000000:10")
    assert cfg.uid_mappings == cfg.gid_mappings == [IdMapping(0, 2_000_000_000, 10)]
    assert cfg.host_uid(9) == 2_000_000_009


@pytest.mark.parametrize("spec", ["", "auto:1", "-1", "1_000", " 7", "2000000000:0",
                                  "4294967295", "4294967000:1000", "1000000000:1"])
def test_userns_range_refuses_what_is_not_a_usable_range(spec):
    from minicontainer.config import parse_userns_range

    with pytest.raises(ConfigError, match="userns_range"):
        parse_userns_range(spec)


def test_userns_range_needs_a_user_namespace_and_the_overlay():
    with pytest.raises(ConfigError, match="needs a user namespace"):
        Config(args=["sh"], userns_range="auto", namespaces=ALL & ~Namespace.USER).validate()
    with pytest.raises(ConfigError, match="needs the overlay"):
        Config(args=["sh"], userns_range="auto", overlay=False).validate()
    with pytest.raises(ConfigError, match="outside the container's id mapping"):
        Config(args=["sh"], userns_range="2000000000:10", uid=10).validate()


@pytest.mark.parametrize("fields, message", [
    ({"mounts": [Mount("tmpfs", "/a/../../etc", type="tmpfs")]}, "has a '..' in it"),
    ({"masked_paths": ["/proc/../../etc"]}, "without '..'"),
    ({"readonly_paths": ["/../etc"]}, "without '..'"),
    ({"sysctl": {"kernel.hostname": "x"}}, "fight the hostname field"),
    ({"sysctl": {"vm.swappiness": "1"}}, "whole host"),
    ({"cgroups_path": "/a\0b"}, "is not a cgroup path"),
    ({"cgroups_path": "machine.slice:libpod:x"}, "systemd's"),
    ({"cgroups_path": "/minicontainer/other"}, "inside minicontainer/"),
    ({"cgroups_path": "other/x"}, "one part"),
])
def test_what_would_reach_beyond_the_container_is_refused(fields, message):
    with pytest.raises(ConfigError, match=message):
        Config(args=["sh"], **fields).validate()


def test_the_namespaced_settings_are_accepted():
    Config(args=["sh"], sysctl={"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000",
                                "kernel.domainname": "example"},
           cgroups_path="/mc/inner", mounts=[Mount("tmpfs", "/a/b", type="tmpfs")]).validate()
