//! `bpf(2)`: one typed attribute struct and one function per command.
//!
//! Each command's attribute struct (`#[repr(C)]`, private) holds only the fields that
//! command uses, laid out as in the kernel's `union bpf_attr`, and the size passed to
//! the kernel is that struct's size (for `BPF_PROG_LOAD`: up to the last field in use).
//! A kernel that does not know a later field therefore never sees it; one that does
//! sees zeros, which is what the kernel requires ("zeroed tail": nonzero bytes past
//! what it knows fail with `E2BIG`).
//!
//! Map element access goes through [`MapAccess`], a borrowed map descriptor together
//! with the key and value sizes the kernel reported for it, so buffer lengths are
//! checked before the kernel copies into them.

use super::{owned_fd, syscall, SysError, SysResult, Syscall};
use crate::insn::{op, pseudo, Insn};
use std::ffi::{CStr, CString};
use std::fmt;
use std::mem::{offset_of, size_of, size_of_val};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Length of object names (`map_name`, `prog_name`), including the terminating NUL.
pub const BPF_OBJ_NAME_LEN: usize = 16;

/// Size of a program tag (`bpf_prog_info.tag`).
pub const BPF_TAG_SIZE: usize = 8;

/// `bpf(2)` commands (`enum bpf_cmd`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BpfCmd {
    /// `BPF_MAP_CREATE`
    MapCreate = 0,
    /// `BPF_MAP_LOOKUP_ELEM`
    MapLookupElem = 1,
    /// `BPF_MAP_UPDATE_ELEM`
    MapUpdateElem = 2,
    /// `BPF_MAP_DELETE_ELEM`
    MapDeleteElem = 3,
    /// `BPF_MAP_GET_NEXT_KEY`
    MapGetNextKey = 4,
    /// `BPF_PROG_LOAD`
    ProgLoad = 5,
    /// `BPF_OBJ_PIN`
    ObjPin = 6,
    /// `BPF_OBJ_GET`
    ObjGet = 7,
    /// `BPF_PROG_ATTACH`
    ProgAttach = 8,
    /// `BPF_PROG_DETACH`
    ProgDetach = 9,
    /// `BPF_PROG_TEST_RUN` (alias `BPF_PROG_RUN`)
    ProgTestRun = 10,
    /// `BPF_PROG_GET_NEXT_ID`
    ProgGetNextId = 11,
    /// `BPF_MAP_GET_NEXT_ID`
    MapGetNextId = 12,
    /// `BPF_PROG_GET_FD_BY_ID`
    ProgGetFdById = 13,
    /// `BPF_MAP_GET_FD_BY_ID`
    MapGetFdById = 14,
    /// `BPF_OBJ_GET_INFO_BY_FD`
    ObjGetInfoByFd = 15,
    /// `BPF_PROG_QUERY`
    ProgQuery = 16,
    /// `BPF_RAW_TRACEPOINT_OPEN`
    RawTracepointOpen = 17,
    /// `BPF_BTF_LOAD`
    BtfLoad = 18,
    /// `BPF_BTF_GET_FD_BY_ID`
    BtfGetFdById = 19,
    /// `BPF_TASK_FD_QUERY`
    TaskFdQuery = 20,
    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`
    MapLookupAndDeleteElem = 21,
    /// `BPF_MAP_FREEZE`
    MapFreeze = 22,
    /// `BPF_BTF_GET_NEXT_ID`
    BtfGetNextId = 23,
    /// `BPF_MAP_LOOKUP_BATCH`
    MapLookupBatch = 24,
    /// `BPF_MAP_LOOKUP_AND_DELETE_BATCH`
    MapLookupAndDeleteBatch = 25,
    /// `BPF_MAP_UPDATE_BATCH`
    MapUpdateBatch = 26,
    /// `BPF_MAP_DELETE_BATCH`
    MapDeleteBatch = 27,
    /// `BPF_LINK_CREATE`
    LinkCreate = 28,
    /// `BPF_LINK_UPDATE`
    LinkUpdate = 29,
    /// `BPF_LINK_GET_FD_BY_ID`
    LinkGetFdById = 30,
    /// `BPF_LINK_GET_NEXT_ID`
    LinkGetNextId = 31,
    /// `BPF_ENABLE_STATS`
    EnableStats = 32,
    /// `BPF_ITER_CREATE`
    IterCreate = 33,
    /// `BPF_LINK_DETACH`
    LinkDetach = 34,
    /// `BPF_PROG_BIND_MAP`
    ProgBindMap = 35,
    /// `BPF_TOKEN_CREATE`
    TokenCreate = 36,
}

impl BpfCmd {
    /// The kernel's name of the command, e.g. `"BPF_PROG_LOAD"`.
    pub fn name(self) -> &'static str {
        use BpfCmd::*;
        match self {
            MapCreate => "BPF_MAP_CREATE",
            MapLookupElem => "BPF_MAP_LOOKUP_ELEM",
            MapUpdateElem => "BPF_MAP_UPDATE_ELEM",
            MapDeleteElem => "BPF_MAP_DELETE_ELEM",
            MapGetNextKey => "BPF_MAP_GET_NEXT_KEY",
            ProgLoad => "BPF_PROG_LOAD",
            ObjPin => "BPF_OBJ_PIN",
            ObjGet => "BPF_OBJ_GET",
            ProgAttach => "BPF_PROG_ATTACH",
            ProgDetach => "BPF_PROG_DETACH",
            ProgTestRun => "BPF_PROG_TEST_RUN",
            ProgGetNextId => "BPF_PROG_GET_NEXT_ID",
            MapGetNextId => "BPF_MAP_GET_NEXT_ID",
            ProgGetFdById => "BPF_PROG_GET_FD_BY_ID",
            MapGetFdById => "BPF_MAP_GET_FD_BY_ID",
            ObjGetInfoByFd => "BPF_OBJ_GET_INFO_BY_FD",
            ProgQuery => "BPF_PROG_QUERY",
            RawTracepointOpen => "BPF_RAW_TRACEPOINT_OPEN",
            BtfLoad => "BPF_BTF_LOAD",
            BtfGetFdById => "BPF_BTF_GET_FD_BY_ID",
            TaskFdQuery => "BPF_TASK_FD_QUERY",
            MapLookupAndDeleteElem => "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
            MapFreeze => "BPF_MAP_FREEZE",
            BtfGetNextId => "BPF_BTF_GET_NEXT_ID",
            MapLookupBatch => "BPF_MAP_LOOKUP_BATCH",
            MapLookupAndDeleteBatch => "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
            MapUpdateBatch => "BPF_MAP_UPDATE_BATCH",
            MapDeleteBatch => "BPF_MAP_DELETE_BATCH",
            LinkCreate => "BPF_LINK_CREATE",
            LinkUpdate => "BPF_LINK_UPDATE",
            LinkGetFdById => "BPF_LINK_GET_FD_BY_ID",
            LinkGetNextId => "BPF_LINK_GET_NEXT_ID",
            EnableStats => "BPF_ENABLE_STATS",
            IterCreate => "BPF_ITER_CREATE",
            LinkDetach => "BPF_LINK_DETACH",
            ProgBindMap => "BPF_PROG_BIND_MAP",
            TokenCreate => "BPF_TOKEN_CREATE",
        }
    }

    /// True when the command's success value is a new file descriptor.
    pub fn creates_fd(self) -> bool {
        use BpfCmd::*;
        matches!(
            self,
            MapCreate
                | ProgLoad
                | ObjGet
                | ProgGetFdById
                | MapGetFdById
                | RawTracepointOpen
                | BtfLoad
                | BtfGetFdById
                | LinkCreate
                | LinkGetFdById
                | EnableStats
                | IterCreate
                | TokenCreate
        )
    }
}

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

/// Link types (`enum bpf_link_type`), as reported in [`LinkInfo::link_type`].
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

// ---------------------------------------------------------------------------------
// Attribute structs
// ---------------------------------------------------------------------------------

/// A `#[repr(C)]` struct that can be handed to the kernel as bytes.
///
/// # Safety
///
/// Implementors have no implicit padding (every byte belongs to a field), and every
/// field is an integer or an array of integers, so every byte is initialized and any
/// bit pattern the kernel writes is a valid value.
unsafe trait AttrBytes: Sized {
    /// The struct as a mutable byte slice of `size_of::<Self>()` bytes.
    fn bytes_mut(&mut self) -> &mut [u8] {
        let len = size_of::<Self>();
        // SAFETY: per the trait contract all `len` bytes are initialized and any bytes
        // written through the slice leave a valid `Self`; the slice borrows `self`.
        unsafe { std::slice::from_raw_parts_mut((self as *mut Self).cast::<u8>(), len) }
    }

    /// The struct as a byte slice.
    fn bytes(&self) -> &[u8] {
        let len = size_of::<Self>();
        // SAFETY: per the trait contract all `len` bytes are initialized.
        unsafe { std::slice::from_raw_parts((self as *const Self).cast::<u8>(), len) }
    }
}

/// Declares a `#[repr(C)]` attribute struct, asserts at compile time that it has no
/// implicit padding, and implements [`AttrBytes`] for it.
macro_rules! attr_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty ),*
        }

        const _: () = assert!(
            size_of::<$name>() == 0 $( + size_of::<$ty>() )*,
            concat!(stringify!($name), " has implicit padding"),
        );

        // SAFETY: the assertion above proves there is no implicit padding, and every
        // field type is an integer or an array of integers.
        unsafe impl AttrBytes for $name {}
    };
}

attr_struct! {
    /// `BPF_MAP_CREATE`.
    struct MapCreateRaw {
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        map_flags: u32,
        inner_map_fd: u32,
        numa_node: u32,
        map_name: [u8; BPF_OBJ_NAME_LEN],
        map_ifindex: u32,
        btf_fd: u32,
        btf_key_type_id: u32,
        btf_value_type_id: u32,
        btf_vmlinux_value_type_id: u32,
        map_extra: u64,
    }
}

attr_struct! {
    /// `BPF_MAP_*_ELEM`, `BPF_MAP_GET_NEXT_KEY`, `BPF_MAP_FREEZE`.
    struct MapElemRaw {
        map_fd: u32,
        _pad: u32,
        key: u64,
        /// `value`, or `next_key` for `BPF_MAP_GET_NEXT_KEY`.
        value: u64,
        flags: u64,
    }
}

attr_struct! {
    /// `BPF_MAP_*_BATCH`.
    struct MapBatchRaw {
        in_batch: u64,
        out_batch: u64,
        keys: u64,
        values: u64,
        count: u32,
        map_fd: u32,
        elem_flags: u64,
        flags: u64,
    }
}

attr_struct! {
    /// `BPF_PROG_LOAD`, up to `fd_array_cnt` (6.14).
    struct ProgLoadRaw {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; BPF_OBJ_NAME_LEN],
        prog_ifindex: u32,
        expected_attach_type: u32,
        prog_btf_fd: u32,
        func_info_rec_size: u32,
        func_info: u64,
        func_info_cnt: u32,
        line_info_rec_size: u32,
        line_info: u64,
        line_info_cnt: u32,
        attach_btf_id: u32,
        /// `attach_prog_fd` or `attach_btf_obj_fd` (a union in the kernel).
        attach_fd: u32,
        core_relo_cnt: u32,
        fd_array: u64,
        core_relos: u64,
        core_relo_rec_size: u32,
        log_true_size: u32,
        prog_token_fd: u32,
        fd_array_cnt: u32,
    }
}

attr_struct! {
    /// `BPF_OBJ_PIN`, `BPF_OBJ_GET`.
    struct ObjRaw {
        pathname: u64,
        bpf_fd: u32,
        file_flags: u32,
    }
}

attr_struct! {
    /// `BPF_PROG_TEST_RUN`.
    struct TestRunRaw {
        prog_fd: u32,
        retval: u32,
        data_size_in: u32,
        data_size_out: u32,
        data_in: u64,
        data_out: u64,
        repeat: u32,
        duration: u32,
        ctx_size_in: u32,
        ctx_size_out: u32,
        ctx_in: u64,
        ctx_out: u64,
        flags: u32,
        cpu: u32,
        batch_size: u32,
        _pad: u32,
    }
}

attr_struct! {
    /// `BPF_*_GET_NEXT_ID`, `BPF_*_GET_FD_BY_ID`.
    struct IdRaw {
        /// `start_id`, `prog_id`, `map_id`, `btf_id` or `link_id`.
        id: u32,
        next_id: u32,
        open_flags: u32,
    }
}

