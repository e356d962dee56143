/* mc-probe: what a process inside a container can see of its own isolation.
 *
 * Built static and placed at /usr/bin/mc-probe in the default rootfs.  It only
 * reads: files under /proc/self (its AppArmor profile among them), uname, and the
 * mount table.  Tests, labs and escape
 * demos run it inside a container and read what it reports.
 *
 *   mc-probe          readable text
 *   mc-probe --json   one JSON object
 *   mc-probe --connect-abstract NAME
 *                     try to connect to the abstract unix socket NAME (the host's
 *                     are reachable only from the host's network namespace)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

static const char *NAMESPACES[] = {"cgroup", "ipc", "mnt", "net", "pid", "user", "uts"};
#define N_NAMESPACES (sizeof(NAMESPACES) / sizeof(NAMESPACES[0]))

/* Capability numbers to names, as in <linux/capability.h>. */
static const char *CAPABILITIES[] = {
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill",
    "setgid", "setuid", "setpcap", "linux_immutable", "net_bind_service",
    "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
    "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
    "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time",
    "sys_tty_config", "mknod", "lease", "audit_write", "audit_control",
    "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
    "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
};
#define N_CAPABILITIES (sizeof(CAPABILITIES) / sizeof(CAPABILITIES[0]))

static const char *CAP_SETS[][2] = {
    {"CapInh", "inheritable"}, {"CapPrm", "permitted"}, {"CapEff", "effective"},
    {"CapBnd", "bounding"}, {"CapAmb", "ambient"},
};
#define N_CAP_SETS (sizeof(CAP_SETS) / sizeof(CAP_SETS[0]))

