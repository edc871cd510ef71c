/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dp_base.h: what every part of the datapath (datapath.h) shares: the
 * attach point (DP_ATTACH), protocol numbers and constants, the verdict, and
 * struct dp_pkt (the facts read from one packet's headers).
 */
#ifndef FQDN_DP_BASE_H
#define FQDN_DP_BASE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "fqdn_shared.h"
#include "dns_parser.h"
#include "trie.h"
#include "datapath_maps.h"

/* DP_ATTACH (defined by each *.bpf.c before including this header) says
 * where the program runs: DP_ATTACH_VETH (tc: Ethernet header at 0, may
 * rewrite and redirect) or DP_ATTACH_CGROUP (cgroup_skb: IP header at 0, no
 * packet writes: the rewrite code is not even compiled in). Defined before
 * any #if tests them (an undefined name would compare as 0 == 0). */
#define DP_ATTACH_VETH 1
#define DP_ATTACH_CGROUP 2
#ifndef DP_ATTACH
#define DP_ATTACH DP_ATTACH_VETH
#endif

#ifndef TC_ACT_OK
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7
#endif

#define DP_IPPROTO_ICMP 1
#define DP_IPPROTO_TCP 6
#define DP_IPPROTO_UDP 17
#define DP_IPPROTO_ICMPV6 58
/* ICMPv6 neighbour discovery (RFC 4861): types 133 (router solicitation) to
 * 137 (redirect). */
#define DP_ICMP6_ROUTER_SOLICIT 133
#define DP_ICMP6_NEIGH_SOLICIT 135
#define DP_ICMP6_NEIGH_ADVERT 136
#define DP_ICMP6_REDIRECT 137
#define DP_ICMP6_IS_ND(t) ((t) >= DP_ICMP6_ROUTER_SOLICIT && (t) <= DP_ICMP6_REDIRECT)
#define DP_DNS_PORT 53
/* skb->mark of an answer made by the kernel (a refused query turned around):
 * the host-side veth egress sees it next and passes it without parsing. The
 * mark does not survive the veth crossing into the pod's namespace. */
#define DP_MARK_KERNEL_ANSWER 0x0fd40a45
#define DP_NS_PER_SEC 1000000000ULL

/* What the caller does with the packet. */
enum dp_verdict {
	DP_PASS = 0,
	DP_DROP = 1,
	DP_REDIRECT = 2, /* rewritten into an answer: send back out of skb->ifindex */
	/* From the classifying functions (fqdn_dp_egress, fqdn_dp_ingress) to the
	 * entry point, which then makes the heavy call itself: */
	DP_DO_QUERY = 3,    /* fqdn_dp_query */
	DP_DO_CHECK = 4,    /* fqdn_dp_check */
	DP_DO_RESPONSE = 5, /* fqdn_dp_response */
	DP_DO_TCP = 6,      /* fqdn_dp_tcp (segments to or from a trusted server) */
};

/* Mask bit of the DNS query tag in a trie tag mask. */
#define DP_TAG_QUERY_BIT (1ULL << 32)
#define DP_RULE_BITS 0xFFFFFFFFULL

struct dp_pkt {
	__u32 l3_off;  /* 14 (tc) or 0 (cgroup_skb) */
	__u32 l4_off;  /* 0 when there is no L4 header to read */
	__u8 family;   /* FQDN_AF_INET / FQDN_AF_INET6; 0: not IP */
	__u8 proto;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u16 sport;
	__u16 dport;
	__u32 udp_len; /* UDP length field */
	__u16 ether;   /* ethertype (host order) of an untagged frame; 0: tagged */
	__u8 hop_limit; /* IPv4 TTL / IPv6 hop limit */
	__u8 pad;
	__u32 tcp_data; /* TCP payload bytes (IP length - headers) */
	__u8 saddr[16];
	__u8 daddr[16];
};

/* The endpoint as two scalars: what the global functions take (a pointer to
 * the map value would be a pointer argument the verifier must check, and a
 * copy on the stack costs every frame of the chain). */
static __always_inline __u64 dp_ep_lo(const struct fqdn_endpoint *ep)
{
	return ((__u64)ep->endpoint_id << 32) | ep->policy_id;
}

static __always_inline __u64 dp_ep_hi(const struct fqdn_endpoint *ep)
{
	return ((__u64)ep->prev_policy_id << 32) | ep->flags;
}

static __always_inline void dp_ep_unpack(struct fqdn_endpoint *ep, __u64 lo, __u64 hi)
{
	ep->endpoint_id = lo >> 32;
	ep->policy_id = (__u32)lo;
	ep->prev_policy_id = hi >> 32;
	ep->flags = (__u32)hi;
}

/* The policy version the endpoint runs (NULL: none; the callers fail closed). */
static __always_inline struct fqdn_policy_settings *dp_policy_of(const struct fqdn_endpoint *ep)
{
	__u32 pid = ep->policy_id;

	return bpf_map_lookup_elem(&fq_policy, &pid);
}

#endif /* FQDN_DP_BASE_H */
