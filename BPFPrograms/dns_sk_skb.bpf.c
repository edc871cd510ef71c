// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dns_sk_skb.bpf.c: sk_skb stream verdict on fq_tcp_socks, WITHOUT a stream
 * parser: each skb is what TCP received (one or several segments, any
 * boundaries). The program frames the DNS stream itself with per-connection
 * state (fq_tcp_sock, by socket cookie): a length prefix may be split, one
 * skb may hold several messages and the start of the next, a message may
 * span many skbs (copied into fq_tcp_buf until complete). Each whole
 * response goes through fqdn_tcp_response (parse, learn, as UDP). Every byte
 * is delivered unchanged.
 *
 * Why no stream parser: a parser returning 2 + length mis-frames when two
 * messages share a segment (it is called again at the same skb start, and
 * the stream offset is not visible to BPF), and the client stalls
 * (Documentation/TCP.md).
 */
#include "dns_tcp.h"

struct tcp_rx_ctx {
	struct __sk_buff *skb;
	struct fqdn_tcp_sock *ts;
	__u64 cookie;
	__u32 off; /* next byte of the skb to frame */
	__u32 len; /* skb->len */
};

static __always_inline void rx_message_done(struct fqdn_tcp_sock *ts)
{
	ts->flags &= ~(FQDN_TCP_F_BODY | FQDN_TCP_F_BUF | FQDN_TCP_F_SKIP);
	ts->have = 0;
	ts->responses += 1;
	tcp_count(FQDN_TCP_CTR_RX_MESSAGES, 1);
}

/* Frames one message (or the end of the skb). Returns 1 to stop. */
static long rx_step(__u32 index __attribute__((unused)), void *ctx)
{
	struct tcp_rx_ctx *c = ctx;
	struct fqdn_tcp_sock *ts = c->ts;
	__u32 off = c->off, end = c->len, mlen, have, need, take;
	__u8 b[2] = {};

	if (off >= end)
		return 1;
	if (!(ts->flags & FQDN_TCP_F_BODY)) {
		if (ts->pfx_have) {
			if (bpf_skb_load_bytes(c->skb, off, b, 1) < 0)
				goto lost;
			ts->msg_len = ((__u16)ts->pfx0 << 8) | b[0];
			ts->pfx_have = 0;
			off += 1;
			tcp_count(FQDN_TCP_CTR_RX_SPLIT_PREFIX, 1);
		} else if (end - off >= 2) {
			if (bpf_skb_load_bytes(c->skb, off, b, 2) < 0)
				goto lost;
			ts->msg_len = ((__u16)b[0] << 8) | b[1];
			off += 2;
		} else {
			if (bpf_skb_load_bytes(c->skb, off, b, 1) < 0)
				goto lost;
			ts->pfx0 = b[0];
			ts->pfx_have = 1;
			c->off = off + 1;
			return 1;
		}
		ts->have = 0;
		ts->flags = (ts->flags & ~(FQDN_TCP_F_BUF | FQDN_TCP_F_SKIP)) | FQDN_TCP_F_BODY;
		if (ts->msg_len > FQDN_MAX_MSG_LEN)
			ts->flags |= FQDN_TCP_F_SKIP;
	}

	mlen = ts->msg_len;
	have = ts->have;
	if (have > mlen)
		goto lost;
	need = mlen - have;
	take = end - off;
	if (take > need)
		take = need;

	if (have == 0 && take == need) {
		/* The whole message is in this skb. */
		if (mlen > FQDN_MAX_MSG_LEN) {
			tcp_count(FQDN_TCP_CTR_RX_TOO_LONG, 1);
			fqdn_tcp_response(c->skb, c->cookie, off, mlen, FQDN_TCP_SRC_NONE);
		} else {
			fqdn_tcp_response(c->skb, c->cookie, off, mlen, FQDN_TCP_SRC_SKB);
		}
		rx_message_done(ts);
		c->off = off + take;
		return 0;
	}

	/* A message spanning skbs: keep its bytes. */
	if (take == 0) {
		/* The skb ended right after a length prefix. */
		c->off = off;
		return 1;
	}
	if (!(ts->flags & FQDN_TCP_F_SKIP)) {
		struct fqdn_tcp_buf *buf;
		__u32 zero = 0, at = have & (FQDN_MAX_MSG_LEN - 1), n = take;

		if (have == 0) {
			struct fqdn_tcp_buf *src = bpf_map_lookup_elem(&fq_tcp_zero, &zero);
			if (src)
				bpf_map_update_elem(&fq_tcp_buf, &c->cookie, src, BPF_ANY);
		}
		buf = bpf_map_lookup_elem(&fq_tcp_buf, &c->cookie);
		if (!buf) {
			ts->flags |= FQDN_TCP_F_SKIP;
			tcp_count(FQDN_TCP_CTR_RX_NO_BUFFER, 1);
		} else {
			asm volatile("" : "+r"(n));
			if (n < 1 || n > FQDN_MAX_MSG_LEN ||
			    bpf_skb_load_bytes(c->skb, off, buf->data + at, fqdn_len_bound(n)) < 0)
				goto lost;
			ts->flags |= FQDN_TCP_F_BUF;
		}
	}
	have += take;
	ts->have = have;
	off += take;
	c->off = off;
	if (have == mlen) {
		tcp_count(FQDN_TCP_CTR_RX_REASSEMBLED, 1);
		if (mlen > FQDN_MAX_MSG_LEN) {
			tcp_count(FQDN_TCP_CTR_RX_TOO_LONG, 1);
			fqdn_tcp_response(c->skb, c->cookie, 0, mlen, FQDN_TCP_SRC_NONE);
		} else if (ts->flags & FQDN_TCP_F_BUF) {
			fqdn_tcp_response(c->skb, c->cookie, 0, mlen, FQDN_TCP_SRC_BUF);
		}
		if (ts->flags & FQDN_TCP_F_BUF)
			bpf_map_delete_elem(&fq_tcp_buf, &c->cookie);
		rx_message_done(ts);
	}
	return 0;

lost:
	ts->flags |= FQDN_TCP_F_LOST;
	return 1;
}

SEC("sk_skb/stream_verdict")
int fqdn_dns_sk_skb(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct fqdn_tcp_sock *ts = bpf_map_lookup_elem(&fq_tcp_sock, &cookie);
	struct tcp_rx_ctx c = {};

	if (!ts || (ts->flags & FQDN_TCP_F_LOST))
		return SK_PASS;
	tcp_count(FQDN_TCP_CTR_RX_SEGMENTS, 1);
	tcp_count(FQDN_TCP_CTR_RX_BYTES, skb->len);
	c.skb = skb;
	c.ts = ts;
	c.cookie = cookie;
	c.len = skb->len;
	bpf_loop(FQDN_TCP_RX_MAX_STEPS, rx_step, &c, 0);
	if (c.off < c.len)
		ts->flags |= FQDN_TCP_F_LOST;
	if (ts->flags & FQDN_TCP_F_LOST) {
		/* Nothing more is parsed on this connection (its bytes still pass). */
		bpf_map_delete_elem(&fq_tcp_buf, &cookie);
		tcp_count(FQDN_TCP_CTR_RX_LOST, 1);
	}
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
