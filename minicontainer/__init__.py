"""minicontainer: a small, honest container runtime.

The primitives are importable one by one (``from minicontainer.namespaces import
unshare``); :class:`Container` and :class:`Config` put them together, and
:func:`list_containers` lists what exists.
"""

from __future__ import annotations

__all__ = ["Config", "Container", "list_containers"]


def __getattr__(name: str):
    # Lazy, so that importing one primitive does not load the whole runtime.
    if name == "Config":
        from minicontainer.config import Config

        return Config
    if name == "Container":
        from minicontainer.runtime import Container

        return Container
    if name == "list_containers":
        from minicontainer.lifecycle import list_containers

        return list_containers
    raise AttributeError(name)
