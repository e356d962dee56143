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
connection with the nonce; the attack connects with busybox ``nc``.  Incidents of
the kind: Kubernetes' ``kubelet`` and many "localhost-only" dashboards and
Docker daemons on ``127.0.0.1:2375`` reached by host-network pods; CIS Docker
Benchmark 5.9 (do not share the host's network namespace).
"""

from __future__ import annotations

import socket

from minicontainer.escapes.base import Attempt, Escape
from minicontainer.escapes.listener import NonceListener


class HostLoopback(Escape):
    """Reach a 127.0.0.1-only host service from the host's network namespace."""

    name = "host-loopback"
    title = "host loopback service reached with --net host"
    attacks = "a host service bound to 127.0.0.1 (\"local only\")"
    incident = "CIS Docker 5.9: host network namespace shared"
    weakening = ["--net", "host"]
    stopped_by = ["net ns"]

    def __init__(self) -> None:
        self._listeners: dict[str, NonceListener] = {}

    def plant(self, attempt: Attempt) -> None:
        """Listen on 127.0.0.1 only, on a port the kernel picks, in the host's namespace."""
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            server.bind(("127.0.0.1", 0))
        except OSError:
            server.close()
            raise
        self._listeners[attempt.nonce] = NonceListener(server, f"{attempt.nonce}\n").start()
        attempt.env["MC_PORT"] = str(server.getsockname()[1])

    def proven(self, attempt: Attempt) -> bool:
        """The nonce came back, and the host's listener counted the connection."""
        listener = self._listeners.get(attempt.nonce)
        return super().proven(attempt) and listener is not None and listener.connections > 0

    def restore(self, attempt: Attempt) -> None:
        """Close the listener."""
        listener = self._listeners.pop(attempt.nonce, None)
        if listener is not None:
            listener.close()


ESCAPE = HostLoopback()
