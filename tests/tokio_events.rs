//! Ring buffers and perf buffers awaited in a tokio runtime (the `tokio` feature),
//! driven by real events: execs seen by bpf-progs/hello.bpf.o, getpgid(2) calls seen by
//! bpf-progs/perf_events.bpf.o.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use corebpf::tokio::{AsyncPerfBuffer, AsyncRingBuffer};
use corebpf::{Loader, PerfBufferBuilder, RingBufferBuilder};

/// `fut`, or a panic once `bound` has passed: a bound so that a broken wake-up fails
/// the test instead of hanging it (nothing is asserted about time). Without tokio's
/// `time` feature: a thread wakes the task at the bound.
struct Bounded<F> {
    fut: Pin<Box<F>>,
    deadline: Instant,
    waker: Arc<Mutex<Option<Waker>>>,
}

fn bounded<F: Future>(fut: F, bound: Duration) -> Bounded<F> {
    let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
    let w = waker.clone();
    thread::spawn(move || {
        thread::sleep(bound);
        if let Some(w) = w.lock().unwrap().take() {
            w.wake();
        }
    });
    Bounded {
        fut: Box::pin(fut),
        deadline: Instant::now() + bound,
        waker,
    }
}

impl<F: Future> Future for Bounded<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if let Poll::Ready(v) = self.fut.as_mut().poll(cx) {
            return Poll::Ready(v);
        }
        assert!(Instant::now() < self.deadline, "no event within the bound");
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap()
}

#[test]
fn an_awaited_ring_buffer_wakes_for_each_exec() {
    setup();
    let obj = Loader::new().load_file(prog("hello.bpf.o")).unwrap();
    let _links = obj.attach_all().unwrap();
    let pids = Mutex::new(Vec::new());
    runtime().block_on(async {
        let ring = RingBufferBuilder::new()
            .add(obj.map("events").unwrap(), |record| {
                pids.lock()
                    .unwrap()
                    .push(HelloEvent::parse(record).unwrap().pid);
                0
            })
            .build()
            .unwrap();
        let mut ring = AsyncRingBuffer::new(ring).unwrap();
        // Each exec happens while the task is parked in the reactor, so each needs a
        // wake-up of its own.
        for _ in 0..3 {
            let (tx, rx) = std::sync::mpsc::channel();
            let execer = thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                tx.send(exec_true(None)).unwrap();
            });
            let n = bounded(ring.poll(), Duration::from_secs(60)).await.unwrap();
            assert!(n > 0);
            execer.join().unwrap();
            let pid = rx.recv().unwrap();
            // Other execs on the machine may come first: wait for ours.
            while !pids.lock().unwrap().contains(&pid) {
                bounded(ring.poll(), Duration::from_secs(60)).await.unwrap();
            }
        }
    });
    assert!(pids.into_inner().unwrap().len() >= 3);
}

#[test]
fn an_awaited_perf_buffer_delivers_every_sample() {
    setup();
    let obj = Loader::new().load_file(prog("perf_events.bpf.o")).unwrap();
    let _links = obj.attach_all().unwrap();
    const N: u32 = 2000;
    let mut seqs = Vec::new();
    let mut lost = 0;
    runtime().block_on(async {
        let perf = PerfBufferBuilder::new(obj.map("events").unwrap())
            .pages(64)
            .sample(|_, data| seqs.push(u32::from_ne_bytes(data[4..8].try_into().unwrap())))
            .lost(|_, n| lost += n)
            .build()
            .unwrap();
        let mut perf = AsyncPerfBuffer::new(perf).unwrap();
        let producer = thread::spawn(|| burst(N));
        let mut samples = 0;
        while samples < N as usize {
            samples += bounded(perf.poll(), Duration::from_secs(60)).await.unwrap();
        }
        producer.join().unwrap();
        assert_eq!(samples, N as usize);
    });
    // 64 pages per CPU hold all 2,000 samples: none may be lost.
    assert_eq!(lost, 0);
    seqs.sort_unstable();
    assert_eq!(seqs, (0..N).collect::<Vec<_>>());
}
