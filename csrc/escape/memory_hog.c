/* mc-escape-memory-hog MIB: allocate and touch memory in 16 MiB steps, up to MIB,
 * printing how far it got after each step.
 *
 * Bounded on purpose: it never asks for more than MIB, so without a limit it only
 * uses that much of the machine.  Under a memory.max below MIB the kernel's OOM
 * killer ends it (SIGKILL, exit 137) and the last line printed is how far it got.
 * Every page is written, because untouched memory is never charged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STEP_MIB 16

int main(int argc, char **argv)
{
    long want, got = 0;
    char line[64];

    if (argc != 2 || (want = strtol(argv[1], NULL, 10)) <= 0) {
        fprintf(stderr, "usage: mc-escape-memory-hog MIB\n");
        return 2;
    }
    while (got < want) {
        char *block = malloc(STEP_MIB << 20);

        if (!block) {
            printf("malloc failed after %ld MiB\n", got);
            return 1;
        }
        memset(block, 0xa5, STEP_MIB << 20);  /* touch every page: now it is charged */
        got += STEP_MIB;
        /* write(2), not stdio: the line must be out before a SIGKILL can come */
        int n = snprintf(line, sizeof(line), "holding %ld MiB\n", got);
        if (write(1, line, n) != n)
            return 1;
    }
    printf("done: holding %ld MiB\n", got);
    return 0;
}
