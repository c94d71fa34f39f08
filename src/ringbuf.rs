//! Consumer of `BPF_MAP_TYPE_RINGBUF` maps.
//!
//! Each ring is mapped as the kernel lays it out: a writable consumer page, a
//! read-only producer page, then the data pages mapped twice in a row so a record
//! that wraps around the end is still contiguous in our address space. Records
//! carry an 8-byte header whose length word has a BUSY bit (the producer has not
//! committed yet) and a DISCARD bit (skip it); the consumer position moves past
//! every committed record, discarded or not.

use std::ops::ControlFlow;
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use crate::map::{Map, MapType};
use crate::sys::{self, mmap::RingbufMapping, SysError};

/// Errors from building or polling a ring buffer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RingBufError {
    /// The map is not a ring buffer.
    #[error("map '{map}' is a {found} map, not ringbuf")]
    NotRingBuf {
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
    /// A syscall (mmap, epoll) failed.
    #[error("operation on ring buffer '{map}' failed")]
    Sys {
        /// Map name ("" for the epoll set).
        map: String,
        /// The failure.
        #[source]
        source: SysError,
    },
    /// The ring's positions or a record header are inconsistent.
    #[error("ring buffer '{map}' is corrupt (positions or a record header out of range)")]
    Corrupt {
        /// Map name.
        map: String,
    },
    /// A callback asked to stop with this code.
    #[error("ring buffer callback stopped consumption with {0}")]
    Stopped(i32),
}

type Callback<'a> = Box<dyn FnMut(&[u8]) -> i32 + 'a>;

struct Ring<'a> {
    name: String,
    mapping: RingbufMapping,
    callback: Callback<'a>,
}

/// A set of ring buffers polled together; each has its own callback.
pub struct RingBuffer<'a> {
    rings: Vec<Ring<'a>>,
    epoll: Epoll,
    events: Vec<EpollEvent>,
}

/// Builds a [`RingBuffer`] from one or more ringbuf maps.
#[derive(Default)]
pub struct RingBufferBuilder<'a> {
    rings: Vec<(&'a Map, Callback<'a>)>,
}

impl<'a> RingBufferBuilder<'a> {
    /// An empty builder.
    pub fn new() -> Self {
        RingBufferBuilder { rings: Vec::new() }
    }

    /// Adds a ring; `callback` receives each record's bytes and returns 0 to go on, or
    /// a non-zero code to stop the current poll (returned as [`RingBufError::Stopped`]).
    pub fn add(mut self, map: &'a Map, callback: impl FnMut(&[u8]) -> i32 + 'a) -> Self {
        self.rings.push((map, Box::new(callback)));
        self
    }

    /// Maps every ring and registers it for epoll.
    pub fn build(self) -> Result<RingBuffer<'a>, RingBufError> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| RingBufError::Sys {
            map: String::new(),
            source: SysError::new("epoll_create1", e as i32),
        })?;
        let mut rings = Vec::with_capacity(self.rings.len());
        for (i, (map, callback)) in self.rings.into_iter().enumerate() {
            let name = map.name().to_string();
            if map.map_type() != MapType::RINGBUF {
                return Err(RingBufError::NotRingBuf {
                    map: name,
                    found: map.map_type().name(),
                });
            }
            let size = map.def().max_entries;
            let page = sys::mmap::page_size() as u32;
            if !size.is_power_of_two() || size % page != 0 {
                return Err(RingBufError::BadSize { map: name, size });
            }
            let sys_err = |source| RingBufError::Sys {
                map: name.clone(),
                source,
            };
            let mapping = RingbufMapping::new(map.fd(), size as usize).map_err(sys_err)?;
            epoll
                .add(map.fd(), EpollEvent::new(EpollFlags::EPOLLIN, i as u64))
                .map_err(|e| RingBufError::Sys {
                    map: name.clone(),
                    source: SysError::new("epoll_ctl", e as i32),
                })?;
            log::debug!(
                "ring buffer '{name}' mapped: {size} bytes, fd {}",
                map.fd().as_raw_fd()
            );
            rings.push(Ring {
                name,
                mapping,
                callback,
            });
        }
        let events = vec![EpollEvent::empty(); rings.len().max(1)];
        Ok(RingBuffer {
            rings,
            epoll,
            events,
        })
    }
}

impl RingBuffer<'_> {
    /// Waits up to `timeout` for data (forever when `None`), then consumes what is
    /// available in every ring. Returns the number of records handed to callbacks.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<usize, RingBufError> {
        let n = sys::epoll_wait(&self.epoll, &mut self.events, timeout).map_err(|source| {
            RingBufError::Sys {
                map: String::new(),
                source,
            }
        })?;
        if n == 0 {
            return Ok(0);
        }
        self.consume()
    }

    /// Consumes every committed record in every ring without waiting.
    pub fn consume(&mut self) -> Result<usize, RingBufError> {
        let mut total = 0;
        for ring in &mut self.rings {
            total += ring.consume()?;
        }
        Ok(total)
    }

    /// The epoll fd, to wait for data in one's own event loop.
    pub fn epoll_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }
}

impl Ring<'_> {
    fn consume(&mut self) -> Result<usize, RingBufError> {
        let mut stopped = 0;
        let callback = &mut self.callback;
        let n = self
            .mapping
            .consume(|rec| match callback(rec) {
                0 => ControlFlow::Continue(()),
                rc => {
                    stopped = rc;
                    ControlFlow::Break(())
                }
            })
            .ok_or_else(|| RingBufError::Corrupt {
                map: self.name.clone(),
            })?;
        if stopped != 0 {
            return Err(RingBufError::Stopped(stopped));
        }
        Ok(n)
    }
}
