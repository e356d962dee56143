# Attack: open the executable of a host process through /proc/PID/exe (read-only).
# CVE-2019-5736: runc's own binary was reachable from the container as
# /proc/self/exe while runc entered it, and the container overwrote it. Our
# runtime never runs host code as a container process (the execve goes through a
# sealed in-memory stub), but /proc/PID/exe of *any* process opens the very file
# it runs: with the host's pid namespace and ptrace-level access to a host
# process, a container reaches that host binary. Reading it is the harmless half;
# writing it (once the program exits) is the CVE.
exe="/proc/$MC_DECOY_PID/exe"
echo "target: $exe (a decoy host process, a copy of sleep with a secret appended)"
if [ -d "/proc/$MC_DECOY_PID" ]; then
    echo "/proc/$MC_DECOY_PID: visible ($(cat "/proc/$MC_DECOY_PID/comm" 2>&1))"
else
    echo "/proc/$MC_DECOY_PID: no such process in this pid namespace"
fi
# readlink and open both need ptrace read access to the process: the same user
# and every capability it holds, or CAP_SYS_PTRACE over its user namespace.
echo "readlink $exe: $(readlink "$exe" 2>&1 || echo refused)"
if tail -c 64 "$exe" > /tmp/exe-tail 2>/tmp/exe-error; then
    echo "open $exe for reading: ok"
    echo "PROOF $(grep -a mc-decoy-secret /tmp/exe-tail)"
else
    echo "open $exe: $(cat /tmp/exe-error)"
fi
