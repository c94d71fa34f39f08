//! Local storage keyed by a kernel object's fd — [`SkStorage`] (sockets),
//! [`TaskStorage`] (tasks, by pidfd), [`InodeStorage`] (files), [`CgrpStorage`]
//! (cgroups) — and the cgroup storage of cgroup programs: [`CgroupStorage`],
//! [`PerCpuCgroupStorage`].

use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd};

use super::iter::TypedKeys;
use super::percpu::PerCpuValues;
use super::typed::{check_all, typed_view};
use super::{Map, MapError, MapFlags, MapType};
use crate::pod::Pod;

/// The key user space passes for an fd-keyed storage: the fd itself, as an `int`.
fn fd_key(fd: std::os::fd::BorrowedFd<'_>) -> [u8; 4] {
    fd.as_raw_fd().to_ne_bytes()
}

/// An fd-keyed local storage view, with its doc, type and what its fds name.
macro_rules! fd_storage {
    ($(#[$doc:meta])* $view:ident, $map_type:ident, $name:literal, $object:literal) => {
        $(#[$doc])*
        pub struct $view<'a, V: Pod> {
            map: &'a Map,
            _t: PhantomData<V>,
        }

        typed_view!($view<V>, |map| check_all::<i32, V>(map, &[MapType::$map_type], $name));

        impl<V: Pod> $view<'_, V> {
            #[doc = concat!("The value stored for the ", $object, " `fd` refers to, if any.")]
            pub fn get(&self, fd: impl AsFd) -> Result<Option<V>, MapError> {
                let mut v = V::zeroed();
                let found = self.map.lookup_into(&fd_key(fd.as_fd()), v.as_bytes_mut(), MapFlags::ANY)?;
                Ok(found.then_some(v))
            }

            #[doc = concat!("Stores `value` for the ", $object, " `fd` refers to, as `flags` allow.")]
            pub fn insert(&self, fd: impl AsFd, value: &V, flags: MapFlags) -> Result<(), MapError> {
                self.map.update(&fd_key(fd.as_fd()), value.as_bytes(), flags)
            }

            #[doc = concat!("Removes the value of the ", $object, " `fd` refers to; false when absent.")]
            pub fn remove(&self, fd: impl AsFd) -> Result<bool, MapError> {
                self.map.delete(&fd_key(fd.as_fd()))
            }
        }
    };
}

fd_storage!(
    /// Socket local storage (`BPF_MAP_TYPE_SK_STORAGE`, 5.2+), keyed by a socket's fd.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corebpf::map::{Map, MapDef, MapType, SkStorage};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // Local storage maps must not preallocate (BPF_F_NO_PREALLOC) and need BTF,
    /// // so they come from an object: `obj.map("sk_stash")`.
    /// # let map: Map = unimplemented!();
    /// let stash: SkStorage<u64> = (&map).try_into()?;
    /// let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// println!("{:?}", stash.get(&sock)?);
    /// # Ok(())
    /// # }
    /// ```
    SkStorage,
    SK_STORAGE,
    "sk_storage",
    "socket"
);

fd_storage!(
    /// Task local storage (`BPF_MAP_TYPE_TASK_STORAGE`, 5.11+), keyed by a pidfd
    /// (`pidfd_open(2)`) of the task; `*_pid` methods open it from a pid.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corebpf::map::TaskStorage;
    /// use corebpf::Loader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let obj = Loader::new().load_file("bpf-progs/maps_storage.bpf.o")?;
    /// let calls: TaskStorage<u64> = obj.map("task_calls").expect("task_calls").try_into()?;
    /// println!("this process: {:?}", calls.get_pid(std::process::id())?);
    /// # Ok(())
    /// # }
    /// ```
    TaskStorage,
    TASK_STORAGE,
    "task_storage",
    "task"
);

fd_storage!(
    /// Inode local storage (`BPF_MAP_TYPE_INODE_STORAGE`, 5.10+), keyed by an fd of
    /// an open file.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corebpf::map::InodeStorage;
    /// use corebpf::Loader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let obj = Loader::new().load_file("bpf-progs/maps_inode_storage.bpf.o")?;
    /// let opens: InodeStorage<u64> = obj.map("inode_opens").expect("inode_opens").try_into()?;
    /// let file = std::fs::File::open("/etc/hostname")?;
    /// println!("{:?}", opens.get(&file)?);
    /// # Ok(())
    /// # }
    /// ```
    InodeStorage,
    INODE_STORAGE,
    "inode_storage",
    "inode of the file"
);

fd_storage!(
    /// Cgroup local storage (`BPF_MAP_TYPE_CGRP_STORAGE`, 6.2+), keyed by an fd of
    /// the cgroup's directory.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corebpf::map::CgrpStorage;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let map: corebpf::Map = unimplemented!();
    /// let per_cgroup: CgrpStorage<u64> = (&map).try_into()?;
    /// let cgroup = std::fs::File::open("/sys/fs/cgroup")?;
    /// println!("{:?}", per_cgroup.get(&cgroup)?);
    /// # Ok(())
    /// # }
    /// ```
    CgrpStorage,
    CGRP_STORAGE,
    "cgrp_storage",
    "cgroup"
);

