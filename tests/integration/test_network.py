"""Networking: none, host, bridge, container:ID and published ports.

Traffic goes only to the host's loopback and to addresses inside the network
namespaces these tests create.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from helpers import mc, network_pieces, probe
from minicontainer import network


@pytest.fixture
def name(request):
    value = f"n-{request.node.name[:30].replace('[', '-').replace(']', '')}-{os.getpid()}"
    yield value
    mc("rm", "-f", value)


def start(name: str, *flags: str, command: str) -> dict:
    result = mc("run", "-d", "--name", name, *flags, "--", "sh", "-c", command)
    assert result.returncode == 0, result.stderr
    return json.loads(mc("inspect", name, check=True).stdout)


SERVE_PONG = "while :; do echo pong | nc -l -p 8080; done"


def _retry_connect(address: tuple[str, int], timeout: float = 20) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(address, timeout=2) as s:
                data = s.recv(100)
                if data:
                    return data
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answered on {address}")
        time.sleep(0.1)


def test_default_network_is_loopback_only():
    seen = probe()
    assert {i["name"] for i in seen["interfaces"]} == {"lo"}
    assert seen["routes"] == []


def test_bridge_container_gets_eth0_an_address_and_a_default_route(name):
    state = start(name, "--net", "bridge", command="sleep 30")
    address = state["network"]["address"]
    seen = json.loads(mc("exec", name, "mc-probe", "--json", check=True).stdout)
    assert {"name": "eth0", "address": address, "up": True} in seen["interfaces"]
    assert {"dev": "eth0", "destination": "0.0.0.0/0", "gateway": "10.88.0.1"} in seen["routes"]
    etc = mc("exec", name, "sh", "-c", "cat /etc/hosts /etc/hostname", check=True).stdout
    assert f"{address}\t" in etc
    assert network.link_exists(network.veth_name(name))


def test_two_bridge_containers_reach_each_other(name):
    server = start(name, "--net", "bridge", command=SERVE_PONG)
    address = server["network"]["address"]
    for _ in range(50):
        out = mc("run", "--net", "bridge", "--", "sh", "-c", f"nc {address} 8080 </dev/null")
        if out.stdout == "pong\n":
            break
        time.sleep(0.2)
    assert out.stdout == "pong\n"


def test_published_port_answers_on_the_hosts_loopback(name):
    start(name, "--net", "bridge", "-p", "18081:8080", command=SERVE_PONG)
    assert _retry_connect(("127.0.0.1", 18081)) == b"pong\n"


def test_port_conflicts_are_errors(name):
    start(name, "--net", "bridge", "-p", "18082:8080", command="sleep 30")
    taken = mc("run", "--net", "bridge", "-p", "18082:9090", "--", "true")
    assert taken.returncode == 125 and "18082/tcp is taken by container" in taken.stderr
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        busy = mc("run", "--net", "bridge", "-p", f"{port}:80", "--", "true")
    assert busy.returncode == 125 and "in use on the host" in busy.stderr


@pytest.fixture
def host_services():
    """A TCP service on the host's 127.0.0.1 and an abstract unix socket."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    abstract_name = f"mc-test-{os.getpid()}"
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(f"\0{abstract_name}")
    unix.listen()
    stop = threading.Event()

    def serve():
        tcp.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = tcp.accept()
            except OSError:
                continue
            conn.sendall(b"host secret\n")
            conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    yield tcp.getsockname()[1], abstract_name
    stop.set()
    thread.join()
    tcp.close()
    unix.close()


def test_net_none_cannot_reach_the_hosts_loopback_or_abstract_sockets(host_services):
    port, abstract_name = host_services
    tcp = mc("run", "--", "sh", "-c", f"nc 127.0.0.1 {port} </dev/null")
    assert "host secret" not in tcp.stdout
    unix = mc("run", "--", "mc-probe", "--connect-abstract", abstract_name)
    assert unix.returncode == 1 and "Connection refused" in unix.stdout


def test_net_host_reaches_both_the_pitfall(host_services):
    port, abstract_name = host_services
    tcp = mc("run", "--net", "host", "--", "sh", "-c", f"nc 127.0.0.1 {port} </dev/null")
    assert tcp.stdout == "host secret\n"
    assert "loopback" in tcp.stderr and "warning" in tcp.stderr
    unix = mc("run", "--net", "host", "--", "mc-probe", "--connect-abstract", abstract_name)
    assert unix.returncode == 0 and unix.stdout.endswith(": ok\n")


