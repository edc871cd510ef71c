// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dptest: the datapath differential of the kernel matrix (Scripts/kernel-matrix.sh).
 * Linked statically like kmloader, it runs on the host and in every guest:
 *   gcc -O2 -static -I BPFPrograms/include -o dptest dptest.c -lbpf -lelf -lz
 *
 *   dptest --scenario veth|cgroup [--variant V] OBJDIR PACKETS
 *
 * Loads the endpoint's two programs on shared maps (veth: veth_ingress.o +
 * veth_egress.o; cgroup: cgroup_egress.o + cgroup_ingress.o; the second object
 * reuses the first one's maps, as PolicyEngine does), writes a small policy
 * (below; the map layouts are fqdn_shared.h's), runs every packet of PACKETS
 * (written by dpgen.py) through BPF_PROG_TEST_RUN in order, and prints for each
 * case one canonical line
 *   KMP V SCENARIO IDX LABEL err=E ret=R out=... ev=[...]
 * (the bytes the program changed in the packet, the events it emitted, decoded
 * field by field with a hash of all their bytes), then every map's final
 * contents as "KMP V SCENARIO map:NAME ..." lines (sorted entries). Times
 * (CLOCK_BOOTTIME) are made comparable across machines: 0 stays 0, a time
 * within the run is "now", a later one "now+Ns" (N = whole seconds after the
 * first packet: TTLs and grace periods). The sanity assertions of PACKETS are
 * printed as "KMA V SCENARIO IDX ok|FAIL ...". Summary: one KMJ line.
 * Nothing here knows what the programs should answer: the report compares the
 * host's lines with each guest's, and requires the assertions on the host.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fqdn_shared.h"
#include "km_common.h"

#define TEST_IFINDEX 1   /* lo: BPF_PROG_TEST_RUN's skb->ifindex for tc programs */
#define ROOT_CGROUP_ID 1 /* cgroup v2 root: an ancestor of the test_run socket's cgroup */
#define EP_ID 7
#define POLICY_ID 3

static const char *variant = "", *scenario = "";
static struct bpf_object *objs[2];
static uint64_t t0; /* CLOCK_BOOTTIME before the first packet */
static uint64_t t_end;

static uint64_t boot_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}




static void sbf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

static void sb_hex(struct sb *b, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sbf(b, "%02x", p[i]);
}

/* A CLOCK_BOOTTIME value, comparable across machines. */
static void sb_time(struct sb *b, uint64_t v)
{
	if (!v)
		sbf(b, "0");
	else if (v < t0)
		sbf(b, "before");
	else if (v <= t_end)
		sbf(b, "now");
	else
		sbf(b, "now+%llus", (unsigned long long)((v - t0) / 1000000000ull));
}

static void summary(const char *error, const char *fmt, ...)
{
	struct sb b = {0};
	sbf(&b, "KMJ {\"kind\":\"dprun\",\"variant\":\"%s\",\"scenario\":\"%s\"", variant, scenario);
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		char tmp[512];
		vsnprintf(tmp, sizeof tmp, fmt, ap);
		va_end(ap);
		sbf(&b, ",%s", tmp);
	}
	if (error) {
		sbf(&b, ",\"error\":\"");
		for (const char *s = error; *s; s++)
			sbf(&b, (*s == '"' || *s == '\\') ? "\\%c" : (*s < 0x20 ? " " : "%c"), *s);
		sbf(&b, "\"");
	}
	printf("%s}\n", b.p);
	fflush(stdout);
	free(b.p);
}

static char libbpf_err[1024];
static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	char tmp[512];
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	if (strlen(libbpf_err) + strlen(tmp) < sizeof libbpf_err - 1)
		strcat(libbpf_err, tmp);
	return 0;
}

static struct bpf_map *map_by_name(const char *n)
{
	struct bpf_map *m = bpf_object__find_map_by_name(objs[0], n);
	if (!m) {
		char e[128];
		snprintf(e, sizeof e, "no map %s", n);
		summary(e, NULL);
		exit(1);
	}
	return m;
}

static void upd(const char *n, const void *k, const void *v)
{
	if (bpf_map_update_elem(bpf_map__fd(map_by_name(n)), k, v, BPF_ANY)) {
		char e[160];
		snprintf(e, sizeof e, "update %s: %s", n, strerror(errno));
		summary(e, NULL);
		exit(1);
	}
}

/* ------------------------------------------------------------------ policy */

