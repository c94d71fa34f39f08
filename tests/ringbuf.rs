//! The ring buffer consumer's loop and threads, driven by real execs through
//! bpf-progs/hello.bpf.o: `poll_until` keeps polling across wake-ups and returns early
//! when a callback asks to stop, and a `RingBuffer` consumes on another thread.
//! Records submitted with `BPF_RB_NO_WAKEUP` (bpf-progs/ringbuf_bench.bpf.c) wake no
//! wait and are read by the pass at a `poll_until` deadline.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use corebpf::{Loader, Pod, RingBufferBuilder};

// `HelloEvent` (tests/common) is hello.bpf.c's `struct event`, decoded through
// `#[derive(Pod)]`.

/// Waits (bounded) until `rx` has delivered `pid`; false if it never does.
fn wait_for(rx: &mpsc::Receiver<u32>, pid: u32) -> bool {
    for _ in 0..50 {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(p) if p == pid => return true,
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return false,
        }
    }
    false
}

#[test]
fn poll_until_on_another_thread_spans_wakeups_and_stops_when_asked() {
    setup();
    let obj = Loader::new()
        .load_file(prog("hello.bpf.o"))
        .expect("loading hello");
    let _links = obj.attach_all().expect("attaching hello");

    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let calls_after_stop = Arc::new(AtomicUsize::new(0));
    let main_thread = thread::current().id();
    let on_main_thread = Arc::new(AtomicBool::new(false));
    let mut ring = {
        let (stop, calls, after, on_main) = (
            stop.clone(),
            calls.clone(),
            calls_after_stop.clone(),
            on_main_thread.clone(),
        );
        let mut stopped = false;
        RingBufferBuilder::new()
            .add(obj.map("events").unwrap(), move |record| {
                if stopped {
                    after.fetch_add(1, Ordering::SeqCst);
                }
                calls.fetch_add(1, Ordering::SeqCst);
                if thread::current().id() == main_thread {
                    on_main.store(true, Ordering::SeqCst);
                }
                let event = HelloEvent::from_bytes(record).expect("hello's records are 280 bytes");
                let _ = tx.send(event.pid);
                stopped = stop.load(Ordering::SeqCst);
                i32::from(stopped)
            })
            .build()
            .unwrap()
    };

    // A bound so that a broken stop fails the test instead of hanging it; nothing is
    // asserted about time.
    let bound = Instant::now() + Duration::from_secs(120);
    let (consumed, ours) = thread::scope(|s| {
        let consumer = s.spawn(move || ring.poll_until(bound));
        // Each exec happens only after the previous one's record was consumed, so the
        // one `poll_until` call must wait for data again, three times.
        let mut ours = Vec::new();
        for _ in 0..3 {
            let pid = exec_true(None);
            assert!(wait_for(&rx, pid), "no record for pid {pid}");
            ours.push(pid);
        }
        stop.store(true, Ordering::SeqCst);
        // One more record, so that a callback sees the flag and asks to stop.
        exec_true(None);
        (consumer.join().expect("consumer thread"), ours)
    });
    let consumed = consumed.expect("poll_until");

    assert!(Instant::now() < bound, "poll_until ran to its deadline");
    assert_eq!(consumed, calls.load(Ordering::SeqCst), "count returned");
    assert!(consumed > ours.len(), "consumed {consumed} records");
    assert_eq!(
        calls_after_stop.load(Ordering::SeqCst),
        0,
        "a record after stop"
    );
    assert!(
        !on_main_thread.load(Ordering::SeqCst),
        "consumed on the main thread"
    );
}

#[test]
fn poll_for_zero_consumes_what_is_committed_without_waiting() {
    setup();
    let obj = Loader::new()
        .load_file(prog("hello.bpf.o"))
        .expect("loading hello");
    let _links = obj.attach_all().expect("attaching hello");
    let mut pids = Vec::new();
    let mut ring = RingBufferBuilder::new()
        .add(obj.map("events").unwrap(), |record| {
            pids.push(HelloEvent::from_bytes(record).expect("280-byte record").pid);
            0
        })
        .build()
        .unwrap();
    // The BPF program runs inside the child's execve, so its record is committed by the
    // time the child has been waited for.
    let pid = exec_true(None);
    let n = ring.poll_for(Duration::ZERO).expect("poll_for");
    drop(ring);
    assert_eq!(n, pids.len());
    assert!(pids.contains(&pid), "pid {pid} not among {pids:?}");
}

/// bpf-progs/ringbuf_drops.bpf.c's record: pid, sequence number, comm.
fn drops_seq(record: &[u8]) -> u32 {
    assert_eq!(record.len(), 24, "record size");
    u32::from_ne_bytes(record[4..8].try_into().unwrap())
}