def test_container_network_mode_shares_the_other_containers_eth0(name):
    state = start(name, "--net", "bridge", command="sleep 30")
    seen = json.loads(mc("run", "--net", f"container:{name}", "--", "mc-probe", "--json",
                         check=True).stdout)
    assert {"name": "eth0", "address": state["network"]["address"], "up": True} in \
        seen["interfaces"]
    assert seen["namespaces"]["net"] == state["namespaces"]["net"]
    assert seen["namespaces"]["user"] != state["namespaces"]["user"]


@pytest.mark.parametrize(("flags", "message"), [
    (["-p", "70000:80", "--net", "bridge"], "publish: '70000:80' port '70000' is not from 1"),
    (["-p", "80:0", "--net", "bridge"], "publish: '80:0' port '0'"),
    (["-p", "x:80:80", "--net", "bridge"], "'x' is not an IPv4 address"),
    (["-p", "8080:80/sctp", "--net", "bridge"], "the protocol must be tcp or udp"),
    (["-p", "8080:80"], "publish: 8080:80/tcp needs --net bridge"),
    (["--net", "bogus"], "net: 'bogus' is not none, host, bridge or container:ID"),
    (["--net", "container:missing"], "net: 'container:missing' names no such container"),
    (["--net", "bridge", "--subnet", "8.8.0.0/16"], "subnet: '8.8.0.0/16' is not a private"),
    (["--share", "net", "--net", "bridge"], "share: 'net' contradicts --net bridge"),
])
def test_bad_network_flags_are_errors(flags, message):
    result = mc("run", *flags, "--", "true")
    assert result.returncode == 125
    assert result.stderr.startswith("minicontainer: error: ")
    assert message in result.stderr, result.stderr


def test_subnet_overlapping_a_host_route_is_refused():
    # A veth pair of the test's own carries the route to overlap.
    subprocess.run(["ip", "link", "add", "mcvroute0", "type", "veth", "peer", "mcvroute1"],
                   check=True)
    try:
        subprocess.run(["ip", "addr", "add", "10.99.0.1/16", "dev", "mcvroute0"], check=True)
        subprocess.run(["ip", "link", "set", "mcvroute0", "up"], check=True)
        refused = mc("run", "--net", "bridge", "--subnet", "10.99.0.0/16", "--", "true")
        assert refused.returncode == 125
        assert "overlaps the host route to 10.99.0.0/16" in refused.stderr
        other = mc("run", "--net", "bridge", "--subnet", "10.98.0.0/16", "--", "true")
        assert other.returncode == 0
    finally:
        network.delete_link("mcvroute0")


def test_fifty_bridge_runs_leave_nothing():
    for _ in range(50):
        assert mc("run", "--net", "bridge", "--", "true").returncode == 0
    assert network_pieces() == []
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == FORWARDING_BEFORE


FORWARDING_BEFORE = open("/proc/sys/net/ipv4/ip_forward").read().strip()


def test_a_crashed_containers_lease_and_veth_are_reclaimed(name):
    state = start(name, "--net", "bridge", command="sleep 30")
    os.kill(state["monitorPid"], 9)  # the monitor dies without detaching
    time.sleep(0.5)
    veth = network.veth_name(name)
    assert mc("run", "--net", "bridge", "--", "true").returncode == 0  # reclaims on the way
    assert not network.link_exists(veth)
    mc("rm", name, check=True)
    assert network_pieces() == []


def test_python_api_veth_into_a_process():
    holder = subprocess.Popen(["unshare", "--net", "sleep", "30"])
    try:
        time.sleep(0.3)
        network.create_veth_into(holder.pid, "mcvapitest")
        network.add_address(None, "mcvapitest", "192.168.250.1/24")
        network.set_up(None, "mcvapitest")
        network.add_address(holder.pid, "eth0", "192.168.250.2/24")
        network.set_up(holder.pid, "eth0")
        inside = subprocess.run(["nsenter", "-t", str(holder.pid), "-n", "ip", "-4", "addr"],
                                capture_output=True, text=True).stdout
        assert "192.168.250.2/24" in inside
        server = subprocess.Popen(["nsenter", "-t", str(holder.pid), "-n", "/bin/busybox", "sh",
                                   "-c", "echo hi | /bin/busybox nc -l -p 9999"])
        try:
            assert _retry_connect(("192.168.250.2", 9999)) == b"hi\n"
        finally:
            server.kill()
            server.wait()
    finally:
        holder.kill()
        holder.wait()
        network.delete_link("mcvapitest")
