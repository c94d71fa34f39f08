//! Issue 15's "done when": a new crate outside this repository depends on corebpf,
//! generates the skeleton of bpf-progs/hello.bpf.o in its build.rs
//! (`corebpf::skel::Builder`), builds with `-D warnings`, and its binary loads,
//! attaches and reads typed events. A second crate, whose build.rs names a missing
//! object, must fail to build with a message naming that path.
//!
//! The crates are written to a tempdir and built with `cargo build --offline` into
//! `target/skel-crate/` (shared by runs and by both crates, so only the first run
//! compiles corebpf and its dependencies), with the workspace's Cargo.lock so the
//! versions resolve offline exactly as here.
//!
//! In a `cargo xtask vmtest` guest the repository (its target directory included) is
//! read-only and cargo is not on the PATH, and a from-scratch build under emulation
//! would take far longer than the binary's bound: there the tests print a SKIP line;
//! the host run (`cargo test`, `cargo xtask test`, vmtest's `host` kernel) builds and
//! runs the crate for real. Anywhere else, a missing cargo is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use common::setup;

/// The repository's root (this package's directory).
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether we run in a vmtest guest: virtme-ng boots it with the host's root
/// filesystem as its own root over 9p (`--force-9p`) or virtiofs.
fn in_vmtest_guest() -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.len() > 2 && fields[1] == "/" && matches!(fields[2], "9p" | "virtiofs")
    })
}

/// True (after a SKIP line) in a vmtest guest.
fn skipped_in_guest(test: &str) -> bool {
    let guest = in_vmtest_guest();
    if guest {
        println!(
            "SKIP: {test}: in a vmtest guest (root filesystem over 9p): the repository's \
             target directory is read-only, cargo is off the PATH and compiling corebpf \
             under emulation exceeds the binary's bound; the host run builds the crate"
        );
    }
    guest
}

/// Writes a crate named `name` into `dir`: corebpf as a dependency and a
/// build-dependency (by path), the given build.rs and src/main.rs, and the
/// workspace's Cargo.lock.
fn write_crate(dir: &Path, name: &str, build_rs: &str, main_rs: &str) {
    let root = repo().display().to_string();
    let manifest = format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
corebpf = {{ path = {root:?} }}

[build-dependencies]
corebpf = {{ path = {root:?} }}

# Not a member of any workspace around the tempdir.
[workspace]
"#
    );
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("build.rs"), build_rs).unwrap();
    std::fs::write(dir.join("src/main.rs"), main_rs).unwrap();
    std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
}

/// The shared target directory of the crates: compiled dependencies survive runs.
fn target_dir() -> PathBuf {
    repo().join("target/skel-crate")
}

