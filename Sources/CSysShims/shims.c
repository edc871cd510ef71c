#define _GNU_SOURCE
#include "CSysShims.h"
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/mount.h>
#include <linux/magic.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>

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

/* One rtnetlink request and its single answer into buf. Returns the answer's
 * length, or -errno (an NLMSG_ERROR answer's error included). */
static int rtnl_request(void *req, size_t len, char *buf, size_t cap)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (sendto(fd, req, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	n = recv(fd, buf, cap, 0);
	if (n < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	close(fd);
	if ((size_t)n < sizeof(struct nlmsghdr))
		return -EIO;
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	if (h->nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr *err = NLMSG_DATA(h);
		return err->error ? err->error : -EIO;
	}
	return (int)n;
}

static void rtnl_header(struct nlmsghdr *h, size_t len, unsigned short type)
{
	h->nlmsg_len = len;
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST;
}

/* The u32 attribute `type` of an answer whose fixed header is `fixed` bytes:
 * 1 and *out, or 0 when it is absent. */
static int rtnl_u32(const struct nlmsghdr *h, size_t fixed, unsigned short type, int *out)
{
	int alen = (int)h->nlmsg_len - (int)NLMSG_LENGTH(fixed);
	const struct rtattr *a = (const struct rtattr *)((const char *)NLMSG_DATA(h) + NLMSG_ALIGN(fixed));

	for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
		if (a->rta_type == type && RTA_PAYLOAD(a) >= 4) {
			memcpy(out, RTA_DATA(a), 4);
			return 1;
		}
	}
	return 0;
}

int fqdn_link_peer(int ifindex, int *peer_ifindex, int *peer_nsid)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = {0};
	char buf[16384];
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	int n;

	rtnl_header(&req.h, sizeof(req), RTM_GETLINK);
	req.i.ifi_family = AF_UNSPEC;
	req.i.ifi_index = ifindex;
	n = rtnl_request(&req, sizeof(req), buf, sizeof(buf));
	if (n < 0)
		return n;
	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len > (unsigned)n)
		return -EIO;
	if (!rtnl_u32(h, sizeof(struct ifinfomsg), IFLA_LINK_NETNSID, peer_nsid))
		*peer_nsid = -1;
	return rtnl_u32(h, sizeof(struct ifinfomsg), IFLA_LINK, peer_ifindex) ? 0 : -ENOENT;
}

int fqdn_netns_id(int fd, int *nsid)
{
	struct {
		struct nlmsghdr h;
		struct rtgenmsg g;
		char pad[3];
		struct rtattr a;
		__u32 fd;
	} req = {0};
	char buf[4096];
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	int n;

	rtnl_header(&req.h, sizeof(req), RTM_GETNSID);
	req.g.rtgen_family = AF_UNSPEC;
	req.a.rta_type = NETNSA_FD;
	req.a.rta_len = RTA_LENGTH(sizeof(__u32));
	req.fd = (__u32)fd;
	n = rtnl_request(&req, sizeof(req), buf, sizeof(buf));
	if (n < 0)
		return n;
	if (h->nlmsg_type != RTM_NEWNSID || h->nlmsg_len > (unsigned)n)
		return -EIO;
	if (!rtnl_u32(h, sizeof(struct rtgenmsg), NETNSA_NSID, nsid))
		*nsid = -1;
	return 0;
}
