// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dns_sk_msg.bpf.c: sk_msg verdict on fq_tcp_socks: the client's writes
 * toward a trusted DNS server, framed into queries. Each run starts at a
 * query boundary and rules on exactly one query (bpf_msg_apply_bytes); a
 * write ending inside a query is held back (bpf_msg_cork_bytes) until the
 * query is complete, so a refused query never reaches the server, not even
 * in part.
 *
 *   allowed     recorded in flight (fq_inflight, as UDP), passed on.
 *   refused     REFUSED or NXDOMAIN (policy): the query itself, its flags
 *               rewritten into an answer, is redirected into the client's own
 *               receive queue. Only when the query is the last of the write
 *               and no response is half received on the connection (the
 *               answer must land between whole messages); otherwise, and
 *               for the drop action, the write fails with EACCES.
 *   malformed   the write fails with EACCES (UDP drops it).
 *
 * Every query that passes is recorded in the connection's fq_tcp_tx entry:
 * the egress programs (tc, cgroup_skb) let only those bytes leave toward the
 * server, so a segment the pod crafts with its own sequence numbers carries
 * nothing unchecked. A query is at most FQDN_TCP_TX_MAX_QUERY bytes with its
 * length prefix (longer ones: malformed, limit_message_length).
 *
 * After a write failed with more bytes behind the refused query than the
 * query, the query framing of the connection is lost: every later write
 * fails (fail closed; Documentation/TCP.md). The same when the kernel cannot
 * hold a corked write (its scatterlist is full): the partial query is
 * dropped, never passed unchecked.
 */
#include "dns_tcp.h"

static __always_inline int tx_deny(struct sk_msg_md *msg, struct fqdn_tcp_sk *st, __u32 apply)
{
	/* apply: the bytes to drop (0: the whole write). */
	bpf_msg_apply_bytes(msg, apply);
	if (!apply)
		st->flags |= FQDN_TCP_SK_F_TX_LOST;
	tcp_count(FQDN_TCP_CTR_TX_WRITE_DENIED, 1);
	return SK_DROP;
}

/* Records the query that passes (total bytes at msg->data, pulled) in the
 * connection's fq_tcp_tx entry. 0: no entry (the write must fail: the bytes
 * would be dropped at egress). */
static __always_inline int tx_record(struct sk_msg_md *msg, const struct fqdn_tcp_sock *ts, __u32 total)
{
	struct fqdn_tcp_tx_key k;
	struct fqdn_endpoint *ep;
	struct fqdn_tcp_tx *tx;
	__u32 o, n = total, w;

	if (!ts)
		return 0;
	ep = tcp_endpoint(ts->cgroup_id, ts->ifindex);
	if (!ep)
		return 1; /* the endpoint is gone: nothing enforces this connection */
	tcp_tx_key(&k, ep->endpoint_id, ts, msg->family, msg->local_ip4, msg->local_ip6[0], msg->local_ip6[1],
		   msg->local_ip6[2], msg->local_ip6[3]);
	tx = bpf_map_lookup_elem(&fq_tcp_tx, &k);
	if (!tx)
		return 0;
	asm volatile("" : "+r"(n));
	if (n < 1 || n > FQDN_TCP_TX_MAX_QUERY)
		return 0;
	/* Copied whole at the ring offset (the value has FQDN_TCP_TX_MAX_QUERY
	 * bytes past the ring for it), then what went past the ring's end to
	 * its start. */
	o = tx->head.written & (FQDN_TCP_TX_RING - 1);
	if (bpf_probe_read_kernel(&tx->ring[o], n, msg->data) < 0)
		return 0;
	if (o + n > FQDN_TCP_TX_RING) {
		w = o + n - FQDN_TCP_TX_RING;
		asm volatile("" : "+r"(w));
		if (w > FQDN_TCP_TX_MAX_QUERY)
			return 0;
		if (bpf_probe_read_kernel(tx->ring, w, &tx->ring[FQDN_TCP_TX_RING]) < 0)
			return 0;
	}
	tx->head.written += n;
	return 1;
}

/* Holds the write until `bytes` bytes are there; the program runs again then.
 * The verdict returned with the cork request (drop) applies only when the
 * kernel cannot cork: then nothing of the partial query may leave. */
static __always_inline int tx_cork(struct sk_msg_md *msg, struct fqdn_tcp_sk *st, __u32 bytes)
{
	bpf_msg_cork_bytes(msg, bytes);
	st->cork_want = bytes;
	tcp_count(FQDN_TCP_CTR_TX_CORKED, 1);
	return SK_DROP;
}

