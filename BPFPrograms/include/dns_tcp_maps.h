/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dns_tcp_maps.h: the maps of DNS over TCP (layouts: fqdn_shared.h section 4,
 * "DNS over TCP"), on top of the datapath's shared maps. Pinned next to them
 * (<pin dir>/maps/<name>) by PolicyEngine's TCPDatapath, except the scratch
 * map fq_tcp_zero.
 */
#ifndef FQDN_DNS_TCP_MAPS_H
#define FQDN_DNS_TCP_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "fqdn_shared.h"
#include "datapath_maps.h"

/* A response spanning segments, kept until complete (fq_tcp_buf value). */
struct fqdn_tcp_buf {
	__u8 data[FQDN_TCP_BUF_LEN];
};

/* Client sockets connected to a trusted server, keyed by socket cookie; the
 * sk_skb and sk_msg programs are attached to this map. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, FQDN_MAX_TCP_SOCKS);
	__type(key, __u64);
	__type(value, __u64);
} fq_tcp_socks SEC(".maps");

/* Per connection (socket cookie): endpoint, peer, receive framing. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FQDN_MAX_TCP_SOCKS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct fqdn_tcp_sock);
} fq_tcp_sock SEC(".maps");

/* Per socket storage (the sk_msg program has no socket cookie helper). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fqdn_tcp_sk);
} fq_tcp_sk SEC(".maps");

/* Responses spanning segments: their first bytes, per socket cookie. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FQDN_MAX_TCP_PARTIAL);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct fqdn_tcp_buf);
} fq_tcp_buf SEC(".maps");

/* Veth endpoints: the pod's netns cookie -> host-side ifindex. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FQDN_MAX_TCP_NETNS);
	__type(key, __u64);
	__type(value, __u32);
} fq_tcp_netns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FQDN_TCP_CTR_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} fq_tcp_counters SEC(".maps");

/* The bytes a new fq_tcp_buf entry is made from (never written; not pinned). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fqdn_tcp_buf);
} fq_tcp_zero SEC(".maps");

static __always_inline void tcp_count(__u32 idx, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&fq_tcp_counters, &idx);
	if (v)
		*v += by;
}

/* The endpoint of a tracked connection as it is now (NULL: removed). */
static __always_inline struct fqdn_endpoint *tcp_endpoint(__u64 cgroup_id, __u32 ifindex)
{
	if (cgroup_id)
		return bpf_map_lookup_elem(&fq_ep_cgroup, &cgroup_id);
	if (ifindex)
		return bpf_map_lookup_elem(&fq_ep_ifindex, &ifindex);
	return 0;
}

static __always_inline int tcp_trusted_server(__u8 family, const __u8 *addr, __u16 port)
{
	struct fqdn_server_key k = {};

	k.family = family;
	k.port = port;
	__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(&fq_dns_servers, &k) != 0;
}

/* The fq_tcp_tx key of a client socket: ts (its fq_tcp_sock) gives the
 * server side; af and the local address words are the socket context's
 * (family, local_ip4, local_ip6[4]). The client address is the one its
 * packets carry: an IPv4-mapped IPv6 socket sends IPv4. */
static __always_inline void tcp_tx_key(struct fqdn_tcp_tx_key *k, __u32 endpoint_id, const struct fqdn_tcp_sock *ts,
				       __u32 af, __u32 l4, __u32 w0, __u32 w1, __u32 w2, __u32 w3)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->endpoint_id = endpoint_id;
	k->family = ts->family;
	k->client_port = ts->client_port;
	k->server_port = ts->server_port;
	__builtin_memcpy(k->server, ts->server, 16);
	if (ts->family == FQDN_AF_INET) {
		__u32 a = af == 2 /* AF_INET */ ? l4 : w3;
		__builtin_memcpy(k->client, &a, 4);
	} else {
		__builtin_memcpy(k->client, &w0, 4);
		__builtin_memcpy(k->client + 4, &w1, 4);
		__builtin_memcpy(k->client + 8, &w2, 4);
		__builtin_memcpy(k->client + 12, &w3, 4);
	}
}

#endif /* FQDN_DNS_TCP_MAPS_H */
