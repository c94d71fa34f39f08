//! The user ring buffer (`BPF_MAP_TYPE_USER_RINGBUF`, Linux 6.1) as its producer maps
//! it: user space reserves and commits records, BPF programs drain them with
//! `bpf_user_ringbuf_drain`.
//!
//! The layout is the kernel ring buffer's with the roles swapped: the consumer page is
//! the kernel's (read-only here), the producer page and the data area are ours. A
//! reservation writes the record's header with the BUSY bit and moves the producer
//! position past it at once, so the kernel stops at the header until the record is
//! committed (BUSY cleared) or discarded (DISCARD set instead).

use super::ringbuf::{map_ring, RingLayout};
use super::Access;
use crate::sys::bpf::{map_type, ringbuf};
use crate::sys::SysResult;
use std::os::fd::BorrowedFd;
use std::sync::atomic::Ordering;

/// A user ring buffer map mapped for producing.
#[derive(Debug)]
pub struct UserRingbufMapping {
    layout: RingLayout,
}

/// Why [`UserRingbufMapping::reserve`] gave no record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReserveError {
    /// The record can never fit: larger than the ring, or too large for the header's
    /// length field.
    TooBig,
    /// Not enough free space now; the kernel frees it as BPF programs drain records.
    Full,
    /// The consumer position is not within the ring behind the producer position.
    Corrupt,
}

impl UserRingbufMapping {
    /// Maps the user ring buffer map `map_fd`, whose data area is `data_size` bytes
    /// (its `max_entries`, checked against the kernel's).
    pub fn new(map_fd: BorrowedFd<'_>, data_size: usize) -> SysResult<Self> {
        let layout = map_ring(
            map_fd,
            data_size,
            (map_type::USER_RINGBUF, "a user ring buffer"),
            Access::ReadOnly,
            Access::ReadWrite,
        )?;
        Ok(UserRingbufMapping { layout })
    }

    /// Size of the data area in bytes (a power of two).
    pub fn data_size(&self) -> usize {
        self.layout.data_size
    }

    /// The bytes a record of `size` bytes takes in the ring: header included, rounded up
    /// to 8; `None` when it can never fit.
    pub fn record_space(&self, size: usize) -> Option<usize> {
        let flags = (ringbuf::BUSY_BIT | ringbuf::DISCARD_BIT) as usize;
        if size & flags != 0 || size > u32::MAX as usize {
            return None;
        }
        let total = (size + ringbuf::HDR_SZ).next_multiple_of(8);
        (total <= self.layout.data_size).then_some(total)
    }

    /// The free bytes in the ring now (the kernel frees more as it drains); `None` if
    /// the positions are inconsistent.
    pub fn free_space(&self) -> Option<usize> {
        let ring = self.layout.data_size as u64;
        let (cons, prod) = (self.layout.consumer_pos(), self.layout.producer_pos());
        if prod < cons || prod - cons > ring || prod % 8 != 0 {
            return None;
        }
        Some((ring - (prod - cons)) as usize)
    }

    /// Reserves a record of `size` bytes: writes its header with the BUSY bit and moves
    /// the producer position past it. The record is committed or discarded through the
    /// returned reservation (discarded if dropped), so that the kernel never waits on it
    /// forever.
    pub fn reserve(&mut self, size: usize) -> Result<UserRingbufReservation<'_>, ReserveError> {
        let total = self.record_space(size).ok_or(ReserveError::TooBig)?;
        let ring = self.layout.data_size as u64;
        let free = self.free_space().ok_or(ReserveError::Corrupt)?;
        if free < total {
            return Err(ReserveError::Full);
        }
        let prod = self.layout.producer_pos();
        let header = 2 * self.layout.page + (prod & (ring - 1)) as usize;
        let Some(len) = self.layout.region.atomic_u32(header) else {
            return Err(ReserveError::Corrupt);
        };
        // `size` fits the length field without the flag bits (`record_space`).
        len.store(size as u32 | ringbuf::BUSY_BIT, Ordering::Relaxed);
        // The header is written before the kernel can see the new producer position.
        let Some(prod_pos) = self.layout.region.atomic_u64(self.layout.page) else {
            return Err(ReserveError::Corrupt);
        };
        prod_pos.store(prod + total as u64, Ordering::Release);
        Ok(UserRingbufReservation {
            ring: self,
            header,
            len: size,
            done: false,
        })
    }
}

/// A record reserved in a user ring buffer, not yet committed: its bytes are ours to
/// write until [`commit`](Self::commit) hands them to the kernel. Dropping it discards
/// the record.
#[derive(Debug)]
pub struct UserRingbufReservation<'a> {
    ring: &'a mut UserRingbufMapping,
    /// Offset of the record's header in the region.
    header: usize,
    len: usize,
    done: bool,
}

impl UserRingbufReservation<'_> {
    /// The record's bytes.
    pub fn data(&mut self) -> &mut [u8] {
        // The double mapping keeps the record contiguous: the header lies in the first
        // copy of the data area, and the record is at most the area's size.
        self.ring
            .layout
            .region
            .slice_mut(self.header + ringbuf::HDR_SZ, self.len)
            .unwrap_or_default()
    }

    /// The record's bytes, to read.
    pub fn data_ref(&self) -> &[u8] {
        // As in `data`; the kernel neither reads nor writes a reserved record.
        self.ring
            .layout
            .region
            .slice(self.header + ringbuf::HDR_SZ, self.len)
            .unwrap_or_default()
    }

    /// Publishes the record to the kernel (`discard`: marks it skipped instead).
    pub fn commit(mut self, discard: bool) {
        self.finish(discard);
    }

    fn finish(&mut self, discard: bool) {
        if self.done {
            return;
        }
        self.done = true;
        let flag = if discard { ringbuf::DISCARD_BIT } else { 0 };
        if let Some(len) = self.ring.layout.region.atomic_u32(self.header) {
            // Release: the record's bytes are visible before the header says so.
            len.store(self.len as u32 | flag, Ordering::Release);
        }
    }
}

impl Drop for UserRingbufReservation<'_> {
    fn drop(&mut self) {
        self.finish(true);
    }
}
