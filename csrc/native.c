/* Thin wrappers over the syscalls the Python standard library lacks.
 * See native.h for the error convention. */
#define _GNU_SOURCE
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdint.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "native.h"

/* glibc 2.36 cannot include <linux/mount.h> beside <sys/mount.h>, and older
 * ones lack these: the values are the kernel's ABI. */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif

struct mc_mount_attr {
    unsigned long long attr_set;
    unsigned long long attr_clr;
    unsigned long long propagation;
    unsigned long long userns_fd;
};

/* A fork that takes CLONE_NEW* flags.  cffi releases the GIL around calls, so
 * take it back: the interpreter's fork hooks must run with the GIL held, exactly
 * as os.fork() does.  No new stack is given, so the child continues on a copy of
 * ours, like fork(). */

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

struct mc_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    uint64_t set_tid, set_tid_size, cgroup;
};

/* The raw clone, or clone3 with CLONE_INTO_CGROUP when a cgroup fd is given:
 * the child then starts inside that cgroup, and a new cgroup namespace is
 * rooted there. */
static long fork_like(unsigned long flags, int cgroup_fd)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    struct mc_clone_args args;
    long pid;
    int saved_errno;

    PyOS_BeforeFork();
    if (cgroup_fd < 0) {
        pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
    } else {
        memset(&args, 0, sizeof(args));
        args.flags = flags | CLONE_INTO_CGROUP;
        args.exit_signal = SIGCHLD;
        args.cgroup = (uint64_t)cgroup_fd;
        pid = syscall(SYS_clone3, &args, sizeof(args));
    }
    saved_errno = errno;
    if (pid == 0)
        PyOS_AfterFork_Child();
    else
        PyOS_AfterFork_Parent();
    PyGILState_Release(gil);
    errno = saved_errno;
    return pid;
}

long mc_clone(unsigned long flags)
{
    return fork_like(flags, -1);
}

long mc_clone_into_cgroup(unsigned long flags, int cgroup_fd)
{
    return fork_like(flags, cgroup_fd);
}

int mc_unshare(int flags)
{
    return unshare(flags);
}

int mc_setns(int fd, int nstype)
{
    return setns(fd, nstype);
}

int mc_pivot_root(const char *new_root, const char *put_old)
{
    return syscall(SYS_pivot_root, new_root, put_old);
}

int mc_mount(const char *source, const char *target, const char *fstype,
             unsigned long flags, const char *data)
{
    return mount(source, target, fstype, flags, data);
}

int mc_umount2(const char *target, int flags)
{
    return umount2(target, flags);
}

/* Read-only for a mount, or for a mount and everything below it, in one call.
 * A bind mount remounted with MS_RDONLY only covers the top mount; this does not. */
int mc_mount_setattr_rdonly(const char *path, int recursive)
{
    struct mc_mount_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.attr_set = MOUNT_ATTR_RDONLY;
    return syscall(SYS_mount_setattr, AT_FDCWD, path,
                   recursive ? AT_RECURSIVE : 0, &attr, sizeof(attr));
}

/* A detached copy of the mount tree at path, as an fd: it outlives a
 * pivot_root and can be attached later with mc_move_mount. */
