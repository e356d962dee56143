# Attack: a host service listens on 127.0.0.1:$MC_PORT, "local only". Is our
# 127.0.0.1 the host's?
echo "my network namespace: $(readlink /proc/self/ns/net)"
echo "my interfaces: $(ls /sys/class/net | tr '\n' ' ')"
echo "connecting to 127.0.0.1:$MC_PORT"
# The service answers with a secret of the host's: printing it proves we reached
# the host's loopback.
if reply=$(nc -w 3 127.0.0.1 "$MC_PORT" </dev/null 2>&1) && [ -n "$reply" ]; then
    echo "the answer: PROOF $reply"
else
    echo "the answer: ${reply:-nothing}"
    echo "127.0.0.1 here is this container's own loopback, not the host's"
fi
