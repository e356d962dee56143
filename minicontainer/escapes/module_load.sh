# Attack: load a kernel module into the one kernel we share with the host.
# (A harmless one; a rootkit is loaded the same way.)
echo "module file: $MC_MODULE"
if insmod "$MC_MODULE"; then
    echo "insmod worked: the host kernel now runs our module"
    grep "^$MC_MODULE_NAME " /proc/modules
else
    echo "could not load $MC_MODULE"
fi
