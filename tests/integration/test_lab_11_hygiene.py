"""Lab 11's primitive: ``execstub.exec_sealed`` runs a command the way the runtime's
init does, so that a ``#!/proc/self/exe`` command finds the sealed stub and never the
caller's own Python; its twin, the same trap exec'd by Python itself, runs Python."""

from __future__ import annotations

import subprocess
import sys

SEALED = "import sys; from minicontainer import execstub; execstub.exec_sealed(sys.argv[1:])"
TRAP = "#!/proc/self/exe\nimport os\nprint('TRAP', os.readlink('/proc/self/exe'))\n"


def sealed(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SEALED, *command], capture_output=True,
                          text=True, timeout=20)


def test_exec_sealed_runs_the_command_with_nothing_of_its_own_left_open():
    ran = sealed("sh", "-c", "ls /proc/self/fd | tr '\\n' ' '; exit 3")
    assert ran.returncode == 3
    assert ran.stdout.split() == ["0", "1", "2", "3"]  # 3: ls's own directory


def test_a_proc_self_exe_trap_finds_the_stub_not_the_callers_python(tmp_path):
    trap = tmp_path / "trap"
    trap.write_text(TRAP)
    trap.chmod(0o755)
    trapped = sealed(str(trap))
    assert trapped.returncode == 126
    assert "this is minicontainer's exec stub" in trapped.stderr
    assert "TRAP" not in trapped.stdout
    plain = subprocess.run([sys.executable, "-c", f"import os; os.execv({str(trap)!r}, ['t'])"],
                           capture_output=True, text=True, timeout=20)
    assert plain.stdout.startswith("TRAP /")


def test_a_command_not_found_raises_before_any_exec():
    ran = sealed("no-such-command-of-lab-11")
    assert ran.returncode == 1
    assert "FileNotFoundError" in ran.stderr and "no-such-command-of-lab-11" in ran.stderr