attr_struct! {
    /// `BPF_OBJ_GET_INFO_BY_FD`.
    struct InfoRaw {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
}

attr_struct! {
    /// `BPF_RAW_TRACEPOINT_OPEN`.
    struct RawTracepointRaw {
        name: u64,
        prog_fd: u32,
        _pad: u32,
    }
}

attr_struct! {
    /// `BPF_BTF_LOAD`, up to `btf_log_true_size` (6.4).
    struct BtfLoadRaw {
        btf: u64,
        btf_log_buf: u64,
        btf_size: u32,
        btf_log_size: u32,
        btf_log_level: u32,
        btf_log_true_size: u32,
    }
}

attr_struct! {
    /// `BPF_LINK_CREATE`: the common head and the per-attach-type union (48 bytes, the
    /// size of its largest member, `uprobe_multi`).
    struct LinkCreateRaw {
        prog_fd: u32,
        /// `target_fd` or `target_ifindex`.
        target: u32,
        attach_type: u32,
        flags: u32,
        extra: [u64; 6],
    }
}

attr_struct! {
    /// `BPF_LINK_DETACH`.
    struct LinkDetachRaw {
        link_fd: u32,
    }
}

/// Calls `bpf(cmd, attr, attr.len())`.
///
/// # Safety
///
/// Every pointer stored in `attr` must be valid for the kernel's accesses, as described
/// on [`syscall`].
unsafe fn bpf(cmd: BpfCmd, attr: &mut [u8]) -> SysResult<i64> {
    // SAFETY: forwarded from this function's contract.
    unsafe { syscall(Syscall::Bpf { cmd, attr }) }.map_err(|e| SysError::from_io(cmd.name(), e))
}

/// Calls a command that creates a descriptor.
///
/// # Safety
///
/// As for [`bpf`].
unsafe fn bpf_fd(cmd: BpfCmd, attr: &mut [u8]) -> SysResult<OwnedFd> {
    debug_assert!(cmd.creates_fd());
    // SAFETY: forwarded from this function's contract.
    let ret = unsafe { bpf(cmd, attr) }?;
    owned_fd(cmd.name(), ret)
}

/// A pointer as the kernel's `__aligned_u64`.
fn ptr_u64<T>(p: *const T) -> u64 {
    p as usize as u64
}

/// A descriptor as the kernel's `__u32` fd field.
fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    // A live descriptor is never negative.
    fd.as_raw_fd() as u32
}

/// A length as the kernel's `__u32`, or an error naming `what`.
fn len_u32(call: &'static str, what: &str, len: usize) -> SysResult<u32> {
    u32::try_from(len).map_err(|_| SysError::invalid(call, format!("{what} too long ({len})")))
}

/// Builds an object name the kernel accepts: only `[A-Za-z0-9_.]` kept, truncated to
/// 15 bytes, NUL-padded.
pub fn obj_name(name: &str) -> [u8; BPF_OBJ_NAME_LEN] {
    let mut out = [0u8; BPF_OBJ_NAME_LEN];
    let valid = name
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.');
    for (slot, b) in out.iter_mut().take(BPF_OBJ_NAME_LEN - 1).zip(valid) {
        *slot = b;
    }
    out
}

/// The bytes of a NUL-padded name, up to the first NUL.
fn name_bytes(name: &[u8]) -> &[u8] {
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    &name[..end]
}

// ---------------------------------------------------------------------------------
// BTF
// ---------------------------------------------------------------------------------

/// How much verifier (or BTF) log the kernel produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct LogOutcome {
    /// `log_true_size` as reported by 6.4+ kernels (the full log size including the
    /// NUL, even when it did not fit), or `None` on older kernels.
    true_size: Option<u32>,
    /// Bytes of log text in the buffer, not counting the NUL.
    written: usize,
}

impl LogOutcome {
    fn new(buf: &[u8], true_size: u32) -> Self {
        if true_size > 0 {
            let in_buf = (true_size as usize).min(buf.len());
            LogOutcome {
                true_size: Some(true_size),
                written: in_buf.saturating_sub(1),
            }
        } else {
            let written = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            LogOutcome {
                true_size: None,
                written,
            }
        }
    }
}

/// The largest log buffer the kernel accepts (`UINT_MAX >> 2`).
const MAX_LOG_SIZE: usize = (u32::MAX >> 2) as usize;

/// Attributes of `BPF_BTF_LOAD`, and after the call, how much log it produced.
#[derive(Default)]
pub struct BtfLoadAttr<'a> {
    /// The raw BTF blob (header, types, strings).
    pub btf: &'a [u8],
    /// A buffer for the kernel's BTF verifier log; only passed when `log_level != 0`.
    pub log_buf: Option<&'a mut [u8]>,
    /// The log level (see [`log_level`]); 0 = no log.
    pub log_level: u32,
    /// Output: the full log size the kernel wanted to write, including the NUL (6.4+
    /// kernels; `None` on older ones or when no log was passed). Larger than the buffer
    /// means the log was truncated.
    pub log_true_size: Option<u32>,
    /// Output: the number of log bytes in the buffer, without the NUL.
    pub log_len: usize,
}

impl<'a> BtfLoadAttr<'a> {
    /// Attributes for loading `btf` without a log.
    pub fn new(btf: &'a [u8]) -> Self {
        BtfLoadAttr {
            btf,
            ..Default::default()
        }
    }

    /// After a load: the log text in the buffer (without the NUL).
    pub fn log(&self) -> &[u8] {
        log_text(self.log_buf.as_deref(), self.log_len)
    }
}

/// The first `len` bytes of the log buffer, if any.
fn log_text(buf: Option<&[u8]>, len: usize) -> &[u8] {
    match buf {
        Some(buf) => &buf[..len.min(buf.len())],
        None => &[],
    }
}

impl fmt::Debug for BtfLoadAttr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BtfLoadAttr")
            .field("btf_len", &self.btf.len())
            .field("log_buf_len", &self.log_buf.as_ref().map(|b| b.len()))
            .field("log_level", &self.log_level)
            .field("log_true_size", &self.log_true_size)
            .field("log_len", &self.log_len)
            .finish()
    }
}

/// `BPF_BTF_LOAD`: loads a BTF blob; afterwards `attr` tells how much log was written.
pub fn btf_load_attr(attr: &mut BtfLoadAttr<'_>) -> SysResult<OwnedFd> {
    const CALL: &str = "BPF_BTF_LOAD";
    let mut raw = BtfLoadRaw {
        btf: ptr_u64(attr.btf.as_ptr()),
        btf_size: len_u32(CALL, "BTF blob", attr.btf.len())?,
        ..Default::default()
    };
    let level = attr.log_level;
    let mut log_len = 0;
    if let Some(buf) = attr
        .log_buf
        .as_deref_mut()
        .filter(|b| level != 0 && !b.is_empty())
    {
        buf[0] = 0;
        log_len = buf.len().min(MAX_LOG_SIZE);
        raw.btf_log_buf = ptr_u64(buf.as_ptr());
        raw.btf_log_size = log_len as u32;
        raw.btf_log_level = level;
    }
    // SAFETY: `btf` is valid for `btf_size` bytes; the log buffer, if any, is a live
    // writable buffer of at least `btf_log_size` bytes; both outlive the call.
    let result = unsafe { bpf_fd(BpfCmd::BtfLoad, raw.bytes_mut()) };
    let log = match attr.log_buf.as_deref() {
        Some(buf) if log_len > 0 => LogOutcome::new(&buf[..log_len], raw.btf_log_true_size),
        _ => LogOutcome::default(),
    };
    attr.log_true_size = log.true_size;
    attr.log_len = log.written;
    result
}

/// `BPF_BTF_LOAD`: loads a BTF blob, with an optional log buffer (only passed to the
/// kernel when `log_level != 0`). See [`btf_load_attr`] to learn how much log was
/// written.
pub fn btf_load(btf: &[u8], log: Option<&mut [u8]>, log_level: u32) -> SysResult<OwnedFd> {
    let mut attr = BtfLoadAttr {
        btf,
        log_buf: log,
        log_level,
        ..Default::default()
    };
    btf_load_attr(&mut attr)
}

// ---------------------------------------------------------------------------------
// Maps
// ---------------------------------------------------------------------------------

/// Attributes of `BPF_MAP_CREATE`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MapCreateAttr<'a> {
    /// One of [`map_type`].
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries (ring buffers: data size in bytes).
    pub max_entries: u32,
    /// [`map_flags`].
    pub map_flags: u32,
    /// The inner map template of a map-in-map.
    pub inner_map_fd: Option<BorrowedFd<'a>>,
    /// NUMA node (with `map_flags::NUMA_NODE`).
    pub numa_node: u32,
    /// The map's name (see [`obj_name`]).
    pub map_name: [u8; BPF_OBJ_NAME_LEN],
    /// Network device to offload to.
    pub map_ifindex: u32,
    /// BTF describing key and value.
    pub btf_fd: Option<BorrowedFd<'a>>,
    /// BTF type id of the key.
    pub btf_key_type_id: u32,
    /// BTF type id of the value.
    pub btf_value_type_id: u32,
    /// BTF type id of a kernel struct stored as the value (struct_ops).
    pub btf_vmlinux_value_type_id: u32,
    /// Per-type extra (bloom filter: number of hash functions).
    pub map_extra: u64,
}

/// `BPF_MAP_CREATE`.
pub fn map_create(attr: &MapCreateAttr<'_>) -> SysResult<OwnedFd> {
    let mut raw = MapCreateRaw {
        map_type: attr.map_type,
        key_size: attr.key_size,
        value_size: attr.value_size,
        max_entries: attr.max_entries,
        map_flags: attr.map_flags,
        inner_map_fd: attr.inner_map_fd.map_or(0, fd_u32),
        numa_node: attr.numa_node,
        map_name: attr.map_name,
        map_ifindex: attr.map_ifindex,
        btf_fd: attr.btf_fd.map_or(0, fd_u32),
        btf_key_type_id: attr.btf_key_type_id,
        btf_value_type_id: attr.btf_value_type_id,
        btf_vmlinux_value_type_id: attr.btf_vmlinux_value_type_id,
        map_extra: attr.map_extra,
    };
    // SAFETY: the attribute holds no pointers.
    unsafe { bpf_fd(BpfCmd::MapCreate, raw.bytes_mut()) }
}

/// An owned map descriptor with the geometry the kernel reported for it, so element
/// access ([`MapFd::access`]) needs no further `BPF_OBJ_GET_INFO_BY_FD`.
#[derive(Debug)]
pub struct MapFd {
    fd: OwnedFd,
    info: MapInfo,
    value_buf_size: usize,
}

impl MapFd {
    /// Takes ownership of a map descriptor and asks the kernel about it once.
    pub fn new(fd: OwnedFd) -> SysResult<Self> {
        let info = map_info(fd.as_fd())?;
        let value_buf_size = MapAccess::from_info(fd.as_fd(), &info)?.value_buf_size;
        Ok(MapFd {
            fd,
            info,
            value_buf_size,
        })
    }

    /// Checked element access to this map.
    pub fn access(&self) -> MapAccess<'_> {
        MapAccess {
            fd: self.fd.as_fd(),
            map_type: self.info.type_,
            key_size: self.info.key_size as usize,
            value_size: self.info.value_size as usize,
            value_buf_size: self.value_buf_size,
        }
    }

    /// What the kernel reported when the descriptor was wrapped.
    pub fn info(&self) -> &MapInfo {
        &self.info
    }

    /// Gives the descriptor back.
    pub fn into_inner(self) -> OwnedFd {
        self.fd
    }
}

impl AsFd for MapFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A borrowed map descriptor with the key and value sizes the kernel reported for it.
///
/// All element and batch operations take a `MapAccess`, so that every buffer can be
/// checked against what the kernel will read or write before the call: keys of
/// `key_size` bytes, values of [`value_buf_size`](Self::value_buf_size) bytes (for
/// per-CPU maps one 8-byte-aligned slot per possible CPU).
#[derive(Clone, Copy, Debug)]
pub struct MapAccess<'fd> {
    fd: BorrowedFd<'fd>,
    map_type: u32,
    key_size: usize,
    value_size: usize,
    value_buf_size: usize,
}

impl<'fd> MapAccess<'fd> {
    /// Asks the kernel about `fd` (`BPF_OBJ_GET_INFO_BY_FD`) and remembers its geometry.
    pub fn new(fd: BorrowedFd<'fd>) -> SysResult<Self> {
        let info = map_info(fd)?;
        Self::from_info(fd, &info)
    }

    /// Builds the access from an info the kernel returned for this very `fd`.
    fn from_info(fd: BorrowedFd<'fd>, info: &MapInfo) -> SysResult<Self> {
        const CALL: &str = "BPF_OBJ_GET_INFO_BY_FD";
        let value_size = info.value_size as usize;
        let value_buf_size = if map_type::is_percpu(info.type_) {
            let cpus = super::possible_cpus()? as usize;
            value_size
                .checked_next_multiple_of(8)
                .and_then(|slot| slot.checked_mul(cpus))
                .ok_or_else(|| SysError::invalid(CALL, "per-CPU value size overflows"))?
        } else {
            value_size
        };
        Ok(MapAccess {
            fd,
            map_type: info.type_,
            key_size: info.key_size as usize,
            value_size,
            value_buf_size,
        })
    }

