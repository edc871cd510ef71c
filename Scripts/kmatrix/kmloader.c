// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * kmloader: the static libbpf loader of the kernel compatibility matrix
 * (Scripts/kernel-matrix.sh). It runs as-is on the host and as the payload of
 * a busybox initramfs under qemu, so it is linked statically:
 *   gcc -O2 -static -o kmloader kmloader.c -lbpf -lelf -lz
 *
 * Every result is printed as one line "KMJ {json}" (easy to fish out of a
 * serial console full of kernel messages); differential results as "KMR ...".
 *
 *   kmloader verify [--variant V] OBJ...
 *       Loads every program of every object ON ITS OWN (bpf_object__load is
 *       all-or-nothing, so the object is reopened with only that program
 *       autoloaded). First attempt: stats-only log (level 4, small buffer,
 *       cannot overflow). On failure: level-1 log into 16 MiB, then 192 MiB
 *       on ENOSPC (before 6.4 an overflowing log fails the load itself).
 *   kmloader probe
 *       Run-time feature probes that are not "does this program load":
 *       tcx link, legacy tc (clsact + cls_bpf), BPF_PROG_TEST_RUN per
 *       program type and packet size, verdict-only sockmap on TCP.
 *       Runs in a private network namespace (no host hook is touched).
 *   kmloader run OBJ CASES [--prog NAME] [--map NAME] [--key N] [--msg-map NAME]
 *                [--variant V] [--expect FILE] [--dump FILE] [--max-dumps N] [--repeat N]
 *       Differential cases: loads one test program, and for every packet in
 *       CASES ("KMC1" u32 count, then u32 len + bytes each) fills the facts
 *       map value with 0xA5, runs BPF_PROG_TEST_RUN, reads the value back and
 *       prints "KMR idx errno retval written fnv64". --expect (lines
 *       "idx errno retval written hash" from a reference run) makes it print
 *       the full value ("KMD idx hex") of the first cases that differ;
 *       --dump writes every value (raw, concatenated) to FILE. --msg-map: the
 *       cases are bare DNS messages written into that map's value (u32 length,
 *       bytes) and the packet is a dummy (parse_buffer). --repeat: test_run's
 *       repeat; the summary has the mean ns per run over all cases.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include "../../Sources/CLibbpf/shim.h" /* clibbpf_vmlinux_enum_has: the Swift probe */
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "fqdn_shared.h" /* struct fqdn_facts: the value the parser test writes */
#include "km_common.h"

/* Attach types newer than libbpf 1.1's headers (values from the kernel uapi). */
#define KM_BPF_TCX_INGRESS 46

/* ------------------------------------------------------------------ */
/* small utilities                                                    */
/* ------------------------------------------------------------------ */



static void sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(tmp)) {
		char *big = malloc(n + 1);
		va_start(ap, fmt);
		vsnprintf(big, n + 1, fmt, ap);
		va_end(ap);
		sb_add(b, big, n);
		free(big);
	} else if (n > 0) {
		sb_add(b, tmp, n);
	}
}

static void sb_json_str(struct sb *b, const char *s, size_t n)
{
	sb_add(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', c};
			sb_add(b, e, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			sb_printf(b, "\\u%04x", c);
		} else {
			sb_add(b, (const char *)&c, 1);
		}
	}
	sb_add(b, "\"", 1);
}

static void sb_kv_str(struct sb *b, const char *k, const char *v)
{
	sb_printf(b, ",\"%s\":", k);
	sb_json_str(b, v ? v : "", v ? strlen(v) : 0);
}

/* JSON array of the lines of text[from..to) (at most max lines). */
static void sb_kv_lines(struct sb *b, const char *k, const char **lines, int n)
{
	sb_printf(b, ",\"%s\":[", k);
	for (int i = 0; i < n; i++) {
		if (i)
			sb_add(b, ",", 1);
		sb_json_str(b, lines[i], strlen(lines[i]));
	}
	sb_add(b, "]", 1);
}

static void emit(struct sb *b)
{
	printf("KMJ {%s}\n", b->p ? b->p + (b->p[0] == ',' ? 1 : 0) : "");
	fflush(stdout);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Split text into lines (in place); returns count, fills up to max pointers
 * with the LAST max non-empty lines (tail) or the first ones (head). */
static int split_lines(char *text, const char **out, int max, bool tail)
{
	int n = 0, total = 0;
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!*l)
			continue;
		total++;
		if (!tail) {
			if (n < max)
				out[n++] = l;
		} else {
			if (n < max) {
				out[n++] = l;
			} else {
				memmove(out, out + 1, sizeof(*out) * (max - 1));
				out[max - 1] = l;
			}
		}
	}
	(void)total;
	return n;
}

