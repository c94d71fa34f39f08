//! Links as objects of their own: pinned and reopened (from another process), opened
//! by id, described by the kernel's link info, detached on demand.
//!
//! `links.bpf.o` counts only the syscalls of the process whose tgid is written to
//! `target_tgid` before load, so tests running at the same time don't see each
//! other's events. Pins carry the pid in their names and are removed at the end.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use corebpf::link::{LinkKind, PerfEventLink};
use corebpf::{Link, LinkError, Map, MapFlags, Object};

/// `SYS_getppid`: its number, for `target_syscall`.
const GETPPID: i64 = libc::SYS_getppid;

/// The environment variables that turn `pinning_child` into the child half of
/// `pinned_link_survives_the_process_that_made_it`.
const CHILD_DIR: &str = "COREBPF_LINKS_CHILD_DIR";
const CHILD_TARGET: &str = "COREBPF_LINKS_CHILD_TARGET";

/// links.bpf.o, counting the syscalls of process `tgid`.
fn load(tgid: u32, programs: &[&str]) -> Object {
    let globals = [
        ("target_tgid", tgid.to_ne_bytes().to_vec()),
        ("target_syscall", GETPPID.to_ne_bytes().to_vec()),
    ];
    load_only("links.bpf.o", programs, &globals).1
}

fn count(counts: &Map, key: u32) -> u64 {
    counts
        .lookup(&key.to_ne_bytes(), MapFlags::ANY)
        .unwrap()
        .map_or(0, |v| u64::from_ne_bytes(v[..8].try_into().unwrap()))
}

fn getppid_times(n: usize) {
    for _ in 0..n {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() };
    }
}

/// A directory on bpffs for this process's pins, removed (with what is left in it)
/// when dropped.
struct PinDir(PathBuf);

