//! The `corebpf` command on the running kernel.

mod common;

use std::process::{Command, Stdio};

use common::*;

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
    // The kernel counts verified instructions since 5.16.
    let verified = field(prog_line, "verified=");
    assert!(verified > 0 || !kernel_at_least((5, 16)), "{prog_line}");
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

/// A `corebpf run` in the background whose stderr is watched for "attached".
struct Running {
    child: std::process::Child,
    stderr: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(args: &[&str], object: &str) -> Running {
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

    /// Waits until the program is attached (bounded, so a broken run fails instead of
    /// hanging; slow machines and emulated VMs get plenty of room).
    fn wait_attached(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while std::time::Instant::now() < deadline {
            match self
                .stderr
                .recv_timeout(std::time::Duration::from_millis(200))
            {
                Ok(line) => {
                    let attached = line.contains("corebpf: attached");
                    self.seen.push(line);
                    if attached {
                        return;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("corebpf run never attached; stderr: {:?}", self.seen);
    }

    /// Interrupts the run and returns its stdout, stderr and whether it exited 0.
    fn stop(mut self) -> (String, String, bool) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let out = self.child.wait_with_output().unwrap();
        self.seen.extend(self.stderr.try_iter());
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            self.seen.join("\n"),
            out.status.success(),
        )
    }
}

/// Execs `/bin/true` a few times; returns the pids.
fn exec_some() -> Vec<u32> {
    (0..5)
        .map(|_| {
            let pid = exec_true(None);
            std::thread::sleep(std::time::Duration::from_millis(50));
            pid
        })
        .collect()
}

#[test]
fn run_prints_decoded_events() {
    setup();
    let mut run = Running::start(&[], "hello.bpf.o");
    run.wait_attached();
    let pids = exec_some();
    // Give the poll loop (100 ms) a moment to print before interrupting.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (text, err, ok) = run.stop();
    assert!(ok, "{err}");
    let line = text
        .lines()
        .find(|l| pids.iter().any(|p| l.contains(&format!("pid={p} "))))
        .unwrap_or_else(|| panic!("no event line for our execs in:\n{text}"));
    assert!(line.contains("uid=0"), "{line}");
    assert!(line.contains("/bin/true"), "{line}");
    assert!(line.contains("filename="), "{line}");
}

#[test]
fn run_with_a_duration_ends_by_itself() {
    setup();
    let out = corebpf()
        .arg("run")
        .arg(prog("hello.bpf.o"))
        .args(["--duration", "0.5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    // A map refused with EPERM before 5.11 (RLIMIT_MEMLOCK) is created again once the
    // loader has raised the limit: the retry counts, not the refusal.
    let cmds: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("= -1 EPERM"))
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
    // No duration: only SIGINT ends this run.
    let mut run = Running::start(&["--event-type", "event"], "hello_buffer_config.bpf.o");
    run.wait_attached();
    let pids = exec_some();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (text, err, ok) = run.stop();
    assert!(ok, "{err}");
    assert!(err.contains("interrupted; detaching"), "{err}");
    let line = text
        .lines()
        .find(|l| pids.iter().any(|p| l.contains(&format!("pid={p} "))))
        .unwrap_or_else(|| panic!("no event line for our execs in:\n{text}"));
    assert!(line.contains(r#"message="Hello World""#), "{line}");
}

#[test]
fn relocate_needs_no_privileges() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // Copies of the command and the object that nobody can reach: the checkout may
    // live in a directory only root may enter (/root).
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("corebpf");
    let object = dir.path().join("task_state.bpf.o");
    std::fs::copy(env!("CARGO_BIN_EXE_corebpf"), &exe).unwrap();
    std::fs::copy(prog("task_state.bpf.o"), &object).unwrap();
    for (path, mode) in [(dir.path(), 0o755), (&exe, 0o755), (&object, 0o644)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let out = Command::new(&exe)
        .arg("relocate")
        .arg(&object)
        .uid(65534)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The field the running kernel has is relocated, the other one poisoned.
    let want = TaskState::of("/sys/kernel/btf/vmlinux");
    let (kept, poisoned) = want.accesses();
    assert!(
        text.lines().any(|l| l.starts_with("read_state insn=")
            && l.contains(kept)
            && l.ends_with(&format!("-> {}", want.offset))),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(poisoned) && l.contains("poisoned")),
        "{text}"
    );

    let json = corebpf()
        .arg("relocate")
        .arg(prog("task_state.bpf.o"))
        .args(["--json", "--btf"])
        .arg(btf_6_1())
        .output()
        .unwrap();
    let j = String::from_utf8_lossy(&json.stdout);
    assert!(json.status.success());
    assert!(
        j.starts_with("[{\"program\":\"read_state\"") && j.trim_end().ends_with("}]"),
        "{j}"
    );
}

/// A `.BTF.ext` whose core_relo records claim a size the format doesn't have: relocate
/// must fail naming the section, the part and the offset, not report "no CO-RE
/// relocations" and succeed.
#[test]
fn relocate_refuses_a_btf_ext_that_does_not_parse() {
    use object::{Object as _, ObjectSection as _};
    let mut data = std::fs::read(prog("task_state.bpf.o")).unwrap();
    let (start, _) = object::File::parse(&*data)
        .unwrap()
        .section_by_name(".BTF.ext")
        .and_then(|s| s.file_range())
        .expect("task_state has .BTF.ext");
    let start = start as usize;
    let rd = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
    // Header: magic, version, flags, hdr_len, then (off, len) pairs for func_info,
    // line_info and core_relo, offsets counted from the header's end.
    let core_relo = start + rd(start + 4) + rd(start + 24);
    assert_eq!(rd(core_relo), 16, "core_relo record size");
    data[core_relo..core_relo + 4].copy_from_slice(&12u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("task_state.bpf.o");
    std::fs::write(&bad, &data).unwrap();

    let out = corebpf().arg("relocate").arg(&bad).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains("section '.BTF.ext': core_relo at byte offset"),
        "{stderr}"
    );
    assert!(stderr.contains("record size 12"), "{stderr}");
    assert!(!stdout.contains("no CO-RE relocations"), "{stdout}");
}