static void trie_node(__u32 parent, const char *label, __u32 id, __u16 depth, __u32 exact_set, __u32 multi_set,
		      __u32 flags)
{
	struct fqdn_trie_key k;
	struct fqdn_trie_node v;
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.policy = POLICY_ID;
	k.parent = parent;
	k.len = strlen(label);
	memcpy(k.label, label, k.len);
	v.id = id;
	v.depth = depth;
	v.exact_set = exact_set;
	v.multi_set = multi_set;
	v.flags = flags;
	upd("fq_trie_nodes", &k, &v);
}

/* The policy dpgen.py's assertions are derived from (see there). */
static void write_policy(bool cgroup)
{
	struct fqdn_endpoint ep = {.endpoint_id = EP_ID, .policy_id = POLICY_ID,
				   .flags = FQDN_EP_F_ENFORCE | FQDN_EP_F_LEARN};
	if (cgroup) {
		__u64 id = ROOT_CGROUP_ID;
		upd("fq_ep_cgroup", &id, &ep);
	} else {
		__u32 ifx = TEST_IFINDEX;
		upd("fq_ep_ifindex", &ifx, &ep);
	}
	__u32 pid = POLICY_ID;
	struct fqdn_policy_settings pol = {.flags = FQDN_POL_F_DNS_RULES, .refused_action = FQDN_REFUSE_REFUSED,
					   .min_ttl = 10, .max_ips_per_name = 2, .flow_grace = 60, .rule_count = 1};
	upd("fq_policy", &pid, &pol);
	struct fqdn_ports_key pk = {.policy_id = POLICY_ID, .rule = 0};
	struct fqdn_rule_ports rp = {.count = 0}; /* every port and protocol */
	upd("fq_ports", &pk, &rp);
	__u32 zero = 0;
	struct fqdn_server_key s4 = {.family = FQDN_AF_INET, .port = 53, .addr = {10, 0, 0, 53}};
	struct fqdn_server_key s6 = {.family = FQDN_AF_INET6, .port = 53, .addr = {0xfd, 0, [15] = 0x53}};
	upd("fq_dns_servers", &s4, &zero);
	upd("fq_dns_servers", &s6, &zero);
	/* example.com and every name under it: rule 0, and may be queried */
	trie_node(0, "", 1, 0, 0, 0, 0);
	trie_node(1, "com", 2, 1, 0, 0, 0);
	trie_node(2, "example", 3, 2, 1, 2, FQDN_TRIE_F_EXACT | FQDN_TRIE_F_MULTI);
	for (__u32 set = 1; set <= 2; set++) {
		struct fqdn_trie_set_key k = {.policy = POLICY_ID, .set = set};
		struct fqdn_trie_set v = {.count = 2, .tags = {0, FQDN_TAG_DNS_QUERY}};
		upd("fq_trie_sets", &k, &v);
	}
}

/* ------------------------------------------------------------------ randomised queries */

/* Query randomisation (veth; fqdn_shared.h FQDN_QUERY_RANDOMISATION): an allowed UDP query
 * leaves with a source port and id the kernel drew. The run records them by the query's own
 * port and id and gives them to the next answer to that port and id, as the server would.
 * Lines show "rand" where these values were (and the UDP checksum they change), so kernels
 * compare; whether the answer got the pod's port and id back is shown as restored=0|1. */
struct rq {
	int fam;
	uint16_t port, id, wport, wid;
	bool used;
};
static struct rq rqs[64];
static int nrq;
static const struct rq *cur_rq; /* the answer being run was given these values */

/* The UDP header's offset in an Ethernet frame (IPv4 or IPv6 without extension headers),
 * 0 when it is not UDP. */
