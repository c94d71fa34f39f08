//! Runs the programs in `examples/` and checks what they print, so the examples a
//! newcomer copies keep working.
//!
//! The examples are cargo examples of this package, built into
//! `target/<profile>/examples/NAME` by `cargo build --examples` (`cargo xtask test` does
//! it first); a plain `cargo test` leaves them under hashed names and this test fails.

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
        "{} is missing: build the examples (`cargo build --examples`; \
         `cargo xtask test` does)",
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

/// Runs an exec-reporting example (`hello`, `skel_hello`) for 8 s, makes three execs
/// of /bin/true once it listens, and returns what it printed after that, having
/// checked that each exec has a line starting with `line(pid)`.
fn execs_reported(name: &str, line: impl Fn(u32) -> String) -> String {
    // The example listens for a fixed time: long enough for three execs even in an
    // emulated guest on a busy machine (2 s was not, under QEMU's TCG).
    let mut child = Command::new(example(name))
        .arg("8")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the {name} example: {e}"));
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
        let start = line(*pid);
        assert!(
            out.lines()
                .any(|l| l.starts_with(&start) && l.ends_with(" /bin/true")),
            "no line for pid {pid} in:\n{out}"
        );
    }
    out
}

#[test]
fn hello_prints_each_exec_decoded() {
    setup();
    let out = execs_reported("hello", |pid| format!("pid {pid:<7} uid 0 "));
    let n = number_in(&out, "", " execs").expect("a final count");
    let printed = out.lines().filter(|l| l.starts_with("pid ")).count() as u64;
    assert_eq!(n, printed, "the count is the number of records printed");
}

#[test]
fn perf_events_prints_every_sample_and_what_was_lost() {
    setup();
    // 1,000 events into 64 pages per CPU: all fit.
    let out = run("perf_events", &["1000"]);
    let printed = out.lines().filter(|l| l.starts_with("cpu ")).count() as u64;
    assert_eq!(
        number_in(&out, "", " samples, 0 lost"),
        Some(printed),
        "{out}"
    );
    assert_eq!(printed, 1000, "{out}");
    // 5,000 into one page per CPU (85 samples): what arrived plus what the kernel
    // reported lost never exceeds what was sent (a loss at the very end is unreported).
    let out = run("perf_events", &["5000", "1"]);
    let printed = out.lines().filter(|l| l.starts_with("cpu ")).count() as u64;
    let (samples, lost) = out
        .lines()
        .last()
        .and_then(|l| l.strip_suffix(" lost")?.split_once(" samples, "))
        .expect("a final count");
    let lost: u64 = lost.parse().unwrap();
    assert_eq!(samples.parse::<u64>().unwrap(), printed, "{out}");
    assert!(printed + lost <= 5000, "{out}");
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

/// xdp_drop, run in the namespace at the receiving end of a veth pair, drops the
/// datagrams sent to its port until it has counted three, then detaches on exit: the
/// next datagram arrives, and none of the dropped ones does.
#[test]
fn xdp_drop_drops_until_its_link_is_dropped() {
    setup();
    let port = 4790;
    let pair = netns::Pair::new("exd", port);
    let exe = example("xdp_drop");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &pair.b.name])
        .arg(&exe)
        .args(["vb", &port.to_string(), "3"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the xdp_drop example");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let attached = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with("dropping UDP to port"));
    let attached = attached.expect("the example never attached");
    assert!(attached.contains("vb"), "{attached}");
    for i in 0..3 {
        pair.send(&format!("drop {i}"));
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    assert_eq!(
        rest.first().map(String::as_str),
        Some("dropped 3 datagrams"),
        "{rest:?}"
    );
    // Its link went with the process: the first datagram to arrive is one sent now.
    pair.rx
        .set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    let arrived = (0..50).find_map(|_| {
        pair.send("after");
        pair.next()
    });
    assert_eq!(arrived.as_deref(), Some("after"), "traffic after the exit");
}

#[test]
fn skel_hello_prints_execs_through_the_generated_struct() {
    setup();
    let out = execs_reported("skel_hello", |pid| format!("pid {pid:>7} uid     0 "));
    let sent = number_in(&out, "", " events sent").expect("a count of events sent");
    let printed = out.lines().filter(|l| l.starts_with("pid ")).count() as u64;
    assert_eq!(sent, printed, "{out}");
}

#[test]
fn skel_config_sets_rodata_and_data_before_load() {
    setup();
    let out = run("skel_config", &["from test"]);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("pid ")).collect();
    // Only the configured child's exec, with the configured message.
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].ends_with(" /bin/true: from test"), "{out}");
    assert_eq!(number_in(&out, "", " events sent"), Some(1), "{out}");
    // A message that does not fit is refused before anything is loaded.
    let status = Command::new(example("skel_config"))
        .arg("far too long a message")
        .output()
        .unwrap()
        .status;
    assert!(!status.success());
}

#[test]
fn skel_perf_prints_every_sample_typed() {
    setup();
    let out = run("skel_perf", &["200"]);
    let printed = out
        .lines()
        .filter(|l| l.starts_with("cpu ") && l.ends_with(" cbpf-burst"))
        .count() as u64;
    assert_eq!(printed, 200, "{out}");
    assert_eq!(number_in(&out, "", " samples, 0 lost"), Some(200), "{out}");
}