impl PinDir {
    fn new(test: &str) -> PinDir {
        setup();
        let dir = PathBuf::from(format!("/sys/fs/bpf/corebpf_{test}_{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating a directory on bpffs");
        PinDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The child half of `pinned_link_survives_the_process_that_made_it`, run by it as a
/// separate process: loads links.bpf.o for the parent's tgid, attaches `raw_tp/sys_enter`,
/// pins the link and the `counts` map in the directory it was given, and exits.
#[test]
#[ignore = "run by pinned_link_survives_the_process_that_made_it, in a child process"]
fn pinning_child() {
    let dir = std::env::var(CHILD_DIR).expect("run by the parent test, with its environment");
    let target: u32 = std::env::var(CHILD_TARGET).unwrap().parse().unwrap();
    let mut obj = load(target, &["count_sys_enter"]);
    let mut link = obj.program("count_sys_enter").unwrap().attach().unwrap();
    link.pin(Path::new(&dir).join("link")).unwrap();
    obj.map_mut("counts")
        .unwrap()
        .pin(Path::new(&dir).join("counts"))
        .unwrap();
    println!("child {} pinned its link", std::process::id());
}

/// A raw tracepoint link pinned by a process that then exits keeps counting this
/// process's syscalls; reopened from its pin here, it reports what it attaches to;
/// dropping the reopened handle leaves it attached, and unpinning it (its last
/// holder) detaches it.
#[test]
fn pinned_link_survives_the_process_that_made_it() {
    let dir = PinDir::new("links_pin");
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "pinning_child", "--ignored", "--nocapture"])
        .env(CHILD_DIR, &dir.0)
        .env(CHILD_TARGET, std::process::id().to_string())
        .output()
        .expect("running the child");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("pinned its link"),
        "the child failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts = Map::from_pin(dir.path("counts")).expect("the child's pinned map");
    let before = count(&counts, 0);
    getppid_times(5);
    let after = count(&counts, 0);
    assert!(
        after >= before + 5,
        "the pinned link counted {} of 5 getppid calls after its process exited",
        after - before
    );

    let reopened = Link::from_pin(dir.path("link")).expect("opening the pinned link");
    assert_eq!(reopened.pin_path(), Some(dir.path("link").as_path()));
    let info = reopened.info().unwrap();
    assert_eq!(info.type_name(), "raw_tracepoint");
    assert_eq!(
        info.kind,
        LinkKind::RawTracepoint {
            name: "sys_enter".into(),
            cookie: 0
        }
    );
    assert!(
        reopened.description().starts_with("raw_tracepoint link "),
        "{}",
        reopened.description()
    );
    // A raw tracepoint link can't be detached while pinned: say so rather than
    // pretend.
    let e = reopened.detach().unwrap_err();
    assert!(matches!(e, LinkError::PinnedUndetachable { .. }), "{e}");
    let before = count(&counts, 0);
    getppid_times(3);
    assert!(
        count(&counts, 0) >= before + 3,
        "dropping a reopened link detached it"
    );

    let mut last = Link::from_pin(dir.path("link")).unwrap();
    last.unpin().unwrap();
    assert!(!dir.path("link").exists());
    drop(last);
    let stopped = settled(|| count(&counts, 0));
    getppid_times(3);
    assert_eq!(
        count(&counts, 0),
        stopped,
        "still counting after the last holder was unpinned and dropped"
    );
}

#[test]
fn from_id_opens_a_live_link_without_owning_it() {
    setup();
    // A raw tracepoint link: a BPF link on every kernel of the matrix.
    let obj = load(std::process::id(), &["count_sys_enter"]);
    let counts = obj.map("counts").unwrap();
    let link = obj.program("count_sys_enter").unwrap().attach().unwrap();
    let id = link.id().unwrap().expect("a raw tracepoint link has an id");
    let other = Link::from_id(id).expect("opening the link by id");
    assert_eq!(other.info().unwrap().id, id);
    assert_eq!(
        other.info().unwrap().prog_id,
        obj.program("count_sys_enter").unwrap().info().unwrap().id
    );
    assert!(other.pin_path().is_none());
    drop(other);
    let before = count(counts, 0);
    getppid_times(4);
    assert!(
        count(counts, 0) >= before + 4,
        "dropping a second handle detached the link"
    );
    drop(link);
    let stopped = settled(|| count(counts, 0));
    getppid_times(2);
    assert_eq!(count(counts, 0), stopped);
    // Its last holder gone, the link is freed: its id opens nothing.
    let e = Link::from_id(id).unwrap_err();
    assert!(
        matches!(&e, LinkError::Open { source, .. } if source.errno() == libc::ENOENT),
        "{e:?}"
    );
}

/// A tracepoint's perf link names its tracepoint from 6.6; before, the kernel reports
/// only the link type.
#[test]
fn perf_link_info_names_the_tracepoint() {
    setup();
    let obj = load(std::process::id(), &["count_getppid"]);
    let link = obj.program("count_getppid").unwrap().attach().unwrap();
    let at_least = |v| {
        common::feature::parse_version(&common::feature::kernel_release()).is_some_and(|k| k >= v)
    };
    if !at_least((5, 15)) {
        assert!(link.link_fd().is_none(), "a perf link before 5.15");
        common::feature::skip(
            "perf_link_info_names_the_tracepoint",
            "no perf links before 5.15: the attachment has no link to describe",
        );
        return;
    }
    assert!(link.link_fd().is_some(), "no perf link on a 5.15+ kernel");
    let info = link.info().unwrap();
    assert_eq!(info.type_name(), "perf_event");
    let expected = if at_least((6, 6)) {
        PerfEventLink::Tracepoint {
            name: "sys_enter_getppid".into(),
            cookie: 0,
        }
    } else {
        PerfEventLink::Unreported { event_type: 0 }
    };
    assert_eq!(info.kind, LinkKind::PerfEvent(expected));
}

#[test]
fn from_pin_refuses_what_is_not_a_link() {
    let dir = PinDir::new("links_notalink");
    let mut obj = load(std::process::id(), &[]);
    obj.map_mut("counts")
        .unwrap()
        .pin(dir.path("counts"))
        .unwrap();
    let e = Link::from_pin(dir.path("counts")).unwrap_err();
    match &e {
        LinkError::Open { what, source } => {
            assert!(what.contains("counts"), "{what}");
            assert_eq!(source.errno(), libc::EINVAL);
        }
        other => panic!("unexpected {other:?}"),
    }
    let e = Link::from_pin(dir.path("nothing")).unwrap_err();
    assert!(
        matches!(&e, LinkError::Open { source, .. } if source.errno() == libc::ENOENT),
        "{e:?}"
    );
}