    /// Test-only: an access with made-up geometry, for driving the element functions
    /// against injected results.
    ///
    /// # Safety
    ///
    /// If any call is allowed to reach the kernel, `fd` must be a map whose key and
    /// value sizes are at most the given ones (or not a map at all).
    #[cfg(test)]
    pub(crate) unsafe fn from_parts(
        fd: BorrowedFd<'fd>,
        map_type: u32,
        key_size: usize,
        value_size: usize,
    ) -> Self {
        MapAccess {
            fd,
            map_type,
            key_size,
            value_size,
            value_buf_size: value_size,
        }
    }

    /// The map descriptor.
    pub fn fd(&self) -> BorrowedFd<'fd> {
        self.fd
    }

    /// The map type ([`map_type`]).
    pub fn map_type(&self) -> u32 {
        self.map_type
    }

    /// Key size in bytes (0 for queues, stacks and bloom filters).
    pub fn key_size(&self) -> usize {
        self.key_size
    }

    /// Value size in bytes, as declared.
    pub fn value_size(&self) -> usize {
        self.value_size
    }

    /// Bytes the kernel reads or writes for one value from user space: `value_size`,
    /// or for per-CPU maps `round_up(value_size, 8) * possible_cpus()`.
    pub fn value_buf_size(&self) -> usize {
        self.value_buf_size
    }

    /// The key pointer for the kernel: null for key-less maps, else `key` after
    /// checking its length.
    fn key_ptr(&self, call: &'static str, key: &[u8]) -> SysResult<u64> {
        if self.key_size == 0 {
            return Ok(0);
        }
        if key.len() < self.key_size {
            return Err(SysError::invalid(
                call,
                format!(
                    "key buffer is {} bytes, map key size is {}",
                    key.len(),
                    self.key_size
                ),
            ));
        }
        Ok(ptr_u64(key.as_ptr()))
    }

    /// Checks a value buffer's length.
    fn check_value(&self, call: &'static str, len: usize) -> SysResult<()> {
        if len < self.value_buf_size {
            return Err(SysError::invalid(
                call,
                format!(
                    "value buffer is {len} bytes, map needs {}",
                    self.value_buf_size
                ),
            ));
        }
        Ok(())
    }

    /// Checks that a buffer holds `count` keys / values / a batch cursor.
    fn check_batch(
        &self,
        call: &'static str,
        count: u32,
        keys: usize,
        values: Option<usize>,
    ) -> SysResult<()> {
        let n = count as usize;
        let need_keys = n.checked_mul(self.key_size);
        if need_keys.map_or(true, |need| keys < need) {
            return Err(SysError::invalid(
                call,
                format!("keys buffer is {keys} bytes, {count} keys need more"),
            ));
        }
        if let Some(values) = values {
            let need = n.checked_mul(self.value_buf_size);
            if need.map_or(true, |need| values < need) {
                return Err(SysError::invalid(
                    call,
                    format!("values buffer is {values} bytes, {count} values need more"),
                ));
            }
        }
        Ok(())
    }

    /// Size of a batch cursor (`in_batch`/`out_batch`): a bucket index (u32) for hash
    /// maps, a key for the others; the larger of the two is required.
    pub fn batch_cursor_size(&self) -> usize {
        self.key_size.max(4)
    }

    fn check_cursor(&self, call: &'static str, what: &str, len: usize) -> SysResult<()> {
        if len < self.batch_cursor_size() {
            return Err(SysError::invalid(
                call,
                format!("{what} is {len} bytes, needs {}", self.batch_cursor_size()),
            ));
        }
        Ok(())
    }
}

/// Maps `ENOENT` to `Ok(false)`, success to `Ok(true)`.
fn found(r: SysResult<i64>) -> SysResult<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.errno() == libc::ENOENT => Ok(false),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_LOOKUP_ELEM`: copies the value of `key` into `value`; `Ok(false)` if there
/// is no such element.
pub fn map_lookup_elem(
    map: &MapAccess<'_>,
    key: &[u8],
    value: &mut [u8],
    flags: u64,
) -> SysResult<bool> {
    elem_with_value_out(BpfCmd::MapLookupElem, map, key, value, flags)
}

/// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`: pops the value of `key` (for queues and stacks the
/// key is ignored and may be empty); `Ok(false)` if there is no such element.
pub fn map_lookup_and_delete_elem(
    map: &MapAccess<'_>,
    key: &[u8],
    value: &mut [u8],
    flags: u64,
) -> SysResult<bool> {
    elem_with_value_out(BpfCmd::MapLookupAndDeleteElem, map, key, value, flags)
}

fn elem_with_value_out(
    cmd: BpfCmd,
    map: &MapAccess<'_>,
    key: &[u8],
    value: &mut [u8],
    flags: u64,
) -> SysResult<bool> {
    let call = cmd.name();
    let key = map.key_ptr(call, key)?;
    map.check_value(call, value.len())?;
    let mut raw = MapElemRaw {
        map_fd: fd_u32(map.fd),
        key,
        value: ptr_u64(value.as_mut_ptr()),
        flags,
        ..Default::default()
    };
    // SAFETY: `key` is null or readable for the map's key size, `value` writable for
    // the bytes the kernel copies out (checked against the kernel-reported geometry of
    // this very descriptor).
    found(unsafe { bpf(cmd, raw.bytes_mut()) })
}

/// `BPF_MAP_UPDATE_ELEM` with [`update_flags`] (for queues and stacks the key is
/// ignored and may be empty: this pushes `value`).
pub fn map_update_elem(map: &MapAccess<'_>, key: &[u8], value: &[u8], flags: u64) -> SysResult<()> {
    const CMD: BpfCmd = BpfCmd::MapUpdateElem;
    let key = map.key_ptr(CMD.name(), key)?;
    map.check_value(CMD.name(), value.len())?;
    let mut raw = MapElemRaw {
        map_fd: fd_u32(map.fd),
        key,
        value: ptr_u64(value.as_ptr()),
        flags,
        ..Default::default()
    };
    // SAFETY: `key` and `value` are readable for the sizes the kernel reads (checked).
    unsafe { bpf(CMD, raw.bytes_mut()) }.map(|_| ())
}

/// `BPF_MAP_DELETE_ELEM`; `Ok(false)` if there was no such element.
pub fn map_delete_elem(map: &MapAccess<'_>, key: &[u8]) -> SysResult<bool> {
    const CMD: BpfCmd = BpfCmd::MapDeleteElem;
    let key = map.key_ptr(CMD.name(), key)?;
    let mut raw = MapElemRaw {
        map_fd: fd_u32(map.fd),
        key,
        ..Default::default()
    };
    // SAFETY: `key` is readable for the map's key size (checked).
    found(unsafe { bpf(CMD, raw.bytes_mut()) })
}

/// `BPF_MAP_GET_NEXT_KEY`: writes the key after `key` (the first key when `None`) into
/// `next`; `Ok(false)` at the end.
pub fn map_get_next_key(
    map: &MapAccess<'_>,
    key: Option<&[u8]>,
    next: &mut [u8],
) -> SysResult<bool> {
    const CMD: BpfCmd = BpfCmd::MapGetNextKey;
    let key = match key {
        Some(k) => map.key_ptr(CMD.name(), k)?,
        None => 0,
    };
    if next.len() < map.key_size {
        return Err(SysError::invalid(
            CMD.name(),
            format!(
                "next-key buffer is {} bytes, map key size is {}",
                next.len(),
                map.key_size
            ),
        ));
    }
    let mut raw = MapElemRaw {
        map_fd: fd_u32(map.fd),
        key,
        value: ptr_u64(next.as_mut_ptr()),
        ..Default::default()
    };
    // SAFETY: `key` is null or readable for the key size, `next` writable for it.
    found(unsafe { bpf(CMD, raw.bytes_mut()) })
}

/// `BPF_MAP_FREEZE`: makes the map read-only for user space.
pub fn map_freeze(fd: BorrowedFd<'_>) -> SysResult<()> {
    let mut raw = MapElemRaw {
        map_fd: fd_u32(fd),
        ..Default::default()
    };
    // SAFETY: no pointers.
    unsafe { bpf(BpfCmd::MapFreeze, raw.bytes_mut()) }.map(|_| ())
}

/// `BPF_MAP_LOOKUP_BATCH`: reads up to `*count` elements starting after the cursor
/// `in_batch` (from the start when `None`) into `keys` and `values`, and the cursor to
/// continue from into `out_batch` (at least [`MapAccess::batch_cursor_size`] bytes).
///
/// On return `*count` is the number of elements read. Returns `Ok(true)` if more may
/// follow, `Ok(false)` when the end of the map was reached (the `count` elements read
/// are still valid). `ENOSPC` means a hash bucket holds more elements than `count`.
#[allow(clippy::too_many_arguments)]
pub fn map_lookup_batch(
    map: &MapAccess<'_>,
    in_batch: Option<&[u8]>,
    out_batch: &mut [u8],
    keys: &mut [u8],
    values: &mut [u8],
    count: &mut u32,
    elem_flags: u64,
    flags: u64,
) -> SysResult<bool> {
    batch_read(
        BpfCmd::MapLookupBatch,
        map,
        in_batch,
        out_batch,
        keys,
        values,
        count,
        elem_flags,
        flags,
    )
}

/// `BPF_MAP_LOOKUP_AND_DELETE_BATCH`: as [`map_lookup_batch`], deleting what it read.
#[allow(clippy::too_many_arguments)]
pub fn map_lookup_and_delete_batch(
    map: &MapAccess<'_>,
    in_batch: Option<&[u8]>,
    out_batch: &mut [u8],
    keys: &mut [u8],
    values: &mut [u8],
    count: &mut u32,
    elem_flags: u64,
    flags: u64,
) -> SysResult<bool> {
    batch_read(
        BpfCmd::MapLookupAndDeleteBatch,
        map,
        in_batch,
        out_batch,
        keys,
        values,
        count,
        elem_flags,
        flags,
    )
}

#[allow(clippy::too_many_arguments)]
fn batch_read(
    cmd: BpfCmd,
    map: &MapAccess<'_>,
    in_batch: Option<&[u8]>,
    out_batch: &mut [u8],
    keys: &mut [u8],
    values: &mut [u8],
    count: &mut u32,
    elem_flags: u64,
    flags: u64,
) -> SysResult<bool> {
    let call = cmd.name();
    if let Some(cursor) = in_batch {
        map.check_cursor(call, "in_batch", cursor.len())?;
    }
    map.check_cursor(call, "out_batch", out_batch.len())?;
    map.check_batch(call, *count, keys.len(), Some(values.len()))?;
    let mut raw = MapBatchRaw {
        in_batch: in_batch.map_or(0, |c| ptr_u64(c.as_ptr())),
        out_batch: ptr_u64(out_batch.as_mut_ptr()),
        keys: ptr_u64(keys.as_mut_ptr()),
        values: ptr_u64(values.as_mut_ptr()),
        count: *count,
        map_fd: fd_u32(map.fd),
        elem_flags,
        flags,
    };
    // SAFETY: the cursors hold at least a cursor's size, `keys` and `values` at least
    // `count` keys and values of the kernel-reported sizes (all checked above).
    let r = unsafe { bpf(cmd, raw.bytes_mut()) };
    *count = raw.count.min(*count);
    found(r)
}

/// `BPF_MAP_UPDATE_BATCH`: writes `*count` elements from `keys` and `values`. On return
/// (also on error) `*count` is the number of elements written.
pub fn map_update_batch(
    map: &MapAccess<'_>,
    keys: &[u8],
    values: &[u8],
    count: &mut u32,
    elem_flags: u64,
    flags: u64,
) -> SysResult<()> {
    const CMD: BpfCmd = BpfCmd::MapUpdateBatch;
    map.check_batch(CMD.name(), *count, keys.len(), Some(values.len()))?;
    let mut raw = MapBatchRaw {
        keys: ptr_u64(keys.as_ptr()),
        values: ptr_u64(values.as_ptr()),
        count: *count,
        map_fd: fd_u32(map.fd),
        elem_flags,
        flags,
        ..Default::default()
    };
    // SAFETY: `keys` and `values` hold `count` keys and values (checked).
    let r = unsafe { bpf(CMD, raw.bytes_mut()) };
    *count = raw.count.min(*count);
    r.map(|_| ())
}

/// `BPF_MAP_DELETE_BATCH`: deletes `*count` keys from `keys`. On return (also on error)
/// `*count` is the number of elements deleted.
pub fn map_delete_batch(
    map: &MapAccess<'_>,
    keys: &[u8],
    count: &mut u32,
    elem_flags: u64,
    flags: u64,
) -> SysResult<()> {
    const CMD: BpfCmd = BpfCmd::MapDeleteBatch;
    map.check_batch(CMD.name(), *count, keys.len(), None)?;
    let mut raw = MapBatchRaw {
        keys: ptr_u64(keys.as_ptr()),
        count: *count,
        map_fd: fd_u32(map.fd),
        elem_flags,
        flags,
        ..Default::default()
    };
    // SAFETY: `keys` holds `count` keys (checked).
    let r = unsafe { bpf(CMD, raw.bytes_mut()) };
    *count = raw.count.min(*count);
    r.map(|_| ())
}

// ---------------------------------------------------------------------------------
// Programs
// ---------------------------------------------------------------------------------

/// Attributes of `BPF_PROG_LOAD`, and after the call, how much verifier log it produced.
///
/// Build with [`ProgLoadAttr::new`] (or a struct literal with `..Default::default()`)
/// and set the public fields. The size passed to the kernel covers the fields up to the
/// last one in use (through `log_true_size` when a log is requested), so kernels that
/// predate an unused field accept the call.
#[derive(Default)]
pub struct ProgLoadAttr<'a> {
    /// One of [`prog_type`].
    pub prog_type: u32,
    /// The instructions.
    pub insns: &'a [Insn],
    /// The license, e.g. `c"GPL"`.
    pub license: &'a CStr,
    /// Verifier log level ([`log_level`]); the log buffer is only passed when nonzero.
    pub log_level: u32,
    /// Buffer for the verifier log.
    pub log_buf: Option<&'a mut [u8]>,
    /// `LINUX_VERSION_CODE` (checked for kprobes by kernels before 5.0).
    pub kern_version: u32,
    /// [`prog_flags`].
    pub prog_flags: u32,
    /// The program's name (see [`obj_name`]).
    pub prog_name: [u8; BPF_OBJ_NAME_LEN],
    /// Network device to offload to.
    pub prog_ifindex: u32,
    /// Expected attach type ([`attach_type`]).
    pub expected_attach_type: u32,
    /// BTF of the program (for `func_info` / `line_info`).
    pub prog_btf_fd: Option<BorrowedFd<'a>>,
    /// `bpf_func_info` records, `func_info_rec_size` bytes each.
    pub func_info: &'a [u8],
    /// Size of one `bpf_func_info` record.
    pub func_info_rec_size: u32,
    /// `bpf_line_info` records, `line_info_rec_size` bytes each.
    pub line_info: &'a [u8],
    /// Size of one `bpf_line_info` record.
    pub line_info_rec_size: u32,
    /// BTF type id of the attach target (fentry, lsm, tp_btf, …).
    pub attach_btf_id: u32,
    /// Module BTF object holding `attach_btf_id` (none = vmlinux).
    pub attach_btf_obj_fd: Option<BorrowedFd<'a>>,
    /// Program to attach to (freplace, fentry on a BPF program); exclusive with
    /// `attach_btf_obj_fd`.
    pub attach_prog_fd: Option<BorrowedFd<'a>>,
    /// Descriptors referenced by index from `ld_imm64` (`BPF_PSEUDO_MAP_IDX*`) and kfunc
    /// calls (5.14+). Every index the instructions use must be inside the array (checked
    /// before the call).
    pub fd_array: Option<&'a [BorrowedFd<'a>]>,
    /// Also pass `fd_array_cnt` (6.14+): binds every map in `fd_array` to the program.
    pub bind_fd_array: bool,
    /// Output: the full log size the kernel wanted to write, including the NUL (6.4+
    /// kernels; `None` on older ones or when no log was passed). Larger than the buffer
    /// means the log was truncated (and the load failed with `ENOSPC`).
    pub log_true_size: Option<u32>,
    /// Output: the number of log bytes in the buffer, without the NUL (from
    /// `log_true_size`, or by scanning for the NUL on older kernels).
    pub log_len: usize,
}

