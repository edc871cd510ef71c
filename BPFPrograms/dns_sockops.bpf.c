// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dns_sockops.bpf.c: sock_ops on a cgroup v2 directory (an endpoint's cgroup,
 * or the cgroup holding a veth endpoint's pod processes). A client socket
 * that connects to a trusted DNS server and belongs to an endpoint is put
 * into fq_tcp_socks when the connection is established, so the sk_skb and
 * sk_msg programs see its bytes; its state is deleted when it closes.
 *
 *   connect      (process context) the endpoint: the connecting process's
 *                cgroup or nearest ancestor that is a cgroup endpoint, else
 *                the veth endpoint of the socket's network namespace
 *                (fq_tcp_netns); kept in the socket's storage.
 *   established  fq_tcp_sock and fq_tcp_tx entries (the stream starts at
 *                snd_una), fq_tcp_socks insert, state callbacks on.
 *   close        fq_tcp_sock, fq_tcp_tx and any partial response (fq_tcp_buf)
 *                deleted.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "dns_tcp_maps.h"

#define AF_INET 2
#define AF_INET6 10

/* The peer of the socket: family, address (16 bytes, IPv4 in the first 4) and
 * host-order port; IPv4-mapped IPv6 peers count as IPv4 (their packets are
 * IPv4, as the tc and cgroup programs see them). 0 when not IP. */
static __always_inline int tcp_peer(struct bpf_sock_ops *ops, __u8 *family, __u8 *addr, __u16 *port)
{
	__builtin_memset(addr, 0, 16);
	*port = (__u16)bpf_ntohl(ops->remote_port);
	if (ops->family == AF_INET) {
		__u32 a = ops->remote_ip4;
		*family = FQDN_AF_INET;
		__builtin_memcpy(addr, &a, 4);
		return 1;
	}
	if (ops->family == AF_INET6) {
		__u32 w0 = ops->remote_ip6[0], w1 = ops->remote_ip6[1], w2 = ops->remote_ip6[2], w3 = ops->remote_ip6[3];
		if (w0 == 0 && w1 == 0 && w2 == bpf_htonl(0xFFFF)) {
			*family = FQDN_AF_INET;
			__builtin_memcpy(addr, &w3, 4);
			return 1;
		}
		*family = FQDN_AF_INET6;
		__builtin_memcpy(addr, &w0, 4);
		__builtin_memcpy(addr + 4, &w1, 4);
		__builtin_memcpy(addr + 8, &w2, 4);
		__builtin_memcpy(addr + 12, &w3, 4);
		return 1;
	}
	return 0;
}

static __always_inline void on_connect(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk = ops->sk;
	struct fqdn_tcp_sk *st;
	__u8 family, addr[16];
	__u16 port;
	__u64 cgroup = 0, ns;
	__u32 ifindex = 0, *ix;
	int level;

	if (!sk || !tcp_peer(ops, &family, addr, &port) || !tcp_trusted_server(family, addr, port))
		return;
	/* A cgroup endpoint (the deepest), else the namespace's veth endpoint. */
	cgroup = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&fq_ep_cgroup, &cgroup)) {
		cgroup = 0;
#pragma clang loop unroll(disable)
		for (level = FQDN_MAX_CGROUP_DEPTH - 1; level >= 0; level--) {
			__u64 a = bpf_get_current_ancestor_cgroup_id(level);
			if (a && bpf_map_lookup_elem(&fq_ep_cgroup, &a)) {
				cgroup = a;
				break;
			}
		}
	}
	if (!cgroup) {
		ns = bpf_get_netns_cookie(ops);
		ix = bpf_map_lookup_elem(&fq_tcp_netns, &ns);
		if (!ix)
			return;
		ifindex = *ix;
	}
	st = bpf_sk_storage_get(&fq_tcp_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		tcp_count(FQDN_TCP_CTR_TRACK_FAILED, 1);
		return;
	}
	st->cookie = bpf_get_socket_cookie(ops);
	st->cgroup_id = cgroup;
	st->ifindex = ifindex;
	st->flags = 0;
}

/* The connection's fq_tcp_tx key (0: its endpoint is gone). ts: its
 * fq_tcp_sock, made or being made. */
