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

/* The benchmark's packets: Ethernet, a 20-byte IPv4 header, UDP, DNS. */
#define BENCH_UDP_DPORT_OFF (ETH_HLEN + 20 + 2)
#define BENCH_DNS_ID_OFF (ETH_HLEN + 20 + 8)

/* Puts the stashed in-flight entry back and, for a randomised query, the
 * packet's port and id back to what the server answered to (the previous
 * run gave the pod's back: the test run reuses one packet). */
static __always_inline void bench_put_back(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct bench_inflight *s = bpf_map_lookup_elem(&bench_stash, &zero);
	__u16 port_be, id_be;

	if (!s)
		return;
	bpf_map_update_elem(&fq_inflight, &s->key, &s->value, BPF_ANY);
#if FQDN_QUERY_RANDOMISATION
	if (s->value.flags & FQDN_INF_F_RANDOMISED) {
		port_be = bpf_htons(s->key.client_port);
		id_be = bpf_htons(s->value.wire_txid);
		bpf_skb_store_bytes(skb, BENCH_UDP_DPORT_OFF, &port_be, 2, 0);
		bpf_skb_store_bytes(skb, BENCH_DNS_ID_OFF, &id_be, 2, 0);
	}
#endif
}

SEC("tc")
int bench_trivial(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("tc")
int bench_restore(struct __sk_buff *skb)
{
	bench_put_back(skb);
	return TC_ACT_OK;
}

SEC("tc")
int bench_response(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct fqdn_endpoint *ep;

	bench_put_back(skb);
	ep = bpf_map_lookup_elem(&fq_ep_ifindex, &ifindex);
	if (ep)
		dp_ingress(skb, ep);
	return TC_ACT_OK;
}

/* A query as in steady traffic, every run: fqdn_veth_ingress's code, then what its answer
 * would do to the in-flight entry (deleted: answered queries free their LRU node, so the
 * insert never has to evict) and the packet's own port and id put back (the next run is the
 * same query again, randomised afresh). bench_query_floor does only the put-back part. */
static __always_inline void bench_query_tail(struct __sk_buff *skb, __u32 ep_id, __u16 port_be, __u16 id_be)
{
	struct fqdn_inflight_key k = {};
	__u16 drawn_be = 0;

	bpf_skb_load_bytes(skb, BENCH_UDP_DPORT_OFF - 2, &drawn_be, 2);
	bpf_skb_load_bytes(skb, ETH_HLEN + 16, k.server, 4);
	k.endpoint_id = ep_id;
	k.client_port = bpf_ntohs(drawn_be);
	k.server_port = 53;
	k.family = FQDN_AF_INET;
	bpf_map_delete_elem(&fq_inflight, &k);
	bpf_skb_store_bytes(skb, BENCH_UDP_DPORT_OFF - 2, &port_be, 2, 0);
	bpf_skb_store_bytes(skb, BENCH_DNS_ID_OFF, &id_be, 2, 0);
}

SEC("tc")
int bench_query(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct fqdn_endpoint *ep = bpf_map_lookup_elem(&fq_ep_ifindex, &ifindex);
	__u16 port_be = 0, id_be = 0;
	int v;

	if (!ep)
		return TC_ACT_SHOT;
	bpf_skb_load_bytes(skb, BENCH_UDP_DPORT_OFF - 2, &port_be, 2);
	bpf_skb_load_bytes(skb, BENCH_DNS_ID_OFF, &id_be, 2);
	v = dp_egress(skb, ep);
	bench_query_tail(skb, ep->endpoint_id, port_be, id_be);
	return v == DP_PASS ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("tc")
int bench_query_floor(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct fqdn_endpoint *ep = bpf_map_lookup_elem(&fq_ep_ifindex, &ifindex);
	__u16 port_be = 0, id_be = 0;

	if (!ep)
		return TC_ACT_SHOT;
	bpf_skb_load_bytes(skb, BENCH_UDP_DPORT_OFF - 2, &port_be, 2);
	bpf_skb_load_bytes(skb, BENCH_DNS_ID_OFF, &id_be, 2);
	bench_query_tail(skb, ep->endpoint_id, port_be, id_be);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
