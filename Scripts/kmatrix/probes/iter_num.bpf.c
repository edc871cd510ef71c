/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Open-coded numeric iterator (kfuncs bpf_iter_num_new/next/destroy).
 * libbpf 1.1's headers have neither the type nor the kfunc declarations. */
#include "common.h"

struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

SEC("tc")
int probe_iter_num(struct __sk_buff *skb)
{
	struct bpf_iter_num it;
	int *v, sum = 0;
	bpf_iter_num_new(&it, 0, 100);
	while ((v = bpf_iter_num_next(&it)))
		sum += *v;
	bpf_iter_num_destroy(&it);
	return sum == 4950 ? TC_ACT_OK : TC_ACT_SHOT;
}
