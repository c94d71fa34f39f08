#!/bin/sh
# Rebuilds the object-layer test fixtures; run it from this directory.
# Needs clang-19 and llvm-strip-19. The objects are deterministic: relative paths,
# -fdebug-compilation-dir=., and no DWARF (llvm-strip -g), like `cargo xtask build-progs`.
set -e
build() { # build SOURCE OBJECT [CFLAGS...]
	src=$1; obj=$2; shift 2
	clang-19 -target bpf -mcpu=v3 -O2 -g -Wall -fdebug-compilation-dir=. \
		-I/usr/include/x86_64-linux-gnu "$@" -c "$src" -o "$obj.tmp"
	llvm-strip-19 -g "$obj.tmp" -o "$obj"
	rm -f "$obj.tmp"
}
for src in progs mismatch missing missing_func unknown_sec legacy plain core; do
	build "$src.bpf.c" "$src.bpf.o"
done
build badmaps.bpf.c unknown_field.bpf.o -DUNKNOWN_FIELD
build badmaps.bpf.c values.bpf.o -DVALUES
