/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * trie.h: the domain trie walk (layouts: fqdn_shared.h section 3; compiler and
 * the Swift reference walk, step for step: Sources/DomainTrie/TrieWalk.swift).
 *
 *   fqdn_trie_walk(policy, name, res)
 *
 * walks policy version `policy`'s trie for a lowercase wire-form name and
 * writes the distinct set ids it hits into *res (status FQDN_TRIE_OK, or an
 * error with hit_count 0). Labels are visited from the TLD inward with a set
 * of active nodes (at most FQDN_TRIE_MAX_ACTIVE): for each label every active
 * node contributes its "**." set, its exact child, its "*" child and each glob
 * child whose glob matches the label; after the last label every active node
 * contributes its exact set. A name with a label byte outside [-a-z0-9_]
 * matches nothing.
 *
 * Every loop is bounded by a constant of the shared header and driven by
 * bpf_loop (labels, active nodes, glob slots, glob matcher steps), so the
 * verifier checks each body once. The walk's state lives in a per-CPU array
 * (fq_trie_state), not on the stack.
 */
#ifndef FQDN_TRIE_H
#define FQDN_TRIE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "fqdn_shared.h"

#if FQDN_LAYOUT_VERSION < 6
/* Before layout 6 the trie maps were pinned as fqdn_trie_*; objects built to
 * play an older agent (the upgrade tests) keep those names. */
#define fq_trie_nodes fqdn_trie_nodes
#define fq_trie_globs fqdn_trie_globs
#define fq_trie_sets fqdn_trie_sets
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FQDN_TRIE_MAX_NODES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fqdn_trie_key);
	__type(value, struct fqdn_trie_node);
} fq_trie_nodes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FQDN_TRIE_MAX_GLOB_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fqdn_trie_glob_key);
	__type(value, struct fqdn_trie_glob);
} fq_trie_globs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FQDN_TRIE_MAX_SETS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fqdn_trie_set_key);
	__type(value, struct fqdn_trie_set);
} fq_trie_sets SEC(".maps");

/* The walk's working state (per CPU, one walk at a time per CPU). */
#define FQDN_TRIE_NAME_BUF (FQDN_MAX_NAME_LEN + 1 + FQDN_TRIE_LABEL_BYTES)
struct fqdn_trie_walk_state {
	/* The name, then zeros: any label can be read as 8 whole words. */
	__u8 name[FQDN_TRIE_NAME_BUF];
	__u8 offs[FQDN_MAX_LABELS + 1]; /* offsets of the labels' length bytes */
	__u32 policy;
	__u32 len;
	__u32 nlabels;
	__u32 off;      /* label parsing: next length byte */
	__u32 done;
	__u32 invalid;  /* a label byte outside [-a-z0-9_] */
	__u32 status;   /* enum fqdn_trie_status */
	__u32 n_active;
	__u32 n_next;
	__u32 n_hits;
	__u32 parent;   /* node whose glob slots are being tried */
	__u32 llen;     /* current label length */
	/* glob matcher */
	__u32 gp, gs, gm, gstar, gmark, gmatched;
	struct fqdn_trie_key lkey; /* (policy, parent, current label) */
	struct fqdn_trie_key gkey; /* (policy, parent, "*" or glob text) */
	__u8 glob[FQDN_TRIE_LABEL_BYTES];
	struct fqdn_trie_node active[FQDN_TRIE_MAX_ACTIVE];
	struct fqdn_trie_node next[FQDN_TRIE_MAX_ACTIVE];
	__u32 hits[FQDN_TRIE_MAX_HITS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fqdn_trie_walk_state);
} fq_trie_state SEC(".maps");

struct fqdn_trie_ctx {
	struct fqdn_trie_walk_state *w;
};