// `fd_array` is handed to the kernel as an array of `int`.
const _: () = assert!(size_of::<BorrowedFd<'static>>() == size_of::<std::ffi::c_int>());
const _: () = assert!(size_of::<Insn>() == 8);

impl<'a> ProgLoadAttr<'a> {
    /// Attributes for loading `insns` as a `prog_type` program under `license`.
    pub fn new(prog_type: u32, insns: &'a [Insn], license: &'a CStr) -> Self {
        ProgLoadAttr {
            prog_type,
            insns,
            license,
            ..Default::default()
        }
    }

    /// After a load: the log text in the buffer (without the NUL).
    pub fn log(&self) -> &[u8] {
        log_text(self.log_buf.as_deref(), self.log_len)
    }

    /// After a load: `log_true_size` as a byte count — what the kernel reported it wrote
    /// (or wanted to: it may exceed the buffer), including the NUL; `None` when the
    /// kernel does not report it (before 6.4) or no log was passed, in which case the
    /// text ends at the first NUL (see [`log_len`](Self::log_len)).
    pub fn log_written(&self) -> Option<usize> {
        self.log_true_size.map(|n| n as usize)
    }

    /// Builds the kernel attribute and the size to pass. Returns the length of the log
    /// buffer actually passed (0 = none).
    fn build_raw(
        &self,
        log_buf: Option<&mut [u8]>,
        level: u32,
    ) -> SysResult<(ProgLoadRaw, usize, usize)> {
        const CALL: &str = "BPF_PROG_LOAD";
        let mut raw = ProgLoadRaw {
            prog_type: self.prog_type,
            insn_cnt: len_u32(CALL, "instruction count", self.insns.len())?,
            insns: ptr_u64(self.insns.as_ptr()),
            license: ptr_u64(self.license.as_ptr()),
            kern_version: self.kern_version,
            prog_flags: self.prog_flags,
            prog_name: self.prog_name,
            prog_ifindex: self.prog_ifindex,
            expected_attach_type: self.expected_attach_type,
            prog_btf_fd: self.prog_btf_fd.map_or(0, fd_u32),
            attach_btf_id: self.attach_btf_id,
            ..Default::default()
        };
        let records = |what: &str, data: &[u8], rec: u32| -> SysResult<(u64, u32, u32)> {
            if data.is_empty() {
                return Ok((0, 0, 0));
            }
            if rec == 0 || data.len() % rec as usize != 0 {
                return Err(SysError::invalid(
                    CALL,
                    format!(
                        "{what} is {} bytes, not a multiple of record size {rec}",
                        data.len()
                    ),
                ));
            }
            let cnt = len_u32(CALL, what, data.len() / rec as usize)?;
            Ok((ptr_u64(data.as_ptr()), cnt, rec))
        };
        (raw.func_info, raw.func_info_cnt, raw.func_info_rec_size) =
            records("func_info", self.func_info, self.func_info_rec_size)?;
        (raw.line_info, raw.line_info_cnt, raw.line_info_rec_size) =
            records("line_info", self.line_info, self.line_info_rec_size)?;
        raw.attach_fd = match (self.attach_btf_obj_fd, self.attach_prog_fd) {
            (Some(_), Some(_)) => {
                return Err(SysError::invalid(
                    CALL,
                    "attach_btf_obj_fd and attach_prog_fd are exclusive",
                ))
            }
            (Some(fd), None) | (None, Some(fd)) => fd_u32(fd),
            (None, None) => 0,
        };
        check_fd_array_refs(self.insns, self.fd_array.map(|f| f.len()))
            .map_err(|msg| SysError::invalid(CALL, msg))?;
        if let Some(fds) = self.fd_array {
            raw.fd_array = ptr_u64(fds.as_ptr());
            if self.bind_fd_array {
                raw.fd_array_cnt = len_u32(CALL, "fd_array", fds.len())?;
            }
        }
        let mut log_len = 0;
        if let Some(buf) = log_buf.filter(|b| level != 0 && !b.is_empty()) {
            buf[0] = 0;
            log_len = buf.len().min(MAX_LOG_SIZE);
            raw.log_level = level;
            raw.log_size = log_len as u32;
            raw.log_buf = ptr_u64(buf.as_ptr());
        }
        let mut size = used_size(raw.bytes(), &prog_load_field_ends());
        if log_len > 0 {
            // Ask for log_true_size: a zero field older kernels accept.
            size = size.max(offset_of!(ProgLoadRaw, log_true_size) + 4);
        }
        Ok((raw, size, log_len))
    }
}

impl fmt::Debug for ProgLoadAttr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgLoadAttr")
            .field("prog_type", &self.prog_type)
            .field("insn_cnt", &self.insns.len())
            .field("license", &self.license)
            .field("log_level", &self.log_level)
            .field("log_buf_len", &self.log_buf.as_ref().map(|b| b.len()))
            .field("prog_flags", &self.prog_flags)
            .field(
                "prog_name",
                &String::from_utf8_lossy(name_bytes(&self.prog_name)),
            )
            .field("expected_attach_type", &self.expected_attach_type)
            .field("attach_btf_id", &self.attach_btf_id)
            .field("fd_array_len", &self.fd_array.map(|f| f.len()))
            .field("log_true_size", &self.log_true_size)
            .field("log_len", &self.log_len)
            .finish_non_exhaustive()
    }
}

/// Checks that every `fd_array` index the instructions use (`ld_imm64` with
/// `BPF_PSEUDO_MAP_IDX[_VALUE]`, kfunc calls with a module BTF slot in `off`) lies
/// inside the array, since the kernel reads `fd_array[index]` without knowing its
/// length. Without an array the kernel rejects such instructions without reading.
fn check_fd_array_refs(insns: &[Insn], fd_array_len: Option<usize>) -> Result<(), String> {
    let Some(len) = fd_array_len else {
        return Ok(());
    };
    let mut i = 0;
    while i < insns.len() {
        let ins = insns[i];
        let index = if ins.code == op::LD_IMM64
            && matches!(ins.src(), pseudo::MAP_IDX | pseudo::MAP_IDX_VALUE)
        {
            Some(ins.imm as u32 as usize)
        } else if ins.code == op::CALL && ins.src() == pseudo::KFUNC_CALL && ins.off > 0 {
            Some(ins.off as usize)
        } else {
            None
        };
        if let Some(index) = index.filter(|&idx| idx >= len) {
            return Err(format!(
                "instruction {i} uses fd_array[{index}], but fd_array has {len} entries"
            ));
        }
        i += if ins.code == op::LD_IMM64 { 2 } else { 1 };
    }
    Ok(())
}

/// The end offset of every field of [`ProgLoadRaw`], in order.
fn prog_load_field_ends() -> [usize; 28] {
    let r = ProgLoadRaw::default();
    macro_rules! ends {
        ($($f:ident),*) => { [$(offset_of!(ProgLoadRaw, $f) + size_of_val(&r.$f)),*] };
    }
    ends!(
        prog_type,
        insn_cnt,
        insns,
        license,
        log_level,
        log_size,
        log_buf,
        kern_version,
        prog_flags,
        prog_name,
        prog_ifindex,
        expected_attach_type,
        prog_btf_fd,
        func_info_rec_size,
        func_info,
        func_info_cnt,
        line_info_rec_size,
        line_info,
        line_info_cnt,
        attach_btf_id,
        attach_fd,
        core_relo_cnt,
        fd_array,
        core_relos,
        core_relo_rec_size,
        log_true_size,
        prog_token_fd,
        fd_array_cnt
    )
}

/// The attribute size covering every field up to the last nonzero byte: the end of the
/// first field (in `ends`, ascending) that ends past that byte; 0 if all bytes are zero.
fn used_size(bytes: &[u8], ends: &[usize]) -> usize {
    match bytes.iter().rposition(|&b| b != 0) {
        None => 0,
        Some(last) => ends
            .iter()
            .copied()
            .find(|&end| end > last)
            .unwrap_or(bytes.len()),
    }
}

/// `BPF_PROG_LOAD`. On return (success or failure) `attr` tells how much verifier log
/// was written into `attr.log_buf` ([`ProgLoadAttr::log`], `log_true_size`,
/// `log_len`). Retries a few times on `EAGAIN`, as libbpf does.
pub fn prog_load(attr: &mut ProgLoadAttr<'_>) -> SysResult<OwnedFd> {
    let mut log = attr.log_buf.take();
    let level = attr.log_level;
    let result = prog_load_inner(attr, log.as_deref_mut(), level);
    attr.log_buf = log;
    result
}

/// `BPF_PROG_LOAD` with a log buffer passed separately (`attr.log_buf` and
/// `attr.log_level` are ignored), so a retry loop can try growing buffers without
/// rebuilding the attributes. On return `attr.log_true_size` / `attr.log_len` describe
/// what was written into `log_buf`.
pub fn prog_load_with_log(
    attr: &mut ProgLoadAttr<'_>,
    log_buf: &mut [u8],
    log_level: u32,
) -> SysResult<OwnedFd> {
    prog_load_inner(attr, Some(log_buf), log_level)
}

