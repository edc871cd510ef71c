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

#endif /* FQDN_DNS_TCP_MAPS_H */
