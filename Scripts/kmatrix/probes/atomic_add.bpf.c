/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* __sync_fetch_and_add with the result unused (per-CPU-free counters). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

SEC("tc")
int probe_atomic_add(struct __sk_buff *skb)
{
	__u32 k = 0;
	__u64 *c = bpf_map_lookup_elem(&counters, &k);
	if (c)
		__sync_fetch_and_add(c, 1);
	return TC_ACT_OK;
}
