//! Loaded maps: a generic [`Map`] handle owning the fd, and a typed view per map type
//! that checks key and value sizes once, at conversion (`try_into()`).
//!
//! | map type | typed view | file |
//! |---|---|---|
//! | hash, lru_hash | [`HashMap`], [`LruHashMap`] | `hash.rs` |
//! | array | [`Array`] | `array.rs` |
//! | percpu_hash, lru_percpu_hash, percpu_array | [`PerCpuHashMap`], [`LruPerCpuHashMap`], [`PerCpuArray`] with [`PerCpuValues`], or without an allocation per entry [`PerCpuCursor`] and [`PerCpuEntries`] | `percpu.rs` |
//! | lpm_trie | [`LpmTrie`] with [`lpm_trie::Key`] | `lpm_trie.rs` |
//! | queue, stack, bloom_filter | [`Queue`], [`Stack`], [`BloomFilter`] | `queue.rs` |
//! | prog_array | [`ProgArray`] | `prog_array.rs` |
//! | stack_trace | [`StackTrace`], with [`KernelSymbols`] for kernel symbols | `stack_trace.rs`, `ksyms.rs` |
//! | array_of_maps, hash_of_maps | [`MapOfMaps`] | `of_maps.rs` |
//! | sk/task/inode/cgrp storage, cgroup storage | [`SkStorage`], [`TaskStorage`], [`InodeStorage`], [`CgrpStorage`], [`CgroupStorage`], [`PerCpuCgroupStorage`] | `storage.rs` |
//! | devmap, devmap_hash, cpumap, xskmap | [`DevMap`], [`DevMapHash`], [`CpuMap`], [`XskMap`] | `xdp.rs` |
//! | sockmap, sockhash | [`SockMap`], [`SockHash`] | `sock.rs` |
//! | ringbuf, user_ringbuf, perf_event_array | [`RingBuf`], [`UserRingBuf`], [`PerfEventArray`] (handles) | `events.rs` |
//! | arena | [`Arena`] | `arena.rs` |
//! | `.bss`, `.data*`, `.rodata*` | [`GlobalData`] (a live mmap'd view) | `global.rs` |
//!
//! Every view borrows its [`Map`] and needs `&self` only, so views of one object are
//! used side by side (memory mappings are accessed atomically). Batch operations
//! (`batch.rs`) fall back to one syscall per element where the kernel has no batch
//! command for the map; pinning and opening by pin or id are in `pin.rs`.

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::sync::atomic::AtomicU8;

use crate::sys::bpf::MapFd;
use crate::sys::mmap::MmapRegion;
use crate::sys::{self, SysError};

mod arena;
mod array;
mod batch;
mod events;
mod flags;
mod global;
mod hash;
mod iter;
mod ksyms;
pub mod lpm_trie;
mod of_maps;
mod percpu;
mod pin;
mod prog_array;
mod queue;
mod sock;
mod stack_trace;
mod storage;
mod typed;
mod xdp;

pub use arena::Arena;
pub use array::Array;
pub use events::{PerfEventArray, RingBuf, UserRingBuf};
pub use flags::MapFlags;
pub use global::{GlobalData, GlobalVariable};
pub use hash::{HashMap, LruHashMap};
pub use iter::{Entries, Keys, TypedKeys};
pub use ksyms::{KernelSymbol, KernelSymbols, KsymsError};
pub use lpm_trie::LpmTrie;
pub use of_maps::MapOfMaps;
pub use percpu::{
    possible_cpus, LruPerCpuHashMap, PerCpuArray, PerCpuCursor, PerCpuEntries, PerCpuEntriesIter,
    PerCpuHashMap, PerCpuValues,
};
pub use pin::PinMismatch;
pub use prog_array::ProgArray;
pub use queue::{BloomFilter, Queue, Stack};
pub use sock::{SockHash, SockMap};
pub use stack_trace::{StackFrame, StackTrace};
pub use storage::{
    CgroupStorage, CgroupStorageKey, CgrpStorage, InodeStorage, PerCpuCgroupStorage, SkStorage,
    TaskStorage,
};
pub use xdp::{CpuMap, CpuMapValue, DevMap, DevMapHash, DevMapValue, XskMap};