int mc_open_tree_clone(const char *path, int recursive)
{
    return syscall(SYS_open_tree, AT_FDCWD, path,
                   OPEN_TREE_CLONE | O_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
}

int mc_move_mount(int from_fd, const char *to_path)
{
    return syscall(SYS_move_mount, from_fd, "", AT_FDCWD, to_path, MOVE_MOUNT_F_EMPTY_PATH);
}

/* Attributes and a propagation for every mount of the detached tree at tree_fd
 * (from mc_open_tree_clone), set before it is attached anywhere: no path is
 * looked up, so nothing can be swapped in between. */
int mc_mount_setattr_tree(int tree_fd, unsigned long long attr_set,
                          unsigned long long propagation)
{
    struct mc_mount_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.attr_set = attr_set;
    attr.propagation = propagation;
    return syscall(SYS_mount_setattr, tree_fd, "", AT_EMPTY_PATH | AT_RECURSIVE,
                   &attr, sizeof(attr));
}

/* The same onto the file or directory open at to_fd (an O_PATH fd found with
 * openat2 RESOLVE_IN_ROOT): no path is looked up again. */
int mc_move_mount_to_fd(int from_fd, int to_fd)
{
    return syscall(SYS_move_mount, from_fd, "", to_fd, "",
                   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

int mc_sethostname(const char *name, size_t len)
{
    return sethostname(name, len);
}

int mc_close_range(unsigned int first, unsigned int last, unsigned int flags)
{
    return syscall(SYS_close_range, first, last, flags);
}

int mc_set_ambient(int op, unsigned long cap)
{
    return prctl(PR_CAP_AMBIENT, op, cap, 0, 0);
}

int mc_set_dumpable(int dumpable)
{
    return prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
}

int mc_set_pdeathsig(int sig)
{
    return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0);
}

int mc_set_child_subreaper(int on)
{
    return prctl(PR_SET_CHILD_SUBREAPER, on, 0, 0, 0);
}

int mc_set_no_new_privs(void)
{
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* The same ioctl `ip link set NAME up` ends in, without loading a netlink
 * library on the start-up path of every container. */
int mc_set_link_up(const char *ifname)
{
    struct ifreq ifr;
    int fd, rc, saved_errno;

    if (strlen(ifname) >= IFNAMSIZ) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, ifname);
    rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    saved_errno = errno;
    close(fd);
    errno = saved_errno;
    return rc;
}

/* ---- libseccomp ---- */

static int from_libseccomp(int rc)
{
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return rc;
}

void *mc_seccomp_init(uint32_t default_action)
{
    scmp_filter_ctx ctx = seccomp_init(default_action);

    if (ctx == NULL) {
        errno = EINVAL;
        return NULL;
    }
    /* no_new_privs is a layer of its own: libseccomp must not set it behind our back. */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0) {
        seccomp_release(ctx);
        errno = EINVAL;
        return NULL;
    }
    return ctx;
}

void mc_seccomp_release(void *ctx)
{
    seccomp_release(ctx);
}

int mc_seccomp_arch_known(const char *arch_name)
{
    if (seccomp_arch_resolve_name(arch_name) == 0) {
        errno = ENOENT;
        return -1;
    }
    return 0;
}

int mc_seccomp_arch_add(void *ctx, const char *arch_name)
{
    uint32_t arch = seccomp_arch_resolve_name(arch_name);
    int rc;

    if (arch == 0) {
        errno = EINVAL;
        return -1;
    }
    rc = seccomp_arch_add(ctx, arch);
    return rc == -EEXIST ? 0 : from_libseccomp(rc);
}

int mc_seccomp_syscall_number(const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);

    if (nr == __NR_SCMP_ERROR) {
        errno = ENOENT;
        return -1;
    }
    return nr;
}

int mc_seccomp_rule_add(void *ctx, uint32_t action, int syscall_nr, unsigned int n,
                        const uint64_t *comparisons)
{
    struct scmp_arg_cmp args[6];
    unsigned int i;

    if (n > 6) {
        errno = E2BIG;
        return -1;
    }
    for (i = 0; i < n; i++) {
        args[i].arg = (unsigned int)comparisons[4 * i];
        args[i].op = (enum scmp_compare)comparisons[4 * i + 1];
        args[i].datum_a = comparisons[4 * i + 2];
        args[i].datum_b = comparisons[4 * i + 3];
    }
    return from_libseccomp(seccomp_rule_add_array(ctx, action, syscall_nr, n, args));
}

int mc_seccomp_export(void *ctx, int fd, int bpf)
{
    return from_libseccomp(bpf ? seccomp_export_bpf(ctx, fd) : seccomp_export_pfc(ctx, fd));
}

/* Install a BPF program libseccomp exported earlier: the same filter, without
 * generating it again. */
int mc_seccomp_load_bpf(const void *program, size_t length)
{
    struct sock_fprog fprog;

    if (length == 0 || length % sizeof(struct sock_filter) != 0 ||
        length / sizeof(struct sock_filter) > 0xffff) {
        errno = EINVAL;
        return -1;
    }
    fprog.len = (unsigned short)(length / sizeof(struct sock_filter));
    fprog.filter = (struct sock_filter *)program;
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog);
}

int mc_seccomp_version(unsigned int *major, unsigned int *minor, unsigned int *micro)
{
    const struct scmp_version *v = seccomp_version();

    *major = v->major;
    *minor = v->minor;
    *micro = v->micro;
    return 0;
}

int mc_seccomp_syscall_number_arch(const char *arch_name, const char *name)
{
    uint32_t arch = seccomp_arch_resolve_name(arch_name);
    int nr;

    if (arch == 0) {
        errno = EINVAL;
        return -1;
    }
    nr = seccomp_syscall_resolve_name_arch(arch, name);
    if (nr == __NR_SCMP_ERROR) {
        errno = ENOENT;
        return -1;
    }
    return nr;
}

/* ---- eBPF: the device program on a cgroup ---- */

/* Load a BPF_PROG_TYPE_CGROUP_DEVICE program (an array of struct bpf_insn made
 * in Python) and return its fd.  With log_size > 0 the verifier writes what it
 * thought of each instruction into log_buf, which is how a refusal is explained. */
