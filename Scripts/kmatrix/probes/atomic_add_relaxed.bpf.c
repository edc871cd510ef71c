/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A counter bump written as __atomic_fetch_add(..., __ATOMIC_RELAXED) with
 * the result unused: clang emits the old BPF_XADD encoding even with
 * -mcpu=v3 (where __sync_fetch_and_add becomes atomic_fetch_add). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

SEC("tc")
int probe_atomic_add_relaxed(struct __sk_buff *skb)
{
	__u32 k = 0;
	__u64 *c = bpf_map_lookup_elem(&counters, &k);
	if (c)
		__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
	return TC_ACT_OK;
}
