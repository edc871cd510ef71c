/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dns_parser.h: the in-kernel DNS response parser.
 *
 * It implements Documentation/ParserContract.md exactly: for every input the
 * verdict, reason, offset and facts equal those of the Swift reference
 * (DNSWire). Every limit comes from fqdn_shared.h.
 *
 * Shape (Documentation/Verifier.md has the measurements behind each choice):
 *   - The message is copied into a per-CPU scratch buffer with one
 *     bpf_skb_load_bytes (fqdn_dns_parse_skb: the DNS start offset is a
 *     parameter, so tc/cgroup UDP and sk_skb TCP share it), or parsed in
 *     place from any buffer of FQDN_DNS_BUF_LEN bytes (fqdn_dns_parse: for a
 *     message the caller assembled itself, e.g. from several TCP segments).
 *   - The parser is ONE flat state machine. fqdn_dns_step() does a small,
 *     bounded unit of work (up to FQDN_DNS_NAME_UNROLL labels or pointers of
 *     a name, one record's fixed fields, a few TXT strings or OPT options,
 *     one name comparison) and the driver runs at most FQDN_DNS_MAX_STEPS
 *     steps, FQDN_DNS_STEPS_PER_ITER per bpf_loop callback.
 *   - All parser state lives in the scratch map value, not on the stack:
 *     every step starts from the same verifier state (unknown scalars), so
 *     the verifier checks the step body a handful of times, not once per
 *     iteration, and bpf_loop's callback converges at once.
 *   - Indices into the message are masked with FQDN_DNS_IDX_MASK; the buffer
 *     has FQDN_DNS_BUF_SLACK spare bytes for the fixed-size reads after a
 *     masked index. Every read is bounds-checked against the message length
 *     first, so the mask never changes a result.
 *   - Facts are computed after the whole message validated. Answer records
 *     are remembered during validation; names are compared by offset first
 *     (two names that start at the same offset, after following leading
 *     pointers, are equal), otherwise in lowercase wire form.
 */
#ifndef FQDN_DNS_PARSER_H
#define FQDN_DNS_PARSER_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "fqdn_shared.h"

#define FQDN_DNS_LOOP_BPF_LOOP 1 /* bpf_loop helper (kernel >= 5.17) */
#define FQDN_DNS_LOOP_ITER 2     /* open-coded bpf_iter_num (kernel >= 6.4) */
#define FQDN_DNS_LOOP_FOR 3      /* bounded for loop (any kernel; too big, see Verifier.md) */
#ifndef FQDN_DNS_LOOP
#define FQDN_DNS_LOOP FQDN_DNS_LOOP_BPF_LOOP
#endif
/* Labels or pointers per name step; TXT strings, OPT options or credited
 * answers per step. Measured (Verifier.md): 2 and 4 steps per callback. */
#ifndef FQDN_DNS_NAME_UNROLL
#define FQDN_DNS_NAME_UNROLL 2
#endif
/* Steps run per loop iteration (per bpf_loop callback / iterator round), in
 * calls of the global step function of FQDN_DNS_STEPS_PER_CALL steps each.
 * The verifier checks that function once: 2 steps cost it ~19k instructions,
 * 4 steps ~100k (each step starts from unknown state, and the branches of
 * consecutive steps multiply), 1 step ~9k; every call is a return more at
 * run time (Verifier.md). */
#ifndef FQDN_DNS_STEPS_PER_ITER
#define FQDN_DNS_STEPS_PER_ITER 4
#endif
#ifndef FQDN_DNS_STEPS_PER_CALL
#define FQDN_DNS_STEPS_PER_CALL 2
#endif

/* Loops inside a step are unrolled by clang (1) or left to the verifier as
 * bounded loops (0). Left to the verifier, the same work costs it several
 * times more instructions (Verifier.md), so everything is unrolled. */
#define FQDN_DNS_PRAGMA_(x) _Pragma(#x)
#define FQDN_DNS_PRAGMA(u) FQDN_DNS_PRAGMA_SEL(u)
#define FQDN_DNS_PRAGMA_SEL(u) FQDN_DNS_PRAGMA_SEL_##u
#define FQDN_DNS_PRAGMA_SEL_1 FQDN_DNS_PRAGMA_(clang loop unroll(full))
#define FQDN_DNS_PRAGMA_SEL_0 FQDN_DNS_PRAGMA_(clang loop unroll(disable))
#ifndef FQDN_DNS_UNROLL_INNER
#define FQDN_DNS_UNROLL_INNER 1
#endif
#ifndef FQDN_DNS_UNROLL_STEPS
#define FQDN_DNS_UNROLL_STEPS 1
#endif
#define FQDN_DNS_PRAGMA_INNER FQDN_DNS_PRAGMA(FQDN_DNS_UNROLL_INNER)
#define FQDN_DNS_PRAGMA_STEPS FQDN_DNS_PRAGMA(FQDN_DNS_UNROLL_STEPS)

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the word-at-a-time label compare/copy assumes a little-endian target (bpfel)"
#endif

/* Spare bytes after the message buffer: the largest read after a masked
 * index is a label's 8 words (1 + 63 bytes, read 8 at a time). */
#define FQDN_DNS_BUF_SLACK 128
#define FQDN_DNS_BUF_LEN (FQDN_MAX_MSG_LEN + FQDN_DNS_BUF_SLACK)
#define FQDN_DNS_IDX_MASK (FQDN_MAX_MSG_LEN - 1)
FQDN_STATIC_ASSERT((FQDN_MAX_MSG_LEN & (FQDN_MAX_MSG_LEN - 1)) == 0,
		   "FQDN_MAX_MSG_LEN must be a power of two (index masking)");
FQDN_STATIC_ASSERT(FQDN_MAX_MSG_LEN <= 0xFFFF, "offsets are stored in 16 bits");
FQDN_STATIC_ASSERT(FQDN_MAX_RECORDS_PER_SECTION == 64, "answer slots are masked with 63");
FQDN_STATIC_ASSERT(FQDN_MAX_CREDITED == FQDN_MAX_RECORDS_PER_SECTION, "addresses are masked with 63");
FQDN_STATIC_ASSERT(FQDN_MAX_CNAME_CHAIN == 8, "chain slots are masked with 7");
FQDN_STATIC_ASSERT(FQDN_MAX_NAME_LEN == 255, "wire names are compared in 32 words");

/* Name slots: 0 = qname, 1..8 = chain[0..7] (in the facts), 9 = scratch
 * copy of a name being compared. Index masks use 15. */
#define FQDN_DNS_SLOT_TMP (1 + FQDN_MAX_CNAME_CHAIN)
#define FQDN_DNS_SLOTS 16

/* Direct-mapped cache of names validated in this message (start offset ->
 * wire length, labels, pointer hops), used when a pointer lands on one. */
#define FQDN_DNS_NCACHE 16

