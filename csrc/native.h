/* The thin syscall layer of minicontainer.
 *
 * Every function returns -1 and leaves errno set on failure; the Python side
 * (minicontainer/native.py) turns that into OSError.  No policy lives here. */

long mc_clone(unsigned long flags);
int mc_unshare(int flags);
int mc_setns(int fd, int nstype);
int mc_pivot_root(const char *new_root, const char *put_old);
int mc_mount(const char *source, const char *target, const char *fstype,
             unsigned long flags, const char *data);
int mc_umount2(const char *target, int flags);
int mc_mount_setattr_rdonly(const char *path, int recursive);
int mc_open_tree_clone(const char *path, int recursive);
int mc_move_mount(int from_fd, const char *to_path);
int mc_sethostname(const char *name, size_t len);
int mc_close_range(unsigned int first, unsigned int last, unsigned int flags);
int mc_set_ambient(int op, unsigned long cap);
int mc_set_dumpable(int dumpable);
int mc_set_pdeathsig(int sig);
int mc_set_child_subreaper(int on);
int mc_set_no_new_privs(void);
int mc_set_link_up(const char *ifname);
