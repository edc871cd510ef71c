// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * parser_test.bpf.c: the DNS parser's test harness (driven by FQDNKernel's
 * KernelParser through BPF_PROG_TEST_RUN; never attached).
 *
 *   parse_packet  Ethernet / IPv4|IPv6 / UDP -> DNS message (length from the
 *                 UDP header), or Ethernet / IPv4|IPv6 / TCP -> 2-byte length
 *                 prefix + DNS message (the sk_skb framing). Runs the parser on
 *                 the packet through bpf_skb_load_bytes at that offset.
 *   parse_buffer  The message comes from the msg_in map (any length up to
 *                 FQDN_MAX_MSG_LEN, and a length field beyond it to test the
 *                 limit): BPF_PROG_TEST_RUN packets are limited to one page.
 *   parse_stream  sk_skb/stream_verdict: the message after the 2-byte TCP
 *                 prefix at the start of the skb (loaded, never test-run).
 *   trivial       Returns at once: the floor for benchmarks.
 *
 * Facts go to facts_out[0]. On an error verdict everything but verdict,
 * reason and offset is zero. The program returns 0 when it parsed a message,
 * TC_ACT_SHOT (2) when the packet carries no DNS message it understands
 * (facts_out untouched).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "dns_parser.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fqdn_facts);
} facts_out SEC(".maps");

struct fqdn_msg_in {
	__u32 len;
	__u8 msg[FQDN_DNS_BUF_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fqdn_msg_in);
} msg_in SEC(".maps");

/* Zero everything after verdict, reason and offset (the error contract).
 * 487 stores: only on the error path. */
FQDN_STATIC_ASSERT(sizeof(struct fqdn_facts) % 8 == 0, "facts are zeroed in 8-byte words");
static __always_inline void zero_facts_after_verdict(struct fqdn_facts *out)
{
	volatile __u64 *w = (volatile __u64 *)((__u8 *)out + 16); /* volatile: no memset libcall */
	unsigned int i;

	out->id = 0;
	out->flags = 0;
#pragma clang loop unroll(full)
	for (i = 0; i < (sizeof(*out) - 16) / 8; i++)
		w[i] = 0;
}

static __always_inline int finish(struct fqdn_facts *out)
{
	if (out->verdict != FQDN_VERDICT_OK)
		zero_facts_after_verdict(out);
	return TC_ACT_OK;
}

SEC("tc")
int parse_packet(struct __sk_buff *skb)
{
	/* Headers through direct packet access (a helper call costs ~40 ns
	 * here; see Documentation/Benchmarks.md), the message through one
	 * bpf_skb_load_bytes inside the parser. */
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct fqdn_dns_scratch *s = fqdn_dns_scratch_get();
	__u32 zero = 0, off = ETH_HLEN, len, proto;
	struct fqdn_facts *out = bpf_map_lookup_elem(&facts_out, &zero);
	struct ethhdr *eth = data;
	__u8 *h;

	if (!s || !out || (void *)(eth + 1) > end)
		return TC_ACT_SHOT;
	h = data + off;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		if ((void *)(h + 20) > end || (h[0] >> 4) != 4)
			return TC_ACT_SHOT;
		proto = h[9];
		off += (h[0] & 0xF) * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		if ((void *)(h + 40) > end || (h[0] >> 4) != 6)
			return TC_ACT_SHOT;
		proto = h[6];
		off += 40;
	} else {
		return TC_ACT_SHOT;
	}
	h = data + off;
	if (proto == IPPROTO_UDP) {
		if ((void *)(h + 8) > end)
			return TC_ACT_SHOT;
		len = ((__u32)h[4] << 8) | h[5];
		if (len < 8)
			return TC_ACT_SHOT;
		len -= 8;
		off += 8;
	} else if (proto == IPPROTO_TCP) {
		if ((void *)(h + 20) > end)
			return TC_ACT_SHOT;
		off += (h[12] >> 4) * 4;
		h = data + off;
		if ((void *)(h + 2) > end)
			return TC_ACT_SHOT;
		len = ((__u32)h[0] << 8) | h[1];
		off += 2;
	} else {
		return TC_ACT_SHOT;
	}
	if (off + len > skb->len)
		return TC_ACT_SHOT;
	fqdn_dns_parse_skb(skb, off, len, s, out);
	return finish(out);
}

SEC("tc")
int parse_buffer(struct __sk_buff *skb)
{
	struct fqdn_dns_scratch *s = fqdn_dns_scratch_get();
	__u32 zero = 0;
	struct fqdn_facts *out = bpf_map_lookup_elem(&facts_out, &zero);
	struct fqdn_msg_in *in = bpf_map_lookup_elem(&msg_in, &zero);

	if (!s || !out || !in)
		return TC_ACT_SHOT;
	fqdn_dns_parse(in->msg, in->len, s, out);
	return finish(out);
}

/* The parser in an sk_skb program (the DNS-over-TCP path, Documentation/TCP.md): the skb starts
 * at the 2-byte length prefix. sk_skb programs cannot be test-run; this one
 * is here so the verifier's verdict on the parser in that program type is
 * part of every load (and of fqdnctl verifier-report). */
SEC("sk_skb/stream_verdict")
int parse_stream(struct __sk_buff *skb)
{
	struct fqdn_dns_scratch *s = fqdn_dns_scratch_get();
	__u32 zero = 0, len;
	struct fqdn_facts *out = bpf_map_lookup_elem(&facts_out, &zero);
	__u8 prefix[2];

	if (!s || !out || bpf_skb_load_bytes(skb, 0, prefix, 2) < 0)
		return SK_PASS;
	len = ((__u32)prefix[0] << 8) | prefix[1];
	if (2 + len > skb->len)
		return SK_PASS;
	fqdn_dns_parse_skb(skb, 2, len, s, out);
	finish(out);
	return SK_PASS;
}

SEC("tc")
int trivial(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
