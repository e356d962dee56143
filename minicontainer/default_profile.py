"""minicontainer's default seccomp profile, in the Docker/OCI format.

An allowlist: any syscall not allowed below fails with EPERM.  ``BLOCKED`` says,
group by group, what stays out and why; ``CAPABILITY_GATED`` lists the calls that
come back when a container is given the capability that already governs them,
as Docker does, so ``--cap-add SYS_ADMIN`` is enough to allow ``mount``.

``minicontainer seccomp show`` prints what libseccomp builds from it; the docs
page on seccomp walks through it.
"""

from __future__ import annotations

CLONE_NEW_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
AF_VSOCK = 40
LOW_32_BITS = 0xFFFFFFFF
ENOSYS = 38

# Allowed for every container.
ALLOWED = [
    # processes, threads and signals
    "arch_prctl", "brk", "capget", "capset", "chdir", "fchdir", "execve", "execveat", "exit",
    "exit_group", "fork", "vfork", "getpid", "getppid", "gettid", "getpgid", "getpgrp",
    "getsid", "setsid", "setpgid", "getpriority", "setpriority", "getrlimit", "setrlimit",
    "prlimit64", "ugetrlimit", "getrusage", "kill", "tkill", "tgkill", "rt_sigaction",
    "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack",
    "signalfd", "signalfd4", "sigreturn", "sigaction", "sigprocmask", "sigsuspend",
    "sigpending", "signal", "wait4", "waitid", "waitpid", "set_tid_address",
    "set_robust_list", "get_robust_list", "futex", "futex_time64", "futex_waitv", "rseq",
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
    "sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max",
    "sched_get_priority_min", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_getattr", "sched_setattr", "prctl", "pidfd_open", "pidfd_send_signal",
    "membarrier", "restart_syscall", "pause", "alarm", "getitimer", "setitimer", "times",
    "uname", "sysinfo", "getcpu", "umask", "set_thread_area", "get_thread_area",
    "ioprio_get", "ioprio_set", "getrandom", "seccomp", "landlock_create_ruleset",
    "landlock_add_rule", "landlock_restrict_self",
    # credentials (the kernel checks CAP_SETUID/CAP_SETGID)
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
    "setfsuid", "setfsgid", "getuid32", "geteuid32", "getgid32", "getegid32",
    "getresuid32", "getresgid32", "getgroups32", "setuid32", "setgid32", "setreuid32",
    "setregid32", "setresuid32", "setresgid32", "setgroups32", "setfsuid32", "setfsgid32",
    # memory
    "mmap", "mmap2", "munmap", "mprotect", "mremap", "madvise", "mlock", "mlock2",
    "munlock", "mlockall", "munlockall", "mincore", "msync", "remap_file_pages",
    "memfd_create", "pkey_alloc", "pkey_free", "pkey_mprotect", "get_mempolicy",
    # files and directories (permission checks stay the kernel's)
    "access", "faccessat", "faccessat2", "open", "openat", "openat2", "creat", "close",
    "close_range", "read", "readv", "pread64", "preadv", "preadv2", "write", "writev",
    "pwrite64", "pwritev", "pwritev2", "lseek", "_llseek", "dup", "dup2", "dup3", "fcntl",
    "fcntl64", "flock", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range",
    "truncate", "ftruncate", "truncate64", "ftruncate64", "fallocate", "fadvise64",
    "fadvise64_64", "stat", "fstat", "lstat", "newfstatat", "fstatat64", "stat64", "lstat64",
    "fstat64", "statx", "statfs", "fstatfs", "statfs64", "fstatfs64", "getdents",
    "getdents64", "readlink", "readlinkat", "link", "linkat", "symlink", "symlinkat",
    "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir",
    "mknod", "mknodat", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown",
    "lchown", "fchownat", "chown32", "fchown32", "lchown32", "utime", "utimes", "utimensat",
    "utimensat_time64", "futimesat", "getcwd", "getxattr", "lgetxattr", "fgetxattr",
    "setxattr", "lsetxattr", "fsetxattr", "listxattr", "llistxattr", "flistxattr",
    "removexattr", "lremovexattr", "fremovexattr", "inotify_init", "inotify_init1",
    "inotify_add_watch", "inotify_rm_watch", "copy_file_range", "sendfile", "sendfile64",
    "splice", "tee", "vmsplice", "io_setup", "io_destroy", "io_submit", "io_cancel",
    "io_getevents", "io_pgetevents", "io_pgetevents_time64", "readahead",
    "name_to_handle_at",
    # pipes, polling, timers and clocks
    "pipe", "pipe2", "eventfd", "eventfd2", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "ppoll_time64", "select",
    "_newselect", "pselect6", "pselect6_time64", "timerfd_create", "timerfd_settime",
    "timerfd_gettime", "timerfd_settime64", "timerfd_gettime64", "clock_gettime",
    "clock_gettime64", "clock_getres", "clock_getres_time64", "clock_nanosleep",
    "clock_nanosleep_time64", "nanosleep", "gettimeofday", "time", "timer_create",
    "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete", "timer_settime64",
    "timer_gettime64",
    # System V and POSIX IPC (namespaced by the IPC namespace)
    "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop",
    "semtimedop_time64", "semctl", "shmget", "shmat", "shmdt", "shmctl", "ipc", "mq_open",
    "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
    "mq_timedsend_time64", "mq_timedreceive_time64",
    # sockets (socket itself is below: not AF_VSOCK)
    "socketpair", "bind", "connect", "listen", "accept", "accept4", "getsockname",
    "getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
    "recvmmsg_time64", "shutdown", "setsockopt", "getsockopt",
    # the UTS namespace is the container's own
    "sethostname", "setdomainname",
]

