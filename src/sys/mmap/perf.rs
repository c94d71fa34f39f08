//! A perf event's ring buffer (`perf_event_open` + `mmap`) as a consumer maps it.

use super::{page_size, Access, MmapRegion};
use crate::sys::{SysError, SysResult};
use std::os::fd::BorrowedFd;
use std::sync::atomic::Ordering;

/// A perf event ring buffer (`perf_event_open` + `mmap`), mapped for consuming.
#[derive(Debug)]
pub struct PerfMapping {
    region: MmapRegion,
    data_offset: usize,
    data_size: usize,
}

/// Offsets in `struct perf_event_mmap_page`.
const DATA_HEAD: usize = 1024;
const DATA_TAIL: usize = 1032;
const DATA_OFFSET: usize = 1040;
const DATA_SIZE: usize = 1048;

impl PerfMapping {
    /// Maps the perf event `fd` with `data_pages` data pages (a power of two) after the
    /// metadata page.
    pub fn new(fd: BorrowedFd<'_>, data_pages: usize) -> SysResult<Self> {
        if !data_pages.is_power_of_two() {
            return Err(SysError::invalid(
                "mmap",
                "perf buffer page count must be a power of two",
            ));
        }
        let page = page_size();
        let len = data_pages
            .checked_add(1)
            .and_then(|n| n.checked_mul(page))
            .ok_or_else(|| SysError::invalid("mmap", "perf buffer too large"))?;
        let region = MmapRegion::map_shared(fd, len, Access::ReadWrite, 0)?;
        // Kernels since 4.1 publish the data area; fall back to "after the first page".
        let off = region.load_u64(DATA_OFFSET, Ordering::Relaxed).unwrap_or(0) as usize;
        let size = region.load_u64(DATA_SIZE, Ordering::Relaxed).unwrap_or(0) as usize;
        let (data_offset, data_size) = if size == 0 {
            (page, len - page)
        } else {
            (off, size)
        };
        let fits = data_offset
            .checked_add(data_size)
            .is_some_and(|end| end <= len);
        if !fits || !data_size.is_power_of_two() {
            return Err(SysError::invalid(
                "mmap",
                "perf buffer reports a bad data area",
            ));
        }
        Ok(PerfMapping {
            region,
            data_offset,
            data_size,
        })
    }

    /// Size of the data area in bytes (a power of two).
    pub fn data_size(&self) -> usize {
        self.data_size
    }

    /// The kernel's write position (acquire).
    pub fn data_head(&self) -> u64 {
        self.region
            .load_u64(DATA_HEAD, Ordering::Acquire)
            .unwrap_or(0)
    }

    /// Our read position.
    pub fn data_tail(&self) -> u64 {
        self.region
            .load_u64(DATA_TAIL, Ordering::Acquire)
            .unwrap_or(0)
    }

    /// Publishes a new read position (release), freeing the space before it.
    pub fn set_data_tail(&mut self, tail: u64) {
        self.region.store_u64(DATA_TAIL, tail, Ordering::Release);
    }

    /// Copies the bytes at ring position `pos` into `buf`, wrapping around the end of
    /// the ring. `false` unless `[pos, pos + buf.len())` lies between the tail and the
    /// head (the part the kernel has written and will not touch until the tail moves).
    pub fn read(&self, pos: u64, buf: &mut [u8]) -> bool {
        let (tail, head) = (self.data_tail(), self.data_head());
        let len = buf.len() as u64;
        let ok = pos >= tail
            && pos.checked_add(len).is_some_and(|end| end <= head)
            && head - tail <= self.data_size as u64;
        if !ok {
            return false;
        }
        let off = (pos % self.data_size as u64) as usize;
        let first = buf.len().min(self.data_size - off);
        let (a, b) = buf.split_at_mut(first);
        self.region.read(self.data_offset + off, a) && self.region.read(self.data_offset, b)
    }
}
