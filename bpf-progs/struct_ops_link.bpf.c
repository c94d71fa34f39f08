// SPDX-License-Identifier: GPL-2.0
/*
 * struct_ops_link.bpf.c — struct_ops.bpf.c's congestion control in section
 * ".struct_ops.link": registered through a struct_ops link (6.4+), which is
 * what unregisters it when the link goes.
 *
 * Rebuild with `cargo xtask build-progs struct_ops_link`; never edit the .bpf.o
 * by hand.
 */
#define TCP_CA_SEC ".struct_ops.link"
#include "struct_ops.bpf.c"
