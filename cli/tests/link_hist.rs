//! `corebpf link list|show` and `corebpf hist` / `run --hist`: links this test attaches
//! and links another process (a `corebpf run` child) holds, described in text and
//! JSON; histogram maps filled by hand printed exactly as BCC prints them; and
//! readlat.bpf.o's histogram counting exactly the reads a gated child makes.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use common::*;
use corebpf::map::{MapDef, MapType};
use corebpf::{Loader, Map, MapFlags, ObjectSpec};

/// The tests read from pipes, which readlat counts for its target: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn output(args: &[&str]) -> String {
    let out = corebpf().args(args).output().expect("running corebpf");
    assert!(
        out.status.success(),
        "corebpf {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&output(args)).expect("valid JSON")
}

/// The expected print_log2_hist text for slots 1..=4 = [1, 4, 0, 2], written by hand
/// from BCC's format strings.
const LOG2_TEXT: &str = "     usecs               : count     distribution
         0 -> 1          : 1        |**********                              |
         2 -> 3          : 4        |****************************************|
         4 -> 7          : 0        |                                        |
         8 -> 15         : 2        |********************                    |
";

#[test]
fn hist_prints_a_hand_filled_array_as_bcc() {
    let _g = serial();
    setup();
    let map = Map::create("lh_arr", &MapDef::new(MapType::ARRAY, 4, 8, 65)).expect("array");
    for (slot, count) in [(1u32, 1u64), (2, 4), (4, 2)] {
        map.update(&slot.to_ne_bytes(), &count.to_ne_bytes(), MapFlags::ANY)
            .unwrap();
    }
    let id = map.info().unwrap().id.to_string();
    assert_eq!(output(&["map", "hist", &id, "--label", "usecs"]), LOG2_TEXT);
    // The same through `name NAME`.
    assert_eq!(
        output(&["map", "hist", "name", "lh_arr", "--label", "usecs"]),
        LOG2_TEXT
    );
    // Linear: one line per bucket from 0, stars scaled to the largest count.
    let want = "     value         : count     distribution
        0          : 0        |                                        |
        1          : 1        |**********                              |
        2          : 4        |****************************************|
        3          : 0        |                                        |
        4          : 2        |********************                    |
";
    assert_eq!(output(&["map", "hist", &id, "--linear"]), want);
}

#[test]
fn hist_sums_a_percpu_hash_keyed_by_u64_and_opens_pins() {
    let _g = serial();
    setup();
    let cpus = corebpf::map::possible_cpus().unwrap() as usize;
    let mut map = Map::create("lh_pcpu", &MapDef::new(MapType::PERCPU_HASH, 8, 8, 16)).unwrap();
    // Slot 2 gets 1 per CPU, slot 4 gets 2 per CPU: the sums are cpus and 2*cpus.
    for (slot, per_cpu) in [(2u64, 1u64), (4, 2)] {
        let value: Vec<u8> = (0..cpus).flat_map(|_| per_cpu.to_ne_bytes()).collect();
        map.update(&slot.to_ne_bytes(), &value, MapFlags::ANY)
            .unwrap();
    }
    let dir = tempdir_on_bpffs();
    let pin = dir.join("lh_pcpu");
    map.pin(&pin).expect("pinning");
    let text = output(&["map", "hist", "pinned", pin.to_str().unwrap()]);
    let a = cpus;
    let b = 2 * cpus;
    let want = format!(
        "     value               : count     distribution
         0 -> 1          : 0        |                                        |
         2 -> 3          : {a:<8} |{:<40}|
         4 -> 7          : 0        |                                        |
         8 -> 15         : {b:<8} |{}|
",
        "*".repeat(20),
        "*".repeat(40)
    );
    assert_eq!(text, want);
    std::fs::remove_file(&pin).unwrap();
}

#[test]
fn hist_rejects_maps_that_are_not_histograms() {
    let _g = serial();
    setup();
    let map = Map::create("lh_bad", &MapDef::new(MapType::HASH, 16, 8, 4)).unwrap();
    let id = map.info().unwrap().id.to_string();
    let out = corebpf().args(["map", "hist", &id]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a histogram") && err.contains("16 bytes"),
        "{err}"
    );
}

/// A bpffs directory of this process for pins (mounting bpffs when needed).
fn tempdir_on_bpffs() -> std::path::PathBuf {
    let root = std::path::Path::new("/sys/fs/bpf");
    if !corebpf::fs::is_bpffs(root) {
        corebpf::fs::mount_bpffs(root).expect("mounting bpffs");
    }
    let dir = root.join(format!("link_hist_{}", std::process::id()));
    let _ = std::fs::create_dir(&dir);
    dir
}

