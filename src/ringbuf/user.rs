//! The user ring buffer (`BPF_MAP_TYPE_USER_RINGBUF`, Linux 6.1): user space
//! produces records, BPF programs drain them with `bpf_user_ringbuf_drain`.

use std::ops::{Deref, DerefMut};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::sys::epoll::EpollFlags;

use crate::map::{Map, MapType};
use crate::pod::Pod;
use crate::poll::{self, EpollSet};
use crate::sys::bpf::map_type;
use crate::sys::mmap::{ReserveError, UserRingbufMapping, UserRingbufReservation};
use crate::sys::SysError;

/// Errors from a user ring buffer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserRingBufferError {
    /// The map is not a user ring buffer.
    #[error("map '{map}' is a {found} map, not user_ringbuf")]
    NotUserRingBuf {
        /// Map name.
        map: String,
        /// Its type.
        found: &'static str,
    },
    /// The ring's size is not a power-of-two number of pages.
    #[error("map '{map}': ring size {size} is not a power of two multiple of the page size")]
    BadSize {
        /// Map name.
        map: String,
        /// Its `max_entries`.
        size: u32,
    },
    /// A record that can never fit: with its 8-byte header, rounded up to 8, larger
    /// than the ring (or larger than the header's 30-bit length field).
    #[error("user ring buffer '{map}': a {size}-byte record can never fit in its {ring} bytes")]
    TooBig {
        /// Map name.
        map: String,
        /// The record's size.
        size: usize,
        /// The ring's size.
        ring: usize,
    },
    /// No room for the record now (after the timeout, for a blocking reservation):
    /// BPF programs have not drained enough yet.
    #[error("user ring buffer '{map}' is full: no room for a {size}-byte record")]
    Full {
        /// Map name.
        map: String,
        /// The record's size.
        size: usize,
    },
    /// The kernel's consumer position is not within the ring.
    #[error("user ring buffer '{map}' is corrupt (its consumer position is out of range)")]
    Corrupt {
        /// Map name.
        map: String,
    },
    /// A syscall (mmap, epoll) failed.
    #[error("operation on user ring buffer '{map}' failed")]
    Sys {
        /// Map name.
        map: String,
        /// The failure.
        #[source]
        source: SysError,
    },
}

/// The producer side of a `BPF_MAP_TYPE_USER_RINGBUF` map: user space reserves a
/// record, writes it and submits it; a BPF program drains the submitted records with
/// `bpf_user_ringbuf_drain` (libbpf's `user_ring_buffer`).
///
/// One record is reserved at a time (a reservation borrows the ring), so records reach
/// the kernel in the order they were reserved. A reservation dropped without
/// [`submit`](UserRingBufferSample::submit) is discarded, never left half-written for
/// the kernel to wait on.
///
/// # Examples
///
/// Send two numbers to a program that drains the map `requests` (needs root and
/// Linux 6.1):
///
/// ```no_run
/// use corebpf::{Loader, UserRingBuffer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let obj = Loader::new().load_file("bpf-progs/user_ringbuf.bpf.o")?;
/// let mut ring = UserRingBuffer::new(obj.map("requests").expect("a user ring buffer"))?;
/// ring.submit_value(&7u64)?;
/// let mut sample = ring.reserve(8)?;
/// sample.copy_from_slice(&35u64.to_ne_bytes());
/// sample.submit();
/// # Ok(())
/// # }
/// ```
pub struct UserRingBuffer<'a> {
    name: String,
    mapping: UserRingbufMapping,
    /// The map's fd, registered for EPOLLOUT (edge-triggered): a wake-up each time the
    /// kernel drains records.
    epoll: EpollSet,
    _map: std::marker::PhantomData<&'a Map>,
}

// A user ring buffer can be moved to another thread: a compile error here otherwise.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<UserRingBuffer<'static>>();
};

