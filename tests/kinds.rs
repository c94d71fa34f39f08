//! Program kinds that probe the kernel itself: kprobe, kretprobe, ksyscall,
//! kretsyscall, kprobe.multi, fentry, fexit, fmod_ret, lsm and tp_btf. Each test
//! attaches from the section name (libbpf's auto-attach), makes the event happen,
//! checks what the program recorded, drops the link and checks that nothing more is
//! recorded (or denied).
//!
//! Each test first asks `common::feature::require` whether the kernel can run it:
//! it skips with a visible `SKIP:` line where the kernel lacks the feature or refuses
//! it by policy, and fails where the feature must be there (see tests/common/feature.rs).
//! The objects record only the thread whose id is written to `target_tid` before load,
//! so tests running in parallel don't see each other.

mod common;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::feature::{self, Decision, Feature, Probe};
use common::*;
use corebpf::program::{KProbe, KProbeMulti, KprobeError, KprobeMode};
use corebpf::{Link, Object, ObjectSpec, ProgramError};
use nix::unistd::UnlinkatFlags;

const AT_FDCWD: i64 = libc::AT_FDCWD as i64;

/// The calling thread's id (`/proc/thread-self` links to `PID/task/TID`).
fn tid() -> u32 {
    let link = std::fs::read_link("/proc/thread-self").expect("reading /proc/thread-self");
    link.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected /proc/thread-self: {}", link.display()))
}

fn attach(obj: &Object, name: &str) -> Link {
    let p = obj.program(name).expect("program loaded");
    assert!(p.can_auto_attach(), "{name} should auto-attach");
    p.attach()
        .unwrap_or_else(|e| panic!("attaching {name}: {e}"))
}

fn global_i64(spec: &ObjectSpec, obj: &Object, name: &str) -> i64 {
    global_u64(spec, obj, name) as i64
}

fn global_str(spec: &ObjectSpec, obj: &Object, name: &str) -> String {
    cstr(&global(spec, obj, name))
}

/// `recorded` is `expected`, or its first `cap - 1` bytes when the program's buffer of
/// `cap` bytes truncated it.
fn assert_recorded_path(recorded: &str, expected: &str, cap: usize) {
    let want = &expected[..expected.len().min(cap - 1)];
    assert_eq!(recorded, want, "recorded path");
}

/// A file (with content) in a fresh temporary directory.
fn victim(dir: &tempfile::TempDir, name: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, b"corebpf").unwrap();
    p
}

#[test]
fn feature_discipline_decides_as_documented() {
    use feature::decide;
    assert_eq!(feature::parse_version("6.1.0-56-amd64"), Some((6, 1)));
    assert_eq!(feature::parse_version("6.18.44-fc-v445"), Some((6, 18)));
    assert_eq!(feature::parse_version("x"), None);
    let off = "CONFIG_KPROBES=y\n# CONFIG_FPROBE is not set\nCONFIG_KPROBE_EVENTS=m\n";
    assert!(feature::config_enabled(off, "CONFIG_KPROBES"));
    assert!(feature::config_enabled(off, "CONFIG_KPROBE_EVENTS"));
    assert!(!feature::config_enabled(off, "CONFIG_FPROBE"));
    assert!(!feature::config_enabled(
        "CONFIG_KPROBES_ON_FTRACE=y\n",
        "CONFIG_KPROBES"
    ));
    let missing = Probe::Missing("probe said no".into());
    let f = Feature::KprobeMulti;
    // Compiled out, and the config says so: skip, naming the option.
    assert!(matches!(
        decide(f, (5, 18), &missing, Some(off), "6.1.0"),
        Decision::Skip(r) if r.contains("CONFIG_FPROBE")
    ));
    // The config says it's built in, the kernel is new enough: fail.
    let on = "CONFIG_FPROBE=y\n";
    assert!(matches!(
        decide(f, (5, 18), &missing, Some(on), "6.1.0"),
        Decision::Fail(_)
    ));
    // No config published: the version decides.
    assert!(matches!(
        decide(f, (5, 18), &missing, None, "6.1.0"),
        Decision::Fail(_)
    ));
    assert!(matches!(
        decide(f, (5, 18), &missing, None, "5.15.0"),
        Decision::Skip(r) if r.contains("5.18+")
    ));
    // Refused by policy: a skip, on any kernel.
    let eperm = Probe::Refused("BPF_PROG_LOAD answered EPERM as root".into());
    assert!(matches!(
        decide(Feature::Fentry, (5, 5), &eperm, Some(on), "6.18.44"),
        Decision::Skip(r) if r.contains("refused by policy") && r.contains("EPERM")
    ));
    assert_eq!(
        decide(f, (5, 18), &Probe::Supported, None, "6.1"),
        Decision::Run
    );
}

