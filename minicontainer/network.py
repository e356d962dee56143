"""The network namespace layer: loopback, and Docker-style bridge networking.

A new network namespace starts with one interface, ``lo``, and it is down.  The
default container gets exactly that interface, up, and nothing else.

``--net bridge`` connects the namespace to the host the way Docker's default
network does::

    host                                         container netns
      mc0 (bridge) 10.88.0.1/16
        +-- mcv1a2b3c4d (veth) ----------------- eth0 10.88.0.2/16, default via 10.88.0.1
      nftables table "ip minicontainer": masquerade out of 10.88.0.0/16,
      DNAT from published host ports to container ports

Links are made with pyroute2 (netlink).  NAT is driven through the ``nft``
command: the whole table is written anew from the leases in one atomic
transaction each time a container comes or goes, so a rule can never outlive
the container it was for, even after a crash (see :func:`reconcile`).
"""

from __future__ import annotations

import collections
import errno
import os

from minicontainer import native

BRIDGE = "mc0"
DEFAULT_SUBNET = "10.88.0.0/16"
TABLE = "minicontainer"
WRITE_TABLE = "write the nftables table"
# ipaddress, pyroute2, json and subprocess are imported where used: this module is on
# the start-up path of every container (loopback_up), and pyroute2 alone takes ~250 ms.


class NetworkError(OSError):
    """A network request that cannot be met; the message says which field and why."""


def loopback_up() -> None:
    """Bring ``lo`` of the current network namespace up."""
    native.set_link_up("lo")


def _netns(pid: int | None) -> str | None:
    return None if pid is None else f"/proc/{pid}/ns/net"


def _iproute(pid: int | None = None):
    from pyroute2 import IPRoute

    return IPRoute(netns=_netns(pid)) if pid is not None else IPRoute()


def create_veth_into(pid: int, host_name: str, container_name: str = "eth0",
                     mtu: int = 1500) -> None:
    """Make a veth pair: ``host_name`` stays here, its peer moves into the network
    namespace of process ``pid`` as ``container_name``.

    Example::

        create_veth_into(pid, "vethdemo")
        add_address(None, "vethdemo", "192.168.77.1/24")
        set_up(None, "vethdemo")
        add_address(pid, "eth0", "192.168.77.2/24")
        set_up(pid, "eth0")
    """
    peer = f"{host_name[:12]}tmp"
    with _iproute() as ip:
        ip.link("add", ifname=host_name, kind="veth", peer=peer, mtu=mtu)
        index = ip.link_lookup(ifname=peer)[0]
        ip.link("set", index=index, net_ns_fd=_netns(pid))
    with _iproute(pid) as ip:
        index = ip.link_lookup(ifname=peer)[0]
        ip.link("set", index=index, ifname=container_name, mtu=mtu)


def add_address(pid: int | None, ifname: str, cidr: str) -> None:
    """Add ``cidr`` (``10.88.0.2/16``) to ``ifname`` in ``pid``'s netns (None: ours)."""
    address, prefix = cidr.split("/")
    with _iproute(pid) as ip:
        ip.addr("add", index=ip.link_lookup(ifname=ifname)[0], address=address,
                prefixlen=int(prefix))


def set_up(pid: int | None, ifname: str) -> None:
    """Bring ``ifname`` up in ``pid``'s netns (None: ours)."""
    with _iproute(pid) as ip:
        ip.link("set", index=ip.link_lookup(ifname=ifname)[0], state="up")


def add_default_route(pid: int | None, gateway: str) -> None:
    """Route everything not on a local network through ``gateway``."""
    with _iproute(pid) as ip:
        ip.route("add", dst="0.0.0.0/0", gateway=gateway)


def link_exists(name: str) -> bool:
    """Whether this namespace has an interface called ``name``."""
    return os.path.exists(f"/sys/class/net/{name}")