/* Adds a set to the hits unless it is there; 0 ok, -1 full (status set). */
static __always_inline int fqdn_trie_hit(struct fqdn_trie_walk_state *w, __u32 set)
{
	__u32 i, n = w->n_hits;

	for (i = 0; i < FQDN_TRIE_MAX_HITS; i++) {
		if (i >= n)
			break;
		if (w->hits[i] == set)
			return 0;
	}
	if (n >= FQDN_TRIE_MAX_HITS) {
		w->status = FQDN_TRIE_ERR_HITS;
		return -1;
	}
	w->hits[n & (FQDN_TRIE_MAX_HITS - 1)] = set;
	w->n_hits = n + 1;
	return 0;
}

/* Appends a node to the next depth's active set; 0 ok, -1 full (status set). */
static __always_inline int fqdn_trie_push(struct fqdn_trie_walk_state *w, const struct fqdn_trie_node *c)
{
	__u32 n = w->n_next;

	if (n >= FQDN_TRIE_MAX_ACTIVE) {
		w->status = FQDN_TRIE_ERR_ACTIVE;
		return -1;
	}
	w->next[n & (FQDN_TRIE_MAX_ACTIVE - 1)] = *c;
	w->n_next = n + 1;
	return 0;
}

FQDN_STATIC_ASSERT((FQDN_TRIE_MAX_HITS & (FQDN_TRIE_MAX_HITS - 1)) == 0, "hits index mask");
FQDN_STATIC_ASSERT((FQDN_TRIE_MAX_ACTIVE & (FQDN_TRIE_MAX_ACTIVE - 1)) == 0, "active index mask");
FQDN_STATIC_ASSERT(FQDN_TRIE_LABEL_BYTES == 64 && FQDN_MAX_LABELS + 1 == 128, "index masks below");

/* Whether every byte of an 8-byte word in lanes [0, n) (n in 1..8) is one
 * of [-a-z0-9_]: SWAR range checks on 7-bit lanes, and no lane >= 0x80. */
#define FQDN_TRIE_SWAR_L 0x0101010101010101ULL
#define FQDN_TRIE_SWAR_H 0x8080808080808080ULL
static __always_inline __u64 fqdn_trie_lanes_ge(__u64 x7, __u64 c)
{
	/* high bit of each lane: lane >= c (lanes and c < 0x80) */
	return ((x7 | FQDN_TRIE_SWAR_H) - c * FQDN_TRIE_SWAR_L) & FQDN_TRIE_SWAR_H;
}

static __always_inline int fqdn_trie_word_ok(__u64 x, int n)
{
	__u64 lanes = n >= 8 ? FQDN_TRIE_SWAR_H : FQDN_TRIE_SWAR_H & ((1ULL << (8 * n)) - 1);
	__u64 x7 = x & ~FQDN_TRIE_SWAR_H;
	__u64 ok = (fqdn_trie_lanes_ge(x7, 'a') & ~fqdn_trie_lanes_ge(x7, 'z' + 1)) |
		   (fqdn_trie_lanes_ge(x7, '0') & ~fqdn_trie_lanes_ge(x7, '9' + 1)) |
		   (fqdn_trie_lanes_ge(x7, '-') & ~fqdn_trie_lanes_ge(x7, '-' + 1)) |
		   (fqdn_trie_lanes_ge(x7, '_') & ~fqdn_trie_lanes_ge(x7, '_' + 1));
	return ((x & FQDN_TRIE_SWAR_H) | (~ok & FQDN_TRIE_SWAR_H)) & lanes ? 0 : 1;
}

/* Word k of the label whose length byte is at w->off. */
static long fqdn_trie_word_step(__u32 k, void *ctx)
{
	struct fqdn_trie_walk_state *w = ((struct fqdn_trie_ctx *)ctx)->w;
	__u32 off = w->off & 0xFF, b = w->name[off];
	int n = (int)b - 8 * (int)(k & 7);

	if (k >= FQDN_TRIE_LABEL_BYTES / 8 || n <= 0)
		return 1;
	if (!fqdn_trie_word_ok(*(__u64 *)&w->name[off + 1 + 8 * (k & 7)], n)) {
		w->invalid = 1;
		return 1;
	}
	return 0;
}

