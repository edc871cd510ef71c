/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * datapath.h: the enforcement logic shared by the attach-point programs
 * (veth_ingress/veth_egress: tc on the host side of a pod's veth;
 * cgroup_egress/cgroup_ingress: cgroup_skb on a cgroup v2 directory).
 *
 *   pod/cgroup egress  -> dp_egress():   DNS query to a trusted server:
 *                                        parse, DNS rules (trie), refuse in the
 *                                        kernel or record in flight; other
 *                                        traffic: learned address / CIDR /
 *                                        established flow, and port; else drop.
 *   toward pod/cgroup  -> dp_ingress():  DNS response from a trusted server
 *                                        matching an in-flight query: parse,
 *                                        toFQDNs rules (trie), learn credited
 *                                        addresses; always delivered.
 *
 * Documentation/Datapath.md describes the design as built.
 */
#ifndef FQDN_DATAPATH_H
#define FQDN_DATAPATH_H

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

/* ------------------------------------------------------------------ */
/* Counters and events                                                 */
/* ------------------------------------------------------------------ */

static __always_inline void dp_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&fq_counters, &idx);
	if (v)
		*v += 1;
}

static __always_inline struct fqdn_event *dp_event_reserve(__u32 type, const struct fqdn_endpoint *ep)
{
	struct fqdn_event *e = bpf_ringbuf_reserve(&fq_events, sizeof(*e), 0);
	if (!e) {
		dp_count(FQDN_CTR_EVENTS_LOST);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->type = type;
	e->endpoint_id = ep->endpoint_id;
	e->policy_id = ep->policy_id;
	return e;
}

static __always_inline void dp_copy16(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, 16);
}

static __always_inline int dp_same16(const __u8 *a, const __u8 *b)
{
	__u64 a0, a1, b0, b1;
	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	return a0 == b0 && a1 == b1;
}

static __always_inline int dp_is_zero16(const __u8 *a)
{
	__u64 a0, a1;
	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	return (a0 | a1) == 0;
}

static __always_inline void dp_copy_name(struct fqdn_wire_name *dst, const struct fqdn_wire_name *src)
{
	__builtin_memcpy(dst, src, sizeof(*dst));
}

/* ------------------------------------------------------------------ */
/* Packet headers                                                      */
/* ------------------------------------------------------------------ */

/* Reads L3/L4 facts. l3 is where the IP header starts; proto_be is the
 * ethertype (network order) when the caller already knows it (cgroup_skb),
 * 0 to read it from the Ethernet header. Returns 0, or -1 for a packet too
 * short (or too odd) to be what its headers say. A frame with a VLAN tag,
 * in the packet or already taken out of it by the kernel (skb->vlan_present),
 * is reported with ether 0 and family 0: the kernel strips priority tags
 * after the tc hook and routes what is inside, so nothing tagged is IP to
 * the datapath (Documentation/Security.md). */
static __always_inline int dp_parse(struct __sk_buff *skb, __u32 l3, __u16 proto_be, struct dp_pkt *p)
{
	__u8 h[40];
	__u8 nexthdr = 0;
	__u32 l4 = 0, ip_end = 0, tcp_hdr;

	__builtin_memset(p, 0, sizeof(*p));
	p->l3_off = l3;
	if (!proto_be) {
		if (skb->vlan_present)
			return 0;
		if (bpf_skb_load_bytes(skb, 12, &proto_be, 2) < 0)
			return -1; /* not even Ethernet */
	}
	p->ether = bpf_ntohs(proto_be);
	if (proto_be == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, l3, h, 20) < 0 || (h[0] >> 4) != 4 || (h[0] & 0xF) < 5)
			return -1;
		p->family = FQDN_AF_INET;
		nexthdr = h[9];
		p->hop_limit = h[8];
		__builtin_memcpy(p->saddr, &h[12], 4);
		__builtin_memcpy(p->daddr, &h[16], 4);
		ip_end = l3 + (((__u32)h[2] << 8) | h[3]);
		if (ip_end == l3) /* BIG TCP: a GSO packet over 64 KiB has length 0 */
			ip_end = skb->len;
		/* A fragment after the first carries no L4 header. */
		if ((((__u32)h[6] << 8) | h[7]) & 0x1FFF) {
			p->proto = nexthdr;
			return 0;
		}
		l4 = l3 + (h[0] & 0xF) * 4;
	} else if (proto_be == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, l3, h, 40) < 0 || (h[0] >> 4) != 6)
			return -1;
		p->family = FQDN_AF_INET6;
		nexthdr = h[6];
		p->hop_limit = h[7];
		__builtin_memcpy(p->saddr, &h[8], 16);
		__builtin_memcpy(p->daddr, &h[24], 16);
		l4 = l3 + 40;
		ip_end = l4 + (((__u32)h[4] << 8) | h[5]);
		/* Extension headers are not followed: such packets have no
		 * ports (Documentation/Datapath.md, limits). */
	} else {
		return 0;
	}
	p->proto = nexthdr;
	if (nexthdr == DP_IPPROTO_UDP) {
		if (bpf_skb_load_bytes(skb, l4, h, 8) < 0)
			return -1;
		p->sport = ((__u16)h[0] << 8) | h[1];
		p->dport = ((__u16)h[2] << 8) | h[3];
		p->udp_len = ((__u32)h[4] << 8) | h[5];
		p->l4_off = l4;
	} else if (nexthdr == DP_IPPROTO_TCP) {
		if (bpf_skb_load_bytes(skb, l4, h, 14) < 0)
			return -1;
		p->sport = ((__u16)h[0] << 8) | h[1];
		p->dport = ((__u16)h[2] << 8) | h[3];
		p->tcp_flags = h[13];
		tcp_hdr = (h[12] >> 4) * 4;
		if (tcp_hdr < 20 || l4 + tcp_hdr > ip_end)
			return -1;
		p->tcp_data = ip_end - l4 - tcp_hdr;
		p->l4_off = l4;
	} else if (nexthdr == DP_IPPROTO_ICMP || nexthdr == DP_IPPROTO_ICMPV6) {
		if (bpf_skb_load_bytes(skb, l4, h, 1) < 0)
			return -1;
		p->icmp_type = h[0];
		p->l4_off = l4;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

struct dp_hash_ctx {
	const struct fqdn_wire_name *name;
	__u64 h;
};

static long dp_hash_step(__u32 i, void *ctx)
{
	struct dp_hash_ctx *c = ctx;
	if (i >= c->name->len || i >= FQDN_MAX_NAME_LEN)
		return 1;
	c->h ^= c->name->wire[i & 0xFF];
	c->h *= FQDN_FNV64_PRIME;
	return 0;
}

/* FNV-1a 64 of the lowercase wire name (the parser reports names lowercase). */
static __always_inline __u64 dp_name_hash(const struct fqdn_wire_name *name)
{
	struct dp_hash_ctx c = { .name = name, .h = FQDN_FNV64_OFFSET };
	bpf_loop(FQDN_MAX_NAME_LEN, dp_hash_step, &c, 0);
	return c.h;
}

/* The tags of every pattern of policy version `policy` that matches `name`,
 * as a mask: bit r (< 32) for egress rule r, DP_TAG_QUERY_BIT for the DNS
 * rules. A failed walk counts and matches nothing (fails closed). */
static __always_inline __u64 dp_trie_tags(__u32 policy, const struct fqdn_wire_name *name,
					  struct fqdn_trie_result *res)
{
	__u64 mask = 0;
	__u32 i, j;

	fqdn_trie_walk(policy, name, res);
	if (res->status != FQDN_TRIE_OK) {
		dp_count(FQDN_CTR_TRIE_ERRORS);
		return 0;
	}
	for (i = 0; i < FQDN_TRIE_MAX_HITS; i++) {
		struct fqdn_trie_set_key sk;
		struct fqdn_trie_set *set;

		if (i >= res->hit_count)
			break;
		sk.policy = policy;
		sk.set = res->hits[i];
		set = bpf_map_lookup_elem(&fqdn_trie_sets, &sk);
		if (!set)
			continue;
		for (j = 0; j < FQDN_TRIE_MAX_SET_TAGS; j++) {
			__u32 tag;
			if (j >= set->count)
				break;
			tag = set->tags[j];
			if (tag < FQDN_MAX_RULES)
				mask |= 1ULL << tag;
			else if (tag == FQDN_TAG_DNS_QUERY)
				mask |= DP_TAG_QUERY_BIT;
		}
	}
	return mask;
}

/* ------------------------------------------------------------------ */
/* Egress checks                                                       */
/* ------------------------------------------------------------------ */

static __always_inline int dp_range_ok(const struct fqdn_port_range *r, const struct dp_pkt *p)
{
	if (p->proto != DP_IPPROTO_TCP && p->proto != DP_IPPROTO_UDP)
		return 0;
	if (r->proto && r->proto != p->proto)
		return 0;
	return p->dport >= r->first && p->dport <= r->last;
}

struct dp_ports_ctx {
	const struct dp_pkt *p;
	__u32 policy;
	__u32 mask;
	__u32 ok;
};

static long dp_ports_rule(__u32 r, void *ctx)
{
	struct dp_ports_ctx *c = ctx;
	struct fqdn_ports_key k = { .policy_id = c->policy, .rule = r };
	struct fqdn_rule_ports *ports;
	__u32 i;

	if (r >= FQDN_MAX_RULES)
		return 1;
	if (!(c->mask & (1U << r)))
		return 0;
	ports = bpf_map_lookup_elem(&fq_ports, &k);
	if (!ports)
		return 0;
	if (ports->count == 0) {
		c->ok = 1;
		return 1;
	}
	for (i = 0; i < FQDN_MAX_PORTS_PER_RULE; i++) {
		if (i >= ports->count)
			break;
		if (dp_range_ok(&ports->ranges[i], c->p)) {
			c->ok = 1;
			return 1;
		}
	}
	return 0;
}

/* Whether one of the rules in mask (of version policy) allows the packet's
 * protocol and destination port. One bpf_loop over the rules: the verifier
 * checks the callback once. */
static __always_inline int dp_ports_ok(__u32 policy, __u32 mask, const struct dp_pkt *p)
{
	struct dp_ports_ctx c = { .p = p, .policy = policy, .mask = mask, .ok = 0 };

	if (!mask)
		return 0;
	bpf_loop(FQDN_MAX_RULES, dp_ports_rule, &c, 0);
	return c.ok;
}

static __always_inline int dp_is_trusted_server(__u8 family, const __u8 *addr, __u16 port)
{
	struct fqdn_server_key k = {};
	k.family = family;
	k.port = port;
	if (family == FQDN_AF_INET)
		__builtin_memcpy(k.addr, addr, 4);
	else
		__builtin_memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(&fq_dns_servers, &k) != 0;
}

static __always_inline struct fqdn_allow *dp_allow_lookup(__u32 ep_id, const struct dp_pkt *p)
{
	if (p->family == FQDN_AF_INET) {
		struct fqdn_allow4_key k = { .endpoint_id = ep_id };
		__builtin_memcpy(k.addr, p->daddr, 4);
		return bpf_map_lookup_elem(&fq_allow4, &k);
	} else {
		struct fqdn_allow6_key k = { .endpoint_id = ep_id };
		__builtin_memcpy(k.addr, p->daddr, 16);
		return bpf_map_lookup_elem(&fq_allow6, &k);
	}
}

static __always_inline __u32 dp_cidr_mask(__u32 policy, const struct dp_pkt *p)
{
	struct fqdn_cidr *c;

	if (p->family == FQDN_AF_INET) {
		struct fqdn_cidr4_key k = { .prefixlen = 32 + 32, .policy_id = policy };
		__builtin_memcpy(k.addr, p->daddr, 4);
		c = bpf_map_lookup_elem(&fq_cidr4, &k);
	} else {
		struct fqdn_cidr6_key k = { .prefixlen = 32 + 128, .policy_id = policy };
		__builtin_memcpy(k.addr, p->daddr, 16);
		c = bpf_map_lookup_elem(&fq_cidr6, &k);
	}
	return c ? c->rule_mask : 0;
}

static __always_inline void dp_flow_key(struct fqdn_flow_key *k, __u32 ep_id, const struct dp_pkt *p)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->endpoint_id = ep_id;
	k->family = p->family;
	k->proto = p->proto;
	k->sport = p->sport;
	k->dport = p->dport;
	__builtin_memcpy(k->daddr, p->daddr, 16);
}

