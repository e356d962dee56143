# Attack: type a magic SysRq command for the whole host. Only 'h' (help): it prints a
# line to the kernel log. ('b' would reboot the host, 'c' crash it.)
ls -l /proc/sysrq-trigger 2>&1
if echo h > /proc/sysrq-trigger; then
    echo "wrote 'h' to /proc/sysrq-trigger: the host kernel logged its SysRq help"
else
    echo "could not write /proc/sysrq-trigger"
fi
