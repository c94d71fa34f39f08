//! Consumer of `BPF_MAP_TYPE_PERF_EVENT_ARRAY` maps: the perf buffer.
//!
//! As libbpf's `perf_buffer__new` does, it opens one `PERF_COUNT_SW_BPF_OUTPUT`
//! software event per online CPU (`PERF_SAMPLE_RAW`, a wake-up per sample), maps a ring
//! of a power-of-two number of pages for each, stores each event's fd in the map at its
//! CPU's index (where `bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, ...)` looks
//! it up) and waits on all the rings with one epoll set. A BPF program's sample arrives
//! as a `PERF_RECORD_SAMPLE` whose raw data goes to the sample callback; when a ring
//! was full the kernel counts what it dropped and reports the count in a
//! `PERF_RECORD_LOST` before the next sample that fits, which goes to the lost
//! callback.
//!
//! The raw data of a sample is the bytes the program passed, followed by zero to seven
//! bytes of padding (the kernel rounds the raw field to 8 bytes with its `u32` size), as
//! with libbpf.

use std::ops::ControlFlow;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::epoll::EpollFlags;

use crate::map::{Map, MapType};
use crate::poll::{self, Consumer, EpollSet, Pass};
use crate::sys::mmap::{PerfMapping, PerfRecord};
use crate::sys::perf::{perf_type, record_type, sample_type, sw_config, PerfEventAttr};
use crate::sys::{self, SysError};

/// Errors from building or polling a perf buffer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PerfBufferError {
    /// The map is not a perf event array.
    #[error("map '{map}' is a {found} map, not perf_event_array")]
    NotPerfEventArray {
        /// Map name.
        map: String,
        /// Its type.
        found: &'static str,
    },
    /// The ring size per CPU is not a power of two number of pages, or too large.
    #[error("perf buffer '{map}': {pages} pages per CPU is not a power of two between 1 and 2^20")]
    BadPageCount {
        /// Map name.
        map: String,
        /// Pages asked for.
        pages: usize,
    },
    /// No online CPU has a slot in the map (its `max_entries` is below every online
    /// CPU's number).
    #[error("perf buffer '{map}': no online CPU below the map's {max_entries} entries")]
    NoCpus {
        /// Map name.
        map: String,
        /// The map's `max_entries`.
        max_entries: u32,
    },
    /// A syscall (perf_event_open, mmap, the map update, epoll) failed.
    #[error("perf buffer '{map}': operation{} failed", cpu.map_or(String::new(), |c| format!(" for CPU {c}")))]
    Sys {
        /// Map name.
        map: String,
        /// The CPU whose ring was being set up, if any.
        cpu: Option<u32>,
        /// The failure.
        #[source]
        source: SysError,
    },
    /// A ring's positions or a record header are inconsistent.
    #[error("perf buffer '{map}': the ring of CPU {cpu} is corrupt (positions or a record header out of range)")]
    Corrupt {
        /// Map name.
        map: String,
        /// The CPU.
        cpu: u32,
    },
}

type SampleCallback<'a> = Box<dyn FnMut(u32, &[u8]) + Send + 'a>;
type LostCallback<'a> = Box<dyn FnMut(u32, u64) + Send + 'a>;

/// The default ring size per CPU, in pages: libbpf-rs's default (256 KiB with 4 KiB
/// pages).
pub const DEFAULT_PAGES: usize = 64;

/// The largest ring per CPU accepted, in pages (4 GiB with 4 KiB pages): a bound so a
/// wrong number is an error rather than an attempt to map it.
const MAX_PAGES: usize = 1 << 20;

/// Builds a [`PerfBuffer`] over a `BPF_MAP_TYPE_PERF_EVENT_ARRAY` map (libbpf's
/// `perf_buffer__new`; libbpf-rs's `PerfBufferBuilder`).
pub struct PerfBufferBuilder<'a> {
    map: &'a Map,
    pages: usize,
    sample: Option<SampleCallback<'a>>,
    lost: Option<LostCallback<'a>>,
}