#define DP_TCP_SYN 0x02
#define DP_TCP_ACK 0x10

/* Remember (or refresh) the TCP flow of an allowed packet. */
static __always_inline void dp_flow_note(__u32 ep_id, const struct dp_pkt *p, __u64 now)
{
	struct fqdn_flow_key k;
	struct fqdn_flow *f;

	if (p->proto != DP_IPPROTO_TCP)
		return;
	dp_flow_key(&k, ep_id, p);
	if ((p->tcp_flags & (DP_TCP_SYN | DP_TCP_ACK)) == DP_TCP_SYN) {
		struct fqdn_flow v = { .created_ns = now, .last_ns = now };
		bpf_map_update_elem(&fq_flows, &k, &v, BPF_ANY);
		return;
	}
	f = bpf_map_lookup_elem(&fq_flows, &k);
	if (f && now - f->last_ns > DP_NS_PER_SEC)
		f->last_ns = now;
}

/* The denied event: the destination, or for a spoofed packet the source it
 * carried. */
static __always_inline void dp_deny_event(const struct fqdn_endpoint *ep, const struct dp_pkt *p, __u32 why)
{
	struct fqdn_event *e = dp_event_reserve(FQDN_EV_DENIED, ep);
	int source = why == FQDN_DENY_SPOOFED;

	if (!e)
		return;
	e->reason = why;
	e->family = p->family;
	e->proto = p->proto;
	e->port = source ? p->sport : p->dport;
	dp_copy16(e->addr, source ? p->saddr : p->daddr);
	bpf_ringbuf_submit(e, 0);
}

/* The fq_inbound key of a packet: `toward` 1 for a packet toward the endpoint
 * (the peer is its source), 0 for one leaving it (the peer is its
 * destination). Zeroed first: the padding is part of the key. */
static __always_inline void dp_inbound_key(struct fqdn_inbound_key *k, __u32 ep_id, const struct dp_pkt *p, int toward)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->endpoint_id = ep_id;
	k->family = p->family;
	k->proto = p->proto;
	k->local_port = toward ? p->dport : p->sport;
	k->peer_port = toward ? p->sport : p->dport;
	dp_copy16(k->peer, toward ? p->saddr : p->daddr);
}

static __always_inline __u64 dp_inbound_idle_ns(__u8 proto)
{
	return (proto == DP_IPPROTO_TCP ? FQDN_INBOUND_TCP_IDLE_SEC : FQDN_INBOUND_UDP_IDLE_SEC) * DP_NS_PER_SEC;
}

/* A packet toward the endpoint: a TCP SYN (without ACK) or a UDP datagram
 * opens (or refreshes) a connection into it; any other TCP segment of a known
 * one refreshes it. The caller excludes DNS answers from trusted servers. */
static __always_inline void dp_inbound_note(__u32 ep_id, const struct dp_pkt *p)
{
	struct fqdn_inbound_key k;
	struct fqdn_flow *f;
	__u64 now;

	if ((p->proto != DP_IPPROTO_TCP && p->proto != DP_IPPROTO_UDP) || !p->l4_off)
		return;
	now = bpf_ktime_get_boot_ns();
	dp_inbound_key(&k, ep_id, p, 1);
	f = bpf_map_lookup_elem(&fq_inbound, &k);
	if (f) {
		if (now - f->last_ns > DP_NS_PER_SEC)
			f->last_ns = now;
		return;
	}
	if (p->proto == DP_IPPROTO_UDP || (p->tcp_flags & (DP_TCP_SYN | DP_TCP_ACK)) == DP_TCP_SYN) {
		struct fqdn_flow v = { .created_ns = now, .last_ns = now };
		bpf_map_update_elem(&fq_inbound, &k, &v, BPF_ANY);
	}
}

/* Whether a packet leaving the endpoint is a reply on a live connection into
 * it (never a pure SYN: the endpoint opening a connection is not a reply). */
static __always_inline int dp_inbound_reply(__u32 ep_id, const struct dp_pkt *p, __u64 now)
{
	struct fqdn_inbound_key k;
	struct fqdn_flow *f;

	if ((p->proto != DP_IPPROTO_TCP && p->proto != DP_IPPROTO_UDP) || !p->l4_off)
		return 0;
	if (p->proto == DP_IPPROTO_TCP && (p->tcp_flags & (DP_TCP_SYN | DP_TCP_ACK)) == DP_TCP_SYN)
		return 0;
	dp_inbound_key(&k, ep_id, p, 0);
	f = bpf_map_lookup_elem(&fq_inbound, &k);
	if (!f || now - f->last_ns >= dp_inbound_idle_ns(p->proto))
		return 0;
	if (now - f->last_ns > DP_NS_PER_SEC)
		f->last_ns = now;
	return 1;
}

/* The egress decision for a non-DNS IP packet of an enforcing endpoint. */
static __always_inline int dp_check_egress(const struct fqdn_endpoint *ep, const struct fqdn_policy_settings *pol,
					   const struct dp_pkt *p)
{
	__u64 now = bpf_ktime_get_boot_ns();
	struct fqdn_allow *a;
	__u32 why = FQDN_DENY_NOT_ALLOWED, mask;

	a = dp_allow_lookup(ep->endpoint_id, p);
	if (a) {
		__u32 pid = a->policy_id;
		if (now >= a->expiry_ns) {
			why = FQDN_DENY_EXPIRED;
		} else if (pid && (pid == ep->policy_id || pid == ep->prev_policy_id)) {
			if (dp_ports_ok(pid, a->rule_mask, p)) {
				dp_count(FQDN_CTR_EGRESS_ALLOWED_LEARNED);
				dp_flow_note(ep->endpoint_id, p, now);
				return DP_PASS;
			}
			why = FQDN_DENY_PORT;
		}
	}

	mask = dp_cidr_mask(ep->policy_id, p);
	if (mask) {
		if (dp_ports_ok(ep->policy_id, mask, p)) {
			dp_count(FQDN_CTR_EGRESS_ALLOWED_CIDR);
			return DP_PASS;
		}
		if (why == FQDN_DENY_NOT_ALLOWED)
			why = FQDN_DENY_PORT;
	}

	/* An established TCP flow outlives its address's expiry (never a SYN). */
	if (why != FQDN_DENY_PORT && p->proto == DP_IPPROTO_TCP && !(p->tcp_flags & DP_TCP_SYN) && pol &&
	    pol->flow_grace) {
		struct fqdn_flow_key k;
		struct fqdn_flow *f;

		dp_flow_key(&k, ep->endpoint_id, p);
		f = bpf_map_lookup_elem(&fq_flows, &k);
		if (f && now - f->last_ns < (__u64)pol->flow_grace * DP_NS_PER_SEC) {
			if (now - f->last_ns > DP_NS_PER_SEC)
				f->last_ns = now;
			dp_count(FQDN_CTR_EGRESS_ALLOWED_FLOW);
			return DP_PASS;
		}
	}

	/* A reply on a connection into the endpoint. */
	if (dp_inbound_reply(ep->endpoint_id, p, now)) {
		dp_count(FQDN_CTR_EGRESS_ALLOWED_REPLY);
		return DP_PASS;
	}

	dp_count(FQDN_CTR_EGRESS_DENIED);
	if (why == FQDN_DENY_EXPIRED)
		dp_count(FQDN_CTR_EGRESS_DENIED_EXPIRED);
	else if (why == FQDN_DENY_PORT)
		dp_count(FQDN_CTR_EGRESS_DENIED_PORT);
	dp_deny_event(ep, p, why);
	return DP_DROP;
}

/* A frame the datapath does not classify, or ND that could leave the link:
 * dropped, counted, reported. */
static __always_inline int dp_deny_unclassified(const struct fqdn_endpoint *ep, const struct dp_pkt *p, __u32 why)
{
	dp_count(FQDN_CTR_EGRESS_DENIED);
	dp_count(FQDN_CTR_EGRESS_DENIED_UNCLASSIFIED);
	dp_deny_event(ep, p, why);
	return DP_DROP;
}

