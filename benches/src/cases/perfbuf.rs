//! Case 9: perf buffer consumption, with a BPF producer.

use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use corebpf::{Loader, Object, ObjectSpec, PerfBufferBuilder};

use super::{prog_bytes, CaseResult, Options, Table, Target};
use crate::libbpf::{self, record_value};
use crate::measure::{self, Metric, Result, System};

const OBJECT: &str = "perf_output.bpf.o";
/// Samples per fill: 50,000 × 48 bytes = 2.3 MiB of the 8 MiB ring of a CPU.
const EVENTS: u32 = 50_000;
/// Ring size per CPU, in pages (8 MiB with 4 KiB pages): a fill never loses a sample.
const PAGES: usize = 2048;
/// An Ethernet-sized packet for the XDP test runs.
const PACKET: [u8; 64] = [0; 64];

/// Runs `emit` `count` times; the sum of the samples' value fields (bytes 8..16: `check`
/// and `fill[0]`) every consumer must reproduce, for sequence numbers from `base`.
fn fill(obj: &Object, base: u32, count: u32) -> Result<u64> {
    let prog = obj.program("emit").ok_or("no program `emit`")?;
    prog.test_run(&PACKET, count)
        .map_err(|e| format!("BPF_PROG_TEST_RUN: {e}"))?;
    Ok((base..base + count).fold(0u64, |s, seq| {
        let check = u64::from(seq.wrapping_mul(2654435761));
        s.wrapping_add(check | u64::from(seq + 1) << 32)
    }))
}

/// The CPUs the calling thread may run on.
fn affinity() -> libc::cpu_set_t {
    // SAFETY: an all-zero cpu_set_t is valid; sched_getaffinity writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        set
    }
}

fn set_affinity(set: &libc::cpu_set_t) {
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) {
    // SAFETY: an all-zero cpu_set_t is valid; CPU_SET writes within it.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    };
    set_affinity(&set);
}

/// The producer: `emit` `count` times on CPU `cpu`, from another thread, while `consume`
/// runs on this one; returns what `consume` returned.
fn concurrently<T>(obj: &Object, cpu: usize, count: u32, consume: impl FnOnce() -> T) -> Result<T> {
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            pin(cpu);
            obj.program("emit")
                .ok_or("no program `emit`".to_string())?
                .test_run(&PACKET, count)
                .map_err(|e| format!("BPF_PROG_TEST_RUN: {e}"))
        });
        let out = consume();
        producer
            .join()
            .map_err(|_| "producer panicked".to_string())??;
        Ok(out)
    })
}

pub fn run(o: &Options) -> Result<CaseResult> {
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    if online < 2 {
        return Err("case 9 needs two CPUs: one producing, one consuming".into());
    }
    let saved = affinity();
    // The producer on CPU 0, the consumer (this thread) on CPU 1.
    pin(1);
    let result = measure_both(o);
    set_affinity(&saved);
    result
}

fn samples_map(o: &Object) -> Result<&corebpf::Map> {
    o.map("samples")
        .ok_or_else(|| "no map `samples`".to_string())
}