/*
 * The step budget. It must cover the worst message within the limits, or a
 * valid message could run out of steps (there is no reason code for that).
 * Upper bounds with FQDN_DNS_NAME_UNROLL = 1 (more per step only helps):
 *   names: 4 sections x 64 entries, each an owner and at most two names in
 *          rdata (SOA): 768 names x (127 labels + 16 pointers + 1 root);
 *   entries: 4 steps each (fixed fields, SOA second name, SOA fixed part,
 *          rdata check) + the first entry + the end;
 *   TXT strings and OPT options: one step per rdata byte + 1 per record;
 *   facts: the qname copy (144 + 1), per answer at most: 1 + a name copy
 *          (144) + 1 + 1 + a name copy (144) + 1.
 */
#define FQDN_DNS_NAME_STEPS (FQDN_MAX_LABELS + FQDN_MAX_PTR_HOPS + 1)
#define FQDN_DNS_RECORDS (4 * FQDN_MAX_RECORDS_PER_SECTION)
#define FQDN_DNS_WORST_STEPS                                                                  \
	(FQDN_DNS_RECORDS * 3 * FQDN_DNS_NAME_STEPS + FQDN_DNS_RECORDS * 4 + 2 +              \
	 FQDN_MAX_MSG_LEN + FQDN_DNS_RECORDS + (FQDN_DNS_NAME_STEPS + 1) +                    \
	 FQDN_MAX_RECORDS_PER_SECTION * (4 + 2 * FQDN_DNS_NAME_STEPS) + 1)
#define FQDN_DNS_MAX_STEPS (1 << 18)
FQDN_STATIC_ASSERT(FQDN_DNS_WORST_STEPS <= FQDN_DNS_MAX_STEPS, "step budget too small");
#define FQDN_DNS_MAX_ITERS ((FQDN_DNS_MAX_STEPS + FQDN_DNS_STEPS_PER_ITER - 1) / FQDN_DNS_STEPS_PER_ITER)

/* An answer record remembered during validation, for the facts. */
struct fqdn_dns_rr {
	__u16 owner; /* offset of the owner name */
	__u16 type;
	__u16 rdata; /* offset of the rdata */
	__u16 pad;
	__u32 ttl;
};

struct fqdn_dns_ncache {
	__u16 off; /* 0: empty (no name starts before offset 12) */
	__u16 len;
	__u16 labels;
	__u16 hops;
};

enum fqdn_dns_phase {
	FQDN_PH_NAME = 0,      /* labels/pointers of a name being validated */
	FQDN_PH_QFIXED,        /* question type + class, then the next entry */
	FQDN_PH_RFIXED,        /* record fixed fields, OPT rules, typed rdata dispatch */
	FQDN_PH_COPY,          /* labels/pointers of a name copied into a slot */
	FQDN_PH_RDCHECK,       /* rdata fields must end exactly at rdata_end */
	FQDN_PH_SOA2,          /* SOA: second name */
	FQDN_PH_SOAFIXED,      /* SOA: 20 fixed bytes */
	FQDN_PH_TXT,           /* TXT character strings */
	FQDN_PH_OPT,           /* OPT options */
	FQDN_PH_ENTRY,         /* start of the first question/record */
	FQDN_PH_END,           /* trailing bytes; then header facts, qname copy */
	FQDN_PH_QNAME_DONE,    /* qname copied */
	FQDN_PH_CHAIN,         /* next CNAME answer: owner == current name? */
	FQDN_PH_CHAIN_OWNER,   /* owner (copied) compared in wire form */
	FQDN_PH_CHAIN_TARGET,  /* target: limit, loop fast path, copy */
	FQDN_PH_CHAIN_ADDED,   /* target (copied) compared with the names: loop? */
	FQDN_PH_CREDIT,        /* next A/AAAA answer: owner in names? */
	FQDN_PH_CREDIT_OWNER,  /* owner (copied) compared in wire form */
	FQDN_PH_DONE,
};

/* Parser state. Every field is 32 bits (no partial loads/stores). */
struct fqdn_dns_state {
	__u32 len;    /* L */
	__u32 pos;    /* read position */
	__u32 phase;  /* enum fqdn_dns_phase */
	__u32 reason; /* 0 while ok */
	__u32 offset;
	__u32 count[4]; /* qd, an, ns, ar */
	__u32 sec;      /* current section 0..3 */
	__u32 left;     /* entries left in it */
	__u32 rec;      /* offset of the current entry's owner name */
	__u32 rdata_start, rdata_end;
	__u32 q_seen, q_off, qtype, qclass;
	__u32 opt_seen, opt_ttl;
	__u32 an_n;         /* answer records remembered */
	__u32 cn_n, ad_n;   /* CNAME-IN / A-AAAA-IN answers (indices in cn[], ad[]) */
	/* name validation */
	__u32 n_start, n_p, n_run, n_len, n_labels, n_hops, n_ptr_end, n_ret;
	/* name copy into a slot */
	__u32 d_p, d_n, d_labels, d_idx, d_ret;
	/* facts */
	__u32 credits, ch_len, ch_i, cr_i, addr_n;
	__u32 res[FQDN_DNS_SLOTS]; /* start offset of each slot's name (after leading pointers) */
};

/* The per-CPU scratch: message copy, remembered answers, state. */
struct fqdn_dns_scratch {
	__u8 msg[FQDN_DNS_BUF_LEN];
	struct fqdn_dns_rr an[FQDN_MAX_RECORDS_PER_SECTION];
	__u8 cn[FQDN_MAX_RECORDS_PER_SECTION];
	__u8 ad[FQDN_MAX_RECORDS_PER_SECTION];
	struct fqdn_dns_ncache ncache[FQDN_DNS_NCACHE];
	struct fqdn_dns_state st;
	struct fqdn_wire_name tmp; /* slot FQDN_DNS_SLOT_TMP */
	__u8 tmp_slack[64];        /* word copies may write up to 7 bytes past tmp */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fqdn_dns_scratch);
} fq_dns_scratch SEC(".maps");

/* What the step function works on: pointers only (spilled pointers keep
 * their type across callback frames); the scalars are in s->st. */
struct fqdn_dns_ctx {
	const __u8 *msg; /* >= FQDN_DNS_BUF_LEN readable bytes */
	struct fqdn_dns_scratch *s;
	struct fqdn_facts *out;
};

static __always_inline struct fqdn_dns_scratch *fqdn_dns_scratch_get(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&fq_dns_scratch, &zero);
}

/* --- small helpers ---------------------------------------------------- */

/* An empty asm makes v opaque to clang: it cannot fold what follows from what
 * it knows of v. A mask after it is kept even where clang can prove it
 * redundant: 6.1's verifier needs to see it (`math between map_value pointer
 * and register with unbounded min value` after p = ((b & 0x3F) << 8) |
 * msg[p + 1]; Documentation/KernelMatrix.md). A test of a global function's
 * result is kept too: clang knows the result's range, the verifier does not,
 * and clang's folding of such tests has made programs the verifier refused. */
