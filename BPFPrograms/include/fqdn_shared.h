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
 * restarted agent knows whether it can adopt the maps as they are. */
#define FQDN_LAYOUT_VERSION 1

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

/* ===================================================================== */
/* 4. Datapath maps (owned by PolicyEngine + the attach-point programs)   */
/* ===================================================================== */

#endif /* FQDN_SHARED_H */