/// This test binary as a child that blocks reading stdin, then makes `n` reads of
/// /dev/zero, says `done` and blocks on stdin again until it closes.
fn reader_child(n: usize) -> Child {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "reader_child_body",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LINK_HIST_READS", n.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning the reader child");
    wait_in_gate_read(child.id());
    child
}

/// Waits until a thread of process `pid` is blocked in read(2) on its stdin (the gate),
/// so that a program attached afterwards sees only the reads after the gate opens (the
/// gate read's entry came before the attach): one CI run counted the gate read when
/// the attach beat the child to it. Bounded by a minute, a watchdog.
fn wait_in_gate_read(pid: u32) {
    // `/proc/PID/task/TID/syscall`: the number and arguments of the call a blocked
    // thread is in; read(2) is 0 on x86_64, its first argument the descriptor.
    let in_gate = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|t| {
                std::fs::read_to_string(t.path().join("syscall"))
                    .is_ok_and(|s| s.starts_with(&format!("{} 0x0 ", libc::SYS_read)))
            })
    };
    let start = std::time::Instant::now();
    while !in_gate() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "the reader child never blocked on its gate"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The body of [`reader_child`]; does nothing in an ordinary run.
#[test]
fn reader_child_body() {
    let Ok(n) = std::env::var("LINK_HIST_READS") else {
        return;
    };
    let n: usize = n.parse().unwrap();
    let mut stdin = std::io::stdin().lock();
    let mut gate = [0u8; 1];
    stdin.read_exact(&mut gate).unwrap();
    let mut zero = std::fs::File::open("/dev/zero").unwrap();
    let mut byte = [0u8; 1];
    for _ in 0..n {
        zero.read_exact(&mut byte).unwrap();
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "done").unwrap();
    out.flush().unwrap();
    let _ = stdin.read(&mut gate);
}

/// The counts of a print_log2_hist text.
fn counts(text: &str) -> Vec<u64> {
    text.lines()
        .filter(|l| l.contains(" -> "))
        .map(|l| {
            let count = l.split(" : ").nth(1).unwrap().split('|').next().unwrap();
            count.trim().parse().unwrap()
        })
        .collect()
}

#[test]
fn run_hist_counts_every_read_of_the_target_and_its_links_are_listed() {
    let _g = serial();
    setup();
    if let Err(e) = corebpf::program::tracefs::tracepoint_id("syscalls", "sys_exit_read") {
        println!("SKIP: no syscalls/sys_exit_read tracepoint: {e}");
        return;
    }
    const READS: usize = 37;
    let mut child = reader_child(READS);
    let target = format!("target_tgid={}", child.id());
    let mut run = corebpf()
        .args([
            "run",
            prog("readlat.bpf.o").to_str().unwrap(),
            "--hist",
            "hist",
        ])
        .args(["--hist-label", "usecs", "--set", &target])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(run.stderr.take().unwrap());
    let mut attached = 0;
    let mut line = String::new();
    while attached < 2 {
        line.clear();
        assert_ne!(err.read_line(&mut line).unwrap(), 0, "run ended early");
        attached += usize::from(line.contains("attached"));
    }
    // Another process holds these links: list shows them with its pid.
    let links = json(&["link", "list", "--json"]);
    let mine: Vec<&serde_json::Value> = links
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| {
            l["pids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["pid"] == run.id())
        })
        .collect();
    // Tracepoints attach through perf-event bpf_links since 5.15 (before, by
    // PERF_EVENT_IOC_SET_BPF: no link to list); their link info names the
    // tracepoint since 6.6.
    if kernel_at_least((5, 15)) {
        assert_eq!(mine.len(), 2, "{links:#}");
        for l in &mine {
            assert_eq!(l["type"], "perf_event");
            assert_eq!(l["pids"][0]["comm"], "corebpf");
            assert!(l["prog_name"] == "read_enter" || l["prog_name"] == "read_exit");
        }
        if kernel_at_least((6, 6)) {
            let mut tps: Vec<&str> = mine
                .iter()
                .map(|l| l["target"]["tracepoint"].as_str().unwrap())
                .collect();
            tps.sort();
            assert_eq!(tps, ["sys_enter_read", "sys_exit_read"]);
        } else {
            assert!(mine.iter().all(|l| l["target"]["tracepoint"].is_null()));
        }
    } else {
        assert!(mine.is_empty(), "perf-event links before 5.15: {links:#}");
    }

    // Open the gate; the child reads READS times and says done.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"g").unwrap();
    // The test harness of the child writes its own lines around the body's.
    let said_done = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .any(|l| l.unwrap().ends_with("done"));
    assert!(said_done, "the reader child ended without saying done");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let mut text = String::new();
    run.stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(run.wait().unwrap().success());
    drop(stdin);
    child.wait().unwrap();
    assert!(
        text.contains("     usecs               : count     distribution\n"),
        "{text}"
    );
    let counts = counts(&text);
    assert_eq!(counts.iter().sum::<u64>(), READS as u64, "{text}");
}