static __always_inline __u32 fqdn_keep(__u32 v)
{
	asm volatile("" : "+r"(v));
	return v;
}

/* A length already checked to be in [1, FQDN_MAX_MSG_LEN], derived again by
 * arithmetic (equal to n there) so the register handed to a helper carries the
 * bounds itself: clang tests a copy of n (len - 12 <= 16372 as one unsigned
 * compare) and 6.1/6.12 lose the lower bound ("R4 invalid zero-sized read"),
 * 7.2 loses it across the compare in the sk_skb program. */
static __always_inline __u32 fqdn_len_bound(__u32 n)
{
	__u32 m = n - 1;

	asm volatile("" : "+r"(m));
	return (m & (FQDN_MAX_MSG_LEN - 1)) + 1;
}

static __always_inline __u32 fqdn_rd8(const __u8 *msg, __u32 p)
{
	return msg[fqdn_keep(p) & FQDN_DNS_IDX_MASK];
}

static __always_inline __u32 fqdn_rd16(const __u8 *msg, __u32 p)
{
	const __u8 *q = msg + (fqdn_keep(p) & FQDN_DNS_IDX_MASK);
	return ((__u32)q[0] << 8) | q[1];
}

static __always_inline __u32 fqdn_rd32(const __u8 *msg, __u32 p)
{
	const __u8 *q = msg + (fqdn_keep(p) & FQDN_DNS_IDX_MASK);
	return ((__u32)q[0] << 24) | ((__u32)q[1] << 16) | ((__u32)q[2] << 8) | q[3];
}

static __always_inline __u64 fqdn_load8(const __u8 *p)
{
	return *(const __u64 *)p; /* unaligned: fine outside strict-alignment mode */
}

/* Lowercase ASCII A-Z in 8 bytes at once (other bytes unchanged). */
static __always_inline __u64 fqdn_lower8(__u64 w)
{
	__u64 h = w & 0x7f7f7f7f7f7f7f7fULL;
	__u64 ge_a = h + 0x3f3f3f3f3f3f3f3fULL; /* bit 7 set when the byte >= 'A' */
	__u64 gt_z = h + 0x2525252525252525ULL; /* bit 7 set when the byte > 'Z' */
	__u64 upper = (ge_a ^ gt_z) & ~w & 0x8080808080808080ULL;

	return w | (upper >> 2);
}

/* The low n bytes (1..7) of a word. */
static __always_inline __u64 fqdn_low_bytes(__u32 n)
{
	return (1ULL << (n * 8)) - 1;
}

static __always_inline int fqdn_fail(struct fqdn_dns_state *st, __u32 reason, __u32 offset)
{
	st->reason = reason;
	st->offset = offset;
	return 1;
}

static __always_inline void fqdn_name_start(struct fqdn_dns_state *st, __u32 at, __u32 ret)
{
	st->n_start = at;
	st->n_p = at;
	st->n_run = at;
	st->n_len = 0;
	st->n_labels = 0;
	st->n_hops = 0;
	st->n_ptr_end = 0;
	st->n_ret = ret;
	st->phase = FQDN_PH_NAME;
}

static __always_inline void fqdn_copy_start(struct fqdn_dns_state *st, __u32 at, __u32 idx, __u32 ret)
{
	st->d_p = at;
	st->d_n = 0;
	st->d_labels = 0;
	st->d_idx = idx;
	st->d_ret = ret;
	st->phase = FQDN_PH_COPY;
}

static __always_inline struct fqdn_wire_name *fqdn_slot(struct fqdn_dns_ctx *c, __u32 idx)
{
	if (idx == 0)
		return &c->out->qname;
	if (idx >= FQDN_DNS_SLOT_TMP)
		return &c->s->tmp;
	/* Keep the mask: after the test above clang drops it as redundant, and
	 * 6.1/6.12 then see idx * 260 unbounded (KernelMatrix.md, E/F). */
	return &c->out->chain[fqdn_keep(idx - 1) & (FQDN_MAX_CNAME_CHAIN - 1)];
}

/* Follow up to two leading pointers of a validated name: names that start
 * at the same resulting offset are equal. */
static __always_inline __u32 fqdn_resolve(const __u8 *msg, __u32 p)
{
	__u32 b = fqdn_rd8(msg, p);

	if ((b & 0xC0) == 0xC0) {
		p = ((b & 0x3F) << 8) | fqdn_rd8(msg, p + 1);
		b = fqdn_rd8(msg, p);
		if ((b & 0xC0) == 0xC0)
			p = ((b & 0x3F) << 8) | fqdn_rd8(msg, p + 1);
	}
	return p;
}

/* --- validation ------------------------------------------------------- */

/* Start the next question/record, switching sections as needed. */
static __always_inline int fqdn_next_entry(struct fqdn_dns_state *st)
{
	__u32 k;

	FQDN_DNS_PRAGMA_INNER
	for (k = 0; k < 4; k++) {
		if (st->left)
			break;
		if (st->sec >= 3) {
			st->phase = FQDN_PH_END;
			return 0;
		}
		st->sec += 1;
		st->left = st->count[st->sec & 3];
	}
	if (st->pos == st->len)
		return fqdn_fail(st, FQDN_ERR_COUNT_MISMATCH, st->len);
	st->rec = st->pos;
	fqdn_name_start(st, st->pos, st->sec == 0 ? FQDN_PH_QFIXED : FQDN_PH_RFIXED);
	return 0;
}

static __always_inline int fqdn_record_done(struct fqdn_dns_state *st)
{
	st->pos = st->rdata_end;
	st->left -= 1;
	return fqdn_next_entry(st);
}

static __always_inline int fqdn_step_qfixed(const __u8 *msg, struct fqdn_dns_state *st)
{
	__u32 p = st->pos;

	if (p + 4 > st->len)
		return fqdn_fail(st, FQDN_ERR_TRUNCATED, p);
	if (!st->q_seen) {
		st->q_seen = 1;
		st->q_off = st->rec;
		st->qtype = fqdn_rd16(msg, p);
		st->qclass = fqdn_rd16(msg, p + 2);
	}
	st->pos = p + 4;
	st->left -= 1;
	return fqdn_next_entry(st);
}