/* Source validation (FQDN_EP_F_SRC_CHECK): whether an IP packet leaving the
 * endpoint carries one of its addresses (fq_ep_addr). IPv6 neighbour
 * discovery may also come from the unspecified address (duplicate address
 * detection) or a link-local one; fqdn_dp_check then keeps it on the link. */
static __always_inline int dp_source_ok(const struct fqdn_endpoint *ep, const struct dp_pkt *p)
{
	struct fqdn_ep_addr_key k = {};

	if (p->family == FQDN_AF_INET6 && p->proto == DP_IPPROTO_ICMPV6 && DP_ICMP6_IS_ND(p->icmp_type)) {
		if (p->saddr[0] == 0xfe && (p->saddr[1] & 0xC0) == 0x80)
			return 1;
		if (dp_is_zero16(p->saddr))
			return 1;
	}
	k.endpoint_id = ep->endpoint_id;
	k.family = p->family;
	dp_copy16(k.addr, p->saddr);
	return bpf_map_lookup_elem(&fq_ep_addr, &k) != 0;
}

/* A packet with another source address: dropped, counted, reported with the
 * address it carried. */
static __always_inline int dp_deny_spoofed(const struct fqdn_endpoint *ep, const struct dp_pkt *p)
{
	dp_count(FQDN_CTR_EGRESS_DENIED);
	dp_count(FQDN_CTR_EGRESS_DENIED_SPOOFED);
	dp_deny_event(ep, p, FQDN_DENY_SPOOFED);
	return DP_DROP;
}

/* ------------------------------------------------------------------ */
/* DNS queries                                                         */
/* ------------------------------------------------------------------ */

static __always_inline struct fqdn_dp_scratch *dp_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&fq_scratch, &zero);
}

/* The DNS message of a UDP packet: offset and length. -1 when the UDP length
 * does not fit the packet. */
static __always_inline int dp_udp_payload(struct __sk_buff *skb, const struct dp_pkt *p, __u32 *off, __u32 *len)
{
	if (p->udp_len < 8)
		return -1;
	*off = p->l4_off + 8;
	*len = p->udp_len - 8;
	if (*off + *len > skb->len)
		return -1;
	return 0;
}

/* fqdn_dns_parse_skb, with the length bound checked on the very register
 * handed to bpf_skb_load_bytes (clang otherwise may check a copy, and the
 * verifier then sees an unbounded length in some programs). */
static __always_inline __u32 dp_parse_dns(struct __sk_buff *skb, __u32 off, __u32 len, struct fqdn_dns_scratch *ps,
					  struct fqdn_facts *f)
{
	__u32 n = len;

	asm volatile("" : "+r"(n));
	if (n >= FQDN_DNS_HEADER_LEN && n <= FQDN_MAX_MSG_LEN) {
		if (bpf_skb_load_bytes(skb, off, ps->msg, fqdn_len_bound(n)) < 0)
			len = 0; /* report "truncated at 0", as fqdn_dns_parse_skb does */
	}
	return fqdn_dns_parse(ps->msg, len, ps, f);
}

static __always_inline void dp_malformed_event(const struct fqdn_endpoint *ep, const struct dp_pkt *p,
					       const struct fqdn_facts *f, int response)
{
	struct fqdn_event *e = dp_event_reserve(FQDN_EV_MALFORMED, ep);
	if (!e)
		return;
	e->reason = f->reason;
	e->offset = f->offset;
	e->family = p->family;
	e->proto = p->proto;
	e->port = response ? p->sport : p->dport;
	dp_copy16(e->addr, response ? p->saddr : p->daddr);
	bpf_ringbuf_submit(e, 0);
}

/* Turn the query in the packet into its own answer with rcode `rcode`:
 * swap MACs (tc only), addresses and ports, set QR and RA, clear AA/TC/AD,
 * set the rcode, and patch the UDP checksum for the flags word (address and
 * port swaps leave the checksum unchanged: the sums are commutative). */
#if DP_ATTACH == DP_ATTACH_VETH
static __always_inline int dp_rewrite_answer(struct __sk_buff *skb, const struct dp_pkt *p, __u32 dns_off, __u16 rcode,
					     struct fqdn_dp_scratch *s)
{
	/* In the scratch, not on the stack (6.1's stack budget, datapath_maps.h). */
	__u8 *buf = s->rewrite, *tmp = s->rewrite + 32;
	__u16 old_flags, new_flags;
	__u32 l3 = p->l3_off;

	if (l3 == ETH_HLEN) {
		if (bpf_skb_load_bytes(skb, 0, buf, 12) < 0)
			return -1;
		__builtin_memcpy(tmp, buf, 6);
		__builtin_memcpy(buf, buf + 6, 6);
		__builtin_memcpy(buf + 6, tmp, 6);
		if (bpf_skb_store_bytes(skb, 0, buf, 12, 0) < 0)
			return -1;
	}
	if (p->family == FQDN_AF_INET) {
		__builtin_memcpy(buf, p->daddr, 4);
		__builtin_memcpy(buf + 4, p->saddr, 4);
		if (bpf_skb_store_bytes(skb, l3 + 12, buf, 8, 0) < 0)
			return -1;
	} else {
		__builtin_memcpy(buf, p->daddr, 16);
		__builtin_memcpy(buf + 16, p->saddr, 16);
		if (bpf_skb_store_bytes(skb, l3 + 8, buf, 32, 0) < 0)
			return -1;
	}
	buf[0] = p->dport >> 8;
	buf[1] = p->dport & 0xFF;
	buf[2] = p->sport >> 8;
	buf[3] = p->sport & 0xFF;
	if (bpf_skb_store_bytes(skb, p->l4_off, buf, 4, 0) < 0)
		return -1;
	if (bpf_skb_load_bytes(skb, dns_off + 2, &old_flags, 2) < 0)
		return -1;
	/* Keep opcode, RD and CD; QR=1, RA=1, AA=TC=AD=0, Z=0, rcode. */
	new_flags = bpf_htons((bpf_ntohs(old_flags) & (FQDN_OPCODE_MASK | FQDN_FLAG_RD | FQDN_FLAG_CD)) | FQDN_FLAG_QR |
			      FQDN_FLAG_RA | (rcode & 0xF));
	if (bpf_l4_csum_replace(skb, p->l4_off + 6, old_flags, new_flags,
				sizeof(__u16) | (p->family == FQDN_AF_INET ? BPF_F_MARK_MANGLED_0 : 0)) < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, dns_off + 2, &new_flags, 2, 0) < 0)
		return -1;
	return 0;
}
#endif

/* The fq_inflight key of a query, built in the scratch (zeroed: the padding is
 * part of the key): the endpoint, the client's and the server's ports, the
 * txid and the server, as the query saw them. UDP and TCP, queries and answers. */
static __always_inline struct fqdn_inflight_key *dp_inflight_key(struct fqdn_dp_scratch *s, __u32 endpoint_id,
								 __u16 client_port, __u16 server_port, __u16 txid,
								 __u8 family, const __u8 *server)
{
	struct fqdn_inflight_key *k = &s->inflight_key;

	__builtin_memset(k, 0, sizeof(*k));
	k->endpoint_id = endpoint_id;
	k->client_port = client_port;
	k->server_port = server_port;
	k->txid = txid;
	k->family = family;
	dp_copy16(k->server, server);
	return k;
}

/* Records a query in flight (UDP and TCP): what its answer must match. */
static __always_inline void dp_record_inflight(struct fqdn_dp_scratch *s, const struct fqdn_endpoint *ep,
					       const struct fqdn_facts *f, __u16 client_port, __u16 server_port,
					       __u8 family, const __u8 *server)
{
	struct fqdn_inflight_key *k = dp_inflight_key(s, ep->endpoint_id, client_port, server_port, f->id, family, server);
	struct fqdn_inflight *v = &s->inflight;

	__builtin_memset(v, 0, sizeof(*v));
	v->qname_hash = dp_name_hash(&f->qname);
	v->sent_ns = bpf_ktime_get_boot_ns();
	v->policy_id = ep->policy_id;
	v->qtype = f->qtype;
	if (bpf_map_update_elem(&fq_inflight, k, v, BPF_ANY) < 0)
		dp_count(FQDN_CTR_INFLIGHT_FAILED);
}

#if DP_ATTACH == DP_ATTACH_VETH && FQDN_QUERY_RANDOMISATION
/* Replaces a 16-bit field of a UDP packet (big-endian values), keeping the
 * checksum right (an IPv4 checksum of 0, "none", stays 0). */
