/*
 * mc-escape-setuid-reader FILE: print who we are, then FILE.
 *
 * The rootfs installs this setuid root.  Run by an ordinary user, execve makes
 * its effective uid 0 (the container's root) unless no_new_privs is set, in
 * which case the setuid bit is ignored and it stays the user who ran it.  It
 * has no policy of its own: it reads whatever its effective uid may read.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mc-escape-setuid-reader FILE\n");
        return 2;
    }
    printf("real uid %d, effective uid %d\n", (int)getuid(), (int)geteuid());
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        printf("open %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    char line[4096];
    while (fgets(line, sizeof line, f))
        fputs(line, stdout);
    fclose(f);
    return 0;
}
