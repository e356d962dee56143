"""AppArmor on a host whose kernel does not run it: containers run without a profile
and say so (probe, doctor); asking for a profile is a one-line error.  Where the
kernel runs AppArmor, tests/vm/test_apparmor.py shows the profile at work."""

from __future__ import annotations

import pytest

from helpers import mc, probe
from minicontainer import apparmor

pytestmark = pytest.mark.skipif(apparmor.enabled(), reason="this host runs AppArmor: "
                                "tests/vm/test_apparmor.py covers it")


@pytest.mark.parametrize("profile", ["minicontainer-default", "my-profile"])
def test_an_explicit_profile_is_a_one_line_error_naming_the_option(profile):
    result = mc("run", "--security-opt", f"apparmor={profile}", "--", "true")
    assert result.returncode == 125
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"minicontainer: error: apparmor_profile: '{profile}' needs "
                               "AppArmor, and this kernel does not run AppArmor")
    assert "--security-opt apparmor=unconfined" in lines[0]


def test_unconfined_runs_and_the_probe_reports_apparmor_not_enabled():
    """The twin of the error: the same run, with the profile switched off, works; so
    does the default, which on this host is no profile."""
    assert probe("--security-opt", "apparmor=unconfined")["apparmor"] == "not enabled"
    seen = probe()
    assert (seen["apparmor"], seen["selinux"]) == ("not enabled", "not enabled")


def test_doctor_says_once_that_apparmor_is_not_enabled():
    out = mc("doctor").stdout
    assert out.count("AppArmor is not enabled") == 1
    assert "SELinux is not enabled (minicontainer applies no SELinux labels)" in out
