/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* bpf_loop helper (callback loop, verifier checks the body once). */
#include "common.h"

static long body(__u32 i, void *ctx)
{
	__u64 *sum = ctx;
	*sum += i;
	return 0;
}

SEC("tc")
int probe_bpf_loop(struct __sk_buff *skb)
{
	__u64 sum = 0;
	bpf_loop(100, body, &sum, 0);
	return sum == 4950 ? TC_ACT_OK : TC_ACT_SHOT;
}
