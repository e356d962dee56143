/* mc-escape-host-control-socket SOCKET COMMAND
 *
 * A client of a host control socket (the docker.sock pattern): connect to the
 * unix socket at SOCKET, send COMMAND as one line, and print the daemon's
 * reply.  busybox nc cannot speak to a unix socket, hence this program.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sockaddr_un address;
    char buffer[4096];
    ssize_t n;
    int fd;

    if (argc != 3) {
        fprintf(stderr, "usage: %s SOCKET COMMAND\n", argv[0]);
        return 2;
    }
    memset(&address, 0, sizeof(address));
    address.sun_family = AF_UNIX;
    if (strlen(argv[1]) >= sizeof(address.sun_path)) {
        fprintf(stderr, "the socket path is too long\n");
        return 2;
    }
    strcpy(address.sun_path, argv[1]);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        printf("connect(%s): %s\n", argv[1], strerror(errno));
        return 1;
    }
    if (dprintf(fd, "%s\n", argv[2]) < 0 || shutdown(fd, SHUT_WR) != 0) {
        printf("send: %s\n", strerror(errno));
        return 1;
    }
    while ((n = read(fd, buffer, sizeof(buffer))) > 0)
        fwrite(buffer, 1, (size_t)n, stdout);
    return 0;
}
