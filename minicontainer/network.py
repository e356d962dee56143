"""The network namespace layer.

A new network namespace starts with one interface, ``lo``, and it is down.  The
default container gets exactly that interface, up, and nothing else: no route
leads out of it.
"""

from __future__ import annotations

from minicontainer import native


def loopback_up() -> None:
    """Bring ``lo`` of the current network namespace up."""
    native.set_link_up("lo")
