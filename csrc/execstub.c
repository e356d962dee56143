/* minicontainer's exec stub: the program that makes a container's last execve.
 *
 * Why it exists (CVE-2019-5736): during execve, /proc/self/exe names the
 * program of the process that calls execve.  If the runtime's init, host
 * Python, called execve on a command that is a symlink to /proc/self/exe (or a
 * script starting "#!/proc/self/exe"), the host's Python binary would start
 * inside the container, and the container could reach it through
 * /proc/PID/exe.  So the init never calls execve on the command: the runtime
 * copies this stub into a sealed memfd, the init execs the memfd, and the stub
 * execs the command.  Whatever the command's path resolves to, /proc/self/exe
 * is then this sealed copy, never a host file.
 *
 *   argv:  minicontainer-execstub ERR_FD N PATH_1 ... PATH_N ARG_0 ARG_1 ...
 *
 * ERR_FD is the runtime's error pipe.  The stub marks it close-on-exec, so a
 * successful execve closes it and the runtime reads an empty pipe, as before.
 * PATH_1..PATH_N are the places to try, in order: the runtime has already done
 * the PATH search (each is a $PATH directory joined with ARG_0).  On failure
 * the stub writes "CODE message" to ERR_FD and exits CODE: 126 found but not
 * executable, 127 not found, 125 anything else.
 *
 * Run any other way (through /proc/self/exe by a command) it refuses, saying
 * what it is, and exits 126.
 *
 * No libc (-nostdlib -static): a handful of raw syscalls, so the whole program
 * is this file. */

#include <asm/unistd.h>

#define MARKER "minicontainer-execstub"
#define EXIT_RUNTIME_ERROR 125
#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127

#define F_SETFD 2
#define FD_CLOEXEC 1
#define PR_SET_DUMPABLE 4
#define AT_FDCWD (-100)

#define EPERM 1
#define ENOENT 2
#define EIO 5
#define E2BIG 7
#define ENOEXEC 8
#define EBADF 9
#define ENOMEM 12
#define EACCES 13
#define ENOTDIR 20
#define EISDIR 21
#define EINVAL 22
#define ETXTBSY 26
#define ENAMETOOLONG 36
#define ELOOP 40

static long syscall3(long nr, long a, long b, long c)
{
    long ret;
#if defined(__x86_64__)
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    ret = x0;
#else
#error "the exec stub knows the syscall convention of x86_64 and aarch64 only"
#endif
    return ret;
}

static long syscall4(long nr, long a, long b, long c, long d)
{
    long ret;
#if defined(__x86_64__)
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    ret = x0;
#endif
    return ret;
}

static __attribute__((noreturn)) void exit_with(int code)
{
    for (;;)
        syscall3(__NR_exit_group, code, 0, 0);
}

/* A message is built in one buffer and written with one write(2): the pipe
 * then never holds half of it. */
struct message {
    char text[4096];
    unsigned long used;
};

static void add(struct message *m, const char *s)
{
    while (*s && m->used < sizeof(m->text))
        m->text[m->used++] = *s++;
}

