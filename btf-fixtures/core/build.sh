#!/bin/sh
# Regenerates the CO-RE relocation fixtures from their C sources:
#   local.bpf.o, local_v4.bpf.o  the LOCAL side (clang's CO-RE records and instructions),
#                                built for -mcpu=v3 and -mcpu=v4 (ST, sign-extending loads)
#   target_<family>_<variant>.btf raw .BTF of t_<family>.c built with -DV_<variant>
# Needs clang-19, llvm-objcopy-19 and libbpf's headers (<bpf/bpf_helpers.h>, libbpf-dev).
# Output is deterministic: debug info is stripped, paths never reach the BTF.
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-19}
OBJCOPY=${OBJCOPY:-llvm-objcopy-19}
CFLAGS="-target bpf -g -O2 -fno-ident -fdebug-prefix-map=$(pwd)=."

for cpu in v3 v4; do
	out=local.bpf.o
	[ "$cpu" = v3 ] || out=local_$cpu.bpf.o
	$CLANG $CFLAGS -mcpu=$cpu -c local.bpf.c -o "$out"
	$OBJCOPY --strip-debug "$out"
done

TARGETS="
flavors:base flavors:tflavor flavors:dup flavors:dup_same flavors:none
nesting:base nesting:missing nesting:shallow nesting:incompat
arrays:base arrays:small arrays:wrong
arrload:same arrload:longer arrload:shorter arrload:elems
primitives:base primitives:err1 primitives:err2
mods:base mods:no_typedef
ptr_as_array:base ptr_as_array:err
ints:base ints:i128 ints:far
existence:base existence:none
bitfields:base bitfields:widen bitfields:too_big
sizes:base sizes:missing
type_based:match type_based:differ type_based:missing
enumval:base enumval:kind enumval:signed enumval:missing
"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for spec in $TARGETS; do
	fam=${spec%%:*}
	var=${spec#*:}
	$CLANG $CFLAGS -mcpu=v3 -DCORE_TARGET -DV_$var -c "t_$fam.c" -o "$tmp/t.o"
	$OBJCOPY --dump-section .BTF="target_${fam}_${var}.btf" "$tmp/t.o"
done