/// Where the kernel has no kprobes (this host is built without CONFIG_KPROBES),
/// attaching says so in a typed error that names the program, the target and the
/// config option, rather than failing somewhere inside perf_event_open.
#[test]
fn kprobe_without_kprobe_support_is_a_typed_error() {
    const T: &str = "kprobe_without_kprobe_support_is_a_typed_error";
    setup();
    if feature::probe(Feature::Kprobes) == Probe::Supported {
        feature::skip(
            T,
            "this kernel has kprobes; the error path needs one without",
        );
        return;
    }
    let (_spec, obj) = load_only(
        "kprobe.bpf.o",
        &["kprobe_unlinkat"],
        &[("target_tid", tid().to_ne_bytes().to_vec())],
    );
    let p = obj.program("kprobe_unlinkat").unwrap();
    let e = p.attach().unwrap_err();
    let text = common::chain(&e);
    match &e {
        ProgramError::Kprobe {
            program,
            target,
            source: KprobeError::Unavailable { .. },
        } => {
            assert_eq!(program, "kprobe_unlinkat");
            assert_eq!(target, "kprobe do_unlinkat");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(text.contains("CONFIG_KPROBES"), "{text}");
    // Each mode fails in its own words.
    let k = KProbe::try_from(p).unwrap();
    let e = k
        .attach_with("do_unlinkat", 0, KprobeMode::Pmu)
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProgramError::Kprobe {
                source: KprobeError::NoPmu { .. },
                ..
            }
        ),
        "{e:?}"
    );
    let e = k
        .attach_with("do_unlinkat", 0, KprobeMode::Tracefs)
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProgramError::Kprobe {
                source: KprobeError::NoKprobeEvents { .. },
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn kprobe_and_kretprobe_see_do_unlinkat() {
    const T: &str = "kprobe_and_kretprobe_see_do_unlinkat";
    let Some(()) = feature::require(T, Feature::Kprobes) else {
        return;
    };
    let (spec, obj) = load_only(
        "kprobe.bpf.o",
        &["kprobe_unlinkat", "kretprobe_unlinkat"],
        &[("target_tid", tid().to_ne_bytes().to_vec())],
    );
    let dir = tempfile::tempdir().unwrap();
    let file = victim(&dir, "kprobe-victim");
    let links = [
        attach(&obj, "kprobe_unlinkat"),
        attach(&obj, "kretprobe_unlinkat"),
    ];
    assert_eq!(links[0].description(), "kprobe do_unlinkat");
    assert_eq!(links[1].description(), "kretprobe do_unlinkat");

    std::fs::remove_file(&file).unwrap();
    assert_eq!(global_u64(&spec, &obj, "kprobe_hits"), 1);
    assert_eq!(global_i64(&spec, &obj, "kprobe_dfd"), AT_FDCWD);
    assert_recorded_path(
        &global_str(&spec, &obj, "kprobe_path"),
        file.to_str().unwrap(),
        64,
    );
    assert_eq!(global_u64(&spec, &obj, "kretprobe_hits"), 1);
    assert_eq!(global_i64(&spec, &obj, "kretprobe_ret"), 0);

    // Unlinking it again fails: the return probe sees -ENOENT.
    assert!(std::fs::remove_file(&file).is_err());
    assert_eq!(global_u64(&spec, &obj, "kprobe_hits"), 2);
    assert_eq!(global_u64(&spec, &obj, "kretprobe_hits"), 2);
    assert_eq!(
        global_i64(&spec, &obj, "kretprobe_ret"),
        -i64::from(libc::ENOENT)
    );

    drop(links);
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        global_u64(&spec, &obj, "kprobe_hits"),
        2,
        "hit after detach"
    );
    assert_eq!(
        global_u64(&spec, &obj, "kretprobe_hits"),
        2,
        "hit after detach"
    );
}

/// A function the kernel doesn't have: the error names the program and the target,
/// through either creation path, and the failed tracefs probe is not left behind.
#[test]
fn kprobe_on_a_missing_function_names_it() {
    const T: &str = "kprobe_on_a_missing_function_names_it";
    let Some(()) = feature::require(T, Feature::Kprobes) else {
        return;
    };
    let (_spec, obj) = load_only(
        "kprobe.bpf.o",
        &["kprobe_unlinkat"],
        &[("target_tid", tid().to_ne_bytes().to_vec())],
    );
    let k = KProbe::try_from(obj.program("kprobe_unlinkat").unwrap()).unwrap();
    let missing = "corebpf_no_such_function";
    let e = k.attach(missing, 0).unwrap_err();
    let text = common::chain(&e);
    assert!(
        text.contains("kprobe_unlinkat") && text.contains(missing),
        "{text}"
    );
    let events = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .map(|t| Path::new(t).join("kprobe_events"))
        .find(|p| p.exists());
    if let Some(events) = events {
        let e = k.attach_with(missing, 0, KprobeMode::Tracefs).unwrap_err();
        assert!(
            matches!(
                &e,
                ProgramError::Kprobe {
                    source: KprobeError::CreateEvent { .. },
                    ..
                }
            ),
            "{e:?}"
        );
        let text = common::chain(&e);
        assert!(text.contains(missing), "{text}");
        let ours = format!("corebpf_{}_", std::process::id());
        let left = std::fs::read_to_string(&events).unwrap();
        assert!(!left.contains(&ours), "left behind: {left}");
    }
}

/// The tracefs `kprobe_events` path (kernels without the kprobe PMU): the probe
/// exists while the link does and is removed when it is dropped.
#[test]
fn kprobe_through_tracefs_is_removed_on_drop() {
    const T: &str = "kprobe_through_tracefs_is_removed_on_drop";
    let Some(()) = feature::require(T, Feature::Kprobes) else {
        return;
    };
    let events = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .map(|t| Path::new(t).join("kprobe_events"))
        .find(|p| p.exists());
    let Some(events) = events else {
        feature::skip(
            T,
            "kprobes come from the PMU only: tracefs has no kprobe_events",
        );
        return;
    };
    let (spec, obj) = load_only(
        "kprobe.bpf.o",
        &["kprobe_unlinkat", "kretprobe_unlinkat"],
        &[("target_tid", tid().to_ne_bytes().to_vec())],
    );
    let ours = format!("kprobes/corebpf_{}_", std::process::id());
    let listed = || {
        std::fs::read_to_string(&events)
            .unwrap()
            .lines()
            .filter(|l| l.contains(&ours))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(listed().is_empty());
    let entry = KProbe::try_from(obj.program("kprobe_unlinkat").unwrap()).unwrap();
    let exit = KProbe::try_from(obj.program("kretprobe_unlinkat").unwrap()).unwrap();
    assert!(!entry.is_return() && exit.is_return());
    let links = [
        entry
            .attach_with("do_unlinkat", 0, KprobeMode::Tracefs)
            .expect("kprobe through kprobe_events"),
        exit.attach_with("do_unlinkat", 0, KprobeMode::Tracefs)
            .expect("kretprobe through kprobe_events"),
    ];
    let lines = listed();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines
        .iter()
        .any(|l| l.starts_with("p:") && l.ends_with(" do_unlinkat")));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("r") && l.ends_with(" do_unlinkat")));
    assert!(links.iter().all(|l| l.perf_event_fd().is_some()));

    let dir = tempfile::tempdir().unwrap();
    let file = victim(&dir, "legacy-victim");
    std::fs::remove_file(&file).unwrap();
    assert_eq!(global_u64(&spec, &obj, "kprobe_hits"), 1);
    assert_recorded_path(
        &global_str(&spec, &obj, "kprobe_path"),
        file.to_str().unwrap(),
        64,
    );
    assert_eq!(global_u64(&spec, &obj, "kretprobe_hits"), 1);
    assert_eq!(global_i64(&spec, &obj, "kretprobe_ret"), 0);

    drop(links);
    assert!(listed().is_empty(), "probes left behind: {:?}", listed());
    assert!(std::fs::remove_file(&file).is_err());
    assert_eq!(
        global_u64(&spec, &obj, "kprobe_hits"),
        1,
        "hit after detach"
    );
}