/* ------------------------------------------------------------------ */
/* libbpf messages: captured per attempt                              */
/* ------------------------------------------------------------------ */

static struct sb libbpf_msgs;
static bool libbpf_in_log; /* between "-- BEGIN PROG LOAD LOG --" and END */
static bool libbpf_verbose;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char tmp[2048];
	if (level == LIBBPF_DEBUG && !libbpf_verbose)
		return 0;
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	if (strstr(tmp, "-- BEGIN PROG LOAD LOG --")) {
		libbpf_in_log = true;
		return 0;
	}
	if (strstr(tmp, "-- END PROG LOAD LOG --")) {
		libbpf_in_log = false;
		return 0;
	}
	if (libbpf_in_log)
		return 0;
	if (libbpf_verbose)
		fputs(tmp, stderr);
	/* keep the capture bounded */
	if (libbpf_msgs.len < 16384)
		sb_add(&libbpf_msgs, tmp, strlen(tmp));
	return 0;
}

static void libbpf_msgs_reset(void)
{
	free(libbpf_msgs.p);
	memset(&libbpf_msgs, 0, sizeof(libbpf_msgs));
	libbpf_in_log = false;
}

/* ------------------------------------------------------------------ */
/* verify                                                             */
/* ------------------------------------------------------------------ */

struct attempt {
	int err;          /* 0 or -errno */
	int log_level;
	size_t log_size;
	char *log;        /* owned */
	double ms;
	__u32 verified_insns, xlated_insns, jited_bytes;
	int processed, total_states, peak_states;
	char *libbpf;     /* owned copy of libbpf's messages */
};

static const char *prog_type_name(enum bpf_prog_type t)
{
	const char *s = libbpf_bpf_prog_type_str(t);
	return s ? s : "unknown";
}

/* Open obj, autoload only program number idx, load. */
static void load_one(const char *path, int idx, int log_level, size_t log_size, struct attempt *a)
{
	memset(a, 0, sizeof(*a));
	a->log_level = log_level;
	a->log_size = log_size;
	libbpf_msgs_reset();
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		a->err = -errno;
		a->libbpf = libbpf_msgs.p ? strdup(libbpf_msgs.p) : NULL;
		return;
	}
	struct bpf_program *p, *target = NULL;
	int i = 0;
	bpf_object__for_each_program(p, obj) {
		bool me = i++ == idx;
		bpf_program__set_autoload(p, me);
		if (me)
			target = p;
	}
	if (log_size) {
		a->log = calloc(1, log_size);
		if (!a->log) {
			a->err = -ENOMEM;
			bpf_object__close(obj);
			return;
		}
		bpf_program__set_log_buf(target, a->log, log_size);
		bpf_program__set_log_level(target, log_level);
	}
	double t0 = km_now_ms();
	a->err = bpf_object__load(obj);
	a->ms = km_now_ms() - t0;
	if (a->err > 0)
		a->err = -a->err;
	if (!a->err) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (!bpf_obj_get_info_by_fd(bpf_program__fd(target), &info, &len)) {
			a->verified_insns = info.verified_insns;
			a->xlated_insns = info.xlated_prog_len / 8;
			a->jited_bytes = info.jited_prog_len;
		}
	}
	if (a->log) {
		const char *s = strstr(a->log, "processed ");
		/* the LAST "processed N insns" line is the summary */
		for (const char *q = s; q; q = strstr(q + 1, "processed "))
			s = q;
		if (s)
			sscanf(s, "processed %d insns (limit %*d) max_states_per_insn %*d total_states %d peak_states %d",
			       &a->processed, &a->total_states, &a->peak_states);
	}
	a->libbpf = libbpf_msgs.p ? strdup(libbpf_msgs.p) : NULL;
	bpf_object__close(obj);
}

static void free_attempt(struct attempt *a)
{
	free(a->log);
	free(a->libbpf);
}

/* The line of the verifier log that says why: the last line that is not
 * a statistics line. */
static const char *reason_line(const char **lines, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		if (!strncmp(lines[i], "processed ", 10) || !strncmp(lines[i], "verification time", 17) ||
		    !strncmp(lines[i], "stack depth", 11))
			continue;
		return lines[i];
	}
	return "";
}

