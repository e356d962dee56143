"""Keystrokes typed into the caller's terminal (TIOCSTI, CVE-2017-5226).

The ``TIOCSTI`` ioctl ("simulate terminal input") pushes a byte into a
terminal's input queue as if it had been typed at the keyboard.  A process may
do it on its *controlling* terminal.  A container started from an interactive
shell, without a session of its own, still has that shell's terminal as its
controlling terminal: it can type ``some command`` and a newline, and when the
container ends the shell reads the line and runs it, on the host, as the user
who started the container.  No namespace stands in the way: a terminal is a
device shared by everyone holding it.

The demo gives the runner's worker a fresh pseudo-terminal as its controlling
terminal and stdin (never a real terminal), so the container starts from it
as from an interactive shell.  The static helper ``mc-escape-tiocsti`` types
``echo PROOF <nonce>`` and a newline into it.  The proof is where the line
ends up: in the terminal's *input queue*, which the demo reads from its own
descriptor of the terminal after the container has ended, where a shell would
have read its next command.  Nothing but typed input (the other end of the pty,
which only the demo holds, or ``TIOCSTI``) can put bytes there: what the
container *writes* to its terminal goes out to the other end, not in, and the
demo turns the terminal's echo off so that nothing comes back either.  Nothing
reads the line as a command, so nothing runs.

Two layers stop it, each alone:

- new session: the container's init calls ``setsid()``; it keeps the terminal
  open as its stdin but the terminal is no longer its controlling one, and
  ``TIOCSTI`` on it fails (EPERM);
- seccomp: the default profile denies ``ioctl(fd, TIOCSTI, ...)`` (EPERM).

Since Linux 6.2 the kernel itself can refuse TIOCSTI to anyone without
``CAP_SYS_ADMIN`` (``dev.tty.legacy_tiocsti = 0``); the demo then cannot run.
Incident: CVE-2017-5226, bubblewrap ran sandboxes in the caller's session (fixed
with ``--new-session``); the same hole was found in runc ``exec``, util-linux
``su`` and ``sudo`` over the years.
"""

from __future__ import annotations

import errno
import os
import termios

from minicontainer.escapes.base import Attempt, Escape

LEGACY_TIOCSTI = "/proc/sys/dev/tty/legacy_tiocsti"


class Tiocsti(Escape):
    """Type a command into the terminal the container was started from."""

    name = "tiocsti"
    title = "keystrokes pushed into the caller's terminal"
    attacks = "the caller's controlling terminal (ioctl TIOCSTI)"
    incident = "CVE-2017-5226: bubblewrap sandboxes typed into the caller's shell"
    scenario: list[str] = []
    weakening = ["--security-opt", "new-session=false", "--security-opt", "seccomp=unconfined"]
    stopped_by = ["new session", "seccomp"]

    def missing(self) -> str | None:
        """A kernel with ``dev.tty.legacy_tiocsti = 0`` refuses TIOCSTI to everyone
        without CAP_SYS_ADMIN."""
        try:
            with open(LEGACY_TIOCSTI) as f:
                if f.read().strip() == "0":
                    return "TIOCSTI is disabled by the kernel (dev.tty.legacy_tiocsti = 0)"
        except FileNotFoundError:
            pass  # before Linux 6.2: TIOCSTI always works on one's own terminal
        return None

    def plant(self, attempt: Attempt) -> None:
        """A fresh pseudo-terminal for the container to start from, without echo, and
        a descriptor of our own to read its input queue with."""
        attempt.pty_master, attempt.stdin_tty = os.openpty()
        modes = termios.tcgetattr(attempt.stdin_tty)
        modes[3] &= ~termios.ECHO  # lflag: what the container writes never comes back in
        termios.tcsetattr(attempt.stdin_tty, termios.TCSANOW, modes)
        # A file description of its own, so that non-blocking reads leave the
        # container's stdin as it is.
        attempt.pty_input = os.open(os.ttyname(attempt.stdin_tty),
                                    os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)

    def proven(self, attempt: Attempt) -> bool:
        """The typed line is in the terminal's input queue, where the caller's shell
        would read its next command."""
        typed = b""
        try:
            while chunk := os.read(attempt.pty_input, 4096):
                typed += chunk
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EIO):  # all read; hung up
                raise
        return f"echo PROOF {attempt.nonce}".encode() in typed

    def restore(self, attempt: Attempt) -> None:
        """Close both ends of the terminal and our reader, with anything still typed
        into it."""
        for name in ("pty_input", "pty_master", "stdin_tty"):
            fd = getattr(attempt, name, None)
            if fd is not None:
                os.close(fd)
                setattr(attempt, name, None)


ESCAPE = Tiocsti()
