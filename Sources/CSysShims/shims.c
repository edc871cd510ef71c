#define _GNU_SOURCE
#include "CSysShims.h"
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/mount.h>
#include <linux/magic.h>

int fqdn_setns(int fd, int nstype) { return setns(fd, nstype); }
int fqdn_unshare(int flags) { return unshare(flags); }
int fqdn_clone_newnet(void) { return CLONE_NEWNET; }
pid_t fqdn_gettid(void) { return (pid_t)syscall(SYS_gettid); }

long fqdn_statfs_type(const char *path)
{
	struct statfs st;
	if (statfs(path, &st) != 0)
		return -1;
	return (long)st.f_type;
}

long fqdn_bpf_fs_magic(void) { return (long)BPF_FS_MAGIC; }

int fqdn_mount_bpffs(const char *path) { return mount("bpf", path, "bpf", 0, NULL); }
