// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * datapath_bench.bpf.c: companions of the datapath programs for the micro-
 * benchmarks (Sources/DatapathBench), loaded with the pinned datapath's maps
 * (libbpf map reuse), so they see the live endpoints, policies and learned state.
 *
 * A response is only learned from once: it consumes its in-flight query. To
 * time the response path with BPF_PROG_TEST_RUN's repeat, bench_response puts
 * the in-flight entry back (from bench_stash, filled from user space) before
 * running exactly what fqdn_veth_egress runs; bench_restore does only the
 * put-back, so its time is subtracted. bench_trivial is the floor of any
 * tc program.
 */
#define DP_ATTACH DP_ATTACH_VETH
#include "datapath.h"

struct bench_inflight {
	struct fqdn_inflight_key key;
	struct fqdn_inflight value;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_inflight);
} bench_stash SEC(".maps");

static __always_inline void bench_put_back(void)
{
	__u32 zero = 0;
	struct bench_inflight *s = bpf_map_lookup_elem(&bench_stash, &zero);

	if (s)
		bpf_map_update_elem(&fq_inflight, &s->key, &s->value, BPF_ANY);
}

SEC("tc")
int bench_trivial(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("tc")
int bench_restore(struct __sk_buff *skb)
{
	bench_put_back();
	return TC_ACT_OK;
}

SEC("tc")
int bench_response(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct fqdn_endpoint *ep;

	bench_put_back();
	ep = bpf_map_lookup_elem(&fq_ep_ifindex, &ifindex);
	if (ep)
		dp_ingress(skb, ep);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
