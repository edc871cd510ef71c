/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* LPM trie lookup (CIDR rules) from tc. */
#include "common.h"

struct cidr_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cidr_key);
	__type(value, __u32);
} cidrs SEC(".maps");

SEC("tc")
int probe_lpm_trie(struct __sk_buff *skb)
{
	struct cidr_key k = {.prefixlen = 128};
	if (bpf_skb_load_bytes(skb, 22, k.addr, 16))
		return TC_ACT_OK;
	return bpf_map_lookup_elem(&cidrs, &k) ? TC_ACT_OK : TC_ACT_SHOT;
}