static __always_inline int fqdn_step_rfixed(const __u8 *msg, struct fqdn_dns_scratch *s)
{
	struct fqdn_dns_state *st = &s->st;
	__u32 p = st->pos, type, class, ttl, rs, re;

	if (p + 10 > st->len)
		return fqdn_fail(st, FQDN_ERR_TRUNCATED, p);
	type = fqdn_rd16(msg, p);
	class = fqdn_rd16(msg, p + 2);
	ttl = fqdn_rd32(msg, p + 4);
	rs = p + 10;
	re = rs + fqdn_rd16(msg, p + 8);
	if (re > st->len)
		return fqdn_fail(st, FQDN_ERR_RDATA_OVERFLOW, rs);
	st->rdata_start = rs;
	st->rdata_end = re;
	if (type == FQDN_TYPE_OPT) {
		/* n_len is the owner's wire length: 1 is the root name. */
		if (st->sec != 3 || st->n_len != 1 || st->opt_seen)
			return fqdn_fail(st, FQDN_ERR_BAD_OPT, st->rec);
		st->opt_seen = 1;
		st->opt_ttl = ttl;
	}
	if (st->sec == 1) {
		__u32 i = st->an_n & (FQDN_MAX_RECORDS_PER_SECTION - 1);
		struct fqdn_dns_rr *rr = &s->an[i];

		rr->owner = st->rec;
		rr->type = type;
		rr->rdata = rs;
		rr->ttl = ttl;
		if (class == FQDN_CLASS_IN) {
			if (type == FQDN_TYPE_CNAME)
				s->cn[st->cn_n++ & (FQDN_MAX_RECORDS_PER_SECTION - 1)] = i;
			else if (type == FQDN_TYPE_A || type == FQDN_TYPE_AAAA)
				s->ad[st->ad_n++ & (FQDN_MAX_RECORDS_PER_SECTION - 1)] = i;
		}
		st->an_n += 1;
	}
	switch (type) {
	case FQDN_TYPE_A:
		if (re - rs != 4)
			return fqdn_fail(st, FQDN_ERR_RDATA_LENGTH, rs);
		break;
	case FQDN_TYPE_AAAA:
		if (re - rs != 16)
			return fqdn_fail(st, FQDN_ERR_RDATA_LENGTH, rs);
		break;
	case FQDN_TYPE_NS:
	case FQDN_TYPE_CNAME:
	case FQDN_TYPE_PTR:
		fqdn_name_start(st, rs, FQDN_PH_RDCHECK);
		return 0;
	case FQDN_TYPE_MX:
		if (rs + 2 > re)
			return fqdn_fail(st, FQDN_ERR_RDATA_LENGTH, rs);
		fqdn_name_start(st, rs + 2, FQDN_PH_RDCHECK);
		return 0;
	case FQDN_TYPE_SRV:
		if (rs + 6 > re)
			return fqdn_fail(st, FQDN_ERR_RDATA_LENGTH, rs);
		fqdn_name_start(st, rs + 6, FQDN_PH_RDCHECK);
		return 0;
	case FQDN_TYPE_SOA:
		fqdn_name_start(st, rs, FQDN_PH_SOA2);
		return 0;
	case FQDN_TYPE_TXT:
		if (re == rs)
			return fqdn_fail(st, FQDN_ERR_RDATA_LENGTH, rs);
		st->pos = rs;
		st->phase = FQDN_PH_TXT;
		return 0;
	case FQDN_TYPE_OPT:
		st->pos = rs;
		st->phase = FQDN_PH_OPT;
		return 0;
	default:
		break;
	}
	return fqdn_record_done(st);
}

/* A name validated: remember it, then go on with what follows it. A question's
 * or record's fixed fields are read in the same step (one dispatch less per
 * entry: every step costs a dispatch, and every FQDN_DNS_STEPS_PER_ITER steps
 * a callback call). */
static __always_inline int fqdn_name_done(const __u8 *msg, struct fqdn_dns_scratch *s, __u32 n, __u32 k,
					  __u32 h, __u32 end)
{
	struct fqdn_dns_state *st = &s->st;
	struct fqdn_dns_ncache *e = &s->ncache[st->n_start & (FQDN_DNS_NCACHE - 1)];
	__u32 ret = st->n_ret;

	e->off = st->n_start;
	e->len = n;
	e->labels = k;
	e->hops = h;
	st->n_len = n;
	st->pos = end;
	if (ret == FQDN_PH_RFIXED)
		return fqdn_step_rfixed(msg, s);
	if (ret == FQDN_PH_QFIXED)
		return fqdn_step_qfixed(msg, st);
	st->phase = ret;
	return 0;
}

/* Validate up to FQDN_DNS_NAME_UNROLL labels or pointers of a name. */
static __always_inline int fqdn_step_name(const __u8 *msg, struct fqdn_dns_scratch *s)
{
	struct fqdn_dns_state *st = &s->st;
	__u32 p = st->n_p, L = st->len, run = st->n_run, n = st->n_len, k = st->n_labels;
	__u32 h = st->n_hops, b, t, i;

	FQDN_DNS_PRAGMA_INNER
	for (i = 0; i < FQDN_DNS_NAME_UNROLL; i++) {
		if (p >= L)
			return fqdn_fail(st, FQDN_ERR_TRUNCATED, p);
		b = fqdn_rd8(msg, p);
		if (b == 0) {
			n += 1;
			if (n > FQDN_MAX_NAME_LEN)
				return fqdn_fail(st, FQDN_ERR_NAME_TOO_LONG, p);
			return fqdn_name_done(msg, s, n, k, h, h ? st->n_ptr_end : p + 1);
		}
		if ((b & 0xC0) == 0xC0) {
			struct fqdn_dns_ncache *e;

			if (p + 1 >= L)
				return fqdn_fail(st, FQDN_ERR_TRUNCATED, p);
			t = ((b & 0x3F) << 8) | fqdn_rd8(msg, p + 1);
			if (h + 1 > FQDN_MAX_PTR_HOPS)
				return fqdn_fail(st, FQDN_ERR_LIMIT_POINTER_HOPS, p);
			if (t < FQDN_DNS_HEADER_LEN)
				return fqdn_fail(st, FQDN_ERR_POINTER_INTO_HEADER, p);
			if (t >= run)
				return fqdn_fail(st, FQDN_ERR_POINTER_FORWARD, p);
			if (h == 0)
				st->n_ptr_end = p + 2;
			h += 1;
			p = t;
			run = t;
			/* A name validated before starts at t: walking it again
			 * would succeed with these totals when they are within
			 * the limits (its pointers are checked against its own
			 * run starts, the same as now). Otherwise walk, to find
			 * the exact error. */
			e = &s->ncache[t & (FQDN_DNS_NCACHE - 1)];
			if (e->off == t && k + e->labels <= FQDN_MAX_LABELS &&
			    n + e->len <= FQDN_MAX_NAME_LEN && h + e->hops <= FQDN_MAX_PTR_HOPS) {
				return fqdn_name_done(msg, s, n + e->len, k + e->labels, h + e->hops,
						      st->n_ptr_end);
			}
			continue;
		}
		if (b & 0xC0)
			return fqdn_fail(st, FQDN_ERR_RESERVED_LABEL, p);
		if (k + 1 > FQDN_MAX_LABELS)
			return fqdn_fail(st, FQDN_ERR_LIMIT_LABELS, p);
		if (n + 1 + b + 1 > FQDN_MAX_NAME_LEN)
			return fqdn_fail(st, FQDN_ERR_NAME_TOO_LONG, p);
		if (p + 1 + b > L)
			return fqdn_fail(st, FQDN_ERR_TRUNCATED, p);
		k += 1;
		n += 1 + b;
		p += 1 + b;
	}
	st->n_p = p;
	st->n_run = run;
	st->n_len = n;
	st->n_labels = k;
	st->n_hops = h;
	return 0;
}

