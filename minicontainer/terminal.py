"""The container's terminal (``-t``): a pty from the container's own devpts.

The init opens the pty inside the container, after the pivot, and passes the
master side to the runtime over a unix socket.  The command gets the slave as
its controlling terminal in a new session, so nothing it does (TIOCSTI
included) can reach the terminal the runtime was started from.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import socket
import struct
import termios
import tty


def open_in_container(channel: socket.socket) -> None:
    """In the init, already leader of a new session: make a pty, send its master to
    the runtime, and make the slave our controlling terminal on fds 0, 1 and 2."""
    master, slave = os.openpty()
    socket.send_fds(channel, [b"pty"], [master])
    os.close(master)
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)


def receive_master(channel: socket.socket) -> int | None:
    """In the runtime: the pty master the init sent, or None if it failed first."""
    _, fds, _, _ = socket.recv_fds(channel, 16, 1)
    return fds[0] if fds else None


def send_to_console_socket(path: str, master: int) -> None:
    """OCI ``--console-socket``: hand the pty master to whoever listens on the unix
    socket at ``path`` (SCM_RIGHTS), as runc does, and keep no copy here.

    The caller (podman's conmon, a test) then owns the terminal; nothing is
    relayed by minicontainer.
    """
    from minicontainer.errors import ContainerError, describe

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as console:
            console.connect(path)
            socket.send_fds(console, [b"pty"], [master])
    except OSError as e:
        raise ContainerError(f"console-socket {path}: {describe(e)}") from None
    finally:
        os.close(master)


def set_window_size(master: int, rows: int, columns: int) -> None:
    """OCI ``process.consoleSize``: the size the command sees on its terminal."""
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def _copy_window_size(master: int) -> None:
    try:
        size = fcntl.ioctl(0, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
    except OSError:
        return
    fcntl.ioctl(master, termios.TIOCSWINSZ, size)


def relay(master: int) -> None:
    """Copy bytes between our stdin/stdout and the pty until the container closes it.

    Our own terminal is put in raw mode for the duration so that keys like ^C
    reach the container's line discipline rather than ours.
    """
    stdin_is_tty = os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_is_tty else None
    if stdin_is_tty:
        _copy_window_size(master)
        signal.signal(signal.SIGWINCH, lambda *_: _copy_window_size(master))
        tty.setraw(0)
    sources = [master, 0]
    try:
        while True:
            ready, _, _ = select.select(sources, [], [])
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    return
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    sources.remove(0)
                    os.write(master, b"\x04")
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os.close(master)
