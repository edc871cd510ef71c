// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup_ingress.bpf.c: cgroup_skb ingress of a cgroup v2 endpoint. DNS
 * responses are learned from when the kernel queues them to the receiving
 * socket, before the process reads them. Everything is delivered.
 */
#define DP_ATTACH DP_ATTACH_CGROUP
#include "datapath.h"

SEC("cgroup_skb/ingress")
int fqdn_cgroup_ingress(struct __sk_buff *skb)
{
	struct fqdn_endpoint *ep = dp_cgroup_endpoint(skb);

	if (ep && dp_ingress(skb, ep) == DP_DROP)
		return 0;
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
