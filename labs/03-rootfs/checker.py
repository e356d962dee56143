"""Checks of lab 03: the root the student's new_root.py builds, judged by what its
command sees inside and by what lands in lower/ and upper/ on the host.

The program runs inside a stand-in host (a throwaway mount namespace,
:class:`minicontainer.labs.StandInHost`): a mount made without a mount namespace of
its own lands on the stand-in's mount table, never on the real host's.  The checker
plants its nonce files in lower/ and takes them (and whatever the check wrote in
upper/) away again; every host-side access to those directories refuses symlinks.
"""

import os
import subprocess
import sys
import tempfile

from minicontainer import labs
from minicontainer.labs import StandInHost, failed, minicontainer, passed
from minicontainer.namespaces import Namespace
from minicontainer.state import remove_tree

PROGRAM = "new_root.py"
LAYERS = ("upper", "work", "merged")
BREAKOUT = "mc-escape-chroot-breakout"
BREAKOUT_DIR = "/tmp/mc-breakout.d"  # what the climb makes inside the root


def prepare(workspace: str) -> list[str]:
    """lower/ (a copy of the busybox rootfs, the image) and the overlay's empty
    directories beside new_root.py."""
    made = []
    if labs.copy_default_rootfs(os.path.join(workspace, "lower")):
        made.append("lower/: a copy of the busybox rootfs, the image your root is built on")
    missing = [name for name in LAYERS if not os.path.lexists(os.path.join(workspace, name))]
    for name in missing:
        os.mkdir(os.path.join(workspace, name), 0o755)
    if missing:
        made.append(f"{', '.join(n + '/' for n in missing)}: empty, for the overlay")
    return made


def _open_dir(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


def _plant(directory: str, name: str, text: str) -> None:
    """A new file ``name`` in ``directory`` holding ``text``."""
    parent = _open_dir(directory)
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o644, dir_fd=parent)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    finally:
        os.close(parent)