fn prog_load_inner(
    attr: &mut ProgLoadAttr<'_>,
    mut log_buf: Option<&mut [u8]>,
    level: u32,
) -> SysResult<OwnedFd> {
    let (mut raw, size, log_len) = attr.build_raw(log_buf.as_deref_mut(), level)?;
    let mut result;
    let mut attempts = 5;
    loop {
        // SAFETY: every pointer in `raw` comes from a slice or CStr borrowed by `attr`
        // (or `log_buf`) for the whole call, with the matching count or size beside it:
        // insns (insn_cnt), license (NUL-terminated), log buffer (log_size, writable),
        // func/line info (cnt * rec size), fd_array (every index the instructions use is
        // inside it, checked by `check_fd_array_refs`; fd_array_cnt, when bound, is its
        // length).
        result = unsafe { bpf_fd(BpfCmd::ProgLoad, &mut raw.bytes_mut()[..size]) };
        attempts -= 1;
        match &result {
            Err(e) if e.errno() == libc::EAGAIN && attempts > 0 => continue,
            _ => break,
        }
    }
    let log = match log_buf {
        Some(buf) if log_len > 0 => LogOutcome::new(&buf[..log_len], raw.log_true_size),
        _ => LogOutcome::default(),
    };
    attr.log_true_size = log.true_size;
    attr.log_len = log.written;
    result
}

/// What `BPF_PROG_TEST_RUN` reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestRunResult {
    /// The program's return value.
    pub retval: u32,
    /// Average run time in nanoseconds.
    pub duration: u32,
    /// Bytes of output data (may exceed the buffer, then the call fails with ENOSPC).
    pub data_size_out: u32,
    /// Bytes of output context.
    pub ctx_size_out: u32,
}

/// `BPF_PROG_TEST_RUN`: runs the program `repeat` times on `data_in` (and `ctx_in`),
/// copying the resulting packet and context into `data_out` / `ctx_out`.
pub fn prog_test_run(
    prog_fd: BorrowedFd<'_>,
    data_in: &[u8],
    data_out: Option<&mut [u8]>,
    ctx_in: Option<&[u8]>,
    ctx_out: Option<&mut [u8]>,
    repeat: u32,
    flags: u32,
) -> SysResult<TestRunResult> {
    const CMD: BpfCmd = BpfCmd::ProgTestRun;
    let call = CMD.name();
    let opt_in = |b: &[u8]| if b.is_empty() { 0 } else { ptr_u64(b.as_ptr()) };
    let mut raw = TestRunRaw {
        prog_fd: fd_u32(prog_fd),
        data_size_in: len_u32(call, "data_in", data_in.len())?,
        data_in: opt_in(data_in),
        repeat,
        flags,
        ..Default::default()
    };
    let opt_out = |b: &mut [u8]| {
        if b.is_empty() {
            0
        } else {
            ptr_u64(b.as_mut_ptr())
        }
    };
    if let Some(out) = data_out {
        raw.data_size_out = len_u32(call, "data_out", out.len())?;
        raw.data_out = opt_out(out);
    }
    if let Some(ctx) = ctx_in {
        raw.ctx_size_in = len_u32(call, "ctx_in", ctx.len())?;
        raw.ctx_in = opt_in(ctx);
    }
    if let Some(out) = ctx_out {
        raw.ctx_size_out = len_u32(call, "ctx_out", out.len())?;
        raw.ctx_out = opt_out(out);
    }
    // SAFETY: inputs are readable and outputs writable for the sizes beside them; the
    // kernel never copies more than `*_size_out` bytes out (it fails with ENOSPC).
    unsafe { bpf(CMD, raw.bytes_mut()) }?;
    Ok(TestRunResult {
        retval: raw.retval,
        duration: raw.duration,
        data_size_out: raw.data_size_out,
        ctx_size_out: raw.ctx_size_out,
    })
}

// ---------------------------------------------------------------------------------
// Pinning
// ---------------------------------------------------------------------------------

fn path_cstring(call: &'static str, path: &Path) -> SysResult<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        SysError::invalid(call, format!("path {} contains a NUL byte", path.display()))
    })
}

/// `BPF_OBJ_PIN`: pins a map, program, link or BTF at `path` on a bpffs.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> SysResult<()> {
    const CMD: BpfCmd = BpfCmd::ObjPin;
    let path = path_cstring(CMD.name(), path)?;
    let mut raw = ObjRaw {
        pathname: ptr_u64(path.as_ptr()),
        bpf_fd: fd_u32(fd),
        file_flags: 0,
    };
    // SAFETY: `pathname` is a NUL-terminated string that outlives the call.
    unsafe { bpf(CMD, raw.bytes_mut()) }.map(|_| ())
}

/// `BPF_OBJ_GET`: opens the object pinned at `path`; `flags` are `map_flags::RDONLY` /
/// `WRONLY` or 0.
pub fn obj_get(path: &Path, flags: u32) -> SysResult<OwnedFd> {
    const CMD: BpfCmd = BpfCmd::ObjGet;
    let path = path_cstring(CMD.name(), path)?;
    let mut raw = ObjRaw {
        pathname: ptr_u64(path.as_ptr()),
        bpf_fd: 0,
        file_flags: flags,
    };
    // SAFETY: `pathname` is a NUL-terminated string that outlives the call.
    unsafe { bpf_fd(CMD, raw.bytes_mut()) }
}

// ---------------------------------------------------------------------------------
// Links and attachment
// ---------------------------------------------------------------------------------

/// What a `BPF_LINK_CREATE` attaches to.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum LinkTarget<'a> {
    /// Nothing (fentry/fexit/lsm on vmlinux, iterators, kprobe_multi): target 0.
    None,
    /// A descriptor: perf event, cgroup, netns, target program, ….
    Fd(BorrowedFd<'a>),
    /// A network interface (XDP, tcx, netkit).
    Ifindex(u32),
}

/// The attach-type-specific part of `BPF_LINK_CREATE`.
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub enum LinkCreateExtra {
    /// No extra attributes.
    #[default]
    None,
    /// `BPF_PERF_EVENT`: a cookie for `bpf_get_attach_cookie()`.
    PerfEvent {
        /// The cookie.
        bpf_cookie: u64,
    },
    /// fentry/fexit/fmod_ret/lsm/freplace: the BTF id of the target and a cookie
    /// (the cookie needs 6.6+; leave 0 otherwise).
    Tracing {
        /// BTF id of the target function within the target object.
        target_btf_id: u32,
        /// The cookie.
        cookie: u64,
    },
}

impl LinkCreateExtra {
    /// The union bytes as 8-byte words, and how many bytes of the union are in use.
    fn encode(&self) -> ([u64; 6], usize) {
        let mut words = [0u64; 6];
        match *self {
            LinkCreateExtra::None => (words, 0),
            LinkCreateExtra::PerfEvent { bpf_cookie } => {
                words[0] = bpf_cookie;
                (words, 8)
            }
            LinkCreateExtra::Tracing {
                target_btf_id,
                cookie,
            } => {
                // `target_btf_id` is a u32 at union offset 0, then 4 bytes of padding.
                let mut first = [0u8; 8];
                first[..4].copy_from_slice(&target_btf_id.to_ne_bytes());
                words[0] = u64::from_ne_bytes(first);
                words[1] = cookie;
                (words, if cookie != 0 { 16 } else { 4 })
            }
        }
    }
}

/// `BPF_LINK_CREATE`: attaches `prog_fd` to `target` as `attach_type` and returns the
/// link. The size passed covers the common fields and the part of the union `extra`
/// uses.
pub fn link_create(
    prog_fd: BorrowedFd<'_>,
    target: LinkTarget<'_>,
    attach_type: u32,
    flags: u32,
    extra: LinkCreateExtra,
) -> SysResult<OwnedFd> {
    let (words, extra_len) = extra.encode();
    let mut raw = LinkCreateRaw {
        prog_fd: fd_u32(prog_fd),
        target: match target {
            LinkTarget::None => 0,
            LinkTarget::Fd(fd) => fd_u32(fd),
            LinkTarget::Ifindex(i) => i,
        },
        attach_type,
        flags,
        extra: words,
    };
    let size = offset_of!(LinkCreateRaw, extra) + extra_len;
    // SAFETY: none of the supported union members holds a pointer.
    unsafe { bpf_fd(BpfCmd::LinkCreate, &mut raw.bytes_mut()[..size]) }
}

/// `BPF_F_KPROBE_MULTI_RETURN`: a `kprobe_multi` link on function returns.
pub const KPROBE_MULTI_RETURN: u32 = 1 << 0;

/// The functions of a `kprobe_multi` link: by name or by address.
#[derive(Clone, Copy, Debug)]
pub enum KprobeMultiTargets<'a> {
    /// Kernel function names (`kprobe_multi.syms`); the kernel sorts and resolves them.
    Symbols(&'a [&'a CStr]),
    /// Kernel function addresses (`kprobe_multi.addrs`).
    Addresses(&'a [u64]),
}

/// `BPF_LINK_CREATE` with `BPF_TRACE_KPROBE_MULTI` (5.18): attaches `prog_fd` (loaded
/// with that expected attach type) to every function of `targets` at once. `flags` is 0
/// or [`KPROBE_MULTI_RETURN`]; `cookies`, when given, has one entry per function.
///
/// The union part is `kprobe_multi { u32 flags; u32 cnt; u64 syms; u64 addrs;
/// u64 cookies; }` at offset 16 of the attribute: 48 bytes are passed.
pub fn link_create_kprobe_multi(
    prog_fd: BorrowedFd<'_>,
    flags: u32,
    targets: KprobeMultiTargets<'_>,
    cookies: Option<&[u64]>,
) -> SysResult<OwnedFd> {
    const CALL: &str = "BPF_LINK_CREATE";
    // The name pointers, kept alive (with the names they point to) until the call returns.
    let sym_ptrs: Vec<u64>;
    let (count, syms, addrs) = match targets {
        KprobeMultiTargets::Symbols(names) => {
            sym_ptrs = names.iter().map(|n| ptr_u64(n.as_ptr())).collect();
            (names.len(), ptr_u64(sym_ptrs.as_ptr()), 0)
        }
        KprobeMultiTargets::Addresses(a) => (a.len(), 0, ptr_u64(a.as_ptr())),
    };
    if count == 0 {
        return Err(SysError::invalid(
            CALL,
            "kprobe_multi needs at least one function",
        ));
    }
    let cnt = len_u32(CALL, "kprobe_multi function list", count)?;
    let cookies = match cookies {
        Some(c) if c.len() != count => {
            return Err(SysError::invalid(
                CALL,
                format!("{} cookies for {count} functions", c.len()),
            ))
        }
        Some(c) => ptr_u64(c.as_ptr()),
        None => 0,
    };
    let mut head = [0u8; 8];
    head[..4].copy_from_slice(&flags.to_ne_bytes());
    head[4..].copy_from_slice(&cnt.to_ne_bytes());
    let mut raw = LinkCreateRaw {
        prog_fd: fd_u32(prog_fd),
        target: 0,
        attach_type: attach_type::TRACE_KPROBE_MULTI,
        flags: 0,
        extra: [u64::from_ne_bytes(head), syms, addrs, cookies, 0, 0],
    };
    let size = offset_of!(LinkCreateRaw, extra) + 32;
    // SAFETY: `syms` points to `cnt` pointers to NUL-terminated strings (`sym_ptrs` and
    // the borrowed names), or `addrs` to `cnt` u64s; `cookies` is null or points to `cnt`
    // u64s. The kernel only reads them, and all outlive the call.
    unsafe { bpf_fd(BpfCmd::LinkCreate, &mut raw.bytes_mut()[..size]) }
}

/// `BPF_LINK_DETACH`: detaches the link from its target, leaving the link fd defunct.
pub fn link_detach(link_fd: BorrowedFd<'_>) -> SysResult<()> {
    let mut raw = LinkDetachRaw {
        link_fd: fd_u32(link_fd),
    };
    // SAFETY: no pointers.
    unsafe { bpf(BpfCmd::LinkDetach, raw.bytes_mut()) }.map(|_| ())
}

/// `BPF_RAW_TRACEPOINT_OPEN`: attaches a raw tracepoint program to the tracepoint
/// `name`, or (with `None`) a tp_btf/fentry/fexit/lsm program to the target it was
/// loaded for.
pub fn raw_tracepoint_open(name: Option<&CStr>, prog_fd: BorrowedFd<'_>) -> SysResult<OwnedFd> {
    let mut raw = RawTracepointRaw {
        name: name.map_or(0, |n| ptr_u64(n.as_ptr())),
        prog_fd: fd_u32(prog_fd),
        _pad: 0,
    };
    // SAFETY: `name` is null or a NUL-terminated string that outlives the call.
    unsafe { bpf_fd(BpfCmd::RawTracepointOpen, raw.bytes_mut()) }
}

