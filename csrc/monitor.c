/* mc-monitor: what stays on the host for a detached container while it runs.
 *
 * The Python monitor (minicontainer/runtime.py, Container._monitor) starts the
 * container, records it running and releases the CLI; then, rather than keep
 * a Python interpreter resident (about 8 MB per container), it execs this
 * program in the same process.  Same pid and start time, so the record's
 * monitorPid stays true; still the init's parent, so it can wait for it; still
 * the child subreaper, so orphans come here.  While the init runs it:
 *
 *   - appends the container's output (a pipe) to the log, rotating it by the
 *     rule of minicontainer/logs.py relay(): a chunk that would grow the log
 *     past MAX_SIZE goes in up to its last newline that fits, the log becomes
 *     PATH.1 and a new PATH takes the rest (a line longer than a whole log is
 *     cut); a log that cannot be written loses output but never blocks the
 *     container;
 *   - forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 to the init;
 *   - reaps every child, keeping the init's wait status.
 *
 * Once the init has ended and what it wrote is in the log, it execs the
 * finishing step, FINISH... with the wait status as one more argument, on
 * stdout and stderr the log: that step (Python again) kills what is left,
 * frees the container, copies the rest of the pipe (LOG_R and LOG stay open
 * for it, at the same numbers) and records the exit.
 *
 *   argv:  mc-monitor PID LOG_R LOG PATH MAX_SIZE FINISH...
 *
 * The caller blocks the forwarded signals and SIGCHLD before its execve (a
 * blocked signal stays pending across it); this program reads them from a
 * signalfd, and unblocks them again for the finishing step.  Errors go to
 * stderr and exit 125: the record then says running with no monitor alive,
 * which minicontainer shows as "unknown" and `rm` cleans up. */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_RUNTIME_ERROR 125
#define CHUNK 65536         /* what logs.relay reads at once */
#define DRAIN_MS 1000       /* the most spent copying what the init left in the pipe */

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static pid_t init_pid;
static int init_done;
static int init_status;

static int log_r;           /* the container's output */
static int log_number;      /* the fd number the log keeps, rotated or not */
static int log_open;
static long long log_size;
static long long max_size;
static const char *log_path;
static char rotated_path[PATH_MAX];
static char chunk[CHUNK];

static __attribute__((noreturn)) void fail(const char *what)
{
    dprintf(2, "mc-monitor: %s: %s\n", what, strerror(errno));
    exit(EXIT_RUNTIME_ERROR);
}

static long long number(const char *text, long long low, long long high)
{
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno || end == text || *end || value < low || value > high) {
        dprintf(2, "mc-monitor: %s is not a number from %lld to %lld\n", text, low, high);
        exit(EXIT_RUNTIME_ERROR);
    }
    return value;
}

/* How much of data[0..len) goes into a log with `room` bytes left (logs._fitting). */
static size_t fitting(const char *data, size_t len, long long room, int whole_lines)
{
    if ((long long)len <= room)
        return len;
    const char *newline = memrchr(data, '\n', (size_t)room);
    size_t cut = newline ? (size_t)(newline - data) + 1 : 0;
    return cut || whole_lines ? cut : (size_t)room;
}

/* PATH becomes PATH.1 and a new PATH opens at the same fd number; on a failure
 * the log is given up (as logs.relay stops), and the output goes nowhere. */
static void rotate(void)
{
    close(log_number);
    log_open = 0;
    if (rename(log_path, rotated_path) < 0)
        return;
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
    if (fd < 0)
        return;
    if (fd != log_number) {
        if (dup2(fd, log_number) < 0) {
            close(fd);
            return;
        }
        close(fd);
    }
    log_open = 1;
    log_size = 0;
}

static void append(const char *data, size_t len)
{
    while (len > 0 && log_open) {
        long long room = max_size > log_size ? max_size - log_size : 0;
        size_t part = fitting(data, len, room, log_size > 0);
        if (part == 0) {
            rotate();
            continue;
        }
        ssize_t written = write(log_number, data, part);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return;  /* a full disk, say: this chunk is lost, the next one may fit */
        log_size += written;
        data += written;
        len -= (size_t)written;
    }
}

