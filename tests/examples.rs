//! Runs the programs in `examples/` and checks what they print, so the examples a
//! newcomer copies keep working.
//!
//! The examples are cargo examples of this package: `cargo test --all-targets` builds
//! them next to this test binary (`target/<profile>/examples/NAME`). Run alone
//! (`cargo test --test examples`), build them first with `cargo build --examples`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::feature::{self, Feature, Probe};
use common::*;

/// The built example `name`, next to this test binary (`deps/..` is the profile's dir).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary is in target/<profile>/deps");
    let path = profile.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build the examples (`cargo test --all-targets` or \
         `cargo build --examples`)",
        path.display()
    );
    path
}

/// Runs example `name` with `args` to its end; its stdout, after checking it succeeded.
fn run(name: &str, args: &[&str]) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(example(name))
        .args(args)
        .output()
        .expect("running the example");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr),
    );
    assert!(
        status.success(),
        "example {name} failed ({status}):\n{stdout}\n{stderr}"
    );
    stdout
}

/// `N` from the line `"{prefix}N{suffix}"` of `out`.
fn number_in(out: &str, prefix: &str, suffix: &str) -> Option<u64> {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok())
}

#[test]
fn hello_prints_each_exec_decoded() {
    setup();
    // The example listens for a fixed time: long enough for three execs even in an
    // emulated guest on a busy machine (2 s was not, under QEMU's TCG).
    let mut child = Command::new(example("hello"))
        .arg("8")
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the hello example");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Attached once it says it listens; then our execs are reported.
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.starts_with("listening for"));
    assert!(listening, "the example never started listening");
    let pids: Vec<u32> = (0..3).map(|_| exec_true(None)).collect();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success());
    let out = rest.join("\n");
    for pid in &pids {
        let line = format!("pid {pid:<7} uid 0 ");
        assert!(
            out.lines()
                .any(|l| l.starts_with(&line) && l.ends_with(" /bin/true")),
            "no line for pid {pid} in:\n{out}"
        );
    }
    let n = number_in(&out, "", " execs").expect("a final count");
    let printed = out.lines().filter(|l| l.starts_with("pid ")).count() as u64;
    assert_eq!(n, printed, "the count is the number of records printed");
}

#[test]
fn map_read_counts_its_own_execs() {
    setup();
    let out = run("map_read", &[]);
    let n = number_in(&out, "uid 0: ", " execs").expect("a count for uid 0");
    assert!(n >= 3, "uid 0 counted {n} execs, the example ran 3:\n{out}");
}

#[test]
fn globals_filter_to_the_target_process() {
    setup();
    let out = run("globals", &[]);
    let target = number_in(&out, "target pid ", "").expect("the target pid");
    let other = number_in(&out, "other pid ", "").expect("the other pid");
    let reported: Vec<u64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("reported pid ")?.parse().ok())
        .collect();
    assert!(reported.contains(&target), "target not reported:\n{out}");
    assert!(
        reported.iter().all(|&p| p == target),
        "pids other than {target} reported (other exec: {other}):\n{out}"
    );
}

#[test]
fn pinning_reads_the_map_back_from_its_path_and_unpins() {
    setup();
    let out = run("pinning", &[]);
    let n = number_in(&out, "from the pin: uid 0: ", " execs").expect("a count for uid 0");
    assert!(n >= 3, "uid 0 counted {n} execs, the example ran 3:\n{out}");
    let path = out
        .lines()
        .find_map(|l| l.strip_prefix("pinned counts at "))
        .expect("the pin path");
    assert!(
        !std::path::Path::new(path).exists(),
        "{path} left behind after the example"
    );
}

#[test]
fn probe_choice_takes_the_branch_the_kernel_supports() {
    setup();
    let out = run("probe_choice", &[]);
    // The tests' own probe (sysfs and tracefs, not the library) says which it must be.
    let chosen = match feature::probe(Feature::Kprobes) {
        Probe::Supported => {
            assert!(out.contains("kprobes are available"), "{out}");
            "unlink_kprobe"
        }
        _ => {
            assert!(
                out.lines()
                    .any(|l| l.starts_with("no kprobes (") && l.contains("kprobe")),
                "no reason given for taking the tracepoint:\n{out}"
            );
            "unlink_tracepoint"
        }
    };
    let prefix = format!("{chosen} saw ");
    assert_eq!(
        number_in(&out, &prefix, " unlinkat calls"),
        Some(3),
        "{out}"
    );
}
