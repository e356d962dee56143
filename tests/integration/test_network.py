"""Networking: none, host, bridge, container:ID and published ports.

Traffic goes only to the host's loopback and to addresses inside the network
namespaces these tests create.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from helpers import MC, mc, network_pieces, probe
from minicontainer import network
from minicontainer.state import StateStore


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
    (["-p", "٨٠:80", "--net", "bridge"], "publish: '٨٠:80' port '٨٠' is not a number"),
    (["-p", "0.0.0.0:", "--net", "bridge"], "publish: '0.0.0.0:' has an empty container port"),
    (["-p", "8080:80", "-p", "8080:81", "--net", "bridge"],
     "publish: 8080:81/tcp uses host port 8080/tcp again (after 8080:80/tcp)"),
    (["--subnet", "10.89.0.0/16"], "subnet: '10.89.0.0/16' needs --net bridge"),
    (["--subnet", "10.89.0.0/16", "--net", "host"], "subnet: '10.89.0.0/16' needs --net bridge"),
])
def test_bad_network_flags_are_errors(flags, message):
    result = mc("run", *flags, "--", "true")
    assert result.returncode == 125
    assert result.stderr.startswith("minicontainer: error: ")
    assert len(result.stderr.splitlines()) == 1, result.stderr
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


# ---- the firewall: what may cross into mc0

# What a container root with CAP_NET_ADMIN and a writable /proc/sys can do to send a packet
# with destination 127.0.0.1 out of eth0 to the gateway, and accept the replies from there.
REACH_HOST_LOOPBACK = (
    "ip addr del 127.0.0.1/8 dev lo && "  # else a reply from 127.0.0.1 is a martian here
    "ip route add 127.0.0.1/32 via 10.88.0.1 dev eth0 && "
    "echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet && "
    "nc -w 3 127.0.0.1 {port} </dev/null; echo attack ran")


def test_bridge_container_cannot_reach_the_hosts_loopback_services(host_services):
    # CVE-2020-8558: route_localnet on mc0 must not open the host's 127.0.0.1 to the bridge.
    port, _ = host_services
    result = mc("run", "--net", "bridge", "--cap-add", "NET_ADMIN",
                "--security-opt", "systempaths=unconfined", "--",
                "sh", "-c", REACH_HOST_LOOPBACK.format(port=port))
    assert result.stdout.endswith("attack ran\n"), result.stderr
    assert "host secret" not in result.stdout
    assert "timed out" in result.stderr


def test_a_port_published_on_127_0_0_1_still_answers_there(name):
    # The twin: the same route_localnet carries DNATed loopback traffic into the container.
    start(name, "--net", "bridge", "-p", "127.0.0.1:18083:8080", command=SERVE_PONG)
    assert _retry_connect(("127.0.0.1", 18083)) == b"pong\n"


NEIGHBOUR_HOST_END = "mcvnb0"  # "mcv": the leak fixture checks that it goes
NEIGHBOUR_NET = ("192.168.251.1", "192.168.251.2")


class Neighbour:
    """Runs commands in the neighbour's network namespace."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def command(self, *args: str) -> list[str]:
        """``args`` as a command line that runs in the neighbour's namespace."""
        return ["nsenter", "-t", str(self.pid), "-n", *args]

    def connect(self, address: str, port: int) -> subprocess.CompletedProcess:
        """What ``nc ADDRESS PORT`` there receives (stdout) and says (stderr)."""
        return subprocess.run(self.command("/bin/busybox", "nc", "-w", "2", address, str(port)),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=30)