pub(crate) use pin::check_bpffs;

/// Kernel map type numbers (`enum bpf_map_type`), as named values.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapType(pub u32);

impl MapType {
    /// `BPF_MAP_TYPE_HASH`.
    pub const HASH: MapType = MapType(1);
    /// `BPF_MAP_TYPE_ARRAY`.
    pub const ARRAY: MapType = MapType(2);
    /// `BPF_MAP_TYPE_PROG_ARRAY`.
    pub const PROG_ARRAY: MapType = MapType(3);
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`.
    pub const PERF_EVENT_ARRAY: MapType = MapType(4);
    /// `BPF_MAP_TYPE_PERCPU_HASH`.
    pub const PERCPU_HASH: MapType = MapType(5);
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    pub const PERCPU_ARRAY: MapType = MapType(6);
    /// `BPF_MAP_TYPE_STACK_TRACE`.
    pub const STACK_TRACE: MapType = MapType(7);
    /// `BPF_MAP_TYPE_CGROUP_ARRAY`.
    pub const CGROUP_ARRAY: MapType = MapType(8);
    /// `BPF_MAP_TYPE_LRU_HASH`.
    pub const LRU_HASH: MapType = MapType(9);
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`.
    pub const LRU_PERCPU_HASH: MapType = MapType(10);
    /// `BPF_MAP_TYPE_LPM_TRIE`.
    pub const LPM_TRIE: MapType = MapType(11);
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
    pub const ARRAY_OF_MAPS: MapType = MapType(12);
    /// `BPF_MAP_TYPE_HASH_OF_MAPS`.
    pub const HASH_OF_MAPS: MapType = MapType(13);
    /// `BPF_MAP_TYPE_DEVMAP`.
    pub const DEVMAP: MapType = MapType(14);
    /// `BPF_MAP_TYPE_SOCKMAP`.
    pub const SOCKMAP: MapType = MapType(15);
    /// `BPF_MAP_TYPE_CPUMAP`.
    pub const CPUMAP: MapType = MapType(16);
    /// `BPF_MAP_TYPE_XSKMAP`.
    pub const XSKMAP: MapType = MapType(17);
    /// `BPF_MAP_TYPE_SOCKHASH`.
    pub const SOCKHASH: MapType = MapType(18);
    /// `BPF_MAP_TYPE_CGROUP_STORAGE`.
    pub const CGROUP_STORAGE: MapType = MapType(19);
    /// `BPF_MAP_TYPE_REUSEPORT_SOCKARRAY`.
    pub const REUSEPORT_SOCKARRAY: MapType = MapType(20);
    /// `BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE`.
    pub const PERCPU_CGROUP_STORAGE: MapType = MapType(21);
    /// `BPF_MAP_TYPE_QUEUE`.
    pub const QUEUE: MapType = MapType(22);
    /// `BPF_MAP_TYPE_STACK`.
    pub const STACK: MapType = MapType(23);
    /// `BPF_MAP_TYPE_SK_STORAGE`.
    pub const SK_STORAGE: MapType = MapType(24);
    /// `BPF_MAP_TYPE_DEVMAP_HASH`.
    pub const DEVMAP_HASH: MapType = MapType(25);
    /// `BPF_MAP_TYPE_STRUCT_OPS`.
    pub const STRUCT_OPS: MapType = MapType(26);
    /// `BPF_MAP_TYPE_RINGBUF`.
    pub const RINGBUF: MapType = MapType(27);
    /// `BPF_MAP_TYPE_INODE_STORAGE`.
    pub const INODE_STORAGE: MapType = MapType(28);
    /// `BPF_MAP_TYPE_TASK_STORAGE`.
    pub const TASK_STORAGE: MapType = MapType(29);
    /// `BPF_MAP_TYPE_BLOOM_FILTER`.
    pub const BLOOM_FILTER: MapType = MapType(30);
    /// `BPF_MAP_TYPE_USER_RINGBUF`.
    pub const USER_RINGBUF: MapType = MapType(31);
    /// `BPF_MAP_TYPE_CGRP_STORAGE`.
    pub const CGRP_STORAGE: MapType = MapType(32);
    /// `BPF_MAP_TYPE_ARENA`.
    pub const ARENA: MapType = MapType(33);