/* runc's and Docker's lists: what a container should not read, or not write. */
static const char *MASKED[] = {
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/proc/interrupts", "/sys/firmware", "/sys/devices/virtual/powercap",
};
static const char *READONLY[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
    "/proc/sys/kernel/core_pattern", "/sys/fs/cgroup",
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int json;

/* ---- output helpers: the same facts as JSON or as text ---- */

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void begin_field(const char *name, int *first)
{
    if (json) {
        if (!*first)
            putchar(',');
        json_string(name);
        putchar(':');
    } else {
        printf("%-14s ", name);
    }
    *first = 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    static char buf[65536];
    size_t n;

    if (!f)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The value of "Key:\t..." in /proc/self/status. */
static int status_field(const char *key, char *out, size_t size)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[512];
    size_t klen = strlen(key);
    int found = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            char *v = line + klen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            v[strcspn(v, "\n")] = '\0';
            snprintf(out, size, "%s", v);
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

/* ---- the facts ---- */

static void report_ids(int *first)
{
    char buf[128];

    begin_field("pid", first);
    printf("%d", getpid());
    if (!json)
        putchar('\n');
    begin_field("uid", first);
    printf(json ? "%u" : "%u\n", getuid());
    begin_field("euid", first);
    printf(json ? "%u" : "%u\n", geteuid());
    begin_field("gid", first);
    printf(json ? "%u" : "%u\n", getgid());
    begin_field("groups", first);
    status_field("Groups", buf, sizeof(buf));
    if (json)
        json_string(buf);
    else
        printf("%s\n", buf);
}

static void report_namespaces(int *first)
{
    char path[64];
    struct stat st;
    size_t i;

    begin_field("namespaces", first);
    if (json)
        putchar('{');
    for (i = 0; i < N_NAMESPACES; i++) {
        long long inode = -1;
        snprintf(path, sizeof(path), "/proc/self/ns/%s", NAMESPACES[i]);
        if (stat(path, &st) == 0)
            inode = (long long)st.st_ino;
        if (json)
            printf("%s\"%s\":%lld", i ? "," : "", NAMESPACES[i], inode);
        else
            printf("%s%s:%lld", i ? " " : "", NAMESPACES[i], inode);
    }
    fputs(json ? "}" : "\n", stdout);
}

static void report_map(const char *name, const char *path, int *first)
{
    char *text = read_file(path);
    char *line, *save = NULL;
    int n = 0;

    begin_field(name, first);
    if (json)
        putchar('[');
    if (text) {
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            unsigned long inside, outside, count;
            if (sscanf(line, "%lu %lu %lu", &inside, &outside, &count) != 3)
                continue;
            if (json)
                printf("%s[%lu,%lu,%lu]", n ? "," : "", inside, outside, count);
            else
                printf("%s%lu->%lu (%lu)", n ? ", " : "", inside, outside, count);
            n++;
        }
    }
    if (json)
        putchar(']');
    else
        putchar('\n');
}

static void report_capabilities(int *first)
{
    char hex[64];
    size_t s, c;

    begin_field("capabilities", first);
    if (json)
        putchar('{');
    else
        putchar('\n');
    for (s = 0; s < N_CAP_SETS; s++) {
        unsigned long long mask = 0;
        int n = 0;
        if (status_field(CAP_SETS[s][0], hex, sizeof(hex)))
            mask = strtoull(hex, NULL, 16);
        if (json)
            printf("%s\"%s\":[", s ? "," : "", CAP_SETS[s][1]);
        else
            printf("  %-12s ", CAP_SETS[s][1]);
        for (c = 0; c < 64; c++) {
            if (!(mask & (1ULL << c)))
                continue;
            if (json) {
                if (n)
                    putchar(',');
                json_string(c < N_CAPABILITIES ? CAPABILITIES[c] : "?");
            } else
                printf("%s%s", n ? "," : "", c < N_CAPABILITIES ? CAPABILITIES[c] : "?");
            n++;
        }
        if (json)
            putchar(']');
        else
            puts(n ? "" : "(none)");
    }
    if (json)
        putchar('}');
}

static void report_security(int *first)
{
    char nnp[16] = "?", mode[16] = "?", filters[16] = "0";

    status_field("NoNewPrivs", nnp, sizeof(nnp));
    status_field("Seccomp", mode, sizeof(mode));
    status_field("Seccomp_filters", filters, sizeof(filters));
    begin_field("no_new_privs", first);
    printf(json ? "%s" : "%s\n", strcmp(nnp, "1") == 0 ? "true" : "false");
    begin_field("seccomp", first);
    {
        const char *names[] = {"disabled", "strict", "filter"};
        int m = atoi(mode);
        const char *name = (m >= 0 && m <= 2) ? names[m] : "?";
        if (json)
            json_string(name);
        else
            printf("%s", name);
    }
    if (json)
        printf(",\"seccomp_filters\":%s", filters);
    else
        printf(" (%s filters)\n", filters);
}

/* One line of an LSM attribute file into out; 0, or -1 with errno (EINVAL: no
 * LSM answers for it). */
static int read_attr(const char *path, char *out, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, out, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    out[n] = '\0';
    out[strcspn(out, "\n")] = '\0';
    return 0;
}

/* The mandatory access control this process is under: its AppArmor profile
 * ("minicontainer-default (enforce)", "unconfined") and its SELinux context, each
 * "not enabled" where the kernel does not run that LSM. */
static void report_lsm(int *first)
{
    char apparmor[256] = "not enabled", selinux[256] = "not enabled";
    char enabled[8];

    if (read_attr("/proc/thread-self/attr/apparmor/current", apparmor, sizeof(apparmor))) {
        /* Before Linux 5.1 only the shared file: AppArmor's if the module says it runs. */
        if (errno != ENOENT || read_attr("/sys/module/apparmor/parameters/enabled", enabled,
                                         sizeof(enabled)) || strcmp(enabled, "Y") != 0 ||
            read_attr("/proc/thread-self/attr/current", apparmor, sizeof(apparmor)))
            strcpy(apparmor, "not enabled");
    }
    /* The kernel makes /sys/fs/selinux only when SELinux runs. */
    if (access("/sys/fs/selinux", F_OK) == 0 &&
        read_attr("/proc/thread-self/attr/current", selinux, sizeof(selinux)))
        snprintf(selinux, sizeof(selinux), "enabled, context unreadable (%s)", strerror(errno));
    begin_field("apparmor", first);
    if (json)
        json_string(apparmor);
    else
        printf("%s\n", apparmor);
    begin_field("selinux", first);
    if (json)
        json_string(selinux);
    else
        printf("%s\n", selinux);
}

static void report_hostname(int *first)
{
    struct utsname u;

    uname(&u);
    begin_field("hostname", first);
    if (json)
        json_string(u.nodename);
    else
        printf("%s\n", u.nodename);
}

/* The cgroup v2 line ("0::/path") of /proc/self/cgroup; on a v1-only host, the first line. */
static void report_cgroup(int *first)
{
    char *text = read_file("/proc/self/cgroup");
    char *line = text ? strstr(text, "0::") : NULL;

    if (line && line != text && line[-1] != '\n')
        line = NULL;
    if (!line)
        line = text;
    if (line)
        line[strcspn(line, "\n")] = '\0';
    begin_field("cgroup", first);
    if (json)
        json_string(line ? line : "");
    else
        printf("%s\n", line ? line : "?");
}

/* Each line of /proc/self/mountinfo:
 * id parent major:minor root mountpoint options [optional...] - fstype source superoptions */
static void report_mounts(int *first)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    int n = 0;

    begin_field("mounts", first);
    puts(json ? "[" : "");
    while (f && fgets(line, sizeof(line), f)) {
        char root[1024], point[1024], options[512], fstype[64], source[1024];
        char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*d %*d %*s %1023s %1023s %511s", root, point, options) != 3)
            continue;
        if (sscanf(dash + 3, "%63s %1023s", fstype, source) != 2)
            continue;
        if (json) {
            printf("%s{\"target\":", n ? "," : "");
            json_string(point);
            printf(",\"fstype\":");
            json_string(fstype);
            printf(",\"source\":");
            json_string(source);
            printf(",\"options\":");
            json_string(options);
            puts("}");
        } else {
            printf("  %-28s %-10s %s\n", point, fstype, options);
        }
        n++;
    }
    if (f)
        fclose(f);
    if (json)
        putchar(']');
}

