//! Issue 16: the command under hostile conditions — a reader that went away, a full
//! disk, pin directories that collide or lie elsewhere, hostile input files.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};

use common::*;

/// `corebpf ARGS` with stdout the write end of a pipe whose read end is already
/// closed, so that every write fails with EPIPE.
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader);
    corebpf()
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn hello() -> String {
    prog("hello.bpf.o").display().to_string()
}

#[test]
fn load_into_a_closed_pipe_ends_quietly() {
    setup();
    let out = with_closed_stdout(&["load", &hello()]);
    // Before: SIGABRT (no exit code) from println!'s panic.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn relocate_into_a_closed_pipe_ends_quietly() {
    let object = prog("core_families.bpf.o").display().to_string();
    let btf = btf_6_1().display().to_string();
    let out = with_closed_stdout(&["relocate", &object, "--btf", &btf]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn feature_into_a_closed_pipe_ends_quietly() {
    let out = with_closed_stdout(&["feature"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn load_to_a_full_disk_fails_with_a_clear_error() {
    setup();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = corebpf()
        .args(["load", &hello()])
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("writing to stdout"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Removes a pin directory when dropped, also when an assertion fails first.
struct RemoveDir(String);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pin_dir(tag: &str) -> (String, RemoveDir) {
    let dir = format!("/sys/fs/bpf/corebpf-hostile-{tag}-{}", std::process::id());
    (dir.clone(), RemoveDir(dir))
}

#[test]
fn pin_with_closed_stdout_still_pins_everything() {
    setup();
    let (dir, _cleanup) = pin_dir("pipe");
    let out = with_closed_stdout(&["load", &hello(), "--pin", &dir]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for p in [
        "handle_execve",
        "maps/counts",
        "maps/events",
        "maps/hello_bss",
    ] {
        assert!(Path::new(&dir).join(p).exists(), "{p} not pinned");
    }
}

#[test]
fn pin_outside_bpffs_creates_nothing() {
    setup();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b");
    let out = corebpf()
        .args(["load", &hello(), "--pin"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not on a bpf filesystem"),
        "{}",
        stderr(&out)
    );
    // Before: the directory was created, then the command failed.
    assert!(
        !tmp.path().join("a").exists(),
        "a directory was left behind"
    );
}

#[test]
fn pin_collision_names_the_path_and_leaves_no_pin() {
    setup();
    let (dir, _cleanup) = pin_dir("collide");
    // The program pins first, then the maps: the second object to pin collides.
    let taken = format!("{dir}/maps/events");
    std::fs::create_dir_all(&taken).unwrap();
    let out = corebpf()
        .args(["load", &hello(), "--pin", &dir])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&taken), "the path is not named: {err}");
    assert!(
        !Path::new(&dir).join("handle_execve").exists(),
        "the program was pinned although a later pin failed"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["maps"], "left behind in {dir}");
    let maps: Vec<_> = std::fs::read_dir(format!("{dir}/maps"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(maps, ["events"], "left behind in {dir}/maps");
}

#[test]
fn pin_into_a_fresh_dir_leaves_no_staging_dir() {
    setup();
    let (dir, _cleanup) = pin_dir("fresh");
    let out = corebpf()
        .args(["load", &hello(), "--pin", &dir])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["handle_execve", "maps"]);
}

/// Runs `corebpf ARGS`, killing it if it has not ended within a minute (a hang is the
/// bug under test; the limit is a watchdog, not a measurement).
fn output_or_kill(args: &[&str]) -> Output {
    let mut child = corebpf()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    let _ = child.wait();
    panic!("corebpf {args:?} did not end within a minute");
}

#[test]
fn dev_zero_as_object_is_refused_at_once() {
    // Before: read whole, growing without bound; never returned.
    let out = output_or_kill(&["relocate", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("/dev/zero") && err.contains("not a regular file"),
        "{err}"
    );
    let e = corebpf::ObjectSpec::from_file(Path::new("/dev/zero")).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
}

/// Peak RSS in KiB of `corebpf ARGS`, measured by GNU time; None without it.
fn peak_rss_kib(args: &[&str]) -> Option<(Output, u64)> {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        return None;
    }
    let report = tempfile::NamedTempFile::new().unwrap();
    let out = std::process::Command::new(time)
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(env!("CARGO_BIN_EXE_corebpf"))
        .args(args)
        .output()
        .unwrap();
    let kib = std::fs::read_to_string(report.path())
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("GNU time's %M");
    Some((out, kib))
}

#[test]
fn sparse_gigabyte_file_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparse.o");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let path = path.display().to_string();
    let Some((out, kib)) = peak_rss_kib(&["relocate", &path]) else {
        eprintln!("skipped: /usr/bin/time (GNU time) is not installed");
        return;
    };
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("bad magic"), "{err}");
    // Before: 1 GiB of RSS (the file read whole into a buffer).
    assert!(kib < 64 * 1024, "peak RSS {kib} KiB");
}

#[test]
fn section_table_past_the_end_is_refused_before_mapping() {
    let mut data = std::fs::read(prog("hello.bpf.o")).unwrap();
    // e_shoff, little-endian at offset 40: far beyond the file.
    data[40..48].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shoff.o");
    std::fs::write(&path, &data).unwrap();
    let e = corebpf::ObjectSpec::from_file(&path).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("section table") && text.contains("past the end"),
        "{text}"
    );
}
