"""A decoy host service for the socket escapes: it answers every connection with
one line naming the nonce, and counts who came.

It listens in the runtime's own (the host's) network namespace, on a socket the
escape made: an abstract unix socket, a loopback TCP port.  It runs in a thread
of the demo's process and is closed in ``restore``, so nothing of it outlives
the attempt.
"""

from __future__ import annotations

import socket
import threading


class NonceListener:
    """Serve ``reply`` to every connection on the listening socket ``server``."""

    def __init__(self, server: socket.socket, reply: str) -> None:
        self.server = server
        self.reply = reply.encode()
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name="mc-escape-listener")

    def start(self) -> NonceListener:
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
                    peer.sendall(self.reply)
                except OSError:
                    pass  # the client hung up first: it still came, and was counted

    def close(self) -> None:
        """Stop answering, wait for the thread, close the socket."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.server.close()
