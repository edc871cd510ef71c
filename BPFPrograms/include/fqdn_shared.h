/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * fqdn_shared.h: the ONE definition of every limit, reason code and map
 * key/value layout shared by the BPF C programs and the Swift code.
 *
 * Swift imports this header through the CFQDNShared target; BPF C includes it
 * directly. Change a number here and both parsers change with it, so they
 * cannot drift. Every struct has explicit padding fields (hash map keys
 * compare padding bytes) and a _Static_assert on its size; Swift checks
 * MemoryLayout against the kernel's map key/value sizes at open time.
 *
 * Sections are owned by layers; edit only the section you work on:
 *   1. parser limits and reason codes (DNSWire + BPF parser)
 *   2. parser facts (test harness output of the BPF parser)
 *   3. domain trie (DomainTrie + BPF trie walk)
 *   4. datapath maps (PolicyEngine + BPF programs)
 */
#ifndef FQDN_SHARED_H
#define FQDN_SHARED_H

#include <linux/types.h>

#ifndef __cplusplus
#define FQDN_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#else
#define FQDN_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#endif

/* Bump when any layout below changes: pinned state carries this number so a
 * restarted agent knows whether it can adopt the maps as they are, or which
 * migration (Sources/PolicyEngine/Migration.swift) carries them over.
 * Overridable (-DFQDN_LAYOUT_VERSION=1) only so the upgrade tests can build
 * the previous layout's objects from these sources; never set it otherwise.
 *   1: fq_counters with 26 counters.
 *   2: + FQDN_CTR_ADDRS_REMOVED (27 counters); fqdn_meta.build_id.
 *   3: + 3 counters (unclassified egress, rejected queries, replies on
 *      inbound connections: 30); + fq_inbound.
 *   4: + 2 counters (spoofed sources, answers that did not match their
 *      randomised query: 32); + fq_ep_addr; fqdn_inflight 24 -> 32 bytes
 *      (what a randomised query carried before the kernel rewrote it).
 *   5: + fq_tcp_tx (the bytes each DNS-over-TCP client socket wrote: only
 *      those may leave toward the server); + fq_secret (the key of the TCP
 *      sequence number shift).
 *   6: one prefix for every map: the trie maps fqdn_trie_{nodes,globs,sets}
 *      are pinned as fq_trie_{nodes,globs,sets} (same shapes; the upgrade
 *      renames their pins). */
#ifndef FQDN_LAYOUT_VERSION
#define FQDN_LAYOUT_VERSION 6
#endif
/* Queries of veth endpoints get a kernel-chosen source port and id (layout 4;
 * the older layouts' builds, made only for the upgrade tests, have no room
 * in fqdn_inflight for what they replace). */
#define FQDN_QUERY_RANDOMISATION (FQDN_LAYOUT_VERSION >= 4)
/* TCP payload toward a trusted server must be bytes the client socket wrote
 * (fq_tcp_tx; layout 5). */
#define FQDN_TCP_TX_CHECK (FQDN_LAYOUT_VERSION >= 5)
/* The budget of verified instructions per program (the verifier's own limit
 * is 1,000,000): every program of the project stays under it on every kernel
 * of the matrix and on the host (Scripts/kmatrix/report.py and
 * VerifierBudgetTests fail naming the program), so that one more feature
 * cannot tip a program over on some kernel (Verifier.md). */
#define FQDN_VERIFIER_BUDGET 250000

/* ===================================================================== */
/* 1. Parser limits and reason codes                                      */
/* ===================================================================== */
/*
 * The contract both parsers meet is written out in
 * Documentation/ParserContract.md. The numbers:
 */
#define FQDN_DNS_HEADER_LEN 12
/* Longest name in wire form, including the root label's zero byte (RFC 1035). */
#define FQDN_MAX_NAME_LEN 255
/* Most labels in one name, root excluded: 127 one-byte labels fill 255 bytes. */
#define FQDN_MAX_LABELS 127
#define FQDN_MAX_LABEL_LEN 63
/* Compression pointers followed while reading ONE name. */
#define FQDN_MAX_PTR_HOPS 16
/* Longest message parsed. UDP payloads and TCP messages beyond this are
 * rejected with FQDN_ERR_LIMIT_MESSAGE_LENGTH (bytes still pass untouched). */
#define FQDN_MAX_MSG_LEN 16384
/* Most records in one section (qd, an, ns or ar count). */
#define FQDN_MAX_RECORDS_PER_SECTION 64
/* Most CNAME targets followed from the qname; the chain stops there. */
#define FQDN_MAX_CNAME_CHAIN 8
/* Most credited A/AAAA addresses reported for one response. */
#define FQDN_MAX_CREDITED FQDN_MAX_RECORDS_PER_SECTION

/* Verdicts. */
#define FQDN_VERDICT_OK 0
#define FQDN_VERDICT_ERROR 1

/* Reason codes: stable numbers, part of the CLI's JSON and of events. */
enum fqdn_reason {
	FQDN_OK = 0,
	/* The message ends inside the header, a name, fixed fields or rdata. */
	FQDN_ERR_TRUNCATED = 1,
	/* Label type 0x40 or 0x80 (extended/reserved); also "label > 63". */
	FQDN_ERR_RESERVED_LABEL = 2,
	/* A name longer than 255 bytes in wire form. */
	FQDN_ERR_NAME_TOO_LONG = 3,
	/* A compression pointer that does not point strictly before the start
	 * of the label run that led to it (this is what makes loops impossible). */
	FQDN_ERR_POINTER_FORWARD = 4,
	/* A compression pointer into the 12-byte header. */
	FQDN_ERR_POINTER_INTO_HEADER = 5,
	/* rdlength reaches past the end of the message. */
	FQDN_ERR_RDATA_OVERFLOW = 6,
	/* Typed rdata of the wrong size: A != 4, AAAA != 16, or the fields of
	 * NS/CNAME/PTR/MX/SRV/SOA/TXT/OPT rdata do not exactly fill rdlength. */
	FQDN_ERR_RDATA_LENGTH = 7,
	/* A section count larger than the records present: the message ends
	 * exactly where another record should start. */
	FQDN_ERR_COUNT_MISMATCH = 8,
	/* Bytes after the last record the counts announce. */
	FQDN_ERR_TRAILING_BYTES = 9,
	/* OPT outside the additional section, OPT owner not root, or two OPTs. */
	FQDN_ERR_BAD_OPT = 10,
	/* Limits (their own codes: the input may be valid DNS). */
	FQDN_ERR_LIMIT_POINTER_HOPS = 16,
	FQDN_ERR_LIMIT_LABELS = 17,
	FQDN_ERR_LIMIT_RECORDS = 18,
	FQDN_ERR_LIMIT_MESSAGE_LENGTH = 19,
};

