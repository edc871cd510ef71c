/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* sk_skb verdict program reading the socket cookie (per-socket TCP framing
 * state is keyed by it) and the payload with bpf_skb_load_bytes. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u32);
} framing SEC(".maps");

SEC("sk_skb/stream_verdict")
int probe_sk_skb_cookie(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	__u16 prefix = 0;
	bpf_skb_load_bytes(skb, 0, &prefix, 2);
	__u32 v = prefix;
	bpf_map_update_elem(&framing, &cookie, &v, BPF_ANY);
	return SK_PASS;
}