def _read(directory: str, name: str) -> str | None:
    """The text of the regular file ``name`` in ``directory`` (None if there is none)."""
    try:
        parent = _open_dir(directory)
    except OSError:
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=parent)
    except OSError:
        return None
    finally:
        os.close(parent)
    try:
        return os.read(fd, 4096).decode(errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _remove(directory: str, *names: str) -> None:
    """Unlink ``names`` (files, or empty directories) in ``directory`` if they are there."""
    try:
        parent = _open_dir(directory)
    except OSError:
        return
    try:
        for name in names:
            for remove in (os.unlink, os.rmdir):
                try:
                    remove(name, dir_fd=parent)
                    break
                except OSError:
                    continue
    finally:
        os.close(parent)


def _remove_breakout_dir(ctx) -> None:
    """The directory the chroot climb makes in the root's /tmp, wherever it landed."""
    for layer in ("upper", "lower"):
        _remove(os.path.join(ctx.program(layer), "tmp"), os.path.basename(BREAKOUT_DIR))


def _run(ctx, *args: str):
    """Run new_root.py ARGS in a stand-in host: the run, and the rows its mount table
    gained."""
    with StandInHost(Namespace.MNT) as host:
        before = host.mount_table()
        ran = ctx.run(PROGRAM, *args, host=host)
        added = host.mount_table() - before
    return ran, added


def _describe(row: str) -> str:
    """A mountinfo row as ``TYPE on MOUNTPOINT``."""
    fields, _, tail = row.partition(" - ")
    return f"{tail.split()[0]} on {fields.split()[4]}"


def _failed_to_run(ran, command: str):
    return failed(f"`{command}`: {ran.summary()}",
                  "run it by hand (`sudo minicontainer lab run 03 -- ls /`) and read the "
                  "traceback")


def sees_new_root(ctx):
    """COMMAND sees the new root: lower/ is its /"""
    marker = f"lab-root-{ctx.nonce}"
    _plant(ctx.program("lower"), marker, ctx.nonce + "\n")
    try:
        ran, _ = _run(ctx, "cat", f"/{marker}")
    finally:
        _remove(ctx.program("lower"), marker)
    if ran.returncode == 0 and ctx.nonce in ran.stdout:
        return passed(f"`new_root.py cat /{marker}` printed the nonce planted in "
                      f"lower/{marker}; the host's / has no such file")
    if f"/{marker}" in ran.stderr:
        return failed(f"`new_root.py cat /{marker}`: {ran.summary()} (the file is in lower/)",
                      "COMMAND still sees the host's /: the root must become the tree "
                      "mounted from lower/ on merged/")
    return _failed_to_run(ran, f"new_root.py cat /{marker}")


def host_mounts_unchanged(ctx):
    """your mounts stay in the container's mount namespace: the host's table is unchanged"""
    mountpoint = f"lab-mnt-{ctx.nonce}"
    ran, added = _run(ctx, "sh", "-c", f"mkdir /{mountpoint} && mount -t tmpfs {mountpoint} "
                      f"/{mountpoint} && echo mounted; rmdir /{mountpoint} 2>/dev/null; true")
    _remove(ctx.program("upper"), mountpoint)
    if added:
        shown = "; ".join(sorted(_describe(row) for row in added))
        return failed(f"{len(added)} mount(s) appeared on the host it ran on (a stand-in: the "
                      f"real host's mount table is untouched): {shown[:300]}",
                      "a mount made outside a mount namespace of its own is the host's: is "
                      "Namespace.MNT among the clone flags?")
    if ran.returncode != 0 or "mounted" not in ran.stdout:
        return _failed_to_run(ran, "new_root.py sh -c 'mount -t tmpfs ...'")
    return passed("the overlay, the /proc and a tmpfs mounted by COMMAND stayed in the "
                  "container: the host's mount table has no new row")


def copy_on_write(ctx):
    """writes land in upper/; lower/, the image, never changes (copy-on-write)"""
    lower, upper = ctx.program("lower"), ctx.program("upper")
    new, old = f"lab-new-{ctx.nonce}", f"lab-old-{ctx.nonce}"
    _plant(lower, old, "original\n")
    try:
        ran, _ = _run(ctx, "sh", "-c", f"echo {ctx.nonce} > /{new} && "
                      f"echo {ctx.nonce} >> /{old} && echo wrote")
        seen = {(layer, name): _read(path, name) for layer, path in (("lower", lower),
                                                                    ("upper", upper))
                for name in (new, old)}
    finally:
        _remove(lower, new, old)
        _remove(upper, new, old)
    if ran.returncode != 0 or "wrote" not in ran.stdout:
        if "Read-only file system" in ran.stderr:
            return failed("without --read-only, the root refused the write (EROFS)",
                          "only --read-only makes the root read-only")
        return failed(f"`new_root.py sh -c 'echo ... > /{new}'`: {ran.summary()}",
                      "make the first step pass first")
    if seen["lower", new] is not None or seen["lower", old] != "original\n":
        return failed(f"the writes landed in lower/ itself: lower/{new} was created and "
                      f"lower/{old} changed; every container on this image would see them",
                      "a bind mount makes lower/ itself the root; an overlay with upper/ (and "
                      "work/) on top of it puts every write into upper/")
    if seen["upper", new] is None or ctx.nonce not in (seen["upper", old] or ""):
        return failed("the writes are neither in lower/ nor in upper/ beside new_root.py",
                      "the overlay's upper layer must be the upper/ directory beside your "
                      "program: the checker looks for the writes there")
    return passed(f"/{new} was written into upper/; appending to /{old} (planted in lower/) "
                  f"copied it up: upper/{old} has the new line, lower/{old} is still "
                  "'original'")


def host_root_unreachable(ctx):
    """the host's / is out of reach: no `..` climb leads back to it"""
    where = tempfile.mkdtemp(prefix="mc-lab03-")
    try:
        os.chmod(where, 0o755)
        secret = os.path.join(where, "secret")
        _plant(where, "secret", ctx.nonce)
        ran, _ = _run(ctx, "sh", "-c", f"ls -di / /..; {BREAKOUT} {secret}; "
                      f"rmdir {BREAKOUT_DIR}")
    finally:
        remove_tree(where)
        _remove_breakout_dir(ctx)
    if "chdir" not in ran.stdout:
        return failed(f"`new_root.py sh -c '{BREAKOUT} ...'`: {ran.summary()}",
                      "make the first step pass first")
    if ctx.nonce in ran.stdout:
        return failed(f"{BREAKOUT} (chroot into a subdirectory, climb `..` from the cwd, "
                      f"chroot there) read the host file {secret}: the host's / is still "
                      "mounted behind your root",
                      "chroot only changes where / resolves for one process; pivot_root makes "
                      "your root the root of the whole mount namespace, and the old root can "
                      "then be unmounted (mounts.pivot_to)")
    inodes = {line.split()[0] for line in ran.stdout.splitlines()[:2] if line.split()}
    last = [line for line in ran.stdout.splitlines() if secret in line][-1:]
    return passed(f"`ls -di / /..` shows {'one inode' if len(inodes) == 1 else 'two inodes'}; "
                  f"the climb out ended in your own root: {last[0] if last else 'no host file'}")


def read_only_root(ctx):
    """with --read-only, the root refuses writes (EROFS)"""
    name = f"lab-ro-{ctx.nonce}"
    ran, _ = _run(ctx, "--read-only", "sh", "-c", f"echo {ctx.nonce} > /{name}; echo status $?")
    written = [layer for layer in ("lower", "upper") if _read(ctx.program(layer), name)]
    for layer in ("lower", "upper"):
        _remove(ctx.program(layer), name)
    if "status" not in ran.stdout:
        return _failed_to_run(ran, f"new_root.py --read-only sh -c 'echo ... > /{name}'")
    if written or "status 0" in ran.stdout:
        return failed(f"with --read-only, `echo ... > /{name}` worked"
                      + (f" (it is in {written[0]}/)" if written else ""),
                      "--read-only must make the root mount read-only; mounts.finish_root() "
                      "does it to whatever / is when it runs, so it belongs after the pivot")
    if "Read-only file system" not in ran.stderr:
        return failed(f"with --read-only the write failed, but not with EROFS: "
                      f"{ran.summary()}", "a read-only mount answers EROFS: make the root "
                      "read-only, do not take files away")
    return passed(f"with --read-only: `echo > /{name}`: Read-only file system (without it the "
                  "copy-on-write step wrote there)")


def pitfall(ctx):
    """the pitfall in the catalogue: chroot-breakout (a root entered by chroot)"""
    return ctx.pitfall("chroot-breakout")


STEPS = [sees_new_root, host_mounts_unchanged, copy_on_write, host_root_unreachable,
         read_only_root, pitfall]


_OVERLAY = """
import os, sys
from minicontainer import mounts, namespaces
from minicontainer.namespaces import Namespace
top = sys.argv[1]
lower, upper, work, merged = (os.path.join(top, d) for d in ("lower", "upper", "work", "merged"))
for d in (lower, upper, work, merged):
    os.mkdir(d)
with open(os.path.join(lower, "hosts"), "w") as f:
    f.write("127.0.0.1 localhost\\n")
namespaces.unshare(Namespace.MNT)
mounts.set_propagation("rprivate")
mounts.mount_rootfs(lower, merged, upper, work)
with open(os.path.join(merged, "hosts"), "a") as f:
    f.write("10.0.0.7 quiz\\n")
for d in (lower, upper):
    with open(os.path.join(d, "hosts")) as f:
        print(os.path.basename(d), "quiz" in f.read())
"""


def _overlay_write() -> dict[str, bool]:
    """Append to a file of an overlay's lower layer through the overlay, in a throwaway
    mount namespace: whether the line is in lower/ and in upper/ afterwards."""
    top = tempfile.mkdtemp(prefix="mc-lab03-quiz-")
    try:
        out = subprocess.run([sys.executable, "-c", _OVERLAY, top], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    finally:
        remove_tree(top)
    return {line.split()[0]: line.split()[1] == "True" for line in out.splitlines()}


def quiz_answer(question_id, ctx):
    """The right choice of each quiz question, observed now."""
    if question_id == "dotdot":
        out = minicontainer("run", "--rootfs-mode", "chroot", "--", "ls", "-di", "/",
                            "/..").stdout
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        inodes = {line.split()[0] for line in lines}
        return ("A" if len(inodes) == 1 else "B",
                f"`minicontainer run --rootfs-mode chroot -- ls -di / /..`: {'; '.join(lines)}")
    if question_id == "climb":
        from minicontainer.escapes.base import ESCAPED

        outcome = ctx.escape("chroot-breakout", weakened=True)
        return ("A" if outcome.verdict == ESCAPED else "B",
                f"`minicontainer escape run chroot-breakout --weakened`: {outcome.verdict}")
    if question_id == "lower-after-write":
        seen = _overlay_write()
        choice = "B" if seen.get("upper") and not seen.get("lower") else "A"
        return choice, (f"an overlay, appended to through merged/: the line is in lower/: "
                        f"{seen.get('lower')}, in upper/: {seen.get('upper')}")
    if question_id == "read-only-writes":
        out = minicontainer("run", "--read-only", "--", "sh", "-c",
                            "touch /x 2>/dev/null && echo A; touch /tmp/x 2>/dev/null && "
                            "echo B; touch /dev/shm/x 2>/dev/null && echo C").stdout.split()
        return ("".join(out) if len(out) == 1 else "D",
                f"`minicontainer run --read-only`: the writes that worked: {out or 'none'}")
    return None
