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
use std::time::{Duration, Instant};

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

type Callback<'a> = Box<dyn FnMut(&[u8]) -> i32 + Send + 'a>;

struct Ring<'a> {
    name: String,
    mapping: RingbufMapping,
    callback: Callback<'a>,
}

/// A set of ring buffers polled together; each has its own callback.
///
/// It is `Send` (callbacks are `FnMut + Send`): build it where the object is loaded,
/// then consume on another thread, for example one of a [`std::thread::scope`] (the
/// ring buffer borrows the object's maps for its lifetime `'a`).
///
/// # Examples
///
/// Print the pid of every exec for five seconds, as `bpf-progs/hello.bpf.o` reports them
/// (needs root):
///
/// ```no_run
/// use std::time::{Duration, Instant};
/// use corebpf::{Loader, Pod, RingBufferBuilder};
///
/// /// hello.bpf.c's `struct event`.
/// #[derive(Clone, Copy, Pod)]
/// #[repr(C)]
/// struct Event {
///     pid: u32,
///     uid: u32,
///     comm: [u8; 16],
///     filename: [u8; 256],
/// }
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/hello.bpf.o")?;
/// let _links = obj.attach_all()?;
/// let events = obj.map("events").expect("hello has a ring buffer named events");
/// let mut ring = RingBufferBuilder::new()
///     .add(events, |record: &[u8]| {
///         match Event::from_bytes(record) {
///             Ok(event) => println!("exec by pid {}", event.pid),
///             Err(e) => eprintln!("unexpected record: {e}"),
///         }
///         0 // 0: keep going; anything else stops polling
///     })
///     .build()?;
/// let n = ring.poll_for(Duration::from_secs(5))?;
/// println!("{n} execs");
/// # Ok(())
/// # }
/// ```
pub struct RingBuffer<'a> {
    rings: Vec<Ring<'a>>,
    epoll: Epoll,
    events: Vec<EpollEvent>,
}

// A ring buffer can be moved to another thread: a compile error here otherwise.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<RingBuffer<'static>>();
};

/// What one pass over the rings did: records handed to callbacks, and the code a
/// callback stopped with, if one did.
struct Pass {
    records: usize,
    stopped: Option<i32>,
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
    /// a non-zero code to stop the current poll (returned as [`RingBufError::Stopped`]
    /// by [`RingBuffer::poll`]; [`RingBuffer::poll_until`] just returns early).
    pub fn add(mut self, map: &'a Map, callback: impl FnMut(&[u8]) -> i32 + Send + 'a) -> Self {
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
        if self.wait(timeout)? == 0 {
            return Ok(0);
        }
        self.consume()
    }

    /// Polls until `deadline`, consuming records as they come, and returns how many
    /// records it handed to callbacks. Returns early, with the count so far, when a
    /// callback asks to stop (returns non-zero). A deadline already past still consumes
    /// what is there, without waiting.
    ///
    /// A signal does not end the wait early; to stop on one (Ctrl-C), have the handler
    /// set a flag and poll in shorter slices.
    pub fn poll_until(&mut self, deadline: Instant) -> Result<usize, RingBufError> {
        let mut total = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.wait(Some(left))? > 0 || left.is_zero() {
                let pass = self.consume_all()?;
                total += pass.records;
                if pass.stopped.is_some() {
                    return Ok(total);
                }
            }
            if left.is_zero() {
                return Ok(total);
            }
        }
    }

    /// [`poll_until`](Self::poll_until) `duration` from now: "print events for five
    /// seconds" is `ring.poll_for(Duration::from_secs(5))`.
    pub fn poll_for(&mut self, duration: Duration) -> Result<usize, RingBufError> {
        // A duration too long to add to the clock waits as long as the clock can say.
        let now = Instant::now();
        let deadline = now
            .checked_add(duration)
            .unwrap_or_else(|| now + Duration::from_secs(u64::from(u32::MAX)));
        self.poll_until(deadline)
    }

    /// Consumes every committed record in every ring without waiting.
    pub fn consume(&mut self) -> Result<usize, RingBufError> {
        let pass = self.consume_all()?;
        match pass.stopped {
            Some(code) => Err(RingBufError::Stopped(code)),
            None => Ok(pass.records),
        }
    }

    /// One pass over every ring, stopping at the first callback that asks to.
    fn consume_all(&mut self) -> Result<Pass, RingBufError> {
        let mut records = 0;
        for ring in &mut self.rings {
            let pass = ring.consume()?;
            records += pass.records;
            if pass.stopped.is_some() {
                return Ok(Pass {
                    records,
                    stopped: pass.stopped,
                });
            }
        }
        Ok(Pass {
            records,
            stopped: None,
        })
    }

    /// Waits up to `timeout` (forever when `None`) for a ring to have data; the number
    /// of rings that do (0 on timeout or when a signal interrupted the wait).
    fn wait(&mut self, timeout: Option<Duration>) -> Result<usize, RingBufError> {
        sys::epoll_wait(&self.epoll, &mut self.events, timeout.map(round_up_to_ms)).map_err(
            |source| RingBufError::Sys {
                map: String::new(),
                source,
            },
        )
    }

    /// The epoll fd, to wait for data in one's own event loop.
    pub fn epoll_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }
}

/// `timeout` rounded up to whole milliseconds, epoll's unit, so that a wait never ends
/// before it (a sub-millisecond rest would otherwise spin with 0 ms waits).
fn round_up_to_ms(timeout: Duration) -> Duration {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

impl Ring<'_> {
    fn consume(&mut self) -> Result<Pass, RingBufError> {
        let mut stopped = None;
        let callback = &mut self.callback;
        let records = self
            .mapping
            .consume(|rec| match callback(rec) {
                0 => ControlFlow::Continue(()),
                rc => {
                    stopped = Some(rc);
                    ControlFlow::Break(())
                }
            })
            .ok_or_else(|| RingBufError::Corrupt {
                map: self.name.clone(),
            })?;
        Ok(Pass { records, stopped })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(round_up_to_ms(Duration::ZERO), Duration::ZERO);
        assert_eq!(
            round_up_to_ms(Duration::from_nanos(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            round_up_to_ms(Duration::from_micros(1500)),
            Duration::from_millis(2)
        );
        assert_eq!(
            round_up_to_ms(Duration::from_millis(7)),
            Duration::from_millis(7)
        );
        assert_eq!(
            round_up_to_ms(Duration::from_secs(u64::MAX)),
            Duration::from_millis(u64::MAX)
        );
    }
}
