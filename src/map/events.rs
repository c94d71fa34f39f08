//! Handles of the maps events flow through: [`RingBuf`], [`UserRingBuf`],
//! [`PerfEventArray`]. They check the map's type; the consumers and producers that
//! read and write the events are [`RingBuffer`](crate::RingBuffer) and the perf and
//! user ring buffer types.

use std::os::fd::{AsFd, AsRawFd};

use super::array::bound;
use super::typed::{check_type, typed_view};
use super::{Map, MapError, MapFlags, MapType};

/// A BPF ring buffer (`BPF_MAP_TYPE_RINGBUF`, 5.8+): programs write records with
/// `bpf_ringbuf_output`/`reserve`, user space reads them through a
/// [`RingBuffer`](crate::RingBuffer).
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::RingBuf;
/// use corebpf::{Loader, RingBufferBuilder};
///
/// # fn main() -> Result<(), corebpf::Error> {
/// let obj = Loader::new().load_file("bpf-progs/hello.bpf.o")?;
/// let events: RingBuf = obj.map("events").expect("events").try_into()?;
/// println!("{} bytes of ring", events.size());
/// let ring = RingBufferBuilder::new().add(events.map(), |_| 0).build()?;
/// # drop(ring);
/// # Ok(())
/// # }
/// ```
pub struct RingBuf<'a> {
    map: &'a Map,
}

typed_view!(RingBuf, |map| check_type(
    map,
    &[MapType::RINGBUF],
    "ringbuf"
));

impl RingBuf<'_> {
    /// The ring's data size in bytes (its `max_entries`).
    pub fn size(&self) -> u32 {
        self.map.def.max_entries
    }
}

/// A user ring buffer (`BPF_MAP_TYPE_USER_RINGBUF`, 6.1+): user space writes records,
/// programs drain them with `bpf_user_ringbuf_drain`.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::UserRingBuf;
/// # fn main() -> Result<(), corebpf::MapError> {
/// # let map: corebpf::Map = unimplemented!();
/// let requests: UserRingBuf = (&map).try_into()?;
/// println!("{} bytes of ring", requests.size());
/// # Ok(())
/// # }
/// ```
pub struct UserRingBuf<'a> {
    map: &'a Map,
}

typed_view!(UserRingBuf, |map| check_type(
    map,
    &[MapType::USER_RINGBUF],
    "user_ringbuf"
));

impl UserRingBuf<'_> {
    /// The ring's data size in bytes (its `max_entries`).
    pub fn size(&self) -> u32 {
        self.map.def.max_entries
    }
}

/// A perf event array (`BPF_MAP_TYPE_PERF_EVENT_ARRAY`): slot `i` holds a perf event,
/// usually the `PERF_COUNT_SW_BPF_OUTPUT` event of CPU `i` that
/// `bpf_perf_event_output` writes to, or a hardware counter `bpf_perf_event_read`
/// reads. The loader sizes it to the possible CPUs when the object leaves
/// `max_entries` 0, as libbpf does.
///
/// # Examples
///
/// ```no_run
/// use corebpf::map::PerfEventArray;
/// # fn main() -> Result<(), corebpf::MapError> {
/// # let map: corebpf::Map = unimplemented!();
/// let events: PerfEventArray = (&map).try_into()?;
/// println!("{} slots", events.len());
/// # Ok(())
/// # }
/// ```
pub struct PerfEventArray<'a> {
    map: &'a Map,
}

typed_view!(PerfEventArray, |map| check_type(
    map,
    &[MapType::PERF_EVENT_ARRAY],
    "perf_event_array"
));

impl PerfEventArray<'_> {
    /// Puts the perf event `event` in slot `index` (commonly the CPU number).
    pub fn set(&self, index: u32, event: impl AsFd) -> Result<(), MapError> {
        bound(self.map, index)?;
        let fd = event.as_fd().as_raw_fd().to_ne_bytes();
        self.map.update(&index.to_ne_bytes(), &fd, MapFlags::ANY)
    }

    /// Empties slot `index`; false when it was empty.
    pub fn remove(&self, index: u32) -> Result<bool, MapError> {
        bound(self.map, index)?;
        self.map.delete(&index.to_ne_bytes())
    }

    /// Number of slots.
    pub fn len(&self) -> u32 {
        self.map.def.max_entries
    }

    /// True for a zero-sized array.
    pub fn is_empty(&self) -> bool {
        self.map.def.max_entries == 0
    }
}
