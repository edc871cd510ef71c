/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dp_events.h: counters (fq_counters) and the ring-buffer events (fq_events)
 * of the datapath, and small byte helpers the rest uses.
 */
#ifndef FQDN_DP_EVENTS_H
#define FQDN_DP_EVENTS_H

#include "dp_base.h"

static __always_inline void dp_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&fq_counters, &idx);
	if (v)
		*v += 1;
}

static __always_inline struct fqdn_event *dp_event_reserve(__u32 type, const struct fqdn_endpoint *ep)
{
	struct fqdn_event *e = bpf_ringbuf_reserve(&fq_events, sizeof(*e), 0);
	if (!e) {
		dp_count(FQDN_CTR_EVENTS_LOST);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_boot_ns();
	e->type = type;
	e->endpoint_id = ep->endpoint_id;
	e->policy_id = ep->policy_id;
	return e;
}

static __always_inline void dp_copy16(__u8 *dst, const __u8 *src)
{
	__builtin_memcpy(dst, src, 16);
}

static __always_inline int dp_same16(const __u8 *a, const __u8 *b)
{
	__u64 a0, a1, b0, b1;
	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	__builtin_memcpy(&b0, b, 8);
	__builtin_memcpy(&b1, b + 8, 8);
	return a0 == b0 && a1 == b1;
}

static __always_inline int dp_is_zero16(const __u8 *a)
{
	__u64 a0, a1;
	__builtin_memcpy(&a0, a, 8);
	__builtin_memcpy(&a1, a + 8, 8);
	return (a0 | a1) == 0;
}

static __always_inline void dp_copy_name(struct fqdn_wire_name *dst, const struct fqdn_wire_name *src)
{
	__builtin_memcpy(dst, src, sizeof(*dst));
}

#endif /* FQDN_DP_EVENTS_H */
