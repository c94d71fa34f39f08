//! USDT probes, driven by real programs the tests build with gcc and
//! `<sys/sdt.h>` (`DTRACE_PROBEn`): the BPF side is plain libbpf code
//! (`bpf_usdt_arg`, `bpf_usdt_arg_cnt`, `bpf_usdt_cookie`, `BPF_USDT`), so each check
//! that an argument arrives is a check that the loader filled `__bpf_usdt_specs`
//! (and, without BPF cookies, `__bpf_usdt_ip_to_spec_id`) as libbpf does.
//!
//! Covered: register, memory and constant arguments of every size and signedness at
//! -O0 and -O2, a probe with two call sites, USDT cookies, a semaphore the kernel
//! counts while attached, a probe in a shared library (every process, and one pid),
//! the path for kernels without BPF cookies (the IP map, a pid, `/proc/PID/maps`), spec
//! ids returned on detach, auto-attach, and the errors for what can't be attached.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::cprog::{self, Paused};
use common::feature::{self, Feature};
use common::*;
use corebpf::features::{kernel_features, Feature as KFeature};
use corebpf::program::{Usdt, UsdtError};
use corebpf::{Loader, Object, ObjectSpec, ProgramError};

const OBJECT: &str = "usdt.bpf.o";

/// The argument values the demo program passes for iteration `k` (see DEMO).
const V: i64 = 123_456_789_012;

const DEMO: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/sdt.h>

static long table[8] = {10, 11, 12, 13, 14, 15, 16, 17};

__attribute__((noinline)) void fire(int i, long l, signed char c, unsigned short us, long *p)
{
	DTRACE_PROBE2(corebpf, two, i, l);
	DTRACE_PROBE6(corebpf, mixed, c, us, -i, *p, 42, l - 1);
	DTRACE_PROBE1(corebpf, sib, table[(i + l) & 7]);
}

__attribute__((noinline)) void other_site(int i)
{
	DTRACE_PROBE2(corebpf, two, i * 100, 7L);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	long v = 123456789012L;
	char go;

	if (read(0, &go, 1) != 1)
		return 1;
	for (int i = 1; i <= n; i++) {
		fire(-i, v + i, (signed char)(-5 * i), (unsigned short)(60000 + i), &v);
		other_site(i);
	}
	printf("done %d\n", n);
	return 0;
}
"#;

const SEMAPHORE: &str = r#"
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <unistd.h>
#include <sys/sdt.h>

__extension__ unsigned short corebpf_gated_semaphore
	__attribute__((unused)) __attribute__((section(".probes")));

int main(void)
{
	char go;

	if (read(0, &go, 1) != 1)
		return 1;
	printf("%d\n", corebpf_gated_semaphore);
	if (corebpf_gated_semaphore)
		DTRACE_PROBE1(corebpf, gated, 77);
	return 0;
}
"#;

const LIBRARY: &str = r#"
#include <sys/sdt.h>

__attribute__((noinline)) void corebpf_lib_fire(int a, long b)
{
	DTRACE_PROBE2(corebpf, lib, a, b);
}
"#;

const LIBRARY_USER: &str = r#"
#include <unistd.h>

void corebpf_lib_fire(int a, long b);

int main(void)
{
	char go;

	if (read(0, &go, 1) != 1)
		return 1;
	corebpf_lib_fire(3, 4000000000L);
	return 0;
}
"#;

/// Builds the demo program at optimization `opt` (`-O0`, `-O2`) in `dir`.
fn demo(dir: &Path, opt: &str) -> PathBuf {
    cprog::build(dir, &format!("demo{opt}"), &[("demo.c", DEMO)], &[opt])
}

/// Loads usdt.bpf.o with only `programs`, recording process `tgid`; `cookies: false`
/// loads it as for a kernel without BPF cookies.
fn load(programs: &[&str], tgid: u32, cookies: bool) -> (ObjectSpec, Object) {
    let spec = ObjectSpec::from_file(&prog(OBJECT)).expect("parsing usdt.bpf.o");
    let mut loader = Loader::new().global("target_tgid", &tgid.to_ne_bytes());
    if !cookies {
        loader = loader.features(
            kernel_features()
                .snapshot()
                .with(KFeature::BpfCookie, false),
        );
    }
    for p in &spec.programs {
        loader = loader.autoload(&p.name, programs.contains(&p.name.as_str()));
    }
    let obj = loader
        .load(&spec)
        .unwrap_or_else(|e| panic!("loading {programs:?}: {}", chain(&e)));
    (spec, obj)
}

fn usdt<'a>(obj: &'a Object, name: &str) -> Usdt<'a> {
    Usdt::try_from(obj.program(name).expect("loaded")).expect("a usdt program")
}

