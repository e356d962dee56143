"""Decoy host processes: what process escapes attack instead of a real host process.

An escape's :meth:`~minicontainer.escapes.base.Escape.plant` starts one (as root,
on the host, with the nonce somewhere only the attack can reach) and names its
pid to the attack as ``MC_DECOY_PID``; its ``restore`` kills and reaps it.
"""

from __future__ import annotations

import subprocess

from minicontainer.escapes.base import Attempt


def start(attempt: Attempt, argv: list[str], **popen_kwargs) -> subprocess.Popen:
    """Start ``argv`` on the host as the attempt's decoy, silent, and name it to the attack."""
    attempt.decoy = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, **popen_kwargs)
    attempt.env["MC_DECOY_PID"] = str(attempt.decoy.pid)
    return attempt.decoy


def stop(attempt: Attempt) -> None:
    """Kill and reap the attempt's decoy, if it has one."""
    process = getattr(attempt, "decoy", None)
    if process is not None:
        process.kill()
        process.wait()