    /// The kernel's name for the type, as bpftool prints it.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 34] = [
            "unspec",
            "hash",
            "array",
            "prog_array",
            "perf_event_array",
            "percpu_hash",
            "percpu_array",
            "stack_trace",
            "cgroup_array",
            "lru_hash",
            "lru_percpu_hash",
            "lpm_trie",
            "array_of_maps",
            "hash_of_maps",
            "devmap",
            "sockmap",
            "cpumap",
            "xskmap",
            "sockhash",
            "cgroup_storage",
            "reuseport_sockarray",
            "percpu_cgroup_storage",
            "queue",
            "stack",
            "sk_storage",
            "devmap_hash",
            "struct_ops",
            "ringbuf",
            "inode_storage",
            "task_storage",
            "bloom_filter",
            "user_ringbuf",
            "cgrp_storage",
            "arena",
        ];
        NAMES.get(self.0 as usize).copied().unwrap_or("unknown")
    }

    /// True for the per-CPU types, whose values user space reads and writes as one
    /// 8-byte-aligned slot per possible CPU.
    pub fn is_percpu(self) -> bool {
        sys::bpf::map_type::is_percpu(self.0)
    }
}

impl fmt::Debug for MapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MapType({} = {})", self.name(), self.0)
    }
}

impl fmt::Display for MapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors from map access.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// A key or value of the wrong size for this map.
    #[error("map '{map}': {what} is {got} bytes, the map's is {expected}")]
    WrongSize {
        /// Map name.
        map: String,
        /// "key" or "value".
        what: &'static str,
        /// Size given.
        got: usize,
        /// Size the map has.
        expected: u32,
    },
    /// A typed view of a map of another type.
    #[error("map '{map}' is a {found} map, not {expected}")]
    WrongType {
        /// Map name.
        map: String,
        /// The map's type.
        found: &'static str,
        /// What was wanted.
        expected: &'static str,
    },
    /// An array index past `max_entries`.
    #[error("map '{map}': index {index} is out of bounds (max_entries {max_entries})")]
    OutOfBounds {
        /// Map name.
        map: String,
        /// Index given.
        index: u32,
        /// Map size.
        max_entries: u32,
    },
    /// A byte range past the end of a mapped or global-data value.
    #[error("map '{map}': {len} bytes at offset {offset} reach past its {size} bytes")]
    OutOfRange {
        /// Map name.
        map: String,
        /// Offset given.
        offset: usize,
        /// Length given.
        len: usize,
        /// Size of the value or mapping.
        size: usize,
    },
    /// Per-CPU values for another number of CPUs than the possible ones.
    #[error("map '{map}': {got} per-CPU values given, the kernel has {expected} possible CPUs")]
    PerCpuCount {
        /// Map name (empty when no map was involved yet).
        map: String,
        /// Values given.
        got: usize,
        /// Possible CPUs.
        expected: u32,
    },
    /// A write to a map user space may only read (`.rodata`, `.kconfig`: frozen at load).
    #[error(
        "map '{map}' is frozen: user space may only read it (set `.rodata` values before load \
         with Loader::set_global)"
    )]
    ReadOnly {
        /// Map name.
        map: String,
    },
    /// A global-data view was asked for a variable its section does not have.
    #[error("map '{map}' has no global variable '{name}'")]
    NoSuchVariable {
        /// Map name.
        map: String,
        /// Variable asked for.
        name: String,
    },
    /// A global variable read or written as a type of another size.
    #[error("map '{map}': global variable '{name}' is {size} bytes, the type used is {given}")]
    VariableSize {
        /// Map name.
        map: String,
        /// Variable name.
        name: String,
        /// Its size.
        size: u32,
        /// The size of the type used.
        given: usize,
    },
    /// The object has no map of that name.
    #[error("the object has no map '{name}'")]
    NoSuchMap {
        /// The name asked for.
        name: String,
    },
    /// A map that needs a memory mapping (an arena) has none.
    #[error("map '{map}' is not mapped into this process")]
    NotMapped {
        /// Map name.
        map: String,
    },
    /// A batch operation failed part-way; `done` elements were processed.
    #[error("batch {op} on map '{map}' stopped after {done} elements")]
    Batch {
        /// Map name.
        map: String,
        /// `lookup`, `update`, `delete` or `lookup_and_delete`.
        op: &'static str,
        /// Elements processed before the failure.
        done: usize,
        /// The failure.
        #[source]
        source: SysError,
    },
    /// A batch write given another number of values than keys (or more than `u32::MAX`).
    #[error("batch on map '{map}': {keys} keys but {values} values")]
    BatchLengths {
        /// Map name.
        map: String,
        /// Keys given.
        keys: usize,
        /// Values given.
        values: usize,
    },
    /// bpffs refuses file names with a dot.
    #[error("cannot pin at {path}: bpffs refuses names containing '.' (use Map::pin_name)")]
    BadPinName {
        /// The path.
        path: PathBuf,
    },
    /// The path is not on a bpf filesystem.
    #[error("{path} is not on a bpf filesystem; mount one with `mount -t bpf bpf /sys/fs/bpf`")]
    NotBpffs {
        /// The path checked.
        path: PathBuf,
    },
    /// Resolving stack addresses to kernel symbols failed.
    #[error(transparent)]
    Ksyms(#[from] KsymsError),
    /// A syscall failed.
    #[error("operation on map '{map}' failed")]
    Sys {
        /// Map name.
        map: String,
        /// The failure.
        #[source]
        source: SysError,
    },
}

