"""Lab 00: which namespaces does a container get of its own?

Usage:  sudo minicontainer lab run 00 -- [RUN FLAGS...]     e.g.  ... lab run 00 -- --share net

Starts a container (with the flags of `minicontainer run` you give), asks mc-probe
inside for the inode of each of its namespaces, and prints one line per namespace:

    NAME  HOST-INODE  CONTAINER-INODE  new|shared
"""

import json
import subprocess
import sys

from minicontainer import namespaces
from minicontainer.namespaces import Namespace

NAMES = ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"]
MINICONTAINER = [sys.executable, "-m", "minicontainer"]


def container_namespaces(flags: list[str]) -> dict[str, int]:
    """The namespace inodes mc-probe reports inside a container run with ``flags``."""
    result = subprocess.run([*MINICONTAINER, "run", *flags, "--", "mc-probe", "--json"],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)["namespaces"]


def main() -> int:
    """Print the table."""
    inside = container_namespaces(sys.argv[1:])
    for name in NAMES:
        host = namespaces.inode("self", Namespace.from_name(name))
        container = inside[name]
        print(name, host, container, "shared" if host == container else "new")
    return 0


if __name__ == "__main__":
    sys.exit(main())
