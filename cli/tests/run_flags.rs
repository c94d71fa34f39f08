//! `corebpf run` and `load` with `--only`, `--disable`, `--set`, `--map-size` and the
//! target flags, on the running kernel: events made by execs prove what was loaded,
//! attached and configured.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
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
        let mut command = corebpf();
        command.arg("run").arg(prog(object)).args(args);
        Running::spawn(command)
    }

    /// Runs `command` (a `corebpf run`, perhaps through `ip netns exec`).
    fn spawn(mut command: Command) -> Running {
        let mut child = command
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
        ("up_getppid", "--binary PATH"),
        ("usdt_tick", "--binary PATH"),
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

/// The lines of `kind` events from process `pid` (any process: `None`).
fn events<'t>(text: &'t str, kind: &str, pid: Option<u32>) -> Vec<&'t str> {
    let kind = format!("kind={kind} ");
    let pid = pid.map(|p| format!(" pid={p} "));
    text.lines()
        .filter(|l| l.starts_with(&kind))
        .filter(|l| pid.as_ref().is_none_or(|p| l.contains(p.as_str())))
        .collect()
}

/// The C library this process runs with, from its memory map.
fn libc_path() -> String {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so"))
        .expect("the test runs with a C library")
        .to_string()
}

#[test]
fn binary_and_pid_attach_a_uprobe_in_the_c_library() {
    setup();
    let me = std::process::id();
    let libc = libc_path();
    let mut run = Running::start(
        TARGETS,
        &[
            "--only",
            "up_getppid",
            "--binary",
            &libc,
            "--pid",
            &me.to_string(),
        ],
    );
    run.wait_attached(1);
    for _ in 0..5 {
        // getppid(2), through the C library.
        std::hint::black_box(std::os::unix::process::parent_id());
    }
    // Another process's calls do not count: --pid filters them out.
    let other = Command::new("bash")
        .args(["-c", "for i in 1 2 3; do echo $PPID >/dev/null; done; true"])
        .status()
        .unwrap();
    assert!(other.success());
    let (text, err) = run.stop();
    assert!(err.contains(&format!("{libc}:getppid")), "{err}");
    assert_eq!(events(&text, "KIND_UPROBE", Some(me)).len(), 5, "{text}");
    assert_eq!(events(&text, "KIND_UPROBE", None).len(), 5, "{text}");
}

/// A program with three USDT probes `corebpf_cli:tick` (arguments 1, 2, 3).
const TICKS: &str = r#"
#include <sys/sdt.h>
int main(void)
{
	for (long i = 1; i <= 3; i++)
		DTRACE_PROBE1(corebpf_cli, tick, i);
	return 0;
}
"#;

#[test]
fn binary_attaches_a_usdt_probe_in_that_program() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("ticks.c");
    let binary = dir.path().join("ticks");
    std::fs::write(&source, TICKS).unwrap();
    // A PIE needs a pid or BPF cookies (5.15) for its probe address, as in libbpf;
    // before 5.15 the program is built position-dependent.
    let pie = if kernel_at_least((5, 15)) {
        "-pie"
    } else {
        "-no-pie"
    };
    let cc = Command::new("cc")
        .args(["-O1", pie, "-o"])
        .arg(&binary)
        .arg(&source)
        .output()
        .expect("a C compiler (cc) for the USDT test program");
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let mut run = Running::start(
        TARGETS,
        &["--only", "usdt_tick", "--binary", binary.to_str().unwrap()],
    );
    run.wait_attached(1);
    let ticks = Command::new(&binary).spawn().unwrap();
    let pid = ticks.id();
    assert!(ticks.wait_with_output().unwrap().status.success());
    let (text, _) = run.stop();
    let lens: Vec<&str> = events(&text, "KIND_USDT", Some(pid))
        .iter()
        .filter_map(|l| l.rsplit(' ').next())
        .collect();
    assert_eq!(lens, ["len=1", "len=2", "len=3"], "{text}");
}

