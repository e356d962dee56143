"""Parsing and validation of the layer switches: root mode, rootfs propagation,
fd hygiene, the new session; their run flags and their OCI round trip."""

from __future__ import annotations

import pytest

from minicontainer import cli
from minicontainer.config import PROPAGATIONS, Config, ConfigError


def config_for(*flags: str) -> Config:
    args = cli.build_parser("run").parse_args(["run", *flags, "--", "sh"])
    return cli.config_from_args(args)


def test_every_switch_is_on_by_default():
    cfg = config_for()
    assert (cfg.root_mode, cfg.rootfs_propagation, cfg.close_fds, cfg.new_session) == (
        "pivot", "rprivate", True, True)


@pytest.mark.parametrize("flags, field, value", [
    (["--rootfs-mode", "chroot"], "root_mode", "chroot"),
    (["--rootfs-propagation", "rshared"], "rootfs_propagation", "rshared"),
    (["--security-opt", "fd-hygiene=false"], "close_fds", False),
    (["--security-opt", "fd-hygiene=true"], "close_fds", True),
    (["--security-opt", "new-session=false"], "new_session", False),
])
def test_run_flags_set_the_switch(flags, field, value):
    assert getattr(config_for(*flags), field) == value


def test_privileged_keeps_the_runtimes_hygiene_and_takes_the_switches():
    assert (config_for("--privileged").close_fds, config_for("--privileged").new_session) == (
        True, True)
    cfg = config_for("--privileged", "--security-opt", "fd-hygiene=false",
                     "--security-opt", "new-session=false")
    assert (cfg.close_fds, cfg.new_session, cfg.seccomp) == (False, False, False)


def test_a_bad_hygiene_option_names_itself():
    with pytest.raises(ConfigError, match=r"security-opt: 'fd-hygiene=no' is not"):
        config_for("--security-opt", "fd-hygiene=no")


def test_an_unknown_rootfs_mode_is_a_usage_error():
    with pytest.raises(SystemExit):
        config_for("--rootfs-mode", "jail")


@pytest.mark.parametrize("fields, message", [
    ({"root_mode": "jail"}, "root_mode: 'jail' is not pivot or chroot"),
    ({"rootfs_propagation": "rslaves"}, "rootfs_propagation: 'rslaves' is not one of"),
    ({"rootfs_propagation": "runbindable"}, "rootfs_propagation: 'runbindable' is not one of"),
    ({"close_fds": "no"}, "close_fds: 'no' is not true or false"),
    ({"new_session": 0}, "new_session: 0 is not true or false"),
    ({"new_session": False, "terminal": True}, "new_session: False contradicts terminal"),
])
def test_validation_names_the_field_and_value(fields, message):
    with pytest.raises(ConfigError, match=message):
        Config(args=["sh"], **fields).validate()


@pytest.mark.parametrize("mode", PROPAGATIONS)
def test_every_propagation_is_accepted(mode):
    Config(args=["sh"], rootfs_propagation=mode).validate()


def test_the_default_writes_only_the_overlay_and_no_propagation():
    doc = Config(args=["sh"]).to_oci()
    # a config.json without it writes into its rootfs, as runc's does
    assert doc["annotations"] == {"minicontainer.overlay": "true"}
    assert "rootfsPropagation" not in doc["linux"]
    assert Config.from_oci(doc).overlay
    assert not Config.from_oci({key: doc[key] for key in doc if key != "annotations"}).overlay


def test_switches_round_trip_through_oci():
    cfg = Config(args=["sh"], root_mode="chroot", rootfs_propagation="rslave",
                 close_fds=False, new_session=False)
    doc = cfg.to_oci()
    assert doc["linux"]["rootfsPropagation"] == "rslave"
    assert doc["annotations"] == {"minicontainer.rootMode": "chroot",
                                  "minicontainer.closeFds": "false",
                                  "minicontainer.newSession": "false",
                                  "minicontainer.overlay": "true"}
    back = Config.from_oci(doc)
    assert (back.root_mode, back.rootfs_propagation, back.close_fds, back.new_session) == (
        "chroot", "rslave", False, False)


def test_foreign_annotations_are_left_alone():
    back = Config.from_oci({"annotations": {"org.example.x": "1"}})
    assert back.close_fds and back.new_session and back.root_mode == "pivot"


def test_a_bad_annotation_names_its_key():
    with pytest.raises(ConfigError, match=r"annotations.minicontainer.closeFds: 'no'"):
        Config.from_oci({"annotations": {"minicontainer.closeFds": "no"}})
