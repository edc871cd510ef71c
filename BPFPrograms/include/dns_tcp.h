/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dns_tcp.h: DNS over TCP, with the UDP datapath's parser, trie, maps,
 * counters and events (datapath.h). Documentation/TCP.md has the design.
 *
 *   responses  dns_sk_skb.bpf.c: an sk_skb verdict program (no stream parser)
 *              frames the server's byte stream itself: per connection
 *              (socket cookie) it keeps where the next 2-byte length prefix
 *              is, parses each whole message with the shared parser, and
 *              learns exactly as the UDP path does (fqdn_tcp_response). A
 *              message spanning segments is copied into a per-connection
 *              buffer (fq_tcp_buf) until complete. Every byte is passed on
 *              unchanged (SK_PASS).
 *   queries    dns_sk_msg.bpf.c: an sk_msg program frames the client's
 *              writes (a write ending inside a query is corked until the
 *              query is complete), checks each query against the DNS rules,
 *              records it in flight (fqdn_tcp_query) and either lets it go,
 *              answers it REFUSED/NXDOMAIN into the client's own receive
 *              stream (the server never sees it), or fails the write with
 *              EACCES.
 */
#ifndef FQDN_DNS_TCP_H
#define FQDN_DNS_TCP_H

#include "datapath.h"
#include "dns_tcp_maps.h"

/* Messages framed per skb at most (each step frames one message or ends):
 * an skb of 128 KB of empty messages. Beyond, framing is given up. */
#define FQDN_TCP_RX_MAX_STEPS (1 << 16)

/* Where fqdn_tcp_response finds the message. */
#define FQDN_TCP_SRC_SKB 0  /* in the skb at off */
#define FQDN_TCP_SRC_BUF 1  /* in the connection's fq_tcp_buf entry */
#define FQDN_TCP_SRC_NONE 2 /* not kept (longer than FQDN_MAX_MSG_LEN): the parser reports the limit */

/* What fqdn_tcp_query decided (low byte; the rcode of an answer in bits 8-15). */
#define FQDN_TCP_Q_PASS 0
#define FQDN_TCP_Q_ANSWER 1
#define FQDN_TCP_Q_DROP 2        /* malformed (counted and reported here) */
#define FQDN_TCP_Q_REFUSE_DROP 3 /* refused, not answerable: the caller drops and counts it */

/* The dp_pkt of a connection (events and the in-flight key read it): a
 * response goes server -> client, a query client -> server. */
static __always_inline void tcp_pkt(struct dp_pkt *p, const struct fqdn_tcp_sock *ts, int response)
{
	__builtin_memset(p, 0, sizeof(*p));
	p->family = ts->family;
	p->proto = DP_IPPROTO_TCP;
	if (response) {
		p->sport = ts->server_port;
		p->dport = ts->client_port;
		dp_copy16(p->saddr, ts->server);
	} else {
		p->sport = ts->client_port;
		p->dport = ts->server_port;
		dp_copy16(p->daddr, ts->server);
	}
}

/* dp_not_learned / dp_malformed_event for a response of connection ts: the
 * dp_pkt is built where it is needed, so that it is not live (on the stack)
 * across the whole of fqdn_tcp_response (6.1's stack budget, datapath_maps.h). */
static __always_inline void tcp_rx_not_learned(const struct fqdn_endpoint *ep, const struct fqdn_tcp_sock *ts,
					       __u32 why, __u16 txid, __u32 counter)
{
	struct dp_pkt p;

	tcp_pkt(&p, ts, 1);
	dp_not_learned(ep, &p, why, txid, counter);
}

static __always_inline void tcp_rx_no_inflight(const struct fqdn_endpoint *ep, const struct fqdn_tcp_sock *ts,
					       const struct fqdn_facts *f)
{
	struct dp_pkt p;

	tcp_pkt(&p, ts, 1);
	dp_no_inflight(ep, &p, f);
}

static __always_inline void tcp_rx_malformed(const struct fqdn_endpoint *ep, const struct fqdn_tcp_sock *ts,
					     const struct fqdn_facts *f)
{
	struct dp_pkt p;

	tcp_pkt(&p, ts, 1);
	dp_malformed_event(ep, &p, f, 1);
}

/*
 * One whole response of connection `cookie`: parse it and learn from it.
 * Mirrors dp_dns_response (dp_learn.h) after its parse, step for step, so a
 * TCP answer teaches, counts and reports exactly what the same answer over
 * UDP would. A global function: verified once, whatever the caller.
 */