# Denied, with the reason.  Where a capability is named, CAPABILITY_GATED allows the
# call again for a container that holds it.
BLOCKED = {
    "keyctl, add_key, request_key":
        "kernel keyrings are not namespaced: keys of the host and of other containers "
        "would be in reach",
    "userfaultfd":
        "lets a process stall the kernel on a page fault, the usual tool to win races in "
        "kernel exploits",
    "bpf": "loads programs into the kernel (CAP_BPF or CAP_SYS_ADMIN)",
    "perf_event_open": "exposes kernel and other processes' activity (CAP_PERFMON)",
    "kexec_load, kexec_file_load, reboot": "replace or restart the host kernel (CAP_SYS_BOOT)",
    "init_module, finit_module, delete_module":
        "load code into the host kernel (CAP_SYS_MODULE)",
    "open_by_handle_at":
        "opens files by inode handle, bypassing the mount namespace: the 'shocker' escape "
        "(CAP_DAC_READ_SEARCH)",
    "mount, umount, umount2, pivot_root, move_mount, open_tree, fsopen, fsconfig, fsmount, "
    "fspick, mount_setattr":
        "rearranging mounts could undo the masks and read-only paths (CAP_SYS_ADMIN)",
    "unshare, setns": "new or other namespaces open kernel surface meant for real root "
                      "(CAP_SYS_ADMIN)",
    "clone with a CLONE_NEW* flag": "the same as unshare, at fork time (CAP_SYS_ADMIN)",
    "clone3": "its flags sit behind a pointer seccomp cannot read, so it answers ENOSYS "
              "and the C library falls back to clone (CAP_SYS_ADMIN)",
    "ptrace, process_vm_readv, process_vm_writev":
        "before Linux 4.8, ptrace could bypass seccomp itself; allowed on newer kernels",
    "ioctl TIOCSTI, TIOCLINUX":
        "push keystrokes into a terminal, the host's if the container can reach it; the "
        "request is compared on its low 32 bits, as the tty layer reads it",
    "swapon, swapoff, quotactl, quotactl_fd, lookup_dcookie, fanotify_init":
        "host-wide storage and monitoring (CAP_SYS_ADMIN)",
    "acct": "process accounting to a file of the host (CAP_SYS_PACCT)",
    "syslog": "reads and clears the host kernel log (CAP_SYSLOG)",
    "io_uring_setup, io_uring_enter, io_uring_register":
        "a second syscall interface that seccomp cannot see into, with a long CVE history",
    "personality other than Linux, Linux32 and UNAME26, or a query":
        "other personalities switch on legacy behaviour such as READ_IMPLIES_EXEC",
    "socket AF_VSOCK": "talks to the hypervisor, outside every network namespace",
    "socketcall": "a 32-bit multiplexer whose arguments seccomp cannot read, so the socket "
                  "rule above could not hold through it: it answers ENOSYS on x86, where "
                  "the direct socket calls (Linux 4.3+) stay, filtered",
    "settimeofday, clock_settime, clock_settime64, adjtimex, clock_adjtime, "
    "clock_adjtime64, stime":
        "the clock is not namespaced (CAP_SYS_TIME)",
    "kcmp, pidfd_getfd, process_madvise": "inspect other processes (CAP_SYS_PTRACE)",
    "mbind, set_mempolicy, migrate_pages, move_pages":
        "NUMA placement across the host (CAP_SYS_NICE)",
    "iopl, ioperm": "raw port I/O (CAP_SYS_RAWIO)",
    "vhangup": "hangs up terminals (CAP_SYS_TTY_CONFIG)",
    "chroot": "only for a container that holds CAP_SYS_CHROOT, as in Docker; the default set "
              "holds it, so chroot works unless --cap-drop SYS_CHROOT",
    "modify_ldt, vm86, vm86old, uselib, nfsservctl, _sysctl, create_module, "
    "get_kernel_syms, query_module, ustat, sysfs":
        "obsolete interfaces, kept only as attack surface",
}

