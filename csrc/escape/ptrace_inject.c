/*
 * mc-escape-ptrace-inject PID NAME: take control of process PID with ptrace and
 * read the environment variable NAME out of its memory.
 *
 * A tracer that holds a process stopped can read and write its memory and its
 * registers: it can make it run any code ("injection").  This helper does the
 * harmless half of that: it seizes the process, stops it, reads its environment
 * block word by word with PTRACE_PEEKDATA, lets it go unchanged, and prints the
 * value of NAME.  Every step prints what the kernel answered.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>

/* Where the kernel keeps PID's environment: fields 50 and 51 of /proc/PID/stat. */
static int environment_bounds(pid_t pid, unsigned long *start, unsigned long *end)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* The command name (field 2) may hold spaces: count fields after its ')'. */
    char *p = strrchr(line, ')');
    if (!p)
        return -1;
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
        field++;
        if (field == 50)
            *start = strtoul(tok, NULL, 10);
        if (field == 51)
            *end = strtoul(tok, NULL, 10);
    }
    if (field < 51 || *start == 0 || *end <= *start) {
        printf("%s shows no environment addresses (no ptrace access to it)\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mc-escape-ptrace-inject PID NAME\n");
        return 2;
    }
    pid_t pid = (pid_t)atoi(argv[1]);
    const char *name = argv[2];

    if (ptrace(PTRACE_SEIZE, pid, 0, 0) != 0) {
        printf("ptrace(PTRACE_SEIZE, %d): %s\n", pid, strerror(errno));
        return 1;
    }
    printf("ptrace(PTRACE_SEIZE, %d): attached\n", pid);
    if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) != 0 || waitpid(pid, NULL, __WALL) != pid) {
        printf("stopping %d: %s\n", pid, strerror(errno));
        return 1;
    }
    printf("process %d is stopped under our control\n", pid);

    unsigned long start = 0, end = 0;
    int found = 0;
    if (environment_bounds(pid, &start, &end) == 0) {
        size_t size = end - start;
        char *env = calloc(1, size + sizeof(long) + 1);
        for (size_t off = 0; off < size; off += sizeof(long)) {
            errno = 0;
            long word = ptrace(PTRACE_PEEKDATA, pid, (void *)(start + off), 0);
            if (errno) {
                printf("PTRACE_PEEKDATA at %#lx: %s\n", start + off, strerror(errno));
                break;
            }
            memcpy(env + off, &word, sizeof word);
        }
        printf("read %zu bytes of its environment with PTRACE_PEEKDATA\n", size);
        size_t len = strlen(name);
        for (char *var = env; var < env + size; var += strlen(var) + 1) {
            if (strncmp(var, name, len) == 0 && var[len] == '=') {
                printf("%s\n", var);
                found = 1;
            }
        }
        free(env);
    }
    /* Let it run on as it was: nothing in it was changed. */
    ptrace(PTRACE_DETACH, pid, 0, 0);
    printf("detached from %d\n", pid);
    return found ? 0 : 1;
}
