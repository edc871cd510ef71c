/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Atomics whose result is used: fetch-add, exchange, compare-and-swap
 * (BPF_ATOMIC with BPF_FETCH; -mcpu=v3 only, kernel >= 5.12). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

SEC("tc")
int probe_atomic_fetch(struct __sk_buff *skb)
{
	__u32 k = 0;
	__u64 *c = bpf_map_lookup_elem(&counters, &k);
	if (!c)
		return TC_ACT_OK;
	__u64 old = __sync_fetch_and_add(c, 1);
	old += __sync_lock_test_and_set(c, old);
	old += __sync_val_compare_and_swap(c, old, 7);
	return old ? TC_ACT_OK : TC_ACT_SHOT;
}
