//! Memory mappings shared with the kernel: generic fd-backed regions, the BPF ring
//! buffer ([`ringbuf`]) and the perf ring buffer ([`perf`]).
//!
//! Everything here hands out only bounds-checked copies, atomics loads/stores and
//! slices the kernel can no longer write to, so the layers above need no `unsafe`.

mod perf;
mod ringbuf;
mod user_ringbuf;

pub use perf::{PerfMapping, PerfRecord};
#[cfg(test)]
pub use ringbuf::RingbufRecord;
pub use ringbuf::{RecordBatch, RingbufMapping};
pub use user_ringbuf::{ReserveError, UserRingbufMapping, UserRingbufReservation};

pub use super::page_size;
use super::{syscall, SysError, SysResult, Syscall};
use std::ffi::c_void;
use std::os::fd::BorrowedFd;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

/// Access mode of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `PROT_READ`.
    ReadOnly,
    /// `PROT_READ | PROT_WRITE`.
    ReadWrite,
}

impl Access {
    fn prot(self) -> libc::c_int {
        match self {
            Access::ReadOnly => libc::PROT_READ,
            Access::ReadWrite => libc::PROT_READ | libc::PROT_WRITE,
        }
    }
}

/// An owned memory mapping, unmapped on drop.
#[derive(Debug)]
pub struct MmapRegion {
    ptr: NonNull<u8>,
    len: usize,
    access: Option<Access>,
}

// SAFETY: the region is plain memory owned by this value; all access goes through
// `&self` methods that read with copies/atomics or `&mut self` methods that write, so
// moving it to or sharing it with another thread is as safe as for a `Vec<u8>`.
unsafe impl Send for MmapRegion {}
// SAFETY: as above; `&self` methods only copy out or use atomics.
unsafe impl Sync for MmapRegion {}

fn mmap_err(e: std::io::Error) -> SysError {
    SysError::from_io("mmap", e)
}

impl MmapRegion {
    /// Maps `len` bytes of `fd` at `offset` (`MAP_SHARED`): a BPF map with
    /// `BPF_F_MMAPABLE`, a ring buffer, a perf event.
    pub fn map_shared(
        fd: BorrowedFd<'_>,
        len: usize,
        access: Access,
        offset: u64,
    ) -> SysResult<Self> {
        if len == 0 {
            return Err(SysError::invalid("mmap", "zero-length mapping"));
        }
        let offset =
            i64::try_from(offset).map_err(|_| SysError::invalid("mmap", "offset too large"))?;
        let call = Syscall::Mmap {
            addr: ptr::null_mut(),
            len,
            prot: access.prot(),
            flags: libc::MAP_SHARED,
            fd: Some(fd),
            offset,
        };
        // SAFETY: not MAP_FIXED: the kernel picks a fresh range and replaces nothing.
        let addr = unsafe { syscall(call) }.map_err(mmap_err)?;
        Ok(MmapRegion {
            ptr: Self::nonnull(addr)?,
            len,
            access: Some(access),
        })
    }

    /// Reserves `len` bytes of address space (`PROT_NONE`, anonymous), to be filled with
    /// [`map_fixed`](Self::map_fixed).
    fn reserve(len: usize) -> SysResult<Self> {
        let call = Syscall::Mmap {
            addr: ptr::null_mut(),
            len,
            prot: libc::PROT_NONE,
            flags: libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            fd: None,
            offset: 0,
        };
        // SAFETY: not MAP_FIXED: the kernel picks a fresh range and replaces nothing.
        let addr = unsafe { syscall(call) }.map_err(mmap_err)?;
        Ok(MmapRegion {
            ptr: Self::nonnull(addr)?,
            len,
            access: None,
        })
    }

    fn nonnull(addr: i64) -> SysResult<NonNull<u8>> {
        NonNull::new(addr as usize as *mut u8)
            .ok_or_else(|| SysError::invalid("mmap", "kernel returned a null mapping"))
    }

