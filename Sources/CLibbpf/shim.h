#ifndef CLIBBPF_SHIM_H
#define CLIBBPF_SHIM_H
/* libbpf (libbpf-dev) as Swift sees it. */
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/bpf.h>
#endif