/// What a map is: type, sizes, flags. Kept so typed views can check sizes without a
/// syscall; also what [`Map::create`] creates.
///
/// # Examples
///
/// ```
/// use corebpf::map::{MapDef, MapType};
///
/// let def = MapDef::new(MapType::BLOOM_FILTER, 0, 8, 1024).with_extra(3);
/// assert_eq!((def.value_size, def.map_extra), (8, 3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MapDef {
    /// Map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub map_flags: u32,
    /// `map_extra`: a bloom filter's number of hash functions, an arena's address.
    pub map_extra: u64,
}

impl MapDef {
    /// A definition without flags.
    pub fn new(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
        MapDef {
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags: 0,
            map_extra: 0,
        }
    }

    /// The same with `BPF_F_*` flags.
    pub fn with_flags(self, map_flags: u32) -> MapDef {
        MapDef { map_flags, ..self }
    }

    /// The same with `map_extra`.
    pub fn with_extra(self, map_extra: u64) -> MapDef {
        MapDef { map_extra, ..self }
    }

    /// What the kernel says about a map.
    pub(crate) fn from_info(info: &sys::bpf::MapInfo) -> MapDef {
        MapDef {
            map_type: MapType(info.type_),
            key_size: info.key_size,
            value_size: info.value_size,
            max_entries: info.max_entries,
            map_flags: info.map_flags,
            map_extra: info.map_extra,
        }
    }
}

/// What kind of global data a map holds, for [`GlobalData`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Global {
    /// `.bss`, `.data*`: programs and user space read and write it.
    Writable,
    /// `.rodata*`, `.kconfig`: frozen at load.
    Frozen,
}

