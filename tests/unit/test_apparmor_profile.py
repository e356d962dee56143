"""The AppArmor layer without a kernel: the default profile's text, the option, the
config field and its OCI round trip, and what a host without AppArmor makes of them."""

from __future__ import annotations

import re
import subprocess

import pytest

from minicontainer import apparmor, cli, escapes
from minicontainer.config import Config, ConfigError


def config_for(*flags: str) -> Config:
    args = cli.build_parser("run").parse_args(["run", *flags, "--", "sh"])
    return cli.config_from_args(args)


def rule_blocks() -> list[tuple[list[str], str]]:
    """The profile's rules, each with the comment lines just above its group."""
    body = apparmor.PROFILE_TEXT.split("{", 1)[1].rsplit("}", 1)[0]
    blocks, comment, after_rule = [], [], False
    for line in (raw.strip() for raw in body.splitlines()):
        if line.startswith("#"):
            comment = [line] if after_rule else [*comment, line]
            after_rule = False
        elif line:
            blocks.append((comment, line))
            after_rule = True
        else:
            comment, after_rule = [], False
    return blocks


def test_every_rule_has_a_comment_and_every_deny_group_names_escapes_it_stops():
    names = {e.name for e in escapes.catalogue()}
    for comment, rule in rule_blocks():
        assert comment, f"no comment above {rule!r}"
        if rule.startswith("deny /sys/") or not rule.startswith("deny"):
            continue  # the base, and /sys: a hardening no escape of the catalogue needs yet
        stops = re.findall(r"Stops ([a-z, -]+?)\.", " ".join(comment))
        assert stops, f"the comment of {rule!r} names no escape it stops"
        for named in re.split(r", | and |,", stops[0]):
            assert named.strip() in names, f"{named!r} is not in the catalogue"


def test_the_profile_is_named_as_the_runtime_asks_for_it():
    assert re.search(r"^profile minicontainer-default flags=\(attach_disconnected,"
                     r"mediate_deleted\) \{$", apparmor.PROFILE_TEXT, re.MULTILINE)
    for rule in ("deny mount,", "deny /proc/sysrq-trigger rwklx,", "deny /proc/kcore rwklx,",
                 "ptrace (trace, read, tracedby, readby) peer=minicontainer-default,"):
        assert rule in apparmor.PROFILE_TEXT


@pytest.mark.skipif(apparmor.parser_path() is None, reason="no apparmor_parser on this machine "
                    "(apt-get install apparmor)")
def test_apparmor_parser_compiles_the_profile():
    result = subprocess.run([apparmor.parser_path(), "-Q", "-K"], input=apparmor.PROFILE_TEXT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("flags, expected", [
    ([], None),
    (["--security-opt", "apparmor=unconfined"], "unconfined"),
    (["--security-opt", "apparmor=my-profile"], "my-profile"),
    (["--security-opt", "apparmor=/usr/bin/foo"], "/usr/bin/foo"),
    (["--security-opt", "apparmor=a", "--security-opt", "apparmor=b"], "b"),
    (["--privileged"], "unconfined"),
    (["--privileged", "--security-opt", "apparmor=my-profile"], "my-profile"),
])
def test_security_opt_and_privileged_set_the_profile(flags, expected, capsys):
    assert config_for(*flags).apparmor_profile == expected


@pytest.mark.parametrize("value", ["", "a b", "-r", "x\ny", ":ns:p", "a" * 256])
def test_a_bad_profile_name_is_an_error_naming_the_option(value):
    with pytest.raises(ConfigError) as e:
        config_for("--security-opt", f"apparmor={value}")
    assert e.value.field == "security-opt" and e.value.value == f"apparmor={value}"


@pytest.mark.parametrize("value", ["a b", 5, ""])
def test_validate_refuses_a_bad_profile_name(value):
    cfg = Config(["sh"], apparmor_profile=value)
    with pytest.raises(ConfigError) as e:
        cfg._check_switches()
    assert e.value.field == "apparmor_profile"


@pytest.mark.parametrize("profile", [None, "unconfined", "minicontainer-default", "custom"])
def test_oci_round_trip(profile):
    doc = Config(["sh"], apparmor_profile=profile).to_oci()
    assert doc["process"].get("apparmorProfile") == profile
    assert Config.from_oci(doc).apparmor_profile == profile


def test_an_empty_oci_profile_is_none_asked_for():
    assert Config.from_oci({"process": {"args": ["sh"], "apparmorProfile": ""}}
                           ).apparmor_profile is None


def test_without_apparmor_the_default_is_unconfined_and_a_profile_is_an_error(monkeypatch):
    monkeypatch.setattr(apparmor, "ENABLED_PARAMETER", "/nonexistent/enabled")
    assert apparmor.resolve(None) == apparmor.UNCONFINED
    assert apparmor.resolve("unconfined") == apparmor.UNCONFINED
    with pytest.raises(ConfigError) as e:
        apparmor.resolve("minicontainer-default")
    assert "--security-opt apparmor=unconfined" in str(e.value)
    assert "does not run AppArmor" in str(e.value)


def test_with_apparmor_the_default_is_the_profile(monkeypatch, tmp_path):
    parameter = tmp_path / "enabled"
    parameter.write_text("Y\n")
    monkeypatch.setattr(apparmor, "ENABLED_PARAMETER", str(parameter))
    assert apparmor.resolve(None) == apparmor.DEFAULT_PROFILE
    assert apparmor.resolve("custom") == "custom"
    parameter.write_text("N\n")
    with pytest.raises(ConfigError, match="switched off"):
        apparmor.resolve("custom")


def test_loaded_profiles_reads_names_and_modes(monkeypatch, tmp_path):
    listing = tmp_path / "profiles"
    listing.write_text("minicontainer-default (enforce)\n/usr/bin/a b (complain)\n")
    monkeypatch.setattr(apparmor, "LOADED_PROFILES", str(listing))
    assert apparmor.loaded_profiles() == {"minicontainer-default": "enforce",
                                          "/usr/bin/a b": "complain"}
    monkeypatch.setattr(apparmor, "LOADED_PROFILES", str(tmp_path / "missing"))
    with pytest.raises(apparmor.ContainerError, match="securityfs is not mounted"):
        apparmor.loaded_profiles()
