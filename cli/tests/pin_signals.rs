//! Issue 16: `load --pin` interrupted by SIGINT is all or nothing. Before the fix, 3 of
//! 28 interrupted runs left partial pin directories.
//!
//! The deterministic tests hold the command at a chosen system call with strace's
//! `inject=…:delay_exit` (the delay is a window for the signal, not a measurement):
//! inside it the test sends SIGINT to the command, then checks what was pinned. The
//! sweep sends SIGINT at moments spread over a whole run, where any outcome must be
//! everything or nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// What `load hello.bpf.o --pin DIR` pins, relative to DIR.
const HELLO_PINS: [&str; 5] = [
    "handle_execve",
    "maps/counts",
    "maps/events",
    "maps/hello_bss",
    "maps/hello_rodata",
];

fn hello() -> String {
    prog("hello.bpf.o").display().to_string()
}

/// A fresh pin directory with its `maps/` already made (so that the first `mkdir` of
/// the command is its staging directory's), removed when dropped.
struct PinDir(PathBuf);

impl PinDir {
    fn new(tag: &str) -> PinDir {
        let dir = pin_path("pin_signals", tag);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("maps")).unwrap();
        PinDir(dir)
    }

    /// Every file under the directory, relative to it, sorted (directories left out).
    fn pins(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut todo = vec![self.0.clone()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let path = e.unwrap().path();
                if path.is_dir() {
                    todo.push(path);
                } else {
                    let rel = path.strip_prefix(&self.0).unwrap();
                    found.push(rel.display().to_string());
                }
            }
        }
        found.sort();
        found
    }

    /// A staging directory the command left behind, if any.
    fn staging(&self) -> Option<PathBuf> {
        std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().contains("staging"))
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn have_strace() -> bool {
    let ok = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("SKIP: strace is not installed");
    }
    ok
}

/// `corebpf load hello.bpf.o --pin DIR` under strace, the `nth` call of `syscall`
/// held for 5 s after it returns.
fn spawn_held(dir: &Path, syscall: &str, nth: u32) -> Child {
    Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("trace={syscall}"))
        .arg("-e")
        .arg(format!("inject={syscall}:delay_exit=5000000:when={nth}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_corebpf"))
        .args(["load", &hello(), "--pin"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The pid of strace's traced child (the command).
fn traced_child(strace: &Child) -> i32 {
    let path = format!("/proc/{0}/task/{0}/children", strace.id());
    std::fs::read_to_string(path)
        .unwrap()
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("strace has started the command")
}

/// Waits (bounded by a minute, a watchdog) until `ready` holds, then sends SIGINT to
/// the command strace runs, and collects its output.
fn interrupt_when(strace: Child, ready: impl Fn() -> bool) -> Output {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the command never reached the held call"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = nix::unistd::Pid::from_raw(traced_child(&strace));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    strace.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// SIGINT while the pins are being staged (the command held just after creating its
/// staging directory): nothing is pinned, the staging directory is gone, and the
/// command says it was interrupted.
#[test]
fn sigint_while_staging_pins_nothing() {
    setup();
    if !have_strace() {
        return;
    }
    let dir = PinDir::new("staging");
    // mkdir 1 is the staging directory's `maps/` (refused: its parent is not there
    // yet), 2 the staging directory, 3 its `maps/`.
    let strace = spawn_held(&dir.0, "mkdir", 2);
    let out = interrupt_when(strace, || dir.staging().is_some());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("interrupted; nothing pinned"),
        "{}",
        stderr(&out)
    );
    assert_eq!(dir.pins(), Vec::<String>::new(), "pins left behind");
    assert_eq!(dir.staging(), None, "staging directory left behind");
}

/// SIGINT after the first pin was moved into place (held after its `rename`): the
/// command finishes the move, so everything is pinned, none of it staged.
#[test]
fn sigint_while_moving_pins_into_place_pins_everything() {
    setup();
    if !have_strace() {
        return;
    }
    let dir = PinDir::new("moving");
    let strace = spawn_held(&dir.0, "rename", 1);
    let out = interrupt_when(strace, || dir.0.join("handle_execve").exists());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(dir.pins(), HELLO_PINS);
    assert_eq!(dir.staging(), None, "staging directory left behind");
}

/// SIGINT at 24 moments spread over a run (from right after the start to past the
/// end): every run pins all of hello or nothing, and leaves no staging directory.
#[test]
fn sigint_at_any_moment_pins_all_or_nothing() {
    setup();
    // One uninterrupted run sets the span.
    let dir = PinDir::new("sweep");
    let start = Instant::now();
    let out = corebpf()
        .args(["load", &hello(), "--pin"])
        .arg(&dir.0)
        .output()
        .unwrap();
    let span = start.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(dir.pins(), HELLO_PINS);
    drop(dir);
    let (mut none, mut all) = (0, 0);
    for i in 0..24u32 {
        let dir = PinDir::new(&format!("sweep{i}"));
        let mut child = corebpf()
            .args(["load", &hello(), "--pin"])
            .arg(&dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(span * i / 20);
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        // The command may have ended already: then the signal finds no process.
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let status = child.wait().unwrap();
        let pins = dir.pins();
        assert_eq!(dir.staging(), None, "run {i}: staging directory left");
        if pins.is_empty() {
            none += 1;
        } else {
            assert_eq!(pins, HELLO_PINS, "run {i} ({status}): a partial pin set");
            all += 1;
        }
    }
    println!("24 interrupted runs: {none} pinned nothing, {all} pinned everything");
}
