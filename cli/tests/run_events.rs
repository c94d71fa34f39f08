//! `corebpf run` with a slow consumer: every event made is either printed or counted as
//! lost or dropped in the summary line, for a ring buffer with a drop counter
//! (bpf-progs/ringbuf_drops.bpf.o) and for a perf buffer (bpf-progs/perf_events.bpf.o).
//! The events are getpgid(2) calls from a thread named `cbpf-burst`; the run's stdout is
//! a pipe nobody reads during the burst, so the run blocks on it and falls behind.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// The tests here make `cbpf-burst` events, which every loaded example program sees:
/// one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The events of one burst.
const BURST: u32 = 5000;

/// A `corebpf run` whose stdout is read only when asked and whose stderr is collected.
struct Run {
    child: Child,
    stdout: Option<ChildStdout>,
    stderr: Receiver<String>,
    err_lines: Vec<String>,
}

/// Forwards the lines of `from` to a channel, on a thread.
fn lines_of(from: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Run {
    fn start(object: &str, args: &[&str]) -> Run {
        setup();
        let mut child = corebpf()
            .arg("run")
            .arg(prog(object))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = lines_of(child.stderr.take().unwrap());
        let mut run = Run {
            stdout: child.stdout.take(),
            child,
            stderr,
            err_lines: Vec::new(),
        };
        run.wait_stderr(|l| l.contains("corebpf: attached"));
        run
    }

    /// Waits (bounded) for a stderr line that `want` accepts.
    fn wait_stderr(&mut self, want: impl Fn(&str) -> bool) {
        let bound = Instant::now() + Duration::from_secs(120);
        while Instant::now() < bound {
            match self.stderr.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let found = want(&line);
                    self.err_lines.push(line);
                    if found {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("corebpf run's stderr: {:?}", self.err_lines);
    }

    /// Starts reading stdout: the run can print again.
    fn read_stdout(&mut self) -> Receiver<String> {
        lines_of(self.stdout.take().expect("stdout already read"))
    }

    /// Interrupts the run; its stderr, after checking it exited 0.
    fn stop(mut self) -> Vec<String> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        let status = self.child.wait().unwrap();
        self.err_lines.extend(self.stderr.iter());
        assert!(status.success(), "{:?}", self.err_lines);
        self.err_lines
    }
}

/// The numbers of the summary line `corebpf: records N, lost M[, dropped D]`.
fn summary(stderr: &[String]) -> (u64, u64, Option<u64>) {
    let line = stderr
        .iter()
        .find_map(|l| l.strip_prefix("corebpf: records "))
        .unwrap_or_else(|| panic!("no summary line in {stderr:?}"));
    let mut numbers = line
        .split(", ")
        .map(|part| part.rsplit(' ').next().unwrap().parse::<u64>().unwrap());
    let records = numbers.next().unwrap();
    let lost = numbers.next().expect("lost M");
    (records, lost, numbers.next())
}

#[test]
fn a_slow_consumer_of_a_ring_buffer_reports_what_was_dropped() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut run = Run::start("ringbuf_drops.bpf.o", &[]);
    // 5,000 events of ~35 printed bytes: more than the pipe (64 KiB) and the ring (256
    // records) hold while nobody reads, so the program's reservations fail.
    burst(BURST);
    let stdout = run.read_stdout();
    let stderr = run.stop();
    let lines: Vec<String> = stdout.iter().collect();
    let (records, lost, dropped) = summary(&stderr);
    println!("summary: {stderr:?}");
    let dropped = dropped.expect("the object counts its drops: `, dropped D`");
    assert_eq!(records, lines.len() as u64, "records counted vs printed");
    assert_eq!(lost, 0, "a ring buffer reports no lost samples");
    assert!(dropped > 0, "{stderr:?}");
    assert_eq!(records + dropped, u64::from(BURST), "{stderr:?}");
    // In order (one producer thread), decoded through the object's `struct event`.
    for (i, line) in lines.iter().enumerate().skip(1) {
        let seq = |l: &str| {
            l.split("seq=")
                .nth(1)
                .and_then(|s| s.split(' ').next()?.parse::<u32>().ok())
        };
        assert!(
            seq(line) > seq(&lines[i - 1]),
            "{} then {line}",
            lines[i - 1]
        );
        assert!(line.contains(r#"comm="cbpf-burst""#), "{line}");
    }
}

#[test]
fn a_slow_consumer_of_a_perf_buffer_is_told_what_was_lost() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // One page per CPU: 102 samples of 40 bytes.
    let mut run = Run::start("perf_events.bpf.o", &["--perf-pages", "1"]);
    // All on one CPU, so that one ring has every sample and every loss.
    let cpu = Some(nix::sched::sched_getcpu().unwrap());
    burst_on(cpu, BURST);
    let stdout = run.read_stdout();
    let mut lines = Vec::new();
    // The kernel reports a loss ahead of the next sample that fits: once the run has
    // caught up, send one event at a time until one arrives (each that finds the ring
    // still full is lost too, and reported with it).
    let mut made = BURST;
    let is_last = |made: u32| move |l: &str| l.contains(&format!("seq={} ", made - 1));
    loop {
        burst_on(cpu, 1);
        made += 1;
        match lines_until_quiet(&stdout, &mut lines, is_last(made)) {
            true => break,
            false => assert!(
                made < BURST + 1000,
                "no sample ever arrived after the burst"
            ),
        }
    }
    let stderr = run.stop();
    lines.extend(stdout.iter());
    let (records, lost, dropped) = summary(&stderr);
    println!("summary: {stderr:?}");
    assert_eq!(dropped, None, "perf_events.bpf.o has no drop counter");
    assert_eq!(records, lines.len() as u64, "records counted vs printed");
    assert!(lost > 0, "{stderr:?}");
    assert_eq!(records + lost, u64::from(made), "{stderr:?}");
    // Decoded through the struct passed to bpf_perf_event_output (24 bytes: `event`).
    assert!(
        lines.iter().all(|l| l.contains(r#"comm="cbpf-burst""#)),
        "{:?}",
        &lines[..3]
    );
}

/// Collects lines from `rx` until one for which `last` is true (true), or until none
/// came for a second (false): the run has printed all it had.
fn lines_until_quiet(
    rx: &Receiver<String>,
    lines: &mut Vec<String>,
    last: impl Fn(&str) -> bool,
) -> bool {
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) {
        let done = last(&line);
        lines.push(line);
        if done {
            return true;
        }
    }
    false
}
