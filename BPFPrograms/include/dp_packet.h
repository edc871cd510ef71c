/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dp_packet.h: reading a packet's L2-L4 headers into struct dp_pkt (tc: an
 * Ethernet frame; cgroup_skb: an IP packet), classifying what is not IP.
 */
#ifndef FQDN_DP_PACKET_H
#define FQDN_DP_PACKET_H

#include "dp_events.h"

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

static __always_inline int dp_headers(struct __sk_buff *skb, struct dp_pkt *p)
{
#if DP_ATTACH == DP_ATTACH_CGROUP
	return dp_parse(skb, 0, skb->protocol, p);
#else
	return dp_parse(skb, ETH_HLEN, 0, p);
#endif
}

#endif /* FQDN_DP_PACKET_H */