def delete_link(name: str) -> None:
    """Delete an interface (with a veth, its peer goes too); a missing one is fine."""
    import errno

    from pyroute2 import NetlinkError

    with _iproute() as ip:
        found = ip.link_lookup(ifname=name)
        if found:
            try:
                ip.link("del", index=found[0])
            except NetlinkError as e:
                # A veth goes by itself when its container's netns dies, which the
                # kernel finishes in the background: it may be gone since the lookup.
                if e.code != errno.ENODEV:
                    raise


def create_bridge(name: str) -> None:
    """Make a bridge (a virtual switch) called ``name`` in this namespace, up.

    It gets no address: a bridge forwards frames between its ports without one.
    Docker's gives its bridge an address so that the host can route for the
    containers too.  Plug interfaces into it with :func:`add_to_bridge`; remove
    it with :func:`delete_link`.
    """
    with _iproute() as ip:
        ip.link("add", ifname=name, kind="bridge")
        ip.link("set", index=ip.link_lookup(ifname=name)[0], state="up")


def add_to_bridge(bridge: str, ifname: str) -> None:
    """Make ``ifname`` of this namespace a port of ``bridge`` (``ip link set IFNAME
    master BRIDGE``)."""
    with _iproute() as ip:
        ip.link("set", index=ip.link_lookup(ifname=ifname)[0],
                master=ip.link_lookup(ifname=bridge)[0])


# collections' namedtuple, not typing's NamedTuple: importing typing costs every run 4 ms.
class Link(collections.namedtuple("Link", "name kind up master addresses")):
    """One interface as :func:`links` reports it: ``name``; ``kind``, "veth",
    "bridge", ... ("" for lo and physical devices); ``up``, administratively up
    (IFF_UP); ``master``, the bridge it is a port of, or None; ``addresses``, its
    IPv4 addresses as "10.55.0.2/24"."""

    __slots__ = ()


def links(pid: int | None = None) -> list[Link]:
    """The interfaces of ``pid``'s network namespace (None: ours), in index order.

    Example: ``print(*network.links(box_pid), sep="\\n")``.
    """
    with _iproute(pid) as ip:
        found = list(ip.get_links())
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in found}
        addresses: dict[int, list[str]] = {}
        for entry in ip.get_addr(family=2):
            addresses.setdefault(entry["index"], []).append(
                f"{entry.get_attr('IFA_ADDRESS')}/{entry['prefixlen']}")
    result = []
    for link in sorted(found, key=lambda link: link["index"]):
        info = link.get_attr("IFLA_LINKINFO")
        master = link.get_attr("IFLA_MASTER")
        result.append(Link(names[link["index"]],
                           (info.get_attr("IFLA_INFO_KIND") if info else None) or "",
                           bool(link["flags"] & 1), names.get(master) if master else None,
                           tuple(addresses.get(link["index"], ()))))
    return result


def routes(pid: int | None = None) -> list[str]:
    """The IPv4 routes of the main table of ``pid``'s network namespace (None: ours),
    one string each, sorted: ``"10.55.0.0/24 dev br05"``, ``"0.0.0.0/0 via 10.0.2.2 dev
    eth0"``."""
    with _iproute(pid) as ip:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ip.get_links()}
        found = []
        for route in ip.get_routes(family=2, table=254):
            text = f"{route.get_attr('RTA_DST') or '0.0.0.0'}/{route['dst_len']}"
            if route.get_attr("RTA_GATEWAY"):
                text += f" via {route.get_attr('RTA_GATEWAY')}"
            if route.get_attr("RTA_OIF") is not None:
                text += f" dev {names.get(route.get_attr('RTA_OIF'), '?')}"
            found.append(text)
    return sorted(found)


def veth_name(container_id: str) -> str:
    """The host end of a container's veth: short (interface names have 15 bytes) and
    derived from the id, so a later cleanup can find it."""
    import zlib

    return f"mcv{zlib.crc32(container_id.encode()):08x}"


# ---- ports


