// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * veth_egress.bpf.c: tc/tcx egress of a pod's HOST-side veth, i.e. traffic
 * toward the pod. DNS responses from trusted servers that match an in-flight
 * query teach the pod's allowed addresses here, before the pod's socket can
 * see the answer; an answer to a randomised query gets back the port and id
 * the pod sent (or, forged, is dropped). Every other packet is delivered.
 */
#define DP_ATTACH DP_ATTACH_VETH
#include "datapath.h"

SEC("tc")
int fqdn_veth_egress(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct fqdn_endpoint *ep = bpf_map_lookup_elem(&fq_ep_ifindex, &ifindex);

	if (skb->mark == DP_MARK_KERNEL_ANSWER) {
		skb->mark = 0;
		return TC_ACT_OK;
	}
	if (ep && dp_ingress(skb, ep) == DP_DROP)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
