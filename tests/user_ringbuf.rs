//! The user ring buffer, drained by bpf-progs/user_ringbuf.bpf.o: its syscall program
//! `drain`, run with BPF_PROG_TEST_RUN, calls bpf_user_ringbuf_drain() and adds up in
//! ".bss" how many 16-byte requests it saw (`drained`), the sums of their fields
//! (`seq_sum`, `value_sum`) and the records of another size (`bad`).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::feature::{require, Feature};
use common::*;
use corebpf::{Loader, Object, ObjectSpec, UserRingBuffer, UserRingBufferError};

fn load(test: &str) -> Option<(ObjectSpec, Object)> {
    require(test, Feature::UserRingbuf)?;
    let spec = ObjectSpec::from_file(&prog("user_ringbuf.bpf.o")).expect("parsing");
    let obj = Loader::new().load(&spec).expect("loading user_ringbuf");
    Some((spec, obj))
}

/// Runs `drain` once; the number of records it drained.
fn drain(obj: &Object) -> u32 {
    let n = obj
        .program("drain")
        .unwrap()
        .test_run(&[], 0)
        .expect("BPF_PROG_TEST_RUN of drain");
    assert!(n as i32 >= 0, "bpf_user_ringbuf_drain failed: {}", n as i32);
    n
}

/// Request `seq`: its value.
fn value_of(seq: u64) -> u64 {
    seq.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Writes request `seq` into `ring` and submits it; false when the ring is full.
fn push(ring: &mut UserRingBuffer<'_>, seq: u64) -> bool {
    match ring.reserve(16) {
        Ok(mut sample) => {
            sample[..8].copy_from_slice(&seq.to_ne_bytes());
            sample[8..].copy_from_slice(&value_of(seq).to_ne_bytes());
            sample.submit();
            true
        }
        Err(UserRingBufferError::Full { .. }) => false,
        Err(e) => panic!("reserve: {e}"),
    }
}

/// Checks what the BPF side added up for requests `0..n`.
fn check_sums(spec: &ObjectSpec, obj: &Object, n: u64) {
    assert_eq!(global_u64(spec, obj, "drained"), n);
    assert_eq!(global_u64(spec, obj, "bad"), 0);
    assert_eq!(global_u64(spec, obj, "seq_sum"), n * (n - 1) / 2);
    let values = (0..n).fold(0u64, |s, i| s.wrapping_add(value_of(i)));
    assert_eq!(global_u64(spec, obj, "value_sum"), values);
}

#[test]
fn a_hundred_thousand_requests_reach_the_bpf_program() {
    let Some((spec, obj)) = load("a_hundred_thousand_requests_reach_the_bpf_program") else {
        return;
    };
    let mut ring = UserRingBuffer::new(obj.map("requests").unwrap()).unwrap();
    assert_eq!(ring.size(), 64 * 1024);
    const N: u64 = 100_000;
    let (mut seq, mut drained, mut fills) = (0u64, 0u64, 0);
    while seq < N {
        if push(&mut ring, seq) {
            seq += 1;
            continue;
        }
        // Full: 64 KiB hold 2,730 requests of 24 bytes (16 + the 8-byte header).
        fills += 1;
        drained += u64::from(drain(&obj));
    }
    drained += u64::from(drain(&obj));
    assert!(fills >= 36, "the ring filled only {fills} times");
    assert_eq!(drained, N);
    check_sums(&spec, &obj, N);
    assert_eq!(ring.free_space().unwrap(), ring.size());
}

#[test]
fn a_blocked_producer_wakes_when_the_program_drains() {
    let Some((spec, obj)) = load("a_blocked_producer_wakes_when_the_program_drains") else {
        return;
    };
    let mut ring = UserRingBuffer::new(obj.map("requests").unwrap()).unwrap();
    const N: u64 = 20_000;
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        // The drainer: drains whenever there is something, until the producer is done
        // and nothing is left (bounded, so a broken ring fails instead of hanging).
        let drainer = s.spawn(|| {
            let bound = Instant::now() + Duration::from_secs(300);
            let mut total = 0u64;
            while Instant::now() < bound {
                let n = drain(&obj);
                total += u64::from(n);
                if n == 0 {
                    if done.load(Ordering::SeqCst) && total == N {
                        break;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
            }
            total
        });
        for seq in 0..N {
            let mut sample = ring
                .reserve_blocking(16, Duration::from_secs(60))
                .expect("no room within a minute");
            sample[..8].copy_from_slice(&seq.to_ne_bytes());
            sample[8..].copy_from_slice(&value_of(seq).to_ne_bytes());
            sample.submit();
        }
        done.store(true, Ordering::SeqCst);
        assert_eq!(drainer.join().unwrap(), N);
    });
    check_sums(&spec, &obj, N);
}

#[test]
fn discarded_and_dropped_reservations_never_reach_the_program() {
    let Some((spec, obj)) = load("discarded_and_dropped_reservations_never_reach_the_program")
    else {
        return;
    };
    let mut ring = UserRingBuffer::new(obj.map("requests").unwrap()).unwrap();
    let mut sample = ring.reserve(16).unwrap();
    assert_eq!(&sample[..], &[0u8; 16], "a reservation starts zeroed");
    sample.fill(0xff);
    sample.discard();
    {
        let mut sample = ring.reserve(16).unwrap();
        sample.fill(0xee);
        // Dropped without submit: discarded, so the kernel never waits on it.
    }
    assert!(push(&mut ring, 0));
    ring.submit_value(&[1u64, value_of(1)]).unwrap();
    // A record of another size reaches the program, which counts it as bad.
    ring.submit_bytes(&[7; 8]).unwrap();
    assert_eq!(drain(&obj), 3);
    assert_eq!(global_u64(&spec, &obj, "bad"), 1);
    assert_eq!(global_u64(&spec, &obj, "drained"), 2);
    assert_eq!(global_u64(&spec, &obj, "seq_sum"), 1);
}

#[test]
fn impossible_records_and_wrong_maps_are_typed_errors() {
    let Some((_spec, obj)) = load("impossible_records_and_wrong_maps_are_typed_errors") else {
        return;
    };
    let mut ring = UserRingBuffer::new(obj.map("requests").unwrap()).unwrap();
    // With its header, a record of the ring's size can never fit.
    let e = ring
        .reserve(ring.size())
        .expect_err("a ring-sized record fit");
    assert!(matches!(e, UserRingBufferError::TooBig { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "user ring buffer 'requests': a 65536-byte record can never fit in its 65536 bytes"
    );
    // The largest record that fits does.
    ring.reserve(ring.size() - 8).unwrap().submit();
    let e = ring.reserve(8).expect_err("a full ring took a record");
    assert!(matches!(e, UserRingBufferError::Full { .. }), "{e}");
    let e = ring
        .reserve_blocking(8, Duration::ZERO)
        .expect_err("a full ring took a record");
    assert!(matches!(e, UserRingBufferError::Full { .. }), "{e}");

    let hello = Loader::new().load_file(prog("hello.bpf.o")).unwrap();
    let e = UserRingBuffer::new(hello.map("events").unwrap())
        .expect_err("a ring buffer taken for a user ring buffer");
    assert_eq!(
        e.to_string(),
        "map 'events' is a ringbuf map, not user_ringbuf"
    );
}
