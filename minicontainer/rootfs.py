"""Root filesystems: the default busybox one, and tarballs imported safely.

Stored rootfs live in ``/var/lib/minicontainer/rootfs/<name>``; ``--rootfs NAME``
finds them there.  Their files belong to the host ids that container ids map to
(by default container root is host uid 1000000000), so root in the container
owns its files without being root on the host.
"""

from __future__ import annotations

import os
import stat

from minicontainer import idmap
from minicontainer.errors import ContainerError
from minicontainer.state import LIB_DIR

TYPE_CHECKING = False  # typing itself is too slow to import on the start-up path
if TYPE_CHECKING:
    import tarfile

# shutil, subprocess, tarfile and tempfile are imported where they are used: this
# module is on the start-up path of every `run`, which needs only default_rootfs().

ROOTFS_DIR = os.path.join(LIB_DIR, "rootfs")
DEFAULT_NAME = "busybox"
BUSYBOX = "/bin/busybox"
PROBE_SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "csrc", "probe.c")
PROBE_PATH = "usr/bin/mc-probe"
# A setuid-root copy of the probe: it shows what a setuid binary gains, with and
# without no_new_privs ("root" is the container's root, an unprivileged host uid).
SETUID_PROBE_PATH = "usr/bin/mc-probe-setuid"

_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "home", "tmp", "var/tmp",
         "run", "proc", "sys", "dev", "mnt")
_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"
                  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                  "user:x:1000:1000:user:/home/user:/bin/sh\n",
    "etc/group": "root:x:0:\ntty:x:5:\nnogroup:x:65534:\nuser:x:1000:\n",
    "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
    "etc/os-release": 'NAME="minicontainer busybox"\nID=busybox\n',
}


class RootfsError(ContainerError):
    """A rootfs could not be built or imported."""


def stored(name: str) -> str:
    """Where the stored rootfs ``name`` lives."""
    return os.path.join(ROOTFS_DIR, name)


def resolve(value: str) -> str:
    """``--rootfs`` takes a directory, or the name of a stored rootfs."""
    if "/" not in value and not os.path.exists(value) and os.path.isdir(stored(value)):
        return stored(value)
    return value


def default_rootfs() -> str:
    """The default busybox rootfs, built on first use."""
    path = stored(DEFAULT_NAME)
    if not os.path.isdir(path):
        build_busybox(path)
    return path


def build_busybox(target: str) -> str:
    """Build the default rootfs at ``target`` from the host's static busybox, offline.

    It holds busybox and its applets, a few files in /etc, and the probe.
    Built beside the target and renamed into place, so a half-built rootfs is
    never seen.
    """
    import shutil
    import tempfile

    if not os.access(BUSYBOX, os.X_OK):
        raise RootfsError(f"{BUSYBOX} is missing (install Debian's busybox-static)")
    parent = os.path.dirname(os.path.abspath(target))
    os.makedirs(parent, mode=0o711, exist_ok=True)
    build = tempfile.mkdtemp(prefix=".build-", dir=parent)
    try:
        _populate_busybox(build)
        _chown_tree(build, idmap.default_mappings("uid")[0], idmap.default_mappings("gid")[0])
        os.chmod(build, 0o755)
        if os.path.exists(target):
            shutil.rmtree(target)
        os.rename(build, target)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return target


def _populate_busybox(root: str) -> None:
    import shutil
    import subprocess

    for d in _DIRS:
        os.makedirs(os.path.join(root, d), 0o755, exist_ok=True)
    for d in ("tmp", "var/tmp"):
        os.chmod(os.path.join(root, d), 0o1777)
    os.chmod(os.path.join(root, "root"), 0o700)
    shutil.copy2(BUSYBOX, os.path.join(root, "bin/busybox"))
    applets = subprocess.run([BUSYBOX, "--list-full"], check=True, capture_output=True,
                             text=True).stdout.split()
    for applet in applets:
        link = os.path.join(root, applet)
        if applet != "bin/busybox" and not os.path.lexists(link):
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink("/bin/busybox", link)
    for name, text in _FILES.items():
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    os.makedirs(os.path.join(root, "home/user"), 0o755)
    compile_probe(os.path.join(root, PROBE_PATH))
    shutil.copy2(os.path.join(root, PROBE_PATH), os.path.join(root, SETUID_PROBE_PATH))
    os.chmod(os.path.join(root, SETUID_PROBE_PATH), 0o4755)


