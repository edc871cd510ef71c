/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A global (non-static, noinline) function: verified once on its own,
 * which caps the verifier's cost of a parser step called from many places. */
#include "common.h"

__attribute__((noinline)) int km_read_u16(struct __sk_buff *skb, __u32 off)
{
	__u16 v = 0;
	if (!skb)
		return -1;
	if (bpf_skb_load_bytes(skb, off, &v, 2))
		return -1;
	return v;
}

SEC("tc")
int probe_global_func(struct __sk_buff *skb)
{
	return km_read_u16(skb, 12) >= 0 ? TC_ACT_OK : TC_ACT_SHOT;
}
