//! The uapi numbers of `bpf(2)`: map, program, attach and link types, and the flags of
//! the commands (`include/uapi/linux/bpf.h`).

// Whole tables, as the kernel numbers them, whether or not a number is used yet: a
// value is looked up here, never guessed at a call site.
#![allow(dead_code)]

/// Length of object names (`map_name`, `prog_name`), including the terminating NUL.
pub const BPF_OBJ_NAME_LEN: usize = 16;

/// Size of a program tag (`bpf_prog_info.tag`).
pub const BPF_TAG_SIZE: usize = 8;

/// Map types (`enum bpf_map_type`).
pub mod map_type {
    #![allow(missing_docs)]
    pub const UNSPEC: u32 = 0;
    pub const HASH: u32 = 1;
    pub const ARRAY: u32 = 2;
    pub const PROG_ARRAY: u32 = 3;
    pub const PERF_EVENT_ARRAY: u32 = 4;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const STACK_TRACE: u32 = 7;
    pub const CGROUP_ARRAY: u32 = 8;
    pub const LRU_HASH: u32 = 9;
    pub const LRU_PERCPU_HASH: u32 = 10;
    pub const LPM_TRIE: u32 = 11;
    pub const ARRAY_OF_MAPS: u32 = 12;
    pub const HASH_OF_MAPS: u32 = 13;
    pub const DEVMAP: u32 = 14;
    pub const SOCKMAP: u32 = 15;
    pub const CPUMAP: u32 = 16;
    pub const XSKMAP: u32 = 17;
    pub const SOCKHASH: u32 = 18;
    pub const CGROUP_STORAGE: u32 = 19;
    pub const REUSEPORT_SOCKARRAY: u32 = 20;
    pub const PERCPU_CGROUP_STORAGE: u32 = 21;
    pub const QUEUE: u32 = 22;
    pub const STACK: u32 = 23;
    pub const SK_STORAGE: u32 = 24;
    pub const DEVMAP_HASH: u32 = 25;
    pub const STRUCT_OPS: u32 = 26;
    pub const RINGBUF: u32 = 27;
    pub const INODE_STORAGE: u32 = 28;
    pub const TASK_STORAGE: u32 = 29;
    pub const BLOOM_FILTER: u32 = 30;
    pub const USER_RINGBUF: u32 = 31;
    pub const CGRP_STORAGE: u32 = 32;
    pub const ARENA: u32 = 33;

    /// True for the per-CPU map types, whose values user space reads and writes as one
    /// slot per possible CPU, each rounded up to 8 bytes.
    pub fn is_percpu(t: u32) -> bool {
        matches!(
            t,
            PERCPU_HASH | PERCPU_ARRAY | LRU_PERCPU_HASH | PERCPU_CGROUP_STORAGE
        )
    }
}

/// Program types (`enum bpf_prog_type`).
pub mod prog_type {
    #![allow(missing_docs)]
    pub const UNSPEC: u32 = 0;
    pub const SOCKET_FILTER: u32 = 1;
    pub const KPROBE: u32 = 2;
    pub const SCHED_CLS: u32 = 3;
    pub const SCHED_ACT: u32 = 4;
    pub const TRACEPOINT: u32 = 5;
    pub const XDP: u32 = 6;
    pub const PERF_EVENT: u32 = 7;
    pub const CGROUP_SKB: u32 = 8;
    pub const CGROUP_SOCK: u32 = 9;
    pub const LWT_IN: u32 = 10;
    pub const LWT_OUT: u32 = 11;
    pub const LWT_XMIT: u32 = 12;
    pub const SOCK_OPS: u32 = 13;
    pub const SK_SKB: u32 = 14;
    pub const CGROUP_DEVICE: u32 = 15;
    pub const SK_MSG: u32 = 16;
    pub const RAW_TRACEPOINT: u32 = 17;
    pub const CGROUP_SOCK_ADDR: u32 = 18;
    pub const LWT_SEG6LOCAL: u32 = 19;
    pub const LIRC_MODE2: u32 = 20;
    pub const SK_REUSEPORT: u32 = 21;
    pub const FLOW_DISSECTOR: u32 = 22;
    pub const CGROUP_SYSCTL: u32 = 23;
    pub const RAW_TRACEPOINT_WRITABLE: u32 = 24;
    pub const CGROUP_SOCKOPT: u32 = 25;
    pub const TRACING: u32 = 26;
    pub const STRUCT_OPS: u32 = 27;
    pub const EXT: u32 = 28;
    pub const LSM: u32 = 29;
    pub const SK_LOOKUP: u32 = 30;
    pub const SYSCALL: u32 = 31;
    pub const NETFILTER: u32 = 32;
}