impl<'a> PerfBufferBuilder<'a> {
    /// A builder for `map`, with [`DEFAULT_PAGES`] pages per CPU and no callbacks.
    pub fn new(map: &'a Map) -> Self {
        PerfBufferBuilder {
            map,
            pages: DEFAULT_PAGES,
            sample: None,
            lost: None,
        }
    }

    /// The ring size per CPU in pages: a power of two (libbpf's `page_cnt`). A bigger
    /// ring absorbs longer bursts before samples are lost.
    pub fn pages(mut self, pages: usize) -> Self {
        self.pages = pages;
        self
    }

    /// Called with the CPU and the raw data of each sample (the program's bytes plus up
    /// to 7 bytes of padding).
    pub fn sample(mut self, callback: impl FnMut(u32, &[u8]) + Send + 'a) -> Self {
        self.sample = Some(Box::new(callback));
        self
    }

    /// Called with the CPU and the number of samples the kernel dropped there because
    /// its ring was full.
    pub fn lost(mut self, callback: impl FnMut(u32, u64) + Send + 'a) -> Self {
        self.lost = Some(Box::new(callback));
        self
    }

    /// Opens an event and maps a ring per online CPU that has a slot in the map,
    /// stores each event in the map and registers it for epoll. On failure nothing is
    /// left behind: events, mappings and the map slots written so far are released.
    pub fn build(self) -> Result<PerfBuffer<'a>, PerfBufferError> {
        let map = self.map;
        let name = map.name().to_string();
        if map.map_type() != MapType::PERF_EVENT_ARRAY {
            return Err(PerfBufferError::NotPerfEventArray {
                map: name,
                found: map.map_type().name(),
            });
        }
        if !self.pages.is_power_of_two() || self.pages > MAX_PAGES {
            return Err(PerfBufferError::BadPageCount {
                map: name,
                pages: self.pages,
            });
        }
        let sys_err = |cpu| {
            let name = name.clone();
            move |source| PerfBufferError::Sys {
                map: name,
                cpu,
                source,
            }
        };
        let max_entries = map.def().max_entries;
        let cpus: Vec<u32> = sys::online_cpus()
            .map_err(sys_err(None))?
            .into_iter()
            .filter(|&c| c < max_entries)
            .collect();
        if cpus.is_empty() {
            return Err(PerfBufferError::NoCpus {
                map: name,
                max_entries,
            });
        }
        let mut buffer = PerfBuffer {
            map,
            rings: Vec::with_capacity(cpus.len()),
            epoll: EpollSet::new().map_err(sys_err(None))?,
            sample: self.sample,
            lost: self.lost,
            scratch: Vec::new(),
        };
        for cpu in cpus {
            // A failure drops `buffer`, which clears the slots set so far.
            let ring = CpuRing::open(map, cpu, self.pages).map_err(sys_err(Some(cpu)))?;
            buffer.rings.push(ring);
            // The token is the ring's index, for `poll` to take only the ready rings.
            let index = buffer.rings.len() - 1;
            let ring = &buffer.rings[index];
            buffer
                .epoll
                .add(ring.event.as_fd(), EpollFlags::EPOLLIN, index as u64)
                .map_err(sys_err(Some(cpu)))?;
        }
        log::debug!(
            "perf buffer '{}': {} CPUs, {} pages each",
            name,
            buffer.rings.len(),
            self.pages
        );
        Ok(buffer)
    }
}

/// One CPU's event and ring.
struct CpuRing {
    cpu: u32,
    // Declared before `event`: unmapped before the event is closed.
    mapping: PerfMapping,
    event: OwnedFd,
}

