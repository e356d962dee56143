"""Config parsing and validation: no privilege, no container."""

from __future__ import annotations

import pytest

from minicontainer.config import (
    Config,
    ConfigError,
    Mount,
    parse_namespaces,
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