#[test]
fn link_show_describes_raw_tp_and_tracepoint_links_of_this_process() {
    let _g = serial();
    setup();
    let spec = ObjectSpec::from_file(&prog("links.bpf.o")).unwrap();
    let obj = Loader::new().load(&spec).expect("loading links.bpf.o");
    let links = obj.attach_all().expect("attaching links.bpf.o");
    let me = std::process::id();
    // As above: perf-event links since 5.15, naming their tracepoint since 6.6.
    let (perf_links, named) = (kernel_at_least((5, 15)), kernel_at_least((6, 6)));
    let mut seen = Vec::new();
    for link in &links {
        if link.id().expect("link id").is_none() {
            assert!(
                !perf_links,
                "a tracepoint attached without a link since 5.15"
            );
            continue;
        }
        let info = link.info().expect("link info");
        let id = info.id.to_string();
        let v = json(&["link", "show", &id, "--json"]);
        assert_eq!(v["id"], info.id);
        assert_eq!(v["prog_id"], info.prog_id);
        assert!(v["pids"].as_array().unwrap().iter().any(|p| p["pid"] == me));
        let text = output(&["link", "show", &id]);
        let first = text.lines().next().unwrap();
        let kind = v["type"].as_str().unwrap().to_string();
        assert!(
            first.starts_with(&format!("{id}: {kind}  prog {}", info.prog_id)),
            "{text}"
        );
        assert!(text.contains(&format!("({me})")), "{text}");
        let tp = match v["target"]["tracepoint"].as_str() {
            Some(tp) => {
                assert!(text.contains(&format!("\ttracepoint {tp}")), "{text}");
                tp.to_string()
            }
            None => {
                assert!(kind == "perf_event" && !named, "{v:#}");
                String::new()
            }
        };
        seen.push((kind, tp));
    }
    seen.sort();
    let mut expected = vec![("raw_tracepoint".to_string(), "sys_enter".to_string())];
    if perf_links {
        let tp = if named { "sys_enter_getppid" } else { "" };
        expected.insert(0, ("perf_event".to_string(), tp.to_string()));
    }
    assert_eq!(seen, expected);
    // list has them too, in text.
    let list = output(&["link", "list"]);
    for id in links.iter().filter_map(|l| l.id().unwrap()) {
        assert!(
            list.lines().any(|l| l.starts_with(&format!("{id}: "))),
            "{list}"
        );
    }
    // After they are dropped, show fails naming the link.
    let ids: Vec<u32> = links.iter().filter_map(|l| l.id().unwrap()).collect();
    drop(links);
    let out = corebpf()
        .args(["link", "show", &ids[0].to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("link {}", ids[0])));
}

#[test]
fn link_show_resolves_a_cgroup_links_path() {
    let _g = serial();
    setup();
    let root = std::path::Path::new("/sys/fs/cgroup");
    if std::fs::read_to_string("/proc/mounts")
        .map_or(true, |m| !m.contains(" /sys/fs/cgroup cgroup2 "))
    {
        println!("SKIP: no cgroup2 hierarchy at /sys/fs/cgroup");
        return;
    }
    let name = format!("link_hist_{}", std::process::id());
    let dir = root.join(&name);
    let _ = std::fs::create_dir(&dir);
    let spec = ObjectSpec::from_file(&prog("cg_skb.bpf.o")).unwrap();
    let obj = Loader::new().load(&spec).expect("loading cg_skb.bpf.o");
    let p = corebpf::program::CgroupSkb::try_from(obj.program("count_ingress").unwrap()).unwrap();
    let link = p
        .attach_path(&dir, corebpf::program::CgroupAttachMode::AllowMultiple)
        .expect("attaching to the cgroup");
    let id = link.info().expect("a BPF link").id.to_string();
    let v = json(&["link", "show", &id, "--json"]);
    assert_eq!(v["type"], "cgroup");
    assert_eq!(v["prog_name"], "count_ingress");
    assert_eq!(v["target"]["attach_type"], "cgroup_inet_ingress");
    assert_eq!(v["target"]["cgroup_path"], format!("/{name}"));
    let text = output(&["link", "show", &id]);
    assert!(text.contains(&format!("cgroup_path /{name}")), "{text}");
    drop(link);
    drop(obj);
    std::fs::remove_dir(&dir).unwrap();
}