impl<V: Pod> TaskStorage<'_, V> {
    /// The value stored for process `pid` (through a pidfd opened for the call).
    pub fn get_pid(&self, pid: u32) -> Result<Option<V>, MapError> {
        self.get(pidfd(self.map, pid)?)
    }

    /// Stores `value` for process `pid`, as `flags` allow.
    pub fn insert_pid(&self, pid: u32, value: &V, flags: MapFlags) -> Result<(), MapError> {
        self.insert(pidfd(self.map, pid)?, value, flags)
    }

    /// Removes the value of process `pid`; false when absent.
    pub fn remove_pid(&self, pid: u32) -> Result<bool, MapError> {
        self.remove(pidfd(self.map, pid)?)
    }
}

fn pidfd(map: &Map, pid: u32) -> Result<std::os::fd::OwnedFd, MapError> {
    crate::sys::pidfd_open(pid).map_err(map.sys_err())
}

/// The key of a cgroup storage map of 16-byte keys (`struct bpf_cgroup_storage_key`):
/// a cgroup (its inode number, i.e. its id) and the attach type of the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct CgroupStorageKey {
    /// The cgroup id (the inode number of its directory).
    pub cgroup_inode_id: u64,
    /// `enum bpf_attach_type` of the program that uses the storage.
    pub attach_type: u32,
    /// Padding (zero).
    pub pad: u32,
}

// SAFETY: `#[repr(C)]`, u64 + u32 + u32: no padding, every bit pattern valid.
unsafe impl Pod for CgroupStorageKey {}

/// Cgroup storage (`BPF_MAP_TYPE_CGROUP_STORAGE`, 4.19+): one value per cgroup (and
/// attach type) a cgroup program is attached to; programs get theirs with
/// `bpf_get_local_storage`. `K` is [`CgroupStorageKey`], or `u64` (the cgroup id
/// alone) for a map declared with 8-byte keys (5.9+).
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::{CgroupStorage, CgroupStorageKey};
/// # fn main() -> Result<(), corebpf::MapError> {
/// # let map: corebpf::Map = unimplemented!();
/// let storage: CgroupStorage<CgroupStorageKey, u64> = (&map).try_into()?;
/// for key in storage.keys() {
///     let key = key?;
///     println!("cgroup {}: {:?}", key.cgroup_inode_id, storage.get(&key)?);
/// }
/// # Ok(())
/// # }
/// ```
pub struct CgroupStorage<'a, K: Pod, V: Pod> {
    map: &'a Map,
    _t: PhantomData<(K, V)>,
}

typed_view!(CgroupStorage<K, V>, |map| check_all::<K, V>(
    map,
    &[MapType::CGROUP_STORAGE],
    "cgroup_storage"
));

impl<K: Pod, V: Pod> CgroupStorage<'_, K, V> {
    /// The value of `key`'s cgroup, if a program is attached there.
    pub fn get(&self, key: &K) -> Result<Option<V>, MapError> {
        let mut v = V::zeroed();
        let found = self
            .map
            .lookup_into(key.as_bytes(), v.as_bytes_mut(), MapFlags::ANY)?;
        Ok(found.then_some(v))
    }

    /// Sets the value of `key`'s cgroup (which must exist: storage is created by
    /// attaching, never by user space).
    pub fn set(&self, key: &K, value: &V, flags: MapFlags) -> Result<(), MapError> {
        self.map.update(key.as_bytes(), value.as_bytes(), flags)
    }

    /// The keys of every cgroup with storage.
    pub fn keys(&self) -> TypedKeys<'_, K> {
        TypedKeys::new(self.map)
    }
}

/// Per-CPU cgroup storage (`BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE`): a
/// [`CgroupStorage`] with one value per possible CPU.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::{CgroupStorageKey, PerCpuCgroupStorage};
/// # fn main() -> Result<(), corebpf::MapError> {
/// # let map: corebpf::Map = unimplemented!();
/// let storage: PerCpuCgroupStorage<CgroupStorageKey, u64> = (&map).try_into()?;
/// for key in storage.keys() {
///     let key = key?;
///     let total: u64 = storage.get(&key)?.map_or(0, |v| v.iter().sum());
///     println!("cgroup {}: {total}", key.cgroup_inode_id);
/// }
/// # Ok(())
/// # }
/// ```
pub struct PerCpuCgroupStorage<'a, K: Pod, V: Pod> {
    map: &'a Map,
    _t: PhantomData<(K, V)>,
}

typed_view!(PerCpuCgroupStorage<K, V>, |map| check_all::<K, V>(
    map,
    &[MapType::PERCPU_CGROUP_STORAGE],
    "percpu_cgroup_storage"
));

impl<K: Pod, V: Pod> PerCpuCgroupStorage<'_, K, V> {
    /// The values of `key`'s cgroup on every CPU, if a program is attached there.
    pub fn get(&self, key: &K) -> Result<Option<PerCpuValues<V>>, MapError> {
        let mut buf = vec![0u8; self.map.value_buf_size()];
        if !self
            .map
            .lookup_into(key.as_bytes(), &mut buf, MapFlags::ANY)?
        {
            return Ok(None);
        }
        PerCpuValues::decode(self.map, &buf).map(Some)
    }

    /// Sets the values of `key`'s cgroup.
    pub fn set(&self, key: &K, values: &PerCpuValues<V>, flags: MapFlags) -> Result<(), MapError> {
        let mut buf = Vec::new();
        values.encode_into(self.map, &mut buf)?;
        self.map.update(key.as_bytes(), &buf, flags)
    }

    /// The keys of every cgroup with storage.
    pub fn keys(&self) -> TypedKeys<'_, K> {
        TypedKeys::new(self.map)
    }
}