#[test]
fn batches_borrow_records_and_commit_only_what_was_read() {
    setup();
    let obj = Loader::new()
        .load_file(prog("ringbuf_drops.bpf.o"))
        .expect("loading ringbuf_drops");
    let _links = obj.attach_all().expect("attaching ringbuf_drops");
    let mut ring = RingBufferBuilder::new()
        .add_batched(obj.map("events").unwrap())
        .build()
        .unwrap();
    // The callback methods leave a batch-only ring's records.
    burst(200);
    assert_eq!(ring.consume().unwrap(), 0);

    // A batch read halfway commits only what it yielded: the rest comes next time.
    let mut seqs = Vec::new();
    let n = ring
        .consume_batch(|index, batch| {
            assert_eq!(index, 0);
            seqs.extend(batch.take(50).map(drops_seq));
            assert_eq!(batch.yielded(), 50);
        })
        .unwrap();
    assert_eq!(n, 50);
    let n = ring
        .consume_batch(|_, batch| seqs.extend(batch.map(drops_seq)))
        .unwrap();
    assert_eq!(n, 150);
    assert_eq!(seqs, (0..200).collect::<Vec<u32>>());

    // 20,000 more, 200 at a time (the 8 KiB ring holds 256), read in batches that
    // wait for data: in order, none twice, none dropped.
    for round in 1..=100u32 {
        burst(200);
        let mut got = Vec::new();
        // Bounded so that a broken ring fails the test instead of hanging it.
        for _ in 0..50 {
            if got.len() >= 200 {
                break;
            }
            ring.poll_batch(Some(Duration::from_secs(5)), |_, batch| {
                got.extend(batch.map(drops_seq))
            })
            .unwrap();
        }
        assert_eq!(got, (round * 200..(round + 1) * 200).collect::<Vec<u32>>());
    }
    let dropped = obj
        .map("dropped")
        .unwrap()
        .lookup(&0u32.to_ne_bytes(), corebpf::MapFlags::ANY)
        .unwrap()
        .unwrap();
    assert!(dropped.iter().all(|&b| b == 0), "events were dropped");
}

/// Runs bpf-progs/ringbuf_bench.bpf.c's `produce`: `count` 16-byte records, sequence
/// numbers from `base`, submitted with `BPF_RB_NO_WAKEUP` (no epoll wake-up).
fn produce_quietly(obj: &corebpf::Object, count: u32, base: u32) {
    let mut ctx = [0u8; 8];
    ctx[..4].copy_from_slice(&count.to_ne_bytes());
    ctx[4..].copy_from_slice(&base.to_ne_bytes());
    let prog = obj.program("produce").unwrap();
    assert_eq!(prog.test_run_with_context(&ctx, 0).unwrap(), count);
}

#[test]
fn records_submitted_without_wakeup_are_read_at_the_deadline() {
    const TEST: &str = "records_submitted_without_wakeup_are_read_at_the_deadline";
    if feature::require(TEST, feature::Feature::SyscallProgram).is_none() {
        return;
    }
    if !kernel_at_least((5, 17)) {
        feature::skip(TEST, "the kernel predates bpf_loop (5.17)");
        return;
    }
    let quiet = Loader::new()
        .load_file(prog("ringbuf_bench.bpf.o"))
        .expect("loading ringbuf_bench");
    let hello = Loader::new()
        .load_file(prog("hello.bpf.o"))
        .expect("loading hello");
    let _links = hello.attach_all().expect("attaching hello");
    let (seqs, pids) = (Mutex::new(Vec::new()), Mutex::new(Vec::new()));
    let mut ring = RingBufferBuilder::new()
        .add(hello.map("events").unwrap(), |record| {
            let pid = HelloEvent::from_bytes(record).expect("280-byte record").pid;
            pids.lock().unwrap().push(pid);
            0
        })
        .add(quiet.map("rb").unwrap(), |record| {
            assert_eq!(record.len(), 16, "record size");
            let seq = u64::from_ne_bytes(record[..8].try_into().unwrap());
            seqs.lock().unwrap().push(seq);
            0
        })
        .build()
        .unwrap();

    // Nothing wakes a wait for the quiet ring: `poll` reads it only if woken by it, as
    // libbpf's does (execs elsewhere may wake the other ring meanwhile).
    produce_quietly(&quiet, 1000, 0);
    ring.poll(Some(Duration::from_millis(20))).unwrap();
    assert!(seqs.lock().unwrap().is_empty(), "read without a wake-up");

    // A wake-up on the other ring makes a pass over that ring only; the quiet ring's
    // records are read by the pass at the deadline, none lost, none twice.
    produce_quietly(&quiet, 1000, 1000);
    let pid = exec_true(None);
    let n = ring.poll_for(Duration::from_millis(200)).unwrap();
    assert!(n >= 2001, "{n} records");
    drop(ring);
    assert_eq!(*seqs.lock().unwrap(), (0..2000).collect::<Vec<u64>>());
    let pids = pids.lock().unwrap();
    assert!(pids.contains(&pid), "pid {pid} not among {pids:?}");
}
