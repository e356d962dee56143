"""The OCI pieces that need no container: bundles, spec, features, state words, the
command line of the OCI subcommands, --log lines."""

from __future__ import annotations

import json
import os
import socket

import pytest

from minicontainer import cli, oci, process
from minicontainer.config import ConfigError
from minicontainer.errors import ContainerError
from minicontainer.state import OCI_VERSION


def write_bundle(path, doc) -> str:
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(doc, f)
    return str(path)


def test_spec_loads_back_as_the_hardened_default(tmp_path):
    oci.write_spec(str(tmp_path))
    config, annotations, oci_version = oci.load_bundle(str(tmp_path))
    assert oci_version == OCI_VERSION
    assert config.rootfs == os.path.join(str(tmp_path), "rootfs")  # relative to the bundle
    assert config.args == ["sh"] and not config.terminal
    assert config.seccomp and config.seccomp_profile is None  # the built-in profile
    assert config.no_new_privileges and config.user_namespace
    assert annotations == {"minicontainer.overlay": "true"} and config.overlay
    assert [m.destination for m in config.all_mounts()] == [
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]


def test_spec_refuses_to_overwrite(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ContainerError, match="exists already"):
        oci.write_spec(str(tmp_path))
    assert (tmp_path / "config.json").read_text() == "{}"


def test_spec_takes_a_rootfs(tmp_path):
    oci.write_spec(str(tmp_path), "/srv/root")
    assert json.loads((tmp_path / "config.json").read_text())["root"]["path"] == "/srv/root"


def test_a_bundle_without_config_json_says_so(tmp_path):
    with pytest.raises(ContainerError, match="no config.json"):
        oci.load_bundle(str(tmp_path))


@pytest.mark.parametrize("change, field", [
    (lambda d: d.pop("ociVersion"), "ociVersion"),
    (lambda d: d.pop("process"), "process"),
    (lambda d: d["root"].pop("path"), "root.path"),
    (lambda d: d.update(annotations={"k": 1}), "annotations.k"),
])
def test_bundle_errors_name_the_field(tmp_path, change, field):
    doc = oci.default_spec()
    change(doc)
    with pytest.raises(ConfigError) as raised:
        oci.load_bundle(write_bundle(tmp_path, doc))
    assert raised.value.field == field


@pytest.mark.parametrize("change, field", [
    (lambda d: d["process"].update(args="sh"), "process.args"),
    (lambda d: d["process"].update(args=[]), "process.args"),
    (lambda d: d["process"].update(args=["sh", 1]), "process.args[1]"),
    (lambda d: d["process"].update(terminal="yes"), "process.terminal"),
    (lambda d: d["process"].update(user=0), "process.user"),
    (lambda d: d["process"].update(capabilities=["CAP_KILL"]), "process.capabilities"),
    (lambda d: d["process"]["capabilities"].update(bounding="CAP_KILL"),
     "process.capabilities.bounding"),
    (lambda d: d.update(mounts={"destination": "/x"}), "mounts"),
    (lambda d: d.update(mounts=["/x"]), "mounts[0]"),
    (lambda d: d.update(mounts=[{"destination": "/x"}]), "mounts[0]"),
    (lambda d: d.update(linux=[]), "linux"),
    (lambda d: d["linux"].update(namespaces={"type": "pid"}), "linux.namespaces"),
    (lambda d: d["linux"].update(namespaces=["pid"]), "linux.namespaces[0]"),
])
def test_a_field_of_the_wrong_type_is_named_with_its_value(tmp_path, change, field):
    doc = oci.default_spec()
    change(doc)
    with pytest.raises(ConfigError) as raised:
        oci.load_bundle(write_bundle(tmp_path, doc))
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


def test_annotations_come_from_config_json(tmp_path):
    doc = oci.default_spec()
    doc["annotations"] = {"org.example.team": "blue"}
    assert oci.load_bundle(write_bundle(tmp_path, doc))[1] == {"org.example.team": "blue"}


def test_a_terminal_needs_a_console_socket_when_detached_and_only_then(tmp_path):
    doc = oci.default_spec()
    doc["process"]["terminal"] = True
    config = oci.load_bundle(write_bundle(tmp_path, doc)).config
    with pytest.raises(ConfigError, match="needs --console-socket"):
        process.check_console(config, None, detached=True)
    process.check_console(config, None, detached=False)  # run relays it itself
    path = str(tmp_path / "console.sock")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        process.check_console(config, path, detached=True)
        config.terminal = False
        with pytest.raises(ConfigError, match="goes with process.terminal"):
            process.check_console(config, path, detached=True)


def test_a_console_socket_is_checked_before_anything_starts(tmp_path):
    config = oci.load_bundle(write_bundle(tmp_path, oci.default_spec())).config
    config.terminal = True
    missing = str(tmp_path / "nobody.sock")
    with pytest.raises(ConfigError) as raised:
        process.check_console(config, missing, detached=True)
    assert str(raised.value) == (f"console-socket: {missing!r} cannot be reached "
                                 "(No such file or directory)")
    with pytest.raises(ConfigError, match="is not a unix socket"):
        process.check_console(config, str(tmp_path / "config.json"), detached=True)
    long_path = "/tmp/" + "x" * 103
    with pytest.raises(ConfigError, match=r"is longer than a unix socket path can be \(107"):
        process.check_console(config, long_path, detached=True)


