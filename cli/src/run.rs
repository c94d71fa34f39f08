//! `corebpf run`: load, attach, print every ring buffer record and perf buffer sample
//! until Ctrl-C or the duration, then say how many events were read and how many were
//! lost.

use std::io::Write as _;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use anyhow::Context as _;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use corebpf::map::MapType;
use corebpf::{Map, PerfBuffer, PerfBufferBuilder, RingBufError, RingBuffer, RingBufferBuilder};

use crate::args::RunArgs;
use crate::events::{dropped_total, EventDecoder};
use crate::output::Signals;
use crate::run_flags;
use crate::Result;

/// What the callbacks count, shared with them (they run on this thread, but the
/// consumers require `Send` callbacks).
#[derive(Default)]
struct Tally {
    /// Ring buffer records and perf buffer samples read.
    records: AtomicU64,
    /// Perf buffer samples the kernel reported lost.
    lost: AtomicU64,
    /// Stdout was closed (`| head`): stop.
    closed: AtomicBool,
}

impl Tally {
    /// Prints one decoded event, counting it.
    fn print(&self, line: &str) {
        self.records.fetch_add(1, Relaxed);
        if !self.closed.load(Relaxed) && writeln!(std::io::stdout().lock(), "{line}").is_err() {
            self.closed.store(true, Relaxed);
        }
    }
}

pub fn run(a: &RunArgs) -> Result<()> {
    let mut spec = crate::open_object(&a.object)?;
    let ring_decoder = EventDecoder::new(&spec, a.event_type.as_deref())?;
    let perf_decoder = EventDecoder::for_perf(&spec, a.event_type.as_deref())?;
    let loader = run_flags::prepare(
        &mut spec,
        &a.options,
        crate::loader(a.target.btf.as_deref()),
    )?;
    run_flags::check_targets(&spec, &a.options, &a.targets)?;
    let obj = loader.load(&spec)?;
    if obj.programs().iter().any(|p| p.can_auto_attach()) {
        crate::ensure_tracefs()?;
    }
    // Block SIGINT/SIGTERM before anything is attached, so Ctrl-C arrives as a readable
    // signalfd and the drops below detach everything.
    let signals = Signals::new()?;
    let tally = Tally::default();
    let mut ring = ring_buffer(obj.maps(), &ring_decoder, &tally)?;
    let mut perfs = perf_buffers(obj.maps(), a.perf_pages, &perf_decoder, &tally)?;
    let mut hist = crate::hist::HistPrinter::new(&obj, &a.hist)?;
    let links = run_flags::attach(&obj, &a.targets)?;
    for l in &links {
        crate::output::note(&format!("attached {}", l.description()));
    }
    let deadline = a.duration.map(|d| Instant::now() + d);
    let outcome = event_loop(&signals, &mut ring, &mut perfs, deadline, &tally, &mut hist);
    // Detach first, then take what is left, so that every event made counts.
    drop(links);
    let drained = consume_all(&mut ring, &mut perfs);
    outcome.and(drained)?;
    drop(ring);
    drop(perfs);
    if let Some(h) = &hist {
        h.print()?;
    }
    summary(&obj, &tally)
}

/// One ring buffer over every `BPF_MAP_TYPE_RINGBUF` map, printing each record.
fn ring_buffer<'a>(
    maps: &'a [Map],
    decoder: &'a EventDecoder,
    tally: &'a Tally,
) -> Result<Option<RingBuffer<'a>>> {
    let rings: Vec<&Map> = maps
        .iter()
        .filter(|m| m.map_type() == MapType::RINGBUF)
        .collect();
    if rings.is_empty() {
        return Ok(None);
    }
    let mut builder = RingBufferBuilder::new();
    for m in rings {
        builder = builder.add(m, move |rec| {
            tally.print(&decoder.decode(rec));
            // A closed stdout ends the run.
            i32::from(tally.closed.load(Relaxed))
        });
    }
    Ok(Some(builder.build()?))
}

/// A perf buffer for every `BPF_MAP_TYPE_PERF_EVENT_ARRAY` map, printing each sample
/// and counting losses.
fn perf_buffers<'a>(
    maps: &'a [Map],
    pages: usize,
    decoder: &'a EventDecoder,
    tally: &'a Tally,
) -> Result<Vec<PerfBuffer<'a>>> {
    let mut perfs = Vec::new();
    for m in maps
        .iter()
        .filter(|m| m.map_type() == MapType::PERF_EVENT_ARRAY)
    {
        if let Some(t) = decoder.type_name() {
            log::debug!("perf buffer '{}': samples decoded as {t}", m.name());
        }
        let perf = PerfBufferBuilder::new(m)
            .pages(pages)
            .sample(move |_cpu, data| tally.print(&decoder.decode(data)))
            .lost(move |_cpu, n| {
                tally.lost.fetch_add(n, Relaxed);
            })
            .build()
            .with_context(|| format!("opening perf buffer '{}'", m.name()))?;
        perfs.push(perf);
    }
    Ok(perfs)
}

/// Waits on the signals and every buffer at once, consuming what arrives, until a
/// signal, the deadline, or a closed stdout.
fn event_loop(
    signals: &Signals,
    ring: &mut Option<RingBuffer<'_>>,
    perfs: &mut [PerfBuffer<'_>],
    deadline: Option<Instant>,
    tally: &Tally,
    hist: &mut Option<crate::hist::HistPrinter<'_>>,
) -> Result<()> {
    loop {
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Ok(());
        }
        if let Some(h) = hist.as_mut() {
            h.tick()?;
        }
        let tick = hist.as_ref().and_then(|h| h.due());
        let wake = match (deadline, tick) {
            (Some(d), Some(t)) => Some(d.min(t)),
            (d, t) => d.or(t),
        };
        let wait = match wake {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                PollTimeout::try_from(left.as_millis().saturating_add(1).min(60_000) as u64)
                    .unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };
        {
            let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
            fds.extend(
                ring.iter()
                    .map(|r| PollFd::new(r.as_fd(), PollFlags::POLLIN)),
            );
            fds.extend(
                perfs
                    .iter()
                    .map(|p| PollFd::new(p.as_fd(), PollFlags::POLLIN)),
            );
            match nix::poll::poll(&mut fds, wait) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(anyhow::Error::new(e).context("waiting for events")),
            }
        }
        if signals.pending()? {
            crate::output::note("interrupted; detaching");
            return Ok(());
        }
        consume_all(ring, perfs)?;
        if tally.closed.load(Relaxed) {
            return Ok(());
        }
    }
}

/// Consumes what every buffer holds, without waiting.
fn consume_all(ring: &mut Option<RingBuffer<'_>>, perfs: &mut [PerfBuffer<'_>]) -> Result<()> {
    if let Some(r) = ring {
        match r.consume() {
            Ok(_) | Err(RingBufError::Stopped(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for p in perfs {
        p.consume()?;
    }
    Ok(())
}

/// `corebpf: records N, lost M[, dropped D]` on stderr.
fn summary(obj: &corebpf::Object, tally: &Tally) -> Result<()> {
    let mut line = format!(
        "records {}, lost {}",
        tally.records.load(Relaxed),
        tally.lost.load(Relaxed)
    );
    if let Some(dropped) = dropped_total(obj.maps())? {
        line.push_str(&format!(", dropped {dropped}"));
    }
    crate::output::note(&line);
    Ok(())
}
