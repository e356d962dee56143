"""Lab 09: no_new_privs, the switch that makes setuid bits inert.

Usage:  sudo minicontainer lab run 09 -- [--allow-setuid] COMMAND [ARG...]

Runs COMMAND as the ordinary user nobody (uid and gid 65534, no supplementary
group), the way a container's init starts the process of `run -u 65534`: a child
drops root's groups, gid and uid, sets no_new_privs, then execs COMMAND.  With
--allow-setuid it leaves no_new_privs off, as `--security-opt
no-new-privileges=false` does: the twin, in which a setuid-root program still
makes nobody root.

    sudo minicontainer lab run 09 -- /var/lib/minicontainer/labs/09-nnp/setuid-id
    sudo minicontainer lab run 09 -- --allow-setuid /var/lib/minicontainer/labs/09-nnp/setuid-id
"""

import os
import sys

from minicontainer import idmap, native

NOBODY = 65534


def child(command: list[str], allow_setuid: bool) -> None:
    """The process that becomes COMMAND: nobody, with no_new_privs unless allowed."""
    idmap.switch_user(NOBODY, NOBODY, [])
    if not allow_setuid:
        native.set_no_new_privs()
    os.execvp(command[0], command)


def main() -> int:
    """Fork the child and wait for it; COMMAND's exit status is ours."""
    args = sys.argv[1:]
    allow_setuid = args[:1] == ["--allow-setuid"]
    command = args[1:] if allow_setuid else args
    if not command:
        sys.exit("usage: nnp_exec.py [--allow-setuid] COMMAND [ARG...]")
    pid = os.fork()
    if pid == 0:
        try:
            child(command, allow_setuid)
        except OSError as e:
            print(f"nnp_exec.py: {e}", file=sys.stderr)
        os._exit(127)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