class PortMapping:
    """``-p [HOSTADDR:]HOSTPORT:CTRPORT[/tcp|/udp]``."""

    __slots__ = ("host_address", "host_port", "container_port", "protocol")

    def __init__(self, host_port: int, container_port: int, protocol: str = "tcp",
                 host_address: str | None = None) -> None:
        self.host_address = host_address
        self.host_port = host_port
        self.container_port = container_port
        self.protocol = protocol

    def __repr__(self) -> str:
        address = f"{self.host_address}:" if self.host_address else ""
        return f"{address}{self.host_port}:{self.container_port}/{self.protocol}"

    def to_list(self) -> list:
        return [self.host_address, self.host_port, self.container_port, self.protocol]

    @classmethod
    def parse(cls, spec: str) -> PortMapping:
        """Raises ValueError with the reason for a malformed or out-of-range spec."""
        rest, _, protocol = spec.partition("/")
        protocol = protocol or "tcp"
        if protocol not in ("tcp", "udp"):
            raise ValueError("the protocol must be tcp or udp")
        parts = rest.rsplit(":", 2)
        if len(parts) == 2:
            parts = [None, *parts]
        if len(parts) != 3:
            raise ValueError("is not [HOSTADDR:]HOSTPORT:CTRPORT[/tcp|/udp]")
        address, host, container = parts
        for which, text in (("host", host), ("container", container)):
            if not text:
                raise ValueError(f"has an empty {which} port: the form is "
                                 "[HOSTADDR:]HOSTPORT:CTRPORT[/tcp|/udp]")
        if address is not None:
            import ipaddress

            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                raise ValueError(f"{address!r} is not an IPv4 address") from None
        ports = []
        for text in (host, container):
            if not (text.isascii() and text.isdigit()):  # int() takes '٨٠' and ' 80_0 '
                raise ValueError(f"port {text!r} is not a number (digits 0-9)")
            if not 1 <= int(text) <= 65535:
                raise ValueError(f"port {text!r} is not from 1 to 65535")
            ports.append(int(text))
        return cls(ports[0], ports[1], protocol, address)


# ---- the bridge network