SEC("sk_msg")
int fqdn_dns_sk_msg(struct sk_msg_md *msg)
{
	struct bpf_sock *sk = msg->sk;
	struct fqdn_dns_scratch *ps;
	struct fqdn_tcp_sock *ts;
	struct fqdn_tcp_sk *st;
	__u32 size = msg->size, len, total, can_answer, r, n;
	__u64 cookie;
	__u8 *d, *e;

	/* Reset what an earlier run on the same message may have left. */
	bpf_msg_cork_bytes(msg, 0);
	bpf_msg_apply_bytes(msg, 0);
	if (!sk)
		return SK_PASS;
	st = bpf_sk_storage_get(&fq_tcp_sk, sk, 0, 0);
	if (!st || !(st->flags & FQDN_TCP_SK_F_TRACKED))
		return SK_PASS;
	cookie = st->cookie;
	if (st->flags & FQDN_TCP_SK_F_TX_LOST)
		return tx_deny(msg, st, 0);
	/* Run again with fewer bytes than the cork asked for: the kernel could
	 * not hold them (the message's scatterlist is full). Fail closed. */
	if (st->cork_want && size < st->cork_want) {
		st->cork_want = 0;
		return tx_deny(msg, st, 0);
	}
	st->cork_want = 0;

	if (size < 2)
		return tx_cork(msg, st, 2);
	if (bpf_msg_pull_data(msg, 0, 2, 0) < 0)
		return tx_deny(msg, st, 0);
	d = msg->data;
	e = msg->data_end;
	if (d + 2 > e)
		return tx_deny(msg, st, 0);
	len = ((__u32)d[0] << 8) | d[1];
	total = 2 + len;
	if (total > FQDN_TCP_TX_MAX_QUERY) {
		/* Malformed (limit) without waiting for its bytes: drop exactly
		 * this query, also from the writes that follow. The parser is
		 * handed a length over its own limit, so it reports that. */
		fqdn_tcp_query(cookie, len > FQDN_MAX_MSG_LEN ? len : FQDN_MAX_MSG_LEN + 1, 0);
		return tx_deny(msg, st, total >= size ? total : 0);
	}
	if (size < total)
		return tx_cork(msg, st, total);
	if (bpf_msg_pull_data(msg, 0, total, 0) < 0)
		return tx_deny(msg, st, 0);
	d = msg->data;
	e = msg->data_end;
	n = len;
	asm volatile("" : "+r"(n));
	if (n > FQDN_MAX_MSG_LEN || d + 2 + n > e)
		return tx_deny(msg, st, 0);
	ps = fqdn_dns_scratch_get();
	if (!ps)
		return tx_deny(msg, st, 0);
	if (n >= 1 && bpf_probe_read_kernel(ps->msg, n, d + 2) < 0)
		return tx_deny(msg, st, 0);

	ts = bpf_map_lookup_elem(&fq_tcp_sock, &cookie);
	can_answer = size == total && ts && !(ts->flags & FQDN_TCP_F_BODY) && !ts->pfx_have;
	if (ts)
		ts->queries += 1;
	tcp_count(FQDN_TCP_CTR_TX_MESSAGES, 1);
	r = fqdn_tcp_query(cookie, len, can_answer);
	asm volatile("" : "+r"(r));

	if ((r & 0xFF) == FQDN_TCP_Q_PASS) {
		if (!tx_record(msg, ts, total))
			return tx_deny(msg, st, 0);
		bpf_msg_apply_bytes(msg, total);
		return SK_PASS;
	}
	if ((r & 0xFF) == FQDN_TCP_Q_ANSWER && can_answer) {
		__u16 old, nf;

		d = msg->data;
		e = msg->data_end;
		if (d + 6 <= e) {
			old = ((__u16)d[4] << 8) | d[5];
			nf = dp_answer_flags(old, r >> 8);
			d[4] = nf >> 8;
			d[5] = nf & 0xFF;
			bpf_msg_apply_bytes(msg, total);
			if (bpf_msg_redirect_hash(msg, &fq_tcp_socks, &cookie, BPF_F_INGRESS) == SK_PASS) {
				dp_count(FQDN_CTR_DNS_QUERIES_REFUSED);
				tcp_count(FQDN_TCP_CTR_TX_ANSWERED, 1);
				return SK_PASS;
			}
		}
		/* Could not answer: the query goes nowhere. */
		dp_count(FQDN_CTR_DNS_QUERIES_DROPPED);
		return tx_deny(msg, st, total);
	}
	/* Refused and dropped (policy, or no answer fits here), or malformed
	 * (counted as such by fqdn_tcp_query). */
	if ((r & 0xFF) == FQDN_TCP_Q_REFUSE_DROP)
		dp_count(FQDN_CTR_DNS_QUERIES_DROPPED);
	return tx_deny(msg, st, size == total ? total : 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
