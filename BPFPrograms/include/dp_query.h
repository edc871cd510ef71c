/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dp_query.h: DNS queries toward a trusted server (UDP and TCP): the shape
 * check, the DNS rules, refusal in the kernel (veth: rewritten into an
 * answer), in-flight records and query randomisation.
 */
#ifndef FQDN_DP_QUERY_H
#define FQDN_DP_QUERY_H

#include "dp_egress.h"

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

/* The DNS message in p's UDP payload, parsed into f (parser scratch ps): 0,
 * or -1 when it is malformed (f says why; a payload shorter than its UDP
 * header says is truncated). off, len: where the message is. UDP queries
 * and answers both start here. */
static __always_inline int dp_parse_udp_dns(struct __sk_buff *skb, const struct dp_pkt *p, struct fqdn_dns_scratch *ps,
					    struct fqdn_facts *f, __u32 *off, __u32 *len)
{
	if (dp_udp_payload(skb, p, off, len) < 0) {
		f->reason = FQDN_ERR_TRUNCATED;
		f->offset = 0;
		return -1;
	}
	dp_parse_dns(skb, *off, *len, ps, f);
	return f->verdict == FQDN_VERDICT_OK ? 0 : -1;
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

/* The flags of a refused query's answer made from the query itself (UDP:
 * dp_rewrite_answer; TCP: dns_sk_msg.bpf.c): keep opcode, RD and CD; QR=1,
 * RA=1, AA=TC=AD=Z=0, the rcode. Host order. */
static __always_inline __u16 dp_answer_flags(__u16 query_flags, __u32 rcode)
{
	return (query_flags & (FQDN_OPCODE_MASK | FQDN_FLAG_RD | FQDN_FLAG_CD)) | FQDN_FLAG_QR | FQDN_FLAG_RA |
	       (rcode & 0xF);
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
	new_flags = bpf_htons(dp_answer_flags(bpf_ntohs(old_flags), rcode));
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
	if (dp_parse_udp_dns(skb, p, ps, f, &off, &len) < 0)
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

#endif /* FQDN_DP_QUERY_H */