/* 1. Labels: record each length byte's offset; refuse malformed names; note
 *    (w->invalid) a label byte outside [-a-z0-9_]: then no pattern can match. */
static long fqdn_trie_parse_step(__u32 i, void *ctx)
{
	struct fqdn_trie_walk_state *w = ((struct fqdn_trie_ctx *)ctx)->w;
	__u32 off = w->off, b;

	if (off >= w->len || off >= FQDN_MAX_NAME_LEN) {
		w->status = FQDN_TRIE_ERR_NAME;
		return 1;
	}
	b = w->name[off & 0xFF];
	if (b == 0) {
		if (off != w->len - 1)
			w->status = FQDN_TRIE_ERR_NAME;
		w->done = 1;
		return 1;
	}
	if (b > FQDN_MAX_LABEL_LEN || w->nlabels >= FQDN_MAX_LABELS || off + 1 + b >= w->len) {
		w->status = FQDN_TRIE_ERR_NAME;
		return 1;
	}
	if (!w->invalid) {
		w->off = off; /* fqdn_trie_word_step reads the label after it */
		bpf_loop((b + 7) / 8, fqdn_trie_word_step, ctx, 0);
	}
	w->offs[w->nlabels & 0x7F] = off;
	w->nlabels++;
	w->off = off + 1 + b;
	return 0;
}

/* Glob matcher, one action per step: '*' records a backtrack point, a
 * matching byte advances both, a mismatch retries from the last '*' one
 * byte further; once the label is used up only trailing '*' may remain. */
static long fqdn_trie_glob_step(__u32 i, void *ctx)
{
	struct fqdn_trie_walk_state *w = ((struct fqdn_trie_ctx *)ctx)->w;
	__u32 p = w->gp, s = w->gs, m = w->gm, n = w->llen;

	if (s < n) {
		__u8 pc = w->glob[p & 0x3F];
		if (p < m && pc == '*') {
			w->gstar = p;
			w->gmark = s;
			w->gp = p + 1;
		} else if (p < m && pc == w->lkey.label[s & 0x3F]) {
			w->gp = p + 1;
			w->gs = s + 1;
		} else if (w->gstar != (__u32)-1) {
			w->gp = w->gstar + 1;
			w->gmark = w->gmark + 1;
			w->gs = w->gmark;
		} else {
			return 1; /* no match */
		}
		return 0;
	}
	if (p < m && w->glob[p & 0x3F] == '*') {
		w->gp = p + 1;
		return 0;
	}
	w->gmatched = p == m;
	return 1;
}

static __always_inline void fqdn_trie_copy_label(__u8 *dst, const __u8 *src)
{
	__u64 *d = (__u64 *)dst;
	const __u64 *s = (const __u64 *)src;
#pragma clang loop unroll(full)
	for (int k = 0; k < FQDN_TRIE_LABEL_BYTES / 8; k++)
		d[k] = s[k];
}

/* One glob slot of w->parent. */
static long fqdn_trie_glob_slot(__u32 slot, void *ctx)
{
	struct fqdn_trie_walk_state *w = ((struct fqdn_trie_ctx *)ctx)->w;
	struct fqdn_trie_glob_key gk = { .policy = w->policy, .parent = w->parent, .slot = slot };
	struct fqdn_trie_glob *g;
	struct fqdn_trie_node *c;
	__u32 m;

	g = bpf_map_lookup_elem(&fq_trie_globs, &gk);
	if (!g)
		return 0;
	m = g->len;
	if (m > FQDN_TRIE_LABEL_BYTES)
		m = FQDN_TRIE_LABEL_BYTES;
	fqdn_trie_copy_label(w->glob, g->label);
	w->gm = m;
	w->gp = 0;
	w->gs = 0;
	w->gstar = (__u32)-1;
	w->gmark = 0;
	w->gmatched = 0;
	bpf_loop(FQDN_TRIE_GLOB_MAX_STEPS, fqdn_trie_glob_step, ctx, 0);
	if (!w->gmatched)
		return 0;
	w->gkey.parent = w->parent;
	*(__u64 *)&w->gkey.len = m; /* len, then 7 zero pad bytes */
	fqdn_trie_copy_label(w->gkey.label, w->glob);
	c = bpf_map_lookup_elem(&fq_trie_nodes, &w->gkey);
	if (c && fqdn_trie_push(w, c))
		return 1;
	return 0;
}