impl CpuRing {
    /// Opens `cpu`'s BPF output event, maps its ring, enables it and stores it in `map`
    /// at index `cpu` (as libbpf: the event is enabled before it is published).
    fn open(map: &Map, cpu: u32, pages: usize) -> Result<CpuRing, SysError> {
        let attr = PerfEventAttr {
            sample_type: sample_type::RAW,
            sample_period: 1,
            wakeup_events: 1,
            ..PerfEventAttr::new(perf_type::SOFTWARE, sw_config::BPF_OUTPUT)
        };
        let cpu_arg = i32::try_from(cpu)
            .map_err(|_| SysError::invalid("perf_event_open", "CPU number too large"))?;
        let event = sys::perf::perf_event_open(&attr, -1, cpu_arg, None, 0)?;
        let mapping = PerfMapping::new(event.as_fd(), pages)?;
        sys::perf::perf_event_ioc_enable(event.as_fd())?;
        let fd = u32::try_from(event.as_raw_fd()).unwrap_or(u32::MAX);
        sys::bpf::map_update_elem(&map.access(), &cpu.to_ne_bytes(), &fd.to_ne_bytes(), 0)?;
        Ok(CpuRing {
            cpu,
            mapping,
            event,
        })
    }
}

/// A perf buffer: one ring per online CPU, read through a sample callback and a lost
/// callback ([`PerfBufferBuilder`]).
///
/// It is `Send` (callbacks are `FnMut + Send`): build it where the object is loaded,
/// then consume on another thread. Dropping it removes its events from the map (as
/// libbpf's `perf_buffer__free`), so later `bpf_perf_event_output` calls find no event
/// and fail instead of filling rings nobody reads.
///
/// # Examples
///
/// Print what `bpf-progs/perf_events.bpf.c` sends for five seconds, and what was lost
/// (needs root):
///
/// ```no_run
/// use std::time::Duration;
/// use corebpf::{Loader, PerfBufferBuilder};
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/perf_events.bpf.o")?;
/// let _links = obj.attach_all()?;
/// let events = obj.map("events").expect("a perf event array named events");
/// let mut lost = 0;
/// let mut perf = PerfBufferBuilder::new(events)
///     .pages(64)
///     .sample(|cpu, data: &[u8]| println!("CPU {cpu}: {} bytes", data.len()))
///     .lost(|_cpu, count| lost += count)
///     .build()?;
/// let n = perf.poll_for(Duration::from_secs(5))?;
/// drop(perf);
/// println!("{n} samples, {lost} lost");
/// # Ok(())
/// # }
/// ```
pub struct PerfBuffer<'a> {
    map: &'a Map,
    rings: Vec<CpuRing>,
    epoll: EpollSet,
    sample: Option<SampleCallback<'a>>,
    lost: Option<LostCallback<'a>>,
    /// Where a record that wraps around its ring's end is made contiguous.
    scratch: Vec<u8>,
}

// A perf buffer can be moved to another thread: a compile error here otherwise.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<PerfBuffer<'static>>();
};

impl PerfBuffer<'_> {
    /// Waits up to `timeout` for data (forever when `None`), then consumes what is in
    /// every ring (`perf_buffer__poll`). Returns the number of samples handed to the
    /// sample callback.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<usize, PerfBufferError> {
        if !self.wait_ready(timeout)? {
            return Ok(0);
        }
        Ok(self.consume_rings(true)?.0)
    }

    /// Polls until `deadline`, consuming records as they come, and returns how many
    /// samples it handed to the sample callback. A deadline already past still consumes
    /// what is there, without waiting.
    pub fn poll_until(&mut self, deadline: Instant) -> Result<usize, PerfBufferError> {
        poll::poll_until(self, deadline)
    }

    /// [`poll_until`](Self::poll_until) `duration` from now.
    pub fn poll_for(&mut self, duration: Duration) -> Result<usize, PerfBufferError> {
        self.poll_until(poll::deadline_after(duration))
    }

    /// Consumes every record in every ring without waiting (`perf_buffer__consume`);
    /// the number of samples handed to the sample callback.
    pub fn consume(&mut self) -> Result<usize, PerfBufferError> {
        Ok(self.consume_records()?.0)
    }

    /// Consumes every ring; the number of samples and of all records read (samples,
    /// lost counts and anything else the kernel wrote).
    pub(crate) fn consume_records(&mut self) -> Result<(usize, usize), PerfBufferError> {
        self.consume_rings(false)
    }

    /// Consumes the rings the last wait found ready (`ready_only`, when it found any,
    /// as `perf_buffer__poll` does), else every ring; counts as
    /// [`consume_records`](Self::consume_records).
    fn consume_rings(&mut self, ready_only: bool) -> Result<(usize, usize), PerfBufferError> {
        let (mut samples, mut records) = (0, 0);
        for i in self.epoll.pass_order(ready_only, self.rings.len()) {
            let Some(ring) = self.rings.get_mut(i) else {
                continue;
            };
            let cpu = ring.cpu;
            let (sample, lost) = (&mut self.sample, &mut self.lost);
            let read = ring.mapping.consume(&mut self.scratch, |record| {
                samples += deliver(cpu, &record, sample, lost);
                ControlFlow::Continue(())
            });
            match read {
                Some(n) => records += n,
                None => {
                    return Err(PerfBufferError::Corrupt {
                        map: self.map.name().to_string(),
                        cpu,
                    })
                }
            }
        }
        Ok((samples, records))
    }

    /// The CPUs with a ring, in order.
    pub fn cpus(&self) -> impl Iterator<Item = u32> + '_ {
        self.rings.iter().map(|r| r.cpu)
    }

    /// The epoll fd, to wait for data in one's own event loop (also [`AsFd`]).
    pub fn epoll_fd(&self) -> BorrowedFd<'_> {
        self.epoll.fd()
    }
}