/// One record of the `record` program.
#[derive(Clone, Debug, PartialEq)]
struct Event {
    pid: u32,
    arg_cnt: i32,
    cookie: u64,
    args: Vec<i64>,
    errors: Vec<i32>,
}

fn parse(rec: &[u8]) -> Event {
    let u32_at = |o: usize| u32::from_ne_bytes(rec[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_ne_bytes(rec[o..o + 8].try_into().unwrap());
    let arg_cnt = u32_at(4) as i32;
    let n = arg_cnt.clamp(0, 12) as usize;
    Event {
        pid: u32_at(0),
        arg_cnt,
        cookie: u64_at(8),
        args: (0..n).map(|i| u64_at(24 + 8 * i) as i64).collect(),
        errors: (0..12).map(|i| u32_at(120 + 4 * i) as i32).collect(),
    }
}

/// The `record` events of process `pid`, waiting (boundedly) until `want` arrived.
fn events(obj: &Object, pid: u32, want: usize) -> Vec<Event> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut ring = corebpf::RingBufferBuilder::new()
        .add(obj.map("events").unwrap(), move |rec: &[u8]| {
            sink.lock().unwrap().push(parse(rec));
            0
        })
        .build()
        .unwrap();
    for _ in 0..25 {
        ring.poll(Some(Duration::from_millis(200))).unwrap();
        if seen.lock().unwrap().iter().filter(|e| e.pid == pid).count() >= want {
            break;
        }
    }
    drop(ring);
    let all = seen.lock().unwrap().clone();
    all.into_iter().filter(|e| e.pid == pid).collect()
}

/// The USDT-level cause of an attach error (panics on any other error).
fn usdt_error(e: &ProgramError) -> &UsdtError {
    match e {
        ProgramError::Usdt { source, .. } => source,
        other => panic!("not a USDT error: {}", chain(other)),
    }
}

fn require(test: &str, features: &[Feature]) -> bool {
    features
        .iter()
        .all(|f| feature::require(test, *f).is_some())
}

/// Every argument kind of `corebpf:mixed`, at -O0 (memory) and -O2 (registers,
/// constants, memory through a register), with the USDT cookie; `corebpf:two` through
/// `BPF_USDT`, at its two call sites (two specs).
#[test]
fn arguments_arrive_as_usdt_bpf_h_reads_them() {
    let test = "arguments_arrive_as_usdt_bpf_h_reads_them";
    if !require(test, &[Feature::Uprobes]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for opt in ["-O0", "-O2"] {
        let bin = demo(dir.path(), opt);
        let mut child = Paused::spawn(&bin, &["2"], &[]);
        let (spec, obj) = load(&["record", "two"], child.pid(), true);
        // Without BPF cookies the spec is found by address, which needs a pid.
        let pid = (!kernel_features().bpf_cookie()).then(|| child.pid());
        let mixed = usdt(&obj, "record")
            .attach(&bin, "corebpf", "mixed", pid, Some(0xc0ffee))
            .unwrap_or_else(|e| panic!("{opt}: {}", chain(&e)));
        assert!(
            mixed.description().starts_with("usdt /")
                && mixed.description().contains(":corebpf:mixed"),
            "{}",
            mixed.description()
        );
        let two = usdt(&obj, "two")
            .attach(&bin, "corebpf", "two", pid, None)
            .unwrap_or_else(|e| panic!("{opt}: {}", chain(&e)));
        assert!(
            two.description().ends_with("(2 sites)"),
            "{}",
            two.description()
        );
        child.go();
        let pid = child.pid();
        assert_eq!(child.finish().trim(), "done 2");
        let got = events(&obj, pid, 2);
        let want: Vec<Event> = (1..=2i64)
            .map(|k| Event {
                pid,
                arg_cnt: 6,
                cookie: 0xc0ffee,
                args: vec![-5 * k, 60000 + k, k, V, 42, V + k - 1],
                errors: [vec![0; 6], vec![-libc::ENOENT; 6]].concat(),
            })
            .collect();
        assert_eq!(got, want, "{opt}");
        assert_eq!(global_u64(&spec, &obj, "two_hits"), 4, "{opt}");
        // The last call was other_site(2).
        assert_eq!(global_u64(&spec, &obj, "two_a") as i64, 200, "{opt}");
        assert_eq!(global_u64(&spec, &obj, "two_b") as i64, 7, "{opt}");
    }
}

/// A probe with a semaphore: the kernel raises it while the probe is attached (the
/// program sees 1 and fires), and lowers it again when the link drops.
#[test]
fn semaphore_is_raised_while_attached() {
    let test = "semaphore_is_raised_while_attached";
    if !require(test, &[Feature::Uprobes, Feature::UprobeRefCtr]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = cprog::build(dir.path(), "gated", &[("gated.c", SEMAPHORE)], &["-O2"]);
    let mut before = Paused::spawn(&bin, &[], &[]);
    before.go();
    assert_eq!(before.finish().trim(), "0", "no probe, no semaphore");

    let mut child = Paused::spawn(&bin, &[], &[]);
    let (_spec, obj) = load(&["record"], child.pid(), true);
    let pid = (!kernel_features().bpf_cookie()).then(|| child.pid());
    let link = usdt(&obj, "record")
        .attach(&bin, "corebpf", "gated", pid, Some(5))
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let child_pid = child.pid();
    child.go();
    assert_eq!(child.finish().trim(), "1", "the semaphore while attached");
    let got = events(&obj, child_pid, 1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].arg_cnt, got[0].cookie), (1, 5));
    assert_eq!(got[0].args, vec![77]);
    drop(link);

    let mut after = Paused::spawn(&bin, &[], &[]);
    after.go();
    assert_eq!(after.finish().trim(), "0", "the semaphore after detach");
}

/// A probe in a shared library: attached to the library for every process (BPF
/// cookies), and for one pid.
#[test]
fn shared_library_probe_fires() {
    let test = "shared_library_probe_fires";
    if !require(test, &[Feature::Uprobes]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let lib = cprog::build(
        dir.path(),
        "libcorebpfusdt.so",
        &[("lib.c", LIBRARY)],
        &["-O2", "-shared", "-fPIC"],
    );
    let user = cprog::build(
        dir.path(),
        "libuser",
        &[("user.c", LIBRARY_USER)],
        &["-O2", "-L", d, "-lcorebpfusdt", &format!("-Wl,-rpath,{d}")],
    );
    let with_cookies = feature::probe(Feature::BpfCookie) == feature::Probe::Supported;
    for any_process in [true, false] {
        if any_process && !with_cookies {
            feature::skip(
                test,
                "a library probe for every process needs BPF cookies (5.15); pid only",
            );
            continue;
        }
        let mut child = Paused::spawn(&user, &[], &[]);
        // The library is mapped once the child runs: wait for the dynamic loader.
        wait_for_mapping(child.pid(), &lib);
        let (_spec, obj) = load(&["record"], child.pid(), true);
        let pid = (!any_process).then(|| child.pid());
        let _link = usdt(&obj, "record")
            .attach(&lib, "corebpf", "lib", pid, Some(9))
            .unwrap_or_else(|e| panic!("{}", chain(&e)));
        let child_pid = child.pid();
        child.go();
        child.finish();
        let got = events(&obj, child_pid, 1);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            (got[0].cookie, got[0].args.clone()),
            (9, vec![3, 4_000_000_000])
        );
    }
}

/// Waits (at most 5 s) until process `pid` maps `path`.
fn wait_for_mapping(pid: u32, path: &Path) {
    let want = std::fs::canonicalize(path).unwrap();
    for _ in 0..250 {
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        if maps.contains(want.to_str().unwrap()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("process {pid} never mapped {}", want.display());
}

/// As on kernels before 5.15: the program finds its spec by address in
/// `__bpf_usdt_ip_to_spec_id`; a PIE executable needs a pid for that, its addresses
/// come from `/proc/PID/maps`, and the entries go when the link does.
#[test]
fn without_bpf_cookies_the_ip_map_finds_the_spec() {
    let test = "without_bpf_cookies_the_ip_map_finds_the_spec";
    if !require(test, &[Feature::Uprobes]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = demo(dir.path(), "-O2");
    let mut child = Paused::spawn(&bin, &["1"], &[]);
    wait_for_mapping(child.pid(), &bin);
    let (_spec, obj) = load(&["record"], child.pid(), false);
    let record = usdt(&obj, "record");
    let e = record
        .attach(&bin, "corebpf", "two", None, None)
        .unwrap_err();
    assert!(
        matches!(usdt_error(&e), UsdtError::NeedPid),
        "{}",
        chain(&e)
    );
    let ips = obj.map("__bpf_usdt_ip_to_spec_id").unwrap();
    assert_eq!(
        ips.keys().count(),
        0,
        "a failed attach leaves nothing behind"
    );
    let link = record
        .attach(&bin, "corebpf", "two", Some(child.pid()), Some(77))
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert_eq!(ips.keys().count(), 2, "one address per site");
    let pid = child.pid();
    child.go();
    child.finish();
    let got = events(&obj, pid, 2);
    let args: Vec<Vec<i64>> = got.iter().map(|e| e.args.clone()).collect();
    assert_eq!(args, vec![vec![-1, V + 1], vec![100, 7]]);
    assert!(got.iter().all(|e| e.cookie == 77));
    drop(link);
    assert_eq!(ips.keys().count(), 0, "the entries go with the link");
}

/// Spec ids come back when a link drops: a new attachment takes the freed slot of
/// `__bpf_usdt_specs` (seen by the USDT cookie each slot holds, at the offset
/// usdt.bpf.h reads it from), not the next unused one.
#[test]
fn spec_ids_are_reused_after_detach() {
    let test = "spec_ids_are_reused_after_detach";
    if !require(test, &[Feature::Uprobes]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = demo(dir.path(), "-O2");
    let (_spec, obj) = load(&["record"], 0, true);
    // Without BPF cookies an address is needed, so a process mapping the file.
    let child = (!kernel_features().bpf_cookie()).then(|| {
        let c = Paused::spawn(&bin, &["1"], &[]);
        wait_for_mapping(c.pid(), &bin);
        c
    });
    let pid = child.as_ref().map(Paused::pid);
    let specs = obj.map("__bpf_usdt_specs").unwrap();
    // `usdt_cookie` of struct __bpf_usdt_spec (libbpf 1.1's header: after 12 16-byte
    // argument specs).
    let cookie_in = |slot: u32| {
        let v = specs
            .lookup(&slot.to_ne_bytes(), corebpf::MapFlags::ANY)
            .unwrap()
            .unwrap();
        u64::from_ne_bytes(v[192..200].try_into().unwrap())
    };
    let attach = |cookie: u64| {
        usdt(&obj, "record")
            .attach(&bin, "corebpf", "mixed", pid, Some(cookie))
            .unwrap_or_else(|e| panic!("{}", chain(&e)))
    };
    let a = attach(0xa);
    if child.is_some() {
        // Without BPF cookies (before 5.15) the program finds its spec by address, so
        // one process's probe takes one attachment (libbpf refuses a second one too).
        // The refused one's slot (1) is freed, and the last freed (0) is taken first.
        let e = usdt(&obj, "record")
            .attach(&bin, "corebpf", "mixed", pid, Some(0xb))
            .expect_err("a second attachment to one address without cookies");
        assert!(chain(&e).contains("already attached"), "{}", chain(&e));
        assert_eq!(cookie_in(0), 0xa);
        drop(a);
        let c = attach(0xc);
        assert_eq!(cookie_in(0), 0xc);
        drop(c);
        return;
    }
    let b = attach(0xb);
    assert_eq!((cookie_in(0), cookie_in(1), cookie_in(2)), (0xa, 0xb, 0));
    drop(a);
    let c = attach(0xc);
    assert_eq!((cookie_in(0), cookie_in(1), cookie_in(2)), (0xc, 0xb, 0));
    // Freed in the order b (slot 1), c (slot 0); taken back last freed first, as
    // libbpf's free list.
    drop((b, c));
    let d = attach(0xd);
    let e = attach(0xe);
    assert_eq!((cookie_in(0), cookie_in(1), cookie_in(2)), (0xd, 0xe, 0));
    drop((d, e));
}

/// What can't be attached is a typed error naming the reason: no such probe, no
/// notes at all, arguments the object's usdt.bpf.h can't read; auto-attach follows
/// the section (`usdt/libc.so.6:libc:setjmp`, and Debian's libc has no USDT notes).
#[test]
fn what_cannot_be_attached_says_why() {
    let test = "what_cannot_be_attached_says_why";
    if !require(test, &[Feature::Uprobes]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = demo(dir.path(), "-O2");
    let (_spec, obj) = load(&["record", "auto_libc"], 0, true);
    let record = usdt(&obj, "record");
    assert!(!obj.program("record").unwrap().can_auto_attach());
    let pid = (!kernel_features().bpf_cookie()).then_some(std::process::id());

    let e = record
        .attach(&bin, "corebpf", "nope", pid, None)
        .unwrap_err();
    assert!(
        matches!(usdt_error(&e), UsdtError::NoProbe { .. }),
        "{}",
        chain(&e)
    );
    assert!(chain(&e).contains("corebpf:nope"), "{}", chain(&e));

    let e = record
        .attach("/bin/true", "corebpf", "two", pid, None)
        .unwrap_err();
    assert!(
        matches!(usdt_error(&e), UsdtError::NoNotes { .. }),
        "{}",
        chain(&e)
    );

    // gcc -O2 passes `table[...]` as scale-index-base, which the usdt.bpf.h of libbpf
    // before 1.7 (this object's) can't read: refused, not silently wrong.
    if !kernel_features().bpf_cookie() {
        return;
    }
    let e = record
        .attach(&bin, "corebpf", "sib", None, None)
        .unwrap_err();
    let text = chain(&e);
    assert!(text.contains("scale-index-base"), "{text}");

    let auto = obj.program("auto_libc").unwrap();
    assert!(auto.can_auto_attach());
    let e = auto.attach().unwrap_err();
    let text = chain(&e);
    assert!(
        matches!(usdt_error(&e), UsdtError::NoNotes { .. }),
        "{text}"
    );
    assert!(
        text.contains("libc.so.6") && text.contains("auto_libc"),
        "{text}"
    );
}
