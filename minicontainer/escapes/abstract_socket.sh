# Attack: a host service listens on the abstract unix socket @$MC_SOCKET. There is
# no file to find: the name lives in the network namespace. Just connect to it.
echo "my network namespace: $(readlink /proc/self/ns/net)"
echo "abstract sockets in this network namespace: $(grep -c ' @' /proc/net/unix)"
echo "connecting to @$MC_SOCKET"
reply=$(mc-escape-abstract-socket "$MC_SOCKET")
echo "$reply"
# The listener answers with a secret of the host's: printing it proves we reached the service.
case "$reply" in
    *"said: "*) echo "PROOF ${reply##*said: }" ;;
    *) echo "the host's socket is not in this network namespace" ;;
esac
