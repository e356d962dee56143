"""OCI hooks: parsing config.json's ``hooks``, and running real small programs
the way a runtime runs them (state on stdin, exact argv and environment, order,
timeouts, failure semantics per phase)."""

from __future__ import annotations

import builtins
import json
import os
import sys
import time

import pytest

from minicontainer import hooks
from minicontainer.config import ConfigError
from minicontainer.errors import ContainerError
from minicontainer.hooks import Hook

STATE = {"ociVersion": "1.0.2", "id": "c1", "status": "creating", "pid": 4242,
         "bundle": "/srv/bundle", "annotations": {"k": "v"}}


# -- parse and to_oci ---------------------------------------------------------------

def test_a_valid_doc_parses_into_every_phase_and_back():
    doc = {
        "prestart": [{"path": "/usr/bin/fix-mounts", "args": ["fix-mounts", "a"],
                      "env": ["key1=value1"]}],
        "createRuntime": [{"path": "/usr/bin/setup-network"}],
        "createContainer": [{"path": "/usr/bin/mount-hook", "args": ["-mount"]}],
        "startContainer": [{"path": "/usr/bin/refresh-ldcache"}],
        "poststart": [{"path": "/usr/bin/notify-start", "timeout": 5}],
        "poststop": [{"path": "/usr/sbin/cleanup.sh", "args": ["cleanup.sh", "-f"]},
                     {"path": "/bin/true", "env": ["A=", "B=x=y"]}],
    }
    parsed = hooks.parse(doc)
    assert list(parsed) == list(hooks.PHASES)
    assert parsed["prestart"] == [Hook("/usr/bin/fix-mounts", ["fix-mounts", "a"],
                                       ["key1=value1"], None)]
    assert parsed["poststart"][0].timeout == 5
    assert parsed["poststop"][1].environment() == {"A": "", "B": "x=y"}
    assert hooks.to_oci(parsed) == doc
    assert hooks.parse(hooks.to_oci(parsed)) == parsed


def test_no_hooks_is_six_empty_phases_and_an_empty_object():
    parsed = hooks.parse(None)
    assert parsed == {phase: [] for phase in hooks.PHASES}
    assert hooks.to_oci(parsed) == {}
    assert hooks.parse({"poststop": []}) == parsed


@pytest.mark.parametrize("doc, field, value", [
    (["not", "an", "object"], "hooks", ["not", "an", "object"]),
    ({"poststrat": []}, "hooks.poststrat", []),
    ({"prestart": {"path": "/x"}}, "hooks.prestart", {"path": "/x"}),
    ({"poststop": ["/bin/true"]}, "hooks.poststop[0]", "/bin/true"),
    ({"poststop": [{"path": "/bin/true"}, {}]}, "hooks.poststop[1].path", None),
    ({"poststop": [{"path": 7}]}, "hooks.poststop[0].path", 7),
    ({"poststop": [{"path": "bin/true"}]}, "hooks.poststop[0].path", "bin/true"),
    ({"poststop": [{"path": "/bin/\0true"}]}, "hooks.poststop[0].path", "/bin/\0true"),
    ({"createRuntime": [{"path": "/x", "args": "x -f"}]}, "hooks.createRuntime[0].args",
     "x -f"),
    ({"createRuntime": [{"path": "/x", "args": ["x", 1]}]}, "hooks.createRuntime[0].args",
     ["x", 1]),
    ({"createRuntime": [{"path": "/x", "args": ["", "a"]}]}, "hooks.createRuntime[0].args",
     ["", "a"]),
    ({"createContainer": [{"path": "/x", "env": ["NOEQUALS"]}]},
     "hooks.createContainer[0].env", "NOEQUALS"),
    ({"createContainer": [{"path": "/x", "env": ["=v"]}]}, "hooks.createContainer[0].env",
     "=v"),
    ({"createContainer": [{"path": "/x", "env": ["A=1", "A=2"]}]},
     "hooks.createContainer[0].env", "A=2"),
    ({"startContainer": [{"path": "/x", "timeout": 0}]}, "hooks.startContainer[0].timeout", 0),
    ({"startContainer": [{"path": "/x", "timeout": -3}]}, "hooks.startContainer[0].timeout",
     -3),
    ({"startContainer": [{"path": "/x", "timeout": 1.5}]}, "hooks.startContainer[0].timeout",
     1.5),
    ({"startContainer": [{"path": "/x", "timeout": "5"}]}, "hooks.startContainer[0].timeout",
     "5"),
    ({"startContainer": [{"path": "/x", "timeout": True}]}, "hooks.startContainer[0].timeout",
     True),
    ({"poststart": [{"path": "/x", "timout": 5}]}, "hooks.poststart[0].timout", 5),
])
def test_each_invalid_field_is_named_with_its_value(doc, field, value):
    with pytest.raises(ConfigError) as caught:
        hooks.parse(doc)
    assert caught.value.field == field
    assert caught.value.value == value
    assert str(caught.value).startswith(f"{field}: {value!r} ")