// ---------------------------------------------------------------------------------
// Object information
// ---------------------------------------------------------------------------------

attr_struct! {
    /// The kernel's `struct bpf_prog_info` (through `attach_btf_id`, 5.18+; older
    /// kernels fill a prefix and leave the rest zero).
    ///
    /// Returned by [`prog_info`] with every user-pointer field left zero, so the kernel
    /// fills only the scalar fields.
    pub struct ProgInfo {
        /// Program type ([`prog_type`]).
        pub type_: u32,
        /// Program id.
        pub id: u32,
        /// Program tag (hash of the instructions).
        pub tag: [u8; BPF_TAG_SIZE],
        /// Length of the JITed image.
        pub jited_prog_len: u32,
        /// Length of the translated instructions, in bytes.
        pub xlated_prog_len: u32,
        /// User pointer for the JITed image (zero here).
        pub jited_prog_insns: u64,
        /// User pointer for the translated instructions (zero here).
        pub xlated_prog_insns: u64,
        /// Load time, in ns since boot.
        pub load_time: u64,
        /// Uid of the loader.
        pub created_by_uid: u32,
        /// Number of maps the program uses.
        pub nr_map_ids: u32,
        /// User pointer for map ids (zero here; see [`prog_map_ids`]).
        pub map_ids: u64,
        /// Program name, NUL-padded.
        pub name: [u8; BPF_OBJ_NAME_LEN],
        /// Offload device.
        pub ifindex: u32,
        /// Bit 0: the license is GPL-compatible.
        pub gpl_compatible: u32,
        /// Network namespace device of the offload device.
        pub netns_dev: u64,
        /// Network namespace inode of the offload device.
        pub netns_ino: u64,
        /// Number of JITed kernel symbols.
        pub nr_jited_ksyms: u32,
        /// Number of JITed function lengths.
        pub nr_jited_func_lens: u32,
        /// User pointer (zero here).
        pub jited_ksyms: u64,
        /// User pointer (zero here).
        pub jited_func_lens: u64,
        /// BTF object id of the program's BTF.
        pub btf_id: u32,
        /// Size of one func_info record.
        pub func_info_rec_size: u32,
        /// User pointer (zero here).
        pub func_info: u64,
        /// Number of func_info records.
        pub nr_func_info: u32,
        /// Number of line_info records.
        pub nr_line_info: u32,
        /// User pointer (zero here).
        pub line_info: u64,
        /// User pointer (zero here).
        pub jited_line_info: u64,
        /// Number of JITed line_info records.
        pub nr_jited_line_info: u32,
        /// Size of one line_info record.
        pub line_info_rec_size: u32,
        /// Size of one JITed line_info record.
        pub jited_line_info_rec_size: u32,
        /// Number of program tags (subprograms).
        pub nr_prog_tags: u32,
        /// User pointer (zero here).
        pub prog_tags: u64,
        /// Total run time in ns (with stats enabled).
        pub run_time_ns: u64,
        /// Run count (with stats enabled).
        pub run_cnt: u64,
        /// Runs skipped because of recursion.
        pub recursion_misses: u64,
        /// Instructions processed by the verifier.
        pub verified_insns: u32,
        /// BTF object id of the attach target.
        pub attach_btf_obj_id: u32,
        /// BTF type id of the attach target.
        pub attach_btf_id: u32,
        /// Padding.
        pub _pad: u32,
    }
}

impl ProgInfo {
    /// The program name.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(name_bytes(&self.name)).into_owned()
    }

    /// Whether the license is GPL-compatible.
    pub fn is_gpl_compatible(&self) -> bool {
        // A one-bit bitfield: bit 0 on little-endian, the top bit on big-endian.
        let bit = if cfg!(target_endian = "little") {
            1
        } else {
            1 << 31
        };
        self.gpl_compatible & bit != 0
    }
}

attr_struct! {
    /// The kernel's `struct bpf_map_info` (through `map_extra`, 5.16+).
    pub struct MapInfo {
        /// Map type ([`map_type`]).
        pub type_: u32,
        /// Map id.
        pub id: u32,
        /// Key size.
        pub key_size: u32,
        /// Value size.
        pub value_size: u32,
        /// Maximum entries.
        pub max_entries: u32,
        /// [`map_flags`].
        pub map_flags: u32,
        /// Map name, NUL-padded.
        pub name: [u8; BPF_OBJ_NAME_LEN],
        /// Offload device.
        pub ifindex: u32,
        /// BTF type id of a kernel value type (struct_ops).
        pub btf_vmlinux_value_type_id: u32,
        /// Network namespace device of the offload device.
        pub netns_dev: u64,
        /// Network namespace inode of the offload device.
        pub netns_ino: u64,
        /// BTF object id.
        pub btf_id: u32,
        /// BTF type id of the key.
        pub btf_key_type_id: u32,
        /// BTF type id of the value.
        pub btf_value_type_id: u32,
        /// Padding.
        pub _pad: u32,
        /// Per-type extra.
        pub map_extra: u64,
    }
}

impl MapInfo {
    /// The map name.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(name_bytes(&self.name)).into_owned()
    }
}

attr_struct! {
    /// The kernel's `struct bpf_btf_info`.
    struct BtfInfoRaw {
        btf: u64,
        btf_size: u32,
        id: u32,
        name: u64,
        name_len: u32,
        kernel_btf: u32,
    }
}

/// What the kernel reports about a BTF object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BtfInfo {
    /// BTF object id.
    pub id: u32,
    /// Size of the raw BTF in bytes.
    pub btf_size: u32,
    /// Name: `"vmlinux"`, a module name, or empty for user-loaded BTF.
    pub name: String,
    /// True for the kernel's own BTF (vmlinux and modules).
    pub kernel_btf: bool,
}

attr_struct! {
    /// The kernel's `struct bpf_link_info`: common fields and the raw per-type union.
    ///
    /// Returned by [`link_info`] with every user-pointer field left zero (no names are
    /// copied out).
    pub struct LinkInfo {
        /// Link type ([`link_type`]).
        pub link_type: u32,
        /// Link id.
        pub id: u32,
        /// Id of the attached program.
        pub prog_id: u32,
        /// Padding.
        pub _pad: u32,
        /// The per-type union, raw (e.g. for XDP the first u32 is the ifindex; for
        /// perf events the first u32 is the `bpf_perf_event_type`).
        pub extra: [u64; 6],
    }
}

impl LinkInfo {
    /// The first u32 of the per-type union (XDP: ifindex; tracing: attach type; perf
    /// event: event type; raw tracepoint: low half of the name pointer).
    pub fn extra_u32(&self, index: usize) -> Option<u32> {
        let word = *self.extra.get(index / 2)?;
        let b = word.to_ne_bytes();
        let half = if index % 2 == 0 {
            [b[0], b[1], b[2], b[3]]
        } else {
            [b[4], b[5], b[6], b[7]]
        };
        Some(u32::from_ne_bytes(half))
    }
}

