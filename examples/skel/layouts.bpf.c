// SPDX-License-Identifier: GPL-2.0
/*
 * layouts.bpf.c — the C layouts a skeleton must reproduce, for corebpf's skeleton
 * tests (tests/skel.rs): padding, bitfields, enums (named and anonymous, signed,
 * 64-bit), unions, a packed struct, nested and anonymous members, char arrays.
 * It is compiled, never loaded: the test checks the generated Rust layouts.
 *
 * Rebuild (from examples/skel/): clang-19 -target bpf -mcpu=v3 -O2 -g -fdebug-compilation-dir=. \
 *   -I/usr/include/x86_64-linux-gnu -c layouts.bpf.c -o layouts.bpf.o && llvm-strip-19 -g layouts.bpf.o
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum mode { MODE_OFF = 0, MODE_ON = 1, MODE_AUTO = 7 };
enum delta { DELTA_DOWN = -1, DELTA_UP = 1 };
enum big { BIG_ONE = 1, BIG_HUGE = 0x100000000ULL };

struct flags {
	unsigned int ready : 1;
	unsigned int level : 3;
	int offset : 5;
	unsigned long long wide : 40;
};

union value {
	unsigned int u;
	unsigned char bytes[8];
	unsigned long long q;
};

struct __attribute__((packed)) packed {
	unsigned char tag;
	unsigned long long stamp;
};

struct record {
	char c;              /* then 7 bytes of padding */
	unsigned long long n;
	enum mode mode;
	enum delta delta;
	struct flags flags;
	union value value;
	struct packed packed;
	char name[12];
	struct {
		unsigned short a;
		unsigned short b;
	} pair;
	enum big big;
	short tail;          /* then 6 bytes of tail padding */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, unsigned int);
	__type(value, struct record);
} records SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, unsigned int);
	__type(value, union value);
} values SEC(".maps");

const volatile enum mode default_mode = MODE_AUTO;
const volatile char greeting[6] = "hi";
struct record last;
unsigned char seen;

SEC("xdp")
int touch(struct xdp_md *ctx)
{
	struct record *r;
	unsigned int k = 0;

	r = bpf_map_lookup_elem(&records, &k);
	if (r) {
		last = *r;
		seen = default_mode + greeting[0];
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