    /// Maps `len` bytes of `fd` at `offset` over `[at, at + len)` of this region
    /// (`MAP_SHARED | MAP_FIXED`).
    fn map_fixed(
        &mut self,
        at: usize,
        len: usize,
        fd: BorrowedFd<'_>,
        access: Access,
        offset: u64,
    ) -> SysResult<()> {
        let end = at
            .checked_add(len)
            .filter(|&end| end <= self.len && len > 0);
        if end.is_none() {
            return Err(SysError::invalid(
                "mmap",
                "fixed mapping outside the reservation",
            ));
        }
        let offset =
            i64::try_from(offset).map_err(|_| SysError::invalid("mmap", "offset too large"))?;
        // `at` is within the reservation (checked above).
        let addr = self.ptr.as_ptr().wrapping_add(at).cast::<c_void>();
        let call = Syscall::Mmap {
            addr,
            len,
            prot: access.prot(),
            flags: libc::MAP_SHARED | libc::MAP_FIXED,
            fd: Some(fd),
            offset,
        };
        // SAFETY: MAP_FIXED replaces only `[at, at+len)` of this region, which we own
        // exclusively (`&mut self`) and to which no references exist.
        let got = unsafe { syscall(call) }.map_err(mmap_err)?;
        if got as usize != addr as usize {
            return Err(SysError::invalid(
                "mmap",
                "MAP_FIXED mapping landed elsewhere",
            ));
        }
        Ok(())
    }

    /// The address the region starts at (an arena's `user_vm_start`).
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The start of `[offset, offset + len)` if it lies within the region.
    fn range(&self, offset: usize, len: usize) -> Option<*mut u8> {
        let end = offset.checked_add(len)?;
        (end <= self.len).then(|| self.ptr.as_ptr().wrapping_add(offset))
    }

