"""Checks of lab 05: the student's two_boxes.py, judged by what each box sees of its own
network and what the host shows while the boxes run and after they have ended.

The program runs inside a stand-in host (throwaway network and mount namespaces,
:class:`minicontainer.labs.StandInHost`): the bridge and the veths' host ends land
there, and so does whatever a wrong solution does to "the host's" network, while the
real host's interfaces, addresses and routes are never touched. Every packet stays
between the boxes, or inside the stand-in.
"""

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from minicontainer.labs import StandInHost, failed, passed
from minicontainer.namespaces import Namespace
from minicontainer.network import Link

PROGRAM = "two_boxes.py"
ADDRESSES = {"a": "10.55.0.2/24", "b": "10.55.0.3/24"}
STAND_IN = Namespace.NET | Namespace.MNT
# A veth goes with the network namespace of its far end, which the kernel tears down
# in the background after the namespace's last process has exited.
GONE_WITHIN = 3.0

# Run in a box: what it sees of its own network, then wait until the checker has looked
# at the host (the file argv[1] appears).
_LOOK = """
import json, os, sys, time
from minicontainer import network
seen = {"box": sys.argv[2], "netns": os.readlink("/proc/self/ns/net"), "links": network.links()}
os.write(1, f"LOOK {json.dumps(seen)}\\n".encode())  # one write: the other box writes too
deadline = time.monotonic() + 10
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.02)
"""
# Box a: a TCP echo server on argv[1]:argv[2], for one connection within argv[3] s.
_SERVE = """
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen()
server.settimeout(float(sys.argv[3]))
try:
    peer, (address, _) = server.accept()
except TimeoutError:
    sys.exit("nobody connected")
peer.sendall(b"echo " + peer.recv(100) + f" from {address}".encode())
"""
# Box b (or a): connect, send argv[3], print what comes back, or the last error. What
# a box reports goes out in one write: the other box writes to the same pipe.
_CONNECT = """
import os, socket, sys, time
deadline, error = time.monotonic() + float(sys.argv[4]), None
while time.monotonic() < deadline:
    try:
        with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1) as s:
            s.sendall(sys.argv[3].encode())
            os.write(1, f"REPLY {s.recv(200).decode()}\\n".encode())
            break
    except OSError as e:
        error = e
        time.sleep(0.1)
else:
    os.write(1, f"NOREPLY {error}\\n".encode())
"""


def _python(script: str, *args: str) -> str:
    """A shell command line that runs ``script`` with this checker's Python."""
    return " ".join(shlex.quote(word) for word in (sys.executable, "-c", script, *args))


def _port(ctx, salt: int) -> int:
    return 20000 + (int(ctx.nonce[:4], 16) ^ salt) % 20000


def _listed(names: list[str], one: str, many: str) -> str:
    """``names`` joined, with the verb that agrees: ``veth05a is``, ``veth05a, veth05b
    are``."""
    return f"{', '.join(names)} {one if len(names) == 1 else many}"


def _boxes(names: list[str]) -> str:
    """``box a runs`` or ``boxes a and b run``."""
    return f"box {names[0]} runs" if len(names) == 1 else f"boxes {' and '.join(names)} run"


def _names(links: list[Link]) -> str:
    return ", ".join(f"{link.name} ({link.kind or 'device'})" for link in links) or "none"


# --- one observed run, shared by the steps that need it


@dataclass
class Observation:
    """One run of the program with both boxes holding still while the checker looks."""

    host_netns: str
    inside: dict[str, dict] = field(default_factory=dict)  # box -> netns, links by name
    before: list[Link] = field(default_factory=list)
    during: list[Link] = field(default_factory=list)
    after: list[Link] = field(default_factory=list)
    routes_before: list[str] = field(default_factory=list)
    routes_after: list[str] = field(default_factory=list)
    exited: bool = False
    returncode: int | None = None
    holders: list[str] = field(default_factory=list)

    @property
    def started(self) -> bool:
        """Both boxes reported what they see."""
        return set(self.inside) == set(ADDRESSES)

    def in_host_netns(self) -> list[str]:
        """The boxes that run in the host's network namespace."""
        return [box for box, seen in sorted(self.inside.items())
                if seen["netns"] == self.host_netns]

    def new_links(self) -> list[Link]:
        """The host's links during the run that were not there before."""
        known = {link.name for link in self.before}
        return [link for link in self.during if link.name not in known]

    def bridges(self) -> list[Link]:
        """The bridges the program made on the host."""
        return [link for link in self.new_links() if link.kind == "bridge"]


