//! `corebpf run` and `load` with `--only`, `--disable`, `--set`, `--map-size` and the
//! target flags, on the running kernel: events made by execs prove what was loaded,
//! attached and configured.

mod common;

use std::process::{Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use common::*;

const FLAGS: &str = "run_flags.bpf.o";
const TARGETS: &str = "run_targets.bpf.o";

/// A `corebpf run` in the background whose stderr is watched for "attached".
struct Running {
    child: std::process::Child,
    stderr: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(object: &str, args: &[&str]) -> Running {
        let mut child = corebpf()
            .arg("run")
            .arg(prog(object))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, stderr) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            stderr,
            seen: Vec::new(),
        }
    }

    /// Waits until `n` programs are attached (bounded: a broken run fails, not hangs).
    fn wait_attached(&mut self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut attached = 0;
        while Instant::now() < deadline {
            match self.stderr.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    attached += usize::from(line.contains("corebpf: attached"));
                    self.seen.push(line);
                    if attached == n {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!(
            "corebpf run did not attach {n} programs; stderr: {:?}",
            self.seen
        );
    }

    /// Lets the poll loop (100 ms) print, interrupts the run, returns stdout and stderr.
    fn stop(mut self) -> (String, String) {
        std::thread::sleep(Duration::from_millis(300));
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let out = self.child.wait_with_output().unwrap();
        self.seen.extend(self.stderr.try_iter());
        let err = self.seen.join("\n");
        assert!(out.status.success(), "{err}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), err)
    }
}

/// The event lines of exec `pid`.
fn lines_of(text: &str, pid: u32) -> Vec<&str> {
    let prefix = format!("pid={pid} ");
    text.lines().filter(|l| l.starts_with(&prefix)).collect()
}

/// Runs `args`, execs three times, returns the variants each exec's events came from.
fn variants_per_exec(args: &[&str], programs: usize) -> Vec<Vec<u32>> {
    let mut run = Running::start(FLAGS, args);
    run.wait_attached(programs);
    let pids: Vec<u32> = (0..3).map(|_| exec_true(None)).collect();
    let (text, _) = run.stop();
    pids.iter()
        .map(|&p| {
            let mut v: Vec<u32> = lines_of(&text, p)
                .iter()
                .map(|l| {
                    l.split_whitespace()
                        .find_map(|w| w.strip_prefix("variant="))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or_else(|| panic!("no variant in {l}"))
                })
                .collect();
            v.sort_unstable();
            v
        })
        .collect()
}

#[test]
fn only_and_disable_choose_the_variant_that_records() {
    setup();
    // Both variants: every exec is counted twice, once by each.
    assert_eq!(variants_per_exec(&[], 2), vec![vec![1, 2]; 3]);
    assert_eq!(
        variants_per_exec(&["--only", "exec_tp"], 1),
        vec![vec![1]; 3]
    );
    assert_eq!(
        variants_per_exec(&["--disable", "exec_tp"], 1),
        vec![vec![2]; 3]
    );
}

#[test]
fn set_changes_what_the_program_records() {
    setup();
    let mut run = Running::start(FLAGS, &["--only", "exec_tp"]);
    run.wait_attached(1);
    let pid = exec_true(None);
    let (text, _) = run.stop();
    let defaults = lines_of(&text, pid);
    assert_eq!(defaults.len(), 1, "{text}");
    for want in [
        "cookie=0 ",
        "mode=MODE_OFF ",
        "flag=false ",
        "small=0 ",
        r#"label="none""#,
        "scale=1",
    ] {
        assert!(defaults[0].contains(want), "{want} not in {}", defaults[0]);
    }

    let mut run = Running::start(
        FLAGS,
        &[
            "--only=exec_tp",
            "--set",
            "cookie=-5000000000",
            "--set=mode=MODE_LOUD",
            "--set",
            "flag=true",
            "--set",
            "small=0xff",
            "--set",
            "label=a=b c",
            "--set",
            "scale=3",
        ],
    );
    run.wait_attached(1);
    let pid = exec_true(None);
    let (text, _) = run.stop();
    let set = lines_of(&text, pid);
    assert_eq!(set.len(), 1, "{text}");
    for want in [
        "cookie=-5000000000 ",
        "mode=MODE_LOUD ",
        "flag=true ",
        "small=255 ",
        r#"label="a=b c""#,
        "scale=3",
    ] {
        assert!(set[0].contains(want), "{want} not in {}", set[0]);
    }
}

fn load(object: &str, args: &[&str]) -> Output {
    corebpf()
        .arg("load")
        .arg(prog(object))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The error of a command that must fail, with the exit status checked.
fn failure(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn map_size_shows_in_the_kernel_map_info() {
    setup();
    let max = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("map seen "))
            .and_then(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("max_entries="))
            })
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no map seen in {text}"))
    };
    assert_eq!(max(&stdout(&load(FLAGS, &[]))), "64");
    assert_eq!(
        max(&stdout(&load(FLAGS, &["--map-size", "seen=4096"]))),
        "4096"
    );
}