/// A loaded map. Owns its fd; dropping it releases the map (the kernel frees it when no
/// program or pin holds it either).
#[derive(Debug)]
pub struct Map {
    name: String,
    kernel_name: String,
    fd: MapFd,
    def: MapDef,
    pinned: Option<PathBuf>,
    /// A map-in-map's inner map template, as the object declared it.
    inner: Option<MapDef>,
    /// The memory mapping of an mmapable global-data map or an arena.
    mmap: Option<MmapRegion>,
    /// For global data: which kind, and its variables.
    global: Option<Global>,
    vars: Vec<GlobalVariable>,
    /// Opened from an existing pin by the loader rather than created.
    reused: bool,
    /// Batch commands the kernel refused for this map (bits of `batch::Op`), done one
    /// element at a time from then on.
    no_batch: AtomicU8,
    /// Buffers of the typed views' batch reads, reused from call to call.
    scratch: std::sync::Mutex<batch::Scratch>,
}

impl Map {
    /// Wraps an fd the loader created.
    pub(crate) fn new(name: String, kernel_name: String, fd: MapFd, def: MapDef) -> Map {
        Map {
            name,
            kernel_name,
            fd,
            def,
            pinned: None,
            inner: None,
            mmap: None,
            global: None,
            vars: Vec::new(),
            reused: false,
            no_batch: AtomicU8::new(0),
            scratch: Default::default(),
        }
    }

    /// Wraps a map fd opened from elsewhere (a pin, an id), asking the kernel what it is.
    pub(crate) fn from_fd(name: String, fd: std::os::fd::OwnedFd) -> Result<Map, MapError> {
        let fd = MapFd::new(fd).map_err(|source| MapError::Sys {
            map: name.clone(),
            source,
        })?;
        let info = *fd.info();
        Ok(Map::new(name, info.name(), fd, MapDef::from_info(&info)))
    }

    /// Creates a map outside any object (libbpf's `bpf_map_create`), without BTF: a
    /// replacement inner map for a [`MapOfMaps`], a scratch map. A map-in-map needs
    /// its inner template: use [`Map::create_map_of_maps`]. An arena is mapped into
    /// this process at once, as the loader does.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corebpf::map::{HashMap, Map, MapDef, MapType};
    /// use corebpf::MapFlags;
    ///
    /// let map = Map::create("scratch", &MapDef::new(MapType::HASH, 4, 8, 128))?;
    /// let typed: HashMap<u32, u64> = (&map).try_into()?;
    /// typed.insert(&1, &10, MapFlags::ANY)?;
    /// # Ok::<(), corebpf::MapError>(())
    /// ```
    pub fn create(name: &str, def: &MapDef) -> Result<Map, MapError> {
        Self::create_with(name, def, None)
    }

    /// Creates an array or hash of maps whose inner maps look like `inner` (the
    /// kernel's `inner_map_fd`: only its type, sizes and flags matter).
    pub fn create_map_of_maps(name: &str, def: &MapDef, inner: &Map) -> Result<Map, MapError> {
        let mut map = Self::create_with(name, def, Some(inner.fd()))?;
        map.inner = Some(inner.def);
        Ok(map)
    }

    fn create_with(
        name: &str,
        def: &MapDef,
        inner: Option<BorrowedFd<'_>>,
    ) -> Result<Map, MapError> {
        let sys_err = |source| MapError::Sys {
            map: name.to_string(),
            source,
        };
        let attr = sys::bpf::MapCreateAttr {
            map_type: def.map_type.0,
            key_size: def.key_size,
            value_size: def.value_size,
            max_entries: def.max_entries,
            map_flags: def.map_flags,
            map_extra: def.map_extra,
            inner_map_fd: inner,
            map_name: sys::bpf::obj_name(name),
            ..Default::default()
        };
        let fd = sys::bpf::map_create(&attr).map_err(sys_err)?;
        let fd = MapFd::new(fd).map_err(sys_err)?;
        let info = *fd.info();
        let mut map = Map::new(name.to_string(), info.name(), fd, MapDef::from_info(&info));
        if map.def.map_type == MapType::ARENA {
            map.map_arena().map_err(sys_err)?;
        }
        Ok(map)
    }