/* One active node at the current label. */
static long fqdn_trie_node_step(__u32 j, void *ctx)
{
	struct fqdn_trie_walk_state *w = ((struct fqdn_trie_ctx *)ctx)->w;
	struct fqdn_trie_node *n, *c;
	__u32 id, slots;
	__u16 flags;

	if (j >= FQDN_TRIE_MAX_ACTIVE)
		return 1;
	n = &w->active[j & (FQDN_TRIE_MAX_ACTIVE - 1)];
	id = n->id;
	flags = n->flags;
	slots = n->glob_slots;
	if (slots > FQDN_TRIE_MAX_GLOBS) {
		w->status = FQDN_TRIE_ERR_GLOBS;
		return 1;
	}
	if ((flags & FQDN_TRIE_F_MULTI) && fqdn_trie_hit(w, n->multi_set))
		return 1;
	w->lkey.parent = id;
	c = bpf_map_lookup_elem(&fq_trie_nodes, &w->lkey);
	if (c && fqdn_trie_push(w, c))
		return 1;
	if (flags & FQDN_TRIE_F_STAR) {
		__u64 *l = (__u64 *)w->gkey.label;
		w->gkey.parent = id;
		*(__u64 *)&w->gkey.len = 1;
		l[0] = '*';
#pragma clang loop unroll(full)
		for (int k = 1; k < FQDN_TRIE_LABEL_BYTES / 8; k++)
			l[k] = 0;
		c = bpf_map_lookup_elem(&fq_trie_nodes, &w->gkey);
		if (c && fqdn_trie_push(w, c))
			return 1;
	}
	if (flags & FQDN_TRIE_F_GLOBS) {
		w->parent = id;
		bpf_loop(slots, fqdn_trie_glob_slot, ctx, 0);
		if (w->status)
			return 1;
	}
	return 0;
}

/* One label, from the TLD inward (iteration i handles label nlabels-1-i). */
static long fqdn_trie_level_step(__u32 i, void *ctx)
{
	struct fqdn_trie_walk_state *w = ((struct fqdn_trie_ctx *)ctx)->w;
	__u32 li, off, len, k;
	__u64 *dst = (__u64 *)w->lkey.label;

	if (i >= w->nlabels)
		return 1;
	li = w->nlabels - 1 - i;
	off = w->offs[li & 0x7F];
	len = w->name[off & 0xFF];
	w->llen = len;
	*(__u64 *)&w->lkey.len = len;
	/* The label as 8 words, bytes past its end zeroed. */
#pragma clang loop unroll(full)
	for (k = 0; k < FQDN_TRIE_LABEL_BYTES / 8; k++) {
		__u64 word = *(__u64 *)&w->name[((off + 1) & 0xFF) + 8 * k];
		int valid = (int)len - 8 * (int)k;
		if (valid <= 0)
			word = 0;
		else if (valid < 8)
			word &= (1ULL << (8 * valid)) - 1;
		dst[k] = word;
	}
	w->n_next = 0;
	bpf_loop(w->n_active, fqdn_trie_node_step, ctx, 0);
	if (w->status)
		return 1;
	w->n_active = w->n_next;
	__builtin_memcpy(w->active, w->next, sizeof(w->active));
	return w->n_active == 0;
}

static __always_inline void fqdn_trie_fail(struct fqdn_trie_result *res, __u32 status)
{
	res->status = status;
	res->hit_count = 0;
}

/* The walk is one global BPF function rather than inlined: the verifier
 * checks it once, on its own (~12k instructions), whatever the number of
 * callers, and callers that walk at several places (query and response
 * paths) keep their instruction count and jump offsets small. Being global,
 * it takes possibly-NULL pointers and is defined once per object: include
 * this header from one .bpf.c per object (the usual layout). */