/* DNS constants both sides use. */
#define FQDN_TYPE_A 1
#define FQDN_TYPE_NS 2
#define FQDN_TYPE_CNAME 5
#define FQDN_TYPE_SOA 6
#define FQDN_TYPE_PTR 12
#define FQDN_TYPE_MX 15
#define FQDN_TYPE_TXT 16
#define FQDN_TYPE_AAAA 28
#define FQDN_TYPE_SRV 33
#define FQDN_TYPE_OPT 41
#define FQDN_CLASS_IN 1

/* ===================================================================== */
/* 2. Parser facts                                                        */
/* ===================================================================== */

/* A name in lowercase wire form: length-prefixed labels ending with the
 * zero root byte. len counts every byte including the root (1 for "."). */
struct fqdn_wire_name {
	__u8 wire[256];
	__u16 len;
	__u16 labels;
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_wire_name) == 260, "fqdn_wire_name layout");

#define FQDN_AF_INET 4
#define FQDN_AF_INET6 6

/* One credited address. For IPv4 the first 4 bytes of addr are used. */
struct fqdn_credited_addr {
	__u8 family; /* FQDN_AF_INET or FQDN_AF_INET6 */
	__u8 pad[3];
	__u32 ttl; /* already 0 when the wire TTL had its top bit set */
	__u8 addr[16];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_credited_addr) == 24, "fqdn_credited_addr layout");

/* Header flag bits as they appear in the 16-bit flags word. */
#define FQDN_FLAG_QR 0x8000
#define FQDN_FLAG_AA 0x0400
#define FQDN_FLAG_TC 0x0200
#define FQDN_FLAG_RD 0x0100
#define FQDN_FLAG_RA 0x0080
#define FQDN_FLAG_AD 0x0020
#define FQDN_FLAG_CD 0x0010
#define FQDN_OPCODE_MASK 0x7800

/* Everything the parser extracts from one message: the "response facts"
 * contract (Documentation/ParserContract.md). The BPF test program writes
 * one of these into an array map; Swift reads it back and compares it with
 * what DNSWire computed. */
struct fqdn_facts {
	__u32 verdict; /* FQDN_VERDICT_OK / FQDN_VERDICT_ERROR */
	__u32 reason;  /* enum fqdn_reason */
	__u32 offset;  /* byte offset of the error in the DNS message */
	__u16 id;
	__u16 flags;   /* raw header flags word */
	__u16 rcode;   /* extended rcode: OPT ttl[31:24] << 4 | header rcode */
	__u16 qtype;   /* of the first question; 0 when qdcount == 0 */
	__u16 qclass;
	__u16 qdcount;
	__u16 ancount;
	__u16 nscount;
	__u16 arcount;
	__u8 credits;     /* 1 when QR=1, qdcount=1, rcode=0, TC=0 */
	__u8 chain_len;   /* CNAME targets in chain[] */
	__u16 addr_count; /* entries in addrs[] */
	__u8 pad[2];
	struct fqdn_wire_name qname;
	struct fqdn_wire_name chain[FQDN_MAX_CNAME_CHAIN];
	struct fqdn_credited_addr addrs[FQDN_MAX_CREDITED];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_facts) == 36 + 260 * (1 + FQDN_MAX_CNAME_CHAIN) + 24 * FQDN_MAX_CREDITED,
		   "fqdn_facts layout");

/* ===================================================================== */
/* 3. Domain trie (owned by DomainTrie + BPFPrograms/include/trie.h)      */
/* ===================================================================== */
/*
 * A policy version's patterns compile to a trie over labels from the TLD
 * inward, stored in three hash maps. Every entry carries the id of the
 * policy version it belongs to ("policy"), so a new version is written next
 * to the old one and an endpoint moves to it with one map update.
 *
 *  nodes: (policy, parent node id, label) -> node. Labels are the exact
 *         lowercase bytes, zero-padded (no hashes, no collisions). The root
 *         is (policy, parent 0, len 0) and has id 0. A child keyed by the
 *         label "*" is the single-label wildcard; a child keyed by a label
 *         with '*' inside ("api-*") is an in-label glob, listed in globs.
 *  globs: (policy, parent node id, slot) -> glob label text. The walk tries
 *         slots [0, node.glob_slots) (holes allowed) and, when the label
 *         matches, looks the glob child up in nodes by its text.
 *  sets:  (policy, set id) -> the tags (rule ids) of the patterns ending at
 *         a terminal. Terminals sharing the same tags share one set.
 *
 * The walk of one name returns the distinct set ids it hits (several
 * patterns can match one name: "api.example.com", "*.example.com",
 * "**.example.com"); the compiler refuses policies whose worst case exceeds
 * the bounds below, so the bounded walk never truncates a compiled trie.
 */
/* Glob children (labels with '*' inside other than a lone '*') per node. */
#define FQDN_TRIE_MAX_GLOBS 16
/* Nodes active at one depth of the walk. */
#define FQDN_TRIE_MAX_ACTIVE 16
/* Distinct sets one name can hit. */
#define FQDN_TRIE_MAX_HITS 16
/* Tags in one set. */
#define FQDN_TRIE_MAX_SET_TAGS 15
/* Steps of the in-label glob matcher: enough for any 63-byte label against
 * any 63-byte glob (backtracking to the last '*': at most (n + 1) * (m + 1)
 * steps plus m + 1 for trailing stars). */
#define FQDN_TRIE_GLOB_MAX_STEPS ((FQDN_MAX_LABEL_LEN + 2) * (FQDN_MAX_LABEL_LEN + 2))
/* Label bytes in keys: FQDN_MAX_LABEL_LEN rounded up to whole 8-byte words. */
#define FQDN_TRIE_LABEL_BYTES 64
/* Capacities of the trie maps (BPF_F_NO_PREALLOC: memory follows use). */
#define FQDN_TRIE_MAX_NODES (1 << 20)
#define FQDN_TRIE_MAX_GLOB_ENTRIES (1 << 16)
#define FQDN_TRIE_MAX_SETS (1 << 18)
/* The root's id, and "no set". */
#define FQDN_TRIE_ROOT_ID 0
#define FQDN_TRIE_NO_SET 0

