//! The BPF ring buffer (`BPF_MAP_TYPE_RINGBUF`) as a consumer maps it.

use super::{page_size, Access, MmapRegion};
use crate::sys::bpf::{self, map_type, ringbuf};
use crate::sys::{SysError, SysResult};
use std::ops::ControlFlow;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU32, Ordering};

/// A BPF ring buffer map (`BPF_MAP_TYPE_RINGBUF`) mapped for consuming.
///
/// Layout: the consumer page (read-write), the producer page (read-only), then the
/// data area mapped twice in a row, so a record that wraps around the end of the ring is
/// still contiguous in memory.
#[derive(Debug)]
pub struct RingbufMapping {
    layout: RingLayout,
}

/// What [`RingbufMapping::record_at`] found at a position.
#[derive(Debug, PartialEq, Eq)]
pub enum RingbufRecord<'a> {
    /// Nothing there yet (the position is the producer position).
    Empty,
    /// The record is reserved but not yet committed: stop and retry later.
    Busy,
    /// A discarded record: skip to `next`.
    Discarded {
        /// Position of the following record.
        next: u64,
    },
    /// A committed sample.
    Sample {
        /// The sample's bytes (stable until the consumer position passes them).
        data: &'a [u8],
        /// Position of the following record.
        next: u64,
    },
    /// The position or the header is inconsistent (not between the consumer and
    /// producer positions, misaligned, or a length larger than the ring).
    Corrupt,
}

/// Maps the ring buffer map `map_fd` of type `ring_type` (`what` in errors: the kernel's
/// or the user ring buffer, which share one layout), whose data area is `data_size` bytes (its
/// `max_entries`): the consumer page with `consumer` access, then the producer page and
/// the data area, twice in a row, with `producer` access. The type and size are checked
/// against what the kernel reports for the map, so a wrong one is an error rather than
/// a wrong view of the ring. The region's own access is cleared: it is not uniformly
/// writable, so callers go through the positions and records only.
/// The mapping of a ring buffer map, the kernel's or the user ring buffer, which share
/// one layout: the consumer page, the producer page, then the data area twice in a row
/// (so that a record that wraps around the end is contiguous).
#[derive(Debug)]
pub(super) struct RingLayout {
    pub(super) region: MmapRegion,
    pub(super) page: usize,
    pub(super) data_size: usize,
}

impl RingLayout {
    /// The consumer position (acquire).
    pub(super) fn consumer_pos(&self) -> u64 {
        self.region
            .atomic_u64(0)
            .map_or(0, |a| a.load(Ordering::Acquire))
    }

    /// The producer position (acquire).
    pub(super) fn producer_pos(&self) -> u64 {
        self.region
            .atomic_u64(self.page)
            .map_or(0, |a| a.load(Ordering::Acquire))
    }
}

pub(super) fn map_ring(
    map_fd: BorrowedFd<'_>,
    data_size: usize,
    (ring_type, what): (u32, &str),
    consumer: Access,
    producer: Access,
) -> SysResult<RingLayout> {
    let info = bpf::map_info(map_fd)?;
    if info.type_ != ring_type {
        return Err(SysError::invalid(
            "mmap",
            format!("map type {} is not {what}", info.type_),
        ));
    }
    if info.max_entries as usize != data_size {
        return Err(SysError::invalid(
            "mmap",
            format!("ring buffer is {} bytes, not {data_size}", info.max_entries),
        ));
    }
    let page = page_size();
    if !data_size.is_power_of_two() || data_size % page != 0 {
        return Err(SysError::invalid(
            "mmap",
            format!("bad ring buffer size {data_size}"),
        ));
    }
    let overflow = || SysError::invalid("mmap", "ring buffer too large");
    let producer_len = data_size
        .checked_mul(2)
        .and_then(|d| d.checked_add(page))
        .ok_or_else(overflow)?;
    let total = producer_len.checked_add(page).ok_or_else(overflow)?;
    let mut region = MmapRegion::reserve(total)?;
    region.map_fixed(0, page, map_fd, consumer, 0)?;
    // The kernel maps the data pages twice itself: mapping `2 * data_size` bytes after
    // the producer page yields the doubled view.
    region.map_fixed(page, producer_len, map_fd, producer, page as u64)?;
    region.access = None;
    Ok(RingLayout {
        region,
        page,
        data_size,
    })
}