CAPABILITY_GATED = {
    "CAP_SYS_ADMIN": [
        "bpf", "perf_event_open", "mount", "umount", "umount2", "pivot_root", "move_mount",
        "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "unshare",
        "setns", "clone3", "swapon", "swapoff", "quotactl", "quotactl_fd", "lookup_dcookie",
        "fanotify_init", "syslog",
    ],
    "CAP_BPF": ["bpf"],
    "CAP_PERFMON": ["perf_event_open"],
    "CAP_SYS_BOOT": ["kexec_load", "kexec_file_load", "reboot"],
    "CAP_SYS_MODULE": ["init_module", "finit_module", "delete_module"],
    "CAP_DAC_READ_SEARCH": ["open_by_handle_at"],
    "CAP_SYS_PACCT": ["acct"],
    "CAP_SYSLOG": ["syslog"],
    "CAP_SYS_TIME": ["settimeofday", "clock_settime", "clock_settime64", "adjtimex",
                     "clock_adjtime", "clock_adjtime64", "stime"],
    "CAP_SYS_PTRACE": ["kcmp", "pidfd_getfd", "process_madvise"],
    "CAP_SYS_NICE": ["mbind", "set_mempolicy", "migrate_pages", "move_pages"],
    "CAP_SYS_RAWIO": ["iopl", "ioperm"],
    "CAP_SYS_TTY_CONFIG": ["vhangup"],
    "CAP_SYS_CHROOT": ["chroot"],
}


def _masked(index: int, mask: int, value: int) -> dict:
    return {"index": index, "value": mask, "valueTwo": value, "op": "SCMP_CMP_MASKED_EQ"}


def allow_unless(names: list[str], index: int, excluded: list[int], mask: int) -> list[dict]:
    """Rules that allow ``names`` unless ``arg[index] & mask`` is one of ``excluded``.

    libseccomp will not put an unconditional ALLOW and a conditional ERRNO on the
    same syscall, and has no "masked not-equal", so the allowed set is written as
    a union of masked-equal rules: one per bit on which every excluded value
    agrees (the argument differs there), plus one per remaining combination of
    the bits on which they disagree.
    """
    agreeing = [b for b in range(mask.bit_length()) if mask >> b & 1
                and len({v >> b & 1 for v in excluded}) == 1]
    rules = [
        {"names": names, "action": "SCMP_ACT_ALLOW",
         "args": [_masked(index, 1 << b, (~excluded[0]) & (1 << b))]}
        for b in agreeing
    ]
    varying = [b for b in range(mask.bit_length()) if mask >> b & 1 and b not in agreeing]
    base = excluded[0] & ~sum(1 << b for b in varying) & mask
    for combo in range(1 << len(varying)):
        value = base | sum(1 << b for i, b in enumerate(varying) if combo >> i & 1)
        if value not in excluded:
            rules.append({"names": names, "action": "SCMP_ACT_ALLOW",
                          "args": [_masked(index, mask, value)]})
    return rules


def _profile() -> dict:
    syscalls: list[dict] = [{"names": ALLOWED, "action": "SCMP_ACT_ALLOW"}]
    syscalls += allow_unless(["ioctl"], 1, [TIOCSTI, TIOCLINUX], LOW_32_BITS)
    syscalls += allow_unless(["socket"], 0, [AF_VSOCK], LOW_32_BITS)
    syscalls += [
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [_masked(0, LOW_32_BITS, value)]}
        for value in (0x0, 0x0008, 0x20000, 0x20008, 0xFFFFFFFF)
    ]
    syscalls += [
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [_masked(0, CLONE_NEW_FLAGS, 0)], "excludes": {"caps": ["CAP_SYS_ADMIN"]},
         "comment": "flags are the first argument on x86 and arm; s390x swaps them"},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS,
         "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["ptrace", "process_vm_readv", "process_vm_writev"],
         "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
    ]
    syscalls += [
        {"names": names, "action": "SCMP_ACT_ALLOW", "includes": {"caps": [cap]}}
        for cap, names in CAPABILITY_GATED.items()
    ]
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64",
             "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": syscalls,
    }


PROFILE = _profile()
