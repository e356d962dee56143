"""Lab 07: capabilities: read them, drop them, hand them to a user.

Usage:  sudo minicontainer lab run 07 -- decode MASK
        sudo minicontainer lab run 07 -- drop CAP[,CAP...] COMMAND [ARG...]
        sudo minicontainer lab run 07 -- grant UID CAP[,CAP...] COMMAND [ARG...]

decode  prints the capabilities of a mask of /proc/PID/status, one per line
        (try `decode $(awk '/CapEff/ {print $2}' /proc/self/status)`);
drop    runs COMMAND as root without the capabilities named;
grant   runs COMMAND as the user UID holding exactly the capabilities named.
"""

import os
import sys

from minicontainer import capabilities, idmap


def decode(mask: str) -> set[str]:
    """The names (``CAP_CHOWN``, ...) of the capabilities set in ``mask``, one ``Cap*``
    field of /proc/PID/status such as ``00000000a80425fb``."""
    bits = int(mask, 16)
    return {name for name in capabilities.NAMES if bits >> capabilities.number(name) & 1}


def drop(names: set[str], command: list[str]) -> None:
    """Become COMMAND, still root, without the capabilities ``names``."""
    keep = capabilities.ALL - names
    capabilities.before_user_switch(keep)
    capabilities.apply(keep, root=True, ambient=set())
    os.execvp(command[0], command)


def grant(uid: int, names: set[str], command: list[str]) -> None:
    """Become COMMAND as user ``uid`` (group ``uid``), holding exactly ``names``."""
    capabilities.before_user_switch(names)
    idmap.switch_user(uid, uid, [])
    capabilities.apply(names, root=False, ambient=names)
    os.execvp(command[0], command)


def _names(text: str) -> set[str]:
    return {capabilities.normalize(name) for name in text.split(",") if name}


def main() -> int:
    """Dispatch on the first argument."""
    args = sys.argv[1:]
    if args[:1] == ["decode"] and len(args) == 2:
        for name in sorted(decode(args[1])):
            print(name)
        return 0
    if args[:1] == ["drop"] and len(args) >= 3:
        drop(_names(args[1]), args[2:])
    if args[:1] == ["grant"] and len(args) >= 4 and args[1].isdigit():
        grant(int(args[1]), _names(args[2]), args[3:])
    sys.exit(__doc__.split("\n\n")[1])


if __name__ == "__main__":
    sys.exit(main())
