//! User-space probes, driven by real calls: uprobe/uretprobe on functions of this test
//! binary and of a shared library the test builds, a pid filter that another process
//! calling the same function doesn't pass, cookies, a sleepable probe, uprobe.multi,
//! uprobe.session, auto-attach by library name (`uprobe/libc.so.6:getpid`), the tracefs
//! (legacy) path, and BCC's classic: a uretprobe on bash's `readline` reading what is
//! typed into an interactive bash that the test drives through a pseudo-terminal.
//!
//! Each test asks `common::feature::require` first (skip below the release that
//! introduced what it needs, fail at or above it). The programs record only the
//! process whose tgid is written to `target_tgid` before load, so tests running in
//! parallel (and other processes) don't see each other; each test probes its own
//! function.

mod common;

use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};

use common::cprog::{self, Paused};
use common::feature::{self, Feature};
use common::*;
use corebpf::program::{UProbe, UProbeMulti, UprobeLocation, UprobeMode, UprobeOptions};
use corebpf::{Loader, Object, ObjectSpec, ProgramError};

const OBJECT: &str = "uprobe.bpf.o";

/// Loads uprobe.bpf.o with only `programs`, recording process `tgid` (0: every one).
fn load(programs: &[&str], tgid: u32) -> (ObjectSpec, Object) {
    let spec = ObjectSpec::from_file(&prog(OBJECT)).expect("parsing uprobe.bpf.o");
    let mut loader = Loader::new().global("target_tgid", &tgid.to_ne_bytes());
    for p in &spec.programs {
        loader = loader.autoload(&p.name, programs.contains(&p.name.as_str()));
    }
    let obj = loader
        .load(&spec)
        .unwrap_or_else(|e| panic!("loading {programs:?}: {}", chain(&e)));
    (spec, obj)
}

fn me() -> u32 {
    std::process::id()
}

fn exe() -> PathBuf {
    std::env::current_exe().expect("the test binary's path")
}

fn uprobe<'a>(obj: &'a Object, name: &str) -> UProbe<'a> {
    UProbe::try_from(obj.program(name).expect("loaded")).expect("a uprobe program")
}

