/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dp_egress.h: the egress decision for traffic that is not DNS to a trusted
 * server: ports, learned addresses, CIDR rules, established flows, replies
 * on inbound connections, denials (unclassified, spoofed), source addresses.
 */
#ifndef FQDN_DP_EGRESS_H
#define FQDN_DP_EGRESS_H

#include "dp_names.h"

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

#endif /* FQDN_DP_EGRESS_H */