_OBSERVED: dict[tuple[str, str], Observation] = {}


def _observe(ctx) -> Observation:
    """The observed run of this attempt (made on first use)."""
    key = (ctx.nonce, ctx.workspace)
    if key not in _OBSERVED:
        _OBSERVED[key] = _watch(ctx)
    return _OBSERVED[key]


def _watch(ctx) -> Observation:
    with tempfile.TemporaryDirectory() as scratch, StandInHost(STAND_IN) as host:
        seen = Observation(f"net:[{host.inode(Namespace.NET)}]", before=host.links(),
                           routes_before=host.routes())
        go = os.path.join(scratch, "go")
        running = ctx.start(PROGRAM, _python(_LOOK, go, "a"), _python(_LOOK, go, "b"),
                            host=host)
        try:
            deadline = time.monotonic() + 8
            reported = all([running.wait_for(f'"box": "{box}"',
                                             timeout=max(0.0, deadline - time.monotonic()))
                            for box in ADDRESSES])
            seen.during = host.links()
            with open(go, "w"):
                pass
            seen.exited = running.exited_within(6 if reported else 1)
            seen.returncode = running.process.returncode
            running.wait_for("\0", timeout=0.5)  # the rest of its output
            for line in running.seen.splitlines():
                if line.startswith("LOOK "):
                    report = json.loads(line[5:])
                    seen.inside[report["box"]] = {
                        "netns": report["netns"],
                        "links": {fields[0]: Link(*fields[:4], tuple(fields[4]))
                                  for fields in report["links"]}}
            if seen.exited:
                seen.after, seen.routes_after = _settled(host, seen.before)
                seen.holders = _holders(host, [inside["netns"] for inside in
                                               seen.inside.values()
                                               if inside["netns"] != seen.host_netns])
        finally:
            running.stop()
    return seen


def _settled(host: StandInHost, before: list[Link]) -> tuple[list[Link], list[str]]:
    """The host's links and routes once they are back as ``before``, or as they are
    after GONE_WITHIN seconds."""
    deadline = time.monotonic() + GONE_WITHIN
    while True:
        links = host.links()
        if [link.name for link in links] == [link.name for link in before] or \
                time.monotonic() > deadline:
            return links, host.routes()
        time.sleep(0.05)


