# Attack: take memory, 16 MiB at a time, touching every page, up to $MC_MEBIBYTES MiB.
# Under a limit the OOM killer ends us (and the whole container: memory.oom.group).
echo "my memory.max: $(cat /sys/fs/cgroup/memory.max 2>/dev/null || echo "none (no limit was set)")"
echo "allocating up to $MC_MEBIBYTES MiB"
exec mc-escape-memory-hog "$MC_MEBIBYTES"