static int cmd_verify(int argc, char **argv)
{
	const char *variant = "";
	for (int ai = 0; ai < argc; ai++) {
		if (!strcmp(argv[ai], "--variant") && ai + 1 < argc) {
			variant = argv[++ai];
			continue;
		}
		const char *path = argv[ai];
		const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

		/* enumerate programs */
		libbpf_msgs_reset();
		struct bpf_object *obj = bpf_object__open_file(path, NULL);
		if (!obj) {
			struct sb b = {0};
			sb_kv_str(&b, "kind", "object");
			sb_kv_str(&b, "object", base);
			sb_kv_str(&b, "variant", variant);
			sb_printf(&b, ",\"errno\":%d", errno);
			sb_kv_str(&b, "libbpf", libbpf_msgs.p);
			emit(&b);
			continue;
		}
		int nprogs = 0;
		char names[256][128], secs[256][128], types[256][64];
		size_t insn_cnt[256];
		struct bpf_program *p;
		bpf_object__for_each_program(p, obj) {
			if (nprogs == 256)
				break;
			snprintf(names[nprogs], 128, "%s", bpf_program__name(p));
			snprintf(secs[nprogs], 128, "%s", bpf_program__section_name(p));
			snprintf(types[nprogs], 64, "%s", prog_type_name(bpf_program__type(p)));
			insn_cnt[nprogs] = bpf_program__insn_cnt(p);
			nprogs++;
		}
		bpf_object__close(obj);

		for (int i = 0; i < nprogs; i++) {
			struct attempt a, r = {0};
			bool have_r = false;
			double t_prog = km_now_ms();
			load_one(path, i, 4 /* BPF_LOG_STATS */, 1 << 16, &a);
			/* The stats line is printed on failure too: a rejection at the
			 * complexity limit (E2BIG, "processed 1000001 insns") needs no
			 * level-1 retry, which would log a million instructions. */
			bool at_limit = a.err == -E2BIG && a.processed > 1000000;
			if (a.err && !at_limit) {
				/* Retry for the reason: full log, large buffer, larger on ENOSPC. */
				load_one(path, i, 1, 16u << 20, &r);
				have_r = true;
				/* Since 6.4 the log rotates: on overflow it still ends with the
				 * reason and the stats line, and a bigger buffer adds nothing. */
				if (r.err == -ENOSPC && !r.processed) {
					free_attempt(&r);
					load_one(path, i, 1, 192u << 20, &r);
				}
			}
			struct sb b = {0};
			sb_kv_str(&b, "kind", "program");
			sb_kv_str(&b, "object", base);
			sb_kv_str(&b, "variant", variant);
			sb_kv_str(&b, "program", names[i]);
			sb_kv_str(&b, "section", secs[i]);
			sb_kv_str(&b, "type", types[i]);
			sb_printf(&b, ",\"insn_cnt\":%zu", insn_cnt[i]);
			sb_kv_str(&b, "verdict", a.err ? "rejected" : "accepted");
			sb_printf(&b, ",\"errno\":%d,\"load_ms\":%.1f,\"total_ms\":%.1f", -a.err, a.ms, km_now_ms() - t_prog);
			if (!a.err) {
				sb_printf(&b, ",\"verified_insns\":%u,\"processed\":%d,\"total_states\":%d,\"peak_states\":%d,\"xlated_insns\":%u,\"jited_bytes\":%u",
					  a.verified_insns, a.processed, a.total_states, a.peak_states, a.xlated_insns, a.jited_bytes);
			} else {
				const char *lines[40];
				int n = 0;
				bool truncated = r.err == -ENOSPC;
				if (r.log && r.log[0])
					n = split_lines(r.log, lines, 40, true);
				else if (a.log && a.log[0])
					n = split_lines(a.log, lines, 40, true);
				sb_printf(&b, ",\"retry_errno\":%d,\"retry_log_size\":%zu,\"log_truncated\":%s",
					  have_r ? -r.err : 0, r.log_size, truncated ? "true" : "false");
				if (!at_limit)
					sb_printf(&b, ",\"processed\":%d", r.processed);
				char limit_msg[160];
				if (at_limit) {
					snprintf(limit_msg, sizeof(limit_msg),
						 "BPF program is too large. Processed %d insn (from the stats log; level-1 retry skipped)",
						 a.processed);
					sb_printf(&b, ",\"processed\":%d", a.processed);
				}
				sb_kv_str(&b, "reason", at_limit ? limit_msg : n ? reason_line(lines, n) : "");
				sb_kv_lines(&b, "log_tail", lines, n);
				/* libbpf's own words (externs, relocations, BTF) */
				char *lb = have_r && r.libbpf ? r.libbpf : a.libbpf;
				const char *ll[12];
				int nl = lb ? split_lines(lb, ll, 12, true) : 0;
				sb_kv_lines(&b, "libbpf", ll, nl);
			}
			emit(&b);
			free_attempt(&a);
			if (have_r)
				free_attempt(&r);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* probe: run-time features                                           */
/* ------------------------------------------------------------------ */

#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define MOV64_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

static int load_raw(enum bpf_prog_type type, int expected_attach, int ret, char *log, size_t logsz)
{
	struct bpf_insn insns[] = {MOV64_IMM(0, ret), EXIT()};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = expected_attach, .log_buf = log,
		    .log_size = logsz, .log_level = log ? 1 : 0);
	int fd = bpf_prog_load(type, "kmprobe", "GPL", insns, 2, &o);
	return fd < 0 ? -errno : fd;
}

static void probe_result(const char *name, bool ok, int err, const char *detail)
{
	struct sb b = {0};
	sb_kv_str(&b, "kind", "probe");
	sb_kv_str(&b, "probe", name);
	sb_printf(&b, ",\"ok\":%s,\"errno\":%d", ok ? "true" : "false", err < 0 ? -err : err);
	sb_kv_str(&b, "detail", detail);
	emit(&b);
}

static int sys_link_create(int prog_fd, int ifindex, int attach_type)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.link_create.prog_fd = prog_fd;
	attr.link_create.target_ifindex = ifindex;
	attr.link_create.attach_type = attach_type;
	int fd = syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	return fd < 0 ? -errno : fd;
}

/* Largest packet BPF_PROG_TEST_RUN accepts for a tc program (the skb is one
 * page minus headroom and skb_shared_info): bounds what the differential
 * cases can feed the parser. */
static void probe_test_run_max(void)
{
	char detail[160];
	int fd = load_raw(BPF_PROG_TYPE_SCHED_CLS, 0, 0, NULL, 0);
	if (fd < 0) {
		probe_result("test_run_sched_cls_max_bytes", false, fd, "load failed");
		return;
	}
	static unsigned char pkt[65536];
	pkt[12] = 0x08;
	pkt[14] = 0x45;
	unsigned lo = 64, hi = 65535; /* lo works (checked), find the largest that works */
	LIBBPF_OPTS(bpf_test_run_opts, t0, .data_in = pkt, .data_size_in = lo, .repeat = 1);
	if (bpf_prog_test_run_opts(fd, &t0)) {
		probe_result("test_run_sched_cls_max_bytes", false, -errno, "even 64 bytes fail");
		close(fd);
		return;
	}
	while (lo < hi) {
		unsigned mid = lo + (hi - lo + 1) / 2;
		LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = mid, .repeat = 1);
		if (bpf_prog_test_run_opts(fd, &t))
			hi = mid - 1;
		else
			lo = mid;
	}
	snprintf(detail, sizeof(detail), "%u", lo);
	probe_result("test_run_sched_cls_max_bytes", true, 0, detail);
	close(fd);
}