/// Hands one record to the callback it is for; 1 for a sample, else 0. Records other
/// than samples and lost counts (none are asked for) are skipped.
fn deliver(
    cpu: u32,
    record: &PerfRecord<'_>,
    sample: &mut Option<SampleCallback<'_>>,
    lost: &mut Option<LostCallback<'_>>,
) -> usize {
    match record.kind {
        record_type::SAMPLE => {
            // PERF_SAMPLE_RAW: a u32 size, then that many bytes.
            let raw = record.body.get(4..).and_then(|rest| {
                let size = u32::from_ne_bytes(record.body[..4].try_into().ok()?) as usize;
                rest.get(..size)
            });
            match raw {
                Some(data) => {
                    if let Some(f) = sample {
                        f(cpu, data);
                    }
                    1
                }
                None => {
                    log::warn!("perf buffer: CPU {cpu}: a sample shorter than its raw size");
                    0
                }
            }
        }
        record_type::LOST => {
            // u64 id, u64 lost.
            let count = record
                .body
                .get(8..16)
                .map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap_or_default()));
            if let Some(f) = lost {
                f(cpu, count);
            }
            0
        }
        other => {
            log::debug!("perf buffer: CPU {cpu}: skipping a record of type {other}");
            0
        }
    }
}

impl Consumer for PerfBuffer<'_> {
    type Error = PerfBufferError;

    fn wait_ready(&mut self, timeout: Option<Duration>) -> Result<bool, PerfBufferError> {
        let n = self
            .epoll
            .wait(timeout)
            .map_err(|source| PerfBufferError::Sys {
                map: self.map.name().to_string(),
                cpu: None,
                source,
            })?;
        Ok(n > 0)
    }

    fn pass(&mut self) -> Result<Pass, PerfBufferError> {
        Ok(Pass {
            records: self.consume_rings(true)?.0,
            stopped: None,
        })
    }
}

impl std::fmt::Debug for PerfBuffer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cpus: Vec<u32> = self.cpus().collect();
        f.debug_struct("PerfBuffer")
            .field("map", &self.map.name())
            .field("cpus", &cpus)
            .finish()
    }
}

/// The epoll fd, as [`PerfBuffer::epoll_fd`]: readable when a ring has data.
impl AsFd for PerfBuffer<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.fd()
    }
}

impl AsRawFd for PerfBuffer<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.epoll.fd().as_raw_fd()
    }
}

impl Drop for PerfBuffer<'_> {
    fn drop(&mut self) {
        // Remove our events from the map before they close, as libbpf does.
        let access = self.map.access();
        for ring in &self.rings {
            if let Err(e) = sys::bpf::map_delete_elem(&access, &ring.cpu.to_ne_bytes()) {
                log::warn!(
                    "perf buffer '{}': clearing CPU {}'s slot: {}",
                    self.map.name(),
                    ring.cpu,
                    crate::util::Chain(&e)
                );
            }
        }
    }
}
