"""minicontainer: a small, honest container runtime.

The primitives are importable one by one (``from minicontainer.namespaces import
unshare``); :class:`Container` and :class:`Config` put them together.
"""

from __future__ import annotations

__all__ = ["Config", "Container"]


def __getattr__(name: str):
    # Lazy, so that importing one primitive does not load the whole runtime.
    if name == "Config":
        from minicontainer.config import Config

        return Config
    if name == "Container":
        from minicontainer.runtime import Container

        return Container
    raise AttributeError(name)