/// The cgroup2 hierarchy's mount point.
fn cgroup2_root() -> PathBuf {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&"cgroup2"))
        .map(|f| PathBuf::from(f[1]))
        .expect("a cgroup2 hierarchy is mounted")
}

/// A cgroup the test made, removed when dropped (its processes have exited by then).
struct Cgroup(PathBuf);

impl Drop for Cgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn cgroup_attaches_a_cgroup_program_to_that_cgroup() {
    setup();
    let cg = Cgroup(cgroup2_root().join(format!("corebpf-run-flags-{}", std::process::id())));
    std::fs::create_dir(&cg.0).unwrap();
    let path = cg.0.to_str().unwrap();
    let mut run = Running::start(TARGETS, &["--only", "cg_egress", "--cgroup", path]);
    run.wait_attached(1);
    // Three datagrams from a shell in the cgroup, three from one outside it.
    let send = "for i in 1 2 3; do echo x >/dev/udp/127.0.0.1/9; done";
    let inside = Command::new("bash")
        .arg("-c")
        .arg(format!("echo $$ >{path}/cgroup.procs && {send}"))
        .spawn()
        .unwrap();
    assert!(inside.wait_with_output().unwrap().status.success());
    let outside = Command::new("bash").args(["-c", send]).spawn().unwrap();
    assert!(outside.wait_with_output().unwrap().status.success());
    let (text, _) = run.stop();
    // A cgroup_skb program records no pid (6.1 refuses it the helper): the three events
    // are the inside shell's; the outside one's would make six.
    assert_eq!(events(&text, "KIND_CGROUP", None).len(), 3, "{text}");
}

/// Two network namespaces joined by a veth pair (`a` 10.201.0.1, `b` 10.201.0.2),
/// deleted when dropped.
struct VethPair {
    a: String,
    b: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl VethPair {
    fn new(tag: &str) -> VethPair {
        let id = std::process::id();
        let pair = VethPair {
            a: format!("rf{tag}a{id}"),
            b: format!("rf{tag}b{id}"),
        };
        let (a, b) = (pair.a.as_str(), pair.b.as_str());
        ip(&["netns", "add", a]);
        ip(&["netns", "add", b]);
        ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
        for (dev, addr) in [(a, "10.201.0.1/24"), (b, "10.201.0.2/24")] {
            ip(&["link", "set", dev, "netns", dev]);
            ip(&["-n", dev, "addr", "add", addr, "dev", dev]);
            ip(&["-n", dev, "link", "set", dev, "up"]);
        }
        pair
    }

    /// `corebpf run` in `b`'s namespace.
    fn run_in_b(&self, args: &[&str]) -> Running {
        let mut command = Command::new("ip");
        command
            .args([
                "netns",
                "exec",
                &self.b,
                env!("CARGO_BIN_EXE_corebpf"),
                "run",
            ])
            .arg(prog(TARGETS))
            .args(args);
        Running::spawn(command)
    }

    /// Three UDP datagrams of 2 bytes from `a` to `b`.
    fn send_from_a(&self) {
        let send = "for i in 1 2 3; do echo x >/dev/udp/10.201.0.2/9; done";
        let out = Command::new("ip")
            .args(["netns", "exec", &self.a, "bash", "-c", send])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Events of `kind` for the test's datagrams: 14 + 20 + 8 + 2 bytes.
fn datagrams<'t>(text: &'t str, kind: &str) -> Vec<&'t str> {
    events(text, kind, None)
        .into_iter()
        .filter(|l| l.ends_with(" len=44"))
        .collect()
}

#[test]
fn iface_attaches_xdp_and_tc_programs_to_that_interface() {
    setup();
    let pair = VethPair::new("x");
    for (program, kind) in [("xdp_count", "KIND_XDP"), ("tc_count", "KIND_TC")] {
        let mut run = pair.run_in_b(&["--only", program, "--iface", &pair.b]);
        run.wait_attached(1);
        pair.send_from_a();
        let (text, err) = run.stop();
        assert_eq!(datagrams(&text, kind).len(), 3, "{program}: {text}\n{err}");
    }
}
