# The container's side of this pitfall: show where we are and our limit, then
# wait. The attack comes from the host: it enters our namespaces with nsenter
# while we sleep, and ends the sleep when it is done.
echo "container: cgroup $(cat /proc/self/cgroup)"
echo "container: memory.max $(cat /sys/fs/cgroup/memory.max)"
sleep 60
echo "container: the host's visit is over"