/// Attach types (`enum bpf_attach_type`).
pub mod attach_type {
    #![allow(missing_docs)]
    pub const CGROUP_INET_INGRESS: u32 = 0;
    pub const CGROUP_INET_EGRESS: u32 = 1;
    pub const CGROUP_INET_SOCK_CREATE: u32 = 2;
    pub const CGROUP_SOCK_OPS: u32 = 3;
    pub const SK_SKB_STREAM_PARSER: u32 = 4;
    pub const SK_SKB_STREAM_VERDICT: u32 = 5;
    pub const CGROUP_DEVICE: u32 = 6;
    pub const SK_MSG_VERDICT: u32 = 7;
    pub const CGROUP_INET4_BIND: u32 = 8;
    pub const CGROUP_INET6_BIND: u32 = 9;
    pub const CGROUP_INET4_CONNECT: u32 = 10;
    pub const CGROUP_INET6_CONNECT: u32 = 11;
    pub const CGROUP_INET4_POST_BIND: u32 = 12;
    pub const CGROUP_INET6_POST_BIND: u32 = 13;
    pub const CGROUP_UDP4_SENDMSG: u32 = 14;
    pub const CGROUP_UDP6_SENDMSG: u32 = 15;
    pub const LIRC_MODE2: u32 = 16;
    pub const FLOW_DISSECTOR: u32 = 17;
    pub const CGROUP_SYSCTL: u32 = 18;
    pub const CGROUP_UDP4_RECVMSG: u32 = 19;
    pub const CGROUP_UDP6_RECVMSG: u32 = 20;
    pub const CGROUP_GETSOCKOPT: u32 = 21;
    pub const CGROUP_SETSOCKOPT: u32 = 22;
    pub const TRACE_RAW_TP: u32 = 23;
    pub const TRACE_FENTRY: u32 = 24;
    pub const TRACE_FEXIT: u32 = 25;
    pub const MODIFY_RETURN: u32 = 26;
    pub const LSM_MAC: u32 = 27;
    pub const TRACE_ITER: u32 = 28;
    pub const CGROUP_INET4_GETPEERNAME: u32 = 29;
    pub const CGROUP_INET6_GETPEERNAME: u32 = 30;
    pub const CGROUP_INET4_GETSOCKNAME: u32 = 31;
    pub const CGROUP_INET6_GETSOCKNAME: u32 = 32;
    pub const XDP_DEVMAP: u32 = 33;
    pub const CGROUP_INET_SOCK_RELEASE: u32 = 34;
    pub const XDP_CPUMAP: u32 = 35;
    pub const SK_LOOKUP: u32 = 36;
    pub const XDP: u32 = 37;
    pub const SK_SKB_VERDICT: u32 = 38;
    pub const SK_REUSEPORT_SELECT: u32 = 39;
    pub const SK_REUSEPORT_SELECT_OR_MIGRATE: u32 = 40;
    pub const PERF_EVENT: u32 = 41;
    pub const TRACE_KPROBE_MULTI: u32 = 42;
    pub const LSM_CGROUP: u32 = 43;
    pub const STRUCT_OPS: u32 = 44;
    pub const NETFILTER: u32 = 45;
    pub const TCX_INGRESS: u32 = 46;
    pub const TCX_EGRESS: u32 = 47;
    pub const TRACE_UPROBE_MULTI: u32 = 48;
    pub const CGROUP_UNIX_CONNECT: u32 = 49;
    pub const CGROUP_UNIX_SENDMSG: u32 = 50;
    pub const CGROUP_UNIX_RECVMSG: u32 = 51;
    pub const CGROUP_UNIX_GETPEERNAME: u32 = 52;
    pub const CGROUP_UNIX_GETSOCKNAME: u32 = 53;
    pub const NETKIT_PRIMARY: u32 = 54;
    pub const NETKIT_PEER: u32 = 55;
    pub const TRACE_KPROBE_SESSION: u32 = 56;
    pub const TRACE_UPROBE_SESSION: u32 = 57;
}

/// Flags of `BPF_PROG_ATTACH` (`attach_flags`) and `BPF_PROG_QUERY`.
pub mod attach_flags {
    /// Programs in sub-cgroups may override this one (`BPF_F_ALLOW_OVERRIDE`).
    pub const ALLOW_OVERRIDE: u32 = 1 << 0;
    /// Several programs may be attached, and all run (`BPF_F_ALLOW_MULTI`).
    pub const ALLOW_MULTI: u32 = 1 << 1;
    /// Replace the program given in `replace_bpf_fd` (`BPF_F_REPLACE`, 5.6+).
    pub const REPLACE: u32 = 1 << 2;
    /// Insert before the relative program or link (`BPF_F_BEFORE`, tcx 6.6+).
    pub const BEFORE: u32 = 1 << 3;
    /// Insert after the relative program or link (`BPF_F_AFTER`, tcx 6.6+).
    pub const AFTER: u32 = 1 << 4;
    /// The relative object is given by id, not fd (`BPF_F_ID`).
    pub const ID: u32 = 1 << 5;
    /// The relative object is a link (`BPF_F_LINK`).
    pub const LINK: u32 = 1 << 13;
    /// `BPF_PROG_QUERY`: the programs that run for the target, inherited ones included
    /// (`BPF_F_QUERY_EFFECTIVE`).
    pub const QUERY_EFFECTIVE: u32 = 1 << 0;
}