/* Node flags. EXACT and MULTI mirror exact_set / multi_set != 0. */
#define FQDN_TRIE_F_EXACT 0x1 /* a pattern ends here: names ending here match */
#define FQDN_TRIE_F_STAR 0x2  /* child keyed "*": any one label */
#define FQDN_TRIE_F_MULTI 0x4 /* "**." ends here: names with >= 1 more label */
#define FQDN_TRIE_F_GLOBS 0x8 /* glob children in slots [0, glob_slots) */

struct fqdn_trie_key {
	__u32 policy; /* policy version id */
	__u32 parent; /* parent node id (FQDN_TRIE_ROOT_ID for the root itself) */
	__u8 len;     /* label length; 0 only for the root */
	__u8 pad[7];
	__u8 label[FQDN_TRIE_LABEL_BYTES]; /* lowercase, zero-padded */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_trie_key) == 80, "fqdn_trie_key layout");

struct fqdn_trie_node {
	__u32 id;        /* parent id of this node's children; unique in the policy */
	__u32 exact_set; /* names ending here; FQDN_TRIE_NO_SET if none */
	__u32 multi_set; /* "**." here: names with one or more further labels */
	__u16 flags;     /* FQDN_TRIE_F_* */
	__u8 glob_slots; /* glob slots in use, <= FQDN_TRIE_MAX_GLOBS */
	__u8 depth;      /* labels from the root (root 0) */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_trie_node) == 16, "fqdn_trie_node layout");

struct fqdn_trie_glob_key {
	__u32 policy;
	__u32 parent;
	__u32 slot; /* < FQDN_TRIE_MAX_GLOBS */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_trie_glob_key) == 12, "fqdn_trie_glob_key layout");

struct fqdn_trie_glob {
	__u8 len; /* glob label length, '*' included */
	__u8 pad[7];
	__u8 label[FQDN_TRIE_LABEL_BYTES]; /* lowercase glob text, zero-padded */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_trie_glob) == 72, "fqdn_trie_glob layout");

struct fqdn_trie_set_key {
	__u32 policy;
	__u32 set; /* >= 1 */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_trie_set_key) == 8, "fqdn_trie_set_key layout");

struct fqdn_trie_set {
	__u32 count; /* tags in use */
	__u32 tags[FQDN_TRIE_MAX_SET_TAGS]; /* ascending */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_trie_set) == 64, "fqdn_trie_set layout");

/* Outcome of one walk. */
enum fqdn_trie_status {
	FQDN_TRIE_OK = 0,          /* walked; hit_count may be 0 */
	FQDN_TRIE_ERR_NAME = 1,    /* malformed wire-form name */
	FQDN_TRIE_ERR_ACTIVE = 2,  /* > FQDN_TRIE_MAX_ACTIVE nodes at one depth */
	FQDN_TRIE_ERR_HITS = 3,    /* > FQDN_TRIE_MAX_HITS distinct sets */
	FQDN_TRIE_ERR_GLOBS = 4,   /* a node with glob_slots > FQDN_TRIE_MAX_GLOBS */
};

/* Input of the trie test program (BPF_PROG_TEST_RUN data after a 14-byte
 * Ethernet header) and its output (array map, key 0). On an error
 * hit_count is 0. */
struct fqdn_trie_query {
	__u32 policy;
	__u32 pad;
	struct fqdn_wire_name name;
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_trie_query) == 268, "fqdn_trie_query layout");

struct fqdn_trie_result {
	__u32 status;    /* enum fqdn_trie_status */
	__u32 hit_count; /* distinct set ids in hits[], in walk order */
	__u32 hits[FQDN_TRIE_MAX_HITS];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_trie_result) == 72, "fqdn_trie_result layout");

/* ===================================================================== */
/* 4. Datapath maps (owned by PolicyEngine + the attach-point programs)   */
/* ===================================================================== */
/*
 * The maps the attach-point programs share (definitions: include/datapath_maps.h;
 * logic: include/datapath.h; design as built: Documentation/Datapath.md).
 *
 * Identities. An endpoint (a host-side veth or a cgroup v2 directory) has an
 * endpoint id (>= 1, chosen by the agent). A *policy version* is everything
 * compiled from the policies that select an endpoint, written under a fresh
 * policy id (>= 1): settings, per-rule ports, CIDR entries, trie entries
 * (section 3, "policy" = this id). An endpoint switches versions with ONE
 * update of its endpoint value (atomic); entries learned under the previous
 * version stay valid under that version (prev_policy_id) until the agent has
 * re-evaluated them, so no allowed connection is dropped by a policy update.
 *
 * Byte order: addresses are network-order byte arrays; ports, ids and every
 * other number are host order. Time is CLOCK_BOOTTIME in ns
 * (bpf_ktime_get_boot_ns; user space: clock_gettime(CLOCK_BOOTTIME)).
 *
 * Pinning: every map below is pinned as <pin dir>/maps/<map name> (default
 * pin dir FQDN_PIN_DIR_DEFAULT), links as <pin dir>/links/<...>; fq_meta
 * carries FQDN_LAYOUT_VERSION so a restarted or upgraded agent knows whether
 * it can adopt the pinned maps as they are.
 */
#define FQDN_PIN_DIR_DEFAULT "/sys/fs/bpf/fqdnpolicy"

/* Capacities (max_entries). LRU maps evict their least recently used entry
 * when full (counted as a loss only by what the agent sees missing). */
#define FQDN_MAX_ENDPOINTS 4096
#define FQDN_MAX_POLICY_VERSIONS 4096
#define FQDN_MAX_PORT_ENTRIES 32768 /* (policy version, rule) pairs */
#define FQDN_MAX_DNS_SERVERS 64
#define FQDN_MAX_INFLIGHT 16384
#define FQDN_MAX_ALLOWED 65536      /* per family, all endpoints (LRU) */
#define FQDN_MAX_NAMES 16384        /* (endpoint, name) pairs with learned addresses */
#define FQDN_MAX_NAME_SLOTS 65536
#define FQDN_MAX_CIDR_ENTRIES 16384 /* per family */
#define FQDN_MAX_FLOWS 32768
#define FQDN_MAX_INBOUND 32768 /* connections into endpoints (LRU) */
#define FQDN_EVENTS_RING_BYTES (1 << 20)
/* A connection into an endpoint stops letting its replies out after this
 * long without a packet in either direction (fq_inbound). */