__noinline int fqdn_trie_walk_sub(__u32 policy, const struct fqdn_wire_name *name,
					 struct fqdn_trie_result *res)
{
	struct fqdn_trie_walk_state *w;
	struct fqdn_trie_node *root;
	struct fqdn_trie_ctx c;
	__u32 zero = 0, i, n;

	if (!name || !res)
		return 0;
	w = bpf_map_lookup_elem(&fq_trie_state, &zero);
	if (!w) {
		fqdn_trie_fail(res, FQDN_TRIE_ERR_NAME);
		return 0;
	}
	c.w = w;
	{
		/* 8-byte words: the name must not sit on the stack at an unaligned
		 * offset (map values, the usual place of names, have no such rule). */
		__u64 *d = (__u64 *)w->name;
		const __u64 *s = (const __u64 *)name->wire;
#pragma clang loop unroll(full)
		for (int k = 0; k < (int)sizeof(name->wire) / 8; k++)
			d[k] = s[k];
	}
	w->len = name->len;
	w->policy = policy;
	w->nlabels = 0;
	w->off = 0;
	w->done = 0;
	w->invalid = 0;
	w->status = FQDN_TRIE_OK;
	w->n_hits = 0;
	if (w->len < 1 || w->len > FQDN_MAX_NAME_LEN) {
		fqdn_trie_fail(res, FQDN_TRIE_ERR_NAME);
		return 0;
	}

	bpf_loop(FQDN_MAX_LABELS + 1, fqdn_trie_parse_step, &c, 0);
	if (w->status == FQDN_TRIE_OK && !w->done)
		w->status = FQDN_TRIE_ERR_NAME;
	if (w->status) {
		fqdn_trie_fail(res, w->status);
		return 0;
	}

	if (w->invalid) {
		fqdn_trie_fail(res, FQDN_TRIE_OK);
		return 0;
	}

	/* The root's key (policy, parent 0, empty label), built in w->lkey rather
	 * than on the stack: on 6.1 this function's frame counts toward the
	 * caller's 512 bytes together with the bpf_loop callbacks' frames. The
	 * level steps rewrite parent, len and label before each lookup. */
	__builtin_memset(&w->lkey, 0, sizeof(w->lkey));
	w->lkey.policy = policy;
	root = bpf_map_lookup_elem(&fq_trie_nodes, &w->lkey);
	if (!root) {
		fqdn_trie_fail(res, FQDN_TRIE_OK);
		return 0;
	}
	w->active[0] = *root;
	w->n_active = 1;
	w->lkey.policy = policy;
	w->gkey.policy = policy;

	bpf_loop(w->nlabels, fqdn_trie_level_step, &c, 0);
	if (w->status) {
		fqdn_trie_fail(res, w->status);
		return 0;
	}
	n = w->n_active;
	for (i = 0; i < FQDN_TRIE_MAX_ACTIVE; i++) {
		struct fqdn_trie_node *a;
		if (i >= n)
			break;
		a = &w->active[i];
		if ((a->flags & FQDN_TRIE_F_EXACT) && fqdn_trie_hit(w, a->exact_set)) {
			fqdn_trie_fail(res, w->status);
			return 0;
		}
	}
	res->status = FQDN_TRIE_OK;
	n = w->n_hits;
	res->hit_count = n;
#pragma clang loop unroll(full)
	for (i = 0; i < FQDN_TRIE_MAX_HITS; i++)
		res->hits[i] = i < n ? w->hits[i] : 0;
	return 0;
}

/* Walks policy version `policy` for `name` (lowercase wire form, name->len
 * bytes including the root byte; in a map value or 8-byte aligned) and writes
 * the outcome to *res. */
static __always_inline void fqdn_trie_walk(__u32 policy, const struct fqdn_wire_name *name,
					   struct fqdn_trie_result *res)
{
	fqdn_trie_walk_sub(policy, name, res);
}

#endif /* FQDN_TRIE_H */
