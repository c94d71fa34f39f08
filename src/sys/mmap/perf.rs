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
        let size = self.data_size;
        let mask = size - 1;
        // Resolve the data area once, instead of bounds-checking every access per
        // record: every offset below is masked into it.
        let data = self.region.range(self.data_offset, size)?;
        let head = self.data_head();
        // Only this process writes the tail.
        let mut tail = self.region.load_u64(DATA_TAIL, Ordering::Relaxed)?;
        if head < tail || head - tail > size as u64 {
            return None;
        }
        let start = tail;
        let mut records = 0;
        let mut sound = true;
        // The last header read and its record's size (a bare header to begin with).
        let mut last_header = [0u8; HEADER];
        last_header[6..].copy_from_slice(&(HEADER as u16).to_ne_bytes());
        let mut last_len = HEADER as u64;
        while tail < head {
            let off = (tail & mask as u64) as usize;
            if tail + PREFETCH_AHEAD as u64 <= head {
                // Written data two pages on: start its page walk and cache fill now (the
                // hardware prefetcher stops at page boundaries). Only what the kernel has
                // published, so no line it is about to write gets shared.
                super::ringbuf::prefetch(data.wrapping_add((off + PREFETCH_AHEAD) & mask));
            }
            let mut header = [0u8; HEADER];
            if off + HEADER <= size {
                // SAFETY: `off + 8 <= size`, so the header lies within the data area,
                // mapped readable while `self` lives; the kernel wrote it before
                // publishing the head (acquired above) and does not touch it before the
                // tail moves past it. An unaligned read of plain bytes.
                header = unsafe { data.add(off).cast::<[u8; HEADER]>().read_unaligned() };
            } else if !self.copy_wrapped(off, &mut header) {
                sound = false;
                break;
            }
            // A header like the last one has its size: the next record's position then
            // follows from a predicted branch rather than from this load, so the CPU
            // reads ahead instead of waiting for each header in turn.
            let len = if header == last_header {
                last_len
            } else {
                let len = u64::from(u16::from_ne_bytes([header[6], header[7]]));
                if len < HEADER as u64 {
                    sound = false;
                    break;
                }
                (last_header, last_len) = (header, len);
                len
            };
            if len > head - tail {
                sound = false;
                break;
            }
            let body_off = (off + HEADER) & mask;
            let body_len = len as usize - HEADER;
            let body = if body_off + body_len <= size {
                // SAFETY: `body_off + body_len <= size`: within the data area, mapped
                // while `self` lives. The bytes lie between the tail and the head (len <=
                // head - tail): written, and not reused before the tail moves, after the
                // loop, when no body is borrowed any more (the slice does not escape `f`).
                unsafe { std::slice::from_raw_parts(data.add(body_off), body_len) }
            } else {
                scratch.resize(body_len, 0);
                if !self.copy_wrapped(body_off, scratch) {
                    sound = false;
                    break;
                }
                &scratch[..]
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
        if tail != start {
            // The kernel reads the tail when it writes: leave its line alone when
            // nothing was read.
            self.set_data_tail(tail);
        }
        sound.then_some(records)
    }
}

/// How far ahead of the record being read [`PerfMapping::consume`] prefetches: two
/// pages, as for the BPF ring buffer.
const PREFETCH_AHEAD: usize = 8192;