/// The `u64 -> u64` entries of a hash map.
fn u64_map(obj: &Object, map: &str, key_size: usize) -> Vec<(u64, u64)> {
    let m = obj.map(map).expect("map");
    let mut out: Vec<(u64, u64)> = m
        .keys()
        .map(|k| {
            let k = k.expect("key");
            let v = m.lookup(&k, corebpf::MapFlags::ANY).unwrap().unwrap();
            let mut key = [0u8; 8];
            key[..key_size].copy_from_slice(&k[..key_size]);
            (
                u64::from_ne_bytes(key),
                u64::from_ne_bytes(v[..8].try_into().unwrap()),
            )
        })
        .collect();
    out.sort_unstable();
    out
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn corebpf_uprobe_add(a: u64, b: u64) -> u64 {
    std::hint::black_box(a.wrapping_mul(3).wrapping_add(b))
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn corebpf_uprobe_legacy(a: u64, b: u64) -> u64 {
    std::hint::black_box(a ^ b)
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn corebpf_cookie_a() -> u64 {
    std::hint::black_box(1)
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn corebpf_cookie_b() -> u64 {
    std::hint::black_box(2)
}

/// # Safety
///
/// `text` must be a NUL-terminated string.
#[no_mangle]
#[inline(never)]
pub unsafe extern "C" fn corebpf_sleepable_text(text: *const c_char) -> usize {
    // SAFETY: the caller passes a NUL-terminated string.
    std::hint::black_box(unsafe { CStr::from_ptr(text) }.to_bytes().len())
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn corebpf_multi_one(x: u64) -> u64 {
    std::hint::black_box(x + 1)
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn corebpf_multi_two(x: u64) -> u64 {
    std::hint::black_box(x + 2)
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn corebpf_multi_three(x: u64) -> u64 {
    std::hint::black_box(x + 3)
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn corebpf_session_double(x: u64) -> u64 {
    std::hint::black_box(x * 2)
}

/// Entry and return of a function of this binary, found by name in its `.symtab`:
/// the arguments and the return value arrive; after the links drop, calls no longer
/// count.
#[test]
fn uprobe_and_uretprobe_see_arguments_and_return_value() {
    let test = "uprobe_and_uretprobe_see_arguments_and_return_value";
    if feature::require(test, Feature::Uprobes).is_none() {
        return;
    }
    let (spec, obj) = load(&["entry", "ret"], me());
    let entry = uprobe(&obj, "entry");
    let ret = uprobe(&obj, "ret");
    assert!(!entry.is_return() && ret.is_return());
    let l1 = entry
        .attach(exe(), "corebpf_uprobe_add", None, None)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let l2 = ret
        .attach(
            exe(),
            UprobeLocation::Function("corebpf_uprobe_add"),
            None,
            None,
        )
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert!(
        l1.description().starts_with("uprobe /")
            && l1.description().ends_with(":corebpf_uprobe_add"),
        "{}",
        l1.description()
    );
    assert!(
        l2.description().starts_with("uretprobe /"),
        "{}",
        l2.description()
    );

    let add = std::hint::black_box(corebpf_uprobe_add);
    assert_eq!(add(0x1234_5678_9abc, 77), 0x1234_5678_9abc * 3 + 77);
    assert_eq!(add(5, 6), 21);
    assert_eq!(global_u64(&spec, &obj, "entry_hits"), 2);
    assert_eq!(global_u64(&spec, &obj, "entry_arg1"), 5);
    assert_eq!(global_u64(&spec, &obj, "entry_arg2"), 6);
    assert_eq!(global_u64(&spec, &obj, "ret_hits"), 2);
    assert_eq!(global_u64(&spec, &obj, "ret_value"), 21);

    drop((l1, l2));
    add(1, 1);
    assert_eq!(
        global_u64(&spec, &obj, "entry_hits"),
        2,
        "counted after detach"
    );
    assert_eq!(
        global_u64(&spec, &obj, "ret_hits"),
        2,
        "counted after detach"
    );
}

const PID_PROGRAM: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((noinline)) int corebpf_target(int x)
{
	asm volatile("" ::: "memory");
	return x + 1;
}

int main(int argc, char **argv)
{
	int n = atoi(argv[1]), sum = 0;
	char go;

	if (read(0, &go, 1) != 1)
		return 1;
	for (int i = 0; i < n; i++)
		sum += corebpf_target(i);
	printf("%d\n", sum);
	return 0;
}
"#;

/// A probe with a pid fires in that process only: two processes run the same binary
/// and call the same function, one is counted.
#[test]
fn pid_filter_counts_one_process_of_two() {
    let test = "pid_filter_counts_one_process_of_two";
    if feature::require(test, Feature::Uprobes).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = cprog::build(dir.path(), "twins", &[("twins.c", PID_PROGRAM)], &["-O1"]);
    let mut a = Paused::spawn(&bin, &["5"], &[]);
    let mut b = Paused::spawn(&bin, &["7"], &[]);
    let (_spec, obj) = load(&["by_pid"], 0);
    let link = uprobe(&obj, "by_pid")
        .attach(&bin, "corebpf_target", Some(a.pid()), None)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert!(
        link.description().ends_with(&format!("(pid {})", a.pid())),
        "{}",
        link.description()
    );
    let (pa, pb) = (a.pid(), b.pid());
    a.go();
    b.go();
    assert_eq!(a.finish().trim(), "15");
    assert_eq!(b.finish().trim(), "28");
    let hits = u64_map(&obj, "hits_by_tgid", 4);
    assert_eq!(hits, vec![(u64::from(pa), 5)], "b is {pb}");
}

const LIBRARY: &str = r#"
__attribute__((noinline)) long corebpf_lib_mul(long a, long b)
{
	asm volatile("" ::: "memory");
	return a * b;
}
"#;

const LIBRARY_USER: &str = r#"
#include <stdio.h>
#include <unistd.h>

long corebpf_lib_mul(long a, long b);

int main(void)
{
	char go;

	if (read(0, &go, 1) != 1)
		return 1;
	printf("%ld\n", corebpf_lib_mul(6, 7));
	return 0;
}
"#;

/// A function of a shared library (relative addresses, `.dynsym`), in a process that
/// maps it: arguments at entry, the product at return.
#[test]
fn shared_library_function_is_probed() {
    let test = "shared_library_function_is_probed";
    if feature::require(test, Feature::Uprobes).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let lib = cprog::build(
        dir.path(),
        "libcorebpfmul.so",
        &[("mul.c", LIBRARY)],
        &["-O2", "-shared", "-fPIC", "-s"],
    );
    let user = cprog::build(
        dir.path(),
        "mul",
        &[("user.c", LIBRARY_USER)],
        &["-O2", "-L", d, "-lcorebpfmul", &format!("-Wl,-rpath,{d}")],
    );
    let mut child = Paused::spawn(&user, &[], &[]);
    let (spec, obj) = load(&["entry", "ret"], child.pid());
    let _l1 = uprobe(&obj, "entry")
        .attach(&lib, "corebpf_lib_mul", None, None)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let _l2 = uprobe(&obj, "ret")
        .attach(&lib, "corebpf_lib_mul", None, None)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    child.go();
    assert_eq!(child.finish().trim(), "42");
    assert_eq!(global_u64(&spec, &obj, "entry_hits"), 1);
    assert_eq!(global_u64(&spec, &obj, "entry_arg1"), 6);
    assert_eq!(global_u64(&spec, &obj, "entry_arg2"), 7);
    assert_eq!(global_u64(&spec, &obj, "ret_hits"), 1);
    assert_eq!(global_u64(&spec, &obj, "ret_value"), 42);
}

/// `uprobe/libc.so.6:getpid` auto-attaches: the library is found by name as the
/// dynamic loader finds it, the function in its `.dynsym`.
#[test]
fn auto_attach_by_library_name() {
    let test = "auto_attach_by_library_name";
    if feature::require(test, Feature::Uprobes).is_none() {
        return;
    }
    let (spec, obj) = load(&["auto_getpid"], me());
    let p = obj.program("auto_getpid").unwrap();
    assert!(p.can_auto_attach());
    let link = p.attach().unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert!(
        link.description().contains("libc.so.6:getpid")
            && link.description().starts_with("uprobe /"),
        "{}",
        link.description()
    );
    for _ in 0..3 {
        // SAFETY: getpid has no preconditions.
        std::hint::black_box(unsafe { libc::getpid() });
    }
    assert!(global_u64(&spec, &obj, "getpid_hits") >= 3);
}

/// Two attachments of one program, each with its cookie: every call reports its own.
#[test]
fn cookies_tell_attachments_apart() {
    let test = "cookies_tell_attachments_apart";
    if feature::require(test, Feature::Uprobes).is_none()
        || feature::require(test, Feature::BpfCookie).is_none()
    {
        return;
    }
    let (_spec, obj) = load(&["by_cookie"], me());
    let p = uprobe(&obj, "by_cookie");
    let _a = p
        .attach(exe(), "corebpf_cookie_a", None, Some(0xa1))
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let opts = UprobeOptions::new().cookie(0xb2).pid(0);
    let _b = p
        .attach_with(exe(), "corebpf_cookie_b", &opts)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let (fa, fb) = (
        std::hint::black_box(corebpf_cookie_a),
        std::hint::black_box(corebpf_cookie_b),
    );
    fa();
    fa();
    fb();
    fb();
    fb();
    assert_eq!(
        u64_map(&obj, "hits_by_cookie", 8),
        vec![(0xa1, 2), (0xb2, 3)]
    );
}

/// The legacy path: the uprobe is created in tracefs `uprobe_events` and removed from
/// it when the link drops.
#[test]
fn tracefs_uprobes_work_and_are_removed() {
    let test = "tracefs_uprobes_work_and_are_removed";
    if feature::require(test, Feature::Uprobes).is_none() {
        return;
    }
    let events = Path::new("/sys/kernel/tracing/uprobe_events");
    if !events.exists() {
        feature::skip(test, "no uprobe_events in tracefs (CONFIG_UPROBE_EVENTS)");
        return;
    }
    let (spec, obj) = load(&["entry"], me());
    let opts = UprobeOptions::new().mode(UprobeMode::Tracefs);
    let link = uprobe(&obj, "entry")
        .attach_with(exe(), "corebpf_uprobe_legacy", &opts)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let ours = format!("corebpf_{}_", me());
    let listed = || {
        std::fs::read_to_string(events)
            .unwrap()
            .lines()
            .filter(|l| l.contains(&ours))
            .count()
    };
    assert_eq!(listed(), 1, "our probe in uprobe_events");
    let f = std::hint::black_box(corebpf_uprobe_legacy);
    f(3, 5);
    assert_eq!(global_u64(&spec, &obj, "entry_hits"), 1);
    assert_eq!(global_u64(&spec, &obj, "entry_arg1"), 3);
    drop(link);
    assert_eq!(listed(), 0, "the probe is removed with the link");
}

/// A sleepable probe may fault user memory in: `bpf_copy_from_user` reads the string
/// argument.
#[test]
fn sleepable_uprobe_copies_from_user() {
    let test = "sleepable_uprobe_copies_from_user";
    if feature::require(test, Feature::Uprobes).is_none()
        || feature::require(test, Feature::SleepableUprobe).is_none()
    {
        return;
    }
    let (spec, obj) = load(&["sleepable"], me());
    let _l = uprobe(&obj, "sleepable")
        .attach(exe(), "corebpf_sleepable_text", None, None)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let f = std::hint::black_box(corebpf_sleepable_text);
    // SAFETY: a NUL-terminated string.
    assert_eq!(unsafe { f(c"hello from corebpf!".as_ptr()) }, 19);
    assert_eq!(global_u64(&spec, &obj, "sleepable_hits"), 1);
    assert_eq!(
        global_str(&spec, &obj, "sleepable_text"),
        "hello from corebpf!"
    );
}

fn global_str(spec: &ObjectSpec, obj: &Object, name: &str) -> String {
    cstr(&global(spec, obj, name))
}

/// uprobe.multi by glob, and by names with a cookie each; uretprobe.multi sums return
/// values per cookie.
#[test]
fn uprobe_multi_by_pattern_and_by_names() {
    let test = "uprobe_multi_by_pattern_and_by_names";
    if feature::require(test, Feature::UprobeMulti).is_none() {
        return;
    }
    let (one, two, three) = (
        std::hint::black_box(corebpf_multi_one),
        std::hint::black_box(corebpf_multi_two),
        std::hint::black_box(corebpf_multi_three),
    );
    let call_all = || {
        one(10);
        two(10);
        two(10);
        for _ in 0..3 {
            three(10);
        }
    };
    {
        let (_spec, obj) = load(&["multi_entry"], me());
        let m = UProbeMulti::try_from(obj.program("multi_entry").unwrap()).unwrap();
        assert!(!m.is_return() && !m.is_session());
        let link = m
            .attach(exe(), "corebpf_multi_*", Some(0))
            .unwrap_or_else(|e| panic!("{}", chain(&e)));
        assert!(link.link_fd().is_some());
        call_all();
        assert_eq!(u64_map(&obj, "hits_by_cookie", 8), vec![(0, 6)]);
    }
    let (_spec, obj) = load(&["multi_entry", "multi_ret"], me());
    let names = [
        "corebpf_multi_one",
        "corebpf_multi_two",
        "corebpf_multi_three",
    ];
    let cookies = [1u64, 2, 3];
    let entry = UProbeMulti::try_from(obj.program("multi_entry").unwrap()).unwrap();
    let ret = UProbeMulti::try_from(obj.program("multi_ret").unwrap()).unwrap();
    assert!(ret.is_return());
    let _l1 = entry
        .attach_functions(exe(), &names, Some(&cookies), None)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let _l2 = ret
        .attach_functions(exe(), &names, Some(&cookies), None)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    call_all();
    assert_eq!(
        u64_map(&obj, "hits_by_cookie", 8),
        vec![(1, 1), (2, 2), (3, 3)]
    );
    assert_eq!(
        u64_map(&obj, "ret_by_cookie", 8),
        vec![(1, 11), (2, 24), (3, 39)]
    );
    // A name that isn't there is a typed error naming it.
    let e = entry
        .attach_functions(exe(), &["corebpf_no_such_function"], None, None)
        .unwrap_err();
    assert!(matches!(e, ProgramError::Uprobe { .. }), "{e:?}");
    assert!(
        chain(&e).contains("corebpf_no_such_function"),
        "{}",
        chain(&e)
    );
}

/// uprobe.session: one program at entry and return of each call, the entry's argument
/// carried to the return in the session cookie.
#[test]
fn uprobe_session_sees_entry_and_return() {
    let test = "uprobe_session_sees_entry_and_return";
    if feature::require(test, Feature::UprobeSession).is_none() {
        return;
    }
    let (spec, obj) = load(&["session"], me());
    let s = UProbeMulti::try_from(obj.program("session").unwrap()).unwrap();
    assert!(s.is_session());
    let _l = s
        .attach_functions(exe(), &["corebpf_session_double"], None, None)
        .unwrap_or_else(|e| panic!("{}", chain(&e)));
    let f = std::hint::black_box(corebpf_session_double);
    assert_eq!(f(21), 42);
    assert_eq!(global_u64(&spec, &obj, "session_entries"), 1);
    assert_eq!(global_u64(&spec, &obj, "session_returns"), 1);
    assert_eq!(global_u64(&spec, &obj, "session_carried"), 21);
    assert_eq!(global_u64(&spec, &obj, "session_ret"), 42);
}

/// Bad targets are typed errors naming what is wrong, before any probe is made.
#[test]
fn bad_targets_are_clear_errors() {
    let test = "bad_targets_are_clear_errors";
    if feature::require(test, Feature::Uprobes).is_none() {
        return;
    }
    let (_spec, obj) = load(&["entry", "ret"], me());
    let cases: [(&str, UprobeLocation<'_>, &str, &str); 4] = [
        (
            "libcorebpf-nowhere.so.1",
            UprobeLocation::Function("f"),
            "entry",
            "not found",
        ),
        (
            "/bin/bash",
            UprobeLocation::Function("corebpf_no_such_function"),
            "entry",
            "no function 'corebpf_no_such_function'",
        ),
        (
            "/etc/hostname",
            UprobeLocation::Function("f"),
            "entry",
            "not an ELF file",
        ),
        (
            "/bin/bash",
            UprobeLocation::FunctionOffset("readline", 4),
            "ret",
            "takes no offset",
        ),
    ];
    for (target, location, program, words) in cases {
        let e = uprobe(&obj, program)
            .attach(target, location, None, None)
            .unwrap_err();
        let text = chain(&e);
        assert!(matches!(e, ProgramError::Uprobe { .. }), "{text}");
        assert!(text.contains(words), "{target}: {text}");
        assert!(text.contains(program), "{text}");
    }
}

/// BCC's bashreadline: a uretprobe on `readline` of Debian's (stripped) bash sends
/// each line typed into an interactive bash to a ring buffer; the test types through a
/// pseudo-terminal and reads the lines back.
#[test]
fn bash_readline_lines_arrive() {
    let test = "bash_readline_lines_arrive";
    if feature::require(test, Feature::Uprobes).is_none() {
        return;
    }
    let bash = Path::new("/bin/bash");
    assert!(bash.exists(), "/bin/bash is needed");
    let (_spec, obj) = load(&["bash_readline"], 0);
    let p = obj.program("bash_readline").unwrap();
    let _link = p.attach().unwrap_or_else(|e| panic!("{}", chain(&e)));

    let mut term = pty::Bash::spawn(bash);
    let typed: Vec<String> = (0..3)
        .map(|i| format!("echo corebpf-{}-{i}", me()))
        .collect();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(u32, String)>::new()));
    let sink = seen.clone();
    let events = obj.map("lines").unwrap();
    let mut ring = corebpf::RingBufferBuilder::new()
        .add(events, move |rec: &[u8]| {
            let pid = u32::from_ne_bytes(rec[..4].try_into().unwrap());
            sink.lock().unwrap().push((pid, cstr(&rec[4..])));
            0
        })
        .build()
        .unwrap();
    for line in &typed {
        term.type_line(line);
    }
    let bash_pid = term.pid();
    let ours = || -> Vec<String> {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(pid, _)| *pid == bash_pid)
            .map(|(_, l)| l.clone())
            .collect()
    };
    // At most 50 rounds of 200 ms: a bound, so a broken probe fails instead of hanging.
    for _ in 0..50 {
        ring.poll(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        term.drain();
        if ours().len() >= typed.len() {
            break;
        }
    }
    assert_eq!(ours(), typed, "lines read by bash {bash_pid}");
    term.exit();
}

/// An interactive bash on a pseudo-terminal.
mod pty {
    use std::fs::File;
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    use std::path::Path;
    use std::process::{Child, Command, Stdio};

    pub struct Bash {
        master: File,
        child: Child,
        _home: tempfile::TempDir,
    }

    impl Bash {
        pub fn spawn(bash: &Path) -> Bash {
            // SAFETY: posix_openpt returns a new descriptor or -1.
            let fd = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY) };
            assert!(fd >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
            // SAFETY: fd is a descriptor we own from here on.
            let master = unsafe { OwnedFd::from_raw_fd(fd) };
            let mut name = [0 as libc::c_char; 128];
            // SAFETY: the master is a pty master; `name` is writable for its length.
            unsafe {
                assert_eq!(libc::grantpt(master.as_raw_fd()), 0);
                assert_eq!(libc::unlockpt(master.as_raw_fd()), 0);
                assert_eq!(
                    libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()),
                    0
                );
            }
            // SAFETY: ptsname_r wrote a NUL-terminated name.
            let slave_path = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }
                .to_str()
                .unwrap()
                .to_string();
            let slave = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&slave_path)
                .expect("opening the pty slave");
            let home = tempfile::tempdir().unwrap();
            let mut cmd = Command::new(bash);
            cmd.args(["--norc", "--noprofile", "-i"])
                .env_clear()
                .env("HOME", home.path())
                .env("TERM", "dumb")
                .env("INPUTRC", "/dev/null")
                .env("PS1", "$ ")
                .env("PATH", "/usr/bin:/bin")
                .stdin(Stdio::from(slave.try_clone().unwrap()))
                .stdout(Stdio::from(slave.try_clone().unwrap()))
                .stderr(Stdio::from(slave));
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let child = cmd.spawn().expect("starting bash");
            let master = File::from(master);
            // Non-blocking reads, so draining the terminal never waits.
            // SAFETY: F_SETFL on a descriptor we own.
            unsafe {
                let flags = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
                libc::fcntl(master.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
            Bash {
                master,
                child,
                _home: home,
            }
        }

        pub fn pid(&self) -> u32 {
            self.child.id()
        }

        pub fn type_line(&mut self, line: &str) {
            self.master
                .write_all(format!("{line}\n").as_bytes())
                .expect("typing into the pty");
        }

        /// Reads whatever bash wrote, so its output never fills the pty.
        pub fn drain(&mut self) {
            let mut buf = [0u8; 4096];
            while let Ok(n) = self.master.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        }

        pub fn exit(mut self) {
            self.type_line("exit");
            for _ in 0..100 {
                self.drain();
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }

    impl Drop for Bash {
        fn drop(&mut self) {
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}
