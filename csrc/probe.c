/* mc-probe: what a process inside a container can see of its own isolation.
 *
 * Built static and placed at /usr/bin/mc-probe in the default rootfs.  It only
 * reads: files under /proc/self, uname, and the mount table.  Tests, labs and escape
 * demos run it inside a container and read what it reports.
 *
 *   mc-probe          readable text
 *   mc-probe --json   one JSON object
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
    int first = 1;

    json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 && !json) {
        fprintf(stderr, "usage: mc-probe [--json]\n");
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
    report_cgroup(&first);
    report_mounts(&first);
    if (json)
        puts("}");
    return 0;
}