/* Copy one chunk from the pipe; 0 at its end (every writer gone). */
static int copy_chunk(void)
{
    ssize_t got = read(log_r, chunk, sizeof(chunk));
    if (got < 0)
        return errno == EINTR || errno == EAGAIN;
    append(chunk, (size_t)got);
    return got > 0;
}

static void reap(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == init_pid) {
            init_status = status;
            init_done = 1;
        }
    }
    if (pid < 0 && errno == ECHILD && !init_done) {
        errno = ECHILD;
        fail("the container's init is not this process's child");
    }
}

static void take_signals(int sfd)
{
    struct signalfd_siginfo info;
    while (read(sfd, &info, sizeof(info)) == sizeof(info)) {
        if (info.ssi_signo == SIGCHLD)
            reap();
        else if (!init_done)
            kill(init_pid, (int)info.ssi_signo);  /* gone already: nothing to do */
    }
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Until the init ends: copy its output, forward signals, reap. */
static void watch(int sfd)
{
    int at_end = 0;
    reap();  /* it may have ended before this program blocked anything */
    while (!init_done) {
        struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN},
                                {.fd = at_end ? -1 : log_r, .events = POLLIN}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            fail("poll");
        }
        if (fds[1].revents && !copy_chunk())
            at_end = 1;
        if (fds[0].revents)
            take_signals(sfd);
    }
    /* What the init wrote before it ended is in the pipe now: into the log before
     * the finishing step writes its own lines.  Bounded: a process it left behind
     * (a shared pid namespace) could write for ever; the finishing step kills it. */
    long long deadline = now_ms() + DRAIN_MS;
    while (!at_end && now_ms() < deadline) {
        struct pollfd fd = {.fd = log_r, .events = POLLIN};
        if (poll(&fd, 1, 0) <= 0 || !fd.revents)
            break;
        at_end = !copy_chunk();
    }
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        dprintf(2, "usage: mc-monitor PID LOG_R LOG PATH MAX_SIZE FINISH...\n"
                   "(minicontainer execs it as a detached container's monitor)\n");
        return EXIT_RUNTIME_ERROR;
    }
    init_pid = (pid_t)number(argv[1], 1, INT_MAX);
    log_r = (int)number(argv[2], 3, INT_MAX);
    log_number = (int)number(argv[3], 3, INT_MAX);
    log_path = argv[4];
    max_size = number(argv[5], 1, LLONG_MAX);
    if (snprintf(rotated_path, sizeof(rotated_path), "%s.1", log_path) >= (int)sizeof(rotated_path)) {
        errno = ENAMETOOLONG;
        fail(log_path);
    }
    struct stat st;
    if (fstat(log_number, &st) < 0)
        fail("the log");
    log_size = st.st_size;
    log_open = 1;

    sigset_t signals;
    sigemptyset(&signals);
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
        sigaddset(&signals, forwarded[i]);
    sigaddset(&signals, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &signals, NULL) < 0)
        fail("sigprocmask");
    int sfd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        fail("signalfd");
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)  /* kept across execve; said again for clarity */
        fail("prctl(PR_SET_CHILD_SUBREAPER)");

    watch(sfd);

    char status[16];
    snprintf(status, sizeof(status), "%d", init_status);
    char **finish = calloc((size_t)argc - 6 + 2, sizeof(char *));
    if (finish == NULL)
        fail("calloc");
    for (int i = 6; i < argc; i++)
        finish[i - 6] = argv[i];
    finish[argc - 6] = status;
    if (log_open && (dup2(log_number, 1) < 0 || dup2(log_number, 2) < 0))
        fail("dup2 of the log");
    if (!log_open) {  /* given up: the finishing step's copy goes nowhere too */
        int null = open("/dev/null", O_WRONLY);
        if (null < 0)
            fail("/dev/null");
        if (null != log_number) {
            if (dup2(null, log_number) < 0)
                fail("dup2 of /dev/null");
            close(null);
        }
    }
    take_signals(sfd);  /* the init is gone: a signal still pending is dropped */
    close(sfd);
    /* The signals stay blocked across the exec: a SIGTERM meant for the container,
     * arriving now, must not kill the step that frees it. */
    execv(finish[0], finish);
    fail(finish[0]);
}