class BridgeNetwork:
    """The host side of ``--net bridge``: the bridge, the leases and the NAT table.

    ``state_dir`` holds ``leases.json`` and its lock.  Every change happens under
    that lock.  A lease is written before anything it stands for is made, so
    whatever a crash leaves (a bridge, a table, IP forwarding switched on) is
    found again through it: :meth:`detach` with the container's id, or
    :meth:`reclaim`, takes it all down.
    """

    def __init__(self, state_dir: str, subnet: str = DEFAULT_SUBNET) -> None:
        import ipaddress

        self.state_dir = state_dir
        self.subnet = ipaddress.ip_network(subnet)
        self.gateway = str(next(self.subnet.hosts()))

    # -- leases

    def _leases_path(self) -> str:
        return os.path.join(self.state_dir, "leases.json")

    def _load(self) -> dict:
        import json

        try:
            with open(self._leases_path()) as f:
                return json.load(f)
        except FileNotFoundError:
            return {"leases": {}, "forwarding": None, "subnet": str(self.subnet)}

    def _save(self, data: dict) -> None:
        import json

        path = self._leases_path()
        with open(f"{path}.tmp", "w") as f:
            json.dump(data, f)
        os.rename(f"{path}.tmp", path)

    def _lock(self):
        from minicontainer.state import Lock

        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        return Lock(os.path.join(self.state_dir, ".lock"))

    def _reclaim(self, data: dict) -> None:
        """Drop the leases whose container process is gone, with their veths."""
        from minicontainer.state import alive

        for address, lease in list(data["leases"].items()):
            if not alive(lease["pid"], lease["startTime"]):
                if link_exists(lease["veth"]):
                    delete_link(lease["veth"])
                del data["leases"][address]

    def held_by(self, container_id: str) -> list[str]:
        """What the leases hold for ``container_id`` (read without the lock: a hint
        for cleanup, which then takes the lock)."""
        try:
            leases = self._load()["leases"]
        except (OSError, ValueError):
            return []
        return [f"lease {address}" for address, lease in leases.items()
                if lease.get("id") == container_id]

    def leases(self) -> dict:
        """The live leases: address -> {id, pid, startTime, veth, ports}."""
        with self._lock():
            data = self._load()
            self._reclaim(data)
            self._save(data)
            return data["leases"]

    # -- attach / detach

    def attach(self, container_id: str, pid: int, start_time: int,
               ports: list[PortMapping]) -> str:
        """Connect process ``pid``'s netns to the bridge; its address.

        All or nothing: when a step fails, what the steps before it made is taken
        down again and a :class:`NetworkError` says which step failed and why.
        """
        with self._lock():
            data = self._load()
            self._reclaim(data)
            self._check_ports(data, ports)
            address = self._allocate(data)
            veth = veth_name(container_id)
            data["leases"][address] = {"id": container_id, "pid": pid, "startTime": start_time,
                                       "veth": veth, "ports": [p.to_list() for p in ports]}
            if len(data["leases"]) == 1:
                data["subnet"] = str(self.subnet)
            self._save(data)
            # The filter is in place before the host forwards anything and before the
            # container's veth exists (nft matches interfaces by name, not by index).
            steps = [
                ("create the bridge", self._ensure_bridge),
                (WRITE_TABLE, lambda: reconcile(data["leases"], self.subnet)),
                ("enable IP forwarding", lambda: self._enable_forwarding(data)),
                ("create the veth", lambda: self._plug_veth(pid, veth)),
                ("configure eth0", lambda: self._configure_eth0(pid, address)),
            ]
            try:
                for label, step in steps:
                    _attempt(label, step)
            except BaseException as e:
                # One nft transaction changes all or nothing: if it was the step that
                # failed, the table is as it was, and nft is no use to undo it.
                undone = self._release(data, container_id, write_table=label != WRITE_TABLE)
                if isinstance(e, NetworkError) and undone:
                    raise NetworkError(e.errno, f"{e.strerror}; undoing it: "
                                       f"{'; '.join(undone)}") from None
                raise
            return address

    def detach(self, container_id: str) -> None:
        """Release everything ``container_id`` owns: its veth, lease and rules; the last
        one out removes the bridge and the NAT table and puts IP forwarding back as it
        was.  Each step is tried even if another fails; then the failures are raised."""
        self._release_locked(container_id)

    def reclaim(self) -> None:
        """Release what containers that are gone left behind (as :meth:`detach` does)."""
        self._release_locked(None)

    def _release_locked(self, container_id: str | None) -> None:
        if not os.path.exists(self._leases_path()) and not link_exists(BRIDGE):
            return  # no bridge network on this host: nothing to do, and no nft needed
        with self._lock():
            failures = self._release(self._load(), container_id)
        if failures:
            raise NetworkError(5, "; ".join(failures))

    def _release(self, data: dict, container_id: str | None,
                 write_table: bool = True) -> list[str]:
        """Drop the leases of ``container_id`` and of containers that are gone; when none
        is left, take the bridge network down.  Every step runs whatever the others did;
        the failures are returned, and a lease whose veth could not go is kept (as is
        the file while the table may be out of date: a later release writes it again)."""
        from minicontainer.state import alive

        failures: list[str] = []
        changed = False
        for address, lease in list(data["leases"].items()):
            if lease["id"] != container_id and alive(lease["pid"], lease["startTime"]):
                continue
            changed = True
            try:
                _attempt(f"delete {lease['veth']}", lambda v=lease["veth"]: _delete_if_there(v))
                del data["leases"][address]
            except NetworkError as e:
                failures.append(e.strerror)
        # The reverse of attach: forwarding goes back before the filter is taken away.
        steps = []
        if not data["leases"]:
            steps.append(("restore ip_forward", lambda: self._restore_forwarding(data)))
        if write_table:
            steps.append((WRITE_TABLE,
                          lambda: reconcile(data["leases"], data.get("subnet", self.subnet))))
        if not data["leases"]:
            steps.append((f"delete {BRIDGE}", lambda: _delete_if_there(BRIDGE)))
        if not changed and data["leases"]:
            steps = []  # nothing was released: the table already matches the leases
        for label, step in steps:
            try:
                _attempt(label, step)
            except NetworkError as e:
                failures.append(e.strerror)
        try:
            if data["leases"] or data.get("forwarding") is not None or failures \
                    or not write_table:
                self._save(data)
            elif os.path.exists(self._leases_path()):
                os.unlink(self._leases_path())
        except OSError as e:
            failures.append(f"save {self._leases_path()}: {e.strerror}")
        return failures

    def _allocate(self, data: dict) -> str:
        taken = set(data["leases"]) | {self.gateway}
        for host in self.subnet.hosts():
            if str(host) not in taken:
                return str(host)
        raise NetworkError(28, f"no free address left in {self.subnet}")

    def _check_ports(self, data: dict, ports: list[PortMapping]) -> None:
        used = {(lease_port[1], lease_port[3]): lease["id"]
                for lease in data["leases"].values() for lease_port in lease["ports"]}
        for port in ports:
            owner = used.get((port.host_port, port.protocol))
            if owner is not None:
                raise NetworkError(98, f"publish: host port {port.host_port}/{port.protocol} "
                                   f"is taken by container {owner}")
            _check_free_on_host(port)

    def _ensure_bridge(self) -> None:
        if link_exists(BRIDGE):
            with _iproute() as ip:
                index = ip.link_lookup(ifname=BRIDGE)[0]
                addresses = {f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
                             for a in ip.get_addr(index=index)}
            wanted = f"{self.gateway}/{self.subnet.prefixlen}"
            if wanted not in addresses:
                raise NetworkError(17, f"subnet: bridge {BRIDGE} exists with {sorted(addresses)}"
                                   f", not {wanted}; remove its containers first")
            return
        self._check_overlap()
        with _iproute() as ip:
            ip.link("add", ifname=BRIDGE, kind="bridge")
        add_address(None, BRIDGE, f"{self.gateway}/{self.subnet.prefixlen}")
        set_up(None, BRIDGE)
        # Published ports answer on 127.0.0.1 too: DNAT from loopback out of the bridge.
        # It also lets packets for 127.0.0.0/8 in from the bridge: the input chain of
        # the table drops those unless they belong to such a DNATed connection.
        _write(f"/proc/sys/net/ipv4/conf/{BRIDGE}/route_localnet", "1")

    def _plug_veth(self, pid: int, veth: str) -> None:
        """A veth from the bridge into ``pid``'s netns, where its end is ``eth0``."""
        _delete_if_there(veth)
        mtu = int(_read(f"/sys/class/net/{BRIDGE}/mtu"))
        create_veth_into(pid, veth, "eth0", mtu)
        with _iproute() as ip:
            bridge = ip.link_lookup(ifname=BRIDGE)[0]
            ip.link("set", index=ip.link_lookup(ifname=veth)[0], master=bridge, state="up")

    def _configure_eth0(self, pid: int, address: str) -> None:
        add_address(pid, "eth0", f"{address}/{self.subnet.prefixlen}")
        set_up(pid, "eth0")
        add_default_route(pid, self.gateway)

    def _check_overlap(self) -> None:
        import ipaddress

        with _iproute() as ip:
            for route in ip.get_routes(family=2, table=254):
                dst = route.get_attr("RTA_DST")
                if dst is None or route["dst_len"] == 0:
                    continue
                network = ipaddress.ip_network(f"{dst}/{route['dst_len']}", strict=False)
                if network.overlaps(self.subnet):
                    raise NetworkError(17, f"subnet: {self.subnet} overlaps the host route to "
                                       f"{network}; choose another with --subnet")

    def _enable_forwarding(self, data: dict) -> None:
        path = "/proc/sys/net/ipv4/ip_forward"
        current = _read(path).strip()
        if current != "1":
            # Recorded before it is switched: after a crash here, cleanup still knows.
            data["forwarding"] = current
            self._save(data)
            _write(path, "1")

    def _restore_forwarding(self, data: dict) -> None:
        if data.get("forwarding") is not None:
            _write("/proc/sys/net/ipv4/ip_forward", data["forwarding"])
            data["forwarding"] = None


