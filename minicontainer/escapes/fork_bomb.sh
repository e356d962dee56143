# Attack: a bounded fork bomb. A child shell starts up to $MC_FORKS sleeping
# processes and notes each one's pid; when fork fails (EAGAIN at pids.max) that
# shell dies. From then on only shell builtins work here: nothing else can start.
echo "my pids.max: $(cat /sys/fs/cgroup/pids.max 2>/dev/null || echo "none (no limit was set)")"
echo "forking up to $MC_FORKS processes"
: > /tmp/forked
sh -c 'i=0
while [ $i -lt "$MC_FORKS" ]; do
    sleep 120 &
    [ "$!" != "${last:-}" ] || break  # no new pid: the fork did not happen
    last=$!
    echo $! >> /tmp/forked
    i=$((i+1))
done
sleep 1  # hold them a moment: the host counts the processes in our cgroup' 2>/tmp/fork-errors
# Count and end the sleepers with builtins only, by the pids we noted: never
# kill -1, which without a pid namespace could reach processes not our own.
n=0
while read -r pid; do
    n=$((n+1))
    kill -9 "$pid"
done < /tmp/forked
echo "forked $n of $MC_FORKS"
error=""
while read -r line; do error=$line; done < /tmp/fork-errors
[ -z "$error" ] || echo "then fork failed: $error"