static __always_inline int fqdn_step_txt(const __u8 *msg, struct fqdn_dns_state *st)
{
	__u32 p = st->pos, re = st->rdata_end, i;

	FQDN_DNS_PRAGMA_INNER
	for (i = 0; i < FQDN_DNS_NAME_UNROLL; i++) {
		if (p >= re)
			return fqdn_record_done(st);
		p += 1 + fqdn_rd8(msg, p);
		if (p > re)
			return fqdn_fail(st, FQDN_ERR_RDATA_LENGTH, st->rdata_start);
	}
	st->pos = p;
	return 0;
}

static __always_inline int fqdn_step_opt(const __u8 *msg, struct fqdn_dns_state *st)
{
	__u32 p = st->pos, re = st->rdata_end, i;

	FQDN_DNS_PRAGMA_INNER
	for (i = 0; i < FQDN_DNS_NAME_UNROLL; i++) {
		if (p >= re)
			return fqdn_record_done(st);
		if (p + 4 > re)
			return fqdn_fail(st, FQDN_ERR_RDATA_LENGTH, st->rdata_start);
		p += 4 + fqdn_rd16(msg, p + 2);
		if (p > re)
			return fqdn_fail(st, FQDN_ERR_RDATA_LENGTH, st->rdata_start);
	}
	st->pos = p;
	return 0;
}

/* End of validation: trailing bytes, then the header facts and the qname. */
static __always_inline int fqdn_step_end(const __u8 *msg, struct fqdn_dns_state *st,
					 struct fqdn_facts *out)
{
	__u32 flags, rcode;

	if (st->pos < st->len)
		return fqdn_fail(st, FQDN_ERR_TRAILING_BYTES, st->pos);
	flags = fqdn_rd16(msg, 2);
	rcode = flags & 0xF;
	if (st->opt_seen)
		rcode |= (st->opt_ttl >> 24) << 4;
	out->id = fqdn_rd16(msg, 0);
	out->flags = flags;
	out->rcode = rcode;
	out->qdcount = st->count[0];
	out->ancount = st->count[1];
	out->nscount = st->count[2];
	out->arcount = st->count[3];
	out->qtype = st->qtype;
	out->qclass = st->qclass;
	st->credits = (flags & FQDN_FLAG_QR) && st->count[0] == 1 && rcode == 0 &&
		      !(flags & FQDN_FLAG_TC);
	if (!st->q_seen) {
		st->phase = FQDN_PH_DONE;
		return 0;
	}
	fqdn_copy_start(st, st->q_off, 0, FQDN_PH_QNAME_DONE);
	return 0;
}

/* --- facts ------------------------------------------------------------ */

/* Copy len (1..63) label bytes at src lowercased to dst; the last word is
 * zero-padded, so up to 7 zero bytes land after the label.
 * The loop bound is a word count derived from len, not len itself: the
 * verifier narrows the word count on each exit but leaves len (and the
 * positions computed from it) alone, so the exits merge afterwards instead
 * of multiplying through the rest of the step. */
static __always_inline void fqdn_label_copy(const __u8 *msg, __u32 src, __u8 *dst, __u32 len)
{
	const __u8 *ps = msg + (fqdn_keep(src) & FQDN_DNS_IDX_MASK);
	__u32 words = (len + 7) >> 3;
	__u64 last = (len & 7) ? fqdn_low_bytes(len & 7) : ~0ULL;

	/* Unrolled by hand: clang refuses unroll(full) on this loop shape. */
#define FQDN_COPY_WORD(j)                                                  \
	do {                                                               \
		__u64 v;                                                   \
		if ((j) >= words)                                          \
			return;                                            \
		v = fqdn_lower8(fqdn_load8(ps + (j) * 8));                 \
		if ((j) + 1 == words)                                      \
			v &= last;                                         \
		*(__u64 *)(dst + (j) * 8) = v;                             \
	} while (0)
	FQDN_COPY_WORD(0);
	FQDN_COPY_WORD(1);
	FQDN_COPY_WORD(2);
	FQDN_COPY_WORD(3);
	FQDN_COPY_WORD(4);
	FQDN_COPY_WORD(5);
	FQDN_COPY_WORD(6);
	FQDN_COPY_WORD(7);
#undef FQDN_COPY_WORD
}

/* Copy a validated name, lowercased, into a slot: up to
 * FQDN_DNS_NAME_UNROLL labels or pointers per step. Up to 7 zero bytes may
 * land after wire[255]: slots are filled in order (qname, chain[0], ...,
 * chain[7] before any address), so that only touches bytes written later;
 * the tmp slot has its own slack. */
static __always_inline int fqdn_step_copy(struct fqdn_dns_ctx *c, struct fqdn_dns_state *st)
{
	const __u8 *msg = c->msg;
	struct fqdn_wire_name *w = fqdn_slot(c, st->d_idx);
	__u32 p = st->d_p, n = st->d_n, k = st->d_labels, b, i;

	FQDN_DNS_PRAGMA_INNER
	for (i = 0; i < FQDN_DNS_NAME_UNROLL; i++) {
		b = fqdn_rd8(msg, p);
		if ((b & 0xC0) == 0xC0) {
			p = ((b & 0x3F) << 8) | fqdn_rd8(msg, p + 1);
			continue;
		}
		w->wire[n & 0xFF] = b;
		if (b == 0) {
			w->len = n + 1;
			w->labels = k;
			st->phase = st->d_ret;
			return 0;
		}
		fqdn_label_copy(msg, p + 1, w->wire + ((n + 1) & 0xFF), b);
		n += 1 + b;
		k += 1;
		p += 1 + b;
	}
	st->d_p = p;
	st->d_n = n;
	st->d_labels = k;
	return 0;
}

/* Two lowercase wire names are equal (len bytes each).
 *
 * A global (non-static) function: the verifier checks it once per program
 * with only its argument types known, and each call costs it a few
 * instructions. Inlined or static, every call site is verified in its own
 * context: clang folds the word-count bound back into compares on len and
 * shares one load of a->len between calls, and the verifier carried 32
 * narrowed ranges of it from one comparison into the next (> 1M insns). */