def test_an_unknown_phase_names_the_six():
    with pytest.raises(ConfigError, match="one of prestart, createRuntime, createContainer, "
                                          "startContainer, poststart, poststop"):
        hooks.parse({"postStart": []})


# -- run ------------------------------------------------------------------------------

RECORDER = """#!/bin/sh
# What the runtime gave this hook, as seen by the kernel; $1 names the record.
/bin/cat > {out}/$1.stdin
/usr/bin/tr '\\0' '\\n' < /proc/$$/cmdline > {out}/$1.argv
/usr/bin/tr '\\0' '\\n' < /proc/$$/environ > {out}/$1.env
echo "$1" >> {out}/order
exit {code}
"""


def recorder(tmp_path, name="hook.sh", code=0) -> str:
    path = tmp_path / name
    path.write_text(RECORDER.format(out=tmp_path, code=code))
    path.chmod(0o755)
    return str(path)


def lines(path) -> list[str]:
    return path.read_text().splitlines()


def test_the_state_is_on_stdin_and_argv_env_are_exactly_the_hooks(tmp_path):
    script = recorder(tmp_path)
    hook = Hook(script, ["ignored-by-the-kernel", "one"], ["A=1", "B=two words", "C="])
    hooks.run("createRuntime", [hook], STATE)
    assert json.loads((tmp_path / "one.stdin").read_text()) == STATE
    # A script: the kernel runs its interpreter with the script's path in argv[1],
    # and args[0] (the name the program is told it has) goes where execve puts it.
    assert lines(tmp_path / "one.argv") == ["/bin/sh", script, "one"]
    assert lines(tmp_path / "one.env") == ["A=1", "B=two words", "C="]


def test_args0_is_argv0_and_path_is_what_runs(tmp_path):
    script = recorder(tmp_path)
    hooks.run("poststop", [Hook("/bin/sh", ["not-a-shell", script, "named"])], STATE)
    assert lines(tmp_path / "named.argv") == ["not-a-shell", script, "named"]


def test_empty_args_is_the_path_alone_and_empty_env_is_no_environment(tmp_path):
    # `sh` with no arguments runs its stdin: here the state bytes are that script.
    out = tmp_path / "seen"
    script = (f"/usr/bin/tr '\\0' '\\n' < /proc/$$/cmdline > {out}.argv\n"
              f"/bin/cat /proc/$$/environ > {out}.env\n").encode()
    hooks.run("createRuntime", [Hook("/bin/sh")], script)
    assert lines(tmp_path / "seen.argv") == ["/bin/sh"]
    assert (tmp_path / "seen.env").read_bytes() == b""


def test_a_serialized_state_reaches_the_hook_byte_for_byte(tmp_path):
    state_json = json.dumps(STATE, indent=2).encode()
    hooks.run("poststart", [Hook(recorder(tmp_path), ["x", "raw"])], state_json)
    assert (tmp_path / "raw.stdin").read_bytes() == state_json


def test_hooks_run_in_their_order(tmp_path):
    script = recorder(tmp_path)
    names = ["first", "second", "third"]
    hooks.run("createRuntime", [Hook(script, ["x", name]) for name in names], STATE)
    assert lines(tmp_path / "order") == names


def test_a_failure_in_createRuntime_raises_and_stops_the_phase(tmp_path):
    good, bad = recorder(tmp_path), recorder(tmp_path, "bad.sh", code=3)
    phase = [Hook(good, ["x", "a"]), Hook(bad, ["x", "b"]), Hook(good, ["x", "c"])]
    with pytest.raises(ContainerError) as caught:
        hooks.run("createRuntime", phase, STATE)
    assert str(caught.value) == f"createRuntime hook 1 {bad} (exited with code 3)"
    assert lines(tmp_path / "order") == ["a", "b"]


def test_a_failure_in_poststop_only_warns_and_the_rest_run(tmp_path, capsys):
    good, bad = recorder(tmp_path), recorder(tmp_path, "bad.sh", code=3)
    phase = [Hook(good, ["x", "a"]), Hook(bad, ["x", "b"]), Hook(good, ["x", "c"])]
    hooks.run("poststop", phase, STATE)
    assert lines(tmp_path / "order") == ["a", "b", "c"]
    assert capsys.readouterr().err == (
        f"minicontainer: warning: poststop hook 1 {bad} (exited with code 3)\n")


