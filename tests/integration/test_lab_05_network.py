"""Lab 05's own pieces: the network primitives its students call, the stand-in host's
network namespace, and that no solution of the lab, right or wrong, touches the real
host's network (tests/integration/test_labs.py checks the verdicts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import labtests
import pytest

from minicontainer import labs, network
from minicontainer.namespaces import Namespace

WIRE_A_BOX = """
import json, os
from minicontainer import namespaces, network
network.loopback_up()
hold, release = os.pipe()
box = namespaces.clone(namespaces.Namespace.NET)
if box == 0:
    os.read(hold, 1)
    os._exit(0)
network.create_bridge("brtest")
network.create_veth_into(box, "vethtest", "eth0")
network.add_to_bridge("brtest", "vethtest")
network.set_up(None, "vethtest")
network.add_address(None, "brtest", "10.66.0.1/24")
network.add_address(box, "eth0", "10.66.0.2/24")
network.set_up(box, "eth0")
print(json.dumps({"host": network.links(), "box": network.links(box),
                  "host routes": network.routes(), "box routes": network.routes(box)}))
os.write(release, b"1")
os.waitpid(box, 0)
"""


def test_a_box_wired_to_a_bridge_as_links_and_routes_show_it():
    # Run in a network namespace of its own: the real host's network is never touched.
    ran = subprocess.run(["unshare", "--net", sys.executable, "-c", WIRE_A_BOX],
                         capture_output=True, text=True, timeout=30)
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout)
    assert seen["host"] == [["lo", "", True, None, ["127.0.0.1/8"]],
                            ["brtest", "bridge", True, None, ["10.66.0.1/24"]],
                            ["vethtest", "veth", True, "brtest", []]]
    assert seen["box"] == [["lo", "", False, None, []], ["eth0", "veth", True, None,
                                                          ["10.66.0.2/24"]]]
    assert seen["host routes"] == ["10.66.0.0/24 dev brtest"]
    assert seen["box routes"] == ["10.66.0.0/24 dev eth0"]


def test_the_stand_in_host_has_a_network_of_its_own(tmp_path):
    with labs.StandInHost(Namespace.NET) as host:
        assert host.links() == [network.Link("lo", "", True, None, ("127.0.0.1/8",))]
        assert host.routes() == []
        assert host.inode(Namespace.NET) != os.stat("/proc/self/ns/net").st_ino
        subprocess.run([sys.executable, "-c", "from minicontainer import network; "
                        "network.create_bridge('brstandin')"],
                       preexec_fn=host.preexec(str(tmp_path)), check=True)
        assert [link.name for link in host.links()] == ["lo", "brstandin"]
        assert "brstandin" not in os.listdir("/sys/class/net")  # the real host's links


class RealNetworkWatch:
    """Samples the real host's interfaces while it is entered: any of the lab's link
    names, or an address of the lab's subnet, lands in ``seen``."""

    NAMES = ("br05", "veth05a", "veth05b", "veth05atmp", "veth05btmp")

    def __enter__(self):
        self.seen: set[str] = set()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch)
        self.thread.start()
        return self

    def _watch(self):
        while not self.done.wait(0.005):
            for link in network.links():
                if link.name in self.NAMES or any(a.startswith("10.55.") for a in
                                                  link.addresses):
                    self.seen.add(f"{link.name} {link.addresses}")

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


@pytest.mark.parametrize("variant", [None, "no-netns", "address-on-host-end",
                                     "bridge-left"])
def test_checking_any_solution_leaves_the_real_hosts_network_alone(variant, tmp_path):
    lab = labs.find("05")
    workspace = labtests.copy(lab, "solution", tmp_path)
    if variant:
        program = os.path.join(workspace, lab.program)
        with open(program) as f:
            source = f.read()
        for old, new in labtests.expectations(lab)["wrong"][variant]["replace"]:
            source = source.replace(old, new)
        with open(program, "w") as f:
            f.write(source)
    before = network.routes()
    with RealNetworkWatch() as watch:
        results = labtests.verdicts(labs.check(lab, workspace))
    assert not watch.seen
    assert network.routes() == before
    if variant in (None, "bridge-left"):
        assert (results["nothing_left"].verdict == labs.PASS) == (variant is None)