#define FQDN_INBOUND_TCP_IDLE_SEC 7200
#define FQDN_INBOUND_UDP_IDLE_SEC 180

/* Egress rules per policy version: rule r is bit r of a rule mask. */
#define FQDN_MAX_RULES 32
/* Port ranges per rule (0 ranges = every port and protocol). */
#define FQDN_MAX_PORTS_PER_RULE 16
/* cgroup ancestors looked at to find a cgroup endpoint. */
#define FQDN_MAX_CGROUP_DEPTH 16
/* Upper bound of max_ips_per_name (the ring of one name), and the default
 * (a policy that does not say; also a version whose settings say 0). */
#define FQDN_MAX_IPS_PER_NAME_LIMIT 65536
#define FQDN_DEFAULT_MAX_IPS_PER_NAME 1000

/* Trie tags (section 3 "rule ids") as the datapath reads them: tag r <
 * FQDN_MAX_RULES is egress rule r (a toFQDNs selector of that rule matches
 * the name); FQDN_TAG_DNS_QUERY marks names the DNS rules let be queried. */
#define FQDN_TAG_DNS_QUERY 0x100

/* --- endpoints: fq_ep_ifindex (u32 ifindex) and fq_ep_cgroup (u64 cgroup
 * id) -> struct fqdn_endpoint; fq_ep_info (endpoint id) -> fqdn_endpoint_info
 * (user space only: names for status without an agent). */
#define FQDN_EP_KIND_VETH 1
#define FQDN_EP_KIND_CGROUP 2
/* Endpoint flags. */
#define FQDN_EP_F_ENFORCE 0x1 /* a policy selects it: default deny + DNS rules */
#define FQDN_EP_F_LEARN 0x2   /* learn from DNS answers (set with ENFORCE) */
/* DNS over TCP of this endpoint is checked (TCPDatapath enabled for it): only
 * then may TCP reach a trusted server's DNS port; else it is rejected. */
#define FQDN_EP_F_TCP_DNS 0x4
/* Source validation: every IP packet the endpoint sends must carry one of its
 * addresses in fq_ep_addr (Documentation/Security.md, class 4). */
#define FQDN_EP_F_SRC_CHECK 0x8

struct fqdn_endpoint {
	__u32 endpoint_id;
	__u32 policy_id;      /* current version; 0 = none (nothing enforced) */
	__u32 prev_policy_id; /* learned entries of this version stay valid under it; 0 = none */
	__u32 flags;          /* FQDN_EP_F_* */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_endpoint) == 16, "fqdn_endpoint layout");

#define FQDN_EP_NAME_LEN 64
struct fqdn_endpoint_info {
	char name[FQDN_EP_NAME_LEN]; /* NUL-terminated */
	__u64 cgroup_id;             /* cgroup endpoints */
	__u32 ifindex;               /* veth endpoints (in netns_cookie's namespace) */
	__u32 kind;                  /* FQDN_EP_KIND_* */
	__u64 netns_cookie;          /* of the interface's namespace; 0 unknown */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_endpoint_info) == 88, "fqdn_endpoint_info layout");

/* --- fq_ep_addr: (endpoint id, address) -> 0 (reserved). The addresses an
 * endpoint with FQDN_EP_F_SRC_CHECK may send from. IPv4 in addr[0..3], rest 0. */
#define FQDN_MAX_EP_ADDRS 16 /* per endpoint */
struct fqdn_ep_addr_key {
	__u32 endpoint_id;
	__u8 family; /* FQDN_AF_INET / FQDN_AF_INET6 */
	__u8 pad[3];
	__u8 addr[16];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_ep_addr_key) == 24, "fqdn_ep_addr_key layout");

/* --- policy versions: fq_policy (u32 policy id) -> settings. */
#define FQDN_POL_F_DNS_RULES 0x1 /* queries only for names tagged FQDN_TAG_DNS_QUERY */

/* What a refused query gets (values of RefusedQueryAction). */
#define FQDN_REFUSE_REFUSED 0
#define FQDN_REFUSE_NXDOMAIN 1
#define FQDN_REFUSE_DROP 2

struct fqdn_policy_settings {
	__u32 flags;            /* FQDN_POL_F_* */
	__u32 refused_action;   /* FQDN_REFUSE_* */
	__u32 min_ttl;          /* seconds: learned entries live >= this */
	__u32 max_ips_per_name; /* 1..FQDN_MAX_IPS_PER_NAME_LIMIT, oldest evicted */
	__u32 flow_grace;       /* seconds an established TCP flow outlives its address */
	__u32 rule_count;       /* rules in use, <= FQDN_MAX_RULES */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_policy_settings) == 24, "fqdn_policy_settings layout");

/* --- fq_ports: (policy id, rule) -> the rule's ports. */
struct fqdn_ports_key {
	__u32 policy_id;
	__u32 rule; /* < FQDN_MAX_RULES */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_ports_key) == 8, "fqdn_ports_key layout");

struct fqdn_port_range {
	__u16 first; /* inclusive */
	__u16 last;  /* inclusive */
	__u8 proto;  /* 0 = TCP and UDP, else IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad[3];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_port_range) == 8, "fqdn_port_range layout");

struct fqdn_rule_ports {
	__u32 count; /* ranges in use; 0 = every port and protocol (ICMP too) */
	__u32 pad;
	struct fqdn_port_range ranges[FQDN_MAX_PORTS_PER_RULE];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_rule_ports) == 8 + 8 * FQDN_MAX_PORTS_PER_RULE, "fqdn_rule_ports layout");

/* --- fq_dns_servers: trusted DNS servers (agent configuration, all endpoints)
 * -> u32 (0, reserved). DNS to them always passes; only their answers teach. */