def _attempt(label: str, step) -> None:
    """Run one step of attach or release; any failure becomes a NetworkError that
    names the step and the reason (netlink and nft errors included)."""
    try:
        step()
    except NetworkError as e:
        if e.strerror.startswith(("subnet:", "publish:")):
            raise
        raise NetworkError(e.errno, f"{label}: {e.strerror}") from None
    except Exception as e:
        code = getattr(e, "code", None) or getattr(e, "errno", None)  # netlink, or OSError
        if isinstance(code, int) and code > 0:
            reason = getattr(e, "strerror", None) or os.strerror(code)
        else:
            code, reason = 5, str(e) or type(e).__name__
        raise NetworkError(code, f"{label}: {reason}") from None


def _delete_if_there(name: str) -> None:
    if link_exists(name):
        delete_link(name)


def _check_free_on_host(port: PortMapping) -> None:
    """A host service already listening there would be shadowed by the DNAT rule."""
    import socket

    kind = socket.SOCK_STREAM if port.protocol == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((port.host_address or "0.0.0.0", port.host_port))
        except OSError:
            raise NetworkError(98, f"publish: host port {port.host_port}/{port.protocol} is "
                               "in use on the host") from None


def ruleset(leases: dict, subnet) -> str:
    """The nft script that makes the table match ``leases`` (or removes it).

    What may cross into ``mc0`` (the forward chain): replies to the containers' own
    connections and connections DNATed to a published port; nothing else, so a
    neighbour that routes the subnet through this host reaches no other port.  What
    may come from ``mc0`` to the host's loopback (the input chain): only the packets
    of a DNATed connection, although ``route_localnet`` on ``mc0`` lets packets for
    127.0.0.0/8 in (docs/layers/network.md, CVE-2020-8558).
    """
    lines = [f"table ip {TABLE}", f"delete table ip {TABLE}"]
    if not leases:
        return "\n".join(lines) + "\n"
    dnat = []
    for address, lease in sorted(leases.items()):
        for host_address, host_port, container_port, protocol in lease["ports"]:
            match = f"ip daddr {host_address} " if host_address else ""
            dnat.append(f"{match}{protocol} dport {host_port} dnat to {address}:{container_port}")
    lines += [
        f"table ip {TABLE} {{",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        *(f"    fib daddr type local {rule}" for rule in dnat),
        "  }",
        "  chain output {",
        "    type nat hook output priority -100; policy accept;",
        *(f"    fib daddr type local {rule}" for rule in dnat),
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        f'    ip saddr {subnet} oifname != "{BRIDGE}" masquerade',
        f'    ip saddr 127.0.0.0/8 oifname "{BRIDGE}" masquerade',
        "  }",
        "  chain input {",
        "    type filter hook input priority filter; policy accept;",
        f'    iifname "{BRIDGE}" ip daddr 127.0.0.0/8 ct status dnat accept',
        f'    iifname "{BRIDGE}" ip daddr 127.0.0.0/8 drop',
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        f'    iifname "{BRIDGE}" accept',
        f'    oifname "{BRIDGE}" ct state established,related accept',
        f'    oifname "{BRIDGE}" ct status dnat accept',
        f'    oifname "{BRIDGE}" drop',
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def reconcile(leases: dict, subnet) -> None:
    """Replace the table with what ``leases`` need, atomically (one nft transaction)."""
    import subprocess

    try:
        result = subprocess.run(["nft", "-f", "-"], input=ruleset(leases, subnet), text=True,
                                capture_output=True)
    except FileNotFoundError:
        raise NetworkError(2, "nft is not installed (Debian: apt install nftables)") from None
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[0] if result.stderr.strip() else \
            f"exit status {result.returncode}"
        raise NetworkError(22, f"nft refused the ruleset: {reason}")


def check_subnet(subnet: str) -> None:
    """Raise ValueError unless ``subnet`` is a private IPv4 network with room for hosts."""
    import ipaddress

    network = ipaddress.ip_network(subnet)  # ValueError for a malformed one
    private = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12",
                                                   "192.168.0.0/16")]
    if network.version != 4 or not any(network.subnet_of(p) for p in private):
        raise ValueError("is not a private IPv4 network (10/8, 172.16/12, 192.168/16)")
    if network.prefixlen > 24:
        raise ValueError("is too small: use a /24 or larger (the default is a /16)")