fn measure_both(o: &Options) -> Result<CaseResult> {
    let data = prog_bytes(OBJECT)?;
    let spec = ObjectSpec::parse(&data, "perf_output").map_err(|e| e.to_string())?;
    let load = || Loader::new().load(&spec).map_err(|e| e.to_string());
    let (inst_c, inst_l) = (load()?, load()?);

    let (count_c, sum_c, lost_c) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let mut perf_c = PerfBufferBuilder::new(samples_map(&inst_c)?)
        .pages(PAGES)
        // Perf buffer callbacks are `Send`: atomics, read and written with plain
        // (relaxed) loads and stores, as cheap as libbpf's tally (no locked add).
        .sample(|_, rec| {
            count_c.store(count_c.load(Relaxed) + 1, Relaxed);
            sum_c.store(sum_c.load(Relaxed).wrapping_add(record_value(rec)), Relaxed);
        })
        .lost(|_, n| {
            lost_c.store(lost_c.load(Relaxed) + n, Relaxed);
        })
        .build()
        .map_err(|e| e.to_string())?;
    let mut perf_l = libbpf::PerfBuffer::new(samples_map(&inst_l)?.fd().as_raw_fd(), PAGES)?;

    let bases = [Cell::new(0u32), Cell::new(0u32)];
    let next_base = |i: usize| {
        let b = bases[i].get();
        bases[i].set(b + EVENTS);
        b
    };
    let check = |who: &str, n: u64, lost: u64, sum: u64, want: u64| -> Result<u64> {
        if n != EVENTS as u64 || lost != 0 || sum != want {
            return Err(format!(
                "{who} got {n} samples, {lost} lost (sum {sum:#x}); expected {EVENTS} (sum {want:#x})"
            ));
        }
        Ok(n)
    };
    let drained = |who: &str, n: u64| -> Result<()> {
        if n > u64::from(EVENTS) {
            return Err(format!("{who}: {n} samples for {EVENTS} sent"));
        }
        Ok(())
    };

    // Drain: the rings filled first (untimed), then one poll takes everything.
    let mut drain = vec![
        System::new("corebpf", |sw| {
            let want = fill(&inst_c, next_base(0), EVENTS)?;
            let before = (count_c.load(Relaxed), sum_c.load(Relaxed));
            sw.measure(|| perf_c.poll(Some(Duration::ZERO)))
                .map_err(|e| e.to_string())?;
            let n = count_c.load(Relaxed) - before.0;
            check(
                "corebpf",
                n,
                lost_c.load(Relaxed),
                sum_c.load(Relaxed).wrapping_sub(before.1),
                want,
            )
        }),
        System::new("libbpf", |sw| {
            let want = fill(&inst_l, next_base(1), EVENTS)?;
            let before = (perf_l.tally().samples, perf_l.tally().sum);
            sw.measure(|| perf_l.poll(0))?;
            let t = perf_l.tally();
            check(
                "libbpf",
                t.samples - before.0,
                t.lost,
                t.sum.wrapping_sub(before.1),
                want,
            )
        }),
    ];
    let drain_samples = measure::run(&o.plan(Metric::Wall, 2), &mut drain)?;
    drop(drain);

    // Live: the producer runs on CPU 0 while this thread polls, a wake-up per sample, until
    // every sample has arrived.
    let mut live = vec![
        System::new("corebpf", |sw| {
            let before = count_c.load(Relaxed);
            sw.measure(|| {
                concurrently(&inst_c, 0, EVENTS, || -> Result<()> {
                    while count_c.load(Relaxed) - before < u64::from(EVENTS) {
                        perf_c
                            .poll(Some(Duration::from_millis(100)))
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })??;
            let n = count_c.load(Relaxed) - before;
            drained("corebpf", n)?;
            Ok(n)
        }),
        System::new("libbpf", |sw| {
            let before = perf_l.tally().samples;
            sw.measure(|| {
                concurrently(&inst_l, 0, EVENTS, || -> Result<()> {
                    while perf_l.tally().samples - before < u64::from(EVENTS) {
                        perf_l.poll(100)?;
                    }
                    Ok(())
                })
            })??;
            let n = perf_l.tally().samples - before;
            drained("libbpf", n)?;
            Ok(n)
        }),
    ];
    let live_samples = measure::run(&o.plan(Metric::Wall, 2), &mut live)?;
    drop(live);
    if lost_c.load(Relaxed) != 0 || perf_l.tally().lost != 0 {
        return Err("samples were lost: the rings are too small for a fill".into());
    }

    let target = || {
        Some(Target {
            text: "≥ 1.0× libbpf's events/s (time per event ≤ 1.0×)".into(),
            bound: 1.0,
        })
    };
    let tables = vec![
        Table::from_samples(
            "Drain 50,000 samples of 36 bytes from a filled ring (wall time per event; events/s = 1 / this)",
            "wall time per event",
            &drain_samples,
            Metric::Wall,
            &[("corebpf", "libbpf", target())],
        ),
        Table::from_samples(
            "Producer and consumer at once: 50,000 samples, a wake-up each (wall time per event until the last arrives)",
            "wall time per event",
            &live_samples,
            Metric::Wall,
            &[("corebpf", "libbpf", target())],
        ),
        Table::from_samples(
            "Producer and consumer at once: the consumer thread's CPU per event",
            "consumer thread CPU time per event",
            &live_samples,
            Metric::Cpu,
            &[("corebpf", "libbpf", None)],
        ),
    ];
    Ok(CaseResult {
        id: 9,
        title: "Perf buffer consumption".into(),
        setup: vec![
            format!(
                "Producer: `bpf-progs/{OBJECT}`'s XDP program `emit`, run by BPF_PROG_TEST_RUN \
                 with repeat {EVENTS}: each run sends one 36-byte sample (48 bytes in the ring) \
                 with bpf_perf_event_output(BPF_F_CURRENT_CPU), on CPU 0. Rings of {PAGES} pages \
                 per CPU, so nothing is lost; every consumer counts the samples and sums a field \
                 of each, checked. Each system has its own instance (map and producer), loaded \
                 by corebpf; its buffer is created once. Consumers run on CPU 1."
            ),
            "Drain: the producer fills the ring first, untimed; then one poll with a zero \
             timeout, timed, takes every sample."
                .into(),
            "Live: the producer runs on CPU 0 while the consumer polls (100 ms timeout) until \
             the last sample has arrived; timed from the producer's start."
                .into(),
            "corebpf: `PerfBufferBuilder::new(&map).pages(2048).sample(..).lost(..).build()`, then `PerfBuffer::poll`.".into(),
            "libbpf: `perf_buffer__new(fd, 2048, sample_cb, lost_cb, ctx, NULL)`, then `perf_buffer__poll` (C callbacks).".into(),
        ],
        tables,
        notes: vec![],
    })
}