/// `BPF_OBJ_GET_INFO_BY_FD` into `info`, returning the length the kernel filled.
///
/// # Safety
///
/// Every user pointer inside `info` must be zero or valid for the length beside it.
unsafe fn obj_info<T: AttrBytes>(fd: BorrowedFd<'_>, info: &mut T) -> SysResult<u32> {
    let mut raw = InfoRaw {
        bpf_fd: fd_u32(fd),
        info_len: size_of::<T>() as u32,
        info: ptr_u64((info as *mut T).cast::<u8>()),
    };
    // SAFETY: `info` is writable for `info_len` bytes; its own pointers are valid per
    // this function's contract. The kernel writes at most `info_len` bytes.
    unsafe { bpf(BpfCmd::ObjGetInfoByFd, raw.bytes_mut()) }?;
    Ok(raw.info_len)
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a program.
pub fn prog_info(fd: BorrowedFd<'_>) -> SysResult<ProgInfo> {
    let mut info = ProgInfo::default();
    // SAFETY: all pointer fields are zero.
    unsafe { obj_info(fd, &mut info) }?;
    Ok(info)
}

/// The ids of the maps a program uses.
pub fn prog_map_ids(fd: BorrowedFd<'_>) -> SysResult<Vec<u32>> {
    let first = prog_info(fd)?;
    let mut ids = vec![0u32; first.nr_map_ids as usize];
    if ids.is_empty() {
        return Ok(ids);
    }
    let mut info = ProgInfo {
        nr_map_ids: first.nr_map_ids,
        map_ids: ptr_u64(ids.as_mut_ptr()),
        ..Default::default()
    };
    // SAFETY: `map_ids` points to a writable buffer of `nr_map_ids` u32s; the kernel
    // copies at most that many.
    unsafe { obj_info(fd, &mut info) }?;
    ids.truncate((info.nr_map_ids as usize).min(ids.len()));
    Ok(ids)
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a map.
pub fn map_info(fd: BorrowedFd<'_>) -> SysResult<MapInfo> {
    let mut info = MapInfo::default();
    // SAFETY: `MapInfo` has no pointer fields.
    unsafe { obj_info(fd, &mut info) }?;
    Ok(info)
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a link.
pub fn link_info(fd: BorrowedFd<'_>) -> SysResult<LinkInfo> {
    let mut info = LinkInfo::default();
    // SAFETY: all pointer fields inside the union are zero.
    unsafe { obj_info(fd, &mut info) }?;
    Ok(info)
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a BTF object (with its name).
pub fn btf_info(fd: BorrowedFd<'_>) -> SysResult<BtfInfo> {
    let mut name = [0u8; 64];
    let mut raw = BtfInfoRaw {
        name: ptr_u64(name.as_mut_ptr()),
        name_len: name.len() as u32,
        ..Default::default()
    };
    // SAFETY: `name` is writable for `name_len` bytes; `btf` is zero.
    unsafe { obj_info(fd, &mut raw) }?;
    Ok(BtfInfo {
        id: raw.id,
        btf_size: raw.btf_size,
        name: String::from_utf8_lossy(name_bytes(&name)).into_owned(),
        kernel_btf: raw.kernel_btf != 0,
    })
}

/// The raw BTF blob of a BTF object (e.g. a module's BTF, by id).
pub fn btf_data(fd: BorrowedFd<'_>) -> SysResult<Vec<u8>> {
    let size = btf_info(fd)?.btf_size;
    let mut data = vec![0u8; size as usize];
    let mut raw = BtfInfoRaw {
        btf: ptr_u64(data.as_mut_ptr()),
        btf_size: size,
        ..Default::default()
    };
    // SAFETY: `btf` is writable for `btf_size` bytes; `name` is zero.
    unsafe { obj_info(fd, &mut raw) }?;
    data.truncate((raw.btf_size as usize).min(data.len()));
    Ok(data)
}

// ---------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------

fn next_id(cmd: BpfCmd, start: u32) -> SysResult<Option<u32>> {
    let mut raw = IdRaw {
        id: start,
        ..Default::default()
    };
    // SAFETY: no pointers.
    match unsafe { bpf(cmd, raw.bytes_mut()) } {
        Ok(_) => Ok(Some(raw.next_id)),
        Err(e) if e.errno() == libc::ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

fn fd_by_id(cmd: BpfCmd, id: u32, open_flags: u32) -> SysResult<OwnedFd> {
    let mut raw = IdRaw {
        id,
        next_id: 0,
        open_flags,
    };
    // SAFETY: no pointers.
    unsafe { bpf_fd(cmd, raw.bytes_mut()) }
}

/// `BPF_PROG_GET_NEXT_ID`: the first program id greater than `start`, `None` at the end.
pub fn prog_get_next_id(start: u32) -> SysResult<Option<u32>> {
    next_id(BpfCmd::ProgGetNextId, start)
}

/// `BPF_MAP_GET_NEXT_ID`: the first map id greater than `start`, `None` at the end.
pub fn map_get_next_id(start: u32) -> SysResult<Option<u32>> {
    next_id(BpfCmd::MapGetNextId, start)
}

/// `BPF_LINK_GET_NEXT_ID`: the first link id greater than `start`, `None` at the end.
pub fn link_get_next_id(start: u32) -> SysResult<Option<u32>> {
    next_id(BpfCmd::LinkGetNextId, start)
}

/// `BPF_BTF_GET_NEXT_ID`: the first BTF id greater than `start`, `None` at the end.
pub fn btf_get_next_id(start: u32) -> SysResult<Option<u32>> {
    next_id(BpfCmd::BtfGetNextId, start)
}

/// `BPF_PROG_GET_FD_BY_ID`.
pub fn prog_get_fd_by_id(id: u32) -> SysResult<OwnedFd> {
    fd_by_id(BpfCmd::ProgGetFdById, id, 0)
}

/// `BPF_MAP_GET_FD_BY_ID`; `open_flags` are `map_flags::RDONLY` / `WRONLY` or 0.
pub fn map_get_fd_by_id(id: u32, open_flags: u32) -> SysResult<OwnedFd> {
    fd_by_id(BpfCmd::MapGetFdById, id, open_flags)
}

/// `BPF_BTF_GET_FD_BY_ID`.
pub fn btf_get_fd_by_id(id: u32) -> SysResult<OwnedFd> {
    fd_by_id(BpfCmd::BtfGetFdById, id, 0)
}

/// `BPF_LINK_GET_FD_BY_ID`.
pub fn link_get_fd_by_id(id: u32) -> SysResult<OwnedFd> {
    fd_by_id(BpfCmd::LinkGetFdById, id, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::with_syscall_override;
    use std::io;

    fn errno(e: i32) -> Option<io::Result<i64>> {
        Some(Err(io::Error::from_raw_os_error(e)))
    }

    /// A descriptor for injection tests (never reaches the kernel as a map).
    fn devnull() -> OwnedFd {
        std::fs::File::open("/dev/null").unwrap().into()
    }

    const EXIT0: [Insn; 2] = [Insn::new(0xb7, 0, 0, 0, 0), Insn::new(0x95, 0, 0, 0, 0)];

    #[test]
    fn attr_layouts_match_uapi() {
        // Offsets checked against include/uapi/linux/bpf.h (gcc offsetof on the 6.1
        // header; log_true_size and later fields from the 6.14+ header).
        assert_eq!(size_of::<MapCreateRaw>(), 72);
        assert_eq!(offset_of!(MapCreateRaw, map_name), 28);
        assert_eq!(offset_of!(MapCreateRaw, btf_fd), 48);
        assert_eq!(offset_of!(MapCreateRaw, btf_vmlinux_value_type_id), 60);
        assert_eq!(offset_of!(MapCreateRaw, map_extra), 64);

        assert_eq!(offset_of!(MapElemRaw, key), 8);
        assert_eq!(offset_of!(MapElemRaw, value), 16);
        assert_eq!(offset_of!(MapElemRaw, flags), 24);

        assert_eq!(offset_of!(MapBatchRaw, count), 32);
        assert_eq!(offset_of!(MapBatchRaw, map_fd), 36);
        assert_eq!(offset_of!(MapBatchRaw, flags), 48);
        assert_eq!(size_of::<MapBatchRaw>(), 56);

        assert_eq!(offset_of!(ProgLoadRaw, log_buf), 32);
        assert_eq!(offset_of!(ProgLoadRaw, prog_name), 48);
        assert_eq!(offset_of!(ProgLoadRaw, prog_btf_fd), 72);
        assert_eq!(offset_of!(ProgLoadRaw, line_info_cnt), 104);
        assert_eq!(offset_of!(ProgLoadRaw, attach_fd), 112);
        assert_eq!(offset_of!(ProgLoadRaw, fd_array), 120);
        assert_eq!(offset_of!(ProgLoadRaw, core_relos), 128);
        assert_eq!(offset_of!(ProgLoadRaw, core_relo_rec_size), 136);
        assert_eq!(offset_of!(ProgLoadRaw, log_true_size), 140);
        assert_eq!(offset_of!(ProgLoadRaw, prog_token_fd), 144);
        assert_eq!(offset_of!(ProgLoadRaw, fd_array_cnt), 148);
        assert_eq!(size_of::<ProgLoadRaw>(), 152);

        assert_eq!(offset_of!(ObjRaw, file_flags), 12);
        assert_eq!(offset_of!(TestRunRaw, ctx_out), 56);
        assert_eq!(offset_of!(TestRunRaw, batch_size), 72);
        assert_eq!(offset_of!(IdRaw, open_flags), 8);
        assert_eq!(offset_of!(InfoRaw, info), 8);
        assert_eq!(offset_of!(RawTracepointRaw, prog_fd), 8);
        assert_eq!(offset_of!(BtfLoadRaw, btf_log_level), 24);
        assert_eq!(offset_of!(BtfLoadRaw, btf_log_true_size), 28);
        assert_eq!(offset_of!(LinkCreateRaw, extra), 16);
        assert_eq!(size_of::<LinkCreateRaw>(), 64);

        assert_eq!(offset_of!(ProgInfo, name), 64);
        assert_eq!(offset_of!(ProgInfo, ifindex), 80);
        assert_eq!(offset_of!(ProgInfo, netns_dev), 88);
        assert_eq!(offset_of!(ProgInfo, run_cnt), 200);
        assert_eq!(offset_of!(ProgInfo, verified_insns), 216);
        assert_eq!(offset_of!(ProgInfo, attach_btf_id), 224);
        assert_eq!(size_of::<ProgInfo>(), 232);
        assert_eq!(offset_of!(MapInfo, name), 24);
        assert_eq!(offset_of!(MapInfo, netns_dev), 48);
        assert_eq!(offset_of!(MapInfo, map_extra), 80);
        assert_eq!(size_of::<MapInfo>(), 88);
        assert_eq!(size_of::<BtfInfoRaw>(), 32);
        assert_eq!(offset_of!(LinkInfo, extra), 16);
    }

    #[test]
    fn obj_name_sanitizes_and_truncates() {
        assert_eq!(&obj_name("my_map.bss")[..11], b"my_map.bss\0");
        let n = obj_name("a-b c/d!e");
        assert_eq!(name_bytes(&n), b"abcde");
        let n = obj_name("abcdefghijklmnopqrstuvwxyz");
        assert_eq!(name_bytes(&n), b"abcdefghijklmno");
        assert_eq!(n[15], 0);
        assert_eq!(obj_name("ü€"), [0; 16]);
    }

    #[test]
    fn used_size_rounds_to_field_end() {
        let ends = [4, 8, 16, 32];
        assert_eq!(used_size(&[0; 32], &ends), 0);
        let mut b = [0u8; 32];
        b[0] = 1;
        assert_eq!(used_size(&b, &ends), 4);
        b[9] = 1;
        assert_eq!(used_size(&b, &ends), 16);
        b[31] = 1;
        assert_eq!(used_size(&b, &ends), 32);
    }

    /// Runs `body` and returns the attribute sizes of the BPF_PROG_LOAD calls it made.
    fn prog_load_sizes(body: impl FnOnce()) -> Vec<usize> {
        let mut sizes = Vec::new();
        with_syscall_override(
            |c| match c {
                Syscall::Bpf {
                    cmd: BpfCmd::ProgLoad,
                    attr,
                } => {
                    sizes.push(attr.len());
                    errno(libc::EINVAL)
                }
                _ => None,
            },
            body,
        );
        sizes
    }

    #[test]
    fn prog_load_size_covers_exactly_the_fields_in_use() {
        let null = devnull();
        let fds = [null.as_fd()];
        let sizes = prog_load_sizes(|| {
            let mut a = ProgLoadAttr::new(prog_type::SOCKET_FILTER, &EXIT0, c"GPL");
            let _ = prog_load(&mut a);
            a.prog_name = obj_name("x");
            let _ = prog_load(&mut a);
            a.expected_attach_type = attach_type::TRACE_FENTRY;
            let _ = prog_load(&mut a);
            a.fd_array = Some(&fds);
            let _ = prog_load(&mut a);
            a.bind_fd_array = true;
            let _ = prog_load(&mut a);
        });
        assert_eq!(sizes, vec![24, 64, 72, 128, 152]);

        let mut log = vec![0u8; 4096];
        let sizes = prog_load_sizes(|| {
            let mut a = ProgLoadAttr::new(prog_type::SOCKET_FILTER, &EXIT0, c"GPL");
            a.log_buf = Some(&mut log);
            // A buffer without a level is not passed.
            let _ = prog_load(&mut a);
            a.log_level = 1;
            let _ = prog_load(&mut a);
        });
        assert_eq!(sizes, vec![24, 144]);
    }

    #[test]
    fn prog_load_injected_errors_are_typed() {
        for e in [libc::EPERM, libc::E2BIG, libc::EINVAL, libc::EACCES] {
            let err = with_syscall_override(
                |_| errno(e),
                || prog_load(&mut ProgLoadAttr::new(prog_type::XDP, &EXIT0, c"GPL")),
            )
            .unwrap_err();
            assert_eq!(err.call, "BPF_PROG_LOAD");
            assert_eq!(err.errno(), e);
        }
    }

    #[test]
    fn prog_load_retries_eagain() {
        let mut calls = 0;
        let r = with_syscall_override(
            |_| {
                calls += 1;
                errno(if calls < 3 {
                    libc::EAGAIN
                } else {
                    libc::EACCES
                })
            },
            || prog_load(&mut ProgLoadAttr::new(prog_type::XDP, &EXIT0, c"GPL")),
        );
        assert_eq!(r.unwrap_err().errno(), libc::EACCES);
        assert_eq!(calls, 3);
        let mut calls = 0;
        let r = with_syscall_override(
            |_| {
                calls += 1;
                errno(libc::EAGAIN)
            },
            || prog_load(&mut ProgLoadAttr::new(prog_type::XDP, &EXIT0, c"GPL")),
        );
        assert_eq!(r.unwrap_err().errno(), libc::EAGAIN);
        assert_eq!(calls, 5);
    }

    #[test]
    fn prog_load_rejects_inconsistent_attrs_without_calling() {
        let null = devnull();
        let mut calls = 0;
        with_syscall_override(
            |_| {
                calls += 1;
                None
            },
            || {
                let mut a = ProgLoadAttr::new(prog_type::XDP, &EXIT0, c"GPL");
                a.func_info = &[0; 12];
                a.func_info_rec_size = 8;
                assert_eq!(prog_load(&mut a).unwrap_err().errno(), 0);
                a.func_info_rec_size = 0;
                assert!(prog_load(&mut a).is_err());
                let mut a = ProgLoadAttr::new(prog_type::XDP, &EXIT0, c"GPL");
                a.attach_btf_obj_fd = Some(null.as_fd());
                a.attach_prog_fd = Some(null.as_fd());
                assert!(prog_load(&mut a).is_err());
            },
        );
        assert_eq!(calls, 0);
    }

    #[test]
    fn fd_array_indices_are_checked() {
        let ld_idx = |idx: i32| Insn::new(op::LD_IMM64, 1, pseudo::MAP_IDX, 0, idx);
        let zero = Insn::default();
        let kfunc = |off: i16| Insn::new(op::CALL, 0, pseudo::KFUNC_CALL, off, 1234);
        let prog = [ld_idx(1), zero, kfunc(2), EXIT0[0], EXIT0[1]];
        assert!(check_fd_array_refs(&prog, None).is_ok());
        assert!(check_fd_array_refs(&prog, Some(3)).is_ok());
        assert!(check_fd_array_refs(&prog, Some(2))
            .unwrap_err()
            .contains("fd_array[2]"));
        assert!(check_fd_array_refs(&prog, Some(1))
            .unwrap_err()
            .contains("fd_array[1]"));
        // The second slot of an ld_imm64 is not an instruction of its own.
        let tricky = [Insn::new(op::LD_IMM64, 1, 0, 0, 0), kfunc(9)];
        assert!(check_fd_array_refs(&tricky, Some(1)).is_ok());
        assert!(check_fd_array_refs(&[ld_idx(-1), zero], Some(4)).is_err());

        let null = devnull();
        let fds = [null.as_fd()];
        let mut calls = 0;
        let e = with_syscall_override(
            |_| {
                calls += 1;
                None
            },
            || {
                let mut a = ProgLoadAttr::new(prog_type::XDP, &prog, c"GPL");
                a.fd_array = Some(&fds);
                prog_load(&mut a)
            },
        )
        .unwrap_err();
        assert_eq!((e.call, e.errno(), calls), ("BPF_PROG_LOAD", 0, 0));
    }

    #[test]
    fn log_outcome_counts() {
        let mut buf = *b"hello\0zzzz";
        assert_eq!(
            LogOutcome::new(&buf, 0),
            LogOutcome {
                true_size: None,
                written: 5
            }
        );
        assert_eq!(
            LogOutcome::new(&buf, 6),
            LogOutcome {
                true_size: Some(6),
                written: 5
            }
        );
        // Truncated: the kernel wrote len-1 bytes and a NUL.
        assert_eq!(
            LogOutcome::new(&buf, 100),
            LogOutcome {
                true_size: Some(100),
                written: 9
            }
        );
        buf = [b'x'; 10];
        assert_eq!(LogOutcome::new(&buf, 0).written, 10);
        assert_eq!(LogOutcome::new(&[], 0).written, 0);
    }

    #[test]
    fn map_create_injected_eperm() {
        let attr = MapCreateAttr {
            map_type: map_type::HASH,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            ..Default::default()
        };
        let mut seen = 0;
        let err = with_syscall_override(
            |c| {
                if let Syscall::Bpf { cmd, attr } = c {
                    assert_eq!(*cmd, BpfCmd::MapCreate);
                    assert_eq!(attr.len(), 72);
                    assert_eq!(&attr[..4], &map_type::HASH.to_ne_bytes());
                    seen += 1;
                }
                errno(libc::EPERM)
            },
            || map_create(&attr),
        )
        .unwrap_err();
        assert_eq!(seen, 1);
        assert_eq!(err.call, "BPF_MAP_CREATE");
        assert_eq!(err.errno(), libc::EPERM);
        assert_eq!(err.to_string(), "BPF_MAP_CREATE failed");
    }

    #[test]
    fn map_elem_errors() {
        let null = devnull();
        // SAFETY: every call below is answered by the hook; none reaches the kernel.
        let map = unsafe { MapAccess::from_parts(null.as_fd(), map_type::HASH, 4, 8) };
        let mut v = [0u8; 8];
        let r = with_syscall_override(
            |_| errno(libc::ENOENT),
            || {
                (
                    map_lookup_elem(&map, &[0; 4], &mut v, 0),
                    map_delete_elem(&map, &[0; 4]),
                    map_get_next_key(&map, None, &mut [0; 4]),
                    map_update_elem(&map, &[0; 4], &v, 0),
                )
            },
        );
        assert!(!r.0.unwrap());
        assert!(!r.1.unwrap());
        assert!(!r.2.unwrap());
        assert_eq!(r.3.unwrap_err().errno(), libc::ENOENT);

        let r = with_syscall_override(
            |_| errno(libc::E2BIG),
            || map_update_elem(&map, &[0; 4], &v, update_flags::NOEXIST),
        );
        let e = r.unwrap_err();
        assert_eq!((e.call, e.errno()), ("BPF_MAP_UPDATE_ELEM", libc::E2BIG));

        // Short buffers never reach the kernel.
        let mut calls = 0;
        with_syscall_override(
            |_| {
                calls += 1;
                None
            },
            || {
                assert_eq!(
                    map_lookup_elem(&map, &[0; 3], &mut v, 0)
                        .unwrap_err()
                        .errno(),
                    0
                );
                assert!(map_lookup_elem(&map, &[0; 4], &mut v[..7], 0).is_err());
                assert!(map_update_elem(&map, &[0; 4], &v[..7], 0).is_err());
                assert!(map_get_next_key(&map, None, &mut [0; 3]).is_err());
                assert!(map_delete_elem(&map, &[]).is_err());
                let mut count = 2;
                assert!(map_lookup_batch(
                    &map,
                    None,
                    &mut [0; 4],
                    &mut [0; 8],
                    &mut [0; 15],
                    &mut count,
                    0,
                    0
                )
                .is_err());
                assert!(map_lookup_batch(
                    &map,
                    None,
                    &mut [0; 3],
                    &mut [0; 8],
                    &mut [0; 16],
                    &mut count,
                    0,
                    0
                )
                .is_err());
                let mut count = u32::MAX;
                assert!(map_update_batch(&map, &[0; 8], &[0; 16], &mut count, 0, 0).is_err());
                assert!(map_delete_batch(&map, &[0; 8], &mut count, 0, 0).is_err());
            },
        );
        assert_eq!(calls, 0);
    }

    #[test]
    fn batch_end_and_enospc() {
        let null = devnull();
        // SAFETY: every call below is answered by the hook.
        let map = unsafe { MapAccess::from_parts(null.as_fd(), map_type::HASH, 4, 8) };
        let (mut keys, mut values, mut cursor) = ([0u8; 16], [0u8; 32], [0u8; 4]);
        let mut count = 4;
        let more = with_syscall_override(
            |_| errno(libc::ENOENT),
            || {
                map_lookup_batch(
                    &map,
                    None,
                    &mut cursor,
                    &mut keys,
                    &mut values,
                    &mut count,
                    0,
                    0,
                )
            },
        );
        assert!(!more.unwrap());
        let e = with_syscall_override(
            |_| errno(libc::ENOSPC),
            || {
                map_lookup_batch(
                    &map,
                    None,
                    &mut cursor,
                    &mut keys,
                    &mut values,
                    &mut count,
                    0,
                    0,
                )
            },
        )
        .unwrap_err();
        assert_eq!((e.call, e.errno()), ("BPF_MAP_LOOKUP_BATCH", libc::ENOSPC));
    }

    #[test]
    fn test_run_injected_enospc() {
        let null = devnull();
        let e = with_syscall_override(
            |_| errno(libc::ENOSPC),
            || prog_test_run(null.as_fd(), &[0; 14], Some(&mut [0; 1]), None, None, 1, 0),
        )
        .unwrap_err();
        assert_eq!((e.call, e.errno()), ("BPF_PROG_TEST_RUN", libc::ENOSPC));
    }

    #[test]
    fn ids_and_info_injected() {
        let null = devnull();
        let r = with_syscall_override(
            |_| errno(libc::ENOENT),
            || {
                (
                    prog_get_next_id(0),
                    map_get_next_id(7),
                    link_get_next_id(0),
                    btf_get_next_id(0),
                )
            },
        );
        assert_eq!(r.0.unwrap(), None);
        assert_eq!(r.1.unwrap(), None);
        assert_eq!(r.2.unwrap(), None);
        assert_eq!(r.3.unwrap(), None);
        let e = with_syscall_override(|_| errno(libc::EPERM), || prog_get_next_id(0)).unwrap_err();
        assert_eq!((e.call, e.errno()), ("BPF_PROG_GET_NEXT_ID", libc::EPERM));
        let e =
            with_syscall_override(|_| errno(libc::EINVAL), || prog_info(null.as_fd())).unwrap_err();
        assert_eq!(e.call, "BPF_OBJ_GET_INFO_BY_FD");
        let e =
            with_syscall_override(|_| errno(libc::ENOENT), || map_get_fd_by_id(1, 0)).unwrap_err();
        assert_eq!((e.call, e.errno()), ("BPF_MAP_GET_FD_BY_ID", libc::ENOENT));
    }

    #[test]
    fn link_create_sizes_and_encoding() {
        let null = devnull();
        let mut seen = Vec::new();
        with_syscall_override(
            |c| {
                if let Syscall::Bpf {
                    cmd: BpfCmd::LinkCreate,
                    attr,
                } = c
                {
                    seen.push(attr.to_vec());
                }
                errno(libc::EOPNOTSUPP)
            },
            || {
                let p = null.as_fd();
                let e = link_create(
                    p,
                    LinkTarget::Fd(p),
                    attach_type::PERF_EVENT,
                    0,
                    LinkCreateExtra::PerfEvent { bpf_cookie: 0x1122 },
                )
                .unwrap_err();
                assert_eq!((e.call, e.errno()), ("BPF_LINK_CREATE", libc::EOPNOTSUPP));
                let _ = link_create(
                    p,
                    LinkTarget::Ifindex(7),
                    attach_type::XDP,
                    0,
                    LinkCreateExtra::None,
                );
                let _ = link_create(
                    p,
                    LinkTarget::None,
                    attach_type::TRACE_FENTRY,
                    0,
                    LinkCreateExtra::Tracing {
                        target_btf_id: 99,
                        cookie: 5,
                    },
                );
            },
        );
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].len(), 24);
        assert_eq!(&seen[0][8..12], &attach_type::PERF_EVENT.to_ne_bytes());
        assert_eq!(&seen[0][16..24], &0x1122u64.to_ne_bytes());
        assert_eq!(seen[1].len(), 16);
        assert_eq!(&seen[1][4..8], &7u32.to_ne_bytes());
        assert_eq!(seen[2].len(), 32);
        assert_eq!(&seen[2][16..20], &99u32.to_ne_bytes());
        assert_eq!(&seen[2][24..32], &5u64.to_ne_bytes());
    }

    /// The `kprobe_multi` member of `link_create` (gcc offsetof on the uapi header):
    /// flags at 16, cnt at 20, syms at 24, addrs at 32, cookies at 40; 48 bytes in all.
    #[test]
    fn link_create_kprobe_multi_layout() {
        let null = devnull();
        let names = [c"do_unlinkat", c"vfs_unlink"];
        let cookies = [7u64, 9];
        let addrs = [0xffff_ffff_8100_0000u64];
        let mut seen = Vec::new();
        let mut strings = Vec::new();
        with_syscall_override(
            |c| {
                if let Syscall::Bpf {
                    cmd: BpfCmd::LinkCreate,
                    attr,
                } = c
                {
                    let word =
                        |off: usize| u64::from_ne_bytes(attr[off..off + 8].try_into().unwrap());
                    let syms = word(24) as usize as *const u64;
                    if !syms.is_null() {
                        for i in 0..2 {
                            // SAFETY: the function under test passed a live array of two
                            // pointers to NUL-terminated names.
                            let name = unsafe {
                                CStr::from_ptr(*syms.add(i) as usize as *const std::ffi::c_char)
                            };
                            strings.push(name.to_owned());
                        }
                    }
                    seen.push(attr.to_vec());
                }
                errno(libc::EOPNOTSUPP)
            },
            || {
                let p = null.as_fd();
                let e = link_create_kprobe_multi(
                    p,
                    KPROBE_MULTI_RETURN,
                    KprobeMultiTargets::Symbols(&names),
                    Some(&cookies),
                )
                .unwrap_err();
                assert_eq!((e.call, e.errno()), ("BPF_LINK_CREATE", libc::EOPNOTSUPP));
                let _ = link_create_kprobe_multi(p, 0, KprobeMultiTargets::Addresses(&addrs), None);
            },
        );
        assert_eq!(seen.len(), 2);
        let a = &seen[0];
        assert_eq!(a.len(), 48);
        assert_eq!(&a[0..4], &(null.as_raw_fd() as u32).to_ne_bytes());
        assert_eq!(&a[4..8], &0u32.to_ne_bytes(), "no target fd");
        assert_eq!(&a[8..12], &attach_type::TRACE_KPROBE_MULTI.to_ne_bytes());
        assert_eq!(&a[12..16], &0u32.to_ne_bytes(), "link flags");
        assert_eq!(&a[16..20], &KPROBE_MULTI_RETURN.to_ne_bytes());
        assert_eq!(&a[20..24], &2u32.to_ne_bytes(), "cnt");
        assert_eq!(&a[32..40], &0u64.to_ne_bytes(), "no addrs with syms");
        assert_eq!(
            &a[40..48],
            &(cookies.as_ptr() as usize as u64).to_ne_bytes()
        );
        assert_eq!(
            strings,
            [c"do_unlinkat".to_owned(), c"vfs_unlink".to_owned()]
        );
        let b = &seen[1];
        assert_eq!(b.len(), 48);
        assert_eq!(&b[16..20], &0u32.to_ne_bytes());
        assert_eq!(&b[20..24], &1u32.to_ne_bytes());
        assert_eq!(&b[24..32], &0u64.to_ne_bytes(), "no syms with addrs");
        assert_eq!(&b[32..40], &(addrs.as_ptr() as usize as u64).to_ne_bytes());
        assert_eq!(&b[40..48], &0u64.to_ne_bytes(), "no cookies");

        // Rejected before the kernel is asked: nothing to attach, cookie count mismatch.
        let e = link_create_kprobe_multi(null.as_fd(), 0, KprobeMultiTargets::Symbols(&[]), None)
            .unwrap_err();
        assert_eq!(e.errno(), 0);
        let e = link_create_kprobe_multi(
            null.as_fd(),
            0,
            KprobeMultiTargets::Symbols(&names),
            Some(&[1]),
        )
        .unwrap_err();
        assert_eq!(e.errno(), 0);
    }

    #[test]
    fn link_info_extra_u32() {
        let mut info = LinkInfo::default();
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&1u32.to_ne_bytes());
        b[4..].copy_from_slice(&2u32.to_ne_bytes());
        info.extra[0] = u64::from_ne_bytes(b);
        assert_eq!(info.extra_u32(0), Some(1));
        assert_eq!(info.extra_u32(1), Some(2));
        assert_eq!(info.extra_u32(12), None);
    }

    #[test]
    fn path_with_nul_is_rejected() {
        let null = devnull();
        let p = Path::new("/sys/fs/bpf/a\0b");
        assert_eq!(obj_pin(null.as_fd(), p).unwrap_err().errno(), 0);
        assert_eq!(obj_get(p, 0).unwrap_err().call, "BPF_OBJ_GET");
    }
}