static void add_number(struct message *m, long n)
{
    char digits[24];
    int i = 0;
    if (n < 0) {
        add(m, "-");
        n = -n;
    }
    do {
        digits[i++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    while (i && m->used < sizeof(m->text))
        m->text[m->used++] = digits[--i];
}

static void send(int fd, const struct message *m)
{
    syscall3(__NR_write, fd, (long)m->text, (long)m->used);
}

/* What strerror() says for the errnos execve returns (the words the runtime used before). */
static const char *reason(long err)
{
    switch (err) {
    case EPERM: return "Operation not permitted";
    case ENOENT: return "No such file or directory";
    case EIO: return "Input/output error";
    case E2BIG: return "Argument list too long";
    case ENOEXEC: return "Exec format error";
    case EBADF: return "Bad file descriptor";
    case ENOMEM: return "Cannot allocate memory";
    case EACCES: return "Permission denied";
    case ENOTDIR: return "Not a directory";
    case EISDIR: return "Is a directory";
    case EINVAL: return "Invalid argument";
    case ETXTBSY: return "Text file busy";
    case ENAMETOOLONG: return "File name too long";
    case ELOOP: return "Too many levels of symbolic links";
    default: return 0;
    }
}

static void add_reason(struct message *m, long err)
{
    const char *text = reason(err);
    if (text) {
        add(m, text);
    } else {
        add(m, "errno ");
        add_number(m, err);
    }
}

static __attribute__((noreturn)) void fail(int err_fd, int code, const char *what, long err)
{
    struct message m;
    m.used = 0;
    add_number(&m, code);
    add(&m, " ");
    add(&m, what);
    add(&m, ": ");
    if (code == EXIT_NOT_FOUND)
        add(&m, "command not found in the container");
    else
        add_reason(&m, err);
    send(err_fd, &m);
    exit_with(code);
}

static int same(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

/* A non-negative decimal number, or -1. */
static long number(const char *s)
{
    long n = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || n > 1000000)
            return -1;
        n = n * 10 + (*s - '0');
    }
    return n;
}

static __attribute__((noreturn)) void refuse(void)
{
    char exe[256];
    long n = syscall4(__NR_readlinkat, AT_FDCWD, (long)"/proc/self/exe", (long)exe,
                      sizeof(exe) - 1);
    struct message m;
    m.used = 0;
    exe[n > 0 ? n : 0] = 0;
    add(&m, MARKER ": this is minicontainer's exec stub (/proc/self/exe is ");
    add(&m, n > 0 ? exe : "unreadable");
    add(&m, "), not a program to run\n");
    send(2, &m);
    exit_with(EXIT_NOT_EXECUTABLE);
}

__attribute__((noreturn, used)) void stub_main(long *stack)
{
    long argc = stack[0];
    char **argv = (char **)(stack + 1);
    char **envp = argv + argc + 1;
    long err_fd, count, i, err, denied = 0;

    if (argc < 4 || !same(argv[0], MARKER))
        refuse();
    err_fd = number(argv[1]);
    count = number(argv[2]);
    if (err_fd < 0 || count < 1 || argc < 3 + count + 1)
        refuse();
    /* Non-dumpable until the execve below resets it: the container's other
     * processes cannot ptrace this one and write to the runtime's pipe. */
    syscall3(__NR_prctl, PR_SET_DUMPABLE, 0, 0);
    err = syscall3(__NR_fcntl, err_fd, F_SETFD, FD_CLOEXEC);
    if (err < 0)
        fail(2, EXIT_RUNTIME_ERROR, "the exec stub's error pipe", -err);

    char **command = argv + 3 + count;
    for (i = 0; i < count; i++) {
        const char *path = argv[3 + i];
        err = -syscall3(__NR_execve, (long)path, (long)command, (long)envp);
        if (err == ENOENT || err == ENOTDIR)
            continue;
        if (err == EACCES || err == ENOEXEC || err == EISDIR || err == EPERM) {
            denied = err;
            continue;
        }
        fail(err_fd, EXIT_RUNTIME_ERROR, path, err);
    }
    if (denied)
        fail(err_fd, EXIT_NOT_EXECUTABLE, command[0], denied);
    fail(err_fd, EXIT_NOT_FOUND, command[0], ENOENT);
}

/* The kernel starts a program at _start with the stack holding argc, then the
 * argv pointers, a NULL, the envp pointers and a NULL. */
#if defined(__x86_64__)
__asm__(".text\n.global _start\n_start:\n"
        "    xor %rbp, %rbp\n"
        "    mov %rsp, %rdi\n"
        "    and $-16, %rsp\n"
        "    call stub_main\n"
        "    hlt\n");
#elif defined(__aarch64__)
__asm__(".text\n.global _start\n_start:\n"
        "    mov x29, #0\n"
        "    mov x30, #0\n"
        "    mov x0, sp\n"
        "    bl stub_main\n");
#endif
