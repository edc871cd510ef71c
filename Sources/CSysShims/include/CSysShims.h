#ifndef CSYSSHIMS_H
#define CSYSSHIMS_H
/* Tiny wrappers for what Swift's Glibc module does not import (setns needs _GNU_SOURCE). */
#include <sys/types.h>

/* setns(2); affects only the calling thread. Returns 0 or -1 with errno. */
int fqdn_setns(int fd, int nstype);
/* unshare(2). */
int fqdn_unshare(int flags);
/* CLONE_NEWNET, so Swift does not need sched.h with _GNU_SOURCE. */
int fqdn_clone_newnet(void);
/* gettid(2) of the calling thread. */
pid_t fqdn_gettid(void);
/* The f_type of statfs(2) on path, or -1 with errno. */
long fqdn_statfs_type(const char *path);
/* BPF_FS_MAGIC */
long fqdn_bpf_fs_magic(void);
/* mount -t bpf bpf <path>. Returns 0 or -1 with errno. */
int fqdn_mount_bpffs(const char *path);

#endif