@pytest.fixture
def neighbour():
    """A machine beside the host: a network namespace of the test's own (held by a
    process, so no /run/netns mount is left), a veth to the host, and a route in it to
    the container subnet through the host."""
    holder = subprocess.Popen(["unshare", "--net", "sleep", "120"])
    try:
        time.sleep(0.3)
        host_ip, neighbour_ip = NEIGHBOUR_NET
        network.create_veth_into(holder.pid, NEIGHBOUR_HOST_END)
        network.add_address(None, NEIGHBOUR_HOST_END, f"{host_ip}/24")
        network.set_up(None, NEIGHBOUR_HOST_END)
        network.add_address(holder.pid, "eth0", f"{neighbour_ip}/24")
        network.set_up(holder.pid, "eth0")
        network.set_up(holder.pid, "lo")
        subprocess.run(["nsenter", "-t", str(holder.pid), "-n", "ip", "route", "add",
                        network.DEFAULT_SUBNET, "via", host_ip], check=True)

        yield Neighbour(holder.pid)
    finally:
        # Before the namespace goes: its end going takes this one away at any moment.
        network.delete_link(NEIGHBOUR_HOST_END)
        holder.kill()
        holder.wait()


SERVE_PUBLISHED_AND_NOT = ("while :; do echo published | nc -l -p 8080; done & "
                           "while :; do echo unpublished | nc -l -p 9090; done")


def test_a_neighbour_routing_via_the_host_reaches_only_published_ports(name, neighbour):
    state = start(name, "--net", "bridge", "-p", "18084:8080", command=SERVE_PUBLISHED_AND_NOT)
    address = state["network"]["address"]
    host_ip = NEIGHBOUR_NET[0]
    published = ""
    for _ in range(50):  # the twin: a published port, through the host's address
        published = neighbour.connect(host_ip, 18084).stdout
        if published:
            break
        time.sleep(0.2)
    assert published == "published\n"
    # Routed straight to the container, neither port answers: only DNATed traffic goes in.
    direct = neighbour.connect(address, 8080)
    assert direct.stdout == "" and "timed out" in direct.stderr
    unpublished = neighbour.connect(address, 9090)
    assert unpublished.stdout == "" and "timed out" in unpublished.stderr


def test_a_bridge_container_still_connects_out_to_the_neighbour(name, neighbour):
    start(name, "--net", "bridge", command="sleep 60")
    listener = subprocess.Popen(neighbour.command("/bin/busybox", "nc", "-l", "-p", "7070"),
                                stdout=subprocess.PIPE, text=True)
    try:
        sent = ""
        for _ in range(50):
            sent = mc("exec", name, "sh", "-c",
                      f"echo from the container | nc -w 2 {NEIGHBOUR_NET[1]} 7070").stderr
            if listener.poll() is not None:
                break
            time.sleep(0.2)
        out, _ = listener.communicate(timeout=10)
    finally:
        listener.kill()
    assert out == "from the container\n", sent


# ---- start failures and removal leave nothing


def _forwarding() -> str:
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        return f.read().strip()


def _path_with_nft(directory, script: str | None) -> dict:
    """An environment whose PATH finds ``script`` as ``nft`` first (None: no nft at all)."""
    if script is None:
        return {**os.environ, "PATH": str(directory)}
    nft = directory / "nft"
    nft.write_text(f"#!/bin/sh\n{script}\n")
    nft.chmod(0o755)
    return {**os.environ, "PATH": f"{directory}:{os.environ['PATH']}"}


@pytest.mark.parametrize(("script", "message"), [
    ('echo "Error: Could not process rule: simulated" >&2; exit 1',
     "network: write the nftables table: nft refused the ruleset: Error: Could not process "
     "rule: simulated"),
    (None, "network: write the nftables table: nft is not installed (Debian: apt install "
           "nftables)"),
])
def test_nft_failing_or_missing_fails_the_start_and_leaves_nothing(tmp_path, script, message):
    env = _path_with_nft(tmp_path, script)
    result = mc("run", "--net", "bridge", "-p", "18085:80", "--", "true", env=env)
    assert result.returncode == 125
    assert result.stderr == f"minicontainer: error: {message}\n"
    assert network_pieces() == []
    assert _forwarding() == FORWARDING_BEFORE


