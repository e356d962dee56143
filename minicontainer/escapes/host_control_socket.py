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
socket in its private host directory: it runs each line it receives with
``sh -c``.  To stay harmless it runs the command in its private directory, with
a timeout, and is stopped in ``restore``; otherwise it is faithful.  The
socket is open to every local user (mode 0666, as many daemons' sockets are,
and as ``docker.sock`` becomes after the common "fix" ``chmod 666``), so even the
container's unprivileged root may connect.  The scenario is the mistake: the
socket mounted at ``/run/control.sock``.  The attack, the small static client
``mc-escape-host-control-socket``, asks for ``id`` and then ``cat nonce``.

So there is no weakening and no layer in ``stopped_by``: the default run
escapes.  The only defence is not to mount the socket: ``minicontainer audit``
flags a socket volume, and so does the CIS Docker Benchmark (5.31: "the Docker
socket is not mounted inside any containers").  Incident: countless CI and
monitoring setups mounting ``/var/run/docker.sock``; the 2019 Docker Hub
cryptojacking campaigns reached hosts through exposed Docker APIs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading

from minicontainer.escapes.base import Attempt, Escape

COMMAND_TIMEOUT = 5


class ControlDaemon:
    """A host root daemon that runs every line it receives with ``sh -c`` (in
    ``workdir``, with a timeout) and replies with what the command printed."""

    def __init__(self, path: str, workdir: str) -> None:
        self.workdir = workdir
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        os.chmod(path, 0o666)
        # A short timeout, so that the loop sees the stop request soon after close().
        self.server.settimeout(0.2)
        self.server.listen(8)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name="mc-escape-control-daemon")
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                peer, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with peer:
                peer.settimeout(COMMAND_TIMEOUT)
                try:
                    command = peer.makefile("rb").readline().decode(errors="replace")
                    peer.sendall(self._run(command))
                except OSError:
                    pass  # the client hung up: nothing to answer

    def _run(self, command: str) -> bytes:
        try:
            done = subprocess.run(["sh", "-c", command], cwd=self.workdir,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            return b"timed out\n"
        return done.stdout

    def close(self) -> None:
        """Stop serving, wait for the thread, close the socket."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(COMMAND_TIMEOUT + 1)
        self.server.close()


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
        """The nonce file and the daemon; the socket mounted into the container."""
        with open(attempt.path("nonce"), "w") as f:
            f.write(attempt.nonce)
        attempt.daemon = ControlDaemon(attempt.path("control.sock"), attempt.workdir)
        attempt.flags += ["-v", f"{attempt.path('control.sock')}:/run/control.sock"]

    def restore(self, attempt: Attempt) -> None:
        """Stop the daemon."""
        daemon = getattr(attempt, "daemon", None)
        if daemon is not None:
            daemon.close()


ESCAPE = HostControlSocket()
