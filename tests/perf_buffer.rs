//! The perf buffer, driven by bpf-progs/perf_output.bpf.o: its XDP program `emit`, run
//! with BPF_PROG_TEST_RUN and a repeat count, sends one 36-byte sample per run with
//! bpf_perf_event_output() and counts in ".bss" what it sent (`produced`) and what the
//! kernel refused (`failed`). Every count is checked exactly: samples delivered + lost
//! reported == produced, and lost == failed.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use corebpf::{Loader, Object, ObjectSpec, PerfBufferBuilder, PerfBufferError};

/// An Ethernet-sized packet for the XDP test runs (its content does not matter).
const PACKET: [u8; 64] = [0; 64];
/// A sample's size as delivered: 36 bytes, whose raw field needs no padding (4 + 36).
const SAMPLE: usize = 36;

/// Tests in this file that pin their thread or count samples per CPU run one at a time,
/// so that no other test's samples land in their rings.
static SERIAL: Mutex<()> = Mutex::new(());

fn load() -> (ObjectSpec, Object) {
    setup();
    let spec = ObjectSpec::from_file(&prog("perf_output.bpf.o")).expect("parsing perf_output");
    let obj = Loader::new().load(&spec).expect("loading perf_output");
    (spec, obj)
}

/// Runs `emit` `n` times (one BPF_PROG_TEST_RUN with repeat `n`).
fn emit(obj: &Object, n: u32) {
    let prog = obj.program("emit").expect("program emit");
    assert_eq!(prog.test_run(&PACKET, n).expect("BPF_PROG_TEST_RUN"), 2); // XDP_PASS
}

/// Checks one sample's fields against its sequence number; returns it.
fn check_sample(cpu: u32, data: &[u8]) -> u32 {
    assert_eq!(data.len(), SAMPLE, "sample size");
    let word = |i: usize| u32::from_ne_bytes(data[i * 4..i * 4 + 4].try_into().unwrap());
    let seq = word(0);
    assert_eq!(word(1), cpu, "sample {seq} arrived in another CPU's ring");
    assert_eq!(
        word(2),
        seq.wrapping_mul(2654435761),
        "sample {seq} corrupt"
    );
    for i in 0..6 {
        assert_eq!(word(3 + i), seq + 1 + i as u32, "sample {seq} corrupt");
    }
    seq
}

/// Pins the calling thread to the CPU it is on, so that every sample it makes lands in
/// one ring; returns the CPU.
fn pin_to_current_cpu() -> u32 {
    let cpu = nix::sched::sched_getcpu().expect("sched_getcpu");
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).unwrap();
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).expect("pinning");
    cpu as u32
}

#[test]
fn a_hundred_thousand_samples_reach_a_consumer_on_another_thread() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (spec, obj) = load();
    const N: u32 = 100_000;
    let seen = Mutex::new(vec![false; N as usize]);
    let (samples, lost) = (AtomicU64::new(0), AtomicU64::new(0));
    // 8 MiB per CPU holds all 100,000 samples (4.8 MB) even if the consumer never ran
    // before the producer finished: nothing may be lost, whatever the scheduling.
    let mut perf = PerfBufferBuilder::new(obj.map("samples").unwrap())
        .pages(2048)
        .sample(|cpu, data| {
            let seq = check_sample(cpu, data);
            let mut seen = seen.lock().unwrap();
            assert!(!seen[seq as usize], "sample {seq} twice");
            seen[seq as usize] = true;
            samples.fetch_add(1, Ordering::Relaxed);
        })
        .lost(|_, n| {
            lost.fetch_add(n, Ordering::Relaxed);
        })
        .build()
        .expect("building the perf buffer");
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        let consumer = s.spawn(|| {
            // Bounded so that a broken buffer fails the test instead of hanging it; no
            // assertion is made on time.
            let bound = Instant::now() + Duration::from_secs(300);
            while Instant::now() < bound {
                perf.poll(Some(Duration::from_millis(100))).expect("poll");
                if done.load(Ordering::SeqCst)
                    && samples.load(Ordering::Relaxed) + lost.load(Ordering::Relaxed)
                        == u64::from(N)
                {
                    return;
                }
            }
        });
        emit(&obj, N);
        done.store(true, Ordering::SeqCst);
        consumer.join().expect("consumer thread");
    });
    drop(perf);
    assert_eq!(global_u64(&spec, &obj, "produced"), u64::from(N));
    assert_eq!(global_u64(&spec, &obj, "failed"), 0);
    assert_eq!(samples.load(Ordering::Relaxed), u64::from(N));
    assert_eq!(lost.load(Ordering::Relaxed), 0);
    assert!(seen.into_inner().unwrap().iter().all(|&s| s));
}