def write_etc_files(root: str, hostname: str, address: str | None, owner: tuple[int, int]
                    ) -> None:
    """/etc/hosts, /etc/hostname and /etc/resolv.conf for the container, into ``root``
    (its writable layer, or with --no-overlay the rootfs itself), owned by ``owner``.
    Nameservers come from the host, unless they are on the host's loopback, which
    the container cannot reach.

    The tree belongs to the container, so nothing here follows a symlink in it:
    ``etc`` is opened with openat2 inside ``root`` (no symlink, no other mount on
    the way), and each file is written new, then renamed over its name, which
    replaces a symlink or hard link there instead of writing through it.
    """
    hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n"
    if address:
        hosts += f"{address}\t{hostname}\n"
    servers = []
    try:
        with open("/etc/resolv.conf") as f:
            servers = [line.split()[1] for line in f
                       if line.startswith("nameserver") and len(line.split()) > 1]
    except FileNotFoundError:
        pass
    reachable = [s for s in servers if not s.startswith("127.") and s != "::1"]
    resolv = "".join(f"nameserver {s}\n" for s in reachable) or \
        "# the host's nameservers are on its loopback, out of the container's reach\n"
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        etc = _open_etc(root_fd, owner)
    finally:
        os.close(root_fd)
    try:
        for name, text in (("hosts", hosts), ("hostname", f"{hostname}\n"),
                           ("resolv.conf", resolv)):
            _replace_file(etc, name, text, owner)
    finally:
        os.close(etc)