static size_t udp_off(const unsigned char *p, size_t n, int *fam)
{
	if (n < 14 + 40)
		return 0;
	if (p[12] == 0x08 && p[13] == 0x00 && (p[14] >> 4) == 4 && p[14 + 9] == 17) {
		*fam = 4;
		return 14 + (p[14] & 15) * 4;
	}
	if (p[12] == 0x86 && p[13] == 0xdd && p[14 + 6] == 17) {
		*fam = 6;
		return 14 + 40;
	}
	return 0;
}

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void wr16(unsigned char *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

/* ------------------------------------------------------------------ events */

static struct sb *cur_events;
static int ev_types[64], n_ev, nchecks;

static void sb_name(struct sb *b, const struct fqdn_wire_name *n)
{
	/* dotted, bytes outside [!-~] and '.' inside labels as \xNN */
	unsigned len = n->len > sizeof n->wire ? sizeof n->wire : n->len;
	sbf(b, "%u/%u:", n->len, n->labels);
	for (unsigned i = 0; i < len;) {
		unsigned l = n->wire[i++];
		if (!l)
			break;
		for (unsigned j = 0; j < l && i < len; j++, i++) {
			unsigned char c = n->wire[i];
			sbf(b, (c > ' ' && c <= '~' && c != '.' && c != '\\') ? "%c" : "\\x%02x", c);
		}
		sbf(b, ".");
	}
}

static void sb_addr(struct sb *b, __u8 family, const __u8 *a)
{
	if (family == FQDN_AF_INET)
		sbf(b, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
	else
		sb_hex(b, a, 16);
}

static int on_event(void *ctx, void *data, size_t sz)
{
	struct fqdn_event e;
	memset(&e, 0, sizeof e);
	memcpy(&e, data, sz < sizeof e ? sz : sizeof e);
	uint64_t ts = e.ts_ns, exp = e.expiry_ns;
	struct sb *b = cur_events;
	t_end = boot_ns(); /* the times of this event: "now" up to here */
	if (n_ev < 64)
		ev_types[n_ev] = e.type;
	n_ev++;
	if (cur_rq && e.txid == cur_rq->wid)
		e.txid = cur_rq->id; /* the drawn id, shown as the pod's */
	sbf(b, " ev[type=%u ep=%u pol=%u reason=%u off=%u ttl=%u fam=%u proto=%u port=%u qtype=%u txid=%04x addr=",
	    e.type, e.endpoint_id, e.policy_id, e.reason, e.offset, e.ttl, e.family, e.proto, e.port, e.qtype, e.txid);
	sb_addr(b, e.family, e.addr);
	sbf(b, " name=");
	sb_name(b, &e.name);
	sbf(b, " ts=");
	sb_time(b, ts);
	sbf(b, " exp=");
	sb_time(b, exp);
	/* every other byte: the hash of the record with the two times zeroed */
	e.ts_ns = e.expiry_ns = 0;
	sbf(b, " size=%zu hash=%016llx]", sz, (unsigned long long)fnv64((void *)&e, sizeof e));
	(void)ctx;
	return 0;
}

/* ------------------------------------------------------------------ maps */

/* Time fields of the map values (offsets from fqdn_shared.h). */
struct tfield {
	const char *map;
	size_t off;
};
static const struct tfield time_fields[] = {
	{"fq_inflight", offsetof(struct fqdn_inflight, sent_ns)},
	{"fq_allow4", offsetof(struct fqdn_allow, expiry_ns)},
	{"fq_allow6", offsetof(struct fqdn_allow, expiry_ns)},
	{"fq_names", offsetof(struct fqdn_name, learned_ns)},
	{"fq_flows", offsetof(struct fqdn_flow, created_ns)},
	{"fq_flows", offsetof(struct fqdn_flow, last_ns)},
	{"fq_inbound", offsetof(struct fqdn_flow, created_ns)},
	{"fq_inbound", offsetof(struct fqdn_flow, last_ns)},
	{"fq_meta", offsetof(struct fqdn_meta, created_ns)},
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Value bytes as hex, time fields as sb_time tokens, runs of 8+ zero bytes (and trailing
 * zeros) as "~N". */
static void sb_value(struct sb *b, const char *map, const unsigned char *v, size_t vs)
{
	for (size_t i = 0; i < vs;) {
		bool t = false;
		for (size_t f = 0; f < sizeof time_fields / sizeof *time_fields; f++)
			if (!strcmp(time_fields[f].map, map) && time_fields[f].off == i && i + 8 <= vs) {
				uint64_t x;
				memcpy(&x, v + i, 8);
				sbf(b, "<");
				sb_time(b, x);
				sbf(b, ">");
				i += 8;
				t = true;
				break;
			}
		if (t)
			continue;
		size_t z = i;
		while (z < vs && !v[z])
			z++;
		if (z - i >= 8 || (z == vs && z > i)) {
			sbf(b, "~%zu_", z - i);
			i = z;
		} else {
			sbf(b, "%02x", v[i++]);
		}
	}
}

static int dump_map(struct bpf_map *m)
{
	const char *n = bpf_map__name(m);
	enum bpf_map_type type = bpf_map__type(m);
	size_t ks = bpf_map__key_size(m), vs = bpf_map__value_size(m);
	bool percpu = type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
		      type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
	/* Not compared: libbpf's internal maps (.rodata, .bss), the ring (its records are
	 * compared per case), and the per-CPU scratch of one program run (fq_scratch,
	 * fq_dns_scratch, fq_trie_state: leftovers of whichever CPU ran the last
	 * packet). Per-CPU maps of u64 (fq_counters) are compared summed over the CPUs. */
	if (strchr(n, '.') || type == BPF_MAP_TYPE_RINGBUF || (percpu && vs != 8))
		return 0;
	int fd = bpf_map__fd(m);
	int ncpu = percpu ? libbpf_num_possible_cpus() : 1;
	size_t stride = percpu ? (vs + 7) / 8 * 8 : vs;
	unsigned char *k = calloc(1, ks + 8), *nk = calloc(1, ks + 8), *v = calloc(ncpu, stride + 8), *sum = calloc(1, vs + 8);
	size_t cap = 64, nl = 0;
	char **lines = malloc(cap * sizeof *lines);
	bool first = true;
	while (bpf_map_get_next_key(fd, first ? NULL : k, nk) == 0 && nl < 100000) {
		first = false;
		memcpy(k, nk, ks);
		if (bpf_map_lookup_elem(fd, k, v))
			continue;
		if (percpu) {
			/* per-CPU values: summed as u64 counters (the CPU count differs by machine) */
			memset(sum, 0, vs);
			for (int c = 0; c < ncpu; c++)
				for (size_t o = 0; o + 8 <= vs; o += 8) {
					uint64_t a, x;
					memcpy(&a, sum + o, 8);
					memcpy(&x, v + c * stride + o, 8);
					a += x;
					memcpy(sum + o, &a, 8);
				}
			memcpy(v, sum, vs);
		}
		if (type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY) {
			size_t z = 0;
			while (z < vs && !v[z])
				z++;
			if (z == vs)
				continue; /* arrays: only the non-zero entries */
		}
#if FQDN_QUERY_RANDOMISATION
		if (!strcmp(n, "fq_inflight") && ks == sizeof(struct fqdn_inflight_key) && vs == sizeof(struct fqdn_inflight)) {
			struct fqdn_inflight_key *ik = (void *)k;
			struct fqdn_inflight *iv = (void *)v;
			if (iv->flags & FQDN_INF_F_RANDOMISED)
				ik->client_port = iv->wire_txid = 0; /* drawn: "rand" */
		}
#endif
		struct sb l = {0};
		sb_hex(&l, k, ks);
		sbf(&l, "=");
		sb_value(&l, n, v, vs);
		if (nl == cap)
			lines = realloc(lines, (cap *= 2) * sizeof *lines);
		lines[nl++] = l.p;
	}
	qsort(lines, nl, sizeof *lines, cmp_str);
	struct sb b = {0};
	sbf(&b, "KMP %s %s map:%s %zu", variant, scenario, n, nl);
	for (size_t i = 0; i < nl; i++) {
		sbf(&b, " %s", lines[i]);
		free(lines[i]);
	}
	printf("%s\n", b.p);
	free(b.p);
	free(lines);
	free(k);
	free(nk);
	free(v);
	free(sum);
	return 1;
}

/* ------------------------------------------------------------------ checks */

/* The DNS rcode of a rewritten packet (Ethernet, IPv4/IPv6, UDP), -1 if none. */
static int out_rcode(const unsigned char *p, size_t n)
{
	size_t l3 = 14, l4;
	if (n < l3 + 1)
		return -1;
	if ((p[l3] >> 4) == 4)
		l4 = l3 + (p[l3] & 15) * 4;
	else if ((p[l3] >> 4) == 6)
		l4 = l3 + 40;
	else
		return -1;
	if (n < l4 + 8 + 4)
		return -1;
	return p[l4 + 8 + 3] & 15;
}

/* "veth:ret=0,noev;cgroup:ret=1": the assertions of this scenario. */
static int check(struct sb *res, const char *spec, int err, unsigned ret, bool changed, int rcode)
{
	int fails = 0;
	char buf[512];
	snprintf(buf, sizeof buf, "%s", spec);
	for (char *sc = strtok(buf, ";"); sc; sc = strtok(NULL, ";")) {
		char *colon = strchr(sc, ':');
		if (!colon || strncmp(sc, scenario, colon - sc) || strlen(scenario) != (size_t)(colon - sc))
			continue;
		char *save = NULL;
		for (char *a = strtok_r(colon + 1, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
			bool ok;
			if (!strncmp(a, "ret=", 4))
				ok = !err && ret == strtoul(a + 4, NULL, 0);
			else if (!strncmp(a, "rcode=", 6))
				ok = changed && rcode == atoi(a + 6);
			else if (!strncmp(a, "ev=", 3)) {
				ok = false;
				for (int i = 0; i < n_ev && i < 64; i++)
					ok |= ev_types[i] == atoi(a + 3);
			} else if (!strcmp(a, "noev"))
				ok = n_ev == 0;
			else
				ok = false;
			sbf(res, " %s:%s", a, ok ? "ok" : "FAIL");
			fails += !ok;
			nchecks++;
		}
	}
	return fails;
}

/* ------------------------------------------------------------------ main */

static struct bpf_object *open_obj(const char *dir, const char *name)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s.o", dir, name);
	struct bpf_object *o = bpf_object__open_file(path, NULL);
	return o;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *cases = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--scenario") && i + 1 < argc)
			scenario = argv[++i];
		else if (!strcmp(argv[i], "--variant") && i + 1 < argc)
			variant = argv[++i];
		else if (!dir)
			dir = argv[i];
		else
			cases = argv[i];
	}
	bool cgroup = !strcmp(scenario, "cgroup");
	if (!dir || !cases || (!cgroup && strcmp(scenario, "veth"))) {
		fprintf(stderr, "usage: dptest --scenario veth|cgroup [--variant V] OBJDIR PACKETS\n");
		return 2;
	}
	libbpf_set_print(print_fn);
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	const char *names[2] = {cgroup ? "cgroup_egress" : "veth_ingress", cgroup ? "cgroup_ingress" : "veth_egress"};
	const char *progs[2] = {cgroup ? "fqdn_cgroup_egress" : "fqdn_veth_ingress",
				cgroup ? "fqdn_cgroup_ingress" : "fqdn_veth_egress"};
	struct bpf_program *prog[2];
	static char statlog[2][1 << 16];
	double tl = km_now_ms();
	for (int i = 0; i < 2; i++) {
		objs[i] = open_obj(dir, names[i]);
		if (!objs[i]) {
			summary(libbpf_err, "\"stage\":\"open %s\"", names[i]);
			return 1;
		}
		prog[i] = bpf_object__find_program_by_name(objs[i], progs[i]);
		if (!prog[i]) {
			summary("program not found", "\"stage\":\"open %s\"", names[i]);
			return 1;
		}
		/* stats-only log: libbpf would retry a log-less failed load with a full log */
		bpf_program__set_log_buf(prog[i], statlog[i], sizeof statlog[i]);
		bpf_program__set_log_level(prog[i], 4);
		if (i == 1) {
			struct bpf_map *m;
			bpf_object__for_each_map(m, objs[1]) {
				struct bpf_map *s = bpf_object__find_map_by_name(objs[0], bpf_map__name(m));
				if (s && !strchr(bpf_map__name(m), '.') && bpf_map__reuse_fd(m, bpf_map__fd(s))) {
					summary("map reuse failed", "\"stage\":\"reuse %s\"", bpf_map__name(m));
					return 1;
				}
			}
		}
		int err = bpf_object__load(objs[i]);
		if (err) {
			summary(libbpf_err, "\"stage\":\"load %s\",\"errno\":%d", names[i], -err);
			return 1;
		}
	}
	double load_ms = km_now_ms() - tl;
	write_policy(cgroup);
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(map_by_name("fq_events")), on_event, NULL, NULL);
	if (!rb) {
		summary("ring_buffer__new failed", NULL);
		return 1;
	}
	FILE *f = fopen(cases, "r");
	if (!f) {
		summary("cannot read the packets", NULL);
		return 1;
	}
	static char line[1 << 16];
	static unsigned char in[8192], out[8192];
	int n = 0, fails = 0, errors = 0;
	double tr = km_now_ms();
	t0 = boot_ns();
	struct sb *lines = calloc(4096, sizeof *lines), *asserts = calloc(4096, sizeof *asserts);
	while (fgets(line, sizeof line, f) && n < 4096) {
		char hook[8], spec[512], label[128], hx[sizeof line];
		if (line[0] == '#' || sscanf(line, "%7s %511s %127s %65535s", hook, spec, label, hx) != 4)
			continue;
		size_t len = strlen(hx) / 2;
		if (len > sizeof in)
			len = sizeof in;
		for (size_t i = 0; i < len; i++) {
			unsigned x;
			sscanf(hx + 2 * i, "%2x", &x);
			in[i] = x;
		}
		int which = hook[0] == 'I';
		/* An answer to a randomised query: sent to the values the query left with. */
		static unsigned char orig[8192];
		int fam = 0;
		size_t l4 = udp_off(in, len, &fam);
		memcpy(orig, in, len);
		cur_rq = NULL;
		if (which && l4 && len >= l4 + 10 && rd16(in + l4) == 53) {
			for (int i = 0; i < nrq; i++) {
				struct rq *r = &rqs[i];
				if (!r->used && r->fam == fam && r->port == rd16(in + l4 + 2) && r->id == rd16(in + l4 + 8)) {
					r->used = true;
					cur_rq = r;
					wr16(in + l4 + 2, r->wport);
					wr16(in + l4 + 8, r->wid);
					break;
				}
			}
		}
		memset(out, 0, sizeof out);
		LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = in, .data_size_in = len, .data_out = out,
			    .data_size_out = sizeof out, .repeat = 1);
		int err = bpf_prog_test_run_opts(bpf_program__fd(prog[which]), &t) ? errno : 0;
		errors += err != 0;
		struct sb *b = &lines[n];
		sbf(b, "KMP %s %s %d %s %s err=%d ret=%u out=", variant, scenario, n, label, progs[which], err,
		    err ? 0 : t.retval);
		bool rand = false;
		int restored = -1;
		if (!err && !which && t.retval == 0 && l4 && len >= l4 + 10 && t.data_size_out == len && rd16(in + l4 + 2) == 53 &&
		    (rd16(out + l4) != rd16(in + l4) || rd16(out + l4 + 8) != rd16(in + l4 + 8)) && nrq < 64) {
			/* a query that left with drawn values */
			rqs[nrq++] = (struct rq){fam, rd16(in + l4), rd16(in + l4 + 8), rd16(out + l4), rd16(out + l4 + 8), false};
			rand = true;
		}
		if (!err && cur_rq && t.data_size_out == len) {
			restored = rd16(out + l4 + 2) == cur_rq->port && rd16(out + l4 + 8) == cur_rq->id;
			rand = true;
			memcpy(in, orig, len); /* compared with what the test sent */
		}
		if (rand) {
			/* port, checksum and id as sent: the drawn values differ by run */
			memcpy(out + l4, in + l4, 2);
			memcpy(out + l4 + 2, in + l4 + 2, 2);
			memcpy(out + l4 + 6, in + l4 + 6, 2);
			memcpy(out + l4 + 8, in + l4 + 8, 2);
		}
		/* the packet as the program left it: "=" when unchanged, else the changed byte runs */
		bool changed = t.data_size_out != len || memcmp(in, out, len);
		if (err)
			sbf(b, "-");
		else if (t.data_size_out != len) {
			sbf(b, "len%u:", t.data_size_out);
			sb_hex(b, out, t.data_size_out);
		} else if (!changed)
			sbf(b, "=");
		else {
			for (size_t i = 0; i < len;) {
				if (in[i] == out[i]) {
					i++;
					continue;
				}
				size_t j = i;
				while (j < len && in[j] != out[j])
					j++;
				sbf(b, "%s%zu:", b->p[b->len - 1] == '=' ? "" : ",", i);
				sb_hex(b, out + i, j - i);
				i = j;
			}
		}
		if (rand)
			sbf(b, restored < 0 ? " rand" : " rand restored=%d", restored);
		cur_events = b;
		n_ev = 0;
		ring_buffer__consume(rb);
		cur_rq = NULL;
		sbf(b, " events=%d", n_ev);
		if (strcmp(spec, "-")) {
			struct sb *a = &asserts[n];
			sbf(a, "KMA %s %s %d %s", variant, scenario, n, label);
			fails += check(a, spec, err, t.retval, changed && !err, out_rcode(out, t.data_size_out));
		}
		n++;
	}
	fclose(f);
	t_end = boot_ns();
	double run_ms = km_now_ms() - tr;
	for (int i = 0; i < n; i++) {
		printf("%s\n", lines[i].p);
		if (asserts[i].p)
			printf("%s\n", asserts[i].p);
	}
	int nmaps = 0;
	struct bpf_map *m;
	bpf_object__for_each_map(m, objs[0]) nmaps += dump_map(m);
	summary(NULL, "\"cases\":%d,\"maps\":%d,\"test_run_errors\":%d,\"assertions\":%d,\"assertions_failed\":%d,\"load_ms\":%.1f,\"run_ms\":%.1f",
		n, nmaps, errors, nchecks, fails, load_ms, run_ms);
	return 0;
}