static void probe_test_run(const char *name, enum bpf_prog_type type, int attach, size_t size)
{
	char detail[160];
	int fd = load_raw(type, attach, 1, NULL, 0);
	if (fd < 0) {
		snprintf(detail, sizeof(detail), "load: %s", strerror(-fd));
		probe_result(name, false, fd, detail);
		return;
	}
	unsigned char *pkt = calloc(1, size);
	/* Ethernet + IPv4 header enough for the skb path */
	pkt[12] = 0x08;
	pkt[14] = 0x45;
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = size, .repeat = 1);
	int err = bpf_prog_test_run_opts(fd, &t);
	if (err)
		err = -errno;
	snprintf(detail, sizeof(detail), "%zu-byte packet: %s, retval %u", size,
		 err == -524 ? "ENOTSUPP (524): no test_run for this type" : err ? strerror(-err) : "ran", t.retval);
	probe_result(name, !err, err, detail);
	free(pkt);
	close(fd);
}

/* Legacy tc: clsact qdisc + cls_bpf filter on lo (in our own netns). */
static void probe_tc_legacy(int ifindex)
{
	char detail[200];
	int fd = load_raw(BPF_PROG_TYPE_SCHED_CLS, 0, 0 /* TC_ACT_OK */, NULL, 0);
	if (fd < 0) {
		probe_result("tc_legacy_clsact", false, fd, "load failed");
		return;
	}
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	int err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		snprintf(detail, sizeof(detail), "clsact qdisc: %s", strerror(-err));
		probe_result("tc_legacy_clsact", false, err, detail);
		close(fd);
		return;
	}
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = fd, .handle = 1, .priority = 1);
	err = bpf_tc_attach(&hook, &opts);
	snprintf(detail, sizeof(detail), "cls_bpf filter: %s", err ? strerror(-err) : "attached");
	probe_result("tc_legacy_clsact", !err, err, detail);
	hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
	bpf_tc_hook_destroy(&hook);
	close(fd);
}