struct fqdn_server_key {
	__u8 family; /* FQDN_AF_INET / FQDN_AF_INET6 */
	__u8 pad;
	__u16 port;
	__u8 addr[16]; /* IPv4: first 4 bytes, rest zero */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_server_key) == 20, "fqdn_server_key layout");

/* --- fq_inflight (LRU): one entry per allowed query on its way to a trusted
 * server; a response teaches only when it matches one (anti-spoofing), and
 * consumes it. A randomised query (UDP from a veth endpoint,
 * FQDN_QUERY_RANDOMISATION) is keyed by the client port the kernel chose and
 * txid 0: the first answer on that 5-tuple consumes it whatever its id, and
 * teaches only when its id is wire_txid. */
struct fqdn_inflight_key {
	__u32 endpoint_id;
	__u16 client_port;
	__u16 server_port;
	__u16 txid;
	__u8 family;
	__u8 pad;
	__u8 server[16];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_inflight_key) == 28, "fqdn_inflight_key layout");

struct fqdn_inflight {
	__u64 qname_hash; /* fqdn_name_hash of the lowercase wire qname */
	__u64 sent_ns;
	__u32 policy_id;
	__u16 qtype;
#if FQDN_QUERY_RANDOMISATION
	__u16 wire_txid; /* randomised: the id the server saw */
	__u16 orig_port; /* randomised: the endpoint's own port and id, restored */
	__u16 orig_txid; /* in the answer */
	__u32 flags;     /* FQDN_INF_F_* */
};
#define FQDN_INF_F_RANDOMISED 0x1
FQDN_STATIC_ASSERT(sizeof(struct fqdn_inflight) == 32, "fqdn_inflight layout");
#else
	__u16 pad;
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_inflight) == 24, "fqdn_inflight layout");
#endif
/* What every layout's fqdn_inflight starts with: all the agent reads (the
 * entry's age, for garbage collection), so it can read any layout's map. */
struct fqdn_inflight_head {
	__u64 qname_hash;
	__u64 sent_ns;
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_inflight_head) == 16, "fqdn_inflight_head layout");

/* Tries to find a free randomised client port before the query is dropped
 * (FQDN_CTR_INFLIGHT_FAILED); the ports are drawn from 1024..65535. */
#define FQDN_RANDOM_PORT_TRIES 4
#define FQDN_RANDOM_PORT_MIN 1024

/* FNV-1a 64 over the lowercase wire-form name (root byte included). */
#define FQDN_FNV64_OFFSET 0xcbf29ce484222325ULL
#define FQDN_FNV64_PRIME 0x100000001b3ULL

/* --- fq_allow4 / fq_allow6 (LRU): per-endpoint learned addresses. Valid
 * while now < expiry_ns, for the ports of the rules in rule_mask of version
 * policy_id (the endpoint's current or previous version). */
struct fqdn_allow4_key {
	__u32 endpoint_id;
	__u8 addr[4];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_allow4_key) == 8, "fqdn_allow4_key layout");

struct fqdn_allow6_key {
	__u32 endpoint_id;
	__u8 addr[16];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_allow6_key) == 20, "fqdn_allow6_key layout");

struct fqdn_allow {
	__u64 expiry_ns;  /* CLOCK_BOOTTIME */
	__u64 name_hash;  /* the name that last credited it (fq_names) */
	__u32 policy_id;  /* version rule_mask refers to */
	__u32 rule_mask;  /* bit r: rule r allows this address */
	__u32 ttl;        /* as answered (before min TTL) */
	__u32 pad;
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_allow) == 32, "fqdn_allow layout");

/* --- fq_names (LRU): (endpoint, name hash) -> the name and its address ring
 * position; fq_name_slots (LRU): (endpoint, name hash, slot) -> address. The
 * ring of one name has max_ips_per_name slots: a new address takes slot
 * next_slot % max and evicts the address that was there (from fq_allow*, if
 * that entry still belongs to this name). */
struct fqdn_name_key {
	__u32 endpoint_id;
	__u32 pad;
	__u64 name_hash;
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_name_key) == 16, "fqdn_name_key layout");

struct fqdn_name {
	struct fqdn_wire_name name;
	__u32 next_slot; /* increments forever; slot = next_slot % max_ips_per_name */
	__u64 learned_ns;
	__u32 policy_id; /* version of the last answer */
	__u32 rule_mask;
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_name) == 280, "fqdn_name layout");

struct fqdn_slot_key {
	__u32 endpoint_id;
	__u32 slot;
	__u64 name_hash;
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_slot_key) == 16, "fqdn_slot_key layout");

struct fqdn_slot {
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_slot) == 20, "fqdn_slot layout");

/* --- fq_cidr4 / fq_cidr6 (LPM trie): (policy id, prefix) -> the rules whose
 * CIDR holds the prefix, except-holes applied by the compiler (an entry with
 * rule_mask 0 is a hole). prefixlen counts the 32 policy id bits too. */
struct fqdn_cidr4_key {
	__u32 prefixlen; /* 32 + address prefix length */
	__u32 policy_id;
	__u8 addr[4];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_cidr4_key) == 12, "fqdn_cidr4_key layout");

struct fqdn_cidr6_key {
	__u32 prefixlen;
	__u32 policy_id;
	__u8 addr[16];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_cidr6_key) == 24, "fqdn_cidr6_key layout");

struct fqdn_cidr {
	__u32 rule_mask;
	__u32 pad;
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_cidr) == 8, "fqdn_cidr layout");

/* --- fq_flows (LRU): established TCP flows of endpoints, made when an allowed
 * SYN leaves. A packet of a known flow passes while its destination's entry
 * is expired for up to flow_grace seconds of idleness; new connections
 * (SYN) never use it. */
struct fqdn_flow_key {
	__u32 endpoint_id;
	__u8 family;
	__u8 proto;
	__u16 sport;
	__u16 dport;
	__u16 pad;
	__u8 daddr[16];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_flow_key) == 28, "fqdn_flow_key layout");

struct fqdn_flow {
	__u64 created_ns;
	__u64 last_ns; /* refreshed at most once per second */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_flow) == 16, "fqdn_flow layout");

/* --- fq_inbound (LRU): connections INTO an endpoint (a TCP SYN or a UDP
 * packet toward it, not from a trusted DNS server), keyed as the endpoint's
 * replies carry them. Egress policy governs what an endpoint opens; its
 * replies on these pass (FQDN_CTR_EGRESS_ALLOWED_REPLY) while the entry is
 * younger than FQDN_INBOUND_*_IDLE_SEC since its last packet. A pure SYN
 * from the endpoint is never a reply. Value: struct fqdn_flow. */
