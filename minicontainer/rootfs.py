"""Root filesystems: the default busybox one, and tarballs imported safely.

Stored rootfs live in ``/var/lib/minicontainer/rootfs/<name>``; ``--rootfs NAME``
finds them there.  Their files belong to the host ids that container ids map to
(by default container root is host uid 1000000000), so root in the container
owns its files without being root on the host.  The store itself lets in only
host root and that uid's group (root:1000000000, 0710): a setuid file in a
rootfs must not be a way for other host users to become the container's root.
"""

from __future__ import annotations

import os
import stat
import sys

from minicontainer import idmap
from minicontainer.errors import ContainerError, describe
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
# The escape catalogue's static helpers (syscalls busybox lacks): csrc/escape/NAME.c
# becomes /usr/bin/mc-escape-NAME.
ESCAPE_SOURCES = os.path.join(os.path.dirname(PROBE_SOURCE), "escape")
# A setuid-root copy of the probe: it shows what a setuid binary gains, with and
# without no_new_privs ("root" is the container's root, an unprivileged host uid).
SETUID_PROBE_PATH = "usr/bin/mc-probe-setuid"
# The setuid-no-nnp escape's reader is installed setuid root too, for the same lesson.
SETUID_ESCAPE_HELPERS = ("usr/bin/mc-escape-setuid-reader",)

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


def in_store(path: str) -> bool:
    """Whether ``path`` is (or is inside) a rootfs of the store, which containers share."""
    real = os.path.realpath(path)
    return os.path.commonpath([real, os.path.realpath(ROOTFS_DIR)]) == \
        os.path.realpath(ROOTFS_DIR) and real != os.path.realpath(ROOTFS_DIR)


def resolve(value: str) -> str:
    """``--rootfs`` takes a directory, or the name of a stored rootfs."""
    if "/" not in value and not os.path.exists(value) and os.path.isdir(stored(value)):
        return stored(value)
    return value


DEFAULT_MAX_SIZE = 4 * 1024**3
DEFAULT_MAX_MEMBERS = 200_000
_SETID_BITS = stat.S_ISUID | stat.S_ISGID


def default_rootfs() -> str:
    """The default busybox rootfs, built on first use."""
    path = stored(DEFAULT_NAME)
    secure_store()
    if not os.path.isdir(path):
        build_busybox(path)
    return path