    /// Copies `buf.len()` bytes at `offset` into `buf`; `false` if out of bounds or the
    /// region is not uniformly readable.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> bool {
        match (self.access, self.range(offset, buf.len())) {
            (Some(_), Some(src)) => {
                // SAFETY: `src..src+len` is inside this readable mapping; `buf` is a
                // distinct Rust buffer. The kernel may write concurrently, which can only
                // yield stale or mixed bytes, all valid `u8`s.
                unsafe { ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) };
                true
            }
            _ => false,
        }
    }

    /// Copies `data` to `offset`; `false` if out of bounds or the region is not writable.
    pub fn write(&mut self, offset: usize, data: &[u8]) -> bool {
        match (self.access, self.range(offset, data.len())) {
            (Some(Access::ReadWrite), Some(dst)) => {
                // SAFETY: `dst..dst+len` is inside this writable mapping, which `&mut self`
                // gives us exclusive Rust access to; `data` is a distinct buffer.
                unsafe { ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
                true
            }
            _ => false,
        }
    }

    /// Copies `buf.len()` bytes at `offset` into `buf` with relaxed atomic byte loads,
    /// for memory that other threads of this process may write at the same time
    /// ([`store_bytes`](Self::store_bytes)); `false` if out of bounds or unreadable.
    pub fn load_bytes(&self, offset: usize, buf: &mut [u8]) -> bool {
        let (Some(_), Some(src)) = (self.access, self.range(offset, buf.len())) else {
            return false;
        };
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: `src + i` is inside this readable mapping, which lives as long as
            // `&self`; `AtomicU8` has the size and alignment of `u8`, and every access
            // to this memory from Rust is atomic.
            *b = unsafe { &*src.add(i).cast::<AtomicU8>() }.load(Ordering::Relaxed);
        }
        true
    }

    /// Copies `data` to `offset` with relaxed atomic byte stores, so that threads
    /// sharing the region need no `&mut` (the kernel's side is outside Rust's memory
    /// model anyway); `false` if out of bounds or the region is not writable.
    pub fn store_bytes(&self, offset: usize, data: &[u8]) -> bool {
        if self.access != Some(Access::ReadWrite) {
            return false;
        }
        let Some(dst) = self.range(offset, data.len()) else {
            return false;
        };
        for (i, &b) in data.iter().enumerate() {
            // SAFETY: `dst + i` is inside this writable mapping, which lives as long as
            // `&self`; `AtomicU8` has the size and alignment of `u8`, and every access
            // to this memory from Rust is atomic.
            unsafe { &*dst.add(i).cast::<AtomicU8>() }.store(b, Ordering::Relaxed);
        }
        true
    }

    /// The `AtomicU64` at `offset`, if in bounds and 8-byte aligned. Internal: callers
    /// must only store through it when that part of the region is writable.
    fn atomic_u64(&self, offset: usize) -> Option<&AtomicU64> {
        let p = self.range(offset, 8)?;
        if p as usize % std::mem::align_of::<AtomicU64>() != 0 {
            return None;
        }
        // SAFETY: in bounds, aligned, mapped for the region's lifetime (tied to `&self`),
        // and only ever accessed atomically (or by the kernel).
        Some(unsafe { &*p.cast::<AtomicU64>() })
    }

    /// The `AtomicU32` at `offset`, if in bounds and 4-byte aligned. Internal: callers
    /// must only store through it when that part of the region is writable.
    fn atomic_u32(&self, offset: usize) -> Option<&AtomicU32> {
        let p = self.range(offset, 4)?;
        if p as usize % std::mem::align_of::<AtomicU32>() != 0 {
            return None;
        }
        // SAFETY: as for `atomic_u64`.
        Some(unsafe { &*p.cast::<AtomicU32>() })
    }

    /// Atomically loads the u64 at `offset` (must be 8-byte aligned and readable).
    pub fn load_u64(&self, offset: usize, order: Ordering) -> Option<u64> {
        self.access?;
        Some(self.atomic_u64(offset)?.load(order))
    }

    /// Atomically loads the u32 at `offset` (must be 4-byte aligned and readable).
    pub fn load_u32(&self, offset: usize, order: Ordering) -> Option<u32> {
        self.access?;
        Some(self.atomic_u32(offset)?.load(order))
    }

    /// Atomically stores `value` at `offset`; `false` if misaligned, out of bounds or
    /// the region is not writable.
    pub fn store_u64(&self, offset: usize, value: u64, order: Ordering) -> bool {
        if self.access != Some(Access::ReadWrite) {
            return false;
        }
        match self.atomic_u64(offset) {
            Some(a) => {
                a.store(value, order);
                true
            }
            None => false,
        }
    }

    /// A mutable slice of the region. Internal: only for ranges of a writable part that
    /// the kernel does not read or write while the borrow lasts.
    fn slice_mut(&mut self, offset: usize, len: usize) -> Option<&mut [u8]> {
        let p = self.range(offset, len)?;
        // SAFETY: in bounds and mapped for the lifetime of `&mut self`, which gives us
        // the only Rust access to the region; callers only ask for writable ranges the
        // kernel leaves alone while the borrow lasts (a reserved, uncommitted record).
        Some(unsafe { std::slice::from_raw_parts_mut(p, len) })
    }

    /// A slice of the region. Internal: only for ranges the kernel no longer writes.
    fn slice(&self, offset: usize, len: usize) -> Option<&[u8]> {
        let p = self.range(offset, len)?;
        // SAFETY: in bounds and mapped readable for the lifetime of `&self`; callers only
        // ask for ranges the kernel has finished writing and will not reuse while the
        // borrow lasts.
        Some(unsafe { std::slice::from_raw_parts(p, len) })
    }
}

