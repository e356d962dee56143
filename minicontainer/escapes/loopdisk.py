"""A harmless host "disk" for the mount escapes: a loop device over a small image.

The image is a 1 MiB ext2 filesystem, made in the attempt's own host directory
with one file on it, ``secret``, holding the attempt's secret (``mke2fs -d`` fills
it from a directory, so the host never mounts it).  The loop device is attached
read-only: whatever the container does with it, no byte of the image changes,
and no real disk of the host is ever offered.  ``detach`` frees it again.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from minicontainer.escapes.base import Attempt

IMAGE_SIZE = "1M"
FILESYSTEM = "ext2"


def missing() -> str | None:
    """What this host lacks to make a loop disk, or None."""
    for tool in ("losetup", "mke2fs"):
        if shutil.which(tool) is None:
            return f"no {tool} on this host to make a loop disk (util-linux, e2fsprogs)"
    if not os.path.exists("/dev/loop-control"):
        return "no /dev/loop-control: this kernel has no loop devices"
    with open("/proc/filesystems") as f:
        if FILESYSTEM not in f.read().split():
            return f"this kernel cannot mount {FILESYSTEM}"
    return None


def attach(attempt: Attempt) -> str:
    """Make the image with the secret on it and attach it read-only; the loop device's path.

    The path is kept on the attempt, so that :func:`detach` finds it.
    """
    content = attempt.path("disk-content")
    os.mkdir(content, 0o755)
    fd = os.open(os.path.join(content, "secret"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, attempt.secret.encode())
    finally:
        os.close(fd)
    image = attempt.path("disk.img")
    subprocess.run(["mke2fs", "-q", "-F", "-t", FILESYSTEM, "-d", content, image, IMAGE_SIZE],
                   check=True, capture_output=True)
    attached = subprocess.run(["losetup", "--find", "--show", "--read-only", image],
                              check=True, capture_output=True, text=True)
    attempt.loop_device = attached.stdout.strip()
    return attempt.loop_device


def numbers(device: str) -> str:
    """``MAJOR MINOR`` of a device node, as mknod wants them."""
    rdev = os.stat(device).st_rdev
    return f"{os.major(rdev)} {os.minor(rdev)}"


def detach(attempt: Attempt) -> None:
    """Detach the loop device :func:`attach` made, if it made one."""
    device = getattr(attempt, "loop_device", None)
    if device is not None:
        subprocess.run(["losetup", "--detach", device], check=True, capture_output=True)
        attempt.loop_device = None
