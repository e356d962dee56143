"""Lab 11: a launcher that hands COMMAND nothing of its caller's.

Usage:  sudo minicontainer lab run 11 -- COMMAND [ARG...]

Starts COMMAND the way a container runtime starts a container's process, and waits
for it: none of the file descriptors its caller left open reach COMMAND, COMMAND runs
in a session of its own (no controlling terminal to type into), and its execve is
made by a sealed copy of minicontainer's exec stub, so that no trick with
/proc/self/exe can make it run this program's own binary.  Exits with COMMAND's
status.

Fill in the three TODOs; `sudo minicontainer lab check 11` tells you how far you are.
"""

import os
import sys

from minicontainer import execstub, native


def become(command: list[str]) -> None:
    """The child's side: shed what the caller gave us, then become COMMAND."""
    # TODO 1: whoever started this program may have left file descriptors open
    # without close-on-exec (a directory of the host, a socket): fork and execve keep
    # them all. Close every descriptor above 2 (native.close_range, os.closerange),
    # or mark them close-on-exec.

    # TODO 2: still in the caller's session, COMMAND shares its controlling terminal
    # and can type into it (ioctl TIOCSTI). Start a new session.

    # TODO 3: execve from here makes /proc/self/exe, during the exec, this host
    # Python: a COMMAND that is `#!/proc/self/exe` runs it. Let a sealed copy of the
    # exec stub make the execve instead (minicontainer.execstub).
    os.execvp(command[0], command)


def main() -> int:
    """Fork, let the child become COMMAND, wait for it."""
    command = sys.argv[1:]
    if not command:
        sys.exit("usage: launch.py COMMAND [ARG...]")
    child = os.fork()
    if child == 0:
        try:
            become(command)
        except OSError as e:
            print(f"launch.py: {command[0]}: {e.strerror}", file=sys.stderr)
        finally:
            os._exit(127)
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
