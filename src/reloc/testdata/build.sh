#!/bin/sh
# Rebuilds the extern-resolution test objects; run it from this directory.
# Needs clang-19 and llvm-strip-19. Deterministic like the object-layer fixtures:
# relative paths, -fdebug-compilation-dir=., no DWARF (llvm-strip -g).
set -e
build() { # build SOURCE OBJECT [CFLAGS...]
	src=$1; obj=$2; shift 2
	clang-19 -target bpf -mcpu=v3 -O2 -g -Wall -fdebug-compilation-dir=. \
		-I/usr/include/x86_64-linux-gnu "$@" -c "$src" -o "$obj.tmp"
	llvm-strip-19 -g "$obj.tmp" -o "$obj"
	rm -f "$obj.tmp"
}
build externs.bpf.c externs.bpf.o
build ksym_var.bpf.c ksym_var.bpf.o
build weak_unguarded.bpf.c weak_unguarded.bpf.o
for kind in KCONFIG VAR UNTYPED KFUNC; do
	build strong_missing.bpf.c "strong_missing_$(echo $kind | tr A-Z a-z).bpf.o" -D$kind
done
build fake_kernel.bpf.c fake_kernel.bpf.o
build fake_kernel.bpf.c fake_kernel_incompatible.bpf.o -DINCOMPATIBLE
build fake_kernel.bpf.c fake_kernel_no_release.bpf.o -DNO_RELEASE
