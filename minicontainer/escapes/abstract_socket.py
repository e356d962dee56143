"""A host service on an abstract unix socket, reached from a ``--net host`` container.

Most unix sockets are files: a container sees only those its mount namespace
shows it.  An *abstract* unix socket has no file at all.  Its name begins with
a NUL byte, and the kernel keeps it in the **network namespace** that bound it.
No mount namespace, pivot_root, read-only root or user namespace hides it: any
process in the same network namespace can connect (unless the service checks
the peer itself).

That is CVE-2020-15257: containerd-shim listened on an abstract socket with its
control API.  A container started with ``--net host`` shared the host's network
namespace, connected to it, and asked the shim to start a new, unconfined
container -- root on the host.

The demo listens on ``@mc-escape-<nonce>`` in the host's network namespace; the
listener answers every connection with a secret that is on the host only.  The
attack (the static helper ``mc-escape-abstract-socket``, since busybox has no
unix-socket client) connects and prints what it was told.  Under the default
the container has a network namespace of its own, where no such name exists:
``Connection refused``.
With ``--net host`` it shares the host's, and the secret comes back.  The fix
containerd shipped was to move the shim to a socket *file* in a directory the
containers cannot see.
"""

from __future__ import annotations

import socket

from minicontainer.escapes.base import Attempt
from minicontainer.escapes.listener import ListenerEscape


class AbstractSocket(ListenerEscape):
    """Connect to a host service's abstract unix socket from the host's network namespace."""

    name = "abstract-socket"
    title = "host abstract unix socket reached with --net host"
    attacks = "an abstract unix socket of a host service (no file to hide)"
    incident = "CVE-2020-15257: containerd-shim API on an abstract socket"
    weakening = ["--net", "host"]
    stopped_by = ["net ns"]

    def bind(self, attempt: Attempt) -> socket.socket:
        """``@mc-escape-<nonce>`` in the host's network namespace."""
        name = f"mc-escape-{attempt.nonce}"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.bind("\0" + name)
        except OSError:
            server.close()
            raise
        attempt.env["MC_SOCKET"] = name
        return server


ESCAPE = AbstractSocket()