_IN_TREE = native.RESOLVE_IN_ROOT | native.RESOLVE_NO_SYMLINKS | native.RESOLVE_NO_XDEV


def _open_etc(root_fd: int, owner: tuple[int, int]) -> int:
    """The container's ``etc`` directory, made (and given to ``owner``) if missing."""
    flags = os.O_RDONLY | os.O_DIRECTORY
    try:
        try:
            return native.openat2(root_fd, "etc", flags, _IN_TREE)
        except FileNotFoundError:
            os.mkdir("etc", 0o755, dir_fd=root_fd)
        etc = native.openat2(root_fd, "etc", flags, _IN_TREE)
    except OSError as e:
        if e.errno != errno.ELOOP:
            raise
        raise OSError(errno.ELOOP, "a symlink in the rootfs, refusing to write through it",
                      "/etc") from None
    os.fchown(etc, *owner)
    return etc


def _replace_file(dir_fd: int, name: str, text: str, owner: tuple[int, int]) -> None:
    """Put a new file ``name`` with ``text`` into the directory at ``dir_fd``.

    Made under a temporary name with O_EXCL (which never follows a symlink), then
    renamed: rename replaces whatever ``name`` was without looking through it.
    """
    temporary = f".{name}.minicontainer"
    try:
        os.unlink(temporary, dir_fd=dir_fd)  # left by a crash
    except FileNotFoundError:
        pass
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644, dir_fd=dir_fd)
    try:
        os.fchown(fd, *owner)
        os.fchmod(fd, 0o644)
        data = text.encode()
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)
    try:
        os.rename(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        os.unlink(temporary, dir_fd=dir_fd)
        raise


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)
