# Attack: the host's / is at /host. Write our nonce into a file only host root may touch.
echo "target: $MC_MARKER"
ls -ld "$(dirname "$MC_MARKER")" 2>&1
if echo "$MC_NONCE" >> "$MC_MARKER"; then
    echo "wrote the nonce into the host file"
else
    echo "could not write $MC_MARKER"
fi