struct fqdn_inbound_key {
	__u32 endpoint_id;
	__u8 family;
	__u8 proto;
	__u16 local_port; /* the endpoint's port */
	__u16 peer_port;
	__u16 pad;
	__u8 peer[16];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_inbound_key) == 28, "fqdn_inbound_key layout");

/* --- fq_events (ring buffer) records. */
enum fqdn_event_type {
	FQDN_EV_LEARNED = 1,        /* name, addr, ttl, expiry_ns */
	FQDN_EV_QUERY_REFUSED = 2,  /* name, qtype, reason = FQDN_REFUSE_* */
	FQDN_EV_DENIED = 3,         /* addr = destination, proto, port = dport */
	FQDN_EV_MALFORMED = 4,      /* reason = enum fqdn_reason, offset; addr = sender */
	FQDN_EV_NOT_LEARNED = 5,    /* a response teaching nothing: reason = FQDN_NL_* */
	FQDN_EV_EVICTED = 6,        /* addr pushed out of name's ring (max IPs per name) */
	FQDN_EV_QUERY_REJECTED = 7, /* DNS to a trusted server in a shape the rules cannot check:
				     * reason = FQDN_QREJ_*; name = first qname if parsed */
};

/* Why an egress packet was denied (FQDN_EV_DENIED.reason). */
#define FQDN_DENY_NOT_ALLOWED 1  /* no learned address, CIDR, flow or reply allows it */
#define FQDN_DENY_EXPIRED 2      /* the learned address expired */
#define FQDN_DENY_PORT 3         /* address allowed, protocol/port not */
#define FQDN_DENY_UNCLASSIFIED 4 /* not untagged IPv4/IPv6/ARP, or headers truncated */
#define FQDN_DENY_NEIGHBOR 5     /* ICMPv6 ND/MLD that could leave the link */
#define FQDN_DENY_SPOOFED 6      /* source address is not one of the endpoint's */

/* Why a DNS message toward a trusted server was rejected
 * (FQDN_EV_QUERY_REJECTED.reason). A query passes only as a single-question
 * QUERY the DNS rules checked (Documentation/Security.md). */
#define FQDN_QREJ_RESPONSE 1     /* QR set: the endpoint sent a response */
#define FQDN_QREJ_OPCODE 2       /* opcode is not QUERY (UPDATE, NOTIFY, ...) */
#define FQDN_QREJ_QDCOUNT 3      /* not exactly one question */
#define FQDN_QREJ_RECORDS 4      /* answer/authority records, or additional
				  * records other than one OPT */
#define FQDN_QREJ_TCP_FASTOPEN 5 /* data in a SYN to a DNS server (TCP Fast Open) */
#define FQDN_QREJ_TCP_UNCHECKED 6 /* TCP to a DNS server, DNS over TCP not enabled
				   * for the endpoint */
#define FQDN_QREJ_TCP_UNWRITTEN 7 /* TCP data to a DNS server that is not what the
				   * connection's socket wrote (a crafted segment), or
				   * no longer kept (fq_tcp_tx) */

/* Why a response taught nothing (FQDN_EV_NOT_LEARNED.reason). */
#define FQDN_NL_NO_INFLIGHT 1    /* no matching in-flight query: txid/port/server */
#define FQDN_NL_QNAME_MISMATCH 2 /* matched ids, different question */
#define FQDN_NL_UNTRUSTED 3      /* from port 53 of a server that is not trusted */
#define FQDN_NL_ID_MISMATCH 4    /* on a randomised query's 5-tuple, another id or
				  * question: consumes the query, dropped */

struct fqdn_event {
	__u64 ts_ns; /* CLOCK_BOOTTIME */
	__u32 type;  /* enum fqdn_event_type */
	__u32 endpoint_id;
	__u32 policy_id;
	__u32 reason;
	__u32 offset;
	__u32 ttl;
	__u64 expiry_ns;
	__u8 family;
	__u8 proto;
	__u16 port;
	__u16 qtype;
	__u16 txid;
	__u8 addr[16];
	struct fqdn_wire_name name; /* len 0 when the event has no name */
	__u32 pad;
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_event) == 328, "fqdn_event layout");

/* --- fq_counters (per-CPU array): index = enum fqdn_counter. Stable numbers
 * (Prometheus names in Documentation/Datapath.md). */
