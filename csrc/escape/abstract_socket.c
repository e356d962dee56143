/* mc-escape-abstract-socket NAME: connect to the abstract unix socket NAME and
 * print the first line the listener sends.
 *
 * An abstract socket has no file: its name starts with a NUL byte and lives in
 * the network namespace, so a mount namespace, pivot_root or a read-only root do
 * not hide it.  busybox has no unix-socket client, hence this helper.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sockaddr_un addr;
    char reply[256];
    ssize_t n;
    size_t len;
    int fd;

    if (argc != 2) {
        fprintf(stderr, "usage: mc-escape-abstract-socket NAME\n");
        return 2;
    }
    len = strlen(argv[1]);
    if (len + 1 > sizeof(addr.sun_path)) {
        fprintf(stderr, "name too long\n");
        return 2;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        printf("socket: %s\n", strerror(errno));
        return 1;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path + 1, argv[1], len);  /* sun_path[0] stays NUL: abstract */
    if (connect(fd, (struct sockaddr *)&addr, offsetof(struct sockaddr_un, sun_path) + 1 + len)) {
        printf("connect @%s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    printf("connect @%s: ok\n", argv[1]);
    n = read(fd, reply, sizeof(reply) - 1);
    if (n < 0) {
        printf("read: %s\n", strerror(errno));
        return 1;
    }
    reply[n] = '\0';
    printf("the listener said: %s", reply);
    if (n == 0 || reply[n - 1] != '\n')
        putchar('\n');
    close(fd);
    return 0;
}
