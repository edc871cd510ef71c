/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * bindings_test: a tiny program for BPFMapBindings' own kernel tests. It counts runs and
 * records the last packet length in an array map, returns a const volatile setting, and
 * exercises every map type the bindings wrap.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

/* Set from Swift before load (BPFObject.setConstant). */
const volatile __u32 verdict = TC_ACT_OK;
const volatile __u64 len_bias = 0;

/* [0] = runs, [1] = last skb->len + len_bias */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("tc")
int count_packets(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	key = 1;
	v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		*v = skb->len + len_bias;
	return verdict;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