enum fqdn_counter {
	FQDN_CTR_PACKETS = 0,               /* packets of endpoints seen by any hook */
	FQDN_CTR_DNS_QUERIES = 1,           /* queries to trusted servers (UDP) */
	FQDN_CTR_DNS_QUERIES_REFUSED = 2,   /* answered REFUSED/NXDOMAIN in the kernel */
	FQDN_CTR_DNS_QUERIES_DROPPED = 3,   /* refused by dropping (policy, or cgroup) */
	FQDN_CTR_DNS_QUERIES_MALFORMED = 4,
	FQDN_CTR_DNS_RESPONSES = 5,         /* responses from trusted servers */
	FQDN_CTR_DNS_RESPONSES_MALFORMED = 6,
	FQDN_CTR_DNS_RESPONSES_UNTRUSTED = 7,
	FQDN_CTR_DNS_RESPONSES_NO_INFLIGHT = 8,
	FQDN_CTR_DNS_RESPONSES_QNAME_MISMATCH = 9,
	FQDN_CTR_DNS_RESPONSES_NOT_CREDITED = 10, /* rcode != 0, TC, ... */
	FQDN_CTR_ADDRS_LEARNED = 11,        /* new (endpoint, address) entries */
	FQDN_CTR_ADDRS_REFRESHED = 12,      /* existing entries re-answered */
	FQDN_CTR_ADDRS_EVICTED = 13,        /* pushed out by max IPs per name */
	FQDN_CTR_LEARN_FAILED = 14,         /* map update failed */
	FQDN_CTR_INFLIGHT_FAILED = 15,
	FQDN_CTR_EGRESS_ALLOWED_LEARNED = 16,
	FQDN_CTR_EGRESS_ALLOWED_CIDR = 17,
	FQDN_CTR_EGRESS_ALLOWED_FLOW = 18,  /* via fq_flows after expiry */
	FQDN_CTR_EGRESS_ALLOWED_DNS = 19,   /* to trusted DNS servers */
	FQDN_CTR_EGRESS_ALLOWED_OTHER = 20, /* ARP, ND, no policy */
	FQDN_CTR_EGRESS_DENIED = 21,        /* every denied packet */
	FQDN_CTR_EGRESS_DENIED_EXPIRED = 22, /* of which: the address had expired */
	FQDN_CTR_EGRESS_DENIED_PORT = 23,    /* of which: address allowed, port not */
	FQDN_CTR_EVENTS_LOST = 24,          /* ring buffer full */
	FQDN_CTR_TRIE_ERRORS = 25,          /* walk failed: name treated as unmatched */
#if FQDN_LAYOUT_VERSION >= 2
	/* Learned entries the agent deleted (GC of expired ones, endpoint flush
	 * or removal, policy change). Written only by userspace, so with
	 * ADDRS_LEARNED and ADDRS_EVICTED it gives the LRU evictions:
	 * learned - evicted - removed - entries present. */
	FQDN_CTR_ADDRS_REMOVED = 26,
#endif
	/* Layout 3 (fail closed). The enumerators exist in every layout's build
	 * (older layouts' maps are shorter: counting into them is a no-op). */
	FQDN_CTR_EGRESS_DENIED_UNCLASSIFIED = 27, /* of EGRESS_DENIED: frames not classified
						   * (VLAN tags, other ethertypes, truncated),
						   * ND/MLD that could leave the link */
	FQDN_CTR_DNS_QUERIES_REJECTED = 28, /* DNS toward a trusted server in a shape the
					     * rules cannot check (FQDN_QREJ_*): dropped */
	FQDN_CTR_EGRESS_ALLOWED_REPLY = 29, /* replies on connections into the endpoint */
	/* Layout 4. */
	FQDN_CTR_EGRESS_DENIED_SPOOFED = 30, /* of EGRESS_DENIED: source not the endpoint's */
	FQDN_CTR_DNS_RESPONSES_ID_MISMATCH = 31, /* answers on a randomised query's 5-tuple
						  * with another id or question: dropped */
#if FQDN_LAYOUT_VERSION >= 4
	FQDN_CTR_COUNT = 32,
#elif FQDN_LAYOUT_VERSION >= 3
	FQDN_CTR_COUNT = 30,
#elif FQDN_LAYOUT_VERSION >= 2
	FQDN_CTR_COUNT = 27,
#else
	FQDN_CTR_COUNT = 26,
#endif
};

/* --- fq_meta (array, 1 entry): what the pinned state is. */
struct fqdn_meta {
	__u32 layout_version;   /* FQDN_LAYOUT_VERSION of the maps */
	__u32 flags;            /* FQDN_META_F_*: datapath-wide switches the agent sets */
	__u64 created_ns;       /* CLOCK_BOOTTIME at creation */
	__u32 next_endpoint_id; /* agent bookkeeping, so ids survive restarts */
	__u32 next_policy_id;
	__u32 agent_pid;        /* last agent that adopted the state (0 = none running) */
	__u32 build_id;         /* identity (hash) of the programs last loaded; layout 1: pad, 0 */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_meta) == 32, "fqdn_meta layout");
/* fqdn_meta.flags: a learned event also for every address an answer only
 * refreshed (default: new addresses only; refreshes are counted in
 * addresses_refreshed). Was a reserved zero before, in every layout. */
#define FQDN_META_F_REFRESH_EVENTS 1u

/* --- DNS over TCP (BPFPrograms/dns_sockops.bpf.c, dns_sk_skb.bpf.c,
 * dns_sk_msg.bpf.c; logic in include/dns_tcp.h; design: Documentation/TCP.md).
 * sockops puts each client socket connected to a trusted server into
 * fq_tcp_socks (sockhash keyed by socket cookie); the sk_skb verdict program
 * frames the server's byte stream into responses, the sk_msg program frames
 * the client's writes into queries. Both run the shared parser on whole
 * messages and reuse the UDP maps, counters and events. */
#define FQDN_MAX_TCP_SOCKS 16384  /* connections to trusted servers tracked at once */
#define FQDN_MAX_TCP_PARTIAL 1024 /* responses being reassembled at once */
#define FQDN_MAX_TCP_NETNS FQDN_MAX_ENDPOINTS
/* A reassembly buffer. A piece of at most FQDN_MAX_MSG_LEN bytes is copied in
 * at an offset below FQDN_MAX_MSG_LEN: the verifier needs twice the limit. */
#define FQDN_TCP_BUF_LEN (2 * FQDN_MAX_MSG_LEN)

/* fq_tcp_netns (hash): u64 netns cookie of a veth endpoint's pod -> u32 ifindex
 * of its host-side interface (the fq_ep_ifindex key). How a socket, which
 * lives in the pod's namespace, finds its veth endpoint. */

/* fq_tcp_tx (hash, no prealloc; shared with the tc and cgroup_skb programs):
 * one client connection to a trusted server -> the bytes its socket wrote,
 * which the sk_msg program checked query by query. A TCP segment toward the
 * server may carry only those bytes at their place in the stream: a segment
 * crafted with a raw socket or AF_PACKET (right sequence numbers, other
 * bytes) is dropped (Documentation/Security.md, class 3 over TCP). Made by
 * sockops when the connection is established, filled by sk_msg, deleted when
 * it closes (or by the agent with its endpoint).
 *
 * The value is struct
 * fqdn_tcp_tx in datapath_maps.h: this head, then FQDN_TCP_TX_RING bytes
 * (the byte at stream offset o is ring[o % FQDN_TCP_TX_RING]) and
 * FQDN_TCP_TX_MAX_QUERY bytes where a query that wraps is first copied. */
#define FQDN_TCP_TX_RING 2048     /* bytes kept per connection (a power of 2) */
#define FQDN_TCP_TX_MAX_QUERY 1024 /* longest query over TCP, length prefix included */
struct fqdn_tcp_tx_key {
	__u32 endpoint_id;
	__u16 client_port;
	__u16 server_port;
	__u8 family;   /* FQDN_AF_INET / FQDN_AF_INET6 (of the packets) */
	__u8 pad[3];
	__u8 client[16];
	__u8 server[16];
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_tcp_tx_key) == 44, "fqdn_tcp_tx_key layout");