__attribute__((noinline)) int fqdn_tcp_response(struct __sk_buff *skb, __u64 cookie, __u32 off, __u32 len, __u32 src)
{
	struct fqdn_dns_scratch *ps = fqdn_dns_scratch_get();
	struct fqdn_dp_scratch *s = dp_scratch();
	struct fqdn_tcp_sock *ts = bpf_map_lookup_elem(&fq_tcp_sock, &cookie);
	struct fqdn_policy_settings *pol;
	struct fqdn_endpoint *epp, ep;
	struct fqdn_facts *f;
	struct fqdn_inflight *inf;
	struct fqdn_inflight_key *k;
	__u32 pid, n = len;
	__u64 nh;

	if (!skb || !ps || !s || !ts)
		return 0;
	epp = tcp_endpoint(ts->cgroup_id, ts->ifindex);
	if (!epp)
		return 0;
	ep = *epp;
	if (!(ep.flags & FQDN_EP_F_LEARN))
		return 0;
	if (!tcp_trusted_server(ts->family, ts->server, ts->server_port)) {
		/* No longer trusted (configuration changed): as dp_ingress. */
		if (ts->server_port == DP_DNS_PORT)
			tcp_rx_not_learned(&ep, ts, FQDN_NL_UNTRUSTED, 0, FQDN_CTR_DNS_RESPONSES_UNTRUSTED);
		return 0;
	}
	pid = ep.policy_id;
	pol = bpf_map_lookup_elem(&fq_policy, &pid);
	f = &s->facts;
	dp_count(FQDN_CTR_DNS_RESPONSES);

	/* The message into the parser's buffer (the length checked on the
	 * very register handed to the helper; see dp_parse_dns). */
	asm volatile("" : "+r"(n));
	if (n >= FQDN_DNS_HEADER_LEN && n <= FQDN_MAX_MSG_LEN) {
		if (src == FQDN_TCP_SRC_SKB) {
			if (bpf_skb_load_bytes(skb, off, ps->msg, fqdn_len_bound(n)) < 0)
				len = 0;
		} else if (src == FQDN_TCP_SRC_BUF) {
			struct fqdn_tcp_buf *buf = bpf_map_lookup_elem(&fq_tcp_buf, &cookie);
			if (!buf || bpf_probe_read_kernel(ps->msg, fqdn_len_bound(n), buf->data) < 0)
				len = 0;
		}
	}
	fqdn_dns_parse(ps->msg, len, ps, f);
	if (f->verdict != FQDN_VERDICT_OK)
		goto malformed;
	if (!(f->flags & FQDN_FLAG_QR))
		return 0;

	/* From here on as dp_dns_response. */
	k = dp_inflight_key(s, ep.endpoint_id, ts->client_port, ts->server_port, f->id, ts->family, ts->server);
	inf = bpf_map_lookup_elem(&fq_inflight, k);
#if FQDN_QUERY_RANDOMISATION
	if (inf && (inf->flags & FQDN_INF_F_RANDOMISED))
		inf = 0; /* a randomised UDP query's entry (same port, id 0) */
#endif
	if (!inf) {
		tcp_rx_no_inflight(&ep, ts, f);
		return 0;
	}
	nh = f->qdcount == 1 ? dp_name_hash(&f->qname) : 0;
	if (nh != inf->qname_hash) {
		tcp_rx_not_learned(&ep, ts, FQDN_NL_QNAME_MISMATCH, f->id, FQDN_CTR_DNS_RESPONSES_QNAME_MISMATCH);
		return 0;
	}
	bpf_map_delete_elem(&fq_inflight, k);
	dp_learn_response(&ep, pol, s, f, nh);
	return 1;

malformed:
	dp_count(FQDN_CTR_DNS_RESPONSES_MALFORMED);
	tcp_rx_malformed(&ep, ts, f);
	return 0;
}

/*
 * One whole query of connection `cookie`, already copied into the parser's
 * buffer (len bytes). Mirrors dp_dns_query after its parse: DNS rules,
 * refusal event, in-flight record. Returns FQDN_TCP_Q_* (an answer's rcode
 * in bits 8-15). can_answer: the caller can put an answer into the client's
 * stream at this point (else a refused query is dropped). The caller counts
 * the refusal (answered or dropped) once it is done.
 */
__attribute__((noinline)) int fqdn_tcp_query(__u64 cookie, __u32 len, __u32 can_answer)
{
	struct fqdn_dns_scratch *ps = fqdn_dns_scratch_get();
	struct fqdn_dp_scratch *s = dp_scratch();
	struct fqdn_tcp_sock *ts = bpf_map_lookup_elem(&fq_tcp_sock, &cookie);
	struct fqdn_policy_settings *pol;
	struct fqdn_endpoint *epp, ep;
	struct fqdn_facts *f;
	struct dp_pkt p;
	__u32 pid, action, why;
	__u64 tags;

	if (!ps || !s || !ts)
		return FQDN_TCP_Q_PASS;
	epp = tcp_endpoint(ts->cgroup_id, ts->ifindex);
	if (!epp)
		return FQDN_TCP_Q_PASS;
	ep = *epp;
	if (!(ep.flags & FQDN_EP_F_ENFORCE))
		return FQDN_TCP_Q_PASS;
	tcp_pkt(&p, ts, 0);
	pid = ep.policy_id;
	pol = bpf_map_lookup_elem(&fq_policy, &pid);
	f = &s->facts;
	dp_count(FQDN_CTR_DNS_QUERIES);
	fqdn_dns_parse(ps->msg, len, ps, f);
	if (f->verdict != FQDN_VERDICT_OK)
		goto malformed;
	why = dp_query_shape(ps, f, len);
	if (why) {
		/* The write fails, as for a malformed query. */
		dp_query_rejected(&ep, &p, why, f);
		return FQDN_TCP_Q_DROP;
	}

	if (pol && (pol->flags & FQDN_POL_F_DNS_RULES)) {
		tags = dp_trie_tags(ep.policy_id, &f->qname, &s->trie);
		if (!(tags & DP_TAG_QUERY_BIT)) {
			action = pol->refused_action;
			if (!can_answer)
				action = FQDN_REFUSE_DROP;
			dp_query_event(&ep, &p, FQDN_EV_QUERY_REFUSED, action, f);
			if (action == FQDN_REFUSE_DROP)
				return FQDN_TCP_Q_REFUSE_DROP;
			return FQDN_TCP_Q_ANSWER | ((action == FQDN_REFUSE_NXDOMAIN ? 3 : 5) << 8);
		}
	}

	dp_record_inflight(s, &ep, f, p.sport, p.dport, p.family, p.daddr);
	return FQDN_TCP_Q_PASS;

malformed:
	dp_count(FQDN_CTR_DNS_QUERIES_MALFORMED);
	dp_malformed_event(&ep, &p, f, 0);
	return FQDN_TCP_Q_DROP;
}

#endif /* FQDN_DNS_TCP_H */
