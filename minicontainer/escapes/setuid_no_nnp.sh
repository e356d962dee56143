# Attack: we are an ordinary user; /secret/secret belongs to root, mode 0600.
id
ls -l /secret/secret 2>&1
cat /secret/secret 2>&1
# A setuid-root program runs as root whoever starts it, unless no_new_privs is
# set: then execve ignores the setuid bit. What does /proc say about us?
grep NoNewPrivs /proc/self/status
ls -l /usr/bin/mc-escape-setuid-reader
# The reader prints its uids, then the file (last line) if it could open it.
if out=$(mc-escape-setuid-reader /secret/secret 2>&1); then
    echo "$out"
    echo "PROOF $(echo "$out" | tail -n 1)"
else
    echo "$out"
fi
