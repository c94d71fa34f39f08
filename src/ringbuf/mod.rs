//! Consumer of `BPF_MAP_TYPE_RINGBUF` maps.
//!
//! Each ring is mapped as the kernel lays it out: a writable consumer page, a
//! read-only producer page, then the data pages mapped twice in a row so a record
//! that wraps around the end is still contiguous in our address space. Records
//! carry an 8-byte header whose length word has a BUSY bit (the producer has not
//! committed yet) and a DISCARD bit (skip it); the consumer position moves past
//! every committed record, discarded or not.
//!
//! Records reach user space through a callback per ring ([`RingBufferBuilder::add`],
//! as libbpf's `ring_buffer__add`), or in batches borrowed from the ring
//! ([`RingBuffer::consume_batch`]), which move the consumer position once per batch.
//! The other direction, user space producing records that BPF programs drain, is the
//! [`UserRingBuffer`].

mod user;

pub use crate::sys::mmap::RecordBatch;
pub use user::{UserRingBuffer, UserRingBufferError, UserRingBufferSample};

use std::ops::ControlFlow;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::epoll::EpollFlags;

use crate::map::{Map, MapType};
use crate::poll::{self, Consumer, EpollSet, Pass};
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
    /// `None` for a ring read only in batches.
    callback: Option<Callback<'a>>,
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
    epoll: EpollSet,
}

// A ring buffer can be moved to another thread: a compile error here otherwise.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<RingBuffer<'static>>();
};

/// Builds a [`RingBuffer`] from one or more ringbuf maps.
#[derive(Default)]
pub struct RingBufferBuilder<'a> {
    rings: Vec<(&'a Map, Option<Callback<'a>>)>,
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
        self.rings.push((map, Some(Box::new(callback))));
        self
    }

    /// Adds a ring without a callback, to be read only in batches
    /// ([`RingBuffer::consume_batch`], [`RingBuffer::poll_batch`]); the callback
    /// methods ([`RingBuffer::poll`], [`RingBuffer::consume`], …) leave its records.
    pub fn add_batched(mut self, map: &'a Map) -> Self {
        self.rings.push((map, None));
        self
    }

    /// Maps every ring and registers it for epoll.
    pub fn build(self) -> Result<RingBuffer<'a>, RingBufError> {
        let mut epoll = EpollSet::new().map_err(|source| RingBufError::Sys {
            map: String::new(),
            source,
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
            let size = ring_size(map).map_err(|size| RingBufError::BadSize {
                map: name.clone(),
                size,
            })?;
            let sys_err = |source| RingBufError::Sys {
                map: name.clone(),
                source,
            };
            let mapping = RingbufMapping::new(map.fd(), size).map_err(sys_err)?;
            epoll
                .add(map.fd(), EpollFlags::EPOLLIN, i as u64)
                .map_err(sys_err)?;
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
        Ok(RingBuffer { rings, epoll })
    }
}

/// The data size of ring buffer map `map` (its `max_entries`), or that number when it
/// is not a power-of-two number of pages, as the kernel requires of both kinds of ring.
fn ring_size(map: &Map) -> Result<usize, u32> {
    let size = map.def().max_entries;
    let page = sys::mmap::page_size() as u32;
    if size.is_power_of_two() && size % page == 0 {
        Ok(size as usize)
    } else {
        Err(size)
    }
}