impl<'a> UserRingBuffer<'a> {
    /// Maps the user ring buffer `map` for producing.
    pub fn new(map: &'a Map) -> Result<UserRingBuffer<'a>, UserRingBufferError> {
        let name = map.name().to_string();
        if map.map_type() != MapType(map_type::USER_RINGBUF) {
            return Err(UserRingBufferError::NotUserRingBuf {
                map: name,
                found: map.map_type().name(),
            });
        }
        let size = super::ring_size(map).map_err(|size| UserRingBufferError::BadSize {
            map: name.clone(),
            size,
        })?;
        let sys_err = |source| UserRingBufferError::Sys {
            map: name.clone(),
            source,
        };
        let mapping = UserRingbufMapping::new(map.fd(), size).map_err(sys_err)?;
        let mut epoll = EpollSet::new().map_err(sys_err)?;
        epoll
            .add(map.fd(), EpollFlags::EPOLLOUT | EpollFlags::EPOLLET, 0)
            .map_err(sys_err)?;
        log::debug!(
            "user ring buffer '{name}' mapped: {size} bytes, fd {}",
            map.fd().as_raw_fd()
        );
        Ok(UserRingBuffer {
            name,
            mapping,
            epoll,
            _map: std::marker::PhantomData,
        })
    }

    /// The ring's data size in bytes.
    pub fn size(&self) -> usize {
        self.mapping.data_size()
    }

    /// The bytes free now; a record of `n` bytes takes `n + 8` rounded up to 8.
    pub fn free_space(&self) -> Result<usize, UserRingBufferError> {
        self.mapping.free_space().ok_or_else(|| self.corrupt())
    }

    fn corrupt(&self) -> UserRingBufferError {
        UserRingBufferError::Corrupt {
            map: self.name.clone(),
        }
    }

    /// Reserves a record of `size` bytes, zeroed, without waiting:
    /// [`UserRingBufferError::Full`] when there is no room now.
    pub fn reserve(
        &mut self,
        size: usize,
    ) -> Result<UserRingBufferSample<'_>, UserRingBufferError> {
        let ring = self.mapping.data_size();
        match self.mapping.reserve(size) {
            Ok(mut inner) => {
                inner.data().fill(0);
                Ok(UserRingBufferSample { inner })
            }
            Err(e) => Err(reserve_error(&self.name, e, size, ring)),
        }
    }

    /// Reserves a record of `size` bytes, waiting up to `timeout` for BPF programs to
    /// drain enough of the ring (`user_ring_buffer__reserve_blocking`);
    /// [`UserRingBufferError::Full`] when the time is up first.
    pub fn reserve_blocking(
        &mut self,
        size: usize,
        timeout: Duration,
    ) -> Result<UserRingBufferSample<'_>, UserRingBufferError> {
        let ring = self.mapping.data_size();
        let total = self
            .mapping
            .record_space(size)
            .ok_or_else(|| reserve_error(&self.name, ReserveError::TooBig, size, ring))?;
        let deadline = poll::deadline_after(timeout);
        // The epoll registration is edge-triggered and older than this check, so a drain
        // that frees space after it still wakes the wait below.
        while self.free_space()? < total {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(UserRingBufferError::Full {
                    map: self.name.clone(),
                    size,
                });
            }
            self.epoll
                .wait(Some(left))
                .map_err(|source| UserRingBufferError::Sys {
                    map: self.name.clone(),
                    source,
                })?;
        }
        self.reserve(size)
    }

    /// Reserves a record for `data`'s bytes, copies them in and submits it; the same
    /// errors as [`reserve`](Self::reserve).
    pub fn submit_bytes(&mut self, data: &[u8]) -> Result<(), UserRingBufferError> {
        let mut sample = self.reserve(data.len())?;
        sample.copy_from_slice(data);
        sample.submit();
        Ok(())
    }

    /// Submits `value`'s bytes as one record.
    pub fn submit_value<T: Pod>(&mut self, value: &T) -> Result<(), UserRingBufferError> {
        self.submit_bytes(value.as_bytes())
    }
}

impl std::fmt::Debug for UserRingBuffer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRingBuffer")
            .field("map", &self.name)
            .field("size", &self.mapping.data_size())
            .finish()
    }
}

fn reserve_error(map: &str, e: ReserveError, size: usize, ring: usize) -> UserRingBufferError {
    let map = map.to_string();
    match e {
        ReserveError::TooBig => UserRingBufferError::TooBig { map, size, ring },
        ReserveError::Full => UserRingBufferError::Full { map, size },
        ReserveError::Corrupt => UserRingBufferError::Corrupt { map },
    }
}

/// A record reserved in a [`UserRingBuffer`]: its bytes (zeroed at first) to write
/// through `DerefMut`, then [`submit`](Self::submit). Dropping it discards the record.
#[derive(Debug)]
pub struct UserRingBufferSample<'a> {
    inner: UserRingbufReservation<'a>,
}

impl UserRingBufferSample<'_> {
    /// Hands the record to the kernel: the next `bpf_user_ringbuf_drain` passes it to
    /// its callback.
    pub fn submit(self) {
        self.inner.commit(false);
    }

    /// Gives the record up: the kernel skips it.
    pub fn discard(self) {
        self.inner.commit(true);
    }
}

impl Deref for UserRingBufferSample<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.inner.data_ref()
    }
}

impl DerefMut for UserRingBufferSample<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.inner.data()
    }
}