static void probe_tcx(int ifindex)
{
	char detail[200];
	int fd = load_raw(BPF_PROG_TYPE_SCHED_CLS, KM_BPF_TCX_INGRESS, -1 /* TCX_NEXT */, NULL, 0);
	if (fd < 0) {
		snprintf(detail, sizeof(detail), "load with expected_attach_type BPF_TCX_INGRESS: %s", strerror(-fd));
		probe_result("tcx_link", false, fd, detail);
		return;
	}
	int l = sys_link_create(fd, ifindex, KM_BPF_TCX_INGRESS);
	snprintf(detail, sizeof(detail), "BPF_LINK_CREATE BPF_TCX_INGRESS on lo: %s", l < 0 ? strerror(-l) : "ok");
	probe_result("tcx_link", l >= 0, l < 0 ? l : 0, detail);
	if (l >= 0)
		close(l);
	close(fd);
}

/* The probes KernelFeatures (BPFMapBindings, Swift) runs, through the same libbpf calls and
 * the same BTF lookup (Sources/CLibbpf/shim.h, included as is): the matrix shows what the
 * Swift API reports on each kernel next to what the run-time probes find. */
static void probe_swift_features(void)
{
	int r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_loop, NULL);
	probe_result("features_bpf_loop", r == 1, r < 0 ? r : 0, "libbpf_probe_bpf_helper(SCHED_CLS, bpf_loop)");
	r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL);
	probe_result("features_ring_buffer", r == 1, r < 0 ? r : 0, "libbpf_probe_bpf_map_type(RINGBUF)");
	r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_SOCK_OPS, BPF_FUNC_get_current_cgroup_id, NULL);
	probe_result("features_cgroup_id_in_sock_ops", r == 1, r < 0 ? r : 0,
		     "libbpf_probe_bpf_helper(SOCK_OPS, get_current_cgroup_id)");
	r = clibbpf_vmlinux_enum_has("bpf_attach_type", "BPF_TCX_INGRESS");
	probe_result("features_tcx", r == 1, r < 0 ? r : 0,
		     r < 0 ? "no kernel BTF" : "BPF_TCX_INGRESS in the kernel BTF's enum bpf_attach_type");
}

/* Verdict-only sockmap on an established TCP connection over lo: attach an
 * SK_PASS stream verdict program without a stream parser, add the receiving
 * socket, and check a message still arrives intact. */
static void probe_sockmap_verdict_only(void)
{
	char detail[240] = "";
	int err = 0, map = -1, prog = -1, ls = -1, cs = -1, as = -1;
	bool attached = false;
	map = bpf_map_create(BPF_MAP_TYPE_SOCKMAP, "kmsockmap", 4, 4, 2, NULL);
	if (map < 0) {
		err = -errno;
		snprintf(detail, sizeof(detail), "sockmap create: %s", strerror(errno));
		goto out;
	}
	prog = load_raw(BPF_PROG_TYPE_SK_SKB, BPF_SK_SKB_STREAM_VERDICT, 1 /* SK_PASS */, NULL, 0);
	if (prog < 0) {
		err = prog;
		snprintf(detail, sizeof(detail), "sk_skb load: %s", strerror(-err));
		goto out;
	}
	if (bpf_prog_attach(prog, map, BPF_SK_SKB_STREAM_VERDICT, 0)) {
		err = -errno;
		snprintf(detail, sizeof(detail), "attach stream_verdict: %s", strerror(errno));
		goto out;
	}
	attached = true;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || bind(ls, (void *)&sa, sizeof(sa)) || listen(ls, 1) || getsockname(ls, (void *)&sa, &sl)) {
		err = -errno;
		snprintf(detail, sizeof(detail), "tcp listen on lo: %s", strerror(errno));
		goto out;
	}
	cs = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(cs, (void *)&sa, sizeof(sa)) || (as = accept(ls, NULL, NULL)) < 0) {
		err = -errno;
		snprintf(detail, sizeof(detail), "tcp connect: %s", strerror(errno));
		goto out;
	}
	int k = 0;
	if (bpf_map_update_elem(map, &k, &as, BPF_ANY)) {
		err = -errno;
		snprintf(detail, sizeof(detail), "sockmap update (verdict without parser): %s", strerror(errno));
		goto out;
	}
	const char msg[] = "kmatrix-sockmap";
	char got[64] = {0};
	struct timeval tv = {.tv_sec = 2};
	setsockopt(as, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(cs, msg, sizeof(msg), 0) != (ssize_t)sizeof(msg)) {
		err = -errno;
		snprintf(detail, sizeof(detail), "send: %s", strerror(errno));
		goto out;
	}
	ssize_t n = recv(as, got, sizeof(got), MSG_WAITALL);
	if (n != (ssize_t)sizeof(msg) && n > 0) {
		/* MSG_WAITALL with a bigger buffer returns what arrived before the timeout */
	}
	if (n < 0) {
		err = -errno;
		snprintf(detail, sizeof(detail), "recv through verdict program: %s", strerror(errno));
	} else if (n < (ssize_t)sizeof(msg) || memcmp(got, msg, sizeof(msg))) {
		err = -EIO;
		snprintf(detail, sizeof(detail), "recv through verdict program: %zd bytes, content %s", n,
			 memcmp(got, msg, n < (ssize_t)sizeof(msg) ? (size_t)(n > 0 ? n : 0) : sizeof(msg)) ? "differs" : "short");
	} else {
		snprintf(detail, sizeof(detail), "stream_verdict without stream_parser: message delivered intact");
	}
