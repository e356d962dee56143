"""Lab 09's fixture: a setuid-root helper in a directory of root's, outside the
workspace that `lab start` gives to the student (a chown would clear its setuid bit)."""

from __future__ import annotations

import os
import stat
import subprocess

from helpers import mc
from minicontainer import idmap, labs

NOBODY = 65534


def _checker():
    return labs.find("09").checker()


def _owner_and_mode(path: str) -> tuple[int, int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def test_start_makes_the_helper_setuid_root_and_the_workspace_the_students(tmp_path):
    checker = _checker()
    if os.path.lexists(checker.HELPER):
        os.unlink(checker.HELPER)
    env = {**os.environ, "SUDO_USER": "nobody", "XDG_STATE_HOME": str(tmp_path / "state")}
    started = mc("lab", "start", "09", "--workspace", str(tmp_path / "ws"), env=env,
                 check=True)
    assert f"prepared: {checker.HELPER}" in started.stdout
    assert _owner_and_mode(checker.HELPER) == (0, NOBODY, 0o4750)
    assert _owner_and_mode(os.path.dirname(checker.HELPER))[:2] == (0, 0)
    assert (tmp_path / "ws" / "09-nnp" / "nnp_exec.py").stat().st_uid == NOBODY
    assert checker.prepare(str(tmp_path / "ws" / "09-nnp")) == []


def test_prepare_rebuilds_a_helper_that_lost_its_setuid_bit(tmp_path):
    checker = _checker()
    checker.prepare(str(tmp_path))
    os.chmod(checker.HELPER, 0o755)
    made = checker.prepare(str(tmp_path))
    assert len(made) == 1 and checker.HELPER in made[0]
    assert _owner_and_mode(checker.HELPER) == (0, NOBODY, 0o4750)


def test_the_helper_makes_nobody_root_and_says_so(tmp_path):
    checker = _checker()
    checker.prepare(str(tmp_path))
    ran = subprocess.run([checker.HELPER], capture_output=True, text=True, check=True,
                         preexec_fn=lambda: idmap.switch_user(NOBODY, NOBODY, []))
    assert ran.stdout == "ruid 65534 euid 0 suid 0 NoNewPrivs 0\n"
