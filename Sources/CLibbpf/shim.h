#ifndef CLIBBPF_SHIM_H
#define CLIBBPF_SHIM_H
/* libbpf (libbpf-dev) as Swift sees it. */
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/bpf.h>
#include <string.h>

/* Whether the running kernel's BTF (/sys/kernel/btf/vmlinux) has `value` in enum `enum_name`:
 * a feature probe that changes nothing (e.g. BPF_TCX_INGRESS in bpf_attach_type, where
 * attaching a test program would touch a real interface). 1 yes, 0 no, -1 no kernel BTF. */
static inline int clibbpf_vmlinux_enum_has(const char *enum_name, const char *value) {
    struct btf *btf = btf__load_vmlinux_btf();
    if (libbpf_get_error(btf)) return -1;
    int found = 0;
    __s32 id = btf__find_by_name_kind(btf, enum_name, BTF_KIND_ENUM);
    if (id > 0) {
        const struct btf_type *t = btf__type_by_id(btf, id);
        const struct btf_enum *e = btf_enum(t);
        for (__u16 i = 0; i < btf_vlen(t) && !found; i++, e++)
            found = strcmp(btf__name_by_offset(btf, e->name_off), value) == 0;
    }
    btf__free(btf);
    return found;
}
#endif
