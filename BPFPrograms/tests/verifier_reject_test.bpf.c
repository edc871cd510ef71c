/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * verifier_reject_test: a program the verifier must reject: it dereferences a hash map
 * value without the NULL check (an array lookup with a constant key would be proven
 * non-NULL by newer verifiers). BPFMapBindings' tests check the error carries the log.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

SEC("tc")
int missing_null_check(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&values, &key);
	return (int)*v; /* rejected: R0 invalid mem access 'map_value_or_null' */
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
