//! `corebpf trace-pipe`: a program bpf_printk's on each getppid(2) this test makes; the
//! command's lines (text and --json) are checked, and it must end with status 0 on
//! SIGINT and when its stdout's reader goes away.
//!
//! trace_pipe is consumed by whoever reads it, so another reader (another test, a
//! person) may take some lines: the tests keep making getppid calls until a line of
//! theirs arrives.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use common::*;
use corebpf::{Loader, ObjectSpec};

/// The tests share the program's lines (and the pid in them): one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The program, attached, or None (with the reason printed) when the kernel lacks the
/// tracepoint.
fn attach_printk() -> Option<(corebpf::Object, Vec<corebpf::link::Link>)> {
    setup();
    if let Err(e) = corebpf::program::tracefs::tracepoint_id("syscalls", "sys_enter_getppid") {
        println!("SKIP: no syscalls/sys_enter_getppid tracepoint: {e}");
        return None;
    }
    let spec = ObjectSpec::from_file(&prog("printk.bpf.o")).unwrap();
    let obj = Loader::new().load(&spec).expect("loading printk.bpf.o");
    let links = obj.attach_all().expect("attaching printk.bpf.o");
    Some((obj, links))
}

/// A thread calling getppid(2) until dropped; its thread id and name are what the
/// trace lines carry.
struct Driver {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    tid: u32,
    comm: String,
}

impl Driver {
    fn start() -> Driver {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("printk-driver".into())
            .spawn(move || {
                let tid = std::fs::read_link("/proc/thread-self")
                    .ok()
                    .and_then(|p| p.file_name()?.to_str()?.parse::<u32>().ok())
                    .expect("reading /proc/thread-self");
                tx.send(tid).unwrap();
                while !flag.load(Ordering::Relaxed) {
                    std::hint::black_box(std::os::unix::process::parent_id());
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            })
            .unwrap();
        let tid = rx.recv().unwrap();
        let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).unwrap();
        Driver {
            stop,
            thread: Some(thread),
            tid,
            comm: comm.trim_end().to_string(),
        }
    }

    /// The message our program writes for this thread, up to the line number.
    fn message(&self) -> String {
        format!("corebpf printk: getppid by {}, line ", std::process::id())
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn spawn(args: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let mut child = corebpf()
        .arg("trace-pipe")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

/// Reads lines until one contains both needles (older lines of an earlier test's driver
/// may still be queued: the thread is what tells them apart); panics when the command's
/// stdout ends.
fn line_with(out: &mut BufReader<ChildStdout>, needle: &str, thread: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).unwrap();
        assert!(
            n > 0,
            "trace-pipe's output ended before a line with `{needle}`"
        );
        if line.contains(needle) && line.contains(thread) {
            return line.trim_end().to_string();
        }
    }
}

/// Waits for the command; asserts it exited with 0 and returns its stderr.
fn exited_cleanly(mut child: Child) -> String {
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "trace-pipe exited with {status}: {stderr}"
    );
    stderr
}

#[test]
fn text_lines_as_the_kernel_writes_them_until_sigint() {
    let _serial = serial();
    let Some(_attached) = attach_printk() else {
        return;
    };
    let (child, mut out) = spawn(&[]);
    let driver = Driver::start();
    let task = format!("{}-{} ", driver.comm, driver.tid);
    let line = line_with(&mut out, &driver.message(), &task);
    // `TASK-TID [CPU] FLAGS TIMESTAMP: bpf_trace_printk: MESSAGE`
    let (head, message) = line.split_once(": bpf_trace_printk: ").unwrap();
    assert!(message.starts_with(&driver.message()), "{line}");
    let counter = &message[driver.message().len()..];
    assert!(counter.parse::<u64>().is_ok(), "{line}");
    assert!(head.trim_start().starts_with(&task), "`{task}` in {line}");
    assert!(head.contains(" ["), "{line}");
    drop(driver);

    // Ctrl-C, through kill(1); then read what is left so no write can block it.
    let pid = child.id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(kill.success());
    let mut rest = Vec::new();
    out.read_to_end(&mut rest).unwrap();
    let stderr = exited_cleanly(child);
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn json_lines_and_a_closed_pipe_ends_it() {
    let _serial = serial();
    let Some(_attached) = attach_printk() else {
        return;
    };
    let (child, mut out) = spawn(&["--json"]);
    let driver = Driver::start();
    let pid = format!("\"pid\":{},", driver.tid);
    let line = line_with(&mut out, &driver.message(), &pid);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["task"], driver.comm.as_str(), "{line}");
    assert_eq!(v["pid"], driver.tid, "{line}");
    assert!(v["cpu"].is_u64(), "{line}");
    assert!(v["flags"].is_string(), "{line}");
    let stamp: f64 = v["timestamp"].as_str().unwrap().parse().unwrap();
    assert!(stamp > 0.0, "{line}");
    assert_eq!(v["event"], "bpf_trace_printk", "{line}");
    let message = v["message"].as_str().unwrap();
    assert!(message.starts_with(&driver.message()), "{line}");
    assert!(message[driver.message().len()..].parse::<u64>().is_ok());
    // The reader goes away while lines keep coming (`corebpf trace-pipe | head -1`).
    drop(out);
    let stderr = exited_cleanly(child);
    assert!(stderr.is_empty(), "{stderr}");
    drop(driver);
}

#[test]
fn mounts_tracefs_when_it_is_missing() {
    // In a mount namespace of its own, where tracefs is unmounted, so the host's stays.
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        println!("SKIP: unshare(1) cannot make a mount namespace here");
        return;
    }
    let _serial = serial();
    let Some(_attached) = attach_printk() else {
        return;
    };
    let script = "for m in $(awk '$3 == \"tracefs\" || $3 == \"debugfs\" { print $2 }' \
                  /proc/mounts | sort -r); do umount -l \"$m\" || exit 1; done; \
                  exec \"$0\" trace-pipe";
    let mut child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .arg(env!("CARGO_BIN_EXE_corebpf"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let driver = Driver::start();
    let task = format!("{}-{} ", driver.comm, driver.tid);
    line_with(&mut out, &driver.message(), &task);
    drop(out);
    let stderr = exited_cleanly(child);
    assert!(
        stderr.contains("mounted tracefs at /sys/kernel/tracing"),
        "{stderr}"
    );
    assert!(
        corebpf::fs::is_tracefs("/sys/kernel/tracing"),
        "the host's tracefs stays mounted"
    );
}
