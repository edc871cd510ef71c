/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * datapath_maps.h: every map the attach-point programs share. Layouts and
 * capacities come from fqdn_shared.h (section 4). Each attach point is its
 * own object (veth_ingress.bpf.c, ...); PolicyEngine creates these maps once,
 * pins them under <pin dir>/maps/<name> and hands the same maps to every
 * object before it loads (libbpf map reuse), so all programs see one state.
 * Names are at most 15 characters (the kernel's object name limit).
 */
#ifndef FQDN_DATAPATH_MAPS_H
#define FQDN_DATAPATH_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "fqdn_shared.h"

/* Endpoints. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FQDN_MAX_ENDPOINTS);
	__type(key, __u32); /* ifindex */
	__type(value, struct fqdn_endpoint);
} fq_ep_ifindex SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FQDN_MAX_ENDPOINTS);
	__type(key, __u64); /* cgroup id */
	__type(value, struct fqdn_endpoint);
} fq_ep_cgroup SEC(".maps");

/* The addresses an endpoint may send from (FQDN_EP_F_SRC_CHECK). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FQDN_MAX_ENDPOINTS * FQDN_MAX_EP_ADDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fqdn_ep_addr_key);
	__type(value, __u32);
} fq_ep_addr SEC(".maps");

/* User space only (status without an agent). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FQDN_MAX_ENDPOINTS);
	__type(key, __u32); /* endpoint id */
	__type(value, struct fqdn_endpoint_info);
} fq_ep_info SEC(".maps");

/* Policy versions. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FQDN_MAX_POLICY_VERSIONS);
	__type(key, __u32); /* policy id */
	__type(value, struct fqdn_policy_settings);
} fq_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FQDN_MAX_PORT_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fqdn_ports_key);
	__type(value, struct fqdn_rule_ports);
} fq_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FQDN_MAX_CIDR_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fqdn_cidr4_key);
	__type(value, struct fqdn_cidr);
} fq_cidr4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FQDN_MAX_CIDR_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fqdn_cidr6_key);
	__type(value, struct fqdn_cidr);
} fq_cidr6 SEC(".maps");

/* Trusted DNS servers. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FQDN_MAX_DNS_SERVERS);
	__type(key, struct fqdn_server_key);
	__type(value, __u32);
} fq_dns_servers SEC(".maps");

/* Queries on their way to a trusted server. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FQDN_MAX_INFLIGHT);
	__type(key, struct fqdn_inflight_key);
	__type(value, struct fqdn_inflight);
} fq_inflight SEC(".maps");

/* DNS-over-TCP client connections: the bytes each socket wrote (fqdn_shared.h,
 * fq_tcp_tx). Not in fqdn_shared.h: Swift would import the ring as a tuple. */
struct fqdn_tcp_tx {
	struct fqdn_tcp_tx_head head;
	__u8 ring[FQDN_TCP_TX_RING + FQDN_TCP_TX_MAX_QUERY];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FQDN_MAX_TCP_SOCKS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fqdn_tcp_tx_key);
	__type(value, struct fqdn_tcp_tx);
} fq_tcp_tx SEC(".maps");

/* The key of the TCP sequence number shift (fqdn_shared.h, fq_secret). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fqdn_secret);
} fq_secret SEC(".maps");

/* Learned addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FQDN_MAX_ALLOWED);
	__type(key, struct fqdn_allow4_key);
	__type(value, struct fqdn_allow);
} fq_allow4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FQDN_MAX_ALLOWED);
	__type(key, struct fqdn_allow6_key);
	__type(value, struct fqdn_allow);
} fq_allow6 SEC(".maps");

/* Names with learned addresses, and their address rings. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FQDN_MAX_NAMES);
	__type(key, struct fqdn_name_key);
	__type(value, struct fqdn_name);
} fq_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FQDN_MAX_NAME_SLOTS);
	__type(key, struct fqdn_slot_key);
	__type(value, struct fqdn_slot);
} fq_name_slots SEC(".maps");

/* Established TCP flows (grace after expiry). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FQDN_MAX_FLOWS);
	__type(key, struct fqdn_flow_key);
	__type(value, struct fqdn_flow);
} fq_flows SEC(".maps");

/* Connections into endpoints (their replies may leave). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FQDN_MAX_INBOUND);
	__type(key, struct fqdn_inbound_key);
	__type(value, struct fqdn_flow);
} fq_inbound SEC(".maps");

/* Events and counters. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, FQDN_EVENTS_RING_BYTES);
} fq_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FQDN_CTR_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} fq_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fqdn_meta);
} fq_meta SEC(".maps");

/* Per-CPU scratch of one program run (not shared, not pinned): the parser's
 * facts and the keys and values built before a map lookup or update. Keys and
 * values live here rather than on the stack because Linux 6.1 adds the frames
 * of the bpf_loop callback chain (trie walk: 4 levels) to the caller's 512
 * bytes ("combined stack size of N calls ... Too large"). */
struct fqdn_dp_scratch {
	struct fqdn_facts facts;
	struct fqdn_name name;
	struct fqdn_trie_result trie;
	struct fqdn_inflight_key inflight_key;
	struct fqdn_inflight inflight;
	struct fqdn_name_key name_key;
	__u8 rewrite[48]; /* dp_rewrite_answer (veth): header bytes, then the MAC swap */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fqdn_dp_scratch);
} fq_scratch SEC(".maps");

#endif /* FQDN_DATAPATH_MAPS_H */