__attribute__((noinline)) int fqdn_wire_eq(const struct fqdn_wire_name *a, const struct fqdn_wire_name *b)
{
	__u32 n, words;
	__u64 last;

	if (!a || !b)
		return 0;
	n = a->len;
	if (n != b->len || n > 256)
		return 0;
	words = (n + 7) >> 3;
	last = (n & 7) ? fqdn_low_bytes(n & 7) : ~0ULL;
	/* Unrolled by hand: clang refuses unroll(full) on this loop shape. */
#define FQDN_EQ_WORD(j)                                                              \
	do {                                                                         \
		__u64 d;                                                             \
		if ((j) >= words)                                                    \
			return 1;                                                    \
		d = fqdn_load8(a->wire + (j) * 8) ^ fqdn_load8(b->wire + (j) * 8);   \
		if ((j) + 1 == words)                                                \
			d &= last;                                                   \
		if (d)                                                               \
			return 0;                                                    \
	} while (0)
#define FQDN_EQ_WORD4(j) FQDN_EQ_WORD(j); FQDN_EQ_WORD(j + 1); FQDN_EQ_WORD(j + 2); FQDN_EQ_WORD(j + 3)
	FQDN_EQ_WORD4(0);
	FQDN_EQ_WORD4(4);
	FQDN_EQ_WORD4(8);
	FQDN_EQ_WORD4(12);
	FQDN_EQ_WORD4(16);
	FQDN_EQ_WORD4(20);
	FQDN_EQ_WORD4(24);
	FQDN_EQ_WORD4(28);
#undef FQDN_EQ_WORD4
#undef FQDN_EQ_WORD
	return 1;
}

/* The name a equals the qname or one of chain[0..last-1] (last <= 8). Only
 * the slow paths (names that do not share a start offset) get here. Global
 * for the same reason as fqdn_wire_eq (its exits narrow `last`). */
__attribute__((noinline)) int fqdn_wire_in(const struct fqdn_wire_name *a, const struct fqdn_facts *out, __u32 last)
{
	if (!a || !out)
		return 0;
	if (fqdn_wire_eq(a, &out->qname))
		return 1;
#define FQDN_IN_CHAIN(j)                                                  \
	do {                                                              \
		if ((j) + 1 > last)                                       \
			return 0;                                         \
		if (fqdn_wire_eq(a, &out->chain[j]))                      \
			return 1;                                         \
	} while (0)
	FQDN_IN_CHAIN(0);
	FQDN_IN_CHAIN(1);
	FQDN_IN_CHAIN(2);
	FQDN_IN_CHAIN(3);
	FQDN_IN_CHAIN(4);
	FQDN_IN_CHAIN(5);
	FQDN_IN_CHAIN(6);
	FQDN_IN_CHAIN(7);
#undef FQDN_IN_CHAIN
	return 0;
}

/* r (a name's start after leading pointers) is the start of one of the
 * names so far. Unused slots hold FQDN_DNS_NO_NAME, so no bound is needed:
 * comparing against a loaded bound splits its range on each test, and those
 * ranges multiplied through the rest of the step (measured: 25k of 75k
 * verified instructions per step). */
#define FQDN_DNS_NO_NAME 0xFFFFFFFFu
static __always_inline int fqdn_res_in(struct fqdn_dns_state *st, __u32 r)
{
	__u32 j, hit = 0;

	FQDN_DNS_PRAGMA_INNER
	for (j = 0; j < 1 + FQDN_MAX_CNAME_CHAIN; j++)
		hit |= st->res[j] == r;
	return hit;
}

static __always_inline int fqdn_step_qname_done(const __u8 *msg, struct fqdn_dns_state *st)
{
	__u32 j;

	st->res[0] = fqdn_resolve(msg, st->q_off);
	FQDN_DNS_PRAGMA_INNER
	for (j = 1; j < 1 + FQDN_MAX_CNAME_CHAIN; j++)
		st->res[j] = FQDN_DNS_NO_NAME;
	st->phase = st->credits ? FQDN_PH_CHAIN : FQDN_PH_DONE;
	return 0;
}

/* Chain rule (contract): for each CNAME-IN answer in order, stop at the
 * first whose owner is not the current name, whose target is already a
 * name, or when the chain is full. */
static __always_inline int fqdn_step_chain(const __u8 *msg, struct fqdn_dns_scratch *s)
{
	struct fqdn_dns_state *st = &s->st;
	struct fqdn_dns_rr *rr;
	__u32 i = st->ch_i, cur = st->ch_len;

	if (i >= st->cn_n) {
		st->phase = FQDN_PH_CREDIT;
		return 0;
	}
	rr = &s->an[s->cn[i & (FQDN_MAX_RECORDS_PER_SECTION - 1)] & (FQDN_MAX_RECORDS_PER_SECTION - 1)];
	if (fqdn_resolve(msg, rr->owner) == st->res[cur & (FQDN_DNS_SLOTS - 1)]) {
		st->phase = FQDN_PH_CHAIN_TARGET;
		return 0;
	}
	fqdn_copy_start(st, rr->owner, FQDN_DNS_SLOT_TMP, FQDN_PH_CHAIN_OWNER);
	return 0;
}

static __always_inline int fqdn_step_chain_owner(struct fqdn_dns_ctx *c, struct fqdn_dns_state *st)
{
	__u32 cur = st->ch_len;

	if (fqdn_wire_eq(&c->s->tmp, fqdn_slot(c, cur & (FQDN_DNS_SLOTS - 1)))) {
		st->phase = FQDN_PH_CHAIN_TARGET;
		return 0;
	}
	st->phase = FQDN_PH_CREDIT; /* owner != current name: the chain stops */
	return 0;
}

static __always_inline int fqdn_step_chain_target(const __u8 *msg, struct fqdn_dns_scratch *s)
{
	struct fqdn_dns_state *st = &s->st;
	struct fqdn_dns_rr *rr;
	__u32 n = st->ch_len, r;

	rr = &s->an[s->cn[st->ch_i & (FQDN_MAX_RECORDS_PER_SECTION - 1)] &
		    (FQDN_MAX_RECORDS_PER_SECTION - 1)];
	r = fqdn_resolve(msg, rr->rdata);
	if (n >= FQDN_MAX_CNAME_CHAIN || fqdn_res_in(st, r)) {
		st->phase = FQDN_PH_CREDIT; /* full, or a loop: the chain stops */
		return 0;
	}
	st->res[(n + 1) & (FQDN_DNS_SLOTS - 1)] = r;
	fqdn_copy_start(st, rr->rdata, n + 1, FQDN_PH_CHAIN_ADDED);
	return 0;
}

static __always_inline int fqdn_step_chain_added(struct fqdn_dns_ctx *c, struct fqdn_dns_state *st)
{
	__u32 n = st->ch_len;

	if (fqdn_wire_in(fqdn_slot(c, n + 1), c->out, n)) {
		st->phase = FQDN_PH_CREDIT; /* a loop: the chain stops */
		return 0;
	}
	st->ch_len = n + 1;
	st->ch_i += 1;
	st->phase = FQDN_PH_CHAIN;
	return 0;
}