impl RingbufMapping {
    /// Maps the ring buffer map `map_fd`, whose data area is `data_size` bytes (its
    /// `max_entries`). The size is checked against what the kernel reports for the map,
    /// so a wrong one is an error rather than a wrong view of the ring.
    pub fn new(map_fd: BorrowedFd<'_>, data_size: usize) -> SysResult<Self> {
        // The consumer page is ours to write; the producer page and the data are the
        // kernel's.
        let layout = map_ring(
            map_fd,
            data_size,
            (map_type::RINGBUF, "a ring buffer"),
            Access::ReadWrite,
            Access::ReadOnly,
        )?;
        Ok(RingbufMapping { layout })
    }

    /// Size of the data area in bytes (a power of two).
    pub fn data_size(&self) -> usize {
        self.layout.data_size
    }

    /// The consumer position (acquire).
    pub fn consumer_pos(&self) -> u64 {
        self.layout.consumer_pos()
    }

    /// The producer position (acquire).
    pub fn producer_pos(&self) -> u64 {
        self.layout.producer_pos()
    }

    /// Reads the record at `pos` (normally the consumer position, then each `next`).
    pub fn record_at(&self, pos: u64) -> RingbufRecord<'_> {
        let cons = self.consumer_pos();
        let prod = self.producer_pos();
        if pos == prod {
            return RingbufRecord::Empty;
        }
        let size = self.layout.data_size as u64;
        if pos < cons || pos > prod || prod - cons > size || pos % 8 != 0 {
            return RingbufRecord::Corrupt;
        }
        let off = (pos & (size - 1)) as usize;
        let data_start = 2 * self.layout.page;
        let Some(hdr) = self.layout.region.atomic_u32(data_start + off) else {
            return RingbufRecord::Corrupt;
        };
        let len = hdr.load(Ordering::Acquire);
        if len & ringbuf::BUSY_BIT != 0 {
            return RingbufRecord::Busy;
        }
        let sample_len = (len & !(ringbuf::BUSY_BIT | ringbuf::DISCARD_BIT)) as u64;
        let total = (sample_len + ringbuf::HDR_SZ as u64).next_multiple_of(8);
        if total > size || pos + total > prod {
            return RingbufRecord::Corrupt;
        }
        let next = pos + total;
        if len & ringbuf::DISCARD_BIT != 0 {
            return RingbufRecord::Discarded { next };
        }
        // The double mapping keeps the record contiguous: off < size and
        // off + total <= 2 * size.
        match self
            .layout
            .region
            .slice(data_start + off + ringbuf::HDR_SZ, sample_len as usize)
        {
            Some(data) => RingbufRecord::Sample { data, next },
            None => RingbufRecord::Corrupt,
        }
    }

    /// Consumes committed records in order, calling `f` on each sample and releasing
    /// each record (discarded ones too) as soon as it is handled, as libbpf does. Stops
    /// at the first record not yet committed, or after a sample for which `f` returns
    /// `ControlFlow::Break` (that sample counts as consumed). Returns the number of
    /// samples handed to `f`, or `None` if the ring is corrupt.
    pub fn consume(&mut self, mut f: impl FnMut(&[u8]) -> ControlFlow<()>) -> Option<usize> {
        // Resolve the three places once, as libbpf's ringbuf_process_ring does, instead of
        // bounds-checking every access per record (the double mapping keeps every record
        // within `data .. data + 2 * size`).
        let (Some(cons_pos), Some(prod_pos)) = (
            self.layout.region.atomic_u64(0),
            self.layout.region.atomic_u64(self.layout.page),
        ) else {
            return None;
        };
        let size = self.layout.data_size as u64;
        let mask = size - 1;
        let data_start = 2 * self.layout.page;
        let data = self
            .layout
            .region
            .range(data_start, 2 * self.layout.data_size)?;
        let mut cons = cons_pos.load(Ordering::Acquire);
        let mut samples = 0;
        // The last header word read and its record's space (a committed empty sample to
        // begin with: 8 bytes).
        let (mut last_len, mut last_total) = (0u32, ringbuf::HDR_SZ as u64);
        loop {
            let prod = prod_pos.load(Ordering::Acquire);
            if prod < cons || prod - cons > size || cons % 8 != 0 {
                return None;
            }
            if cons == prod {
                return Some(samples);
            }
            while cons < prod {
                let off = (cons & mask) as usize;
                if cons + PREFETCH_AHEAD as u64 <= prod {
                    // Committed data two pages on: start its page walk and cache fill
                    // now, so the reads there don't stall. Only what the producer has
                    // already written, so no line it is about to write gets shared.
                    prefetch(data.wrapping_add(off + PREFETCH_AHEAD));
                }
                // SAFETY: off < size, so the 4-byte header lies within the doubled data
                // area, 8-byte aligned (cons is a multiple of 8 and the area page-aligned);
                // the kernel writes it atomically.
                let hdr = unsafe { &*data.add(off).cast::<AtomicU32>() };
                let len = hdr.load(Ordering::Acquire);
                // As in `RecordBatch::next`: a header like the last one has its length,
                // so the next position need not wait for this load.
                let total = if len == last_len {
                    last_total
                } else {
                    if len & ringbuf::BUSY_BIT != 0 {
                        return Some(samples);
                    }
                    let total = record_space(len);
                    if total > size {
                        return None;
                    }
                    (last_len, last_total) = (len, total);
                    total
                };
                if cons + total > prod {
                    return None;
                }
                let sample_len = len & !(ringbuf::BUSY_BIT | ringbuf::DISCARD_BIT);
                let next = cons + total;
                let flow = if len & ringbuf::DISCARD_BIT == 0 {
                    samples += 1;
                    // SAFETY: off + total <= 2 * size (off < size, total <= size), so the
                    // sample lies within the doubled data area; the kernel committed it
                    // and does not reuse it before the consumer position passes it, which
                    // happens only after `f` returns (the slice does not escape `f`).
                    let sample = unsafe {
                        std::slice::from_raw_parts(
                            data.add(off + ringbuf::HDR_SZ),
                            sample_len as usize,
                        )
                    };
                    f(sample)
                } else {
                    ControlFlow::Continue(())
                };
                cons = next;
                cons_pos.store(cons, Ordering::Release);
                if flow.is_break() {
                    return Some(samples);
                }
            }
        }
    }
}

