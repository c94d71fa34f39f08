//! Awaiting ring buffers and perf buffers in a tokio runtime (the `tokio` feature).
//!
//! [`AsyncRingBuffer`] and [`AsyncPerfBuffer`] register the consumer's epoll fd with
//! tokio's reactor ([`AsyncFd`]) and, when it says the fd is readable, consume what is
//! there through the consumer's callbacks, as the blocking `poll` does; a poll that
//! finds nothing (a wake-up whose data an earlier call already took) clears the
//! readiness and waits for the next. A task awaiting events thus takes no thread while
//! it waits, and one runtime can serve many buffers and sockets at once.
//!
//! # Examples
//!
//! Count execs until five have been seen, on a single-threaded runtime (needs root):
//!
//! ```no_run
//! use corebpf::tokio::AsyncRingBuffer;
//! use corebpf::{Loader, RingBufferBuilder};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let obj = Loader::new().load_file("bpf-progs/hello.bpf.o")?;
//! let _links = obj.attach_all()?;
//! let runtime = tokio::runtime::Builder::new_current_thread()
//!     .enable_io()
//!     .build()?;
//! runtime.block_on(async {
//!     let mut execs = 0;
//!     let ring = RingBufferBuilder::new()
//!         .add(obj.map("events").expect("a ring buffer"), |_record| {
//!             execs += 1;
//!             0
//!         })
//!         .build()?;
//!     let mut ring = AsyncRingBuffer::new(ring)?;
//!     let mut seen = 0;
//!     while seen < 5 {
//!         seen += ring.poll().await?;
//!     }
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(())
//! # }
//! ```

use std::io;

use ::tokio::io::unix::AsyncFd;

use crate::perf_buffer::{PerfBuffer, PerfBufferError};
use crate::ringbuf::{RecordBatch, RingBufError, RingBuffer};
use crate::sys::reactor::{register_readable, WithFd};
use crate::sys::SysError;

/// A [`RingBuffer`] whose [`poll`](Self::poll) is awaited instead of blocking.
#[derive(Debug)]
pub struct AsyncRingBuffer<'a> {
    fd: AsyncFd<WithFd<RingBuffer<'a>>>,
}

/// A [`PerfBuffer`] whose [`poll`](Self::poll) is awaited instead of blocking.
#[derive(Debug)]
pub struct AsyncPerfBuffer<'a> {
    fd: AsyncFd<WithFd<PerfBuffer<'a>>>,
}

/// Registering with the reactor or waiting on it failed.
fn reactor_error(e: io::Error) -> SysError {
    SysError::from_io("tokio AsyncFd", e)
}

/// Waits for `fd` to be readable and runs `consume` on its value, until `consume` says
/// it read something (`Some`). A pass that read nothing clears the readiness it saw
/// (tokio keeps a wake-up that came since) and waits for the next.
async fn until_read<T, R, E>(
    fd: &mut AsyncFd<WithFd<T>>,
    reactor: impl Fn(io::Error) -> E,
    mut consume: impl FnMut(&mut T) -> Result<Option<R>, E>,
) -> Result<R, E> {
    loop {
        let mut ready = fd.readable_mut().await.map_err(&reactor)?;
        if let Some(read) = consume(&mut ready.get_inner_mut().inner)? {
            return Ok(read);
        }
        ready.clear_ready();
    }
}

impl<'a> AsyncRingBuffer<'a> {
    /// Registers `ring` with the current tokio runtime's reactor; must be called from
    /// within a runtime whose I/O driver is enabled.
    pub fn new(ring: RingBuffer<'a>) -> Result<AsyncRingBuffer<'a>, RingBufError> {
        let fd = register_readable(ring).map_err(|e| RingBufError::Sys {
            map: String::new(),
            source: reactor_error(e),
        })?;
        Ok(AsyncRingBuffer { fd })
    }

    /// Waits until at least one record has been handed to a callback, consuming every
    /// committed record of every ring; returns how many. A callback's non-zero code is
    /// [`RingBufError::Stopped`], as with [`RingBuffer::consume`].
    pub async fn poll(&mut self) -> Result<usize, RingBufError> {
        self.until_some(RingBuffer::consume).await
    }

    /// As [`poll`](Self::poll), reading in batches ([`RingBuffer::consume_batch`]).
    pub async fn poll_batch(
        &mut self,
        mut f: impl FnMut(usize, &mut RecordBatch<'_>),
    ) -> Result<usize, RingBufError> {
        self.until_some(|ring| ring.consume_batch(&mut f)).await
    }

    async fn until_some(
        &mut self,
        mut consume: impl FnMut(&mut RingBuffer<'a>) -> Result<usize, RingBufError>,
    ) -> Result<usize, RingBufError> {
        let reactor = |e| RingBufError::Sys {
            map: String::new(),
            source: reactor_error(e),
        };
        until_read(&mut self.fd, reactor, |ring| {
            let n = consume(ring)?;
            Ok((n > 0).then_some(n))
        })
        .await
    }

    /// The ring buffer.
    pub fn get_ref(&self) -> &RingBuffer<'a> {
        &self.fd.get_ref().inner
    }

    /// The ring buffer, for its non-waiting methods.
    pub fn get_mut(&mut self) -> &mut RingBuffer<'a> {
        &mut self.fd.get_mut().inner
    }

    /// Deregisters from the reactor and gives the ring buffer back.
    pub fn into_inner(self) -> RingBuffer<'a> {
        self.fd.into_inner().inner
    }
}

impl<'a> AsyncPerfBuffer<'a> {
    /// Registers `perf` with the current tokio runtime's reactor; must be called from
    /// within a runtime whose I/O driver is enabled.
    pub fn new(perf: PerfBuffer<'a>) -> Result<AsyncPerfBuffer<'a>, PerfBufferError> {
        let fd = register_readable(perf).map_err(|e| PerfBufferError::Sys {
            map: String::new(),
            cpu: None,
            source: reactor_error(e),
        })?;
        Ok(AsyncPerfBuffer { fd })
    }

    /// Waits until something has been read (samples handed to the sample callback, or
    /// a loss to the lost callback), consuming every ring; returns the number of
    /// samples (0 when only losses were reported).
    pub async fn poll(&mut self) -> Result<usize, PerfBufferError> {
        let reactor = |e| PerfBufferError::Sys {
            map: String::new(),
            cpu: None,
            source: reactor_error(e),
        };
        until_read(&mut self.fd, reactor, |perf| {
            let (samples, records) = perf.consume_records()?;
            Ok((records > 0).then_some(samples))
        })
        .await
    }

    /// The perf buffer.
    pub fn get_ref(&self) -> &PerfBuffer<'a> {
        &self.fd.get_ref().inner
    }

    /// The perf buffer, for its non-waiting methods.
    pub fn get_mut(&mut self) -> &mut PerfBuffer<'a> {
        &mut self.fd.get_mut().inner
    }

    /// Deregisters from the reactor and gives the perf buffer back.
    pub fn into_inner(self) -> PerfBuffer<'a> {
        self.fd.into_inner().inner
    }
}