/* A masked path is /dev/null (a file) or an empty read-only tmpfs (a directory). */
static const char *mask_state(const char *path)
{
    struct stat st;
    struct statfs fs;

    if (lstat(path, &st) != 0)
        return "absent";
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3))
        return "masked";
    if (S_ISDIR(st.st_mode) && statfs(path, &fs) == 0 && fs.f_type == TMPFS_MAGIC &&
        (fs.f_flags & ST_RDONLY))
        return "masked";
    return "visible";
}

/* Whether reading gives anything (a byte of a file, an entry of a directory):
 * the real test of a mask. */
static int readable(const char *path)
{
    struct dirent *entry;
    DIR *dir = opendir(path);
    char c;
    int fd, n = 0;

    if (dir) {
        while ((entry = readdir(dir)) != NULL)
            if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
                n++;
        closedir(dir);
        return n > 0;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    n = read(fd, &c, 1);
    close(fd);
    return n > 0;
}

static void report_masked(int *first)
{
    size_t i;

    begin_field("masked_paths", first);
    puts(json ? "{" : "");
    for (i = 0; i < COUNT(MASKED); i++) {
        const char *state = mask_state(MASKED[i]);
        int can_read = strcmp(state, "absent") != 0 && readable(MASKED[i]);
        if (json) {
            printf("%s", i ? "," : "");
            json_string(MASKED[i]);
            printf(":{\"state\":\"%s\",\"readable\":%s}\n", state, can_read ? "true" : "false");
        } else {
            printf("  %-30s %-8s %s\n", MASKED[i], state, can_read ? "readable" : "");
        }
    }
    if (json)
        putchar('}');
}

/* access(W_OK) asks the kernel whether a write would be allowed, without writing. */
static void report_readonly(int *first)
{
    size_t i;

    begin_field("readonly_paths", first);
    puts(json ? "{" : "");
    for (i = 0; i < COUNT(READONLY); i++) {
        int exists = access(READONLY[i], F_OK) == 0;
        int writable = exists && access(READONLY[i], W_OK) == 0;
        const char *why = exists ? (writable ? "writable" : strerror(errno)) : "absent";
        if (json) {
            printf("%s", i ? "," : "");
            json_string(READONLY[i]);
            printf(":{\"writable\":%s,\"why\":", writable ? "true" : "false");
            json_string(why);
            puts("}");
        } else {
            printf("  %-30s %s\n", READONLY[i], why);
        }
    }
    if (json)
        putchar('}');
}

/* ---- syscalls: each tried in a child of its own, so that a success changes nothing here ---- */

static int try_mount(void)
{
    /* A child shares its parent's mount namespace, and a change of propagation there
     * would be the host's if the probe ran on the host: change a private copy. Where
     * that copy is refused, the mount is tried where we are, a container's own. */
    (void)unshare(CLONE_NEWNS);
    return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

static int try_unshare_user(void)
{
    return unshare(CLONE_NEWUSER);
}

static int try_setns(void)
{
    int fd = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -1 : setns(fd, CLONE_NEWUTS);
}

static int try_keyctl(void)
{
    /* KEYCTL_GET_KEYRING_ID of the session keyring: a read, no key is made. */
    return syscall(SYS_keyctl, 0, -3, 0) < 0 ? -1 : 0;
}

static int try_bpf(void)
{
    /* BPF_MAP_CREATE with an empty attribute: EINVAL if the call is allowed at all. */
    char attr[128] = {0};
    return syscall(SYS_bpf, 0, attr, sizeof(attr)) < 0 ? -1 : 0;
}

static int try_ptrace(void)
{
    return ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0 ? -1 : 0;
}

static int try_open_by_handle_at(void)
{
    /* A zeroed handle: the capability check comes before the handle is read. */
    char handle[64] = {0};
    handle[0] = 8;
    return syscall(SYS_open_by_handle_at, AT_FDCWD, handle, O_RDONLY) < 0 ? -1 : 0;
}

static int try_init_module(void)
{
    return syscall(SYS_init_module, NULL, 0, "") < 0 ? -1 : 0;
}

static int try_mknod_block(void)
{
    const char *path = "/tmp/.mc-probe-blk";
    int rc = mknod(path, S_IFBLK | 0600, makedev(7, 0));
    if (rc == 0)
        unlink(path);
    return rc;
}

static int try_tiocsti(void)
{
    /* Only on our own controlling terminal; pushes a NUL byte into its input. */
    char c = 0;
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    int rc;
    if (fd < 0)
        return -1;
    rc = ioctl(fd, TIOCSTI, &c);
    close(fd);
    return rc;
}

static int try_clone_newns(void)
{
    long pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return pid < 0 ? -1 : 0;
}

#ifdef __x86_64__
/* keyctl through the 32-bit entry point (number 288 on i386): the filter must
 * cover the x86 sub-architecture too, whose syscall numbers differ. */
static int try_keyctl_int80(void)
{
    long rc;
    __asm__ volatile("int $0x80" : "=a"(rc) : "a"(288), "b"(0), "c"(-3), "d"(0) : "memory");
    if (rc < 0 && rc > -4096) {
        errno = (int)-rc;
        return -1;
    }
    return 0;
}
#endif

#ifdef __x86_64__
/* The 32-bit entry points of an x86_64 kernel: `int 0x80` runs the i386 table
 * (other numbers, and socketcall/ipc multiplexers whose arguments sit behind a
 * pointer), a syscall number with bit 30 set runs the x32 table.  The filter must
 * hold on each of them, for every rule that looks at an argument. */
#define X32_BIT 0x40000000L
#define I386_SOCKETCALL 102
#define I386_SOCKET 359
#define I386_IOCTL 54
#define I386_CLONE 120
#define I386_PERSONALITY 136
#define X32_IOCTL 514
#define SYS_SOCKET_CALL 1
#define READ_IMPLIES_EXEC 0x0400000

static long int80(long nr, long a, long b, long c)
{
    long rc;
    /* the kernel zeroes r8-r11 on the way back from a compat call */
    __asm__ volatile("int $0x80" : "=a"(rc) : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(0L), "D"(0L)
                     : "memory", "r8", "r9", "r10", "r11");
    return rc;
}

static int raw_result(long rc)
{
    if (rc < 0 && rc > -4096) {
        errno = (int)-rc;
        return -1;
    }
    return 0;
}

/* int 0x80 truncates pointers to 32 bits: what it points at must live below 4 GiB. */
static unsigned int *low_page(void)
{
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    return page == MAP_FAILED ? NULL : page;
}

static int try_socket_vsock(void)
{
    return socket(AF_VSOCK, SOCK_STREAM, 0) < 0 ? -1 : 0;
}

static int try_socket_vsock_int80(void)
{
    return raw_result(int80(I386_SOCKET, AF_VSOCK, SOCK_STREAM, 0));
}

static int try_socket_unix_int80(void)
{
    return raw_result(int80(I386_SOCKET, AF_UNIX, SOCK_STREAM, 0));
}

static int socketcall_socket_int80(unsigned int family)
{
    unsigned int *args = low_page();
    if (args == NULL)
        return -1;
    args[0] = family;
    args[1] = SOCK_STREAM;
    args[2] = 0;
    return raw_result(int80(I386_SOCKETCALL, SYS_SOCKET_CALL, (long)args, 0));
}

static int try_socketcall_vsock_int80(void)
{
    return socketcall_socket_int80(AF_VSOCK);
}

static int try_socketcall_unix_int80(void)
{
    return socketcall_socket_int80(AF_UNIX);
}

/* On /dev/null: no terminal is touched; ENOTTY once the call reaches the kernel. */
static int ioctl_devnull_int80(unsigned long request)
{
    unsigned int *arg = low_page();
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (arg == NULL || fd < 0)
        return -1;
    return raw_result(int80(I386_IOCTL, fd, (long)request, (long)arg));
}

static int try_tiocsti_int80(void)
{
    return ioctl_devnull_int80(TIOCSTI);
}

static int try_tioclinux_int80(void)
{
    return ioctl_devnull_int80(TIOCLINUX);
}

static int try_clone_newns_int80(void)
{
    long pid = int80(I386_CLONE, CLONE_NEWNS | SIGCHLD, 0, 0);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return raw_result(pid);
}

static int try_personality(void)
{
    return syscall(SYS_personality, READ_IMPLIES_EXEC) < 0 ? -1 : 0;
}

static int try_personality_int80(void)
{
    return raw_result(int80(I386_PERSONALITY, READ_IMPLIES_EXEC, 0, 0));
}

static int try_x32_getpid(void)
{
    return syscall(X32_BIT | SYS_getpid) < 0 ? -1 : 0;
}

static int try_socket_vsock_x32(void)
{
    return syscall(X32_BIT | SYS_socket, AF_VSOCK, SOCK_STREAM, 0) < 0 ? -1 : 0;
}

static int try_tiocsti_x32(void)
{
    char c = 0;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd < 0 || syscall(X32_BIT | X32_IOCTL, fd, TIOCSTI, &c) < 0 ? -1 : 0;
}

static int try_clone_newns_x32(void)
{
    long pid = syscall(X32_BIT | SYS_clone, CLONE_NEWNS | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return pid < 0 ? -1 : 0;
}

static int try_personality_x32(void)
{
    return syscall(X32_BIT | SYS_personality, READ_IMPLIES_EXEC) < 0 ? -1 : 0;
}
#endif

static const struct {
    const char *name;
    int (*attempt)(void);
} SYSCALLS[] = {
    {"mount", try_mount},
    {"unshare(CLONE_NEWUSER)", try_unshare_user},
    {"setns", try_setns},
    {"keyctl", try_keyctl},
#ifdef __x86_64__
    {"keyctl(int 0x80)", try_keyctl_int80},
#endif
    {"bpf", try_bpf},
    {"ptrace", try_ptrace},
    {"open_by_handle_at", try_open_by_handle_at},
    {"init_module", try_init_module},
    {"mknod(block device)", try_mknod_block},
    {"ioctl(TIOCSTI)", try_tiocsti},
    {"clone(CLONE_NEWNS)", try_clone_newns},
#ifdef __x86_64__
    {"socket(AF_VSOCK)", try_socket_vsock},
    {"socket(AF_VSOCK)(int 0x80)", try_socket_vsock_int80},
    {"socket(AF_UNIX)(int 0x80)", try_socket_unix_int80},
    {"socketcall(SYS_SOCKET,AF_VSOCK)(int 0x80)", try_socketcall_vsock_int80},
    {"socketcall(SYS_SOCKET,AF_UNIX)(int 0x80)", try_socketcall_unix_int80},
    {"ioctl(TIOCSTI)(int 0x80)", try_tiocsti_int80},
    {"ioctl(TIOCLINUX)(int 0x80)", try_tioclinux_int80},
    {"clone(CLONE_NEWNS)(int 0x80)", try_clone_newns_int80},
    {"personality(READ_IMPLIES_EXEC)", try_personality},
    {"personality(READ_IMPLIES_EXEC)(int 0x80)", try_personality_int80},
    {"getpid(x32)", try_x32_getpid},
    {"socket(AF_VSOCK)(x32)", try_socket_vsock_x32},
    {"ioctl(TIOCSTI)(x32)", try_tiocsti_x32},
    {"clone(CLONE_NEWNS)(x32)", try_clone_newns_x32},
    {"personality(READ_IMPLIES_EXEC)(x32)", try_personality_x32},
#endif
};

/* The errno the attempt got in a child (0: the call succeeded). */
static int attempt_in_child(int (*attempt)(void))
{
    int status;
    pid_t pid = fork();

    if (pid == 0)
        _exit(attempt() == 0 ? 0 : (errno & 0xff));
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static const char *errno_name(int e)
{
    switch (e) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case ENOTTY: return "ENOTTY";
    case ENXIO: return "ENXIO";
    case EBADF: return "EBADF";
    case ENOSPC: return "ENOSPC";
    case EUSERS: return "EUSERS";
    case ENOEXEC: return "ENOEXEC";
    case EROFS: return "EROFS";
    case ESTALE: return "ESTALE";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return "other";
    }
}

static void report_syscalls(int *first)
{
    size_t i;

    begin_field("syscalls", first);
    puts(json ? "{" : "");
    for (i = 0; i < COUNT(SYSCALLS); i++) {
        int e = attempt_in_child(SYSCALLS[i].attempt);
        if (json) {
            printf("%s", i ? "," : "");
            json_string(SYSCALLS[i].name);
            printf(":{\"errno\":%d,\"result\":\"%s\"}\n", e, errno_name(e));
        } else {
            printf("  %-26s %s%s%s\n", SYSCALLS[i].name, errno_name(e),
                   e > 0 ? " " : "", e > 0 ? strerror(e) : "");
        }
    }
    if (json)
        putchar('}');
}

/* ---- network: interfaces with their addresses, and IPv4 routes ---- */

static void report_interfaces(int *first)
{
    struct ifaddrs *all, *a;
    char address[INET6_ADDRSTRLEN];
    int n = 0;

    begin_field("interfaces", first);
    puts(json ? "[" : "");
    if (getifaddrs(&all) != 0)
        all = NULL;
    for (a = all; a; a = a->ifa_next) {
        int family = a->ifa_addr ? a->ifa_addr->sa_family : AF_UNSPEC;
        const void *raw;
        if (family == AF_INET)
            raw = &((struct sockaddr_in *)a->ifa_addr)->sin_addr;
        else if (family == AF_INET6)
            raw = &((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr;
        else
            continue;
        inet_ntop(family, raw, address, sizeof(address));
        if (json) {
            printf("%s{\"name\":", n ? "," : "");
            json_string(a->ifa_name);
            printf(",\"address\":");
            json_string(address);
            printf(",\"up\":%s}\n", (a->ifa_flags & IFF_UP) ? "true" : "false");
        } else {
            printf("  %-12s %-28s %s\n", a->ifa_name, address,
                   (a->ifa_flags & IFF_UP) ? "up" : "down");
        }
        n++;
    }
    if (all)
        freeifaddrs(all);
    if (json)
        putchar(']');
}

/* /proc/net/route: Iface Destination Gateway Flags ... Mask, addresses in hex. */
static void report_routes(int *first)
{
    FILE *f = fopen("/proc/net/route", "re");
    char line[256], iface[IFNAMSIZ + 1];
    unsigned int dst, gateway, flags, mask;
    int n = 0;

    begin_field("routes", first);
    puts(json ? "[" : "");
    if (f && fgets(line, sizeof(line), f)) {
        while (fgets(line, sizeof(line), f)) {
            char d[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];
            struct in_addr in;
            if (sscanf(line, "%16s %x %x %x %*s %*s %*s %x", iface, &dst, &gateway, &flags,
                       &mask) != 5)
                continue;
            in.s_addr = dst;
            inet_ntop(AF_INET, &in, d, sizeof(d));
            in.s_addr = gateway;
            inet_ntop(AF_INET, &in, g, sizeof(g));
            if (json) {
                printf("%s{\"dev\":", n ? "," : "");
                json_string(iface);
                printf(",\"destination\":\"%s/%d\",\"gateway\":\"%s\"}\n", d,
                       __builtin_popcount(mask), g);
            } else {
                printf("  %-18s/%-2d via %-15s dev %s\n", d, __builtin_popcount(mask), g, iface);
            }
            n++;
        }
    }
    if (f)
        fclose(f);
    if (json)
        putchar(']');
}

static int connect_abstract(const char *name)
{
    struct sockaddr_un addr;
    size_t len = strlen(name);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || len + 1 > sizeof(addr.sun_path)) {
        perror("socket");
        return 2;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path + 1, name, len);  /* a leading NUL: the abstract namespace */
    if (connect(fd, (struct sockaddr *)&addr, offsetof(struct sockaddr_un, sun_path) + 1 + len)) {
        printf("connect @%s: %s\n", name, strerror(errno));
        return 1;
    }
    printf("connect @%s: ok\n", name);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    int first = 1;

    if (argc == 3 && strcmp(argv[1], "--connect-abstract") == 0)
        return connect_abstract(argv[2]);
    json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 && !json) {
        fprintf(stderr, "usage: mc-probe [--json | --connect-abstract NAME]\n");
        return 2;
    }
    if (json)
        putchar('{');
    report_ids(&first);
    report_namespaces(&first);
    report_map("uid_map", "/proc/self/uid_map", &first);
    report_map("gid_map", "/proc/self/gid_map", &first);
    report_hostname(&first);
    report_capabilities(&first);
    report_security(&first);
    report_lsm(&first);
    report_cgroup(&first);
    report_masked(&first);
    report_readonly(&first);
    report_syscalls(&first);
    report_interfaces(&first);
    report_routes(&first);
    report_mounts(&first);
    if (json)
        puts("}");
    return 0;
}