impl RingbufMapping {
    /// Hands `f` the committed records as one batch, borrowed from the ring, and moves
    /// the consumer position once, after `f` returns, past every record the batch
    /// yielded (or skipped as discarded). Records `f` did not iterate to stay for the
    /// next batch. Returns what `f` returned and the number of samples yielded, or
    /// `None` if the ring is corrupt (the records before the bad one are consumed).
    pub fn batch<R>(&mut self, f: impl FnOnce(&mut RecordBatch<'_>) -> R) -> Option<(R, usize)> {
        let (Some(cons_pos), Some(prod_pos)) = (
            self.layout.region.atomic_u64(0),
            self.layout.region.atomic_u64(self.layout.page),
        ) else {
            return None;
        };
        let data = self
            .layout
            .region
            .range(2 * self.layout.page, 2 * self.layout.data_size)?;
        let size = self.layout.data_size as u64;
        let cons = cons_pos.load(Ordering::Acquire);
        let prod = prod_pos.load(Ordering::Acquire);
        if prod < cons || prod - cons > size || cons % 8 != 0 {
            return None;
        }
        let mut batch = RecordBatch {
            data,
            mask: size - 1,
            cons,
            prod,
            samples: 0,
            corrupt: false,
            prefetched: 0,
            // A committed empty sample: its header alone, 8 bytes.
            last_len: 0,
            last_total: ringbuf::HDR_SZ as u64,
            _region: std::marker::PhantomData,
        };
        let out = f(&mut batch);
        // Every slice the batch handed out borrowed it, and `f` has returned: none is
        // left when the kernel may reuse the space.
        cons_pos.store(batch.cons, Ordering::Release);
        (!batch.corrupt).then_some((out, batch.samples))
    }
}

/// The records committed in one ring buffer when a batch started: an iterator over
/// their bytes, borrowed from the ring without a copy
/// ([`RingBuffer::consume_batch`](crate::RingBuffer::consume_batch)).
///
/// The consumer position moves once, when the batch ends, past every record the
/// iterator reached; records not iterated to stay in the ring for the next batch. The
/// iteration ends at the first record a BPF program has reserved but not yet submitted.
pub struct RecordBatch<'a> {
    /// The doubled data area.
    data: *mut u8,
    mask: u64,
    /// The position of the next record.
    cons: u64,
    /// The producer position when the batch started.
    prod: u64,
    samples: usize,
    corrupt: bool,
    /// The start of the first cache line not yet prefetched.
    prefetched: u64,
    /// The last header length word read, of a committed record no larger than the
    /// ring, and the space that record took: a record with the same word takes the same.
    last_len: u32,
    last_total: u64,
    _region: std::marker::PhantomData<&'a MmapRegion>,
}