static __always_inline void fqdn_credit(const __u8 *msg, struct fqdn_dns_state *st, const struct fqdn_dns_rr *rr,
					struct fqdn_facts *out)
{
	struct fqdn_credited_addr *a = &out->addrs[st->addr_n & (FQDN_MAX_CREDITED - 1)];
	const __u8 *src = msg + (fqdn_keep(rr->rdata) & FQDN_DNS_IDX_MASK);

	a->ttl = (rr->ttl & 0x80000000u) ? 0 : rr->ttl;
	a->pad[0] = a->pad[1] = a->pad[2] = 0;
	if (rr->type == FQDN_TYPE_A) {
		a->family = FQDN_AF_INET;
		__builtin_memcpy(a->addr, src, 4);
		__builtin_memset(a->addr + 4, 0, 12);
	} else {
		a->family = FQDN_AF_INET6;
		__builtin_memcpy(a->addr, src, 16);
	}
	st->addr_n += 1;
}

static __always_inline struct fqdn_dns_rr *fqdn_ad_rr(struct fqdn_dns_scratch *s, __u32 i)
{
	return &s->an[s->ad[i & (FQDN_MAX_RECORDS_PER_SECTION - 1)] & (FQDN_MAX_RECORDS_PER_SECTION - 1)];
}

/* Credit up to FQDN_DNS_NAME_UNROLL A/AAAA answers whose owners start where a
 * chain name starts; the first other one goes to the slow path (a copy and a
 * wire-form comparison). */
static __always_inline int fqdn_step_credit(const __u8 *msg, struct fqdn_dns_scratch *s,
					    struct fqdn_facts *out)
{
	struct fqdn_dns_state *st = &s->st;
	struct fqdn_dns_rr *rr;
	__u32 i = st->cr_i, k;

	FQDN_DNS_PRAGMA_INNER
	for (k = 0; k < FQDN_DNS_NAME_UNROLL; k++) {
		if (i >= st->ad_n) {
			st->phase = FQDN_PH_DONE;
			return 1;
		}
		rr = fqdn_ad_rr(s, i);
		if (!fqdn_res_in(st, fqdn_resolve(msg, rr->owner))) {
			st->cr_i = i;
			fqdn_copy_start(st, rr->owner, FQDN_DNS_SLOT_TMP, FQDN_PH_CREDIT_OWNER);
			return 0;
		}
		fqdn_credit(msg, st, rr, out);
		i += 1;
	}
	st->cr_i = i;
	return 0;
}

static __always_inline int fqdn_step_credit_owner(struct fqdn_dns_ctx *c, struct fqdn_dns_state *st)
{
	if (fqdn_wire_in(&c->s->tmp, c->out, st->ch_len))
		fqdn_credit(c->msg, st, fqdn_ad_rr(c->s, st->cr_i), c->out);
	st->cr_i += 1;
	st->phase = FQDN_PH_CREDIT;
	return 0;
}

/* One unit of work. Returns 1 when the parse is over (st->reason says how). */
static __always_inline int fqdn_dns_step(struct fqdn_dns_ctx *c)
{
	struct fqdn_dns_scratch *s = c->s;
	struct fqdn_dns_state *st = &s->st;
	const __u8 *msg = c->msg;

	switch (st->phase) {
	case FQDN_PH_NAME:
		return fqdn_step_name(msg, s);
	case FQDN_PH_QFIXED:
		return fqdn_step_qfixed(msg, st);
	case FQDN_PH_RFIXED:
		return fqdn_step_rfixed(msg, s);
	case FQDN_PH_COPY:
		return fqdn_step_copy(c, st);
	case FQDN_PH_RDCHECK:
		if (st->pos != st->rdata_end)
			return fqdn_fail(st, FQDN_ERR_RDATA_LENGTH, st->rdata_start);
		return fqdn_record_done(st);
	case FQDN_PH_SOA2:
		fqdn_name_start(st, st->pos, FQDN_PH_SOAFIXED);
		return 0;
	case FQDN_PH_SOAFIXED:
		if (st->pos + 20 > st->rdata_end)
			return fqdn_fail(st, FQDN_ERR_RDATA_LENGTH, st->rdata_start);
		st->pos += 20;
		st->phase = FQDN_PH_RDCHECK;
		return 0;
	case FQDN_PH_TXT:
		return fqdn_step_txt(msg, st);
	case FQDN_PH_OPT:
		return fqdn_step_opt(msg, st);
	case FQDN_PH_ENTRY:
		return fqdn_next_entry(st);
	case FQDN_PH_END:
		return fqdn_step_end(msg, st, c->out);
	case FQDN_PH_QNAME_DONE:
		return fqdn_step_qname_done(msg, st);
	case FQDN_PH_CHAIN:
		return fqdn_step_chain(msg, s);
	case FQDN_PH_CHAIN_OWNER:
		return fqdn_step_chain_owner(c, st);
	case FQDN_PH_CHAIN_TARGET:
		return fqdn_step_chain_target(msg, s);
	case FQDN_PH_CHAIN_ADDED:
		return fqdn_step_chain_added(c, st);
	case FQDN_PH_CREDIT:
		return fqdn_step_credit(msg, s, c->out);
	case FQDN_PH_CREDIT_OWNER:
		return fqdn_step_credit_owner(c, st);
	default: /* FQDN_PH_DONE */
		return 1;
	}
}

/* The message buffer as a type of its size: the verifier checks a global
 * function's pointer argument for sizeof(*arg) bytes at each call, and
 * inside the function trusts exactly that many. */
struct fqdn_dns_msgbuf {
	__u8 b[FQDN_DNS_BUF_LEN];
};

/*
 * FQDN_DNS_STEPS_PER_CALL steps, in a GLOBAL function: the verifier checks
 * it once, knowing of its arguments only their types and sizes, not once
 * per program state that reaches the parser (inlined, the parser cost every
 * program that parses ~230k verified instructions, veth_ingress 600k of its
 * 1M). Returns 1 when the parse is over.
 */
__attribute__((noinline)) int fqdn_dns_steps_g(const struct fqdn_dns_msgbuf *msg, struct fqdn_dns_scratch *s,
					      struct fqdn_facts *out)
{
	struct fqdn_dns_ctx c;
	int k;

	/* A global function's pointer arguments may be NULL as far as the
	 * verifier knows. */
	if (!msg || !s || !out)
		return 1;
	FQDN_DNS_PRAGMA_STEPS
	for (k = 0; k < FQDN_DNS_STEPS_PER_CALL; k++) {
		const __u8 *m = msg->b;

		/* Opaque to clang: nothing computed from them is kept across
		 * steps, which would spill registers (the unrolled steps then
		 * needed 184 bytes of stack, over the 512-byte budget of the
		 * call chain in veth_ingress). */
		asm volatile("" : "+r"(m), "+r"(s), "+r"(out));
		c.msg = m;
		c.s = s;
		c.out = out;
		if (fqdn_dns_step(&c))
			return 1;
	}
	return 0;
}