#[test]
fn samples_that_straddle_the_end_of_a_small_ring_arrive_whole() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (spec, obj) = load();
    // 4 pages: 16,384 bytes hold 341 samples of 48 bytes; 48 does not divide 16,384, so
    // as the ring wraps, samples straddle its end and arrive through the copy path.
    const ROUND: u32 = 300;
    const ROUNDS: u32 = 400;
    let mut seen = vec![false; (ROUND * ROUNDS) as usize];
    let mut last = std::collections::HashMap::new();
    let mut lost = 0;
    let mut perf = PerfBufferBuilder::new(obj.map("samples").unwrap())
        .pages(4)
        .sample(|cpu, data| {
            // One producer thread: within a ring, the sequence only grows.
            let seq = check_sample(cpu, data);
            if let Some(prev) = last.insert(cpu, seq) {
                assert!(seq > prev, "CPU {cpu}: sample {seq} after {prev}");
            }
            assert!(
                !std::mem::replace(&mut seen[seq as usize], true),
                "{seq} twice"
            );
        })
        .lost(|_, n| lost += n)
        .build()
        .unwrap();
    let mut total = 0;
    for _ in 0..ROUNDS {
        // A round fits in one ring even if the thread moves between CPUs mid-round.
        emit(&obj, ROUND);
        total += perf.consume().expect("consume");
    }
    drop(perf);
    assert_eq!(total, (ROUND * ROUNDS) as usize);
    assert!(seen.iter().all(|&s| s), "a sample never arrived");
    assert_eq!(lost, 0);
    assert_eq!(global_u64(&spec, &obj, "failed"), 0);
    assert_eq!(
        global_u64(&spec, &obj, "produced"),
        u64::from(ROUND * ROUNDS)
    );
}

#[test]
fn a_stalled_consumer_of_a_tiny_ring_is_told_what_was_lost() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (spec, obj) = load();
    // The test thread's samples all go to one CPU's ring.
    let cpu = pin_to_current_cpu();
    let (mut samples, mut lost) = (0u64, Vec::new());
    let mut perf = PerfBufferBuilder::new(obj.map("samples").unwrap())
        .pages(1)
        .sample(|c, data| {
            check_sample(c, data);
            samples += 1;
        })
        .lost(|c, n| lost.push((c, n)))
        .build()
        .unwrap();
    // 1,000 samples into one page (85 fit) with nobody reading.
    emit(&obj, 1000);
    let failed = global_u64(&spec, &obj, "failed");
    assert!(failed > 0, "a one-page ring held 1,000 samples");
    perf.consume().unwrap();
    // The kernel reports a loss ahead of the next sample that fits: send one.
    emit(&obj, 1);
    perf.consume().unwrap();
    drop(perf);
    let reported: u64 = lost.iter().map(|&(_, n)| n).sum();
    assert!(
        lost.iter().all(|&(c, _)| c == cpu),
        "{lost:?} (pinned to {cpu})"
    );
    assert_eq!(reported, failed, "lost reported vs refused by the kernel");
    assert_eq!(samples + reported, 1001);
    assert_eq!(global_u64(&spec, &obj, "produced"), 1001);
}

#[test]
fn dropping_the_buffer_clears_the_map_and_releases_every_event() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (spec, obj) = load();
    let before = bpf_and_perf_fds();
    let perf = PerfBufferBuilder::new(obj.map("samples").unwrap())
        .pages(1)
        .build()
        .unwrap();
    let cpus = perf.cpus().count();
    let during = bpf_and_perf_fds();
    let events = |fds: &[String]| fds.iter().filter(|f| f.contains("perf_event")).count();
    assert_eq!(events(&during), events(&before) + cpus);
    emit(&obj, 5);
    assert_eq!(global_u64(&spec, &obj, "failed"), 0);
    drop(perf);
    assert_eq!(bpf_and_perf_fds(), before);
    // With its slots empty, the program's sends fail instead of filling closed rings.
    emit(&obj, 5);
    assert_eq!(global_u64(&spec, &obj, "failed"), 5);
}

#[test]
fn bad_builds_are_typed_errors() {
    let (_spec, obj) = load();
    let samples = obj.map("samples").unwrap();
    for pages in [0, 3, 1 << 21] {
        let e = PerfBufferBuilder::new(samples)
            .pages(pages)
            .build()
            .expect_err("a bad page count was accepted");
        assert!(
            matches!(e, PerfBufferError::BadPageCount { pages: p, .. } if p == pages),
            "{e}"
        );
    }
    let hello = Loader::new().load_file(prog("hello.bpf.o")).unwrap();
    let e = PerfBufferBuilder::new(hello.map("events").unwrap())
        .build()
        .expect_err("a ring buffer map was accepted");
    assert_eq!(
        e.to_string(),
        "map 'events' is a ringbuf map, not perf_event_array"
    );
}