#[test]
fn ksyscall_and_kretsyscall_see_unlinkat() {
    const T: &str = "ksyscall_and_kretsyscall_see_unlinkat";
    let Some(()) = feature::require(T, Feature::Kprobes) else {
        return;
    };
    let (spec, obj) = load_only(
        "kprobe.bpf.o",
        &["ksyscall_unlinkat", "kretsyscall_unlinkat"],
        &[("target_tid", tid().to_ne_bytes().to_vec())],
    );
    let dir = tempfile::tempdir().unwrap();
    victim(&dir, "victim");
    std::fs::create_dir(dir.path().join("subdir")).unwrap();
    let dirfd = File::open(dir.path()).unwrap();
    let links = [
        attach(&obj, "ksyscall_unlinkat"),
        attach(&obj, "kretsyscall_unlinkat"),
    ];
    let function = corebpf::program::kprobe::syscall_function("unlinkat");
    #[cfg(target_arch = "x86_64")]
    assert_eq!(function, "__x64_sys_unlinkat");
    assert_eq!(links[0].description(), format!("kprobe {function}"));
    assert_eq!(links[1].description(), format!("kretprobe {function}"));

    let unlinkat = |name: &str, dir: bool| {
        let flags = if dir {
            UnlinkatFlags::RemoveDir
        } else {
            UnlinkatFlags::NoRemoveDir
        };
        nix::unistd::unlinkat(Some(dirfd.as_raw_fd()), name, flags)
    };
    unlinkat("victim", false).unwrap();
    assert_eq!(global_u64(&spec, &obj, "ksyscall_hits"), 1);
    assert_eq!(
        global_i64(&spec, &obj, "ksyscall_dfd"),
        i64::from(dirfd.as_raw_fd())
    );
    assert_eq!(global_str(&spec, &obj, "ksyscall_path"), "victim");
    assert_eq!(global_u64(&spec, &obj, "ksyscall_flags"), 0);
    assert_eq!(global_u64(&spec, &obj, "kretsyscall_hits"), 1);
    assert_eq!(global_i64(&spec, &obj, "kretsyscall_ret"), 0);

    unlinkat("subdir", true).unwrap();
    assert_eq!(global_str(&spec, &obj, "ksyscall_path"), "subdir");
    assert_eq!(
        global_u64(&spec, &obj, "ksyscall_flags"),
        libc::AT_REMOVEDIR as u64
    );

    let e = unlinkat("no-such-file", false).unwrap_err();
    assert_eq!(e, nix::errno::Errno::ENOENT);
    assert_eq!(global_u64(&spec, &obj, "ksyscall_hits"), 3);
    assert_eq!(global_u64(&spec, &obj, "kretsyscall_hits"), 3);
    assert_eq!(
        global_i64(&spec, &obj, "kretsyscall_ret"),
        -i64::from(libc::ENOENT)
    );

    drop(links);
    let _ = unlinkat("no-such-file", false);
    assert_eq!(
        global_u64(&spec, &obj, "ksyscall_hits"),
        3,
        "hit after detach"
    );
    assert_eq!(
        global_u64(&spec, &obj, "kretsyscall_hits"),
        3,
        "hit after detach"
    );
}