impl Drop for MmapRegion {
    fn drop(&mut self) {
        let call = Syscall::Munmap {
            addr: self.ptr.as_ptr().cast(),
            len: self.len,
        };
        // SAFETY: we own the whole range (including any MAP_FIXED parts) and no
        // references into it outlive `self`.
        if let Err(e) = unsafe { syscall(call) } {
            log::warn!("munmap of {} bytes failed: {e}", self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::with_syscall_override;
    use std::io;
    use std::os::fd::AsFd;

    #[test]
    fn mmap_failure_is_typed() {
        let null = std::fs::File::open("/dev/null").unwrap();
        let e = with_syscall_override(
            |c| {
                matches!(c, Syscall::Mmap { .. })
                    .then(|| Err(io::Error::from_raw_os_error(libc::EPERM)))
            },
            || MmapRegion::map_shared(null.as_fd(), 4096, Access::ReadOnly, 0),
        )
        .unwrap_err();
        assert_eq!((e.call, e.errno()), ("mmap", libc::EPERM));
        assert_eq!(
            MmapRegion::map_shared(null.as_fd(), 0, Access::ReadOnly, 0)
                .unwrap_err()
                .errno(),
            0
        );
    }

    #[test]
    fn memfd_region_read_write_atomics() {
        let fd: std::os::fd::OwnedFd = nix::sys::memfd::memfd_create(
            c"corebpf-test",
            nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
        )
        .unwrap();
        let file = std::fs::File::from(fd);
        file.set_len(8192).unwrap();
        let mut rw = MmapRegion::map_shared(file.as_fd(), 8192, Access::ReadWrite, 0).unwrap();
        assert!(rw.write(100, b"hello"));
        let ro = MmapRegion::map_shared(file.as_fd(), 4096, Access::ReadOnly, 0).unwrap();
        let mut buf = [0u8; 5];
        assert!(ro.read(100, &mut buf));
        assert_eq!(&buf, b"hello");
        assert!(!ro.read(4092, &mut buf));
        assert!(!rw.write(8190, b"abc"));
        assert!(rw.store_u64(8, 42, Ordering::Release));
        assert_eq!(ro.load_u64(8, Ordering::Acquire), Some(42));
        assert_eq!(ro.load_u64(9, Ordering::Acquire), None);
        assert_eq!(ro.load_u64(4096, Ordering::Acquire), None);
        assert!(!ro.store_u64(8, 1, Ordering::Release));
        assert_eq!(ro.load_u64(8, Ordering::Relaxed), Some(42));
        assert_eq!(
            ro.load_u32(8, Ordering::Relaxed),
            Some(if cfg!(target_endian = "little") {
                42
            } else {
                0
            })
        );
        // Offsets that overflow are rejected.
        assert!(!ro.read(usize::MAX, &mut buf));
    }

    #[test]
    fn reservation_and_fixed_mapping_alias() {
        let fd: std::os::fd::OwnedFd = nix::sys::memfd::memfd_create(
            c"corebpf-test2",
            nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
        )
        .unwrap();
        let file = std::fs::File::from(fd);
        let page = page_size();
        file.set_len(page as u64).unwrap();
        let mut r = MmapRegion::reserve(2 * page).unwrap();
        r.map_fixed(0, page, file.as_fd(), Access::ReadWrite, 0)
            .unwrap();
        r.map_fixed(page, page, file.as_fd(), Access::ReadWrite, 0)
            .unwrap();
        assert!(r
            .map_fixed(page, 2 * page, file.as_fd(), Access::ReadOnly, 0)
            .is_err());
        r.access = Some(Access::ReadWrite);
        assert!(r.write(10, b"twice"));
        let mut buf = [0u8; 5];
        assert!(r.read(page + 10, &mut buf));
        assert_eq!(&buf, b"twice");
    }
}

/// A read-only private mapping of a whole sysfs file whose contents the kernel owns and
/// never changes, such as `/sys/kernel/btf/vmlinux` (mappable since Linux 6.16): the
/// kernel's `.BTF` pages without a copy.
#[derive(Debug)]
pub struct SysfsMap {
    region: MmapRegion,
}

impl SysfsMap {
    /// Maps all of `file`, which must be on sysfs (checked with `fstatfs`; other files
    /// could be truncated or rewritten under the mapping). Kernels that don't map the file
    /// answer with an error; callers then read it instead.
    pub fn map(file: &std::fs::File) -> SysResult<SysfsMap> {
        use std::os::fd::AsFd;
        let fs = nix::sys::statfs::fstatfs(file)
            .map_err(|e| SysError::from_io("fstatfs", std::io::Error::from(e)))?;
        if fs.filesystem_type() != nix::sys::statfs::SYSFS_MAGIC {
            return Err(SysError::invalid("mmap", "not a sysfs file"));
        }
        let len = file
            .metadata()
            .map_err(|e| SysError::from_io("fstat", e))
            .and_then(|m| {
                usize::try_from(m.len()).map_err(|_| SysError::invalid("mmap", "file too large"))
            })?;
        if len == 0 {
            return Err(SysError::invalid("mmap", "empty file"));
        }
        let call = Syscall::Mmap {
            addr: ptr::null_mut(),
            len,
            prot: libc::PROT_READ,
            flags: libc::MAP_PRIVATE | libc::MAP_POPULATE,
            fd: Some(file.as_fd()),
            offset: 0,
        };
        // SAFETY: not MAP_FIXED: the kernel picks a fresh range and replaces nothing.
        let addr = unsafe { syscall(call) }.map_err(mmap_err)?;
        Ok(SysfsMap {
            region: MmapRegion {
                ptr: MmapRegion::nonnull(addr)?,
                len,
                access: Some(Access::ReadOnly),
            },
        })
    }
}

impl AsRef<[u8]> for SysfsMap {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the whole region is our live read-only mapping of a sysfs file whose
        // size and contents are fixed by the kernel (checked in `map`), so the bytes stay
        // valid and unchanged while `self` is borrowed.
        unsafe { std::slice::from_raw_parts(self.region.ptr.as_ptr(), self.region.len) }
    }
}

/// A read-only private mapping of a whole regular file, so that a large file is paged
/// in as it is read instead of copied into a growing buffer.
///
/// A file truncated by another process while mapped makes reads past its new end fault
/// (`SIGBUS`), as with any file mapping; callers map files they then copy out of at
/// once and drop the mapping.
#[derive(Debug)]
pub struct FileMap {
    region: MmapRegion,
}

impl FileMap {
    /// Maps the first `len` bytes of `file` (a regular file of at least `len` bytes,
    /// which the caller checked with `fstat`). `len` must not be 0.
    pub fn map(file: &std::fs::File, len: usize) -> SysResult<FileMap> {
        use std::os::fd::AsFd;
        if len == 0 {
            return Err(SysError::invalid("mmap", "empty file"));
        }
        let call = Syscall::Mmap {
            addr: ptr::null_mut(),
            len,
            prot: libc::PROT_READ,
            flags: libc::MAP_PRIVATE,
            fd: Some(file.as_fd()),
            offset: 0,
        };
        // SAFETY: not MAP_FIXED: the kernel picks a fresh range and replaces nothing.
        let addr = unsafe { syscall(call) }.map_err(mmap_err)?;
        Ok(FileMap {
            region: MmapRegion {
                ptr: MmapRegion::nonnull(addr)?,
                len,
                access: Some(Access::ReadOnly),
            },
        })
    }
}

impl AsRef<[u8]> for FileMap {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the whole region is our live read-only private mapping of `len` bytes;
        // it stays mapped while `self` is borrowed. Pages are only read; a concurrent
        // truncation faults rather than yielding freed memory (see the type's docs).
        unsafe { std::slice::from_raw_parts(self.region.ptr.as_ptr(), self.region.len) }
    }
}
