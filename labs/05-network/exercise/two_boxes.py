"""Lab 05: two network namespaces, wired to each other through a bridge on the host.

Usage:  sudo minicontainer lab run 05 -- 'COMMAND A' 'COMMAND B'

Starts two boxes, a and b, each in a network namespace of its own, and wires them
by hand the way Docker wires its default network:

    host                                   box a (its own network namespace)
      br05: a bridge, no address             lo    127.0.0.1/8, up
        +-- veth05a ==== veth pair ========  eth0  10.55.0.2/24
        +-- veth05b ==== veth pair ========  eth0  10.55.0.3/24 of box b

Box a runs COMMAND A and box b COMMAND B with `sh -c`; $BOX is a or b, $ME the
box's address and $PEER the other box's.  When both have ended, whatever was made
on the host is taken down.  Try:

    sudo minicontainer lab run 05 -- 'ip -br addr' 'ip -br addr'
    sudo minicontainer lab run 05 -- 'busybox nc -lp 7000' \
        'sleep 1; echo hi from $BOX | busybox nc $PEER 7000'

Fill in the five TODOs; `sudo minicontainer lab check 05` tells you how far you are.
"""

import os
import sys
from dataclasses import dataclass

from minicontainer import namespaces, network
from minicontainer.namespaces import Namespace

BRIDGE = "br05"
PREFIX = 24
ADDRESSES = {"a": "10.55.0.2", "b": "10.55.0.3"}


@dataclass
class Box:
    """A box as the host sees it: its name, its pid, the pipe that releases it."""

    name: str
    pid: int
    release: int

    @property
    def host_end(self) -> str:
        """The name of the host's end of the box's veth pair."""
        return f"veth05{self.name}"


def start_box(name: str, command: str) -> Box:
    """Clone box ``name``: it waits until the host has wired it, then runs ``command``."""
    wired, release = os.pipe()
    # TODO 1: clone the box into a network namespace of its own.
    pid = namespaces.clone(0)
    if pid == 0:
        os.close(release)
        if os.read(wired, 1) != b"1":  # the host could not wire it
            os._exit(125)
        try:
            in_box(name, command)
        finally:
            os._exit(127)
    os.close(wired)
    return Box(name, pid, release)


def in_box(name: str, command: str) -> None:
    """The box's side, once it is wired: its loopback up, then COMMAND."""
    # TODO 2: a new network namespace has one interface, lo, and it is down: bring it
    # up here, in the box (look in minicontainer.network).
    peer = ADDRESSES["b" if name == "a" else "a"]
    env = {**os.environ, "BOX": name, "ME": ADDRESSES[name], "PEER": peer}
    os.execvpe("sh", ["sh", "-c", command], env)


def wire(box: Box) -> None:
    """Plug ``box`` into the bridge with a veth pair, and give its end an address."""
    # TODO 4: a veth pair whose host end is box.host_end and whose other end is
    # "eth0" in the box's namespace; the host end plugged into BRIDGE and up; then
    # the box's address (ADDRESSES, PREFIX) on eth0, and eth0 up. `None` as a pid
    # means "this namespace", the host's.


def take_down(boxes: list[Box]) -> None:
    """Remove from the host what main() made there."""
    # TODO 5: delete the host ends of the veths and the bridge (look in
    # minicontainer.network). The boxes' ends go with their namespaces.


def wait(box: Box) -> int:
    """Wait for ``box`` to end; its exit status."""
    _, status = os.waitpid(box.pid, 0)
    return os.waitstatus_to_exitcode(status)


def main() -> int:
    """Start both boxes, wire them, wait for them, clean up."""
    if len(sys.argv) != 3:
        sys.exit("usage: two_boxes.py 'COMMAND A' 'COMMAND B'")
    boxes = [start_box("a", sys.argv[1]), start_box("b", sys.argv[2])]
    try:
        # TODO 3: make the bridge BRIDGE on the host.
        for box in boxes:
            wire(box)
        for box in boxes:
            os.write(box.release, b"1")
    finally:
        for box in boxes:
            os.close(box.release)
        codes = [wait(box) for box in boxes]
        take_down(boxes)
    return next((code for code in codes if code), 0)


if __name__ == "__main__":
    sys.exit(main())
