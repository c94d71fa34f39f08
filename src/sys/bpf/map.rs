//! `BPF_MAP_CREATE` and map element and batch access ([`MapFd`], [`MapAccess`]).

use super::attr::{attr_struct, AttrBytes};
use super::consts::{map_type, BPF_OBJ_NAME_LEN};
use super::info::{map_info, MapInfo};
use super::{bpf, bpf_fd, fd_u32, ptr_u64, BpfCmd};
use crate::sys::{SysError, SysResult};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

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

/// Attributes of `BPF_MAP_CREATE`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MapCreateAttr<'a> {
    /// One of [`map_type`](super::map_type).
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries (ring buffers: data size in bytes).
    pub max_entries: u32,
    /// [`map_flags`](super::map_flags).
    pub map_flags: u32,
    /// The inner map template of a map-in-map.
    pub inner_map_fd: Option<BorrowedFd<'a>>,
    /// NUMA node (with `map_flags::NUMA_NODE`).
    pub numa_node: u32,
    /// The map's name (see [`obj_name`](super::obj_name)).
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
    #[inline]
    pub fn access(&self) -> MapAccess<'_> {
        MapAccess {
            fd: self.fd.as_fd(),
            key_size: self.info.key_size as usize,
            value_size: self.info.value_size as usize,
            value_buf_size: self.value_buf_size,
        }
    }

    /// What the kernel reported when the descriptor was wrapped.
    pub fn info(&self) -> &MapInfo {
        &self.info
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
            let cpus = crate::sys::possible_cpus()? as usize;
            value_size
                .checked_next_multiple_of(8)
                .and_then(|slot| slot.checked_mul(cpus))
                .ok_or_else(|| SysError::invalid(CALL, "per-CPU value size overflows"))?
        } else {
            value_size
        };
        Ok(MapAccess {
            fd,
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
        key_size: usize,
        value_size: usize,
    ) -> Self {
        MapAccess {
            fd,
            key_size,
            value_size,
            value_buf_size: value_size,
        }
    }

    /// Key size in bytes (0 for queues, stacks and bloom filters).
    #[inline]
    pub fn key_size(&self) -> usize {
        self.key_size
    }

    /// Value size in bytes, as declared.
    #[inline]
    pub fn value_size(&self) -> usize {
        self.value_size
    }

    /// Bytes the kernel reads or writes for one value from user space: `value_size`,
    /// or for per-CPU maps `round_up(value_size, 8) * possible_cpus()`.
    #[inline]
    pub fn value_buf_size(&self) -> usize {
        self.value_buf_size
    }

    /// The key pointer for the kernel: null for key-less maps, else `key` after
    /// checking its length.
    #[inline]
    fn key_ptr(&self, call: &'static str, key: &[u8]) -> SysResult<u64> {
        if self.key_size == 0 {
            return Ok(0);
        }
        if key.len() < self.key_size {
            return Err(short_buffer(
                call,
                "key",
                key.len(),
                "map key size is",
                self.key_size,
            ));
        }
        Ok(ptr_u64(key.as_ptr()))
    }

    /// Checks a value buffer's length.
    #[inline]
    fn check_value(&self, call: &'static str, len: usize) -> SysResult<()> {
        if len < self.value_buf_size {
            return Err(short_buffer(
                call,
                "value",
                len,
                "map needs",
                self.value_buf_size,
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

/// The error for a buffer shorter than the map needs (kept out of line: element
/// access is inlined into its callers).
#[cold]
#[inline(never)]
fn short_buffer(
    call: &'static str,
    what: &str,
    got: usize,
    need_what: &str,
    need: usize,
) -> SysError {
    SysError::invalid(
        call,
        format!("{what} buffer is {got} bytes, {need_what} {need}"),
    )
}

/// Maps `ENOENT` to `Ok(false)`, success to `Ok(true)`.
#[inline]
fn found(r: SysResult<i64>) -> SysResult<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.errno() == libc::ENOENT => Ok(false),
        Err(e) => Err(e),
    }
}

/// `BPF_MAP_LOOKUP_ELEM`: copies the value of `key` into `value`; `Ok(false)` if there
/// is no such element.
#[inline]
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
#[inline]
pub fn map_lookup_and_delete_elem(
    map: &MapAccess<'_>,
    key: &[u8],
    value: &mut [u8],
    flags: u64,
) -> SysResult<bool> {
    elem_with_value_out(BpfCmd::MapLookupAndDeleteElem, map, key, value, flags)
}

#[inline(always)]
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

/// `BPF_MAP_UPDATE_ELEM` with [`update_flags`](super::update_flags) (for queues and stacks the key is
/// ignored and may be empty: this pushes `value`).
#[inline]
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
#[inline]
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
#[inline]
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
        return Err(short_buffer(
            CMD.name(),
            "next-key",
            next.len(),
            "map key size is",
            map.key_size,
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

#[cfg(test)]
mod tests {
    use super::super::test_util::{devnull, errno};
    use super::super::update_flags;
    use super::*;
    use crate::sys::{with_syscall_override, Syscall};
    use std::mem::offset_of;

    #[test]
    fn attr_layout_matches_uapi() {
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
        let map = unsafe { MapAccess::from_parts(null.as_fd(), 4, 8) };
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
        let map = unsafe { MapAccess::from_parts(null.as_fd(), 4, 8) };
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

        // The deleting variant issues its own command, with the same end-of-map answer.
        let mut cmds = Vec::new();
        let more = with_syscall_override(
            |c| {
                if let Syscall::Bpf { cmd, .. } = c {
                    cmds.push(*cmd);
                }
                errno(libc::ENOENT)
            },
            || {
                map_lookup_and_delete_batch(
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
        assert_eq!(cmds, [BpfCmd::MapLookupAndDeleteBatch]);
    }
}