def _holders(host: StandInHost, namespaces: list[str]) -> list[str]:
    """What still holds one of the boxes' network namespaces: a process, or a bind
    mount of it (as `ip netns add` makes)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/net") in namespaces:
                    with open(f"/proc/{entry}/comm") as f:
                        found.append(f"process {entry} ({f.read().strip()})")
            except OSError:
                continue
    for table in ("/proc/self/mountinfo", f"/proc/{host.process.pid}/mountinfo"):
        with open(table) as f:
            found += [f"a mount of {row.split()[3]} on {row.split()[4]}" for row in f
                      if row.split()[3] in namespaces]
    return found


def _started_first(seen: Observation):
    """The FAIL of a step that needs both boxes in namespaces of their own, or None."""
    if not seen.started:
        ended = f"exit {seen.returncode}" if seen.exited else "it did not end"
        return failed(f"the boxes did not report what they see ({ended})",
                      "make step 1 pass first")
    shared = seen.in_host_netns()
    if shared:
        return failed(f"{_boxes(shared)} in the host's network namespace ({seen.host_netns}, "
                      "a stand-in for the host): the interfaces there are the host's",
                      "make step 1 pass first")
    return None


# --- the steps


def own_namespaces(ctx):
    """both boxes run their commands, each in a network namespace of its own"""
    report = "echo NETNS $BOX $(readlink /proc/self/ns/net)"
    with StandInHost(STAND_IN) as host:
        stand_in = f"net:[{host.inode(Namespace.NET)}]"
        ran = ctx.run(PROGRAM, report.replace("$BOX", "a"), report.replace("$BOX", "b"),
                      host=host)
    seen = {fields[1]: fields[2] for fields in map(str.split, ran.stdout.splitlines())
            if len(fields) == 3 and fields[0] == "NETNS"}
    if len(seen) < 2:
        clash = "File exists" in ran.stderr
        return failed(f"`two_boxes.py 'echo ...' 'echo ...'`: boxes that ran: "
                      f"{', '.join(sorted(seen)) or 'none'}; {ran.summary()}",
                      "two links called eth0 in one namespace: both boxes' ends landed in "
                      "the same one, so the boxes have no network namespace of their own"
                      if clash else "run it by hand: `sudo minicontainer lab run 05 -- "
                      "'echo a' 'echo b'`, and read the traceback")
    host_net = os.readlink("/proc/self/ns/net")
    shared = [box for box in sorted(seen) if seen[box] in (stand_in, host_net)]
    if shared:
        return failed(f"{_boxes(shared)} in the host's network namespace ({seen[shared[0]]}, "
                      "a stand-in for the host)",
                      "clone() without CLONE_NEWNET is a plain fork: which Namespace flag "
                      "gives a box a network stack of its own?")
    if seen["a"] == seen["b"]:
        return failed(f"both boxes share one network namespace, {seen['a']}",
                      "clone each box with a network namespace of its own")
    if ran.returncode != 0:
        return failed(f"both boxes ran, then {ran.summary()}",
                      "read the traceback: the host's side failed after the boxes ended")
    return passed(f"box a in {seen['a']}, box b in {seen['b']}; the host (a stand-in) is in "
                  f"{stand_in}")


def own_loopback(ctx):
    """each box has its own loopback, up, with 127.0.0.1"""
    seen = _observe(ctx)
    first = _started_first(seen)
    if first:
        return first
    for box in sorted(seen.inside):
        lo = seen.inside[box]["links"].get("lo")
        if lo is None or not lo.up:
            return failed(f"box {box}'s lo is down: 127.0.0.1 is unreachable there",
                          "a new network namespace starts with lo down: bring it up in the "
                          "box, before its command runs")
        if "127.0.0.1/8" not in lo.addresses:
            return failed(f"box {box}'s lo is up with {list(lo.addresses)}, no 127.0.0.1/8",
                          "bringing lo up gives it 127.0.0.1/8: did something remove it?")
    return passed("box a and box b: lo up with 127.0.0.1/8, each in its own namespace "
                  f"({seen.inside['a']['netns']}, {seen.inside['b']['netns']})")


def wired(ctx):
    """each box has eth0 with its address, and the host a bridge with both veths"""
    seen = _observe(ctx)
    first = _started_first(seen)
    if first:
        return first
    bridges = seen.bridges()
    for box in sorted(seen.inside):
        links = seen.inside[box]["links"]
        eth0, want = links.get("eth0"), ADDRESSES[box]
        if eth0 is None:
            return failed(f"box {box} has only {', '.join(links)}; the host made "
                          f"{_names(seen.new_links())}",
                          "make the bridge on the host, then give each box a veth pair "
                          "whose far end, in the box's namespace, is called eth0"
                          if not bridges else "create_veth_into() makes the pair and moves "
                          "one end into the box's namespace: its pid says which")
        if want not in eth0.addresses:
            on_host = [link.name for link in seen.during if want in link.addresses]
            if on_host:
                return failed(f"{want} is on the host's {on_host[0]}, not on box {box}'s "
                              "eth0", "the address went to the host's end: the first "
                              "argument of add_address() says in whose namespace it lands")
            return failed(f"box {box}'s eth0 has {list(eth0.addresses) or 'no address'}, "
                          f"not {want}", "give eth0 the box's address from ADDRESSES, "
                          "with PREFIX, in the box's namespace")
        if not eth0.up:
            return failed(f"box {box}'s eth0 has {want} but is down",
                          "bring eth0 up in the box's namespace")
    if not bridges:
        return failed(f"no bridge appeared on the host; it made {_names(seen.new_links())}",
                      "the veths' host ends need a bridge to be plugged into: make it on "
                      "the host")
    ports = {b.name: [link for link in seen.during if link.master == b.name] for b in bridges}
    bridge = max(bridges, key=lambda b: len(ports[b.name]))
    veths = [link for link in seen.new_links() if link.kind == "veth"]
    if len(ports[bridge.name]) < 2:
        loose = [link.name for link in veths if link.master is None]
        where = f"{_listed(loose, 'is a port', 'are ports')} of no bridge" if loose else \
            "no veth end is on the host"
        return failed(f"bridge {bridge.name} has {len(ports[bridge.name])} port(s); {where}",
                      "a veth's host end must be plugged into the bridge, or what the box "
                      "sends arrives nowhere")
    down = [link.name for link in [bridge, *ports[bridge.name]] if not link.up]
    if down:
        return failed(f"on the host, {_listed(down, 'is', 'are')} down",
                      "the host end of a veth must be up too: a veth carries nothing "
                      "until both of its ends are up")
    return passed(f"box a: eth0 {ADDRESSES['a']} up; box b: eth0 {ADDRESSES['b']} up; "
                  f"host: bridge {bridge.name} up, ports "
                  f"{', '.join(link.name for link in ports[bridge.name])} up")


def reach(ctx):
    """box b reaches box a through the bridge (a TCP echo of the nonce)"""
    if wired(ctx).verdict != "PASS":
        return failed("the boxes are not wired yet", "make step 3 pass first")
    port, address = _port(ctx, 0x0505), ADDRESSES["a"].split("/")[0]
    with StandInHost(STAND_IN) as host:
        ran = ctx.run(PROGRAM, _python(_SERVE, "0.0.0.0", str(port), "7"),
                      _python(_CONNECT, address, str(port), ctx.nonce, "5"), host=host)
    reply = next((line[6:] for line in ran.stdout.splitlines() if line.startswith("REPLY ")),
                 None)
    expected = f"echo {ctx.nonce} from {ADDRESSES['b'].split('/')[0]}"
    if reply == expected:
        return passed(f"box b sent {ctx.nonce} to {address}:{port}; box a answered "
                      f"`{reply}`")
    said = reply or next((line for line in ran.stdout.splitlines()
                          if line.startswith("NOREPLY")), ran.summary())
    return failed(f"box b, connecting to {address}:{port}: {said}",
                  "the wiring looked right: run `sudo minicontainer lab run 05 -- 'sleep 5' "
                  "'busybox ping -c 1 $PEER; ip neigh'` and, meanwhile, `bridge link` on the host")


def nothing_left(ctx):
    """after the boxes have ended, nothing of theirs is left on the host"""
    if wired(ctx).verdict != "PASS":
        return failed("the boxes were not wired to a bridge on the host: nothing to take "
                      "down yet", "make step 3 pass first")
    seen = _observe(ctx)
    if not seen.exited:
        return failed("two_boxes.py was still running 6 s after both commands had ended",
                      "wait for both boxes, take down what you made, then return")
    known = {link.name for link in seen.before}
    left = [link for link in seen.after if link.name not in known]
    if left:
        return failed(f"left on the host after the program ended: {_names(left)}",
                      "a bridge stays until someone deletes it: once both boxes have ended, "
                      "delete what the program made on the host")
    addresses = {(link.name, address) for link in seen.before for address in link.addresses}
    now = {(link.name, address) for link in seen.after for address in link.addresses}
    if addresses != now or seen.routes_before != seen.routes_after:
        return failed(f"the host's addresses went from {sorted(addresses)} to {sorted(now)}, "
                      f"its routes from {seen.routes_before} to {seen.routes_after}",
                      "the program changed the host's own interfaces: configure only what "
                      "it made")
    if seen.holders:
        return failed(f"a box's network namespace outlived the program: "
                      f"{'; '.join(seen.holders)}",
                      "a network namespace lives as long as a process or a mount holds it: "
                      "wait for both boxes")
    return passed(f"after the program: the host's (a stand-in's) links are "
                  f"{_names(seen.after)} as before, "
                  "its addresses and routes unchanged, and nothing holds the boxes' "
                  "namespaces")


def pitfall_abstract_socket(ctx):
    """the pitfall in the catalogue: abstract-socket (--net host, CVE-2020-15257)"""
    return ctx.pitfall("abstract-socket")


def pitfall_host_loopback(ctx):
    """the pitfall in the catalogue: host-loopback (--net host reaches 127.0.0.1)"""
    return ctx.pitfall("host-loopback")


STEPS = [own_namespaces, own_loopback, wired, reach, nothing_left, pitfall_abstract_socket,
         pitfall_host_loopback]


# --- the quiz


def _run_boxes(ctx, command_a: str, command_b: str, ok, listener: str | None = None):
    """Run two_boxes.py with the two commands in a stand-in host (where ``listener``, a
    Python script, runs first): the student's if ``ok`` of its run holds, else the
    reference one; the run and whose it was."""
    attempts = [(ctx.reference(), "the reference two_boxes.py")]
    if ctx.has(PROGRAM):
        attempts.insert(0, (ctx, "your two_boxes.py"))
    for attempt, whose in attempts:
        with StandInHost(STAND_IN) as host:
            service = None
            if listener:
                service = subprocess.Popen([sys.executable, "-c", listener],
                                           stdout=subprocess.PIPE, text=True,
                                           preexec_fn=host.preexec(attempt.workspace))
                if service.stdout.readline().strip() != "listening":
                    service.kill()
                    service.wait()
                    service.stdout.close()
                    raise RuntimeError("the host's listener could not start")
            try:
                ran = attempt.run(PROGRAM, command_a, command_b, host=host)
            finally:
                if service:
                    service.kill()
                    service.wait()
                    service.stdout.close()
            host_netns = f"net:[{host.inode(Namespace.NET)}]"
        if ok(ran, host_netns) or attempt is attempts[-1][0]:
            return ran, whose


def _own_netns(ran, host_netns: str) -> bool:
    """Both boxes printed a NETNS line, neither the host's."""
    lines = [line.split() for line in ran.stdout.splitlines() if line.startswith("NETNS ")]
    return len(lines) == 2 and all(fields[-1] != host_netns for fields in lines)