#[test]
fn load_loads_only_the_programs_chosen() {
    setup();
    let progs = |args: &[&str]| -> Vec<String> {
        stdout(&load(FLAGS, args))
            .lines()
            .filter_map(|l| l.strip_prefix("prog "))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    assert_eq!(progs(&[]), ["exec_tp", "exec_raw"]);
    assert_eq!(progs(&["--only", "exec_raw"]), ["exec_raw"]);
    assert_eq!(progs(&["--disable", "exec_raw"]), ["exec_tp"]);
    assert!(progs(&["--disable", "exec_raw", "--disable", "exec_tp"]).is_empty());
}

#[test]
fn unknown_names_are_errors_listing_what_there_is() {
    setup();
    for flag in ["--only", "--disable"] {
        let err = failure(&load(FLAGS, &[flag, "exec_nope"]));
        assert!(
            err.contains("no program 'exec_nope' in run_flags (its programs: exec_tp, exec_raw)"),
            "{err}"
        );
    }
    let err = failure(&load(FLAGS, &["--map-size", "nope=8"]));
    assert!(
        err.contains("no map 'nope' in run_flags (its maps: events, seen, .rodata, .data)"),
        "{err}"
    );
    let err = failure(&load(FLAGS, &["--map-size", ".rodata=8"]));
    assert!(
        err.contains("map '.rodata' holds global variables"),
        "{err}"
    );
    let err = failure(&load(FLAGS, &["--set", "nope=1"]));
    assert!(
        err.contains("no global variable 'nope' (the object's globals: cookie, flag, mode, small, label, scale)"),
        "{err}"
    );
}

#[test]
fn bad_values_name_the_global_and_its_type() {
    setup();
    for (set, want) in [
        ("small=256", "cannot set global 'small' of type __u8: 256 is out of range (the type holds 0..=255)"),
        ("small=-1", "global 'small' of type __u8: -1 is out of range"),
        ("cookie=ten", "global 'cookie' of type __s64: 'ten' is not a number"),
        ("flag=yes", "global 'flag' of type _Bool: 'yes' is not true, false, 1 or 0"),
        ("mode=MODE_QUIET", "global 'mode' of type enum mode: 'MODE_QUIET' is not an enumerator (the enum has MODE_OFF, MODE_ON, MODE_LOUD)"),
        ("label=twelve bytes", "global 'label' of type const volatile char[12]: the string is 12 bytes long; at most 11 fit"),
    ] {
        let err = failure(&load(FLAGS, &["--set", set]));
        assert!(err.contains(want), "--set {set}: {err}");
        assert!(err.contains(&format!("--set {set}: ")), "{err}");
    }
}

#[test]
fn a_missing_target_is_an_error_naming_the_flag() {
    setup();
    for (program, flag) in [
        ("xdp_count", "--iface IFACE"),
        ("tc_count", "--iface IFACE"),
        ("cg_egress", "--cgroup PATH"),
        ("up_getpgid", "--binary PATH"),
    ] {
        let out = corebpf()
            .arg("run")
            .arg(prog(TARGETS))
            .args(["--only", program, "--duration", "0"])
            .output()
            .unwrap();
        let err = failure(&out);
        assert!(
            err.contains(&format!("program '{program}'")) && err.contains(&format!("give {flag}")),
            "{program}: {err}"
        );
    }
    // Every program needs one: without flags, the first one's is named.
    let out = corebpf().arg("run").arg(prog(TARGETS)).output().unwrap();
    assert!(failure(&out).contains("give --iface IFACE"));
}