/// `cargo build --offline` of the crate in `dir` with `RUSTFLAGS=-Dwarnings`.
fn cargo_build(dir: &Path) -> Output {
    // Under `cargo test` CARGO names the cargo running us; elsewhere (vmtest's host
    // run, a test binary run by hand) the PATH's.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let output = Command::new(&cargo)
        .args(["build", "--offline", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir())
        .env("RUSTFLAGS", "-Dwarnings")
        // These would override RUSTFLAGS or the target directory.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", Path::new(&cargo).display()));
    println!(
        "cargo build of {}: {:.1} s, {}",
        dir.display(),
        started.elapsed().as_secs_f64(),
        output.status
    );
    output
}

const BUILD_RS: &str = r#"//! Generates the skeleton of hello.bpf.o into OUT_DIR.

fn main() {
    let out = corebpf::skel::Builder::new()
        .object(@OBJECT@)
        .name("hello")
        .build()
        .unwrap_or_else(|e| panic!("generating the skeleton: {e}"));
    println!("cargo:warning=skeleton written to {}", out.display());
}
"#;

/// The binary: loads and attaches hello through the generated skeleton, execs
/// `/bin/true` until the ring buffer brings the event of one of its children (decoded
/// into `hello::Event`), prints it and the typed map and `.bss` values, and exits 0.
/// A watchdog thread ends it with status 3 if that takes too long.
const MAIN_RS: &str = r#"//! hello through a skeleton generated by this crate's build script.

use std::error::Error;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

include!(concat!(env!("OUT_DIR"), "/hello.skel.rs"));

fn main() -> Result<(), Box<dyn Error>> {
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(30));
        eprintln!("watchdog: no event of our /bin/true in 30 s");
        std::process::exit(3);
    });

    let mut open = hello::open()?;
    open.rodata_mut().target_tgid = 0;
    let mut skel = open.load()?;
    skel.attach()?;
    println!("attached: {} link(s)", skel.object().links().len());

    let seen = Mutex::new(Vec::<hello::Event>::new());
    let mut ring = skel
        .events_ring_buffer(|e: &hello::Event| {
            seen.lock().unwrap().push(*e);
            0
        })?
        .build()?;
    let mut children = Vec::new();
    for _ in 0..100 {
        let mut child = Command::new("/bin/true").spawn()?;
        children.push(child.id());
        child.wait()?;
        ring.poll(Some(Duration::from_millis(100)))?;
        let events: Vec<hello::Event> = seen.lock().unwrap().drain(..).collect();
        for e in events {
            let comm = e.comm_str().unwrap_or("?");
            let file = e.filename_str().unwrap_or("?");
            if !children.contains(&e.pid) {
                println!("other event: pid {} comm {comm} file {file}", e.pid);
                continue;
            }
            println!("child event: pid {} uid {} comm {comm} file {file}", e.pid, e.uid);
            let count = skel.maps().counts()?.get(&e.uid)?.unwrap_or(0);
            println!("counts[{}] = {count}", e.uid);
            println!("total_events = {}", skel.bss()?.total_events()?);
            return Ok(());
        }
    }
    Err(format!("no event for any of our {} /bin/true children", children.len()).into())
}
"#;

/// The crate builds under `-D warnings`; its binary, run as root, sees the event of
/// its own child exec, decoded into the generated struct, and reads the typed map and
/// `.bss` view.
#[test]
fn a_new_crate_builds_its_skeleton_in_build_rs_and_reads_typed_events() {
    if skipped_in_guest("a_new_crate_builds_its_skeleton_in_build_rs_and_reads_typed_events") {
        return;
    }
    setup();
    let object = repo().join("bpf-progs/hello.bpf.o");
    assert!(object.is_file(), "{} is missing", object.display());
    let dir = tempfile::tempdir().unwrap();
    let build_rs = BUILD_RS.replace("@OBJECT@", &format!("{object:?}"));
    write_crate(dir.path(), "skel-user", &build_rs, MAIN_RS);

    let output = cargo_build(dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo build failed:\n{stderr}");
    // The build script ran and wrote the skeleton (cargo relays the `cargo:warning`
    // of a local package's build script; -D warnings does not make it an error).
    assert!(
        stderr.contains("skeleton written to ") && stderr.contains("/out/hello.skel.rs"),
        "the build script's report is missing:\n{stderr}"
    );

    let binary = target_dir().join("debug/skel-user");
    let started = Instant::now();
    let run = Command::new(&binary)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", binary.display()));
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!(
        "{} ran {:.2} s, {}:\n{stdout}{stderr}",
        binary.display(),
        started.elapsed().as_secs_f64(),
        run.status
    );
    assert!(run.status.success(), "the crate's binary failed");
    assert!(stdout.contains("attached: 1 link(s)"), "{stdout}");

    // The child's record: `comm` is read at sys_enter_execve, before the exec
    // completes, so it is still the name of the spawning (main) thread: the binary's.
    let line = stdout
        .lines()
        .find(|l| l.starts_with("child event: "))
        .unwrap_or_else(|| panic!("no child event in:\n{stdout}"));
    let uid = nix::unistd::getuid().as_raw();
    let expected_tail = format!("uid {uid} comm skel-user file /bin/true");
    assert!(
        line.ends_with(&expected_tail),
        "{line}: want …{expected_tail}"
    );
    let pid: u32 = line["child event: pid ".len()..]
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line}"));
    assert!(pid > 1, "{line}");

    let number_after = |prefix: &str| -> u64 {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{prefix}N` in:\n{stdout}"))
    };
    assert!(number_after(&format!("counts[{uid}] = ")) >= 1);
    assert!(number_after("total_events = ") >= 1);
}

/// A build script whose object is missing fails the build, and the message names the
/// path (the user sees what to fix).
#[test]
fn a_missing_object_fails_the_build_naming_the_path() {
    if skipped_in_guest("a_missing_object_fails_the_build_naming_the_path") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir/missing.bpf.o");
    let build_rs = BUILD_RS.replace("@OBJECT@", &format!("{missing:?}"));
    write_crate(
        dir.path(),
        "skel-missing",
        &build_rs,
        "include!(concat!(env!(\"OUT_DIR\"), \"/hello.skel.rs\"));\n\nfn main() {}\n",
    );
    let output = cargo_build(dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the build succeeded without its object:\n{stderr}"
    );
    assert!(
        stderr.contains("failed to run custom build command for `skel-missing"),
        "not the build script that failed:\n{stderr}"
    );
    let message = format!("generating the skeleton: reading {}", missing.display());
    assert!(stderr.contains(&message), "no `{message}` in:\n{stderr}");
}