_NETNS = "echo NETNS $(readlink /proc/self/ns/net); "
_FRESH = """
import json, os
from minicontainer import namespaces, network
pid = namespaces.clone(namespaces.Namespace.NET)
if pid == 0:
    print(json.dumps(network.links()), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""
_ABSTRACT_LISTENER = """
import socket, sys, time
server = socket.socket(socket.AF_UNIX)
server.bind("\\0lab05-{nonce}")
server.listen()
socket.socket(socket.AF_UNIX).connect("\\0lab05-{nonce}")  # it answers on the host
print("listening", flush=True)
time.sleep(30)
"""
_ABSTRACT_CONNECT = """
import os, socket, sys
try:
    socket.socket(socket.AF_UNIX).connect("\\0lab05-" + sys.argv[1])
    os.write(1, b"CONNECTED\\n")
except OSError as e:
    os.write(1, f"REFUSED {e.strerror}\\n".encode())
"""
_INTERFACES = ("import os, socket; os.write(1, ('OWN ' + ' '.join(sorted(name for _, name in "
               "socket.if_nameindex())) + '\\n').encode())")


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now."""
    if question_id == "fresh-netns":
        out = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True,
                             timeout=10, check=True).stdout
        links = [Link(*fields[:4], tuple(fields[4])) for fields in json.loads(out)]
        choice = "D" if not links else "A" if len(links) > 1 else "C" if links[0].up else "B"
        return choice, ("a process cloned with Namespace.NET sees: " + "; ".join(
            f"{link.name} {'up' if link.up else 'down'} {list(link.addresses)}"
            for link in links))
    if question_id == "own-loopback":
        port = str(_port(ctx, 0x1111))
        ran, whose = _run_boxes(ctx, _NETNS + _python(_SERVE, "127.0.0.1", port, "2"),
                                _NETNS + _python(_CONNECT, "127.0.0.1", port, ctx.nonce, "1"),
                                _own_netns)
        said = next((line for line in ran.stdout.splitlines()
                     if line.startswith(("REPLY", "NOREPLY"))), "nothing")
        return ("A" if said.startswith("REPLY") else "B",
                f"{whose}: box b connecting to 127.0.0.1:{port}, where box a listens: {said}")
    if question_id == "host-abstract":
        ran, whose = _run_boxes(ctx, _NETNS + _python(_ABSTRACT_CONNECT, ctx.nonce),
                                _NETNS + "true", _own_netns,
                                listener=_ABSTRACT_LISTENER.format(nonce=ctx.nonce))
        said = next((line for line in ran.stdout.splitlines()
                     if line.startswith(("CONNECTED", "REFUSED"))), "nothing")
        return ("A" if said == "CONNECTED" else "B",
                f"{whose}: box a connecting to @lab05-{ctx.nonce}, which a process on the "
                f"host has just reached: {said}")
    if question_id == "sysfs":
        look = _NETNS + "echo SYSFS $(ls /sys/class/net); " + _python(_INTERFACES)
        ran, whose = _run_boxes(ctx, look, _NETNS + "true", _own_netns)
        lines = {line.split()[0]: line.split()[1:] for line in ran.stdout.splitlines()
                 if line.startswith(("SYSFS", "OWN"))}
        sysfs, own = lines.get("SYSFS", []), lines.get("OWN", [])
        hosts = sorted(os.listdir("/sys/class/net"))
        return ("B" if sorted(sysfs) == hosts or set(sysfs) - set(own) else "A",
                f"{whose}: in box a, /sys/class/net lists {' '.join(sysfs)}; the box's own "
                f"interfaces are {' '.join(own)}, the host's {' '.join(hosts)}")
    return None
