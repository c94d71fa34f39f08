//! Issue 16, resources under load: a thousand load/attach/drop cycles and every failure
//! path give back every descriptor and leave no program, map, link, perf event, tracefs
//! probe, netlink attachment or pin behind; eight threads driving one program's atomic
//! adds into one hash map lose no update.
//!
//! The tests count this process's descriptors, so they run one at a time (a lock), and
//! the kernel objects they look for are the ones they made (by id, by probe name).

mod common;

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Mutex;

use common::*;
use corebpf::program::{UProbe, UprobeMode, UprobeOptions, Xdp, XdpMode};
use corebpf::{Loader, MapFlags, Object};

/// Serialises the tests of this file: each compares the process's descriptors before
/// and after, which another test's would disturb.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every descriptor of this process, as what it points at, sorted.
fn all_fds() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|t| t.display().to_string())
        // The read_dir of /proc/self/fd itself.
        .filter(|t| !t.starts_with("/proc/") || !t.ends_with("/fd"))
        .collect();
    out.sort();
    out
}

/// True once none of `ids` can be opened any more (the kernel frees programs and maps
/// after an RCU grace period: polled, bounded by 10 s as a watchdog).
fn all_gone(ids: &[u32], get: fn(u32) -> std::io::Result<OwnedFd>) -> bool {
    for _ in 0..200 {
        if ids.iter().all(|&id| get(id).is_err()) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    false
}

/// The ids of `obj`'s programs and maps.
fn ids(obj: &Object) -> (Vec<u32>, Vec<u32>) {
    let progs = obj.programs().iter().map(|p| p.info().unwrap().id);
    let maps = obj.maps().iter().map(|m| m.info().unwrap().id);
    (progs.collect(), maps.collect())
}

/// Each cycle loads links.bpf.o (a hash map, `.rodata`, its raw tracepoint program; the
/// other program left out, so a cycle costs less in an emulated guest) and attaches the
/// raw tracepoint by a BPF link. (A perf-event tracepoint's detach waits about
/// 80 ms for the kernel's grace periods here, a raw tracepoint's 16 ms: the cycles use
/// the latter so that 1,000 fit in CI on four kernels; `tests/no_leaks.rs` drops a
/// perf-event attachment.)
const OBJECT: &str = "links.bpf.o";

#[test]
fn a_thousand_load_attach_drop_cycles_leak_nothing() {
    let _one = lock();
    setup();
    let spec = corebpf::ObjectSpec::from_file(&prog(OBJECT)).unwrap();
    let before = all_fds();
    let (mut progs, mut maps) = (Vec::new(), Vec::new());
    for i in 0..1000 {
        let obj = Loader::new()
            .autoload("count_getppid", false)
            .load(&spec)
            .unwrap_or_else(|e| panic!("cycle {i}: {}", chain(&e)));
        let link = obj
            .program("count_sys_enter")
            .unwrap()
            .attach()
            .unwrap_or_else(|e| panic!("cycle {i}: {}", chain(&e)));
        let (p, m) = ids(&obj);
        progs.extend(p);
        maps.extend(m);
        drop(link);
        drop(obj);
    }
    assert_eq!(all_fds(), before, "descriptors left after 1,000 cycles");
    assert_eq!((progs.len(), maps.len()), (1000, 2000));
    assert!(
        all_gone(&progs, raw_bpf::prog_get_fd_by_id),
        "programs still in the kernel"
    );
    assert!(
        all_gone(&maps, raw_bpf::map_get_fd_by_id),
        "maps still in the kernel"
    );
}

/// Lines of tracefs `uprobe_events` naming this process's legacy probes.
fn our_tracefs_probes() -> usize {
    let ours = format!("corebpf_{}_", std::process::id());
    std::fs::read_to_string("/sys/kernel/tracing/uprobe_events")
        .map(|t| t.lines().filter(|l| l.contains(&ours)).count())
        .unwrap_or(0)
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn corebpf_leak_probe_target(a: u64) -> u64 {
    std::hint::black_box(a) + 1
}

/// Each failure, after which the process holds exactly the descriptors it held before
/// and leaves nothing in the kernel or on bpffs. Returns a line per failure.
#[test]
fn every_failure_path_gives_everything_back() {
    let _one = lock();
    setup();
    let before = all_fds();
    let check = |what: &str, e: &dyn std::error::Error| {
        assert_eq!(all_fds(), before, "{what} ({}) left descriptors", chain(e));
        assert_eq!(our_tracefs_probes(), 0, "{what} left a tracefs probe");
        println!("{what}: {}", chain(e));
    };

    // The verifier rejects a program after its object's maps were made.
    let e = Loader::new()
        .load_file(prog("bad_deref.bpf.o"))
        .expect_err("bad_deref loads");
    check("verifier rejection", &e);

    // A map the object does not have.
    let e = Loader::new()
        .set_max_entries("no_such_map", 4)
        .load_file(prog("hello.bpf.o"))
        .expect_err("a missing map is accepted");
    check("missing map", &e);

    let obj = Loader::new().load_file(prog("hello.bpf.o")).unwrap();
    let loaded = all_fds();
    let p = obj.program("handle_execve").unwrap();
    // A tracepoint that does not exist.
    let e = corebpf::program::TracePoint::try_from(p)
        .unwrap()
        .attach("syscalls", "sys_enter_no_such_call")
        .expect_err("a missing tracepoint attaches");
    assert_eq!(all_fds(), loaded, "a missing tracepoint left descriptors");
    println!("missing tracepoint: {}", chain(&e));
    // A pin outside bpffs.
    let tmp = tempfile::tempdir().unwrap();
    let e = p
        .pin(tmp.path().join("p"))
        .expect_err("pinned outside bpffs");
    assert!(!tmp.path().join("p").exists());
    assert_eq!(all_fds(), loaded, "a refused pin left descriptors");
    println!("pin outside bpffs: {}", chain(&e));
    drop(obj);

    let tgid = std::process::id();
    let spec = corebpf::ObjectSpec::from_file(&prog("uprobe.bpf.o")).unwrap();
    let mut loader = Loader::new().global("target_tgid", &tgid.to_ne_bytes());
    for q in &spec.programs {
        loader = loader.autoload(&q.name, q.name == "entry");
    }
    let obj = loader.load(&spec).unwrap();
    let loaded = all_fds();
    let up = UProbe::try_from(obj.program("entry").unwrap()).unwrap();
    let exe = std::env::current_exe().unwrap();
    // A function the binary does not have.
    let e = up
        .attach(&exe, "corebpf_no_such_function", None, None)
        .expect_err("a missing function attaches");
    assert_eq!(all_fds(), loaded, "a missing function left descriptors");
    println!("missing uprobe function: {}", chain(&e));
    // The legacy (tracefs) path, failing after its probe was written: a pid that does
    // not exist fails perf_event_open, and the probe must go again.
    if Path::new("/sys/kernel/tracing/uprobe_events").exists() {
        let _ = corebpf_leak_probe_target(1);
        let opts = UprobeOptions::new()
            .mode(UprobeMode::Tracefs)
            .pid(i32::MAX as u32);
        let e = up
            .attach_with(&exe, "corebpf_leak_probe_target", &opts)
            .expect_err("a probe of a missing pid attaches");
        assert_eq!(all_fds(), loaded, "the tracefs failure left descriptors");
        assert_eq!(our_tracefs_probes(), 0, "the tracefs probe was left");
        println!("tracefs uprobe, missing pid: {}", chain(&e));
    }
    drop(obj);

    // XDP on an interface that does not exist, by link and by netlink.
    // Only xdp_pass: the object's xdp.frags program needs 5.18.
    let (_, obj) = load_only("xdp.bpf.o", &["xdp_pass"], &[]);
    let loaded = all_fds();
    let xdp = Xdp::try_from(obj.program("xdp_pass").unwrap()).expect("an XDP program");
    let e = xdp
        .attach(999_999u32, XdpMode::Generic)
        .expect_err("XDP attached to ifindex 999999");
    assert_eq!(all_fds(), loaded, "a refused XDP link left descriptors");
    println!("XDP link, missing interface: {}", chain(&e));
    let e = xdp
        .attach_netlink(999_999u32, XdpMode::Generic)
        .expect_err("XDP attached by netlink to ifindex 999999");
    assert_eq!(
        all_fds(),
        loaded,
        "a refused netlink attach left descriptors"
    );
    println!("XDP netlink, missing interface: {}", chain(&e));
    drop(obj);
    check("all of the above", &std::io::Error::other("(end)"));
}

/// links.bpf.o counts each getppid(2) of this process into `counts[1]` with an
/// atomic add; eight threads calling it 20,000 times each from every CPU must add up.
#[test]
fn eight_threads_adding_to_one_hash_map_lose_no_update() {
    let _one = lock();
    setup();
    const THREADS: u64 = 8;
    const CALLS: u64 = 20_000;
    let globals = [
        ("target_tgid", std::process::id().to_ne_bytes().to_vec()),
        ("target_syscall", (-1i64).to_ne_bytes().to_vec()),
    ];
    let (_, obj) = load_only("links.bpf.o", &["count_getppid"], &globals);
    let counts = obj.map("counts").unwrap();
    // The first insert is not atomic in the program (BPF_NOEXIST may lose a race):
    // the entry exists before any thread runs, so every call is an atomic add.
    counts
        .update(&1u32.to_ne_bytes(), &0u64.to_ne_bytes(), MapFlags::ANY)
        .unwrap();
    let _link = obj.program("count_getppid").unwrap().attach().unwrap();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..CALLS {
                    // SAFETY: getppid has no preconditions.
                    unsafe { libc::getppid() };
                }
            });
        }
    });
    let v = counts
        .lookup(&1u32.to_ne_bytes(), MapFlags::ANY)
        .unwrap()
        .expect("counts[1]");
    let n = u64::from_ne_bytes(v[..8].try_into().unwrap());
    assert_eq!(n, THREADS * CALLS, "updates lost");
}