    /// Maps an arena's pages into this process (the whole `max_entries` pages, shared
    /// with the kernel).
    pub(crate) fn map_arena(&mut self) -> Result<(), SysError> {
        let len = (self.def.max_entries as usize)
            .checked_mul(sys::page_size())
            .ok_or_else(|| SysError::new("mmap", libc::E2BIG))?;
        let region = MmapRegion::map_shared(self.fd(), len, sys::mmap::Access::ReadWrite, 0)?;
        self.mmap = Some(region);
        Ok(())
    }

    /// Records what the loader knows about a global-data map and maps it when the
    /// kernel lets user space do so (`BPF_F_MMAPABLE`), read-only when frozen.
    pub(crate) fn set_global(
        &mut self,
        kind: Global,
        vars: Vec<GlobalVariable>,
    ) -> Result<(), SysError> {
        self.global = Some(kind);
        self.vars = vars;
        if self.def.map_flags & sys::bpf::map_flags::MMAPABLE == 0 || self.def.value_size == 0 {
            return Ok(());
        }
        let access = match kind {
            Global::Writable => sys::mmap::Access::ReadWrite,
            Global::Frozen => sys::mmap::Access::ReadOnly,
        };
        let len = (self.def.value_size as usize).next_multiple_of(sys::page_size());
        self.mmap = Some(MmapRegion::map_shared(self.fd(), len, access, 0)?);
        Ok(())
    }

    /// Names a map the loader reused from its pin by the object's name for it.
    pub(crate) fn mark_reused(&mut self, name: String) {
        self.name = name;
        self.reused = true;
    }

    /// True when the loader reused an existing pin instead of creating the map.
    pub(crate) fn reused(&self) -> bool {
        self.reused
    }

    /// Records a map-in-map's inner template.
    pub(crate) fn set_inner(&mut self, inner: MapDef) {
        self.inner = Some(inner);
    }

