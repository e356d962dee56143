"""Decoy host services for the socket escapes: a listener that answers every
connection, and the host side of an escape whose proof is its answer.

The listener runs in the runtime's own (the host's) network namespace, on a
socket the escape made: an abstract unix socket, a loopback TCP port, a unix
socket file.  It runs in a thread of the demo's process and is closed in
``restore``, so nothing of it outlives the attempt.  What it answers is the
attempt's secret, which is on the host only: an attack that prints it back
reached the service.
"""

from __future__ import annotations

import socket
import threading

from minicontainer.escapes.base import Attempt, Escape


class ReplyListener:
    """Answer every connection on the listening socket ``server`` with ``reply``;
    a subclass answers otherwise by overriding :meth:`answer`."""

    thread_name = "mc-escape-listener"

    def __init__(self, server: socket.socket, reply: str = "") -> None:
        self.server = server
        self.reply = reply.encode()
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name=self.thread_name)

    def start(self) -> ReplyListener:
        """Start answering; returns self."""
        # A short timeout, so that the loop sees the stop request soon after close().
        self.server.settimeout(0.2)
        self.server.listen(8)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                peer, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with peer:
                self.connections += 1
                try:
                    self.answer(peer)
                except OSError:
                    pass  # the client hung up first: it still came, and was counted

    def answer(self, peer: socket.socket) -> None:
        """Answer one connection: send the reply."""
        peer.sendall(self.reply)

    def close(self) -> None:
        """Stop answering, wait for the thread, close the socket."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.server.close()


class ListenerEscape(Escape):
    """An escape whose host side is a listener answering with the attempt's secret:
    ESCAPED when the attack printed the secret and the listener counted it."""

    def __init__(self) -> None:
        self._listeners: dict[str, ReplyListener] = {}

    def bind(self, attempt: Attempt) -> socket.socket:
        """A socket bound where the attack is to look for it, named to the attack in
        ``attempt.env``."""
        raise NotImplementedError

    def plant(self, attempt: Attempt) -> None:
        """Bind the socket and answer every connection on it with the secret."""
        server = self.bind(attempt)
        self._listeners[attempt.nonce] = ReplyListener(server, f"{attempt.secret}\n").start()

    def proven(self, attempt: Attempt) -> bool:
        """The secret came back, and the host's listener counted the connection."""
        listener = self._listeners.get(attempt.nonce)
        return super().proven(attempt) and listener is not None and listener.connections > 0

    def restore(self, attempt: Attempt) -> None:
        """Close the listener."""
        listener = self._listeners.pop(attempt.nonce, None)
        if listener is not None:
            listener.close()
