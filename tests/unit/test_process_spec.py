"""The OCI process object of `exec --process`: what it replaces, what it leaves to the
container, and what it refuses by name."""

from __future__ import annotations

import json

import pytest

from minicontainer import process_spec
from minicontainer.config import Config, ConfigError

CONTAINER = Config(args=["sleep", "60"], env=["FOO=container"], cwd="/srv",
                   no_new_privileges=True, apparmor_profile="unconfined").to_oci()


def process(**fields) -> dict:
    return {"args": ["sh"], "cwd": "/", **fields}


def test_args_env_cwd_user_and_terminal_replace_the_container_s():
    cfg, size = process_spec.exec_config(CONTAINER, process(
        args=["id", "-u"], env=["BAR=exec"], cwd="/tmp", user={"uid": 7, "gid": 8},
        terminal=True, consoleSize={"height": 30, "width": 90}))
    assert (cfg.args, cfg.cwd, cfg.uid, cfg.gid, cfg.terminal) == (["id", "-u"], "/tmp", 7, 8,
                                                                   True)
    assert cfg.env == ["BAR=exec"] and "FOO=container" not in cfg.environment()
    assert size == (30, 90)


def test_what_it_leaves_out_stays_the_container_s():
    cfg, size = process_spec.exec_config(CONTAINER, process())
    assert cfg.no_new_privileges and cfg.apparmor_profile == "unconfined"
    assert cfg.capabilities == Config.from_oci(CONTAINER).capabilities
    assert cfg.env == [] and size is None
    weaker, _ = process_spec.exec_config(CONTAINER, process(noNewPrivileges=False))
    assert not weaker.no_new_privileges


def test_capabilities_of_the_process_are_its_own():
    caps = {"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"], "effective": ["CAP_KILL"]}
    cfg, _ = process_spec.exec_config(CONTAINER, process(capabilities=caps))
    assert cfg.capabilities == {"CAP_KILL"}


def test_a_user_may_hold_the_bounding_set_as_podman_writes_it_and_keeps_its_ambient():
    caps = {"bounding": ["CAP_KILL", "CAP_CHOWN"], "permitted": ["CAP_KILL", "CAP_CHOWN"],
            "effective": ["CAP_KILL", "CAP_CHOWN"], "ambient": []}
    cfg, _ = process_spec.exec_config(CONTAINER, process(user={"uid": 1000, "gid": 1000},
                                                         capabilities=caps))
    assert cfg.capabilities == {"CAP_KILL", "CAP_CHOWN"} and cfg.ambient_capabilities == set()
    more = {**caps, "permitted": ["CAP_KILL", "CAP_SYS_ADMIN"]}
    with pytest.raises(ConfigError, match="more than the bounding set"):
        process_spec.exec_config(CONTAINER, process(user={"uid": 1000, "gid": 1000},
                                                    capabilities=more))


@pytest.mark.parametrize(("fields", "field"), [
    ({"selinuxLabel": "x"}, "process.selinuxLabel"),
    ({"scheduler": {"policy": "SCHED_FIFO"}}, "process.scheduler"),
    ({"ioPriority": {"class": "IOPRIO_CLASS_BE"}}, "process.ioPriority"),
    ({"execCPUAffinity": {"initial": "0"}}, "process.execCPUAffinity"),
    ({"commandLine": "cmd.exe"}, "process.commandLine"),
    ({"nonsense": 1}, "process.nonsense"),
    ({"args": []}, "process.args"),
    ({"args": "sh"}, "process.args"),
    ({"cwd": "tmp"}, "process.cwd"),
    ({"env": "A=b"}, "process.env"),
    ({"terminal": "yes"}, "process.terminal"),
    ({"user": {"uid": -1}}, "process.user.uid"),
    ({"user": {"uid": True}}, "process.user.uid"),
    ({"user": {"username": "root"}}, "process.user.username"),
    ({"user": {"umask": 0o1000}}, "process.user.umask"),
    ({"user": {"additionalGids": [1, "2"]}}, "process.user.additionalGids"),
    ({"capabilities": {"bounding": ["CHOWN"]}}, "process.capabilities.bounding"),
    ({"capabilities": {"bounding": ["CAP_KILL"], "permitted": []}},
     "process.capabilities.permitted"),
    ({"oomScoreAdj": 1001}, "process.oomScoreAdj"),
    ({"rlimits": [{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}]}, "process.rlimits[0].type"),
    ({"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 2, "hard": 1}]}, "process.rlimits[0].soft"),
    ({"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}] * 2},
     "process.rlimits[1].type"),
    ({"rlimits": [{"type": "RLIMIT_NOFILE"}]}, "process.rlimits[0].soft"),
    ({"consoleSize": {"height": 1, "width": 1}}, "process.consoleSize"),
])
def test_what_cannot_be_honoured_is_refused_by_name(fields, field):
    with pytest.raises(ConfigError) as refused:
        process_spec.exec_config(CONTAINER, process(**fields))
    assert str(refused.value).startswith(f"{field}: ")


def test_an_empty_selinux_label_is_no_label_asked_for():
    cfg, _ = process_spec.exec_config(CONTAINER, process(selinuxLabel=""))
    assert cfg.args == ["sh"]


@pytest.mark.parametrize(("fields", "attr", "value"), [
    ({"user": {"umask": 0o22}}, "umask", 0o22),
    ({"user": {"additionalGids": [5, 6]}}, "additional_gids", [5, 6]),
    ({"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}]}, "rlimits",
     [("RLIMIT_NOFILE", 10, 20)]),
    ({"oomScoreAdj": 100}, "oom_score_adj", 100),
])
def test_umask_groups_rlimits_and_oom_score_are_the_process_s(fields, attr, value):
    cfg, _ = process_spec.exec_config(CONTAINER, process(**fields))
    assert getattr(cfg, attr) == value


def test_rlimits_and_oom_score_left_out_stay_the_container_s():
    container = Config(args=["sleep"], rlimits=[("RLIMIT_NOFILE", 64, 64)],
                       oom_score_adj=500).to_oci()
    cfg, _ = process_spec.exec_config(container, process())
    assert cfg.rlimits == [("RLIMIT_NOFILE", 64, 64)] and cfg.oom_score_adj == 500


def test_load_names_the_file_that_is_not_a_process(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("[1]")
    with pytest.raises(ConfigError, match="is not a JSON object"):
        process_spec.load(str(path))
    path.write_text("{")
    with pytest.raises(ConfigError, match="is not JSON"):
        process_spec.load(str(path))
    path.write_text(json.dumps(process()))
    assert process_spec.load(str(path)) == process()
    with pytest.raises(ConfigError, match="cannot be read"):
        process_spec.load(str(tmp_path / "missing.json"))