out:
	probe_result("sockmap_verdict_only", err == 0, err, detail);
	if (attached)
		bpf_prog_detach2(prog, map, BPF_SK_SKB_STREAM_VERDICT);
	if (as >= 0)
		close(as);
	if (cs >= 0)
		close(cs);
	if (ls >= 0)
		close(ls);
	if (prog >= 0)
		close(prog);
	if (map >= 0)
		close(map);
}

static int cmd_probe(void)
{
	/* Private network namespace: nothing is attached to the host's devices. */
	if (unshare(CLONE_NEWNET)) {
		probe_result("netns", false, -errno, "unshare(CLONE_NEWNET) failed: probes skipped");
		return 0;
	}
	/* bring lo up (needed by the TCP probe) */
	{
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		struct ifreq ifr = {0};
		strcpy(ifr.ifr_name, "lo");
		if (s >= 0 && !ioctl(s, SIOCGIFFLAGS, &ifr)) {
			ifr.ifr_flags |= IFF_UP;
			ioctl(s, SIOCSIFFLAGS, &ifr);
		}
		if (s >= 0)
			close(s);
	}
	int lo = if_nametoindex("lo");
	probe_tcx(lo);
	probe_tc_legacy(lo);
	probe_test_run("test_run_sched_cls", BPF_PROG_TYPE_SCHED_CLS, 0, 128);
	probe_test_run_max();
	probe_test_run("test_run_cgroup_skb", BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS, 128);
	probe_test_run("test_run_sk_skb", BPF_PROG_TYPE_SK_SKB, BPF_SK_SKB_STREAM_VERDICT, 128);
	probe_sockmap_verdict_only();
	probe_swift_features();
	return 0;
}

/* ------------------------------------------------------------------ */
/* run: differential cases                                            */
/* ------------------------------------------------------------------ */


static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 20, n = 0;
	unsigned char *buf = malloc(cap);
	size_t r;
	while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	*len = n;
	return buf;
}

struct expect {
	int err;
	unsigned retval, written;
	unsigned long long hash;
};

