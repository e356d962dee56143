"""Host information through a masked ``/proc`` file (``/proc/keys``).

Most of ``/proc`` describes the processes of the reader's pid namespace, but a
few files describe the whole kernel and know nothing of namespaces:
``/proc/keys`` lists the keys of the kernel's keyrings, ``/proc/timer_list`` and
``/proc/sched_debug`` the timers and tasks of every CPU, ``/proc/kcore`` is the
kernel's memory itself.  A fresh procfs for the container's pid namespace still
holds them, so a runtime *masks* them: it mounts ``/dev/null`` (or an empty
read-only tmpfs for a directory) over each, and the container reads nothing.

The demo plants a key on the host (in the demo's own process keyring, so it
ends with the demo at the latest) whose description carries a secret that is
nowhere else; the attack reads ``/proc/keys`` and prints what it finds.  Two
layers stand in the way:

- masked paths: ``/proc/keys`` reads as an empty file;
- the user namespace: the kernel lists only the keys whose owner is mapped in
  the reader's user namespace, and the host's root (uid 0, owner of the key) is
  not mapped in the container's.

So the weakening is ``--security-opt systempaths=unconfined --userns host``.
(On older kernels ``/proc/timer_list`` named the command of every process with
a pending timer; since Linux 4.11 it names only the kernel function, which is
why this demo reads ``/proc/keys``.)  Incident: the masked-path lists of Docker
and runc grew one file at a time, each after a report of host information read
from a container: ``/proc/keys`` in 2018 (moby#36368, "keyrings are not
namespaced"), ``/proc/acpi`` the same year (CVE-2018-10892).
"""

from __future__ import annotations

import os

from minicontainer import native
from minicontainer.escapes.base import Attempt, Escape


class MaskedProc(Escape):
    """Read a host key's description through an unmasked /proc/keys."""

    name = "masked-proc"
    title = "host keys read through /proc/keys"
    attacks = "the kernel-wide files of /proc (/proc/keys, /proc/timer_list, /proc/kcore)"
    incident = "moby#36368 (2018): /proc/keys masked; CVE-2018-10892: /proc/acpi"
    scenario: list[str] = []
    weakening = ["--security-opt", "systempaths=unconfined", "--userns", "host",
                 "--security-opt", "apparmor=unconfined"]
    stopped_by = ["masked paths", "user ns"]

    def missing(self) -> str | None:
        """``/proc/keys`` exists only with CONFIG_KEYS (and its /proc file)."""
        if not os.path.exists("/proc/keys"):
            return "this kernel has no /proc/keys (CONFIG_KEYS off)"
        return None

    def plant(self, attempt: Attempt) -> None:
        """A key named after the secret, in this process's own keyring."""
        description = f"mc-escape-masked-proc-{attempt.secret}"
        attempt.key = native.add_key("user", description, b"harmless marker")

    def restore(self, attempt: Attempt) -> None:
        """Remove the key."""
        key = getattr(attempt, "key", None)
        if key is not None:
            native.invalidate_key(key)


ESCAPE = MaskedProc()
