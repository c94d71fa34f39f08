//! The `corebpf` command on the running kernel.

mod common;

use std::process::{Command, Stdio};

use common::*;

fn corebpf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corebpf"))
}

#[test]
fn load_prints_programs_and_maps() {
    setup();
    let out = corebpf()
        .args(["load"])
        .arg(prog("hello.bpf.o"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prog_line = text
        .lines()
        .find(|l| l.starts_with("prog handle_execve "))
        .unwrap_or_else(|| panic!("no program line in:\n{text}"));
    assert!(prog_line.contains("type=tracepoint"), "{prog_line}");
    let field = |line: &str, key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line}"))
    };
    assert!(field(prog_line, "id=") > 0);
    assert!(field(prog_line, "insns=") > 10);
    assert!(field(prog_line, "verified=") > 0);
    for (map, ty) in [
        ("events", "ringbuf"),
        ("counts", "hash"),
        (".rodata", "array"),
        (".bss", "array"),
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("map {map} ")))
            .unwrap_or_else(|| panic!("no line for map {map} in:\n{text}"));
        assert!(line.contains(&format!("type={ty}")), "{line}");
    }
}

/// Removes a pin directory when dropped, also when an assertion fails first.
struct RemoveDir(String);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn load_pins_programs_and_maps() {
    setup();
    let dir = format!("/sys/fs/bpf/corebpf-test-{}", std::process::id());
    let _cleanup = RemoveDir(dir.clone());
    let out = corebpf()
        .arg("load")
        .arg(prog("hello.bpf.o"))
        .args(["--pin", &dir])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for p in [
        "handle_execve",
        "maps/counts",
        "maps/events",
        "maps/hello_rodata",
        "maps/hello_bss",
    ] {
        let path = std::path::Path::new(&dir).join(p);
        assert!(path.exists(), "{} was not pinned", path.display());
    }
    // The pins outlive the process: the map is still there to open.
    let counts =
        corebpf::Map::from_pin(format!("{dir}/maps/counts")).expect("opening the pinned map");
    assert_eq!(counts.def().key_size, 4);
    assert_eq!(counts.map_type(), corebpf::map::MapType::HASH);
}

#[test]
fn load_rejects_a_pin_dir_outside_bpffs() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let out = corebpf()
        .arg("load")
        .arg(prog("hello.bpf.o"))
        .arg("--pin")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not on a bpf filesystem"), "{err}");
}

#[test]
fn run_prints_decoded_events() {
    setup();
    let child = corebpf()
        .arg("run")
        .arg(prog("hello.bpf.o"))
        .args(["--duration", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Exec until the run is over; the program attaches within the first second.
    let mut pids = Vec::new();
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(3500) {
        pids.push(exec_true(None));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find(|l| pids.iter().any(|p| l.contains(&format!("pid={p} "))))
        .unwrap_or_else(|| panic!("no event line for our execs in:\n{text}"));
    assert!(line.contains("uid=0"), "{line}");
    assert!(line.contains("/bin/true"), "{line}");
    assert!(line.contains("filename="), "{line}");
}

#[test]
fn strace_shows_btf_then_maps_then_programs() {
    setup();
    let out = Command::new("strace")
        .args(["-f", "-e", "trace=bpf", "-o", "/dev/stdout", "-qq"])
        .arg(env!("CARGO_BIN_EXE_corebpf"))
        .arg("load")
        .arg(prog("hello.bpf.o"))
        .output()
        .expect("strace is needed for this test (apt-get install strace)");
    let text = String::from_utf8_lossy(&out.stdout);
    let cmds: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split("bpf(").nth(1))
        .filter_map(|l| l.split(',').next())
        .filter(|c| ["BPF_BTF_LOAD", "BPF_MAP_CREATE", "BPF_PROG_LOAD"].contains(c))
        .collect();
    // Feature probes come first (tiny BTF blobs, one per BTF kind the object uses, as
    // in libbpf's strace); the object's own BTF_LOAD is the last one before the maps.
    let first_map = cmds
        .iter()
        .position(|c| *c == "BPF_MAP_CREATE")
        .unwrap_or(0);
    assert!(
        cmds[..first_map].iter().all(|c| *c == "BPF_BTF_LOAD"),
        "{text}"
    );
    let cmds = &cmds[first_map.saturating_sub(1)..];
    let spec = corebpf::ObjectSpec::from_file(&prog("hello.bpf.o")).unwrap();
    let mut expected = vec!["BPF_BTF_LOAD"];
    expected.extend(std::iter::repeat_n("BPF_MAP_CREATE", spec.maps.len()));
    expected.extend(std::iter::repeat_n("BPF_PROG_LOAD", spec.programs.len()));
    assert_eq!(cmds, expected, "strace said:\n{text}");
}

#[test]
fn run_with_an_unknown_event_type_names_it() {
    setup();
    let out = corebpf()
        .arg("run")
        .arg(prog("hello.bpf.o"))
        .args(["--event-type", "no_such_struct", "--duration", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no_such_struct"), "{err}");
}

#[test]
fn run_decodes_through_a_named_type_and_stops_on_sigint() {
    setup();
    let child = corebpf()
        .arg("run")
        .arg(prog("hello_buffer_config.bpf.o"))
        .args(["--event-type", "event"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // Exec until our event shows up in the output; the run has no duration, so only
    // SIGINT ends it.
    let mut pids = Vec::new();
    for _ in 0..30 {
        pids.push(exec_true(None));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {err}", out.status);
    assert!(err.contains("interrupted; detaching"), "{err}");
    let line = text
        .lines()
        .find(|l| pids.iter().any(|p| l.contains(&format!("pid={p} "))))
        .unwrap_or_else(|| panic!("no event line for our execs in:\n{text}"));
    assert!(line.contains(r#"message="Hello World""#), "{line}");
}