def test_nft_failing_leaves_the_other_containers_network_alone(tmp_path, name):
    start(name, "--net", "bridge", "-p", "18086:8080", command=SERVE_PONG)
    before = network_pieces()
    env = _path_with_nft(tmp_path, "exit 1")
    assert mc("run", "--net", "bridge", "--", "true", env=env).returncode == 125
    assert network_pieces() == before
    assert _retry_connect(("127.0.0.1", 18086)) == b"pong\n"


def test_the_table_is_written_before_forwarding_is_on_and_the_veth_exists(tmp_path, name):
    # The nft that attach runs first notes what the host looks like at that moment.
    seen = tmp_path / "seen"
    real_nft = shutil.which("nft")
    env = _path_with_nft(tmp_path, f"cat /proc/sys/net/ipv4/ip_forward >> {seen}; "
                                   f"ls /sys/class/net >> {seen}; echo -- >> {seen}; "
                                   f"exec {real_nft} \"$@\"")
    result = mc("run", "--name", name, "--net", "bridge", "--", "true", env=env)
    assert result.returncode == 0, result.stderr
    first_call = seen.read_text().split("--\n")[0].splitlines()
    assert first_call[0] == FORWARDING_BEFORE
    assert not [link for link in first_call[1:] if link.startswith("mcv")]
    assert network_pieces() == []
    assert _forwarding() == FORWARDING_BEFORE


def test_a_netlink_error_during_attach_fails_the_start_and_leaves_nothing(name):
    # The veth's peer is made under a temporary name before it moves into the container:
    # a link of that name already there makes the kernel refuse (EEXIST) mid-attach.
    squatter = f"{network.veth_name(name)}tmp"
    subprocess.run(["ip", "link", "add", squatter, "type", "bridge"], check=True)
    try:
        result = mc("run", "--name", name, "--net", "bridge", "--", "true")
        assert result.returncode == 125
        assert result.stderr == "minicontainer: error: network: create the veth: File exists\n"
    finally:
        network.delete_link(squatter)
    assert network_pieces() == []
    assert _forwarding() == FORWARDING_BEFORE
    assert mc("run", "--name", name, "--net", "bridge", "--", "true").returncode == 0


@pytest.mark.parametrize(("removal", "record"), [
    (["rm", "-f", "{name}"], "kept"),
    (["cleanup"], "kept"),
    (["rm", "-f", "--all"], "kept"),
    (["rm", "-f", "{name}"], "gone"),  # the lease alone says what the id owned
    (["cleanup"], "gone"),
])
def test_kill_9_of_the_runtime_during_attach_is_cleaned_up(tmp_path, name, removal, record):
    # A fake nft that blocks holds the runtime while it writes the table, with the lease
    # and bridge made (forwarding waits for the table); then the runtime dies without a word.
    marker = tmp_path / "nft-started"
    env = _path_with_nft(tmp_path, f"echo $$ > {marker}; exec sleep 60")
    runtime = subprocess.Popen([*MC, "run", "--name", name, "--net", "bridge", "-p",
                                "18087:80", "--", "sleep", "60"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fake_nft = None
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() or not marker.read_text().strip():
            assert time.monotonic() < deadline, "the runtime never reached nft"
            time.sleep(0.05)
        fake_nft = int(marker.read_text())
        assert network.link_exists("mc0") and _forwarding() == FORWARDING_BEFORE
        runtime.kill()
    finally:
        runtime.kill()
        runtime.wait()
        if fake_nft is not None:
            os.kill(fake_nft, 9)
    if record == "gone":
        shutil.rmtree(StateStore().dir(name))
    result = mc(*(arg.format(name=name) for arg in removal))
    assert result.returncode == 0, result.stderr
    assert network_pieces() == []
    assert _forwarding() == FORWARDING_BEFORE
    again = mc("run", "--name", name, "--net", "bridge", "-p", "18087:80", "--", "true")
    assert again.returncode == 0, again.stderr
    assert network_pieces() == []