def compile_probe(output: str) -> None:
    """Build the static probe from csrc/probe.c (needs a C compiler and libc6-dev)."""
    import subprocess

    if not os.path.exists(PROBE_SOURCE):
        raise RootfsError(f"the probe source {PROBE_SOURCE} is missing: build from a checkout")
    result = subprocess.run(
        ["cc", "-static", "-O2", "-Wall", "-o", output, PROBE_SOURCE],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise RootfsError(f"compiling the probe failed: {result.stderr.strip()}")


def _chown_tree(root: str, uids: idmap.IdMapping, gids: idmap.IdMapping) -> None:
    """Shift every owner by the mapping: container uid N is host uid ``host_id + N``."""
    for path in _walk(root):
        st = os.lstat(path)
        os.lchown(path, _shift(st.st_uid, uids), _shift(st.st_gid, gids))
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(path, stat.S_IMODE(st.st_mode))


def _shift(container_id: int, mapping: idmap.IdMapping) -> int:
    if container_id >= mapping.size:
        raise RootfsError(f"id {container_id} is outside the mapping of {mapping.size} ids")
    return mapping.host_id + container_id


def _walk(root: str):
    yield root
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            yield os.path.join(dirpath, name)


def import_tarball(archive: str, name: str) -> str:
    """Unpack a rootfs tarball into the stored rootfs ``name``, safely.

    Refused: members whose path leaves the target (absolute, ``..``, or through
    a symlink unpacked earlier), hard links to outside.  Skipped: device nodes,
    which would otherwise be real host devices owned by the container.  Owners
    are shifted into the container's id range.
    """
    import shutil
    import tarfile
    import tempfile

    from minicontainer.state import valid_id

    if not valid_id(name):
        raise RootfsError(f"name: {name!r} is not a valid rootfs name")
    target = stored(name)
    if os.path.exists(target):
        raise RootfsError(f"name: rootfs {name!r} exists already ({target})")
    os.makedirs(ROOTFS_DIR, mode=0o711, exist_ok=True)
    build = tempfile.mkdtemp(prefix=".import-", dir=ROOTFS_DIR)
    uids = idmap.default_mappings("uid")[0]
    gids = idmap.default_mappings("gid")[0]
    skipped = []
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                if member.isdev():
                    skipped.append(member.name)
                    continue
                _check_member(build, member)
                member.uid = _shift(member.uid, uids)
                member.gid = _shift(member.gid, gids)
                _extract(tar, member, build)
        os.chmod(build, 0o755)
        os.chown(build, uids.host_id, gids.host_id)
        os.rename(build, target)
    except (OSError, tarfile.TarError) as e:
        shutil.rmtree(build, ignore_errors=True)
        raise RootfsError(f"importing {archive}: {e}") from None
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    if skipped:
        print(f"minicontainer: skipped {len(skipped)} device node(s): {', '.join(skipped[:5])}")
    return target


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: str) -> None:
    import tarfile

    if hasattr(tarfile, "fully_trusted_filter"):
        tar.extract(member, dest, numeric_owner=True, filter="fully_trusted")
    else:
        tar.extract(member, dest, numeric_owner=True)


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _check_member(root: str, member: tarfile.TarInfo) -> None:
    """Refuse a member that would be written, or link, outside ``root``.

    ``realpath`` follows the symlinks already unpacked, which is exactly what
    writing the member would do.
    """
    name = member.name.lstrip("/")
    member.name = name
    path = os.path.realpath(os.path.join(root, name))
    parent = os.path.realpath(os.path.dirname(os.path.join(root, name)))
    if not _inside(root, path) or not _inside(root, parent):
        raise RootfsError(f"member {member.name!r} would be written outside the rootfs")
    if member.islnk():
        link = os.path.realpath(os.path.join(root, member.linkname.lstrip("/")))
        if not _inside(root, link):
            raise RootfsError(f"hard link {member.name!r} points outside the rootfs")
        member.linkname = member.linkname.lstrip("/")
