/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dp_tcp_segments.h: TCP segments between an endpoint and a trusted server's
 * DNS port: only the bytes the connection's socket wrote leave (fq_tcp_tx),
 * and on a veth endpoint every segment's sequence numbers are shifted
 * (fq_secret). Documentation/TCP.md.
 */
#ifndef FQDN_DP_TCP_SEGMENTS_H
#define FQDN_DP_TCP_SEGMENTS_H

#include "dp_learn.h"

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
#pragma clang loop unroll(disable) /* one byte per step; a chunk ends early */
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
	__u32 i, b, n;
	__s64 d;

	n = hdr - 20;
	if (n < 2 || n > 40)
		return 0;
	/* 1..64 in a form every verifier keeps (7.2 and 6.1 lost the lower
	 * bound of the plain check: "invalid zero-sized read"); n is 2..40. */
	n = ((n - 1) & 63) + 1;
	t.n = n;
	if (bpf_skb_load_bytes(skb, l4 + 20, t.o, n) < 0)
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
 * without one, never tracked, nothing was: rejected, with an event); on a
 * veth endpoint the numbers of every segment are shifted (dp_tcp_shift). A
 * global function, called by the entry points: verified once, its loops off
 * the stack of the parser's call chain. */
__attribute__((noinline)) int fqdn_dp_tcp(struct __sk_buff *skb, __u64 ep_lo, __u64 ep_hi, __u32 out)
{
	struct fqdn_tcp_tx_key k = {};
	struct fqdn_tcp_tx *tx;
	struct fqdn_endpoint ep;
	struct dp_pkt p;
	__u8 h[20];

	if (!skb || dp_headers(skb, &p) < 0 || p.proto != DP_IPPROTO_TCP || !p.l4_off)
		return DP_TCP_BROKEN;
	/* Every argument must be used: clang leaves an unused one unset in the
	 * caller, and the verifier refuses the call (`R3 is not a scalar`). */
	asm volatile("" : : "r"(ep_hi));
	dp_ep_unpack(&ep, ep_lo, ep_hi);
	k.endpoint_id = ep.endpoint_id;
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
					   p.l4_off + (h[12] >> 4) * 4, p.tcp_data)) {
			dp_query_rejected(&ep, &p, FQDN_QREJ_TCP_UNWRITTEN, 0);
			return DP_TCP_UNWRITTEN;
		}
	}
#if DP_ATTACH == DP_ATTACH_VETH
	if (dp_tcp_shift(skb, &k, p.l4_off, h, out) < 0)
		return DP_TCP_BROKEN;
#endif
	return DP_TCP_OK;
}
#endif

#endif /* FQDN_DP_TCP_SEGMENTS_H */
