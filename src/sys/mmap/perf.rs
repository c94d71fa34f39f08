//! A perf event's ring buffer (`perf_event_open` + `mmap`) as a consumer maps it.

use super::{page_size, Access, MmapRegion};
use crate::sys::{SysError, SysResult};
use std::ops::ControlFlow;
use std::os::fd::BorrowedFd;
use std::sync::atomic::Ordering;

/// One record of a perf ring: `perf_event_header.type`, `.misc`, and the bytes after
/// the 8-byte header (`header.size - 8` of them).
#[derive(Debug, PartialEq, Eq)]
pub struct PerfRecord<'a> {
    /// `PERF_RECORD_*`.
    pub kind: u32,
    /// `PERF_RECORD_MISC_*` bits.
    pub misc: u16,
    /// The record's body.
    pub body: &'a [u8],
}

/// The size of `struct perf_event_header`.
const HEADER: usize = 8;

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

    /// Copies `buf.len()` bytes at data-area offset `off`, continuing at the start of the
    /// area past its end. `off` must be below the data size.
    fn copy_wrapped(&self, off: usize, buf: &mut [u8]) -> bool {
        let first = buf.len().min(self.data_size - off);
        let (a, b) = buf.split_at_mut(first);
        self.region.read(self.data_offset + off, a) && self.region.read(self.data_offset, b)
    }

    /// The 8-byte record header at data-area offset `off` (below the data size), or
    /// zeros when it cannot be read. Headers are 8-byte aligned and the data size is a
    /// multiple of 8, so a header never wraps around the ring's end unless the positions
    /// are corrupt: the common case is one bounds check and one load, without a copy.
    fn header(&self, off: usize) -> [u8; HEADER] {
        let mut header = [0u8; HEADER];
        match self.region.slice(self.data_offset + off, HEADER) {
            Some(bytes) if off + HEADER <= self.data_size => header.copy_from_slice(bytes),
            _ => {
                if !self.copy_wrapped(off, &mut header) {
                    header = [0; HEADER];
                }
            }
        }
        header
    }

    /// Hands every record between the tail and the head to `f`, in order, then moves
    /// the tail past them once (as libbpf's `perf_event_read_simple` does). A record's
    /// body is borrowed from the ring, or, when it wraps around the ring's end, copied
    /// into `scratch` first. Stops early after a record for which `f` returns
    /// `ControlFlow::Break` (that record counts as read). Returns the number of records
    /// handed to `f`, or `None` when the positions or a header are inconsistent (the
    /// records before the bad one are consumed).
    pub fn consume(
        &mut self,
        scratch: &mut Vec<u8>,
        mut f: impl FnMut(PerfRecord<'_>) -> ControlFlow<()>,
    ) -> Option<usize> {
        let size = self.data_size as u64;
        let mask = size - 1;
        let head = self.data_head();
        let mut tail = self.data_tail();
        if head < tail || head - tail > size {
            return None;
        }
        let mut records = 0;
        let mut sound = true;
        while tail < head {
            let off = (tail & mask) as usize;
            let header = self.header(off);
            let len = u64::from(u16::from_ne_bytes([header[6], header[7]]));
            if len < HEADER as u64 || len > head - tail {
                sound = false;
                break;
            }
            let body_off = (off + HEADER) & mask as usize;
            let body_len = len as usize - HEADER;
            let body = if body_off + body_len <= self.data_size {
                // Between the tail and the head: written, and not reused before the tail
                // moves, after the loop, when no body is borrowed any more.
                self.region.slice(self.data_offset + body_off, body_len)
            } else {
                scratch.resize(body_len, 0);
                self.copy_wrapped(body_off, scratch).then_some(&scratch[..])
            };
            let Some(body) = body else {
                sound = false;
                break;
            };
            records += 1;
            let flow = f(PerfRecord {
                kind: u32::from_ne_bytes([header[0], header[1], header[2], header[3]]),
                misc: u16::from_ne_bytes([header[4], header[5]]),
                body,
            });
            tail += len;
            if flow.is_break() {
                break;
            }
        }
        self.set_data_tail(tail);
        sound.then_some(records)
    }
}
