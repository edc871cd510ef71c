/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * maps_test: one map of every type BPFMapBindings wraps, for its round-trip tests, and a
 * program that touches the per-CPU array, the hash map and the ring buffer so the tests
 * can see kernel-side writes.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

/* An event on the ring buffer. Swift mirrors it in Tests/BPFMapBindingsTests. */
struct maps_test_event {
	__u32 seq;
	__u32 len;
	__u64 marker;
};
_Static_assert(sizeof(struct maps_test_event) == 16, "maps_test_event layout");

/* LPM trie key: prefix length in bits, then the IPv4 address (network order). */
struct maps_test_lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};

const volatile __u64 marker = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
} lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct maps_test_lpm_key);
	__type(value, __u32);
} lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} sockmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} sockhash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* Each run: percpu[0] += 1 on this CPU, hash[len] = marker, one event. */
SEC("tc")
int touch_maps(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *count = bpf_map_lookup_elem(&percpu, &key);
	__u64 seq = 0;
	if (count) {
		*count += 1;
		seq = *count;
	}

	__u32 len = skb->len;
	__u64 value = marker;
	bpf_map_update_elem(&hash, &len, &value, BPF_ANY);

	struct maps_test_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		e->seq = (__u32)seq;
		e->len = len;
		e->marker = marker;
		bpf_ringbuf_submit(e, 0);
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