/// The skeleton of every object in bpf-progs/ that parses, generated by one build
/// script and compiled as one library under `-D warnings`: the generator's output
/// compiles cleanly for every map, global and record shape the project's objects have,
/// not only for the committed skeletons.
#[test]
fn every_objects_skeleton_compiles_under_deny_warnings() {
    if skipped_in_guest("every_objects_skeleton_compiles_under_deny_warnings") {
        return;
    }
    let mut objects: Vec<(String, PathBuf)> = std::fs::read_dir(repo().join("bpf-progs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
        // Objects made to fail parsing (missing_map) have no skeleton to build.
        .filter(|p| corebpf::ObjectSpec::from_file(p).is_ok())
        .map(|p| {
            let file = p.file_name().unwrap().to_string_lossy().into_owned();
            let stem = file.trim_end_matches(".bpf.o").replace('-', "_");
            (format!("obj_{stem}"), p)
        })
        .collect();
    objects.sort();
    assert!(objects.len() >= 50, "only {} objects", objects.len());
    let list: String = objects
        .iter()
        .map(|(name, path)| format!("    ({name:?}, {path:?}),\n"))
        .collect();
    let build_rs = format!(
        "//! Every object's skeleton into OUT_DIR.\n\n\
         const OBJECTS: &[(&str, &str)] = &[\n{list}];\n\n\
         fn main() {{\n    for (name, object) in OBJECTS {{\n        \
         corebpf::skel::Builder::new()\n            .object(object)\n            \
         .name(*name)\n            .build()\n            \
         .unwrap_or_else(|e| panic!(\"{{object}}: {{e}}\"));\n    }}\n}}\n"
    );
    let lib_rs: String = objects
        .iter()
        .map(|(name, _)| format!("include!(concat!(env!(\"OUT_DIR\"), \"/{name}.skel.rs\"));\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    write_crate(dir.path(), "skel-all", &build_rs, "fn main() {}\n");
    std::fs::write(
        dir.path().join("src/lib.rs"),
        format!("//! Every skeleton.\n\n{lib_rs}"),
    )
    .unwrap();
    let output = cargo_build(dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} skeletons did not build under -D warnings:\n{stderr}",
        objects.len()
    );
    println!("{} skeletons built under -D warnings", objects.len());
}
