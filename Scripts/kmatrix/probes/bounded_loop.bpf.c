/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A bounded loop the compiler does not unroll, reading the packet with
 * bpf_skb_load_bytes: the parser's basic pattern (verifier >= 5.3). */
#include "common.h"

SEC("tc")
int probe_bounded_loop(struct __sk_buff *skb)
{
	__u32 sum = 0;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 255; i++) {
		__u8 b;
		if (bpf_skb_load_bytes(skb, i, &b, 1))
			break;
		sum += b;
	}
	return sum ? TC_ACT_OK : TC_ACT_SHOT;
}