FQDN_STATIC_ASSERT(FQDN_DNS_STEPS_PER_ITER % FQDN_DNS_STEPS_PER_CALL == 0,
		   "a loop iteration is a whole number of calls");

static __always_inline int fqdn_dns_steps(struct fqdn_dns_ctx *c)
{
	int k;

	FQDN_DNS_PRAGMA_STEPS
	for (k = 0; k < FQDN_DNS_STEPS_PER_ITER / FQDN_DNS_STEPS_PER_CALL; k++) {
		/* clang sees that the function returns 0 or 1 and would drop the
		 * mask; the verifier needs it (a bpf_loop callback must return 0
		 * or 1). */
		if (fqdn_keep(fqdn_dns_steps_g((const struct fqdn_dns_msgbuf *)c->msg, c->s, c->out)) & 1)
			return 1;
	}
	return 0;
}

#if FQDN_DNS_LOOP == FQDN_DNS_LOOP_BPF_LOOP
static long fqdn_dns_step_cb(__u32 index __attribute__((unused)), void *ctx)
{
	return fqdn_dns_steps((struct fqdn_dns_ctx *)ctx);
}
#elif FQDN_DNS_LOOP == FQDN_DNS_LOOP_ITER
#ifndef FQDN_HAVE_BPF_ITER_NUM
/* Not in linux-libc-dev 6.1's uapi header; the kernel's BTF has it (>= 6.4). */
struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));
#endif
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __weak __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __weak __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __weak __ksym;
#endif

/*
 * Parse the message msg[0, len) (msg must have FQDN_DNS_BUF_LEN readable
 * bytes). Writes verdict, reason and offset into out; on success also the
 * facts. On error the other scalar fields of out are zero and the name and
 * address arrays are left as they were (a caller that exports out zeroes
 * them). Returns the reason (0 = ok).
 */
static __always_inline __u32 fqdn_dns_parse(const __u8 *msg, __u32 len, struct fqdn_dns_scratch *s,
					    struct fqdn_facts *out)
{
	struct fqdn_dns_state *st = &s->st;
	struct fqdn_dns_ctx c = { .msg = msg, .s = s, .out = out };
	__u32 k;

	__builtin_memset(st, 0, sizeof(*st));
	__builtin_memset(s->ncache, 0, sizeof(s->ncache));
	st->len = len;
	if (len > FQDN_MAX_MSG_LEN) {
		fqdn_fail(st, FQDN_ERR_LIMIT_MESSAGE_LENGTH, 0);
		goto out;
	}
	if (len < FQDN_DNS_HEADER_LEN) {
		fqdn_fail(st, FQDN_ERR_TRUNCATED, 0);
		goto out;
	}
	for (k = 0; k < 4; k++) {
		__u32 n = fqdn_rd16(msg, 4 + 2 * k);
		if (n > FQDN_MAX_RECORDS_PER_SECTION) {
			fqdn_fail(st, FQDN_ERR_LIMIT_RECORDS, 4 + 2 * k);
			goto out;
		}
		st->count[k] = n;
	}
	st->pos = FQDN_DNS_HEADER_LEN;
	st->left = st->count[0];
	st->phase = FQDN_PH_ENTRY;

#if FQDN_DNS_LOOP == FQDN_DNS_LOOP_BPF_LOOP
	bpf_loop(FQDN_DNS_MAX_ITERS, fqdn_dns_step_cb, &c, 0);
#elif FQDN_DNS_LOOP == FQDN_DNS_LOOP_ITER
	{
		struct bpf_iter_num it;
		bpf_iter_num_new(&it, 0, FQDN_DNS_MAX_ITERS);
		while (bpf_iter_num_next(&it)) {
			if (fqdn_dns_steps(&c))
				break;
		}
		bpf_iter_num_destroy(&it);
	}
#else
#ifndef FQDN_DNS_FOR_ITERS
#define FQDN_DNS_FOR_ITERS FQDN_DNS_MAX_ITERS
#endif
	for (k = 0; k < FQDN_DNS_FOR_ITERS; k++) {
		if (fqdn_dns_steps(&c))
			break;
	}
#endif
	if (!st->reason && st->phase != FQDN_PH_DONE) {
		/* Unreachable while FQDN_DNS_WORST_STEPS holds; never report a
		 * half-parsed message as valid. */
		fqdn_fail(st, FQDN_ERR_LIMIT_RECORDS, 0);
	}
out:
	if (st->reason) {
		out->verdict = FQDN_VERDICT_ERROR;
		out->reason = st->reason;
		out->offset = st->offset;
		out->id = 0;
		out->flags = 0;
		out->rcode = 0;
		out->qtype = 0;
		out->qclass = 0;
		out->qdcount = 0;
		out->ancount = 0;
		out->nscount = 0;
		out->arcount = 0;
		out->credits = 0;
		out->chain_len = 0;
		out->addr_count = 0;
		out->qname.len = 0;
		out->qname.labels = 0;
		return st->reason;
	}
	out->verdict = FQDN_VERDICT_OK;
	out->reason = FQDN_OK;
	out->offset = 0;
	out->credits = st->credits;
	out->chain_len = st->ch_len;
	out->addr_count = st->addr_n;
	out->pad[0] = out->pad[1] = 0;
	if (!st->q_seen) {
		out->qname.len = 0;
		out->qname.labels = 0;
	}
	return 0;
}

/*
 * Copy the DNS message at [off, off + len) of the packet into the scratch
 * buffer and parse it. The length checks come first (the contract's order),
 * so an oversized message is rejected without being copied.
 */
static __always_inline __u32 fqdn_dns_parse_skb(struct __sk_buff *skb, __u32 off, __u32 len,
						struct fqdn_dns_scratch *s, struct fqdn_facts *out)
{
	__u32 n = len;

	/* Check the bound on the very register handed to the helper: clang may
	 * otherwise test a copy (len - 12 <= 16372) and the verifier then sees
	 * an unbounded length (found by the datapath programs). */
	asm volatile("" : "+r"(n));
	if (n >= FQDN_DNS_HEADER_LEN && n <= FQDN_MAX_MSG_LEN) {
		if (bpf_skb_load_bytes(skb, off, s->msg, fqdn_len_bound(n)) < 0) {
			/* The caller promised len bytes at off. Report the
			 * message as truncated at its start. */
			len = 0;
		}
	}
	return fqdn_dns_parse(s->msg, len, s, out);
}

#endif /* FQDN_DNS_PARSER_H */
