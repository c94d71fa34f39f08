//! Case 4: ring buffer consumption, with a BPF producer.

use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use corebpf::{Loader, Object, ObjectSpec, RingBufferBuilder};

use super::{prog_bytes, CaseResult, Options, Table, Target};
use crate::measure::{self, Metric, Result, System};
use crate::{aya_glue, libbpf};

const OBJECT: &str = "ringbuf_bench.bpf.o";
/// Records per fill: 500,000 × 24 bytes = 11.4 MiB of the 16 MiB ring.
const EVENTS: u32 = 500_000;

/// Runs the `produce` program of `obj` once: `count` records starting at `base`.
fn fill(obj: &Object, base: u32, count: u32) -> Result<u64> {
    let prog = obj.program("produce").ok_or("no program `produce`")?;
    let mut ctx = [0u8; 8];
    ctx[..4].copy_from_slice(&count.to_ne_bytes());
    ctx[4..].copy_from_slice(&base.to_ne_bytes());
    let written = prog
        .test_run_with_context(&ctx, 0)
        .map_err(|e| format!("BPF_PROG_TEST_RUN: {e}"))?;
    if written != count {
        return Err(format!("producer wrote {written} records of {count}"));
    }
    // The sum of the records' `value` fields, which every consumer must reproduce.
    Ok((0..count as u64).fold(0u64, |s, i| {
        s.wrapping_add((base as u64 + i).wrapping_mul(2654435761))
    }))
}

use crate::libbpf::record_value as value_of;

