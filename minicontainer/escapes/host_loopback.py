"""A host service bound to 127.0.0.1, reached from a ``--net host`` container.

Binding to 127.0.0.1 is how many services say "local only": a database, a
metrics endpoint, an admin API, a debugger port, often without a password
because only the machine itself can reach it.  But "the machine" means the
**network namespace**: every process that shares the host's network namespace
shares its loopback interface too.  A container started with ``--net host`` is
such a process, so every loopback-only service of the host is open to it.

Under the default the container has a network namespace of its own, with a
loopback of its own: 127.0.0.1 there is the container itself, and the host's
port is simply not there (``Connection refused``).  A ``--net bridge``
container cannot reach it either: a packet for 127.0.0.0/8 arriving from mc0 is a
martian, and minicontainer's firewall drops it (see the network layer page).

The demo listens on 127.0.0.1 (loopback only) at a free port and answers every
connection with a secret that is on the host only; the attack connects with
busybox ``nc`` and prints the answer.  Incidents of
the kind: Kubernetes' ``kubelet`` and many "localhost-only" dashboards and
Docker daemons on ``127.0.0.1:2375`` reached by host-network pods; CIS Docker
Benchmark 5.9 (do not share the host's network namespace).
"""

from __future__ import annotations

import socket

from minicontainer.escapes.base import Attempt
from minicontainer.escapes.listener import ListenerEscape


class HostLoopback(ListenerEscape):
    """Reach a 127.0.0.1-only host service from the host's network namespace."""

    name = "host-loopback"
    title = "host loopback service reached with --net host"
    attacks = "a host service bound to 127.0.0.1 (\"local only\")"
    incident = "CIS Docker 5.9: host network namespace shared"
    weakening = ["--net", "host"]
    stopped_by = ["net ns"]

    def bind(self, attempt: Attempt) -> socket.socket:
        """127.0.0.1 only, on a port the kernel picks, in the host's namespace."""
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            server.bind(("127.0.0.1", 0))
        except OSError:
            server.close()
            raise
        attempt.env["MC_PORT"] = str(server.getsockname()[1])
        return server


ESCAPE = HostLoopback()