def test_preserved_fds_must_be_open():
    with pytest.raises(ConfigError, match="not open"):
        process.check_preserved_fds(1000)
    process.check_preserved_fds(0)


def test_features_document_has_the_spec_fields():
    features = oci.features()
    assert features["ociVersionMin"] <= features["ociVersionMax"]
    assert features["hooks"] == ["prestart", "createRuntime", "createContainer",
                                 "startContainer", "poststart", "poststop"]
    assert {"tmpcopyup", "nosuid", "rbind", "rprivate"} <= set(features["mountOptions"])
    linux = features["linux"]
    assert set(linux["namespaces"]) == {"cgroup", "ipc", "mount", "network", "pid", "user",
                                        "uts"}
    assert "CAP_SYS_ADMIN" in linux["capabilities"]
    assert "CAP_CHECKPOINT_RESTORE" in linux["capabilities"]
    assert "CAP_LAST_CAP" not in linux["capabilities"]
    assert linux["cgroup"]["v2"] and not linux["cgroup"]["systemd"]
    assert "SCMP_ACT_ERRNO" in linux["seccomp"]["actions"]
    assert "SCMP_CMP_MASKED_EQ" in linux["seccomp"]["operators"]
    assert "SCMP_ARCH_X86_64" in linux["seccomp"]["archs"]
    assert linux["selinux"] == {"enabled": False}


@pytest.mark.parametrize("ours, theirs", [("unknown", "stopped"), ("created", "created"),
                                          ("running", "running"), ("paused", "paused")])
def test_status_in_oci_words(ours, theirs):
    assert oci.oci_status(ours) == theirs


def test_pid_file_is_written_whole(tmp_path):
    path = str(tmp_path / "pid")
    oci.write_pid_file(path, 4242)
    assert (tmp_path / "pid").read_text() == "4242"
    assert os.listdir(tmp_path) == ["pid"]


def test_a_failed_pid_file_write_leaves_no_partial_file(tmp_path):
    (tmp_path / "pid").mkdir()  # the rename onto it fails
    with pytest.raises(IsADirectoryError):
        oci.write_pid_file(str(tmp_path / "pid"), 4242)
    assert os.listdir(tmp_path) == ["pid"]


def test_a_command_that_exists_is_found_as_the_stub_would():
    from minicontainer import execstub

    execstub.require_command("sh", ["PATH=/nonexistent:/bin"])
    execstub.require_command("/bin/sh", [])
    with pytest.raises(ContainerError) as raised:
        execstub.require_command("no-such-command", ["PATH=/bin:/usr/bin"])
    assert str(raised.value) == "no-such-command: command not found in the container"
    assert raised.value.exit_code == 127


@pytest.mark.parametrize("argv, command", [
    (["--root", "/run/x", "--log", "/tmp/l", "--log-format", "json", "state", "a"], "state"),
    (["--systemd-cgroup", "delete", "a"], "delete"),
    (["--debug", "create", "--bundle", "/b", "a"], "create"),
])
def test_global_options_before_the_command(argv, command):
    assert cli._command_in(argv) == command
    args = cli.build_parser(command).parse_args(argv)
    assert args.command == command and args.id == "a"


def test_kill_takes_all_and_keeps_its_old_form():
    args = cli.build_parser("kill").parse_args(["kill", "--all", "c1", "KILL"])
    assert (args.all, args.id, args.signal) == (True, "c1", "KILL")
    args = cli.build_parser("kill").parse_args(["kill", "c1"])
    assert (args.all, args.signal) == (False, "TERM")


def test_run_bundle_options_need_a_bundle(capsys):
    assert cli.main(["run", "--pid-file", "/tmp/p", "--", "true"]) == 125
    assert "pid-file" in capsys.readouterr().err


def test_preserve_fds_without_a_bundle_names_its_value(capsys):
    assert cli.main(["run", "--preserve-fds", "2", "--", "true"]) == 125
    assert "preserve-fds: '2' goes with --bundle" in capsys.readouterr().err


def test_run_bundle_refuses_config_flags(capsys):
    assert cli.main(["run", "--bundle", "/nonexistent", "--hostname", "x", "c1"]) == 125
    assert "hostname: 'x' cannot go with --bundle" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["create", "--bundle", "/nonexistent", "c1"],
                                     ["run", "--bundle", "/nonexistent", "c1"],
                                     ["run", "--", "true"]])
def test_systemd_cgroup_is_refused_where_it_would_matter(capsys, command):
    assert cli.main(["--systemd-cgroup", *command]) == 125
    assert "systemd-cgroup: True is not supported" in capsys.readouterr().err


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_errors_also_go_to_the_log(tmp_path, capsys, log_format):
    log = tmp_path / "runtime.log"
    code = cli.main(["--root", str(tmp_path / "state"), "--log", str(log), "--log-format",
                     log_format, "state", "no-such-container"])
    assert code == 125
    assert capsys.readouterr().err == \
        'minicontainer: error: container "no-such-container" does not exist\n'
    line = log.read_text()
    if log_format == "json":
        entry = json.loads(line)
        assert (entry["level"], entry["msg"]) == (
            "error", 'container "no-such-container" does not exist')
        assert entry["time"].endswith("Z")
    else:
        assert line.startswith('time="')
        assert ' level=error msg="container \\"no-such-container\\" does not exist"' in line