static __always_inline int dp_udp_replace16(struct __sk_buff *skb, const struct dp_pkt *p, __u32 off, __u16 from,
					    __u16 to)
{
	__u16 old_be = bpf_htons(from), new_be = bpf_htons(to);

	if (bpf_l4_csum_replace(skb, p->l4_off + 6, old_be, new_be,
				sizeof(__u16) | (p->family == FQDN_AF_INET ? BPF_F_MARK_MANGLED_0 : 0)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, off, &new_be, sizeof(new_be), 0);
}

/* Query randomisation (Documentation/Security.md, class 5): the pod knows the
 * port and id it sent, so an accomplice could forge their answer. The query
 * leaves with a port (1024..65535) and an id the kernel drew instead; the
 * in-flight entry, keyed by the new port, keeps the pod's, which the answer
 * gets back. DP_PASS, or DP_DROP when no free port was found or the rewrite
 * failed (the query is then never seen by the server). */
static __always_inline int dp_randomise_query(struct __sk_buff *skb, struct fqdn_dp_scratch *s,
					      const struct fqdn_endpoint *ep, const struct fqdn_facts *f,
					      const struct dp_pkt *p, __u32 dns_off)
{
	struct fqdn_inflight *v = &s->inflight;
	struct fqdn_inflight_key *k = 0;
	__u16 port = 0;
	__u32 r;
	int i, ok = 0;

	__builtin_memset(v, 0, sizeof(*v));
	v->qname_hash = dp_name_hash(&f->qname);
	v->sent_ns = bpf_ktime_get_boot_ns();
	v->policy_id = ep->policy_id;
	v->qtype = f->qtype;
	v->orig_port = p->sport;
	v->orig_txid = f->id;
	v->flags = FQDN_INF_F_RANDOMISED;
	for (i = 0; i < FQDN_RANDOM_PORT_TRIES; i++) {
		r = bpf_get_prandom_u32();
		port = FQDN_RANDOM_PORT_MIN + (r >> 16) % (65536 - FQDN_RANDOM_PORT_MIN);
		v->wire_txid = (__u16)r;
		k = dp_inflight_key(s, ep->endpoint_id, port, p->dport, 0, p->family, p->daddr);
		if (bpf_map_update_elem(&fq_inflight, k, v, BPF_NOEXIST) == 0) {
			ok = 1;
			break;
		}
	}
	if (!ok || !k) {
		dp_count(FQDN_CTR_INFLIGHT_FAILED);
		return DP_DROP;
	}
	if (dp_udp_replace16(skb, p, p->l4_off, p->sport, port) < 0 ||
	    dp_udp_replace16(skb, p, dns_off, f->id, v->wire_txid) < 0) {
		bpf_map_delete_elem(&fq_inflight, k);
		dp_count(FQDN_CTR_INFLIGHT_FAILED);
		return DP_DROP;
	}
	return DP_PASS;
}
#endif

#define DP_DNS_OPCODE(flags) (((flags) >> 11) & 0xF)

/* Whether a parsed DNS message toward a trusted server is a query the DNS
 * rules can check: QR clear, opcode QUERY, exactly one question, no answer
 * or authority records, and at most one additional record, which must be
 * an EDNS OPT (root owner, type 41). 0, or the FQDN_QREJ_* reason. UDP and
 * TCP (len: the message's length in ps->msg). */
static __always_inline __u32 dp_query_shape(const struct fqdn_dns_scratch *ps, const struct fqdn_facts *f, __u32 len)
{
	__u32 ar;

	if (f->flags & FQDN_FLAG_QR)
		return FQDN_QREJ_RESPONSE;
	if (DP_DNS_OPCODE(f->flags) != 0)
		return FQDN_QREJ_OPCODE;
	if (f->qdcount != 1)
		return FQDN_QREJ_QDCOUNT;
	if (f->ancount || f->nscount || f->arcount > 1)
		return FQDN_QREJ_RECORDS;
	if (f->arcount == 1) {
		/* The question's name cannot be compressed (a pointer could only
		 * point into the header, which the parser refuses): the
		 * additional record starts after its wire bytes, type and class. */
		ar = FQDN_DNS_HEADER_LEN + f->qname.len + 4;
		if (ar + 3 > len || ar + 3 > FQDN_MAX_MSG_LEN)
			return FQDN_QREJ_RECORDS;
		if (ps->msg[fqdn_keep(ar) & FQDN_DNS_IDX_MASK] != 0 ||
		    ps->msg[fqdn_keep(ar + 1) & FQDN_DNS_IDX_MASK] != 0 ||
		    ps->msg[fqdn_keep(ar + 2) & FQDN_DNS_IDX_MASK] != FQDN_TYPE_OPT)
			return FQDN_QREJ_RECORDS;
	}
	return 0;
}

/* The event of a query that does not pass (UDP and TCP): type
 * FQDN_EV_QUERY_REJECTED (reason FQDN_QREJ_*) or FQDN_EV_QUERY_REFUSED
 * (reason: what the client gets, FQDN_REFUSE_*); the question when parsed. */
static __always_inline void dp_query_event(const struct fqdn_endpoint *ep, const struct dp_pkt *p, __u32 type,
					   __u32 reason, const struct fqdn_facts *f)
{
	struct fqdn_event *e = dp_event_reserve(type, ep);

	if (!e)
		return;
	e->reason = reason;
	e->family = p->family;
	e->proto = p->proto;
	e->port = p->dport;
	dp_copy16(e->addr, p->daddr);
	if (f) {
		e->txid = f->id;
		e->qtype = f->qtype;
		dp_copy_name(&e->name, &f->qname);
	}
	bpf_ringbuf_submit(e, 0);
}

/* A DNS message toward a trusted server in a shape the rules cannot check:
 * dropped, counted, reported (name: the first question, when parsed). */
static __always_inline void dp_query_rejected(const struct fqdn_endpoint *ep, const struct dp_pkt *p, __u32 why,
					      const struct fqdn_facts *f)
{
	dp_count(FQDN_CTR_DNS_QUERIES_REJECTED);
	dp_query_event(ep, p, FQDN_EV_QUERY_REJECTED, why, f);
}

/*
 * A UDP query from an endpoint to a trusted server. Returns DP_PASS (allowed,
 * recorded in flight), DP_DROP, or DP_REDIRECT (rewritten into a REFUSED or
 * NXDOMAIN answer; only when can_answer).
 */
static __always_inline int dp_dns_query(struct __sk_buff *skb, const struct fqdn_endpoint *ep,
					const struct fqdn_policy_settings *pol, const struct dp_pkt *p, int can_answer)
{
	struct fqdn_dns_scratch *ps = fqdn_dns_scratch_get();
	struct fqdn_dp_scratch *s = dp_scratch();
	struct fqdn_facts *f;
	__u32 off, len, action, why;
	__u64 tags = 0;

	if (!ps || !s)
		return DP_DROP;
	f = &s->facts;
	dp_count(FQDN_CTR_DNS_QUERIES);
	if (dp_udp_payload(skb, p, &off, &len) < 0) {
		f->reason = FQDN_ERR_TRUNCATED;
		f->offset = 0;
		goto malformed;
	}
	dp_parse_dns(skb, off, len, ps, f);
	if (f->verdict != FQDN_VERDICT_OK)
		goto malformed;
	why = dp_query_shape(ps, f, len);
	if (why) {
		dp_query_rejected(ep, p, why, f);
		return DP_DROP;
	}

	if (pol && (pol->flags & FQDN_POL_F_DNS_RULES)) {
		tags = dp_trie_tags(ep->policy_id, &f->qname, &s->trie);
		if (!(tags & DP_TAG_QUERY_BIT)) {
			action = pol->refused_action;
			if (!can_answer)
				action = FQDN_REFUSE_DROP;
			dp_query_event(ep, p, FQDN_EV_QUERY_REFUSED, action, f);
#if DP_ATTACH == DP_ATTACH_VETH
			if (action != FQDN_REFUSE_DROP &&
			    dp_rewrite_answer(skb, p, off, action == FQDN_REFUSE_NXDOMAIN ? 3 : 5, s) == 0) {
				dp_count(FQDN_CTR_DNS_QUERIES_REFUSED);
				/* veth_egress lets it through untouched. */
				skb->mark = DP_MARK_KERNEL_ANSWER;
				return DP_REDIRECT;
			}
#endif
			dp_count(FQDN_CTR_DNS_QUERIES_DROPPED);
			return DP_DROP;
		}
	}

#if DP_ATTACH == DP_ATTACH_VETH && FQDN_QUERY_RANDOMISATION
	return dp_randomise_query(skb, s, ep, f, p, off);
#else
	dp_record_inflight(s, ep, f, p->sport, p->dport, p->family, p->daddr);
	return DP_PASS;
#endif

malformed:
	dp_count(FQDN_CTR_DNS_QUERIES_MALFORMED);
	dp_malformed_event(ep, p, f, 0);
	return DP_DROP;
}

/* ------------------------------------------------------------------ */
/* DNS responses: learning                                             */
/* ------------------------------------------------------------------ */

static __always_inline void dp_not_learned(const struct fqdn_endpoint *ep, const struct dp_pkt *p, __u32 why,
					   __u16 txid, __u32 counter)
{
	struct fqdn_event *e;

	dp_count(counter);
	e = dp_event_reserve(FQDN_EV_NOT_LEARNED, ep);
	if (!e)
		return;
	e->reason = why;
	e->family = p->family;
	e->proto = p->proto;
	e->port = p->sport;
	e->txid = txid;
	dp_copy16(e->addr, p->saddr);
	bpf_ringbuf_submit(e, 0);
}

/* An answer matching no in-flight query (UDP and TCP). One that could teach
 * nothing anyway (error rcode, TC) is no spoofing attempt worth an event. */
static __always_inline void dp_no_inflight(const struct fqdn_endpoint *ep, const struct dp_pkt *p,
					   const struct fqdn_facts *f)
{
	if (!f->credits)
		dp_count(FQDN_CTR_DNS_RESPONSES_NOT_CREDITED);
	else
		dp_not_learned(ep, p, FQDN_NL_NO_INFLIGHT, f->id, FQDN_CTR_DNS_RESPONSES_NO_INFLIGHT);
}

struct dp_learn_ctx {
	const struct fqdn_endpoint *ep;
	struct fqdn_facts *facts;
	struct fqdn_name *name; /* the fq_names entry of the qname */
	__u64 name_hash;
	__u64 now;
	__u32 policy_id;
	__u32 rule_mask;
	__u32 min_ttl;
	__u32 max_ips;
};

/* Drop the address in one ring slot from the allowed map when it still
 * belongs to this name. */
static __always_inline void dp_evict(struct dp_learn_ctx *c, const struct fqdn_slot *old)
{
	struct fqdn_allow *a;
	struct fqdn_event *e;
	int gone = 0;

	if (old->family == FQDN_AF_INET) {
		struct fqdn_allow4_key k = { .endpoint_id = c->ep->endpoint_id };
		__builtin_memcpy(k.addr, old->addr, 4);
		a = bpf_map_lookup_elem(&fq_allow4, &k);
		if (a && a->name_hash == c->name_hash)
			gone = bpf_map_delete_elem(&fq_allow4, &k) == 0;
	} else {
		struct fqdn_allow6_key k = { .endpoint_id = c->ep->endpoint_id };
		__builtin_memcpy(k.addr, old->addr, 16);
		a = bpf_map_lookup_elem(&fq_allow6, &k);
		if (a && a->name_hash == c->name_hash)
			gone = bpf_map_delete_elem(&fq_allow6, &k) == 0;
	}
	if (!gone)
		return;
	dp_count(FQDN_CTR_ADDRS_EVICTED);
	e = dp_event_reserve(FQDN_EV_EVICTED, c->ep);
	if (!e)
		return;
	e->family = old->family;
	dp_copy16(e->addr, old->addr);
	dp_copy_name(&e->name, &c->facts->qname);
	bpf_ringbuf_submit(e, 0);
}

static long dp_learn_one(__u32 i, void *ctx)
{
	struct dp_learn_ctx *c = ctx;
	struct fqdn_credited_addr *ca;
	struct fqdn_allow *cur, v = {};
	struct fqdn_event *e;
	__u32 ttl, slot_no, refreshed = 0, new_key = 0;
	int err;

	if (i >= c->facts->addr_count || i >= FQDN_MAX_CREDITED)
		return 1;
	ca = &c->facts->addrs[i & (FQDN_MAX_CREDITED - 1)];
	ttl = ca->ttl > c->min_ttl ? ca->ttl : c->min_ttl;
	v.expiry_ns = c->now + (__u64)ttl * DP_NS_PER_SEC;
	v.name_hash = c->name_hash;
	v.policy_id = c->policy_id;
	v.rule_mask = c->rule_mask;
	v.ttl = ca->ttl;

	if (ca->family == FQDN_AF_INET) {
		struct fqdn_allow4_key k = { .endpoint_id = c->ep->endpoint_id };
		__builtin_memcpy(k.addr, ca->addr, 4);
		cur = bpf_map_lookup_elem(&fq_allow4, &k);
		if (cur && cur->name_hash != c->name_hash && cur->policy_id == c->policy_id &&
		    c->now < cur->expiry_ns) {
			/* Shared with another live name: keep both names' rules and
			 * the later expiry. */
			v.rule_mask |= cur->rule_mask;
			if (cur->expiry_ns > v.expiry_ns)
				v.expiry_ns = cur->expiry_ns;
		}
		refreshed = cur && cur->name_hash == c->name_hash;
		new_key = !cur;
		err = bpf_map_update_elem(&fq_allow4, &k, &v, BPF_ANY);
	} else if (ca->family == FQDN_AF_INET6) {
		struct fqdn_allow6_key k = { .endpoint_id = c->ep->endpoint_id };
		__builtin_memcpy(k.addr, ca->addr, 16);
		cur = bpf_map_lookup_elem(&fq_allow6, &k);
		if (cur && cur->name_hash != c->name_hash && cur->policy_id == c->policy_id &&
		    c->now < cur->expiry_ns) {
			v.rule_mask |= cur->rule_mask;
			if (cur->expiry_ns > v.expiry_ns)
				v.expiry_ns = cur->expiry_ns;
		}
		refreshed = cur && cur->name_hash == c->name_hash;
		new_key = !cur;
		err = bpf_map_update_elem(&fq_allow6, &k, &v, BPF_ANY);
	} else {
		return 0;
	}
	if (err < 0) {
		dp_count(FQDN_CTR_LEARN_FAILED);
		return 0;
	}

	if (refreshed) {
		dp_count(FQDN_CTR_ADDRS_REFRESHED);
	} else {
		/* A new address for this name: it takes the next ring slot and
		 * pushes out the address there (max IPs per name). */
		struct fqdn_slot_key sk = { .endpoint_id = c->ep->endpoint_id, .name_hash = c->name_hash };
		struct fqdn_slot ns = {}, *old;

		slot_no = __sync_fetch_and_add(&c->name->next_slot, 1);
		sk.slot = c->max_ips ? slot_no % c->max_ips : 0;
		old = bpf_map_lookup_elem(&fq_name_slots, &sk);
		if (old && !dp_same16(old->addr, ca->addr))
			dp_evict(c, old);
		ns.family = ca->family;
		dp_copy16(ns.addr, ca->addr);
		bpf_map_update_elem(&fq_name_slots, &sk, &ns, BPF_ANY);
		/* Only keys that did not exist: an address another name already
		 * holds is new for this name (ring slot above) but not a new map
		 * entry, and the LRU-eviction metric (learned - evicted - removed
		 * - present) needs exactly the entries created. */
		if (new_key)
			dp_count(FQDN_CTR_ADDRS_LEARNED);
	}

	e = dp_event_reserve(FQDN_EV_LEARNED, c->ep);
	if (e) {
		e->reason = refreshed; /* 0 new, 1 refreshed */
		e->ttl = ca->ttl;
		e->expiry_ns = v.expiry_ns;
		e->qtype = c->facts->qtype;
		e->txid = c->facts->id;
		e->family = ca->family;
		dp_copy16(e->addr, ca->addr);
		dp_copy_name(&e->name, &c->facts->qname);
		bpf_ringbuf_submit(e, 0);
	}
	return 0;
}

/* A response that matched its query (which the caller consumed): when the
 * parser credited its addresses, learn them for the qname if the policy's
 * trie matches it. Shared by UDP (dp_dns_response) and TCP
 * (fqdn_tcp_response, dns_tcp.h). nh: the qname's hash. */
static __always_inline void dp_learn_response(const struct fqdn_endpoint *ep, const struct fqdn_policy_settings *pol,
					      struct fqdn_dp_scratch *s, struct fqdn_facts *f, __u64 nh)
{
	struct fqdn_name_key *nk = &s->name_key;
	struct dp_learn_ctx lc = {};
	struct fqdn_name *name;
	__u64 tags;

	if (!f->credits || f->addr_count == 0) {
		if (!f->credits)
			dp_count(FQDN_CTR_DNS_RESPONSES_NOT_CREDITED);
		return;
	}

	tags = dp_trie_tags(ep->policy_id, &f->qname, &s->trie) & DP_RULE_BITS;
	if (!tags)
		return;

	__builtin_memset(nk, 0, sizeof(*nk));
	nk->endpoint_id = ep->endpoint_id;
	nk->name_hash = nh;
	name = bpf_map_lookup_elem(&fq_names, nk);
	if (!name) {
		__builtin_memset(&s->name, 0, sizeof(s->name));
		dp_copy_name(&s->name.name, &f->qname);
		bpf_map_update_elem(&fq_names, nk, &s->name, BPF_NOEXIST);
		name = bpf_map_lookup_elem(&fq_names, nk);
		if (!name) {
			dp_count(FQDN_CTR_LEARN_FAILED);
			return;
		}
	}
	lc.now = bpf_ktime_get_boot_ns();
	name->learned_ns = lc.now;
	name->policy_id = ep->policy_id;
	name->rule_mask = (__u32)tags;

	lc.ep = ep;
	lc.facts = f;
	lc.name = name;
	lc.name_hash = nh;
	lc.policy_id = ep->policy_id;
	lc.rule_mask = (__u32)tags;
	lc.min_ttl = pol ? pol->min_ttl : 0;
	lc.max_ips = pol && pol->max_ips_per_name ? pol->max_ips_per_name : FQDN_DEFAULT_MAX_IPS_PER_NAME;
	if (lc.max_ips > FQDN_MAX_IPS_PER_NAME_LIMIT)
		lc.max_ips = FQDN_MAX_IPS_PER_NAME_LIMIT;
	bpf_loop(FQDN_MAX_CREDITED, dp_learn_one, &lc, 0);
}

#if DP_ATTACH == DP_ATTACH_VETH && FQDN_QUERY_RANDOMISATION
/* Gives an answer to a randomised query the pod's own port and id back. */
static __always_inline int dp_restore_answer(struct __sk_buff *skb, const struct dp_pkt *p, __u16 orig_port,
					     __u16 wire_txid, __u16 orig_txid)
{
	if (dp_udp_replace16(skb, p, p->l4_off + 2, p->dport, orig_port) < 0 ||
	    dp_udp_replace16(skb, p, p->l4_off + 8, wire_txid, orig_txid) < 0)
		return DP_DROP;
	return DP_PASS;
}

/* An answer the parser could not read (malformed, or the first fragment of a
 * fragmented one) on a randomised query's 5-tuple: it teaches nothing, but
 * with the id the server saw it reaches the pod (port and id restored), which
 * then sees what the server sent. Any other id: dropped. Consumes the query. */
static __always_inline int dp_unparsed_answer(struct __sk_buff *skb, const struct fqdn_endpoint *ep,
					      const struct dp_pkt *p, struct fqdn_dp_scratch *s)
{
	struct fqdn_inflight_key *k = dp_inflight_key(s, ep->endpoint_id, p->dport, p->sport, 0, p->family, p->saddr);
	struct fqdn_inflight *inf = bpf_map_lookup_elem(&fq_inflight, k);
	struct fqdn_inflight *q = &s->inflight; /* the entry, kept in the scratch (stack budget) */
	__u16 id_be = 0;

	if (!inf || !(inf->flags & FQDN_INF_F_RANDOMISED))
		return DP_PASS;
	*q = *inf;
	bpf_map_delete_elem(&fq_inflight, k);
	if (bpf_skb_load_bytes(skb, p->l4_off + 8, &id_be, 2) < 0 || bpf_ntohs(id_be) != q->wire_txid) {
		dp_not_learned(ep, p, FQDN_NL_ID_MISMATCH, bpf_ntohs(id_be), FQDN_CTR_DNS_RESPONSES_ID_MISMATCH);
		return DP_DROP;
	}
	return dp_restore_answer(skb, p, q->orig_port, q->wire_txid, q->orig_txid);
}
#endif

/* A UDP response from a trusted server toward an endpoint. A response that
 * teaches nothing is still delivered (the application then cannot reach what
 * it names), except on a randomised query's 5-tuple: there the first answer
 * consumes the query, and one with another id or question is dropped
 * (DP_DROP; an accomplice gets one guess per query among 2^32 values,
 * Documentation/Security.md); the right one gets the pod's port and id back. */
static __always_inline int dp_dns_response(struct __sk_buff *skb, const struct fqdn_endpoint *ep,
					   const struct fqdn_policy_settings *pol, const struct dp_pkt *p)
{
	struct fqdn_dns_scratch *ps = fqdn_dns_scratch_get();
	struct fqdn_dp_scratch *s = dp_scratch();
	struct fqdn_facts *f;
	struct fqdn_inflight *inf;
	struct fqdn_inflight_key *k;
	__u32 off, len;
	__u64 nh;

	if (!ps || !s)
		return DP_PASS;
	f = &s->facts;
	dp_count(FQDN_CTR_DNS_RESPONSES);
	if (dp_udp_payload(skb, p, &off, &len) < 0) {
		f->reason = FQDN_ERR_TRUNCATED;
		f->offset = 0;
		goto malformed;
	}
	dp_parse_dns(skb, off, len, ps, f);
	if (f->verdict != FQDN_VERDICT_OK)
		goto malformed;
	if (!(f->flags & FQDN_FLAG_QR))
		goto unparsed;

#if DP_ATTACH == DP_ATTACH_VETH && FQDN_QUERY_RANDOMISATION
	k = dp_inflight_key(s, ep->endpoint_id, p->dport, p->sport, 0, p->family, p->saddr);
#else
	k = dp_inflight_key(s, ep->endpoint_id, p->dport, p->sport, f->id, p->family, p->saddr);
#endif
	inf = bpf_map_lookup_elem(&fq_inflight, k);
#if DP_ATTACH == DP_ATTACH_VETH && FQDN_QUERY_RANDOMISATION
	if (inf && !(inf->flags & FQDN_INF_F_RANDOMISED))
		inf = 0; /* a DNS-over-TCP query's entry (same port and id 0) */
#endif
	if (!inf) {
		dp_no_inflight(ep, p, f);
		return DP_PASS;
	}
	nh = f->qdcount == 1 ? dp_name_hash(&f->qname) : 0;
#if DP_ATTACH == DP_ATTACH_VETH && FQDN_QUERY_RANDOMISATION
	{
		/* The entry, kept in the scratch (stack budget, 6.1): learning
		 * does not use s->inflight. */
		struct fqdn_inflight *q = &s->inflight;

		*q = *inf;
		bpf_map_delete_elem(&fq_inflight, k);
		if (f->id != q->wire_txid || nh != q->qname_hash) {
			dp_not_learned(ep, p, FQDN_NL_ID_MISMATCH, f->id, FQDN_CTR_DNS_RESPONSES_ID_MISMATCH);
			return DP_DROP;
		}
		dp_learn_response(ep, pol, s, f, nh);
		return dp_restore_answer(skb, p, q->orig_port, q->wire_txid, q->orig_txid);
	}
#else
	if (nh != inf->qname_hash) {
		/* Same ids, other question: not the answer to our query (and it
		 * does not consume the query). */
		dp_not_learned(ep, p, FQDN_NL_QNAME_MISMATCH, f->id, FQDN_CTR_DNS_RESPONSES_QNAME_MISMATCH);
		return DP_PASS;
	}
	bpf_map_delete_elem(&fq_inflight, k);
	dp_learn_response(ep, pol, s, f, nh);
	return DP_PASS;
#endif

malformed:
	dp_count(FQDN_CTR_DNS_RESPONSES_MALFORMED);
	dp_malformed_event(ep, p, f, 1);
unparsed:
#if DP_ATTACH == DP_ATTACH_VETH && FQDN_QUERY_RANDOMISATION
	return dp_unparsed_answer(skb, ep, p, s);
#else
	return DP_PASS;
#endif
}

/* ------------------------------------------------------------------ */
/* Entry points (called by the *.bpf.c programs)                       */
/* ------------------------------------------------------------------ */

/*
 * The heavy work runs in GLOBAL functions (non-static, noinline): the verifier
 * checks each once, with only their argument types known, instead of once per
 * distinct caller state (IPv4/IPv6, TCP/UDP, ... multiplied through the parser
 * and the trie walk: 955k of the 1M instruction budget when inlined; see
 * Documentation/Datapath.md). They take the context and the endpoint as two
 * scalars and re-read the few header fields they need.
 *
 * DP_ATTACH (top of this header) says where the program runs.
 */

static __always_inline int dp_headers(struct __sk_buff *skb, struct dp_pkt *p)
{
#if DP_ATTACH == DP_ATTACH_CGROUP
	return dp_parse(skb, 0, skb->protocol, p);
#else
	return dp_parse(skb, ETH_HLEN, 0, p);
#endif
}

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

/* A UDP DNS query of the endpoint to a trusted server (the caller checked). */
__attribute__((noinline)) int fqdn_dp_query(struct __sk_buff *skb, __u64 ep_lo, __u64 ep_hi)
{
	struct fqdn_policy_settings *pol;
	struct fqdn_endpoint ep;
	struct dp_pkt p;
	__u32 pid;

	if (!skb)
		return DP_PASS;
	dp_ep_unpack(&ep, ep_lo, ep_hi);
	/* (Every argument must be used: clang leaves an unused one unset and
	 * the verifier refuses the call.) */
	if (!(ep.flags & FQDN_EP_F_ENFORCE))
		return DP_PASS;
	if (dp_headers(skb, &p) < 0 || p.proto != DP_IPPROTO_UDP || !p.l4_off)
		return DP_PASS;
	pid = ep.policy_id;
	pol = bpf_map_lookup_elem(&fq_policy, &pid);
	return dp_dns_query(skb, &ep, pol, &p, DP_ATTACH == DP_ATTACH_VETH);
}

#if DP_ATTACH == DP_ATTACH_VETH
#define DP_AF_INET6 10 /* AF_INET6 (sys/socket.h) */

/* IPv6 neighbour discovery the pod needs to reach its gateway: a router
 * solicitation, neighbour solicitation or advertisement (RFC 4861) with hop
 * limit 255, toward a link-scope multicast group, a link-local address or an
 * address of the node itself (the routing table says "local": it is not
 * forwarded). Anything else of these types could leave the link. */
static __always_inline int dp_neighbor_on_link(struct __sk_buff *skb, const struct dp_pkt *p)
{
	struct bpf_fib_lookup fib = {};

	if (p->icmp_type != DP_ICMP6_ROUTER_SOLICIT && p->icmp_type != DP_ICMP6_NEIGH_SOLICIT &&
	    p->icmp_type != DP_ICMP6_NEIGH_ADVERT)
		return 0;
	if (p->hop_limit != 255)
		return 0;
	if (p->daddr[0] == 0xff && (p->daddr[1] & 0x0F) <= 2)
		return 1;
	if (p->daddr[0] == 0xfe && (p->daddr[1] & 0xC0) == 0x80)
		return 1;
	fib.family = DP_AF_INET6;
	fib.l4_protocol = DP_IPPROTO_ICMPV6;
	fib.ifindex = skb->ingress_ifindex;
	__builtin_memcpy(fib.ipv6_src, p->saddr, 16);
	__builtin_memcpy(fib.ipv6_dst, p->daddr, 16);
	return bpf_fib_lookup(skb, &fib, sizeof(fib), 0) == BPF_FIB_LKUP_RET_NOT_FWDED;
}
#endif

/* The egress decision for a packet of an enforcing endpoint that is not DNS
 * toward a trusted server: unclassified frames, ARP, neighbour discovery,
 * then the policy (dp_check_egress). */
__attribute__((noinline)) int fqdn_dp_check(struct __sk_buff *skb, __u64 ep_lo, __u64 ep_hi)
{
	struct fqdn_policy_settings *pol;
	struct fqdn_endpoint ep;
	struct dp_pkt p;
	__u32 pid;

	if (!skb)
		return DP_DROP;
	dp_ep_unpack(&ep, ep_lo, ep_hi);
	if (!(ep.flags & FQDN_EP_F_ENFORCE))
		return DP_PASS;
	if (dp_headers(skb, &p) < 0)
		return dp_deny_unclassified(&ep, &p, FQDN_DENY_UNCLASSIFIED);
	if (!p.family) {
#if DP_ATTACH == DP_ATTACH_VETH
		/* ARP resolves the gateway; it never leaves the link. */
		if (p.ether == ETH_P_ARP) {
			dp_count(FQDN_CTR_EGRESS_ALLOWED_OTHER);
			return DP_PASS;
		}
#endif
		return dp_deny_unclassified(&ep, &p, FQDN_DENY_UNCLASSIFIED);
	}
#if DP_ATTACH == DP_ATTACH_VETH
	if (p.family == FQDN_AF_INET6 && p.proto == DP_IPPROTO_ICMPV6 && p.l4_off && DP_ICMP6_IS_ND(p.icmp_type)) {
		if (dp_neighbor_on_link(skb, &p)) {
			dp_count(FQDN_CTR_EGRESS_ALLOWED_OTHER);
			return DP_PASS;
		}
		return dp_deny_unclassified(&ep, &p, FQDN_DENY_NEIGHBOR);
	}
#endif
	pid = ep.policy_id;
	pol = bpf_map_lookup_elem(&fq_policy, &pid);
	return dp_check_egress(&ep, pol, &p);
}

/* A UDP packet from a trusted server toward the endpoint (the caller checked). */
__attribute__((noinline)) int fqdn_dp_response(struct __sk_buff *skb, __u64 ep_lo, __u64 ep_hi)
{
	struct fqdn_policy_settings *pol;
	struct fqdn_endpoint ep;
	struct dp_pkt p;
	__u32 pid;

	if (!skb)
		return DP_PASS;
	dp_ep_unpack(&ep, ep_lo, ep_hi);
	if (!(ep.flags & FQDN_EP_F_LEARN))
		return DP_PASS;
	if (dp_headers(skb, &p) < 0 || p.proto != DP_IPPROTO_UDP || !p.l4_off)
		return DP_PASS;
	pid = ep.policy_id;
	pol = bpf_map_lookup_elem(&fq_policy, &pid);
	return dp_dns_response(skb, &ep, pol, &p);
}

#if FQDN_TCP_TX_CHECK
/* Bytes compared per bpf_loop step. */
#define DP_TX_CHUNK 64

struct dp_tx_cmp {
	struct __sk_buff *skb;
	struct fqdn_tcp_tx *tx;
	__u32 off; /* skb offset of the payload */
	__u32 pos; /* stream offset of its first byte */
	__u32 len;
	__u32 differs;
};

static long dp_tx_cmp_step(__u64 i, void *arg)
{
	struct dp_tx_cmp *c = arg;
	__u8 buf[DP_TX_CHUNK];
	__u32 at = (__u32)i * DP_TX_CHUNK, n, j;

	if (at >= c->len)
		return 1;
	n = c->len - at;
	if (n > DP_TX_CHUNK)
		n = DP_TX_CHUNK;
	/* 1..DP_TX_CHUNK, in a form the verifier sees (n >= 1 here). */
	n = ((n - 1) & (DP_TX_CHUNK - 1)) + 1;
	if (bpf_skb_load_bytes(c->skb, c->off + at, buf, n) < 0) {
		c->differs = 1;
		return 1;
	}
#pragma unroll
	for (j = 0; j < DP_TX_CHUNK; j++) {
		if (j >= n)
			break;
		if (buf[j] != c->tx->ring[(c->pos + at + j) & (FQDN_TCP_TX_RING - 1)]) {
			c->differs = 1;
			return 1;
		}
	}
	return 0;
}

/* A TCP segment with data from the endpoint toward a trusted server, on the
 * connection whose fq_tcp_tx entry is tx (seq: its sequence number, data at
 * skb offset off, len bytes): 1 when the payload is exactly what the
 * connection's socket wrote at that place in the stream (recorded by the
 * sk_msg program after the query passed the DNS rules). Retransmissions and
 * segments merged or split by TCP all carry the written bytes and pass; a
 * segment crafted with a raw socket or AF_PACKET does not, nor a
 * retransmission of bytes no longer kept. */
static __always_inline int dp_tcp_written(struct __sk_buff *skb, struct fqdn_tcp_tx *tx, __u32 seq, __u32 off, __u32 len)
{
	struct dp_tx_cmp c = {};
	__u32 kept;

	c.pos = seq - tx->head.stream_seq;
	/* Bytes written from pos on; all of the segment's must be among them,
	 * and still in the ring. */
	kept = tx->head.written - c.pos;
	if (len > FQDN_TCP_TX_RING || kept > FQDN_TCP_TX_RING || kept > tx->head.written || kept < len)
		return 0;
	c.skb = skb;
	c.tx = tx;
	c.off = off;
	c.len = len;
	bpf_loop((len + DP_TX_CHUNK - 1) / DP_TX_CHUNK, dp_tx_cmp_step, &c, 0);
	return !c.differs;
}

#if DP_ATTACH == DP_ATTACH_VETH
#define DP_TCPOPT_EOL 0
#define DP_TCPOPT_NOP 1
#define DP_TCPOPT_SACK_PERM 4

struct dp_tcp_opts {
	__u8 o[64]; /* 40 option bytes; indexes masked to 63 for the verifier */
	__u32 n;     /* option bytes */
	__u32 i;     /* the next option's offset */
	__u32 found; /* offset of SACK-permitted + 1; 0: none */
};

/* One option per step (a bpf_loop callback: verified once, whatever the
 * options). */
static long dp_tcp_opt_step(__u64 step, void *arg)
{
	struct dp_tcp_opts *t = arg;
	__u32 i = t->i & 63, len;
	__u8 kind;

	if (i >= 39 || i + 1 >= t->n)
		return 1;
	kind = t->o[i];
	if (kind == DP_TCPOPT_EOL)
		return 1;
	if (kind == DP_TCPOPT_NOP) {
		t->i = i + 1;
		return 0;
	}
	len = t->o[(i + 1) & 63];
	if (kind == DP_TCPOPT_SACK_PERM && len == 2) {
		t->found = i + 1;
		return 1;
	}
	if (len < 2)
		return 1;
	t->i = i + len;
	return 0;
}

/* Takes SACK-permitted out of a SYN (two NOPs in its place): SACK blocks
 * carry sequence numbers, which this datapath shifts and the pod must not
 * see. 0, or -1 when the SYN cannot be rewritten. */
static __always_inline int dp_tcp_no_sack(struct __sk_buff *skb, __u32 l4, __u32 hdr)
{
	struct dp_tcp_opts t = {};
	__u16 nops = bpf_htons((DP_TCPOPT_NOP << 8) | DP_TCPOPT_NOP);
	__u8 w[4], v[4];
	__u32 i, b;
	__s64 d;

	t.n = hdr - 20;
	if (t.n < 2 || t.n > 40)
		return 0;
	if (bpf_skb_load_bytes(skb, l4 + 20, t.o, t.n) < 0)
		return -1;
	bpf_loop(40, dp_tcp_opt_step, &t, 0);
	if (!t.found)
		return 0;
	i = (t.found - 1) & 63;
	if (i > 38)
		return -1;
	/* The checksum sums 16-bit words from the TCP header's start (options
	 * start at an even offset): the 4 bytes from the even offset at or
	 * before the option cover it, wherever it starts. */
	b = i & ~1U;
	asm volatile("" : "+r"(b)); /* an index, not an aligned pointer */
	if (b > 38)
		return -1;
	__builtin_memcpy(w, &t.o[b], 4);
	__builtin_memcpy(v, w, 4);
	if (i & 1) {
		v[1] = DP_TCPOPT_NOP;
		v[2] = DP_TCPOPT_NOP;
	} else {
		v[0] = DP_TCPOPT_NOP;
		v[1] = DP_TCPOPT_NOP;
	}
	d = bpf_csum_diff((__be32 *)w, 4, (__be32 *)v, 4, 0);
	if (d < 0 || bpf_l4_csum_replace(skb, l4 + 16, 0, d, 0) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, l4 + 20 + i, &nops, 2, 0) < 0 ? -1 : 0;
}

#define DP_ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define DP_SIPROUND                                                                                              \
	do {                                                                                                     \
		v0 += v1;                                                                                        \
		v1 = DP_ROTL64(v1, 13);                                                                          \
		v1 ^= v0;                                                                                        \
		v0 = DP_ROTL64(v0, 32);                                                                          \
		v2 += v3;                                                                                        \
		v3 = DP_ROTL64(v3, 16);                                                                          \
		v3 ^= v2;                                                                                        \
		v0 += v3;                                                                                        \
		v3 = DP_ROTL64(v3, 21);                                                                          \
		v3 ^= v0;                                                                                        \
		v2 += v1;                                                                                        \
		v1 = DP_ROTL64(v1, 17);                                                                          \
		v1 ^= v2;                                                                                        \
		v2 = DP_ROTL64(v2, 32);                                                                          \
	} while (0)

/* SipHash-2-4 of a connection's key (its 44 bytes and 4 zero bytes, as six
 * little-endian words) under the secret: the two sequence number shifts. */
static __always_inline __u64 dp_tcp_shifts(const struct fqdn_tcp_tx_key *k, const struct fqdn_secret *key)
{
	__u64 m[6] = {}, v0, v1, v2, v3, b = (__u64)48 << 56;
	int i;

	__builtin_memcpy(m, k, sizeof(*k));
	v0 = key->k0 ^ 0x736f6d6570736575ULL;
	v1 = key->k1 ^ 0x646f72616e646f6dULL;
	v2 = key->k0 ^ 0x6c7967656e657261ULL;
	v3 = key->k1 ^ 0x7465646279746573ULL;
#pragma unroll
	for (i = 0; i < 6; i++) {
		v3 ^= m[i];
		DP_SIPROUND;
		DP_SIPROUND;
		v0 ^= m[i];
	}
	v3 ^= b;
	DP_SIPROUND;
	DP_SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	DP_SIPROUND;
	DP_SIPROUND;
	DP_SIPROUND;
	DP_SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Shifts the sequence and acknowledgement numbers of a segment between a
 * veth endpoint and a trusted server's DNS port (fqdn_shared.h, fq_secret);
 * SACK-permitted is taken out of the pod's SYN. k: the connection; h: the TCP
 * header's first 20 bytes; out: toward the server. 0, or -1 when the segment
 * cannot be rewritten (or no secret was ever written). */
static __always_inline int dp_tcp_shift(struct __sk_buff *skb, const struct fqdn_tcp_tx_key *k, __u32 l4, const __u8 *h,
					__u32 out)
{
	struct fqdn_secret *key;
	__u32 zero = 0, seq, ack, nseq, nack, cs, ss;
	__u64 shifts;

	key = bpf_map_lookup_elem(&fq_secret, &zero);
	if (!key || !(key->k0 | key->k1))
		return -1;
	shifts = dp_tcp_shifts(k, key);
	cs = (__u32)shifts;
	ss = (__u32)(shifts >> 32);
	__builtin_memcpy(&seq, &h[4], 4);
	__builtin_memcpy(&ack, &h[8], 4);
	nseq = bpf_htonl(bpf_ntohl(seq) + (out ? cs : ss));
	nack = bpf_htonl(bpf_ntohl(ack) - (out ? ss : cs));
	if (bpf_l4_csum_replace(skb, l4 + 16, seq, nseq, 4) < 0 || bpf_skb_store_bytes(skb, l4 + 4, &nseq, 4, 0) < 0)
		return -1;
	if (h[13] & DP_TCP_ACK) {
		if (bpf_l4_csum_replace(skb, l4 + 16, ack, nack, 4) < 0 ||
		    bpf_skb_store_bytes(skb, l4 + 8, &nack, 4, 0) < 0)
			return -1;
	}
	if (out && (h[13] & DP_TCP_SYN))
		return dp_tcp_no_sack(skb, l4, (h[12] >> 4) * 4);
	return 0;
}
#endif

/* What fqdn_dp_tcp decided. */
#define DP_TCP_OK 0
#define DP_TCP_UNWRITTEN 1 /* data the socket did not write: reject */
#define DP_TCP_BROKEN 2    /* could not be read or rewritten: drop */

/* A TCP segment between the endpoint and a trusted server's DNS port (out:
 * from the endpoint). Data toward the server must be what the connection's
 * socket wrote (dp_tcp_written, on its fq_tcp_tx entry; on a connection
 * without one, never tracked, nothing was); on a veth endpoint the numbers of
 * every segment are shifted (dp_tcp_shift). A global function: verified
 * once, its loops off the stack of the parser's call chain. */
__attribute__((noinline)) int fqdn_dp_tcp(struct __sk_buff *skb, __u32 endpoint_id, __u32 out)
{
	struct fqdn_tcp_tx_key k = {};
	struct fqdn_tcp_tx *tx;
	struct dp_pkt p;
	__u8 h[20];

	if (!skb || dp_headers(skb, &p) < 0 || p.proto != DP_IPPROTO_TCP || !p.l4_off)
		return DP_TCP_BROKEN;
	k.endpoint_id = endpoint_id;
	k.family = p.family;
	if (out) {
		k.client_port = p.sport;
		k.server_port = p.dport;
		dp_copy16(k.client, p.saddr);
		dp_copy16(k.server, p.daddr);
	} else {
		k.client_port = p.dport;
		k.server_port = p.sport;
		dp_copy16(k.client, p.daddr);
		dp_copy16(k.server, p.saddr);
	}
	if (bpf_skb_load_bytes(skb, p.l4_off, h, sizeof(h)) < 0)
		return DP_TCP_BROKEN;
	if (out && p.tcp_data) {
		tx = bpf_map_lookup_elem(&fq_tcp_tx, &k);
		if (!tx || !dp_tcp_written(skb, tx, ((__u32)h[4] << 24) | ((__u32)h[5] << 16) | ((__u32)h[6] << 8) | h[7],
					   p.l4_off + (h[12] >> 4) * 4, p.tcp_data))
			return DP_TCP_UNWRITTEN;
	}
#if DP_ATTACH == DP_ATTACH_VETH
	if (dp_tcp_shift(skb, &k, p.l4_off, h, out) < 0)
		return DP_TCP_BROKEN;
#endif
	return DP_TCP_OK;
}
#endif

/* Traffic leaving the endpoint (pod egress = host-side veth ingress;
 * cgroup egress). */
static __always_inline int dp_egress(struct __sk_buff *skb, const struct fqdn_endpoint *ep)
{
	struct dp_pkt p;

	dp_count(FQDN_CTR_PACKETS);
	if (!(ep->flags & FQDN_EP_F_ENFORCE)) {
		dp_count(FQDN_CTR_EGRESS_ALLOWED_OTHER);
		return DP_PASS;
	}
	if (dp_headers(skb, &p) < 0 || !p.family)
		return fqdn_dp_check(skb, dp_ep_lo(ep), dp_ep_hi(ep));
	if ((ep->flags & FQDN_EP_F_SRC_CHECK) && !dp_source_ok(ep, &p))
		return dp_deny_spoofed(ep, &p);
	if ((p.proto == DP_IPPROTO_UDP || p.proto == DP_IPPROTO_TCP) && p.l4_off &&
	    dp_is_trusted_server(p.family, p.daddr, p.dport)) {
		if (p.proto == DP_IPPROTO_UDP) {
			int v = fqdn_dp_query(skb, dp_ep_lo(ep), dp_ep_hi(ep));
			if (v != DP_PASS)
				return v;
		} else if (p.tcp_data) {
			/* TCP: the sk_msg program checks each query (dns_tcp.h), but
			 * it never sees data in a SYN (TCP Fast Open: the socket is
			 * not in the sockhash yet), nor any data of an endpoint
			 * whose DNS over TCP is not enabled. */
			if (p.tcp_flags & DP_TCP_SYN) {
				dp_query_rejected(ep, &p, FQDN_QREJ_TCP_FASTOPEN, 0);
				return DP_DROP;
			}
			if (!(ep->flags & FQDN_EP_F_TCP_DNS)) {
				dp_query_rejected(ep, &p, FQDN_QREJ_TCP_UNCHECKED, 0);
				return DP_DROP;
			}
		}
#if FQDN_TCP_TX_CHECK
		/* Data only as the socket wrote it (sk_msg checked it); on a veth
		 * endpoint every segment's numbers shifted. */
		if (p.proto == DP_IPPROTO_TCP && (DP_ATTACH == DP_ATTACH_VETH || p.tcp_data)) {
			int t = fqdn_dp_tcp(skb, ep->endpoint_id, 1);
			if (t == DP_TCP_UNWRITTEN)
				dp_query_rejected(ep, &p, FQDN_QREJ_TCP_UNWRITTEN, 0);
			if (t != DP_TCP_OK)
				return DP_DROP;
		}
#endif
		dp_count(FQDN_CTR_EGRESS_ALLOWED_DNS);
		return DP_PASS;
	}
	return fqdn_dp_check(skb, dp_ep_lo(ep), dp_ep_hi(ep));
}

#if DP_ATTACH == DP_ATTACH_VETH && FQDN_QUERY_RANDOMISATION
/* An ICMP or ICMPv6 error toward the endpoint that quotes a UDP datagram or
 * TCP segment it sent to a trusted DNS server. The quote shows the packet as
 * it left, with the port and id the kernel drew (UDP) or the shifted sequence
 * number (TCP): a pod that sends with IP TTL 1 gets exactly that from the
 * node (time exceeded), and could hand the values to an accomplice. So these
 * errors are dropped (Security.md, class 5); the client times out instead of
 * failing at once (and path MTU discovery toward the server does not work). A quote too short to hold the ports
 * shows nothing and passes. */
__attribute__((noinline)) int fqdn_dp_icmp_quote(struct __sk_buff *skb)
{
	/* A global function of its own, which reads the headers again: nothing
	 * of it stays on the stack of the calls that walk the parser and the
	 * trie (their combined stack is at the verifier's 512-byte limit). */
	__u8 h[40] = {}, daddr[16] = {}, ports[4];
	__u32 quote, quoted_l4, family, icmp_type;
	struct dp_pkt p;

	if (!skb || dp_headers(skb, &p) < 0 || !p.l4_off ||
	    (p.proto != DP_IPPROTO_ICMP && p.proto != DP_IPPROTO_ICMPV6))
		return 0;
	family = p.family;
	icmp_type = p.icmp_type;
	quote = p.l4_off + 8;
	if (family == FQDN_AF_INET) {
		/* destination unreachable, source quench, redirect, time exceeded, parameter problem */
		if (icmp_type != 3 && icmp_type != 4 && icmp_type != 5 && icmp_type != 11 && icmp_type != 12)
			return 0;
		if (bpf_skb_load_bytes(skb, quote, h, 20) < 0 || (h[0] >> 4) != 4 ||
		    (h[9] != DP_IPPROTO_UDP && h[9] != DP_IPPROTO_TCP))
			return 0;
		__builtin_memcpy(daddr, &h[16], 4);
		quoted_l4 = quote + (h[0] & 0xF) * 4;
	} else {
		/* destination unreachable, packet too big, time exceeded, parameter problem */
		if (icmp_type < 1 || icmp_type > 4)
			return 0;
		if (bpf_skb_load_bytes(skb, quote, h, 40) < 0 || (h[0] >> 4) != 6 ||
		    (h[6] != DP_IPPROTO_UDP && h[6] != DP_IPPROTO_TCP))
			return 0;
		__builtin_memcpy(daddr, &h[24], 16);
		quoted_l4 = quote + 40;
	}
	if (bpf_skb_load_bytes(skb, quoted_l4, ports, 4) < 0)
		return 0;
	return dp_is_trusted_server(family, daddr, ((__u16)ports[2] << 8) | ports[3]);
}
#endif

/* Traffic toward the endpoint (host-side veth egress; cgroup ingress): learn
 * from DNS responses of trusted servers, note connections into the endpoint
 * (their replies may leave), deliver everything but a forged answer to a
 * randomised query (DP_DROP). */
static __always_inline int dp_ingress(struct __sk_buff *skb, const struct fqdn_endpoint *ep)
{
	struct dp_pkt p;

	dp_count(FQDN_CTR_PACKETS);
	if (!(ep->flags & FQDN_EP_F_ENFORCE))
		return DP_PASS;
	if (dp_headers(skb, &p) < 0 || !p.family || !p.l4_off)
		return DP_PASS;
	if (p.proto != DP_IPPROTO_UDP && p.proto != DP_IPPROTO_TCP) {
#if DP_ATTACH == DP_ATTACH_VETH && FQDN_QUERY_RANDOMISATION
		if (p.proto == DP_IPPROTO_ICMP || p.proto == DP_IPPROTO_ICMPV6)
			return fqdn_dp_icmp_quote(skb) ? DP_DROP : DP_PASS;
#endif
		return DP_PASS;
	}
	if (dp_is_trusted_server(p.family, p.saddr, p.sport)) {
		if (p.proto == DP_IPPROTO_UDP && (ep->flags & FQDN_EP_F_LEARN))
			return fqdn_dp_response(skb, dp_ep_lo(ep), dp_ep_hi(ep));
#if FQDN_TCP_TX_CHECK && DP_ATTACH == DP_ATTACH_VETH
		if (p.proto == DP_IPPROTO_TCP && fqdn_dp_tcp(skb, ep->endpoint_id, 0) != DP_TCP_OK)
			return DP_DROP;
#endif
		return DP_PASS;
	}
	if (p.proto == DP_IPPROTO_UDP && p.sport == DP_DNS_PORT && (ep->flags & FQDN_EP_F_LEARN))
		dp_not_learned(ep, &p, FQDN_NL_UNTRUSTED, 0, FQDN_CTR_DNS_RESPONSES_UNTRUSTED);
	dp_inbound_note(ep->endpoint_id, &p);
	return DP_PASS;
}

/* The cgroup endpoint of a cgroup_skb packet: the socket's cgroup or its
 * deepest ancestor that is an endpoint. */
static __always_inline struct fqdn_endpoint *dp_cgroup_endpoint(struct __sk_buff *skb)
{
	__u64 id = bpf_skb_cgroup_id(skb);
	struct fqdn_endpoint *ep = bpf_map_lookup_elem(&fq_ep_cgroup, &id);
	int level;

	if (ep)
		return ep;
#pragma clang loop unroll(disable)
	for (level = FQDN_MAX_CGROUP_DEPTH - 1; level >= 0; level--) {
		__u64 a = bpf_skb_ancestor_cgroup_id(skb, level);
		if (!a)
			continue;
		ep = bpf_map_lookup_elem(&fq_ep_cgroup, &a);
		if (ep)
			return ep;
	}
	return 0;
}

#endif /* FQDN_DATAPATH_H */
