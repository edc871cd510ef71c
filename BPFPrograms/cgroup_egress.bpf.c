// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup_egress.bpf.c: cgroup_skb egress of a cgroup v2 endpoint (host
 * processes). Same checks as veth_ingress, but a cgroup_skb program cannot
 * rewrite or redirect a packet: a refused query is dropped (the sender's
 * sendmsg gets EPERM) whatever the policy's refused-query action.
 */
#define DP_ATTACH DP_ATTACH_CGROUP
#include "datapath.h"

SEC("cgroup_skb/egress")
int fqdn_cgroup_egress(struct __sk_buff *skb)
{
	struct fqdn_endpoint *ep = dp_cgroup_endpoint(skb);
	int v;

	if (!ep)
		return 1;
	v = dp_egress(skb, ep);
	/* The verifier knows nothing of a global function's result, clang
	 * does (0 or 1) and would return it flipped: hide it from clang. */
	asm volatile("" : "+r"(v));
	return v == DP_PASS ? 1 : 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