pub fn run(o: &Options) -> Result<CaseResult> {
    let data = prog_bytes(OBJECT)?;
    let spec = ObjectSpec::parse(&data, "ringbuf_bench").map_err(|e| e.to_string())?;
    // One instance (ring + producer) per consumer, so that no consumer sees another's
    // position; each consumer is created once, before the rounds.
    let load = || Loader::new().load(&spec).map_err(|e| e.to_string());
    let (inst_c, inst_l, inst_a, inst_b) = (load()?, load()?, load()?, load()?);
    let rb_fd =
        |o: &Object| -> Result<i32> { Ok(o.map("rb").ok_or("no map `rb`")?.fd().as_raw_fd()) };

    // Ring buffer callbacks are `Send`: an atomic instead of a `Cell`, read and written
    // with plain (relaxed) loads and stores, as cheap as the `Cell` it replaces.
    let sum_c = AtomicU64::new(0);
    let mut ring_c = RingBufferBuilder::new()
        .add(inst_c.map("rb").ok_or("no map `rb`")?, |rec: &[u8]| {
            sum_c.store(sum_c.load(Relaxed).wrapping_add(value_of(rec)), Relaxed);
            0
        })
        .build()
        .map_err(|e| e.to_string())?;
    // The batch API: no callback; records borrowed from the ring, one commit per batch.
    let mut ring_b = RingBufferBuilder::new()
        .add_batched(inst_b.map("rb").ok_or("no map `rb`")?)
        .build()
        .map_err(|e| e.to_string())?;
    let mut ring_l = libbpf::RingBuffer::new(rb_fd(&inst_l)?)?;
    let mut ring_a = aya_glue::ring_buf(inst_a.map("rb").ok_or("no map `rb`")?.fd())?;

    // Each fill starts where the previous one of the same system ended.
    let bases = [
        Cell::new(0u32),
        Cell::new(0u32),
        Cell::new(0u32),
        Cell::new(0u32),
    ];
    let next_base = |i: usize| {
        bases[i].set(bases[i].get().wrapping_add(EVENTS));
        bases[i].get()
    };
    let check = |who: &str, n: u64, sum: u64, want: u64| -> Result<u64> {
        if n != EVENTS as u64 || sum != want {
            return Err(format!(
                "{who} consumed {n} records (sum {sum:#x}); expected {EVENTS} (sum {want:#x})"
            ));
        }
        Ok(n)
    };
    let mut systems = vec![
        System::new("corebpf", |sw| {
            let want = fill(&inst_c, next_base(0), EVENTS)?;
            sum_c.store(0, Relaxed);
            let n = sw.measure(|| ring_c.consume()).map_err(|e| e.to_string())?;
            check("corebpf", n as u64, sum_c.load(Relaxed), want)
        }),
        System::new("corebpf batch", |sw| {
            let want = fill(&inst_b, next_base(3), EVENTS)?;
            let (n, sum) = sw
                .measure(|| {
                    let mut sum = 0u64;
                    let n = ring_b.consume_batch(|_, batch| {
                        for rec in batch {
                            sum = sum.wrapping_add(value_of(rec));
                        }
                    });
                    n.map(|n| (n, sum))
                })
                .map_err(|e| e.to_string())?;
            check("corebpf batch", n as u64, sum, want)
        }),
        System::new("libbpf", |sw| {
            let want = fill(&inst_l, next_base(1), EVENTS)?;
            let before = ring_l.sum();
            let n = sw.measure(|| ring_l.consume())?;
            check("libbpf", n, ring_l.sum().wrapping_sub(before), want)
        }),
        System::new("aya", |sw| {
            let want = fill(&inst_a, next_base(2), EVENTS)?;
            let (n, sum) = sw.measure(|| {
                let (mut n, mut sum) = (0u64, 0u64);
                while let Some(item) = ring_a.next() {
                    sum = sum.wrapping_add(value_of(&item));
                    n += 1;
                }
                (n, sum)
            });
            check("aya", n, sum, want)
        }),
    ];
    let samples = measure::run(&o.plan(Metric::Wall, 20), &mut systems)?;
    let target = Some(Target {
        text: "≥ 1.0× libbpf's events/s (time per event ≤ 1.0×)".into(),
        bound: 1.0,
    });
    let wall = Table::from_samples(
        "Drain 500,000 16-byte records (wall time per event; events/s = 1 / this)",
        "wall time per event",
        &samples,
        Metric::Wall,
        &[
            ("corebpf", "libbpf", target),
            (
                "corebpf batch",
                "libbpf",
                Some(Target {
                    text: "≤ 0.8× libbpf's time per event (the batch API)".into(),
                    bound: 0.8,
                }),
            ),
            ("corebpf", "aya", None),
        ],
    );
    let cpu = Table::from_samples(
        "CPU per event",
        "thread CPU time per event",
        &samples,
        Metric::Cpu,
        &[
            ("corebpf", "libbpf", None),
            ("corebpf batch", "libbpf", None),
            ("corebpf", "aya", None),
        ],
    );
    Ok(CaseResult {
        id: 4,
        title: "Ring buffer consumption".into(),
        setup: vec![
            format!(
                "Producer: `bpf-progs/{OBJECT}`'s `produce` (BPF_PROG_TYPE_SYSCALL) run by \
                 BPF_PROG_TEST_RUN: bpf_loop() reserves and submits {EVENTS} records of 16 \
                 bytes (24 with the header) into a 16 MiB ring, untimed. Then the consumer \
                 drains them all in one call, timed; every consumer sums a field of every \
                 record and the sum is checked. Each system has its own instance (ring and \
                 producer), loaded by corebpf, and its consumer is created once."
            ),
            "corebpf: `RingBufferBuilder::new().add(&map, callback).build()`, then `RingBuffer::consume()`.".into(),
            "corebpf batch: `RingBufferBuilder::new().add_batched(&map).build()`, then `RingBuffer::consume_batch(|_, batch| for record in batch { .. })`: records borrowed from the ring, the consumer position stored once per batch.".into(),
            "libbpf: `ring_buffer__new(fd, sample_cb)`, then `ring_buffer__consume()` (C callback).".into(),
            "aya: `RingBuf::try_from(Map::RingBuf(MapData::from_fd(fd)))`, then `while let Some(item) = ring.next()`.".into(),
        ],
        tables: vec![wall, cpu],
        notes: vec![],
    })
}