/// Link types (`enum bpf_link_type`), as reported in [`LinkInfo::link_type`](super::LinkInfo::link_type) and [`RawLinkInfo::link_type`](super::RawLinkInfo::link_type).
pub mod link_type {
    #![allow(missing_docs)]
    pub const UNSPEC: u32 = 0;
    pub const RAW_TRACEPOINT: u32 = 1;
    pub const TRACING: u32 = 2;
    pub const CGROUP: u32 = 3;
    pub const ITER: u32 = 4;
    pub const NETNS: u32 = 5;
    pub const XDP: u32 = 6;
    pub const PERF_EVENT: u32 = 7;
    pub const KPROBE_MULTI: u32 = 8;
    pub const STRUCT_OPS: u32 = 9;
    pub const NETFILTER: u32 = 10;
    pub const TCX: u32 = 11;
    pub const UPROBE_MULTI: u32 = 12;
    pub const NETKIT: u32 = 13;
    pub const SOCKMAP: u32 = 14;
}

/// `BPF_MAP_CREATE` flags (`map_flags`), also the access flags of `BPF_OBJ_GET` and
/// the `*_GET_FD_BY_ID` commands (`RDONLY`, `WRONLY`).
pub mod map_flags {
    #![allow(missing_docs)]
    pub const NO_PREALLOC: u32 = 1 << 0;
    pub const NO_COMMON_LRU: u32 = 1 << 1;
    pub const NUMA_NODE: u32 = 1 << 2;
    pub const RDONLY: u32 = 1 << 3;
    pub const WRONLY: u32 = 1 << 4;
    pub const STACK_BUILD_ID: u32 = 1 << 5;
    pub const ZERO_SEED: u32 = 1 << 6;
    pub const RDONLY_PROG: u32 = 1 << 7;
    pub const WRONLY_PROG: u32 = 1 << 8;
    pub const CLONE: u32 = 1 << 9;
    pub const MMAPABLE: u32 = 1 << 10;
    pub const PRESERVE_ELEMS: u32 = 1 << 11;
    pub const INNER_MAP: u32 = 1 << 12;
    pub const LINK: u32 = 1 << 13;
    pub const PATH_FD: u32 = 1 << 14;
    pub const VTYPE_BTF_OBJ_FD: u32 = 1 << 15;
    pub const TOKEN_FD: u32 = 1 << 16;
    pub const SEGV_ON_FAULT: u32 = 1 << 17;
    pub const NO_USER_CONV: u32 = 1 << 18;
}

/// Flags of the element commands (`BPF_MAP_UPDATE_ELEM`, lookups with `F_LOCK`).
pub mod update_flags {
    /// Create a new element or update an existing one.
    pub const ANY: u64 = 0;
    /// Create a new element only if it did not exist.
    pub const NOEXIST: u64 = 1;
    /// Update an existing element only.
    pub const EXIST: u64 = 2;
    /// Take the value's `bpf_spin_lock` while copying (`BPF_F_LOCK`).
    pub const LOCK: u64 = 4;
}

/// `BPF_PROG_LOAD` flags (`prog_flags`).
pub mod prog_flags {
    #![allow(missing_docs)]
    pub const STRICT_ALIGNMENT: u32 = 1 << 0;
    pub const ANY_ALIGNMENT: u32 = 1 << 1;
    pub const TEST_RND_HI32: u32 = 1 << 2;
    pub const TEST_STATE_FREQ: u32 = 1 << 3;
    pub const SLEEPABLE: u32 = 1 << 4;
    pub const XDP_HAS_FRAGS: u32 = 1 << 5;
    pub const XDP_DEV_BOUND_ONLY: u32 = 1 << 6;
    pub const TEST_REG_INVARIANTS: u32 = 1 << 7;
    pub const TOKEN_FD: u32 = 1 << 16;
}

/// `BPF_PROG_TEST_RUN` flags.
pub mod test_run_flags {
    /// Run on the CPU given in the attribute (`BPF_F_TEST_RUN_ON_CPU`).
    pub const RUN_ON_CPU: u32 = 1 << 0;
    /// XDP live frames mode (`BPF_F_TEST_XDP_LIVE_FRAMES`).
    pub const XDP_LIVE_FRAMES: u32 = 1 << 1;
}

/// Verifier log levels (`log_level` of `BPF_PROG_LOAD` and `BPF_BTF_LOAD`).
pub mod log_level {
    /// Log errors and the instructions leading to them.
    pub const LEVEL1: u32 = 1;
    /// Log every instruction and state.
    pub const LEVEL2: u32 = 2;
    /// Append verification statistics.
    pub const STATS: u32 = 4;
    /// Fixed-size log: keep the beginning instead of rotating (6.4+).
    pub const FIXED: u32 = 8;
}

/// Ring buffer record header bits (`BPF_RINGBUF_*`).
pub mod ringbuf {
    /// The record is reserved but not yet committed.
    pub const BUSY_BIT: u32 = 1 << 31;
    /// The record was discarded.
    pub const DISCARD_BIT: u32 = 1 << 30;
    /// Size of a record header in bytes.
    pub const HDR_SZ: usize = 8;
}
