"""``/proc/sysrq-trigger``: the magic SysRq key, typed from inside a container.

Writing a letter to ``/proc/sysrq-trigger`` runs the kernel's SysRq command of
that letter, for the whole machine: ``b`` reboots it at once, ``c`` crashes it,
``o`` powers it off, ``e``/``i`` kill every process.  The ``kernel.sysrq``
sysctl masks only the keyboard: writes to this file are always obeyed (see the
kernel's admin-guide/sysrq).  The file is writable by the host's root only.

The demo sends the one harmless command, ``h`` (help), which prints a line
``sysrq: HELP : ...`` into the kernel log.  Before the attempt it writes a line
with the nonce to ``/dev/kmsg``; the proof is a help line after it, logged by
the kernel itself: a line written to ``/dev/kmsg`` by a program is always filed
under the ``user`` facility, so a container that could write there still could
not forge it.

What stops it:

- read-only paths: ``/proc/sysrq-trigger`` is bind-mounted read-only in the
  container, so the write fails with EROFS;
- the user namespace: the file belongs to the host's root, and the container's
  root is an unprivileged uid on the host, so the write fails with EACCES.

Incident: a ``--privileged`` container is one ``echo b > /proc/sysrq-trigger``
away from rebooting its host, which is why runc and Docker list this file among
their read-only paths.
"""

from __future__ import annotations

import errno
import os

from minicontainer.escapes.base import Attempt, Escape

TRIGGER = "/proc/sysrq-trigger"
KMSG = "/dev/kmsg"
HELP_LINE = "sysrq: HELP :"
KERNEL_FACILITY = 0  # syslog's "kern"; whatever a program writes to /dev/kmsg is "user" (1)


def kernel_log() -> list[tuple[int, str]]:
    """The records in the kernel's log buffer, oldest first: (facility, message)."""
    fd = os.open(KMSG, os.O_RDONLY | os.O_NONBLOCK)
    messages = []
    try:
        while True:
            try:
                record = os.read(fd, 8192)
            except OSError as e:
                if e.errno == errno.EPIPE:  # overwritten while we read: skip it
                    continue
                if e.errno == errno.EAGAIN:
                    break
                raise
            prefix, _, message = record.decode(errors="replace").partition(";")
            messages.append((int(prefix.split(",")[0]) >> 3, message.rstrip("\n")))
    finally:
        os.close(fd)
    return messages


class SysrqTrigger(Escape):
    """Run a SysRq command (the harmless 'h') on the host kernel."""

    name = "sysrq-trigger"
    title = "the magic SysRq key through /proc/sysrq-trigger"
    attacks = "a writable /proc/sysrq-trigger"
    incident = "--privileged: echo b > /proc/sysrq-trigger reboots the host"
    weakening = ["--security-opt", "systempaths=unconfined", "--userns", "host",
                 "--security-opt", "apparmor=unconfined"]
    stopped_by = ["read-only paths", "user ns"]
    host_changes = True
    timeout = 60.0

    def missing(self) -> str | None:
        """Needs SysRq in the kernel and its log readable."""
        if not os.path.exists(TRIGGER):
            return f"this kernel has no {TRIGGER} (built without CONFIG_MAGIC_SYSRQ)"
        if not os.path.exists(KMSG):
            return f"no {KMSG} to read the kernel log from"
        return None

    def plant(self, attempt: Attempt) -> None:
        """A line with the nonce in the kernel log: the help line must come after it."""
        with open(KMSG, "w") as f:
            f.write(f"minicontainer: escape {self.name} attempt {attempt.nonce}\n")

    def proven(self, attempt: Attempt) -> bool:
        """A SysRq help line, from the kernel itself, in the kernel log after this
        attempt's nonce line."""
        log = kernel_log()
        starts = [i for i, (_, line) in enumerate(log) if attempt.nonce in line]
        return bool(starts) and any(facility == KERNEL_FACILITY and HELP_LINE in line
                                    for facility, line in log[starts[-1] + 1:])


ESCAPE = SysrqTrigger()