int mc_bpf_load_device_program(const void *insns, size_t length, const char *license,
                               const char *name, char *log_buf, size_t log_size)
{
    union bpf_attr attr;

    if (length == 0 || length % sizeof(struct bpf_insn) != 0) {
        errno = EINVAL;
        return -1;
    }
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insn_cnt = (uint32_t)(length / sizeof(struct bpf_insn));
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.license = (uint64_t)(uintptr_t)license;
    strncpy(attr.prog_name, name, sizeof(attr.prog_name) - 1);
    if (log_size > 0) {
        attr.log_level = 1;
        attr.log_buf = (uint64_t)(uintptr_t)log_buf;
        attr.log_size = (uint32_t)log_size;
        log_buf[0] = '\0';
    }
    return syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
}

/* Attach a loaded program to the cgroup open at cgroup_fd for attach_type. */
int mc_bpf_prog_attach(int cgroup_fd, int prog_fd, unsigned int attach_type, unsigned int flags)
{
    union bpf_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)prog_fd;
    attr.attach_type = attach_type;
    attr.attach_flags = flags;
    return syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr));
}

/* The ids of the programs attached to the cgroup for attach_type: at most
 * *count are written to ids, and *count becomes how many there are. */
int mc_bpf_prog_query(int cgroup_fd, unsigned int attach_type, uint32_t *ids, uint32_t *count)
{
    union bpf_attr attr;
    int rc;

    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = (uint32_t)cgroup_fd;
    attr.query.attach_type = attach_type;
    attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
    attr.query.prog_cnt = *count;
    rc = syscall(SYS_bpf, BPF_PROG_QUERY, &attr, sizeof(attr));
    *count = attr.query.prog_cnt;
    return rc;
}

/* openat2(2): open path relative to dirfd under the RESOLVE_* rules in resolve
 * (RESOLVE_IN_ROOT: resolve as if dirfd were /, RESOLVE_NO_SYMLINKS: refuse any
 * symlink on the way).  Always close-on-exec; mode only with O_CREAT/O_TMPFILE. */
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

struct mc_open_how {
    unsigned long long flags;
    unsigned long long mode;
    unsigned long long resolve;
};

int mc_openat2(int dirfd, const char *path, int flags, unsigned int mode,
               unsigned long long resolve)
{
    struct mc_open_how how;

    memset(&how, 0, sizeof(how));
    how.flags = (unsigned long long)(unsigned int)(flags | O_CLOEXEC);
    how.mode = mode;
    how.resolve = resolve;
    return syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* Set mount attributes (MOUNT_ATTR_NOSUID, _NODEV, _NOEXEC ...) on a mount, or
 * on a mount and everything below it; attributes not named are left alone. */
int mc_mount_setattr(const char *path, int recursive, unsigned long long attr_set)
{
    struct mc_mount_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.attr_set = attr_set;
    return syscall(SYS_mount_setattr, AT_FDCWD, path,
                   recursive ? AT_RECURSIVE : 0, &attr, sizeof(attr));
}

#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif

/* An idmapped mount: every owner seen through the detached tree at tree_fd is
 * translated by the uid/gid maps of the user namespace open at userns_fd (the
 * files on disk keep their ids).  The whole tree, as open_tree cloned it. */
int mc_mount_setattr_idmap(int tree_fd, int userns_fd)
{
    struct mc_mount_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = (unsigned long long)userns_fd;
    return syscall(SYS_mount_setattr, tree_fd, "", AT_EMPTY_PATH | AT_RECURSIVE,
                   &attr, sizeof(attr));
}

/* name_to_handle_at: the filesystem's own name for the file at path (a symlink
 * is not followed), independent of any mount or directory.  Copies at most
 * capacity bytes of the handle into handle and its type into *handle_type;
 * returns the handle's length, or -1 with errno (EOVERFLOW: capacity too small). */
int mc_name_to_handle_at(int dirfd, const char *path, unsigned char *handle,
                         unsigned int capacity, int *handle_type)
{
    struct file_handle *fh;
    int mount_id, length = -1;

    fh = malloc(sizeof(*fh) + capacity);
    if (fh == NULL)
        return -1;
    fh->handle_bytes = capacity;
    if (name_to_handle_at(dirfd, path, fh, &mount_id, 0) == 0) {
        memcpy(handle, fh->f_handle, fh->handle_bytes);
        *handle_type = fh->handle_type;
        length = (int)fh->handle_bytes;
    }
    free(fh);
    return length;
}

/* add_key: a key of the given type, description and payload, linked into
 * keyring (a key serial or a KEY_SPEC_* value); returns the key's serial. */
long mc_add_key(const char *type, const char *description, const void *payload,
                size_t length, int keyring)
{
    return syscall(SYS_add_key, type, description, payload, length, keyring);
}

#ifndef KEYCTL_INVALIDATE
#define KEYCTL_INVALIDATE 21
#endif

/* keyctl(KEYCTL_INVALIDATE): the key is gone at once, from every keyring. */
long mc_keyctl_invalidate(int key)
{
    return syscall(SYS_keyctl, KEYCTL_INVALIDATE, key);
}
