// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * veth_ingress.bpf.c: tc/tcx ingress of a pod's HOST-side veth, which is the
 * pod's egress. DNS queries to trusted servers are checked against the DNS
 * rules (refused ones are answered in the kernel: the query is rewritten into
 * a REFUSED/NXDOMAIN answer and redirected back out of the same interface, or
 * dropped, by policy) and recorded in flight; every other packet must go to a
 * learned address, a CIDR rule or an established flow, on an allowed port.
 */
#define DP_ATTACH DP_ATTACH_VETH
#include "datapath.h"

SEC("tc")
int fqdn_veth_ingress(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct fqdn_endpoint *ep = bpf_map_lookup_elem(&fq_ep_ifindex, &ifindex);

	if (!ep)
		return TC_ACT_OK;
	switch (dp_egress(skb, ep)) {
	case DP_DROP:
		return TC_ACT_SHOT;
	case DP_REDIRECT:
		return bpf_redirect(skb->ifindex, 0);
	default:
		return TC_ACT_OK;
	}
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
