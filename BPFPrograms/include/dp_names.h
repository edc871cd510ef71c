/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dp_names.h: DNS names as the datapath keys them (hash, fq_names entries) and
 * the trie walk that gives a name's rule tags under a policy version.
 */
#ifndef FQDN_DP_NAMES_H
#define FQDN_DP_NAMES_H

#include "dp_packet.h"

struct dp_hash_ctx {
	const struct fqdn_wire_name *name;
	__u64 h;
};

static long dp_hash_step(__u32 i, void *ctx)
{
	struct dp_hash_ctx *c = ctx;
	if (i >= c->name->len || i >= FQDN_MAX_NAME_LEN)
		return 1;
	c->h ^= c->name->wire[i & 0xFF];
	c->h *= FQDN_FNV64_PRIME;
	return 0;
}

/* FNV-1a 64 of the lowercase wire name (the parser reports names lowercase). */
static __always_inline __u64 dp_name_hash(const struct fqdn_wire_name *name)
{
	struct dp_hash_ctx c = { .name = name, .h = FQDN_FNV64_OFFSET };
	bpf_loop(FQDN_MAX_NAME_LEN, dp_hash_step, &c, 0);
	return c.h;
}

/* The tags of every pattern of policy version `policy` that matches `name`,
 * as a mask: bit r (< 32) for egress rule r, DP_TAG_QUERY_BIT for the DNS
 * rules. A failed walk counts and matches nothing (fails closed). */
static __always_inline __u64 dp_trie_tags(__u32 policy, const struct fqdn_wire_name *name,
					  struct fqdn_trie_result *res)
{
	__u64 mask = 0;
	__u32 i, j;

	fqdn_trie_walk(policy, name, res);
	if (res->status != FQDN_TRIE_OK) {
		dp_count(FQDN_CTR_TRIE_ERRORS);
		return 0;
	}
	for (i = 0; i < FQDN_TRIE_MAX_HITS; i++) {
		struct fqdn_trie_set_key sk;
		struct fqdn_trie_set *set;

		if (i >= res->hit_count)
			break;
		sk.policy = policy;
		sk.set = res->hits[i];
		set = bpf_map_lookup_elem(&fq_trie_sets, &sk);
		if (!set)
			continue;
		for (j = 0; j < FQDN_TRIE_MAX_SET_TAGS; j++) {
			__u32 tag;
			if (j >= set->count)
				break;
			tag = set->tags[j];
			if (tag < FQDN_MAX_RULES)
				mask |= 1ULL << tag;
			else if (tag == FQDN_TAG_DNS_QUERY)
				mask |= DP_TAG_QUERY_BIT;
		}
	}
	return mask;
}

#endif /* FQDN_DP_NAMES_H */
