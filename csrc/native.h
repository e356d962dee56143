/* The thin syscall layer of minicontainer.
 *
 * Every function returns -1 and leaves errno set on failure; the Python side
 * (minicontainer/native.py) turns that into OSError.  No policy lives here. */

long mc_clone(unsigned long flags);
long mc_clone_into_cgroup(unsigned long flags, int cgroup_fd);
int mc_unshare(int flags);
int mc_setns(int fd, int nstype);
int mc_pivot_root(const char *new_root, const char *put_old);
int mc_mount(const char *source, const char *target, const char *fstype,
             unsigned long flags, const char *data);
int mc_umount2(const char *target, int flags);
int mc_mount_setattr_rdonly(const char *path, int recursive);
int mc_open_tree_clone(const char *path, int recursive);
int mc_move_mount(int from_fd, const char *to_path);
int mc_move_mount_to_fd(int from_fd, int to_fd);
int mc_mount_setattr_tree(int tree_fd, unsigned long long attr_set,
                          unsigned long long propagation);
int mc_sethostname(const char *name, size_t len);
int mc_close_range(unsigned int first, unsigned int last, unsigned int flags);
int mc_set_ambient(int op, unsigned long cap);
int mc_set_dumpable(int dumpable);
int mc_set_pdeathsig(int sig);
int mc_set_child_subreaper(int on);
int mc_set_no_new_privs(void);
int mc_set_link_up(const char *ifname);

/* libseccomp, through wrappers that keep its enums and structs out of cffi's way.
 * The filter context is an opaque pointer; each rule's argument comparisons come
 * as n groups of four numbers: argument index, operator, value, second value.
 * libseccomp's own functions return -errno; these return -1 and set errno. */
void *mc_seccomp_init(uint32_t default_action);
void mc_seccomp_release(void *ctx);
int mc_seccomp_arch_known(const char *arch_name);
int mc_seccomp_arch_add(void *ctx, const char *arch_name);
int mc_seccomp_syscall_number(const char *name);
int mc_seccomp_rule_add(void *ctx, uint32_t action, int syscall_nr, unsigned int n,
                        const uint64_t *comparisons);
int mc_seccomp_export(void *ctx, int fd, int bpf);
int mc_seccomp_load_bpf(const void *program, size_t length);
int mc_seccomp_version(unsigned int *major, unsigned int *minor, unsigned int *micro);
/* The syscall's number on one architecture; libseccomp's negative pseudo number if
 * the architecture lacks it or reaches it only through a multiplexer, -1 if unknown. */
int mc_seccomp_syscall_number_arch(const char *arch_name, const char *name);

/* eBPF for the device layer: the program comes in as raw struct bpf_insn bytes. */
int mc_bpf_load_device_program(const void *insns, size_t length, const char *license,
                               const char *name, char *log_buf, size_t log_size);
int mc_bpf_prog_attach(int cgroup_fd, int prog_fd, unsigned int attach_type, unsigned int flags);
int mc_bpf_prog_query(int cgroup_fd, unsigned int attach_type, uint32_t *ids, uint32_t *count);
/* openat2 with its struct open_how spelled out as arguments. */
int mc_openat2(int dirfd, const char *path, int flags, unsigned int mode,
               unsigned long long resolve);
/* mount_setattr that adds attributes (MOUNT_ATTR_NODEV ...) and keeps the rest. */
int mc_mount_setattr(const char *path, int recursive, unsigned long long attr_set);
/* Make a detached mount (from mc_open_tree_clone) an idmapped mount: its files'
 * owners are translated through the id maps of the user namespace at userns_fd. */
int mc_mount_setattr_idmap(int tree_fd, int userns_fd);
/* name_to_handle_at: the file's handle bytes (at most capacity) and type; returns
 * the handle's length. */
int mc_name_to_handle_at(int dirfd, const char *path, unsigned char *handle,
                         unsigned int capacity, int *handle_type);
/* add_key into keyring (a serial or KEY_SPEC_*); returns the new key's serial. */
long mc_add_key(const char *type, const char *description, const void *payload,
                size_t length, int keyring);
/* keyctl(KEYCTL_INVALIDATE, key). */
long mc_keyctl_invalidate(int key);
