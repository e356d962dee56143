"""The last execve of a container process, made from a sealed copy of a tiny stub.

During execve, ``/proc/self/exe`` names the program of the process that calls
it.  Were that the runtime's init or exec helper (host Python), a command
that is a symlink to ``/proc/self/exe``, or a script starting
``#!/proc/self/exe``, would start the host's Python binary inside the
container, and the container could then reach that host file through
``/proc/PID/exe`` (CVE-2019-5736).  So Python never execs the command: before
the clone (or the exec helper's fork) the runtime copies the static stub
built from ``csrc/execstub.c`` into a memfd and seals it; at the very end the
process execs the memfd, and the stub execs the command.  Whatever the
command resolves to, the caller of that execve is the sealed copy, not a host
file, with or without a user namespace.

Example::

    stub = execstub.sealed_copy()          # in the runtime, before the fork
    ...
    execstub.exec_command(stub, err_w, ["sh", "-c", "echo hi"], ["PATH=/bin"])
"""

from __future__ import annotations

import errno
import fcntl
import os

from minicontainer.errors import ContainerError

STUB_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_execstub")
MARKER = "minicontainer-execstub"  # argv[0]: how the stub knows the runtime started it
_MFD_EXEC = 0x10  # Linux 6.3+: say the memfd is meant to be executed
_F_SEAL_EXEC = 0x20  # Linux 6.3+: its mode bits cannot change either
MEMFD_NOEXEC = "/proc/sys/vm/memfd_noexec"
NOEXEC_MEMFDS = (f"{MEMFD_NOEXEC} is 2 here: no memfd may be executed, and every container "
                 "process is started from a sealed memfd copy of the exec stub (the "
                 "CVE-2019-5736 defence); run minicontainer where it is 0 or 1 (it is "
                 "per pid namespace, and can only be raised)")
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def sealed_copy() -> int:
    """A close-on-exec memfd holding the stub, sealed against any change.

    Made in the runtime on the host, once per start: nothing in the container
    can write to it (``F_SEAL_WRITE``), resize it or lift the seals, even as host
    root, and writing to it would change only this copy.
    """
    try:
        with open(STUB_PATH, "rb") as f:
            program = f.read()
    except FileNotFoundError:
        raise ContainerError(f"the exec stub {STUB_PATH} is missing: reinstall minicontainer "
                             "(scripts/bootstrap builds it from csrc/execstub.c)") from None
    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        fd = os.memfd_create(MARKER, flags | _MFD_EXEC)
    except OSError as e:
        if e.errno == errno.EACCES:
            raise ContainerError(NOEXEC_MEMFDS) from None
        if e.errno != errno.EINVAL:
            raise
        fd = os.memfd_create(MARKER, flags)  # a kernel before 6.3: every memfd may be executed
    try:
        view = memoryview(program)
        while view:
            view = view[os.write(fd, view):]
        try:
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS | _F_SEAL_EXEC)
        except OSError:  # EINVAL: no F_SEAL_EXEC before 6.3
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def exec_command(stub_fd: int, err_w: int, args: list[str], env: list[str]) -> None:
    """Exec the stub, which execs ``args`` searching the container's PATH as a shell would.

    The search is done here, written out rather than os.execvpe, which imports
    a module on its way (after the pivot no module can be imported); the stub
    tries each place in turn.  ``err_w`` stays open into the stub, which reports
    a failure there (126 not executable, 127 not found) and closes it on
    success.  Returns only by raising, if the stub itself could not be exec'd.
    """
    environ = dict(entry.split("=", 1) for entry in env)
    candidates = _candidates(args[0], environ)
    os.set_inheritable(err_w, True)
    try:
        os.execve(stub_fd, [MARKER, str(err_w), str(len(candidates)), *candidates, *args],
                  environ)
    except OSError as e:
        raise OSError(e.errno, e.strerror, "execveat of the exec stub") from None


def _candidates(name: str, environ: dict[str, str]) -> list[str]:
    """The paths the stub tries for ``name``, in order, as a shell searches ``PATH``."""
    if "/" in name:
        return [name]
    return [os.path.join(d or ".", name) for d in environ.get("PATH", "").split(":")]


def require_command(name: str, env: list[str]) -> None:
    """Raise the stub's own "not found" unless one of the places it will try for
    ``name`` exists; here, so that OCI ``create`` fails as runc's does, not ``start``.

    Only existence: what exists but cannot be executed is still the stub's to
    report.  Runs in the container after the pivot, so it imports nothing.
    """
    environ = dict(entry.split("=", 1) for entry in env)
    if not any(os.path.exists(path) for path in _candidates(name, environ)):
        raise ContainerError(f"{name}: command not found in the container", 127)


def exec_sealed(args: list[str], env: dict[str, str] | None = None) -> None:
    """Become ``args`` (searched in ``PATH``) through a fresh sealed copy of the stub.

    For a program of one's own that starts a command the way the runtime does (a
    lab's launcher, say): whatever the command is, a ``#!/proc/self/exe`` script
    included, the caller of its execve is the sealed copy, never this process's
    Python binary.  ``env`` defaults to this process's environment.  A command not
    found in ``PATH`` raises FileNotFoundError here; the stub reports any other
    failure on stderr and exits with its code (126 not executable, 125 other).
    Returns only by raising.
    """
    import shutil

    environment = dict(os.environ if env is None else env)
    if "/" not in args[0] and shutil.which(args[0], path=environment.get("PATH", "")) is None:
        raise FileNotFoundError(errno.ENOENT, "command not found", args[0])
    stub = sealed_copy()
    err_w = os.dup(2)  # what the stub reports a failure on; closed by a successful execve
    try:
        exec_command(stub, err_w, args, [f"{k}={v}" for k, v in environment.items()])
    finally:
        os.close(err_w)
        os.close(stub)
