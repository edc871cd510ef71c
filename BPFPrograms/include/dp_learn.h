/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dp_learn.h: DNS responses from a trusted server (UDP and TCP): matching the
 * query in flight, the toFQDNs rules, learning addresses, eviction, and the
 * restoring of a randomised query's answer.
 */
#ifndef FQDN_DP_LEARN_H
#define FQDN_DP_LEARN_H

#include "dp_query.h"

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
	__u32 refresh_events; /* FQDN_META_F_REFRESH_EVENTS is set */
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

/* Writes the learned entry `v` at `key` of `map` (fq_allow4 or fq_allow6: the
 * entry is the same for both families, only the key differs). An address a
 * live entry of another name holds keeps both names' rules and the later
 * expiry. Inlined at each call site, so each keeps a constant map (and the
 * verifier's inlined lookup). */
static __always_inline long dp_allow_learn(void *map, const void *key, struct fqdn_allow *v,
					   const struct dp_learn_ctx *c, __u32 *refreshed, __u32 *new_key)
{
	struct fqdn_allow *cur = bpf_map_lookup_elem(map, key);

	if (cur && cur->name_hash == c->name_hash && cur->policy_id == c->policy_id) {
		/* The name's address again, under the same policy version: the
		 * steady state of every name in use. Written in place (the lookup
		 * marked the entry recently used); bpf_map_update_elem on an LRU map
		 * would take a new element and free the old one. The expiry goes
		 * last: a reader on another CPU sees the old or the new expiry,
		 * with the name's own rule mask either way. */
		cur->rule_mask = v->rule_mask;
		cur->ttl = v->ttl;
		cur->expiry_ns = v->expiry_ns;
		*refreshed = 1;
		*new_key = 0;
		return 0;
	}
	if (cur && cur->name_hash != c->name_hash && cur->policy_id == c->policy_id && c->now < cur->expiry_ns) {
		v->rule_mask |= cur->rule_mask;
		if (cur->expiry_ns > v->expiry_ns)
			v->expiry_ns = cur->expiry_ns;
	}
	*refreshed = cur && cur->name_hash == c->name_hash;
	*new_key = !cur;
	return bpf_map_update_elem(map, key, v, BPF_ANY);
}

static long dp_learn_one(__u32 i, void *ctx)
{
	struct dp_learn_ctx *c = ctx;
	struct fqdn_credited_addr *ca;
	struct fqdn_allow v = {};
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
		err = dp_allow_learn(&fq_allow4, &k, &v, c, &refreshed, &new_key);
	} else if (ca->family == FQDN_AF_INET6) {
		struct fqdn_allow6_key k = { .endpoint_id = c->ep->endpoint_id };

		__builtin_memcpy(k.addr, ca->addr, 16);
		err = dp_allow_learn(&fq_allow6, &k, &v, c, &refreshed, &new_key);
	} else {
		return 0;
	}
	if (err < 0) {
		dp_count(FQDN_CTR_LEARN_FAILED);
		return 0;
	}

	if (refreshed) {
		dp_count(FQDN_CTR_ADDRS_REFRESHED);
		/* Counted, not sent one by one: what the agent hears by default is
		 * what changes (FQDN_META_F_REFRESH_EVENTS for every refresh). */
		if (!c->refresh_events)
			return 0;
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

	__builtin_memset(nk, 0, sizeof(*nk));
	nk->endpoint_id = ep->endpoint_id;
	nk->name_hash = nh;
	name = bpf_map_lookup_elem(&fq_names, nk);
	if (name && name->policy_id == ep->policy_id && name->rule_mask && dp_policy_of(ep) &&
	    fqdn_wire_eq(&name->name, &f->qname)) {
		/* Learned before under this policy version, and a version never
		 * changes once written (a new policy is a new id): its rule mask is
		 * what the trie walk would give, and the walk is most of the cost of
		 * an answer. The version must still exist, as the walk would find
		 * its trie: once the agent has moved the endpoint on and retired
		 * the version, an entry written under it would be stranded (valid
		 * under no version the endpoint has) and its address denied until
		 * the next answer (found by PressureTests). The name itself is
		 * compared, not only its hash (FNV-1a collisions can be made). */
		tags = name->rule_mask;
	} else {
		tags = dp_trie_tags(ep->policy_id, &f->qname, &s->trie) & DP_RULE_BITS;
		if (!tags)
			return;
	}
	/* One unknown value from here on, whichever way the tags came, so the
	 * verifier does not carry two ranges of it through the learning
	 * (veth_egress on 6.18: 165,011 verified instructions without this,
	 * 138,532 with it). */
	asm volatile("" : "+r"(tags));
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
	{
		__u32 zero = 0;
		struct fqdn_meta *meta = bpf_map_lookup_elem(&fq_meta, &zero);

		lc.refresh_events = meta && (meta->flags & FQDN_META_F_REFRESH_EVENTS);
	}
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
	if (dp_parse_udp_dns(skb, p, ps, f, &off, &len) < 0)
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

#endif /* FQDN_DP_LEARN_H */
