"""Containers under the ``linux.seccomp`` object podman 4.3 sends in config.json.

The profile (``tests/unit/data/podman-4.3-seccomp.json``) failed to load before:
libseccomp refused one of its duplicate ``socket`` rules on x86.  Each claim is
seen from inside, by ``sh`` or ``mc-probe``; each blocked call has a twin that
runs with only the seccomp layer off and gets past it.
"""

from __future__ import annotations

import json
import os

import pytest

from minicontainer import Config, Container
from minicontainer.config import DEFAULT_CAPABILITIES

PODMAN = os.path.join(os.path.dirname(__file__), os.pardir, "unit", "data",
                      "podman-4.3-seccomp.json")


@pytest.fixture(scope="module")
def podman() -> dict:
    with open(PODMAN) as f:
        return json.load(f)


def _run(tmp_path, args: list[str], **fields) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``args`` in a container made from ``fields``."""
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "w") as o, open(err, "w") as e:
        code = Container(Config(args=args, **fields)).run(stdout=o.fileno(), stderr=e.fileno())
    return code, out.read_text(), err.read_text()


def _probe(tmp_path, **fields) -> dict:
    code, out, err = _run(tmp_path, ["mc-probe", "--json"], **fields)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def under_podman(podman, tmp_path_factory) -> dict:
    return _probe(tmp_path_factory.mktemp("podman"), seccomp_profile=podman)


@pytest.fixture(scope="module")
def unconfined(tmp_path_factory) -> dict:
    return _probe(tmp_path_factory.mktemp("unconfined"), seccomp=False)


def _result(seen: dict, name: str) -> str:
    return seen["syscalls"][name]["result"]


def test_a_shell_runs_under_podmans_profile(podman, tmp_path):
    assert _run(tmp_path, ["sh", "-c", "echo ok"], seccomp_profile=podman) == (0, "ok\n", "")


def test_the_filter_is_installed(under_podman, unconfined):
    assert (under_podman["seccomp"], under_podman["seccomp_filters"]) == ("filter", 1)
    assert unconfined["seccomp"] != "filter"


def test_a_personality_podman_does_not_list_gets_its_default_enosys(under_podman, unconfined):
    # podman allows personality() for five values only; READ_IMPLIES_EXEC falls to
    # the default action, ENOSYS (defaultErrnoRet 38), not EPERM.
    assert _result(under_podman, "personality(READ_IMPLIES_EXEC)") == "ENOSYS"
    assert _result(unconfined, "personality(READ_IMPLIES_EXEC)") == "ok"


@pytest.mark.skipif(os.uname().machine != "x86_64",
                    reason="the 32-bit entry points are those of an x86_64 kernel")
def test_socketcall_is_denied_and_the_direct_32_bit_socket_call_is_filtered(under_podman,
                                                                            unconfined):
    # socket's rules look at its arguments, which socketcall hides from the filter:
    # socketcall answers ENOSYS although podman's list allows it.
    assert _result(under_podman, "socketcall(SYS_SOCKET,AF_UNIX)(int 0x80)") == "ENOSYS"
    assert _result(unconfined, "socketcall(SYS_SOCKET,AF_UNIX)(int 0x80)") == "ok"
    assert _result(under_podman, "socket(AF_UNIX)(int 0x80)") == "ok"


def test_sethostname_podman_denies_by_name_is_refused_by_the_filter_alone(podman, tmp_path):
    # podman denies sethostname with errnoRet 1 even to a container holding
    # CAP_SYS_ADMIN; with that capability and the filter off, busybox changes it.
    script = "hostname changed && hostname"
    caps = DEFAULT_CAPABILITIES | {"CAP_SYS_ADMIN"}
    code, _, err = _run(tmp_path, ["sh", "-c", script], seccomp_profile=podman,
                        capabilities=caps)
    assert code != 0 and "Operation not permitted" in err
    assert _run(tmp_path, ["sh", "-c", script], seccomp=False,
                capabilities=caps) == (0, "changed\n", "")
