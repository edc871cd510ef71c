/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * attach_test: programs for BPFMapBindings' attachment tests. Each counts what it sees in
 * `counters` so the tests can check real packets went through the real hook.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

enum {
	CNT_TC_INGRESS = 0,
	CNT_TC_EGRESS = 1,
	CNT_CGROUP_EGRESS = 2,
	CNT_CGROUP_DROPPED = 3,
	CNT_SOCKOPS_ESTABLISHED = 4,
	CNT_SK_SKB_BYTES = 5,
	CNT_SK_SKB_MESSAGES = 6,
	CNT_MAX = 8,
};

/* UDP destination port the tc programs count (host order). */
const volatile __u16 udp_port = 0;
/* UDP destination port the cgroup egress program drops (host order; 0 = none). */
const volatile __u16 blocked_port = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 64);
	__type(key, __u64); /* socket cookie */
	__type(value, __u64);
} socks SEC(".maps");

static __always_inline void bump(__u32 key, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &key);
	if (v)
		__sync_fetch_and_add(v, by);
}

/* 1 when the IPv4 packet at `l3` (offset of the IP header) is UDP to `port`. */
static __always_inline int is_udp_to(struct __sk_buff *skb, __u32 l3, __u16 port)
{
	__u8 vihl, proto;
	__u16 dport;
	if (bpf_skb_load_bytes(skb, l3, &vihl, 1) < 0 || (vihl >> 4) != 4)
		return 0;
	if (bpf_skb_load_bytes(skb, l3 + 9, &proto, 1) < 0 || proto != IPPROTO_UDP)
		return 0;
	if (bpf_skb_load_bytes(skb, l3 + (vihl & 0xf) * 4 + 2, &dport, 2) < 0)
		return 0;
	return bpf_ntohs(dport) == port;
}

static __always_inline int tc_count(struct __sk_buff *skb, __u32 counter)
{
	if (skb->protocol == bpf_htons(ETH_P_IP) && is_udp_to(skb, ETH_HLEN, udp_port))
		bump(counter, 1);
	return TC_ACT_OK; /* == TCX_PASS */
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb) { return tc_count(skb, CNT_TC_INGRESS); }

SEC("tc")
int tc_egress(struct __sk_buff *skb) { return tc_count(skb, CNT_TC_EGRESS); }

/* cgroup skb: data starts at the IP header. 1 = allow, 0 = drop (EPERM to the sender). */
SEC("cgroup_skb/egress")
int cgroup_egress(struct __sk_buff *skb)
{
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 1;
	bump(CNT_CGROUP_EGRESS, 1);
	if (blocked_port && is_udp_to(skb, 0, blocked_port)) {
		bump(CNT_CGROUP_DROPPED, 1);
		return 0;
	}
	return 1;
}

/* sock_ops: count established TCP connections, and put active ones into `socks`. */
SEC("sockops")
int sockops_track(struct bpf_sock_ops *ops)
{
	switch (ops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB: {
		bump(CNT_SOCKOPS_ESTABLISHED, 1);
		__u64 cookie = bpf_get_socket_cookie(ops);
		bpf_sock_hash_update(ops, &socks, &cookie, BPF_ANY);
		break;
	}
	}
	return 1;
}

/* sk_skb verdict on a sockmap/sockhash: count bytes received, pass them on. */
SEC("sk_skb/stream_verdict")
int sk_skb_count(struct __sk_buff *skb)
{
	bump(CNT_SK_SKB_BYTES, skb->len);
	bump(CNT_SK_SKB_MESSAGES, 1);
	return SK_PASS;
}

/* sk_skb stream parser: each skb is one message (the whole of what arrived). */
SEC("sk_skb/stream_parser")
int sk_skb_parse(struct __sk_buff *skb)
{
	return skb->len;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
