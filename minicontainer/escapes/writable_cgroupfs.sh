# Attack: we were given 64 MiB. Our limit is a file in our own cgroup: rewrite it.
limit=/sys/fs/cgroup/memory.max
echo "my limit: $(cat $limit) bytes"
grep ' /sys/fs/cgroup ' /proc/self/mounts
echo "raising it to 512 MiB"
echo 536870912 2>&1 > $limit || echo "the write failed"
now=$(cat $limit)
echo "my limit now: $now bytes"
[ "$now" = 536870912 ] || exit 0
# The limit moved. Use it: hold 128 MiB, twice what we were given.
if mc-escape-memory-hog 128 | tail -n 1 | grep -q 'done: holding 128 MiB'; then
    echo "held 128 MiB under a 64 MiB limit"
fi
# The host measures our cgroup's memory.peak: stay a moment, so that it reads it
# before our cgroup is gone.
sleep 1