#[test]
fn kprobe_multi_attaches_to_every_function_of_a_glob() {
    const T: &str = "kprobe_multi_attaches_to_every_function_of_a_glob";
    let Some(()) = feature::require(T, Feature::KprobeMulti) else {
        return;
    };
    let (spec, obj) = load_only(
        "kprobe.bpf.o",
        &["kprobe_multi_unlinkat", "kretprobe_multi_unlinkat"],
        &[("target_tid", tid().to_ne_bytes().to_vec())],
    );
    let functions = corebpf::program::kprobe::matching_functions("*unlinkat").unwrap();
    assert!(
        functions.iter().any(|f| f == "do_unlinkat"),
        "{functions:?}"
    );
    let entry = KProbeMulti::try_from(obj.program("kprobe_multi_unlinkat").unwrap()).unwrap();
    assert!(!entry.is_return());
    let links = [
        attach(&obj, "kprobe_multi_unlinkat"),
        attach(&obj, "kretprobe_multi_unlinkat"),
    ];
    assert!(
        links[0].description().starts_with("kprobe.multi *unlinkat"),
        "{}",
        links[0].description()
    );

    let dir = tempfile::tempdir().unwrap();
    let file = victim(&dir, "multi-victim");
    let dirfd = File::open(dir.path()).unwrap();
    nix::unistd::unlinkat(
        Some(dirfd.as_raw_fd()),
        "multi-victim",
        UnlinkatFlags::NoRemoveDir,
    )
    .unwrap();
    assert!(!file.exists());
    // unlinkat(2) passes through the syscall function and do_unlinkat at least: two
    // functions of the glob, two addresses.
    let ips = obj.map("multi_ips").unwrap();
    let addresses = ips
        .keys()
        .collect::<Result<Vec<_>, _>>()
        .expect("reading multi_ips")
        .len();
    assert!(
        addresses >= 2,
        "{addresses} function(s) hit of {functions:?}"
    );
    assert!(global_u64(&spec, &obj, "multi_hits") >= 2);
    assert_eq!(global_u64(&spec, &obj, "multi_ret_hits"), 1);
    assert_eq!(global_i64(&spec, &obj, "multi_ret"), 0);

    drop(links);
    let hits = global_u64(&spec, &obj, "multi_hits");
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        global_u64(&spec, &obj, "multi_hits"),
        hits,
        "hit after detach"
    );
}