struct fqdn_tcp_tx_head {
	__u32 stream_seq; /* client's sequence number of the stream's first byte (ISN + 1; 0 until established) */
	__u32 written;    /* bytes written so far (mod 2^32) */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_tcp_tx_head) == 8, "fqdn_tcp_tx_head layout");

/* fq_secret (array, 1 entry): a key the agent draws (getrandom) when it makes
 * the datapath, kept pinned. On a veth endpoint the tc programs shift the
 * sequence numbers of every segment between the endpoint and a trusted
 * server's DNS port by amounts computed from it and the connection (SipHash-
 * 2-4 of the fqdn_tcp_tx_key: the low 32 bits are added to the client's
 * sequence numbers on the way out and taken from the server's acks on the
 * way in, the high 32 bits the same for the server's), so the pod knows
 * neither the server's numbers nor its own as the server sees them, and an
 * accomplice it tells its numbers cannot make a segment the pod's socket
 * accepts (class 5 over TCP). A function of the connection, not state: a
 * segment still in flight when the socket closes is shifted like the rest.
 * What would show the shift (SACK blocks; ICMP errors quoting the pod's
 * segments) is kept from the pod. All zero (never written): segments to a
 * trusted server are dropped. */
struct fqdn_secret {
	__u64 k0;
	__u64 k1;
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_secret) == 16, "fqdn_secret layout");

/* fqdn_tcp_sock.flags: receive framing. */
#define FQDN_TCP_F_BODY 0x1 /* the length prefix is complete: msg_len and have are valid */
#define FQDN_TCP_F_BUF 0x2  /* the message's first bytes are in fq_tcp_buf */
#define FQDN_TCP_F_SKIP 0x4 /* the message is not parsed (too long, or no buffer) */
#define FQDN_TCP_F_LOST 0x8 /* framing given up: bytes still pass, nothing is parsed */

/* fq_tcp_sock (hash): socket cookie -> one tracked connection. Made by sockops
 * when the connection is established, deleted when it closes. */
struct fqdn_tcp_sock {
	__u64 cgroup_id;  /* cgroup endpoint: its fq_ep_cgroup key; 0 for a veth endpoint */
	__u32 ifindex;    /* veth endpoint: its fq_ep_ifindex key; 0 for a cgroup endpoint */
	__u16 client_port;
	__u16 server_port;
	__u8 family;      /* FQDN_AF_INET / FQDN_AF_INET6 (IPv4-mapped IPv6 counts as IPv4) */
	__u8 flags;       /* FQDN_TCP_F_* */
	__u8 pfx_have;    /* bytes of the next length prefix received (0 or 1) */
	__u8 pfx0;        /* its first byte */
	__u16 msg_len;    /* the response being received */
	__u16 have;       /* its bytes received so far */
	__u8 server[16];
	__u64 responses;  /* responses framed on this connection */
	__u64 queries;    /* queries framed on this connection */
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_tcp_sock) == 56, "fqdn_tcp_sock layout");

/* fq_tcp_sk (socket storage): what the sk_msg program, which cannot read a
 * socket cookie, needs; also the endpoint found at connect time. */
#define FQDN_TCP_SK_F_TRACKED 0x1 /* in fq_tcp_socks, fq_tcp_sock made */
#define FQDN_TCP_SK_F_TX_LOST 0x2 /* query framing lost: every later write fails */
struct fqdn_tcp_sk {
	__u64 cookie;
	__u64 cgroup_id;
	__u32 ifindex;
	__u32 flags;     /* FQDN_TCP_SK_F_* */
	__u32 cork_want; /* bytes a corked write waits for (0: none) */
	__u32 pad;
};
FQDN_STATIC_ASSERT(sizeof(struct fqdn_tcp_sk) == 32, "fqdn_tcp_sk layout");

/* fq_tcp_buf (hash, no prealloc): socket cookie -> the first bytes of a
 * response that spans segments (FQDN_TCP_BUF_LEN bytes; struct fqdn_tcp_buf
 * in dns_tcp_maps.h, not here: Swift would import the array as a 32768-tuple).
 * Deleted when the response completes or the connection closes. */

/* fq_tcp_counters (per-CPU array): the TCP framing's own counters. DNS
 * counters (queries, responses, learned, ...) go to fq_counters as for UDP. */
enum fqdn_tcp_counter {
	FQDN_TCP_CTR_CONNECTIONS = 0,       /* connections to trusted servers tracked */
	FQDN_TCP_CTR_TRACK_FAILED = 1,      /* not tracked: a map was full */
	FQDN_TCP_CTR_CLOSED = 2,            /* tracked connections closed */
	FQDN_TCP_CTR_RX_SEGMENTS = 3,       /* skbs the verdict program framed */
	FQDN_TCP_CTR_RX_BYTES = 4,
	FQDN_TCP_CTR_RX_MESSAGES = 5,       /* whole responses framed */
	FQDN_TCP_CTR_RX_REASSEMBLED = 6,    /* of which spanned several segments */
	FQDN_TCP_CTR_RX_SPLIT_PREFIX = 7,   /* length prefixes split across segments */
	FQDN_TCP_CTR_RX_NO_BUFFER = 8,      /* not parsed: fq_tcp_buf full */
	FQDN_TCP_CTR_RX_TOO_LONG = 9,       /* not parsed: longer than FQDN_MAX_MSG_LEN */
	FQDN_TCP_CTR_RX_PARTIAL_CLOSED = 10, /* connection closed inside a response */
	FQDN_TCP_CTR_RX_LOST = 11,          /* framing given up on a connection */
	FQDN_TCP_CTR_TX_MESSAGES = 12,      /* whole queries framed */
	FQDN_TCP_CTR_TX_CORKED = 13,        /* writes ending inside a query: held until complete */
	FQDN_TCP_CTR_TX_ANSWERED = 14,      /* refused queries answered into the client's stream */
	FQDN_TCP_CTR_TX_WRITE_DENIED = 15,  /* writes failed with EACCES (Documentation/TCP.md) */
	FQDN_TCP_CTR_COUNT = 16,
};

#endif /* FQDN_SHARED_H */
