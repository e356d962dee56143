/*
 * setuid-id: print this process's user ids and its NoNewPrivs flag, nothing else.
 *
 * Lab 09 installs it setuid root (mode 4750, group nogroup).  Run by nobody, execve
 * makes its effective uid 0 unless no_new_privs is set, in which case the setuid
 * bit is ignored.  It takes no arguments and reads no environment: being root for
 * the time of a printf is all it ever does with the bit.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    uid_t ruid, euid, suid;
    char line[256], nnp[16] = "?";
    FILE *status = fopen("/proc/self/status", "r");

    if (getresuid(&ruid, &euid, &suid) != 0)
        return 1;
    while (status && fgets(line, sizeof line, status))
        if (sscanf(line, "NoNewPrivs: %15s", nnp) == 1)
            break;
    if (status)
        fclose(status);
    printf("ruid %u euid %u suid %u NoNewPrivs %s\n", (unsigned)ruid, (unsigned)euid,
           (unsigned)suid, nnp);
    return 0;
}
