"""Host markers for the write-type escapes: a root-only file the attack is to fill.

An escape whose proof is a *write* on the host (through a host mount, by a
core dump handler or release agent the kernel runs as host root) plants one
such file: it says ``untouched``, only host root may read or write it, in a
directory only host root may enter.  The attack writes the attempt's nonce
(``MC_NONCE``, which the container knows) into it, and ``proven`` looks for
the nonce there: only a real write on the host can put it in.
"""

from __future__ import annotations

import os

from minicontainer.escapes.base import Attempt

UNTOUCHED = "untouched\n"


def plant_marker(attempt: Attempt) -> str:
    """Make the attempt's root-only marker file; its host path."""
    os.chmod(attempt.workdir, 0o700)
    marker = attempt.path("marker")
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, UNTOUCHED.encode())
    finally:
        os.close(fd)
    return marker


def marker_written(attempt: Attempt) -> bool:
    """Whether the attempt's nonce is in its marker file."""
    fd = os.open(attempt.path("marker"), os.O_RDONLY | os.O_NOFOLLOW)
    try:
        return attempt.nonce in os.read(fd, 4096).decode(errors="replace")
    finally:
        os.close(fd)
