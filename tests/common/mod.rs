//! Shared setup for the kernel tests: mounts, object paths, fd census, event triggers.
#![allow(dead_code)]

pub mod feature;
pub mod raw_bpf;
mod workspace;

pub use workspace::*;

use std::time::Duration;

/// An error and its causes joined with `: `, as a user's `{:#}` would print them: each
/// message describes only its own layer.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

/// Counts this process's bpf objects and perf events by what /proc/self/fd links to.
pub fn bpf_and_perf_fds() -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/fd")
        .expect("reading /proc/self/fd")
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(e.path()) {
            let t = target.to_string_lossy().into_owned();
            if t.contains("bpf") || t.contains("btf") || t.contains("perf_event") {
                out.push(t);
            }
        }
    }
    out.sort();
    out
}

/// Polls `ring` until `found` says yes, triggering events with `trigger` between
/// polls; at most `rounds` rounds of 200 ms (a bound so a broken program fails the
/// test instead of hanging it; no assertion is made on time).
pub fn poll_until(
    ring: &mut corebpf::RingBuffer<'_>,
    rounds: usize,
    mut trigger: impl FnMut(),
    mut found: impl FnMut() -> bool,
) -> bool {
    for _ in 0..rounds {
        trigger();
        ring.poll(Some(Duration::from_millis(200)))
            .expect("polling the ring buffer");
        if found() {
            return true;
        }
    }
    false
}

/// Layout of hello.bpf.c's `struct event`.
#[repr(C)]
#[derive(Clone, Copy)]
#[cfg_attr(feature = "derive", derive(corebpf::Pod))]
pub struct HelloEvent {
    pub pid: u32,
    pub uid: u32,
    pub comm: [u8; 16],
    pub filename: [u8; 256],
}

/// Layout of hello_buffer_config.bpf.c's `struct event`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ConfigEvent {
    pub pid: u32,
    pub uid: u32,
    pub comm: [u8; 16],
    pub filename: [u8; 256],
    pub message: [u8; 12],
}

/// The C string at the start of `b`.
pub fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Reads the fields of the C layout one by one (no reinterpretation of memory).
fn u32_at(rec: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(rec.get(off..off + 4)?.try_into().ok()?))
}

fn bytes_at<const N: usize>(rec: &[u8], off: usize) -> Option<[u8; N]> {
    rec.get(off..off + N)?.try_into().ok()
}

impl HelloEvent {
    /// Parses a ring buffer record; `None` when it is too short.
    pub fn parse(rec: &[u8]) -> Option<HelloEvent> {
        Some(HelloEvent {
            pid: u32_at(rec, 0)?,
            uid: u32_at(rec, 4)?,
            comm: bytes_at(rec, 8)?,
            filename: bytes_at(rec, 24)?,
        })
    }
}

impl ConfigEvent {
    /// Parses a ring buffer record; `None` when it is too short.
    pub fn parse(rec: &[u8]) -> Option<ConfigEvent> {
        let h = HelloEvent::parse(rec)?;
        Some(ConfigEvent {
            pid: h.pid,
            uid: h.uid,
            comm: h.comm,
            filename: h.filename,
            message: bytes_at(rec, 280)?,
        })
    }
}

/// Reads global variable `name` of a loaded object from its global-data map, found
/// through the object's BTF (as a skeleton's `bss->name` would).
pub fn global(spec: &corebpf::ObjectSpec, obj: &corebpf::Object, name: &str) -> Vec<u8> {
    let v = spec
        .global(name)
        .unwrap_or_else(|| panic!("no global variable {name}"));
    let map = obj.map(&spec.maps[v.map].name).unwrap();
    let value = map
        .lookup(&0u32.to_ne_bytes(), corebpf::MapFlags::ANY)
        .unwrap()
        .unwrap();
    value[v.offset as usize..(v.offset + v.size) as usize].to_vec()
}

/// A global as a little-endian unsigned integer of its size.
pub fn global_u64(spec: &corebpf::ObjectSpec, obj: &corebpf::Object, name: &str) -> u64 {
    let b = global(spec, obj, name);
    let mut a = [0u8; 8];
    a[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
    u64::from_le_bytes(a)
}

/// The value `read` returns once two reads 50 ms apart agree (at most 40 tries): after a
/// detach, program runs already in flight on other CPUs finish under RCU and may still
/// bump a counter; nothing new starts.
pub fn settled<T: PartialEq>(mut read: impl FnMut() -> T) -> T {
    let mut last = read();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(50));
        let now = read();
        if now == last {
            return now;
        }
        last = now;
    }
    last
}
