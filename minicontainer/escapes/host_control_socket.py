"""A host control socket mounted into the container (the ``docker.sock`` pattern).

A daemon that runs things on the host for whoever asks (Docker's own
``/var/run/docker.sock``, containerd's, a CI agent's, a home-made "deploy
helper") listens on a unix socket.  Mount that socket into a container and the
container can ask: "start a privileged container with the host's ``/``
mounted", "run this".  The daemon does it as host root, outside every
namespace, capability set and seccomp filter of the container that asked.
Nothing in the container's own isolation can stop it: the kernel sees a
permitted ``connect`` on a socket the container was handed, and the harm is
done by another, unconfined process.

The demo starts such a daemon in a thread of the demo's own process, on a
socket in its private host directory.  A real daemon runs whatever it is asked
(``docker run --privileged -v /:/host``, ``sh -c ...``); to stay harmless, this
one knows two requests and runs no program at all: ``id`` answers with the
daemon's own uid and gid (host root's), ``cat secret`` with a secret that is on
the host only, and anything else with ``unknown command``.  That is enough for
the lesson: a root helper does what it is asked, for whoever may connect.  It is
stopped in ``restore``.  The socket is open to every local user (mode 0666, as
many daemons' sockets are, and as ``docker.sock`` becomes after the common "fix"
``chmod 666``), so even the container's unprivileged root may connect.  The
scenario is the mistake: the socket mounted at ``/run/control.sock``.  The
attack, the small static client ``mc-escape-host-control-socket``, asks for
``id`` and then ``cat secret``, and prints the answers.

So there is no weakening and no layer in ``stopped_by``: the default run
escapes.  The only defence is not to mount the socket: ``minicontainer audit``
flags a socket volume, and so does the CIS Docker Benchmark (5.31: "the Docker
socket is not mounted inside any containers").  Incident: countless CI and
monitoring setups mounting ``/var/run/docker.sock``; the 2019 Docker Hub
cryptojacking campaigns reached hosts through exposed Docker APIs.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket

from minicontainer.escapes.base import Attempt, Escape
from minicontainer.escapes.listener import ReplyListener

REQUEST_TIMEOUT = 5


class ControlDaemon(ReplyListener):
    """A host root daemon on a unix socket (mode 0666) that answers one request per
    connection from a fixed vocabulary: ``id``, ``cat secret``; no shell."""

    thread_name = "mc-escape-control-daemon"

    def __init__(self, path: str, secret: str) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        os.chmod(path, 0o666)
        super().__init__(server)
        self.secret = secret
        self.start()

    def answer(self, peer: socket.socket) -> None:
        """Read one request line and send what the vocabulary says to it."""
        peer.settimeout(REQUEST_TIMEOUT)
        request = peer.makefile("rb").readline().decode(errors="replace").strip()
        peer.sendall(self.respond(request).encode())

    def respond(self, request: str) -> str:
        """The answer to one request."""
        if request == "id":
            uid, gid = os.getuid(), os.getgid()
            return (f"uid={uid}({pwd.getpwuid(uid).pw_name}) "
                    f"gid={gid}({grp.getgrgid(gid).gr_name})\n")
        if request == "cat secret":
            return self.secret + "\n"
        return f"unknown command: {request}\n"


class HostControlSocket(Escape):
    """Ask a host daemon, through its mounted socket, to read a host file."""

    name = "host-control-socket"
    title = "a host control socket mounted in (docker.sock)"
    attacks = "a host daemon's unix socket mounted as a volume"
    incident = "CIS Docker 5.31: the Docker socket mounted inside containers"
    scenario: list[str] = []
    weakening: list[str] = []
    stopped_by: list[str] = []

    def plant(self, attempt: Attempt) -> None:
        """The daemon, holding the secret; its socket mounted into the container."""
        attempt.daemon = ControlDaemon(attempt.path("control.sock"), attempt.secret)
        attempt.flags += ["-v", f"{attempt.path('control.sock')}:/run/control.sock"]

    def restore(self, attempt: Attempt) -> None:
        """Stop the daemon."""
        daemon = getattr(attempt, "daemon", None)
        if daemon is not None:
            daemon.close()


ESCAPE = HostControlSocket()