static int cmd_run(int argc, char **argv)
{
	const char *obj_path = NULL, *cases_path = NULL, *prog_name = NULL, *map_name = NULL;
	const char *expect_path = NULL, *dump_path = NULL, *variant = "", *msg_map_name = NULL;
	unsigned key = 0;
	int max_dumps = 20, repeat = 1;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--prog") && i + 1 < argc)
			prog_name = argv[++i];
		else if (!strcmp(argv[i], "--map") && i + 1 < argc)
			map_name = argv[++i];
		else if (!strcmp(argv[i], "--key") && i + 1 < argc)
			key = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--expect") && i + 1 < argc)
			expect_path = argv[++i];
		else if (!strcmp(argv[i], "--dump") && i + 1 < argc)
			dump_path = argv[++i];
		else if (!strcmp(argv[i], "--max-dumps") && i + 1 < argc)
			max_dumps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--variant") && i + 1 < argc)
			variant = argv[++i];
		else if (!strcmp(argv[i], "--msg-map") && i + 1 < argc)
			msg_map_name = argv[++i];
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!obj_path)
			obj_path = argv[i];
		else
			cases_path = argv[i];
	}
	struct sb b = {0};
	sb_kv_str(&b, "kind", "run");
	sb_kv_str(&b, "object", obj_path ? (strrchr(obj_path, '/') ? strrchr(obj_path, '/') + 1 : obj_path) : "");
	sb_kv_str(&b, "variant", variant);
	if (!obj_path || !cases_path) {
		sb_kv_str(&b, "error", "usage: run OBJ CASES [...]");
		emit(&b);
		return 2;
	}
	size_t clen;
	unsigned char *cases = read_file(cases_path, &clen);
	if (!cases || clen < 8 || memcmp(cases, "KMC1", 4)) {
		sb_kv_str(&b, "error", "cannot read cases file");
		emit(&b);
		return 1;
	}
	uint32_t ncases;
	memcpy(&ncases, cases + 4, 4);

	libbpf_msgs_reset();
	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	if (!obj) {
		sb_kv_str(&b, "error", "open failed");
		sb_kv_str(&b, "libbpf", libbpf_msgs.p);
		emit(&b);
		return 1;
	}
	struct bpf_program *p, *target = NULL;
	bpf_object__for_each_program(p, obj) {
		bool me;
		if (prog_name)
			me = !strcmp(bpf_program__name(p), prog_name);
		else
			me = !target && (bpf_program__type(p) == BPF_PROG_TYPE_SCHED_CLS ||
					 bpf_program__type(p) == BPF_PROG_TYPE_SCHED_ACT);
		bpf_program__set_autoload(p, me);
		if (me)
			target = p;
	}
	if (!target) {
		sb_kv_str(&b, "error", "no tc program in object (or --prog not found)");
		emit(&b);
		return 1;
	}
	sb_kv_str(&b, "program", bpf_program__name(target));
	/* stats-only log: one attempt (libbpf retries a log-less failed load
	 * with a full log, which costs minutes under TCG); verify has the reason */
	static char statlog[1 << 16];
	bpf_program__set_log_buf(target, statlog, sizeof(statlog));
	bpf_program__set_log_level(target, 4);
	int err = bpf_object__load(obj);
	if (err) {
		sb_printf(&b, ",\"errno\":%d", -err);
		sb_kv_str(&b, "error", "load failed");
		const char *ll[12];
		int nl = libbpf_msgs.p ? split_lines(libbpf_msgs.p, ll, 12, true) : 0;
		sb_kv_lines(&b, "libbpf", ll, nl);
		emit(&b);
		return 1;
	}
	/* The facts map: --map NAME, else the map whose value has the size of
	 * struct fqdn_facts (preferring a name with "fact" in it). */
	struct bpf_map *m, *fm = NULL;
	size_t want = sizeof(struct fqdn_facts);
	bpf_object__for_each_map(m, obj) {
		if (map_name) {
			if (!strcmp(bpf_map__name(m), map_name))
				fm = m;
			continue;
		}
		if (bpf_map__type(m) != BPF_MAP_TYPE_ARRAY && bpf_map__type(m) != BPF_MAP_TYPE_PERCPU_ARRAY)
			continue;
		if (want && bpf_map__value_size(m) != want)
			continue;
		if (!fm || (strstr(bpf_map__name(m), "fact") && !strstr(bpf_map__name(fm), "fact")))
			fm = m;
	}
	if (!fm) {
		sb_kv_str(&b, "error", "no facts map (array map with sizeof(struct fqdn_facts) values)");
		emit(&b);
		return 1;
	}
	sb_kv_str(&b, "map", bpf_map__name(fm));
	/* --msg-map: the cases are bare DNS messages written into that map's
	 * value (u32 length, then the bytes) and the packet is a dummy. */
	int msgfd = -1;
	size_t msgsz = 0;
	unsigned char *msgval = NULL;
	if (msg_map_name) {
		struct bpf_map *mm = bpf_object__find_map_by_name(obj, msg_map_name);
		if (!mm) {
			sb_kv_str(&b, "error", "--msg-map not found");
			emit(&b);
			return 1;
		}
		msgfd = bpf_map__fd(mm);
		msgsz = bpf_map__value_size(mm);
		msgval = malloc(msgsz);
		sb_kv_str(&b, "msg_map", msg_map_name);
	}
	static unsigned char dummy[64] = {[12] = 0x08, [14] = 0x45};
	bool percpu = bpf_map__type(fm) == BPF_MAP_TYPE_PERCPU_ARRAY;
	size_t vsz = bpf_map__value_size(fm);
	int ncpu = percpu ? libbpf_num_possible_cpus() : 1;
	size_t stride = percpu ? (vsz + 7) / 8 * 8 : vsz;
	unsigned char *val = malloc(stride * ncpu), *sent = malloc(stride * ncpu);
	memset(sent, 0xA5, stride * ncpu);
	int mfd = bpf_map__fd(fm), pfd = bpf_program__fd(target);
	sb_printf(&b, ",\"value_size\":%zu,\"percpu\":%s,\"cases\":%u", vsz, percpu ? "true" : "false", ncases);

	struct expect *exp = NULL;
	if (expect_path) {
		FILE *f = fopen(expect_path, "r");
		if (f) {
			exp = calloc(ncases, sizeof(*exp));
			unsigned idx;
			struct expect e;
			while (fscanf(f, "%u %d %u %u %llx", &idx, &e.err, &e.retval, &e.written, &e.hash) == 5)
				if (idx < ncases)
					exp[idx] = e;
			fclose(f);
		}
	}
	FILE *dump = dump_path ? fopen(dump_path, "wb") : NULL;
	unsigned char *out = malloc(70000);
	size_t off = 8;
	int dumps = 0, mismatches = 0, errors = 0, nowrite = 0;
	double ns_sum = 0; /* test_run's mean ns per run, summed over the cases */
	double t0 = km_now_ms();
	for (uint32_t i = 0; i < ncases && off + 4 <= clen; i++) {
		uint32_t len;
		memcpy(&len, cases + off, 4);
		off += 4;
		const unsigned char *pkt = cases + off;
		off += len;
		if (msgfd >= 0) {
			memset(msgval, 0, msgsz);
			memcpy(msgval, &len, 4);
			memcpy(msgval + 4, pkt, len < msgsz - 4 ? len : msgsz - 4);
			if (bpf_map_update_elem(msgfd, &key, msgval, BPF_ANY)) {
				printf("KMR %u %d 0 0 0\n", i, errno);
				errors++;
				continue;
			}
			pkt = dummy;
			len = sizeof(dummy);
		}
		if (bpf_map_update_elem(mfd, &key, sent, BPF_ANY)) {
			printf("KMR %u %d 0 0 0\n", i, errno);
			errors++;
			continue;
		}
		LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = len, .data_out = out,
			    .data_size_out = 70000, .repeat = repeat);
		int e = bpf_prog_test_run_opts(pfd, &t) ? errno : 0;
		if (!e)
			ns_sum += t.duration;
		memset(val, 0, stride * ncpu);
		bpf_map_lookup_elem(mfd, &key, val);
		const unsigned char *v = val;
		bool written = false;
		for (int c = 0; c < ncpu; c++)
			if (memcmp(val + c * stride, sent, vsz)) {
				v = val + c * stride;
				written = true;
				break;
			}
		if (!written) {
			nowrite++;
		}
		uint64_t h = written ? fnv64(v, vsz) : 0;
		if (e)
			errors++;
		printf("KMR %u %d %u %d %016llx\n", i, e, e ? 0 : t.retval, written, (unsigned long long)h);
		if (dump) {
			if (written)
				fwrite(v, 1, vsz, dump);
			else {
				static unsigned char zeros[1 << 16];
				fwrite(zeros, 1, vsz, dump);
			}
		}
		if (exp) {
			struct expect *x = &exp[i];
			bool same = x->err == e && x->retval == (e ? 0 : t.retval) && x->written == (unsigned)written &&
				    x->hash == h;
			if (!same) {
				mismatches++;
				if (dumps < max_dumps && written) {
					/* hex of the value, trailing zero bytes trimmed */
					size_t n = vsz;
					while (n && !v[n - 1])
						n--;
					printf("KMD %u ", i);
					for (size_t j = 0; j < n; j++)
						printf("%02x", v[j]);
					printf("\n");
					dumps++;
				}
			}
		}
	}
	fflush(stdout);
	if (dump)
		fclose(dump);
	sb_printf(&b, ",\"run_ms\":%.1f,\"test_run_errors\":%d,\"not_written\":%d,\"repeat\":%d,\"mean_ns\":%.0f",
		  km_now_ms() - t0, errors, nowrite, repeat, ncases ? ns_sum / ncases : 0.0);
	if (exp)
		sb_printf(&b, ",\"mismatches\":%d", mismatches);
	emit(&b);
	bpf_object__close(obj);
	return 0;
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	if (getenv("KMLOADER_VERBOSE"))
		libbpf_verbose = true;
	libbpf_set_print(print_fn);
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	if (argc < 2) {
		fprintf(stderr, "usage: kmloader verify|probe|run|uname ...\n");
		return 2;
	}
	if (!strcmp(argv[1], "verify"))
		return cmd_verify(argc - 2, argv + 2);
	if (!strcmp(argv[1], "probe"))
		return cmd_probe();
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (!strcmp(argv[1], "uname")) {
		struct utsname u;
		uname(&u);
		struct sb b = {0};
		sb_kv_str(&b, "kind", "kernel");
		sb_kv_str(&b, "release", u.release);
		sb_kv_str(&b, "version", u.version);
		emit(&b);
		return 0;
	}
	fprintf(stderr, "unknown command %s\n", argv[1]);
	return 2;
}
