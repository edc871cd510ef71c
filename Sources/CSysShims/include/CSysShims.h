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

/* Netlink (rtnetlink) in the calling thread's network namespace, for finding
 * the pod side of a veth (PolicyEngine, source validation).
 * The peer of veth `ifindex`: its interface index and the id this namespace
 * gives the peer's namespace (IFLA_LINK, IFLA_LINK_NETNSID; -1 when the peer
 * is in this namespace). Returns 0, or -errno; -ENOENT when the link has no
 * peer (not a veth). */
int fqdn_link_peer(int ifindex, int *peer_ifindex, int *peer_nsid);
/* The id this namespace gives the namespace open at `fd` (RTM_GETNSID), or
 * -1 when it has none. Returns 0, or -errno. */
int fqdn_netns_id(int fd, int *nsid);

#endif
