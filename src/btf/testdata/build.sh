#!/bin/sh
# Rebuilds the BTF-layer test fixtures; run it from this directory.
# Needs clang-19 and llvm-strip-19. The objects are deterministic: relative paths,
# -fdebug-compilation-dir=., and no DWARF (llvm-strip -g), like `cargo xtask build-progs`.
set -e
for src in sanitize; do
	clang-19 -target bpf -mcpu=v3 -O2 -g -Wall -Werror -fdebug-compilation-dir=. \
		-I/usr/include/x86_64-linux-gnu -c "$src.bpf.c" -o "$src.bpf.o.tmp"
	llvm-strip-19 -g "$src.bpf.o.tmp" -o "$src.bpf.o"
	rm -f "$src.bpf.o.tmp"
done