#[test]
fn fentry_and_fexit_see_do_unlinkat() {
    const T: &str = "fentry_and_fexit_see_do_unlinkat";
    let Some(()) = feature::require(T, Feature::Fentry) else {
        return;
    };
    let (spec, obj) = load_only(
        "fentry.bpf.o",
        &["fentry_unlinkat", "fexit_unlinkat"],
        &[("target_tid", tid().to_ne_bytes().to_vec())],
    );
    let links = [
        attach(&obj, "fentry_unlinkat"),
        attach(&obj, "fexit_unlinkat"),
    ];
    assert_eq!(links[0].description(), "fentry do_unlinkat");
    assert_eq!(links[1].description(), "fexit do_unlinkat");
    assert!(links.iter().all(|l| l.link_fd().is_some()));

    let dir = tempfile::tempdir().unwrap();
    let file = victim(&dir, "fentry-victim");
    std::fs::remove_file(&file).unwrap();
    assert_eq!(global_u64(&spec, &obj, "fentry_hits"), 1);
    assert_eq!(global_i64(&spec, &obj, "fentry_dfd"), AT_FDCWD);
    assert_recorded_path(
        &global_str(&spec, &obj, "fentry_path"),
        file.to_str().unwrap(),
        64,
    );
    assert_eq!(global_u64(&spec, &obj, "fexit_hits"), 1);
    assert_eq!(global_i64(&spec, &obj, "fexit_dfd"), AT_FDCWD);
    assert_eq!(global_i64(&spec, &obj, "fexit_ret"), 0);

    assert!(std::fs::remove_file(&file).is_err());
    assert_eq!(global_u64(&spec, &obj, "fexit_hits"), 2);
    assert_eq!(
        global_i64(&spec, &obj, "fexit_ret"),
        -i64::from(libc::ENOENT)
    );

    drop(links);
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        global_u64(&spec, &obj, "fentry_hits"),
        2,
        "hit after detach"
    );
    assert_eq!(global_u64(&spec, &obj, "fexit_hits"), 2, "hit after detach");
}