static __always_inline int tx_key(struct bpf_sock_ops *ops, const struct fqdn_tcp_sock *ts, struct fqdn_tcp_tx_key *k)
{
	struct fqdn_endpoint *ep = tcp_endpoint(ts->cgroup_id, ts->ifindex);

	if (!ep)
		return 0;
	tcp_tx_key(k, ep->endpoint_id, ts, ops->family, ops->local_ip4, ops->local_ip6[0], ops->local_ip6[1],
		   ops->local_ip6[2], ops->local_ip6[3]);
	return 1;
}

static __always_inline void on_established(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk = ops->sk;
	struct fqdn_tcp_sk *st;
	struct fqdn_tcp_sock ts = {};
	struct fqdn_tcp_tx_key k;
	struct fqdn_tcp_tx *tx;
	__u32 zero = 0;
	void *blank;
	__u64 cookie;

	if (!sk)
		return;
	st = bpf_sk_storage_get(&fq_tcp_sk, sk, 0, 0);
	if (!st || (st->flags & FQDN_TCP_SK_F_TRACKED))
		return;
	if (!tcp_peer(ops, &ts.family, ts.server, &ts.server_port))
		return;
	cookie = bpf_get_socket_cookie(ops);
	ts.cgroup_id = st->cgroup_id;
	ts.ifindex = st->ifindex;
	ts.client_port = (__u16)ops->local_port;
	/* Where the client's bytes are recorded (sk_msg) and compared (the
	 * egress programs). The stream starts at snd_una: the SYN is acked;
	 * data a SYN carried (TCP Fast Open, dropped at egress) is sent again
	 * from there and was never checked. */
	blank = bpf_map_lookup_elem(&fq_tcp_zero, &zero);
	if (!blank || !tx_key(ops, &ts, &k) || bpf_map_update_elem(&fq_tcp_tx, &k, blank, BPF_ANY) < 0) {
		tcp_count(FQDN_TCP_CTR_TRACK_FAILED, 1);
		return;
	}
	tx = bpf_map_lookup_elem(&fq_tcp_tx, &k);
	if (!tx) {
		bpf_map_delete_elem(&fq_tcp_tx, &k);
		tcp_count(FQDN_TCP_CTR_TRACK_FAILED, 1);
		return;
	}
	tx->head.stream_seq = ops->snd_una;
	if (bpf_map_update_elem(&fq_tcp_sock, &cookie, &ts, BPF_ANY) < 0) {
		bpf_map_delete_elem(&fq_tcp_tx, &k);
		tcp_count(FQDN_TCP_CTR_TRACK_FAILED, 1);
		return;
	}
	if (bpf_sock_hash_update(ops, &fq_tcp_socks, &cookie, BPF_ANY) < 0) {
		bpf_map_delete_elem(&fq_tcp_sock, &cookie);
		bpf_map_delete_elem(&fq_tcp_tx, &k);
		tcp_count(FQDN_TCP_CTR_TRACK_FAILED, 1);
		return;
	}
	st->cookie = cookie;
	st->flags |= FQDN_TCP_SK_F_TRACKED;
	bpf_sock_ops_cb_flags_set(ops, ops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
	tcp_count(FQDN_TCP_CTR_CONNECTIONS, 1);
}

static __always_inline void on_close(struct bpf_sock_ops *ops)
{
	__u64 cookie = bpf_get_socket_cookie(ops);
	struct fqdn_tcp_sock *ts = bpf_map_lookup_elem(&fq_tcp_sock, &cookie);
	struct fqdn_tcp_tx_key k;

	if (!ts)
		return;
	if ((ts->flags & FQDN_TCP_F_BODY) || ts->pfx_have)
		tcp_count(FQDN_TCP_CTR_RX_PARTIAL_CLOSED, 1);
	/* Its endpoint gone, the agent deleted the entry with it. */
	if (tx_key(ops, ts, &k))
		bpf_map_delete_elem(&fq_tcp_tx, &k);
	bpf_map_delete_elem(&fq_tcp_buf, &cookie);
	bpf_map_delete_elem(&fq_tcp_sock, &cookie);
	tcp_count(FQDN_TCP_CTR_CLOSED, 1);
}

SEC("sockops")
int fqdn_dns_sockops(struct bpf_sock_ops *ops)
{
	switch (ops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		on_connect(ops);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		on_established(ops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (ops->args[1] == BPF_TCP_CLOSE)
			on_close(ops);
		break;
	}
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
