// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * trie_test.bpf.c: the trie walk's test harness (driven by FQDNKernel's
 * KernelTrie through BPF_PROG_TEST_RUN; never attached).
 *
 *   trie_walk     The packet is a 14-byte Ethernet header then a struct
 *                 fqdn_trie_query (policy version id + wire-form name); runs
 *                 fqdn_trie_walk and writes the struct fqdn_trie_result to
 *                 trie_out[0]. Returns 0, or TC_ACT_SHOT (2) when the packet
 *                 is too short (trie_out untouched).
 *   trie_load     Reads the query the same way and returns: the cost of
 *                 getting the input, for benchmarks.
 *   trivial       Returns at once: the floor for benchmarks.
 *
 * The trie maps (fq_trie_nodes, fq_trie_globs, fq_trie_sets) come
 * from trie.h and are filled by the caller with DomainTrie's entries.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "trie.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TRIE_TEST_ETH_HLEN 14

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fqdn_trie_result);
} trie_out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fqdn_trie_query);
} trie_query SEC(".maps");

static __always_inline struct fqdn_trie_query *load_query(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct fqdn_trie_query *q = bpf_map_lookup_elem(&trie_query, &zero);

	if (!q)
		return 0;
	if (bpf_skb_load_bytes(skb, TRIE_TEST_ETH_HLEN, q, sizeof(*q)))
		return 0;
	return q;
}

SEC("tc")
int trie_walk(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct fqdn_trie_query *q = load_query(skb);
	struct fqdn_trie_result *res = bpf_map_lookup_elem(&trie_out, &zero);

	if (!q || !res)
		return TC_ACT_SHOT;
	fqdn_trie_walk(q->policy, &q->name, res);
	return TC_ACT_OK;
}

SEC("tc")
int trie_load(struct __sk_buff *skb)
{
	return load_query(skb) ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("tc")
int trivial(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
