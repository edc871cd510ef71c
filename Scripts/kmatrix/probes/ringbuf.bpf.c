/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* BPF ring buffer map + reserve/submit from tc (events). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("tc")
int probe_ringbuf(struct __sk_buff *skb)
{
	__u32 *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return TC_ACT_OK;
	*e = skb->len;
	bpf_ringbuf_submit(e, 0);
	return TC_ACT_OK;
}