#[test]
fn fmod_ret_changes_what_open_returns() {
    const T: &str = "fmod_ret_changes_what_open_returns";
    let Some(()) = feature::require(T, Feature::FmodRet) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = victim(&dir, "fmod-victim");
    let other = victim(&dir, "other");
    let ino = std::fs::metadata(&file).unwrap().ino();
    let (spec, obj) = load_only(
        "fentry.bpf.o",
        &["fmod_ret_file_open"],
        &[
            ("target_tid", tid().to_ne_bytes().to_vec()),
            ("target_ino", ino.to_ne_bytes().to_vec()),
        ],
    );
    File::open(&file).expect("open before attach");
    let link = attach(&obj, "fmod_ret_file_open");
    assert_eq!(link.description(), "fmod_ret security_file_open");

    let e = File::open(&file).expect_err("open while fmod_ret is attached");
    assert_eq!(e.raw_os_error(), Some(libc::ENOTUNIQ), "{e}");
    assert_eq!(global_u64(&spec, &obj, "fmod_ret_hits"), 1);
    File::open(&other).expect("another file opens");
    assert_eq!(global_u64(&spec, &obj, "fmod_ret_hits"), 1);

    drop(link);
    File::open(&file).expect("open after detach");
    assert_eq!(global_u64(&spec, &obj, "fmod_ret_hits"), 1);
}

#[test]
fn lsm_denies_opening_one_file_until_detached() {
    const T: &str = "lsm_denies_opening_one_file_until_detached";
    let Some(()) = feature::require(T, Feature::Lsm) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = victim(&dir, "lsm-victim");
    let other = victim(&dir, "other");
    let ino = std::fs::metadata(&file).unwrap().ino();
    let (spec, obj) = load_only(
        "lsm.bpf.o",
        &["deny_file_open"],
        &[
            ("target_tid", tid().to_ne_bytes().to_vec()),
            ("target_ino", ino.to_ne_bytes().to_vec()),
        ],
    );
    File::open(&file).expect("open before attach");
    let link = attach(&obj, "deny_file_open");
    assert_eq!(link.description(), "lsm file_open");

    let e = File::open(&file).expect_err("open while the LSM program is attached");
    assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
    assert_eq!(global_u64(&spec, &obj, "denied"), 1);
    File::open(&other).expect("another file opens");
    assert_eq!(global_u64(&spec, &obj, "denied"), 1);

    drop(link);
    File::open(&file).expect("open after detach");
    assert_eq!(global_u64(&spec, &obj, "denied"), 1);
}

#[test]
fn tp_btf_counts_one_syscall() {
    const T: &str = "tp_btf_counts_one_syscall";
    let Some(()) = feature::require(T, Feature::TpBtf) else {
        return;
    };
    let (spec, obj) = load_only(
        "fentry.bpf.o",
        &["tp_btf_sys_enter"],
        &[
            ("target_tid", tid().to_ne_bytes().to_vec()),
            ("target_syscall", (libc::SYS_getppid).to_ne_bytes().to_vec()),
        ],
    );
    let link = attach(&obj, "tp_btf_sys_enter");
    assert_eq!(link.description(), "tp_btf sys_enter");
    for _ in 0..3 {
        std::hint::black_box(std::os::unix::process::parent_id());
    }
    assert_eq!(global_u64(&spec, &obj, "tp_btf_hits"), 3);
    drop(link);
    std::hint::black_box(std::os::unix::process::parent_id());
    assert_eq!(
        global_u64(&spec, &obj, "tp_btf_hits"),
        3,
        "hit after detach"
    );
}