    pub(crate) fn sys_err(&self) -> impl FnOnce(SysError) -> MapError + '_ {
        move |source| MapError::Sys {
            map: self.name.clone(),
            source,
        }
    }

    /// The map's name in the object (`counts`, `.rodata`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name the kernel knows the map by (`hello.rodata` for global data).
    pub fn kernel_name(&self) -> &str {
        &self.kernel_name
    }

    /// A file name bpffs accepts for this map: the kernel name with `.` replaced by `_`
    /// (`hello_rodata`), as libbpf names pins of global data maps.
    pub fn pin_name(&self) -> String {
        self.kernel_name.replace('.', "_")
    }

    /// The map's definition.
    pub fn def(&self) -> &MapDef {
        &self.def
    }

    /// The map type.
    pub fn map_type(&self) -> MapType {
        self.def.map_type
    }

    /// For an array or hash of maps created by the loader or
    /// [`Map::create_map_of_maps`]: what its inner maps must look like.
    pub fn inner_def(&self) -> Option<&MapDef> {
        self.inner.as_ref()
    }

    /// The map's fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Checked element access for `sys` calls.
    #[inline]
    pub(crate) fn access(&self) -> sys::bpf::MapAccess<'_> {
        self.fd.access()
    }

    /// Bytes of one value as user space reads or writes it: `value_size`, or for
    /// per-CPU maps one 8-byte-aligned slot per possible CPU.
    #[inline]
    pub fn value_buf_size(&self) -> usize {
        self.fd.access().value_buf_size()
    }

    /// The kernel's view of the map (id, name, sizes).
    pub fn info(&self) -> Result<sys::bpf::MapInfo, MapError> {
        sys::bpf::map_info(self.fd()).map_err(self.sys_err())
    }

    #[inline]
    pub(crate) fn check(
        &self,
        what: &'static str,
        got: usize,
        expected: u32,
    ) -> Result<(), MapError> {
        if got == expected as usize {
            Ok(())
        } else {
            Err(self.wrong_size(what, got, expected))
        }
    }

    #[cold]
    #[inline(never)]
    fn wrong_size(&self, what: &'static str, got: usize, expected: u32) -> MapError {
        MapError::WrongSize {
            map: self.name.clone(),
            what,
            got,
            expected,
        }
    }

    /// Looks up `key`; `None` when absent. `flags` is [`MapFlags::ANY`] (none) or
    /// [`MapFlags::LOCK`] (copy under the value's `bpf_spin_lock`). Per-CPU maps
    /// return one 8-byte-aligned slot per possible CPU ([`PerCpuHashMap`] decodes them).
    pub fn lookup(&self, key: &[u8], flags: MapFlags) -> Result<Option<Vec<u8>>, MapError> {
        let mut value = vec![0u8; self.value_buf_size()];
        let found = self.lookup_into(key, &mut value, flags)?;
        Ok(found.then_some(value))
    }

    /// Looks `key` up into `value` (of [`Map::value_buf_size`] bytes); false when absent.
    #[inline]
    pub(crate) fn lookup_into(
        &self,
        key: &[u8],
        value: &mut [u8],
        flags: MapFlags,
    ) -> Result<bool, MapError> {
        self.check("key", key.len(), self.def.key_size)?;
        self.check("value", value.len(), self.value_buf_size() as u32)?;
        sys::bpf::map_lookup_elem(&self.access(), key, value, flags.bits()).map_err(self.sys_err())
    }

    /// Inserts or updates `key`, as `flags` allow: [`MapFlags::ANY`] either,
    /// [`MapFlags::NOEXIST`] only a new key, [`MapFlags::EXIST`] only an existing one;
    /// `| MapFlags::LOCK` to write under the value's `bpf_spin_lock`.
    pub fn update(&self, key: &[u8], value: &[u8], flags: MapFlags) -> Result<(), MapError> {
        self.check("key", key.len(), self.def.key_size)?;
        self.check("value", value.len(), self.value_buf_size() as u32)?;
        sys::bpf::map_update_elem(&self.access(), key, value, flags.bits()).map_err(self.sys_err())
    }

    /// Deletes `key`; false when it was absent.
    pub fn delete(&self, key: &[u8]) -> Result<bool, MapError> {
        self.check("key", key.len(), self.def.key_size)?;
        sys::bpf::map_delete_elem(&self.access(), key).map_err(self.sys_err())
    }

    /// Looks up and deletes `key` in one step (`BPF_MAP_LOOKUP_AND_DELETE_ELEM`; for a
    /// queue or stack, with an empty key, pops). `None` when absent. Hash maps on
    /// kernels before 5.14 lack the command: there it is a lookup, then a delete.
    pub fn lookup_and_delete(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MapError> {
        let mut value = vec![0u8; self.value_buf_size()];
        let found = self.lookup_and_delete_into(key, &mut value)?;
        Ok(found.then_some(value))
    }

    pub(crate) fn lookup_and_delete_into(
        &self,
        key: &[u8],
        value: &mut [u8],
    ) -> Result<bool, MapError> {
        self.check("key", key.len(), self.def.key_size)?;
        self.check("value", value.len(), self.value_buf_size() as u32)?;
        match sys::bpf::map_lookup_and_delete_elem(&self.access(), key, value, 0) {
            Err(e) if batch::unsupported(&e) && self.def.key_size != 0 => {
                log::debug!(
                    "map '{}': no BPF_MAP_LOOKUP_AND_DELETE_ELEM ({}); lookup, then delete",
                    self.name,
                    crate::util::Chain(&e)
                );
                if !self.lookup_into(key, value, MapFlags::ANY)? {
                    return Ok(false);
                }
                self.delete(key)
            }
            r => r.map_err(self.sys_err()),
        }
    }

    /// Iterates over the keys (`BPF_MAP_GET_NEXT_KEY`). Concurrent deletes may restart it,
    /// as with every user of that command.
    pub fn keys(&self) -> Keys<'_> {
        Keys::new(self)
    }
}
