// SPDX-License-Identifier: GPL-2.0
/*
 * missing_map.bpf.c — a program that uses a map the object does not define.
 *
 * `ghost` is declared `extern` in ".maps" — what happens when a map is
 * declared in a shared header but its definition was forgotten, or when the
 * object was meant to be statically linked with another one. clang-19
 * accepts this and leaves in the object (see `cargo xtask build-progs`):
 *
 *   - an undefined symbol:  `ghost`  NOTYPE GLOBAL DEFAULT, st_shndx = UND
 *     (the defined map `counts` is OBJECT GLOBAL in the ".maps" section);
 *   - in `.reltracepoint/syscalls/sys_enter_execve`, an R_BPF_64_64 against
 *     `ghost` on the `ld_imm64` that loads the map for the second
 *     bpf_map_lookup_elem() (next to an ordinary one against `counts`);
 *   - in BTF, `VAR 'ghost' linkage=extern`, listed in `DATASEC '.maps'` at
 *     offset 0, size 32 — the same offset as `counts`: DATASEC offsets of
 *     extern vars mean nothing, so a loader must not match map symbols to
 *     BTF vars by offset alone. The kernel refuses extern VARs ("Linkage not
 *     supported"), so this BTF cannot be loaded as is either;
 *   - in `.rel.BTF`, an R_BPF_64_ABS32 against `ghost` (static-linker
 *     bookkeeping, like all of `.rel.BTF*`: a loader ignores these).
 *
 * Loading must fail before any bpf(2) call that creates a program, with an
 * error that names the map (`ghost`) and the program using it (`use_ghost`,
 * section `tracepoint/syscalls/sys_enter_execve`), e.g.
 *
 *     program `use_ghost`: instruction 12 references map `ghost`,
 *     which is declared extern but not defined in this object
 *
 * For comparison, libbpf 1.1 refuses the object at open time with
 * "unrecognized extern section '.maps'".
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

/* A map that exists, so the object has a ".maps" section and a relocation
 * that does resolve: only `ghost` is missing. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} counts SEC(".maps");

/* Declared, never defined. */
extern struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} ghost SEC(".maps");

/* Bumps slot 0 of both maps; it would pass the verifier if `ghost` existed. */
SEC("tracepoint/syscalls/sys_enter_execve")
int use_ghost(void *ctx __attribute__((unused)))
{
	u32 key = 0;
	u64 *value;

	value = bpf_map_lookup_elem(&counts, &key);
	if (value)
		__sync_fetch_and_add(value, 1);

	value = bpf_map_lookup_elem(&ghost, &key);
	if (value)
		__sync_fetch_and_add(value, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
