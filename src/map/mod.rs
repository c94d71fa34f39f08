//! Loaded maps: a generic [`Map`] handle owning the fd, and typed views
//! ([`HashMap`], [`Array`]) that check key and value sizes once, at conversion.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use crate::sys::bpf::MapFd;
use crate::sys::{self, SysError};

mod array;
mod flags;
mod hash;

pub use array::Array;
pub use flags::MapFlags;
pub use hash::HashMap;

/// Kernel map type numbers (`enum bpf_map_type`), as named values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// `BPF_MAP_TYPE_LRU_HASH`.
    pub const LRU_HASH: MapType = MapType(9);
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`.
    pub const LRU_PERCPU_HASH: MapType = MapType(10);
    /// `BPF_MAP_TYPE_RINGBUF`.
    pub const RINGBUF: MapType = MapType(27);

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

/// What a map is: type, sizes, flags. Kept so typed views can check sizes without a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
        }
    }

    /// Opens a map pinned at `path`, reading its definition from the kernel.
    pub fn from_pin(path: impl AsRef<Path>) -> Result<Map, MapError> {
        let path = path.as_ref();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let sys_err = |source| MapError::Sys {
            map: name.clone(),
            source,
        };
        let fd = sys::bpf::obj_get(path, 0).map_err(sys_err)?;
        let fd = MapFd::new(fd).map_err(sys_err)?;
        let info = *fd.info();
        let def = MapDef {
            map_type: MapType(info.type_),
            key_size: info.key_size,
            value_size: info.value_size,
            max_entries: info.max_entries,
            map_flags: info.map_flags,
        };
        let kernel_name = info.name();
        let mut map = Map::new(name, kernel_name, fd, def);
        map.pinned = Some(path.to_path_buf());
        Ok(map)
    }

    fn sys_err(&self) -> impl FnOnce(SysError) -> MapError + '_ {
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

    /// The map's fd.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Checked element access for `sys` calls.
    pub(crate) fn access(&self) -> sys::bpf::MapAccess<'_> {
        self.fd.access()
    }

    /// Where the map is pinned, if this handle pinned or opened it by pin.
    pub fn pin_path(&self) -> Option<&Path> {
        self.pinned.as_deref()
    }

    /// The kernel's view of the map (id, name, sizes).
    pub fn info(&self) -> Result<sys::bpf::MapInfo, MapError> {
        sys::bpf::map_info(self.fd()).map_err(self.sys_err())
    }

    /// Pins the map at `path`, which must be on a bpf filesystem.
    pub fn pin(&mut self, path: impl AsRef<Path>) -> Result<(), MapError> {
        let path = path.as_ref();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains('.'))
        {
            return Err(MapError::BadPinName {
                path: path.to_path_buf(),
            });
        }
        check_bpffs(path)?;
        sys::bpf::obj_pin(self.fd(), path).map_err(self.sys_err())?;
        self.pinned = Some(path.to_path_buf());
        Ok(())
    }

    /// Removes the pin this handle made or was opened from.
    pub fn unpin(&mut self) -> std::io::Result<()> {
        if let Some(p) = self.pinned.take() {
            std::fs::remove_file(p)?;
        }
        Ok(())
    }

    fn check(&self, what: &'static str, got: usize, expected: u32) -> Result<(), MapError> {
        if got == expected as usize {
            Ok(())
        } else {
            Err(MapError::WrongSize {
                map: self.name.clone(),
                what,
                got,
                expected,
            })
        }
    }

    /// Looks up `key`; `None` when absent. `flags` is [`MapFlags::ANY`] (none) or
    /// [`MapFlags::LOCK`] (copy under the value's `bpf_spin_lock`).
    pub fn lookup(&self, key: &[u8], flags: MapFlags) -> Result<Option<Vec<u8>>, MapError> {
        self.check("key", key.len(), self.def.key_size)?;
        let access = self.fd.access();
        let mut value = vec![0u8; access.value_buf_size()];
        let found = sys::bpf::map_lookup_elem(&access, key, &mut value, flags.bits())
            .map_err(self.sys_err())?;
        Ok(found.then_some(value))
    }

    /// Inserts or updates `key`, as `flags` allow: [`MapFlags::ANY`] either,
    /// [`MapFlags::NOEXIST`] only a new key, [`MapFlags::EXIST`] only an existing one;
    /// `| MapFlags::LOCK` to write under the value's `bpf_spin_lock`.
    pub fn update(&self, key: &[u8], value: &[u8], flags: MapFlags) -> Result<(), MapError> {
        self.check("key", key.len(), self.def.key_size)?;
        let access = self.fd.access();
        if value.len() != access.value_buf_size() {
            self.check("value", value.len(), access.value_buf_size() as u32)?;
        }
        sys::bpf::map_update_elem(&access, key, value, flags.bits()).map_err(self.sys_err())
    }

    /// Deletes `key`; false when it was absent.
    pub fn delete(&self, key: &[u8]) -> Result<bool, MapError> {
        self.check("key", key.len(), self.def.key_size)?;
        sys::bpf::map_delete_elem(&self.fd.access(), key).map_err(self.sys_err())
    }

    /// Iterates over the keys (`BPF_MAP_GET_NEXT_KEY`). Concurrent deletes may restart it,
    /// as with every user of that command.
    pub fn keys(&self) -> Keys<'_> {
        Keys {
            map: self,
            prev: None,
            done: false,
        }
    }

    /// Reads every entry with `BPF_MAP_LOOKUP_BATCH`, `batch` entries per syscall;
    /// returns keys and values concatenated. See [`Map::lookup_batch_into`] to reuse
    /// buffers across calls.
    pub fn lookup_batch(&self, batch: u32) -> Result<(Vec<u8>, Vec<u8>), MapError> {
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        self.lookup_batch_into(batch, &mut keys, &mut values)?;
        Ok((keys, values))
    }

    /// Reads every entry into `keys` and `values` (replacing their contents), `batch`
    /// entries per syscall, straight into the buffers: a caller that keeps them across
    /// calls pays for no allocation after the first. Returns the number of entries.
    pub fn lookup_batch_into(
        &self,
        batch: u32,
        keys: &mut Vec<u8>,
        values: &mut Vec<u8>,
    ) -> Result<usize, MapError> {
        let access = self.fd.access();
        let (ks, vs) = (access.key_size(), access.value_buf_size());
        let batch = batch.max(1) as usize;
        // Room for the whole map up front; more only if entries were added meanwhile.
        let expect = self.def.max_entries as usize + batch;
        grow(keys, expect * ks);
        grow(values, expect * vs);
        // The kernel's opaque batch cursor is a key-sized token for hash maps.
        let mut cursor = vec![0u8; access.batch_cursor_size()];
        let mut out_cursor = vec![0u8; access.batch_cursor_size()];
        let mut filled = 0usize;
        let mut first = true;
        loop {
            grow(keys, (filled + batch) * ks);
            grow(values, (filled + batch) * vs);
            let mut count = batch as u32;
            let more = sys::bpf::map_lookup_batch(
                &access,
                if first { None } else { Some(&cursor) },
                &mut out_cursor,
                &mut keys[filled * ks..(filled + batch) * ks],
                &mut values[filled * vs..(filled + batch) * vs],
                &mut count,
                0,
                0,
            )
            .map_err(self.sys_err())?;
            filled += (count as usize).min(batch);
            if !more {
                keys.truncate(filled * ks);
                values.truncate(filled * vs);
                return Ok(filled);
            }
            cursor.copy_from_slice(&out_cursor);
            first = false;
        }
    }
}

/// Makes `v` at least `len` bytes long (zero-filling only what is new).
fn grow(v: &mut Vec<u8>, len: usize) {
    if v.len() < len {
        v.resize(len, 0);
    }
}

/// Iterator over a map's keys.
pub struct Keys<'a> {
    map: &'a Map,
    prev: Option<Vec<u8>>,
    done: bool,
}

impl Iterator for Keys<'_> {
    type Item = Result<Vec<u8>, MapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut next = vec![0u8; self.map.def.key_size as usize];
        match sys::bpf::map_get_next_key(&self.map.fd.access(), self.prev.as_deref(), &mut next) {
            Ok(true) => {
                self.prev = Some(next.clone());
                Some(Ok(next))
            }
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(self.map.sys_err()(e)))
            }
        }
    }
}

/// Checks that `path`'s directory is on a bpf filesystem.
pub(crate) fn check_bpffs(path: &Path) -> Result<(), MapError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if sys::is_bpffs(dir) {
        Ok(())
    } else {
        Err(MapError::NotBpffs {
            path: dir.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_flags_are_the_kernels_bits_and_combine() {
        assert_eq!(MapFlags::default(), MapFlags::ANY);
        let bits = [
            MapFlags::ANY,
            MapFlags::NOEXIST,
            MapFlags::EXIST,
            MapFlags::LOCK,
        ];
        assert_eq!(bits.map(MapFlags::bits), [0, 1, 2, 4]);
        let mut f = MapFlags::EXIST;
        f |= MapFlags::LOCK;
        assert_eq!(f, MapFlags::EXIST | MapFlags::LOCK);
        assert_eq!(f.bits(), 6);
        assert!(f.contains(MapFlags::LOCK) && !f.contains(MapFlags::NOEXIST));
        assert_eq!(format!("{f:?}"), "MapFlags(EXIST | LOCK)");
        assert_eq!(format!("{:?}", MapFlags::ANY), "MapFlags(ANY)");
        assert_eq!(format!("{:?}", MapFlags(0x11)), "MapFlags(NOEXIST | 0x10)");
    }

    /// The flags reach the kernel: NOEXIST refuses an existing key, EXIST a missing one.
    #[test]
    fn update_flags_decide_create_or_overwrite() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-progs/hello.bpf.o");
        let obj = crate::Loader::new().load_file(path).expect("loading hello");
        let map = obj.map("counts").unwrap();
        // A uid no process of the test machine runs as, so hello never counts it.
        let key = 0xfff0_0001u32.to_ne_bytes();
        let value = |v: u64| v.to_ne_bytes();
        let errno = |r: Result<(), MapError>| match r {
            Err(MapError::Sys { source, .. }) => source.errno(),
            other => panic!("expected a kernel refusal, got {other:?}"),
        };
        assert_eq!(
            errno(map.update(&key, &value(1), MapFlags::EXIST)),
            libc::ENOENT
        );
        map.update(&key, &value(1), MapFlags::NOEXIST).unwrap();
        assert_eq!(
            errno(map.update(&key, &value(2), MapFlags::NOEXIST)),
            libc::EEXIST
        );
        map.update(&key, &value(3), MapFlags::EXIST).unwrap();
        map.update(&key, &value(4), MapFlags::default()).unwrap();
        let got = map.lookup(&key, MapFlags::ANY).unwrap().unwrap();
        assert_eq!(got, value(4));
    }

    #[test]
    fn batch_lookup_reads_every_entry_into_reused_buffers() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf-progs/hello.bpf.o");
        let obj = crate::Loader::new().load_file(path).expect("loading hello");
        let counts: HashMap<u32, u64> = obj.map("counts").unwrap().try_into().unwrap();
        for uid in 0..1000u32 {
            counts
                .insert(&uid, &(u64::from(uid) * 3), MapFlags::ANY)
                .unwrap();
        }
        let map = obj.map("counts").unwrap();
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            // Uneven batches; the second pass reuses (and must fully replace) the buffers.
            let n = map.lookup_batch_into(64, &mut keys, &mut values).unwrap();
            assert_eq!(n, 1000);
            assert_eq!((keys.len(), values.len()), (4000, 8000));
            let mut seen: Vec<(u32, u64)> = keys
                .chunks_exact(4)
                .zip(values.chunks_exact(8))
                .map(|(k, v)| {
                    (
                        u32::from_ne_bytes(k.try_into().unwrap()),
                        u64::from_ne_bytes(v.try_into().unwrap()),
                    )
                })
                .collect();
            seen.sort_unstable();
            assert_eq!(
                seen,
                (0..1000u32)
                    .map(|u| (u, u64::from(u) * 3))
                    .collect::<Vec<_>>()
            );
        }
        let (k, v) = map.lookup_batch(1000).unwrap();
        assert_eq!((k.len(), v.len()), (4000, 8000));
    }
}
