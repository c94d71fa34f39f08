/* Minimal definitions so the fixtures build with nothing but clang and libbpf's headers. */
#ifndef CORE_FIXTURE_COMMON_H
#define CORE_FIXTURE_COMMON_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

#if defined(__bpf__) && !defined(CORE_TARGET)
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#endif

/* (Target sources are built with -DCORE_TARGET: they need no helpers, and their BTF
 * should hold only the types they define.) */

/* Local types are read through pointers as in tracing programs: every access to them
 * is recorded as a CO-RE relocation. */
#define __pai __attribute__((preserve_access_index))

#endif