def secure_store() -> None:
    """Make the store, or correct one an older version made open to every host user.

    Owned by root and searchable by the group of the default container root only:
    the containers it runs can reach their lower layer, no other host user can.
    """
    gid = idmap.default_mappings("gid")[0].host_id
    os.makedirs(LIB_DIR, mode=0o711, exist_ok=True)
    try:
        os.mkdir(ROOTFS_DIR, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(ROOTFS_DIR)
    if not stat.S_ISDIR(st.st_mode):
        raise RootfsError(f"{ROOTFS_DIR} is not a directory")
    if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (0, gid, 0o710):
        os.chown(ROOTFS_DIR, 0, gid)
        os.chmod(ROOTFS_DIR, 0o710)


def build_busybox(target: str) -> str:
    """Build the default rootfs at ``target`` from the host's static busybox, offline.

    It holds busybox and its applets, a few files in /etc, and the probe.
    Built beside the target and renamed into place, so a half-built rootfs is
    never seen.
    """
    import tempfile

    from minicontainer.state import remove_tree

    if not os.access(BUSYBOX, os.X_OK):
        raise RootfsError(f"{BUSYBOX} is missing (install Debian's busybox-static)")
    parent = os.path.dirname(os.path.abspath(target))
    if parent == ROOTFS_DIR:
        secure_store()
    else:
        os.makedirs(parent, mode=0o711, exist_ok=True)
    build = tempfile.mkdtemp(prefix=".build-", dir=parent)
    try:
        _populate_busybox(build)
        _chown_tree(build, idmap.default_mappings("uid")[0], idmap.default_mappings("gid")[0])
        os.chmod(build, 0o755)
        remove_tree(target)
        os.rename(build, target)
    except BaseException:
        remove_tree(build)
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
    compile_static(PROBE_SOURCE, os.path.join(root, PROBE_PATH))
    for source in sorted(os.listdir(ESCAPE_SOURCES)) if os.path.isdir(ESCAPE_SOURCES) else []:
        if source.endswith(".c"):
            name = source[:-2].replace("_", "-")
            compile_static(os.path.join(ESCAPE_SOURCES, source),
                           os.path.join(root, f"usr/bin/mc-escape-{name}"))
    shutil.copy2(os.path.join(root, PROBE_PATH), os.path.join(root, SETUID_PROBE_PATH))
    os.chmod(os.path.join(root, SETUID_PROBE_PATH), 0o4755)
    for helper in SETUID_ESCAPE_HELPERS:
        os.chmod(os.path.join(root, helper), 0o4755)


def compile_static(source: str, output: str) -> None:
    """Build one static program of csrc/ for the rootfs (needs a C compiler and libc6-dev)."""
    import subprocess

    if not os.path.exists(source):
        raise RootfsError(f"the source {source} is missing: build from a checkout")
    result = subprocess.run(["cc", "-static", "-O2", "-Wall", "-o", output, source],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RootfsError(f"compiling {os.path.basename(source)} failed: "
                          f"{result.stderr.strip()}")


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


def import_tarball(archive: str, name: str, max_size: int = DEFAULT_MAX_SIZE,
                   max_members: int = DEFAULT_MAX_MEMBERS, keep_setuid: bool = False) -> str:
    """Unpack a rootfs tarball into the stored rootfs ``name``, safely.

    Refused: members whose path leaves the target (absolute, ``..``, or through
    a symlink unpacked earlier), hard links to outside or to a member the archive
    does not hold, and archives with more than ``max_members`` members or
    ``max_size`` bytes of file data (a tar bomb).  Skipped: device nodes, which
    would otherwise be real host devices owned by the container.  Owners are
    shifted into the container's id range, directories the archive only implies
    included; setuid and setgid bits are cleared unless ``keep_setuid``.  On any
    failure nothing is left behind.

    The tree is unpacked into a directory only host root can enter, and no
    container runs on it until it is complete: nobody can change it meanwhile,
    so checking each member's path before writing it holds.
    """
    import tarfile
    import tempfile

    from minicontainer.state import remove_tree, valid_id

    if not valid_id(name):
        raise RootfsError(f"name: {name!r} is not a valid rootfs name")
    target = stored(name)
    if os.path.exists(target):
        raise RootfsError(f"name: rootfs {name!r} exists already ({target})")
    secure_store()
    build = tempfile.mkdtemp(prefix=".import-", dir=ROOTFS_DIR)
    owner = (idmap.default_mappings("uid")[0], idmap.default_mappings("gid")[0])
    try:
        skipped, cleared = _unpack(archive, build, owner, max_size, max_members, keep_setuid)
        os.chmod(build, 0o755)
        os.chown(build, owner[0].host_id, owner[1].host_id)
        os.rename(build, target)
    except BaseException as e:
        remove_tree(build)
        if isinstance(e, RootfsError):
            raise RootfsError(f"importing {archive}: {e}") from None
        if isinstance(e, tarfile.TarError):
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise RootfsError(f"importing {archive}: {reason}") from None
        if isinstance(e, OSError):
            raise RootfsError(f"importing {archive}: {describe(e)}") from None
        raise
    if skipped:
        print(f"minicontainer: skipped {len(skipped)} device node(s): {', '.join(skipped[:5])}")
    if cleared:
        print(f"minicontainer: cleared the setuid/setgid bits of {len(cleared)} file(s) "
              f"(--keep-setuid keeps them): {', '.join(cleared[:5])}", file=sys.stderr)
    return target


def _unpack(archive: str, build: str, owner: tuple[idmap.IdMapping, idmap.IdMapping],
            max_size: int, max_members: int, keep_setuid: bool) -> tuple[list[str], list[str]]:
    """Extract ``archive`` into ``build``; the device nodes skipped and the files whose
    setuid/setgid bits were cleared."""
    import tarfile

    uids, gids = owner
    skipped: list[str] = []
    cleared: list[str] = []
    total = 0
    try:
        tar = tarfile.open(archive)
    except tarfile.ReadError:
        raise RootfsError("not a tar archive (plain, gzip, bzip2 or xz)") from None
    with tar:
        for count, member in enumerate(tar, 1):
            if count > max_members:
                raise RootfsError(f"more than {max_members} members (a tar bomb? "
                                  "--max-files raises the limit)")
            total += member.size if member.isreg() else 0
            if total > max_size:
                raise RootfsError(f"more than {max_size} bytes of files (a tar bomb? "
                                  "--max-size raises the limit)")
            if member.isdev():
                skipped.append(member.name)
                continue
            _check_member(build, member)
            if member.mode & _SETID_BITS and not member.isdir() and not keep_setuid:
                member.mode &= ~_SETID_BITS
                cleared.append(member.name)
            _make_parents(build, member.name, uids.host_id, gids.host_id)
            member.uid = _shift(member.uid, uids)
            member.gid = _shift(member.gid, gids)
            _extract(tar, member, build)
    return skipped, cleared


def _make_parents(root: str, name: str, uid: int, gid: int) -> None:
    """Make the directories above member ``name`` that the archive does not list,
    owned by the container's root as if the archive held them."""
    current = root
    for part in name.split("/")[:-1]:
        current = os.path.join(current, part)
        if not os.path.lexists(current):
            os.mkdir(current, 0o755)
            os.lchown(current, uid, gid)


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
        if not os.path.lexists(link):
            raise RootfsError(f"hard link {member.name!r} points to {member.linkname!r}, "
                              "which no member before it unpacked")
        member.linkname = member.linkname.lstrip("/")
