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

/* The parts, each including the one before it: dp_base.h (constants,
 * struct dp_pkt), dp_events.h (counters, events), dp_packet.h (headers),
 * dp_names.h (names, trie), dp_egress.h (the egress decision), dp_query.h
 * (queries), dp_learn.h (responses, learning), dp_tcp_segments.h (TCP
 * segments to a trusted server). Here: the global functions and the
 * direction helpers the *.bpf.c entry points call. */
#include "dp_tcp_segments.h"

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

/* How fqdn_dp_query and fqdn_dp_response start: the endpoint unpacked (every
 * argument must be used: clang leaves an unused one unset and the verifier
 * refuses the call), the endpoint doing `flag`, a UDP packet's headers read.
 * 1: go on; 0: the packet is not the function's to judge (pass). */
static __always_inline int dp_udp_dns_begin(struct __sk_buff *skb, __u64 ep_lo, __u64 ep_hi, __u32 flag,
					    struct fqdn_endpoint *ep, struct dp_pkt *p)
{
	if (!skb)
		return 0;
	dp_ep_unpack(ep, ep_lo, ep_hi);
	if (!(ep->flags & flag))
		return 0;
	if (dp_headers(skb, p) < 0 || p->proto != DP_IPPROTO_UDP || !p->l4_off)
		return 0;
	return 1;
}

/* A UDP DNS query of the endpoint to a trusted server (the caller checked). */
__attribute__((noinline)) int fqdn_dp_query(struct __sk_buff *skb, __u64 ep_lo, __u64 ep_hi)
{
	struct fqdn_endpoint ep;
	struct dp_pkt p;

	struct fqdn_policy_settings *pol;

	if (!dp_udp_dns_begin(skb, ep_lo, ep_hi, FQDN_EP_F_ENFORCE, &ep, &p))
		return DP_PASS;
	pol = dp_policy_of(&ep);
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
	struct fqdn_endpoint ep;
	struct dp_pkt p;

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
	return dp_check_egress(&ep, dp_policy_of(&ep), &p);
}

/* A UDP packet from a trusted server toward the endpoint (the caller checked). */
__attribute__((noinline)) int fqdn_dp_response(struct __sk_buff *skb, __u64 ep_lo, __u64 ep_hi)
{
	struct fqdn_endpoint ep;
	struct dp_pkt p;

	if (!dp_udp_dns_begin(skb, ep_lo, ep_hi, FQDN_EP_F_LEARN, &ep, &p))
		return DP_PASS;
	return dp_dns_response(skb, &ep, dp_policy_of(&ep), &p);
}


/* Traffic leaving the endpoint (pod egress = host-side veth ingress;
 * cgroup egress): everything but the two heavy calls, which it leaves to the
 * entry point (DP_DO_QUERY, DP_DO_CHECK, DP_DO_TCP; dp_egress below). A global function
 * of its own so that its frame (the packet's headers) is off the stack when
 * the query's parser runs: the chain entry -> query -> bpf_loop callback ->
 * parser steps -> name comparisons must fit 512 bytes, and 6.1 rounds each
 * frame up to 32 (Verifier.md). */
__attribute__((noinline)) int fqdn_dp_egress(struct __sk_buff *skb, __u64 ep_lo, __u64 ep_hi)
{
	struct fqdn_endpoint e, *ep = &e;
	struct dp_pkt p;

	if (!skb)
		return DP_DROP;
	dp_ep_unpack(ep, ep_lo, ep_hi);

	dp_count(FQDN_CTR_PACKETS);
	if (!(ep->flags & FQDN_EP_F_ENFORCE)) {
		dp_count(FQDN_CTR_EGRESS_ALLOWED_OTHER);
		return DP_PASS;
	}
	if (dp_headers(skb, &p) < 0 || !p.family)
		return DP_DO_CHECK;
	if ((ep->flags & FQDN_EP_F_SRC_CHECK) && !dp_source_ok(ep, &p))
		return dp_deny_spoofed(ep, &p);
	if ((p.proto == DP_IPPROTO_UDP || p.proto == DP_IPPROTO_TCP) && p.l4_off &&
	    dp_is_trusted_server(p.family, p.daddr, p.dport)) {
		if (p.proto == DP_IPPROTO_UDP)
			return DP_DO_QUERY;
		if (p.tcp_data) {
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
		if (p.proto == DP_IPPROTO_TCP && (DP_ATTACH == DP_ATTACH_VETH || p.tcp_data))
			return DP_DO_TCP;
#endif
		dp_count(FQDN_CTR_EGRESS_ALLOWED_DNS);
		return DP_PASS;
	}
	return DP_DO_CHECK;
}

/* What the entry points call for traffic leaving the endpoint. The results of
 * the global functions go through fqdn_keep (dns_parser.h). */
static __always_inline int dp_egress(struct __sk_buff *skb, const struct fqdn_endpoint *ep)
{
	__u64 lo = dp_ep_lo(ep), hi = dp_ep_hi(ep);
	int v = fqdn_keep(fqdn_dp_egress(skb, lo, hi));

	if (v == DP_DO_CHECK)
		return fqdn_keep(fqdn_dp_check(skb, lo, hi));
	if (v == DP_DO_QUERY)
		v = fqdn_keep(fqdn_dp_query(skb, lo, hi));
#if FQDN_TCP_TX_CHECK
	else if (v == DP_DO_TCP)
		v = fqdn_keep(fqdn_dp_tcp(skb, lo, hi, 1)) == DP_TCP_OK ? DP_PASS : DP_DROP;
#endif
	else
		return v;
	if (v == DP_PASS)
		dp_count(FQDN_CTR_EGRESS_ALLOWED_DNS);
	return v;
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
__attribute__((noinline)) int fqdn_dp_ingress(struct __sk_buff *skb, __u64 ep_lo, __u64 ep_hi)
{
	struct fqdn_endpoint e, *ep = &e;
	struct dp_pkt p;

	if (!skb)
		return DP_PASS;
	dp_ep_unpack(ep, ep_lo, ep_hi);

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
			return DP_DO_RESPONSE;
#if FQDN_TCP_TX_CHECK && DP_ATTACH == DP_ATTACH_VETH
		if (p.proto == DP_IPPROTO_TCP)
			return DP_DO_TCP;
#endif
		return DP_PASS;
	}
	if (p.proto == DP_IPPROTO_UDP && p.sport == DP_DNS_PORT && (ep->flags & FQDN_EP_F_LEARN))
		dp_not_learned(ep, &p, FQDN_NL_UNTRUSTED, 0, FQDN_CTR_DNS_RESPONSES_UNTRUSTED);
	dp_inbound_note(ep->endpoint_id, &p);
	return DP_PASS;
}

/* What the entry points call for traffic toward the endpoint (the response
 * parser runs from here, not under fqdn_dp_ingress's frame). */
static __always_inline int dp_ingress(struct __sk_buff *skb, const struct fqdn_endpoint *ep)
{
	__u64 lo = dp_ep_lo(ep), hi = dp_ep_hi(ep);
	int v = fqdn_keep(fqdn_dp_ingress(skb, lo, hi));

	if (v == DP_DO_RESPONSE)
		return fqdn_keep(fqdn_dp_response(skb, lo, hi));
#if FQDN_TCP_TX_CHECK && DP_ATTACH == DP_ATTACH_VETH
	if (v == DP_DO_TCP)
		return fqdn_keep(fqdn_dp_tcp(skb, lo, hi, 0)) == DP_TCP_OK ? DP_PASS : DP_DROP;
#endif
	return v;
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