impl RecordBatch<'_> {
    /// Samples yielded so far.
    pub fn yielded(&self) -> usize {
        self.samples
    }
}

impl std::fmt::Debug for RecordBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatch")
            .field("pos", &self.cons)
            .field("end", &self.prod)
            .field("yielded", &self.samples)
            .finish()
    }
}

impl RecordBatch<'_> {
    /// The space a record whose header is `len` takes (header and padding included),
    /// remembered as the last length; `None`, ending the batch, when the record is not
    /// committed yet or larger than the ring (corrupt).
    #[cold]
    #[inline(never)]
    fn new_length(&mut self, len: u32) -> Option<u64> {
        if len & ringbuf::BUSY_BIT != 0 {
            self.prod = self.cons;
            return None;
        }
        let total = record_space(len);
        if total > self.mask + 1 {
            self.corrupt = true;
            self.prod = self.cons;
            return None;
        }
        self.last_len = len;
        self.last_total = total;
        Some(total)
    }
}

/// The space in the ring of a committed record whose header length word is `len`: the
/// 8-byte header and the sample, rounded up to 8 bytes.
#[inline]
fn record_space(len: u32) -> u64 {
    let sample_len = (len & !(ringbuf::BUSY_BIT | ringbuf::DISCARD_BIT)) as u64;
    (sample_len + ringbuf::HDR_SZ as u64).next_multiple_of(8)
}

impl<'a> Iterator for RecordBatch<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        while self.cons < self.prod {
            let off = (self.cons & self.mask) as usize;
            let ahead = self.cons + PREFETCH_AHEAD as u64;
            if ahead >= self.prefetched && ahead <= self.prod {
                // As in `consume`: start loading committed data two pages on, once per
                // cache line rather than once per record.
                prefetch(self.data.wrapping_add(off + PREFETCH_AHEAD));
                self.prefetched = (ahead | (CACHE_LINE - 1)) + 1;
            }
            // SAFETY: off <= mask, so the 4-byte header lies within the doubled data area
            // (mapped while the batch borrows the region), 8-byte aligned (the position
            // is a multiple of 8 and the area page-aligned); the kernel writes it
            // atomically.
            let hdr = unsafe { &*self.data.add(off).cast::<AtomicU32>() };
            let len = hdr.load(Ordering::Acquire);
            // A header like the last one has its length: the next record's position then
            // follows from a predicted branch rather than from this load, so the CPU
            // reads ahead instead of waiting for each header in turn.
            let total = if len == self.last_len {
                self.last_total
            } else {
                self.new_length(len)?
            };
            if self.cons + total > self.prod {
                self.corrupt = true;
                self.prod = self.cons;
                return None;
            }
            let sample_len = len & !(ringbuf::BUSY_BIT | ringbuf::DISCARD_BIT);
            self.cons += total;
            if len & ringbuf::DISCARD_BIT == 0 {
                self.samples += 1;
                // SAFETY: off + total <= 2 * size, so the sample lies within the doubled
                // data area; the kernel committed it and does not reuse it before the
                // consumer position passes it, which `RingbufMapping::batch` does only
                // after the closure that borrowed this batch (and so every item) returned.
                return Some(unsafe {
                    std::slice::from_raw_parts(
                        self.data.add(off + ringbuf::HDR_SZ),
                        sample_len as usize,
                    )
                });
            }
        }
        None
    }
}

/// How far ahead of the record being read [`RingbufMapping::consume`] prefetches: two
/// pages. Records are read in order, but the hardware prefetcher stops at page
/// boundaries; measured (bench case 4, 41 rounds, time per event vs libbpf) 0.96–1.00
/// without, 0.83–0.94 at 8 KiB, 0.91 at 16 KiB, 0.99 at 2 KiB.
const PREFETCH_AHEAD: usize = 8192;

/// The cache line size of the CPUs that prefetch (x86-64).
const CACHE_LINE: u64 = 64;

/// Hints the CPU to start loading the cache line at `p` (no effect on memory; never faults).
#[inline(always)]
pub(super) fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch hint reads nothing architecturally and cannot fault, whatever
    // the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