def test_a_missing_path_cannot_be_executed(tmp_path, capsys):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(ContainerError, match=r"^prestart hook 0 .*nowhere \(cannot be "
                                             r"executed: No such file or directory\)$"):
        hooks.run("prestart", [Hook(missing)], STATE)
    hooks.run("poststart", [Hook(missing)], STATE)
    assert "minicontainer: warning: poststart hook 0" in capsys.readouterr().err


def test_a_hook_killed_by_a_signal_is_a_failure(tmp_path):
    with pytest.raises(ContainerError, match=r"\(killed by SIGTERM\)$"):
        hooks.run("startContainer", [Hook("/bin/sh", ["sh", "-c", "kill -TERM $$"])], STATE)


def test_a_timeout_kills_the_hook(tmp_path):
    began = time.monotonic()
    with pytest.raises(ContainerError, match=r"\(killed after its timeout of 1 s\)$"):
        hooks.run("createRuntime", [Hook("/bin/sleep", ["sleep", "30"], timeout=1)], STATE)
    assert time.monotonic() - began < 10


def test_a_timeout_kills_what_the_hook_started(tmp_path):
    pid_file = tmp_path / "child"
    script = f"/bin/sleep 30 & echo $! > {pid_file}; wait"
    hooks.run("poststop", [Hook("/bin/sh", ["sh", "-c", script], timeout=1)], STATE)
    child = int(pid_file.read_text())
    assert gone(child), f"the hook's own child {child} outlived its timeout"


def test_a_hook_within_its_timeout_succeeds(tmp_path):
    hooks.run("createRuntime", [Hook(recorder(tmp_path), ["x", "quick"], timeout=30)], STATE)
    assert lines(tmp_path / "order") == ["quick"]


def gone(pid: int) -> bool:
    """Whether ``pid`` has ended (a zombie awaiting its new parent counts) within 5 s."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


# -- run from the init: no import once it runs -----------------------------------------

def without_imports(body) -> str:
    """Run ``body`` in a forked child in which every import fails, as in the container's
    init after pivot_root; what it returns (or raises) comes back as text."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)

            def refuse(name, *args, **kwargs):
                raise ImportError(f"import {name} after the pivot")

            sys.modules["subprocess"] = None
            sys.path[:] = []
            sys.meta_path[:] = []
            builtins.__import__ = refuse
            try:
                result = f"ok {body()}"
            except BaseException as e:  # noqa: BLE001 - the parent judges it
                result = f"{type(e).__name__}: {e}"
            os.write(write_end, result.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        result = f.read().decode()
    os.waitpid(pid, 0)
    return result


def test_run_from_the_init_runs_the_hook_without_importing(tmp_path):
    """As the init calls it for createContainer and startContainer: a dict state,
    serialized here, after the pivot, where no module can be imported."""
    script = recorder(tmp_path)
    state = dict(STATE, status="created", pid=1)
    hook = Hook(script, ["x", "inside"], ["ONLY=this"])
    assert without_imports(lambda: hooks.run("startContainer", [hook], state)) == "ok None"
    assert json.loads((tmp_path / "inside.stdin").read_bytes()) == state
    assert lines(tmp_path / "inside.env") == ["ONLY=this"]


def test_failures_in_the_init_raise_without_importing(tmp_path):
    bad = recorder(tmp_path, "bad.sh", code=4)
    assert without_imports(lambda: hooks.run("createContainer", [Hook(bad, ["x", "b"])],
                                             {})) == (
        f"ContainerError: createContainer hook 0 {bad} (exited with code 4)")
    missing = str(tmp_path / "nowhere")
    assert without_imports(lambda: hooks.run("startContainer", [Hook(missing)], {})) == (
        f"ContainerError: startContainer hook 0 {missing} (cannot be executed: No such file "
        "or directory)")
    began = time.monotonic()
    sleeper = Hook("/bin/sleep", ["sleep", "30"], timeout=1)
    assert without_imports(lambda: hooks.run("createContainer", [sleeper], {})) == (
        "ContainerError: createContainer hook 0 /bin/sleep (killed after its timeout of 1 s)")
    assert time.monotonic() - began < 10


def test_the_import_guard_itself_refuses_an_import():
    # The twin of the two above: the guard does catch a module imported at call time.
    assert without_imports(lambda: __import__("subprocess")).startswith("ImportError")