impl RingBuffer<'_> {
    /// Waits up to `timeout` for data (forever when `None`), then consumes what is
    /// available in the rings found ready (`ring_buffer__poll`). Returns the number of
    /// records handed to callbacks.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<usize, RingBufError> {
        if self.wait(timeout)? == 0 {
            return Ok(0);
        }
        stopped_or_count(self.consume_rings(true)?)
    }

    /// Polls until `deadline`, consuming records as they come, and returns how many
    /// records it handed to callbacks. Returns early, with the count so far, when a
    /// callback asks to stop (returns non-zero). A deadline already past still consumes
    /// what is there, without waiting.
    ///
    /// A signal does not end the wait early; to stop on one (Ctrl-C), have the handler
    /// set a flag and poll in shorter slices.
    pub fn poll_until(&mut self, deadline: Instant) -> Result<usize, RingBufError> {
        poll::poll_until(self, deadline)
    }

    /// [`poll_until`](Self::poll_until) `duration` from now: "print events for five
    /// seconds" is `ring.poll_for(Duration::from_secs(5))`.
    pub fn poll_for(&mut self, duration: Duration) -> Result<usize, RingBufError> {
        self.poll_until(poll::deadline_after(duration))
    }

    /// Consumes every committed record in every ring without waiting.
    pub fn consume(&mut self) -> Result<usize, RingBufError> {
        stopped_or_count(self.consume_rings(false)?)
    }

    /// One pass over the rings the last wait found ready (`ready_only`, when it found
    /// any) or over every ring, stopping at the first callback that asks to.
    fn consume_rings(&mut self, ready_only: bool) -> Result<Pass, RingBufError> {
        let mut records = 0;
        for i in self.epoll.pass_order(ready_only, self.rings.len()) {
            let Some(ring) = self.rings.get_mut(i) else {
                continue;
            };
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
        self.epoll
            .wait(timeout)
            .map_err(|source| RingBufError::Sys {
                map: String::new(),
                source,
            })
    }

    /// The epoll fd, to wait for data in one's own event loop (also [`AsFd`]).
    pub fn epoll_fd(&self) -> BorrowedFd<'_> {
        self.epoll.fd()
    }

    /// Hands every ring's committed records to `f` as one [`RecordBatch`] per ring,
    /// borrowed from the ring without a copy, with the ring's index (the order in which
    /// it was added); each ring's consumer position moves once, after `f` returns for
    /// its batch. Rings with a callback are included. Returns the number of records the
    /// batches yielded.
    ///
    /// The records are borrowed for the call to `f` only: copy what must outlive it.
    ///
    /// # Examples
    ///
    /// Sum a field of every record without copying one (needs root):
    ///
    /// ```no_run
    /// use corebpf::{Loader, RingBufferBuilder};
    ///
    /// # fn main() -> Result<(), corebpf::Error> {
    /// let obj = Loader::new().load_file("bpf-progs/hello.bpf.o")?;
    /// let _links = obj.attach_all()?;
    /// let mut ring = RingBufferBuilder::new()
    ///     .add_batched(obj.map("events").expect("a ring buffer named events"))
    ///     .build()?;
    /// let mut uids = 0u64;
    /// ring.poll_batch(Some(std::time::Duration::from_secs(1)), |_ring, records| {
    ///     for record in records {
    ///         // hello.bpf.c's `struct event`: pid, then uid.
    ///         uids += u64::from(u32::from_ne_bytes(record[4..8].try_into().unwrap()));
    ///     }
    /// })?;
    /// println!("sum of uids: {uids}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn consume_batch(
        &mut self,
        mut f: impl FnMut(usize, &mut RecordBatch<'_>),
    ) -> Result<usize, RingBufError> {
        let mut records = 0;
        for (i, ring) in self.rings.iter_mut().enumerate() {
            let (_, n) =
                ring.mapping
                    .batch(|batch| f(i, batch))
                    .ok_or_else(|| RingBufError::Corrupt {
                        map: ring.name.clone(),
                    })?;
            records += n;
        }
        Ok(records)
    }

    /// Waits up to `timeout` for data (forever when `None`), then reads every ring in
    /// batches as [`consume_batch`](Self::consume_batch) does.
    pub fn poll_batch(
        &mut self,
        timeout: Option<Duration>,
        f: impl FnMut(usize, &mut RecordBatch<'_>),
    ) -> Result<usize, RingBufError> {
        if self.wait(timeout)? == 0 {
            return Ok(0);
        }
        self.consume_batch(f)
    }
}

impl Consumer for RingBuffer<'_> {
    type Error = RingBufError;

    fn wait_ready(&mut self, timeout: Option<Duration>) -> Result<bool, RingBufError> {
        Ok(self.wait(timeout)? > 0)
    }

    fn pass(&mut self) -> Result<Pass, RingBufError> {
        self.consume_rings(true)
    }
}

/// A pass's record count, or the code a callback stopped it with.
fn stopped_or_count(pass: Pass) -> Result<usize, RingBufError> {
    match pass.stopped {
        Some(code) => Err(RingBufError::Stopped(code)),
        None => Ok(pass.records),
    }
}

impl std::fmt::Debug for RingBuffer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rings: Vec<&str> = self.rings.iter().map(|r| r.name.as_str()).collect();
        f.debug_struct("RingBuffer").field("rings", &rings).finish()
    }
}

/// The epoll fd, as [`RingBuffer::epoll_fd`]: readable when a ring has data.
impl AsFd for RingBuffer<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.fd()
    }
}

impl AsRawFd for RingBuffer<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.epoll.fd().as_raw_fd()
    }
}

impl Ring<'_> {
    fn consume(&mut self) -> Result<Pass, RingBufError> {
        let mut stopped = None;
        let Some(callback) = &mut self.callback else {
            return Ok(Pass {
                records: 0,
                stopped: None,
            });
        };
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
