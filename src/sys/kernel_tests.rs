//! Tests against the running kernel. They need root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN
//! for mounts) and print "skipped" otherwise.
//!
//! Programs are hand-assembled so these tests need no compiler; every attach test
//! checks that the program actually ran (a counter or a value it wrote into a map).

use super::bpf::*;
use super::mmap::{PerfMapping, RingbufMapping, RingbufRecord};
use super::perf::*;
use super::{bump_memlock_rlimit, epoll_wait, page_size, possible_cpus};
use crate::insn::Insn;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

macro_rules! require_root {
    () => {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

/// The running kernel's (major, minor), from `uname -r`.
fn kernel_version() -> (u32, u32) {
    let uts = nix::sys::utsname::uname().expect("uname");
    let release = uts.release().to_string_lossy().into_owned();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// True on kernels at or after `major.minor`, where a feature added then must be there.
fn since(major: u32, minor: u32) -> bool {
    kernel_version() >= (major, minor)
}

/// Returns from the test with a `SKIP:` line naming `what` on a kernel before
/// `major.minor`, the release that introduced it.
macro_rules! require_since {
    ($test:literal, $major:literal, $minor:literal, $what:literal) => {
        if !since($major, $minor) {
            println!("SKIP: {}: {} is new in {}.{}", $test, $what, $major, $minor);
            return;
        }
    };
}

/// A tiny assembler for the instructions these tests need.
mod asm {
    use crate::insn::Insn;

    pub fn mov_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(0xb7, dst, 0, 0, imm)
    }
    pub fn mov_reg(dst: u8, src: u8) -> Insn {
        Insn::new(0xbf, dst, src, 0, 0)
    }
    pub fn add_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(0x07, dst, 0, 0, imm)
    }
    /// `*(u32 *)(dst + off) = imm`
    pub fn st_w(dst: u8, off: i16, imm: i32) -> Insn {
        Insn::new(0x62, dst, 0, off, imm)
    }
    /// `*(u64 *)(dst + off) = imm`
    pub fn st_dw(dst: u8, off: i16, imm: i32) -> Insn {
        Insn::new(0x7a, dst, 0, off, imm)
    }
    /// `*(u64 *)(dst + off) = src`
    pub fn stx_dw(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(0x7b, dst, src, off, 0)
    }
    /// `lock *(u64 *)(dst + off) += src`
    pub fn atomic_add_dw(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(0xdb, dst, src, off, 0)
    }
    /// `dst = map` (`ld_imm64` with `BPF_PSEUDO_MAP_FD`)
    pub fn ld_map_fd(dst: u8, fd: i32) -> [Insn; 2] {
        [Insn::new(0x18, dst, 1, 0, fd), Insn::new(0, 0, 0, 0, 0)]
    }
    pub fn call(helper: i32) -> Insn {
        Insn::new(0x85, 0, 0, 0, helper)
    }
    /// `if dst == imm goto +off`
    pub fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(0x15, dst, 0, off, imm)
    }
    pub fn exit() -> Insn {
        Insn::new(0x95, 0, 0, 0, 0)
    }

    pub const MAP_LOOKUP_ELEM: i32 = 1;
    pub const RINGBUF_OUTPUT: i32 = 130;
    pub const GET_ATTACH_COOKIE: i32 = 174;
}

/// `r0 = value; exit`
fn ret_prog(value: i32) -> Vec<Insn> {
    vec![asm::mov_imm(0, value), asm::exit()]
}

/// Looks up element 0 of the array `map` into r0, skipping `skip` instructions after
/// the lookup when it fails. Clobbers r1-r5.
fn lookup_slot0(map: BorrowedFd<'_>) -> Vec<Insn> {
    let mut v = vec![
        asm::st_w(10, -4, 0),
        asm::mov_reg(2, 10),
        asm::add_imm(2, -4),
    ];
    v.extend(asm::ld_map_fd(1, map.as_raw_fd()));
    v.push(asm::call(asm::MAP_LOOKUP_ELEM));
    v
}

/// Increments the u64 in slot 0 of the array `map`; returns 0.
fn counter_prog(map: BorrowedFd<'_>) -> Vec<Insn> {
    let mut v = lookup_slot0(map);
    v.extend([
        asm::jeq_imm(0, 0, 2),
        asm::mov_imm(1, 1),
        asm::atomic_add_dw(0, 1, 0),
        asm::mov_imm(0, 0),
        asm::exit(),
    ]);
    v
}

/// Stores `bpf_get_attach_cookie(ctx)` into slot 0 of the array `map`; returns 0.
fn cookie_prog(map: BorrowedFd<'_>) -> Vec<Insn> {
    let mut v = vec![asm::mov_reg(6, 1)];
    v.extend(lookup_slot0(map));
    v.extend([
        asm::jeq_imm(0, 0, 4),
        asm::mov_reg(7, 0),
        asm::mov_reg(1, 6),
        asm::call(asm::GET_ATTACH_COOKIE),
        asm::stx_dw(7, 0, 0),
        asm::mov_imm(0, 0),
        asm::exit(),
    ]);
    v
}

fn create_map(t: u32, key: u32, value: u32, max: u32, name: &str) -> OwnedFd {
    map_create(&MapCreateAttr {
        map_type: t,
        key_size: key,
        value_size: value,
        max_entries: max,
        map_name: obj_name(name),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("creating {name}: {e}"))
}

/// Loads a program, panicking with the verifier log on failure.
fn load(t: u32, insns: &[Insn], name: &str) -> OwnedFd {
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = ProgLoadAttr::new(t, insns, c"GPL");
    attr.prog_name = obj_name(name);
    attr.log_level = log_level::LEVEL1;
    attr.log_buf = Some(&mut log);
    match prog_load(&mut attr) {
        Ok(fd) => fd,
        Err(e) => panic!(
            "loading {name}: {e}\n{}",
            String::from_utf8_lossy(attr.log())
        ),
    }
}

fn read_slot0_u64(map: BorrowedFd<'_>) -> u64 {
    let access = MapAccess::new(map).unwrap();
    let mut v = [0u8; 8];
    assert!(map_lookup_elem(&access, &0u32.to_ne_bytes(), &mut v, 0).unwrap());
    u64::from_ne_bytes(v)
}

fn getpid_syscall() {
    // SAFETY: getpid has no arguments and no side effects (glibc may cache getpid(),
    // so call the syscall directly to be sure the tracepoint fires).
    unsafe { libc::syscall(libc::SYS_getpid) };
}

/// The tracefs root, mounting tracefs if needed.
fn tracefs() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = PathBuf::from("/sys/kernel/tracing");
        if !root.join("events").exists() {
            nix::mount::mount(
                Some("tracefs"),
                &root,
                Some("tracefs"),
                nix::mount::MsFlags::empty(),
                None::<&str>,
            )
            .expect("mount tracefs");
        }
        root
    })
}

fn tracepoint_id(category: &str, name: &str) -> u64 {
    let path = tracefs()
        .join("events")
        .join(category)
        .join(name)
        .join("id");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

/// A per-thread perf event on `syscalls/sys_enter_<syscall>`.
fn syscall_tracepoint(syscall: &str, flags: u64, sample_type: u64) -> OwnedFd {
    let id = tracepoint_id("syscalls", &format!("sys_enter_{syscall}"));
    let mut attr = PerfEventAttr::new(perf_type::TRACEPOINT, id);
    attr.sample_period = 1;
    attr.wakeup_events = 1;
    attr.flags = flags;
    attr.sample_type = sample_type;
    perf_event_open(&attr, 0, -1, None, 0).expect("perf_event_open")
}

/// A fresh bpffs instance mounted on a temporary directory, unmounted on drop.
struct Bpffs {
    dir: tempfile::TempDir,
}

impl Bpffs {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        nix::mount::mount(
            Some("bpf"),
            dir.path(),
            Some("bpf"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .expect("mount bpffs");
        Bpffs { dir }
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(self.dir.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn memlock_rlimit_can_be_raised() {
    require_root!();
    if let Err(e) = bump_memlock_rlimit() {
        // Raising the hard limit needs CAP_SYS_RESOURCE, which containers often drop.
        assert_eq!((e.call, e.errno()), ("setrlimit", libc::EPERM));
        return;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a live, writable rlimit.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) };
    assert_eq!(r, 0);
    assert_eq!(
        (lim.rlim_cur, lim.rlim_max),
        (libc::RLIM_INFINITY, libc::RLIM_INFINITY)
    );
}

#[test]
fn hash_map_element_and_batch_ops() {
    require_root!();
    let fd = create_map(map_type::HASH, 4, 8, 16, "corebpf_hash");
    let info = map_info(fd.as_fd()).unwrap();
    assert_eq!(info.type_, map_type::HASH);
    assert_eq!(
        (info.key_size, info.value_size, info.max_entries),
        (4, 8, 16)
    );
    assert_eq!(info.name(), "corebpf_hash");
    assert!(info.id > 0);

    let m = MapAccess::new(fd.as_fd()).unwrap();
    assert_eq!(
        (m.key_size(), m.value_size(), m.value_buf_size()),
        (4, 8, 8)
    );
    let k = |i: u32| i.to_ne_bytes();
    let v = |i: u64| i.to_ne_bytes();
    for i in 1..=3u32 {
        map_update_elem(&m, &k(i), &v(u64::from(i) * 10), update_flags::ANY).unwrap();
    }
    let e = map_update_elem(&m, &k(1), &v(0), update_flags::NOEXIST).unwrap_err();
    assert_eq!((e.call, e.errno()), ("BPF_MAP_UPDATE_ELEM", libc::EEXIST));
    let e = map_update_elem(&m, &k(9), &v(0), update_flags::EXIST).unwrap_err();
    assert_eq!(e.errno(), libc::ENOENT);

    let mut out = [0u8; 8];
    assert!(map_lookup_elem(&m, &k(2), &mut out, 0).unwrap());
    assert_eq!(u64::from_ne_bytes(out), 20);
    assert!(!map_lookup_elem(&m, &k(9), &mut out, 0).unwrap());

    let mut keys = BTreeSet::new();
    let mut cur: Option<[u8; 4]> = None;
    let mut next = [0u8; 4];
    while map_get_next_key(&m, cur.as_ref().map(|c| &c[..]), &mut next).unwrap() {
        keys.insert(u32::from_ne_bytes(next));
        cur = Some(next);
        assert!(keys.len() <= 3);
    }
    assert_eq!(keys, BTreeSet::from([1, 2, 3]));

    assert!(map_delete_elem(&m, &k(2)).unwrap());
    assert!(!map_delete_elem(&m, &k(2)).unwrap());

    // Batch lookup of everything: the end of the map is reached in one call.
    let mut count = 16u32;
    let (mut bkeys, mut bvals, mut cursor) = (vec![0u8; 16 * 4], vec![0u8; 16 * 8], [0u8; 4]);
    let more = map_lookup_batch(
        &m,
        None,
        &mut cursor,
        &mut bkeys,
        &mut bvals,
        &mut count,
        0,
        0,
    )
    .unwrap();
    assert!(!more);
    assert_eq!(count, 2);
    let mut pairs: Vec<(u32, u64)> = (0..count as usize)
        .map(|i| {
            let key = u32::from_ne_bytes(bkeys[i * 4..i * 4 + 4].try_into().unwrap());
            let val = u64::from_ne_bytes(bvals[i * 8..i * 8 + 8].try_into().unwrap());
            (key, val)
        })
        .collect();
    pairs.sort();
    assert_eq!(pairs, vec![(1, 10), (3, 30)]);

    // Batch update and delete.
    let ukeys: Vec<u8> = [10u32, 11].iter().flat_map(|x| x.to_ne_bytes()).collect();
    let uvals: Vec<u8> = [100u64, 110].iter().flat_map(|x| x.to_ne_bytes()).collect();
    let mut count = 2;
    map_update_batch(&m, &ukeys, &uvals, &mut count, 0, 0).unwrap();
    assert_eq!(count, 2);
    assert!(map_lookup_elem(&m, &k(11), &mut out, 0).unwrap());
    assert_eq!(u64::from_ne_bytes(out), 110);
    let mut count = 2;
    map_delete_batch(&m, &ukeys, &mut count, 0, 0).unwrap();
    assert_eq!(count, 2);
    assert!(!map_lookup_elem(&m, &k(10), &mut out, 0).unwrap());

    // The owned form keeps the geometry: no syscall per access.
    let owned = MapFd::new(fd).unwrap();
    assert_eq!(owned.info().name(), "corebpf_hash");
    let m = owned.access();
    assert_eq!(m.value_buf_size(), 8);

    // Lookup-and-delete on a hash map (5.14+; before, only queues and stacks).
    if !since(5, 14) {
        let e = map_lookup_and_delete_elem(&m, &k(3), &mut out, 0).unwrap_err();
        assert_eq!(e.errno(), 524); // ENOTSUPP
        return;
    }
    assert!(map_lookup_and_delete_elem(&m, &k(3), &mut out, 0).unwrap());
    assert_eq!(u64::from_ne_bytes(out), 30);
    assert!(!map_lookup_elem(&m, &k(3), &mut out, 0).unwrap());
}

#[test]
fn batch_lookup_in_small_chunks_uses_the_cursor() {
    require_root!();
    let fd = create_map(map_type::ARRAY, 4, 4, 5, "corebpf_barr");
    let m = MapAccess::new(fd.as_fd()).unwrap();
    for i in 0..5u32 {
        map_update_elem(&m, &i.to_ne_bytes(), &(i * 7).to_ne_bytes(), 0).unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor_in: Option<[u8; 4]> = None;
    loop {
        let mut count = 2u32;
        let (mut keys, mut vals, mut cursor) = ([0u8; 8], [0u8; 8], [0u8; 4]);
        let more = map_lookup_batch(
            &m,
            cursor_in.as_ref().map(|c| &c[..]),
            &mut cursor,
            &mut keys,
            &mut vals,
            &mut count,
            0,
            0,
        )
        .unwrap();
        for i in 0..count as usize {
            let key = u32::from_ne_bytes(keys[i * 4..i * 4 + 4].try_into().unwrap());
            let val = u32::from_ne_bytes(vals[i * 4..i * 4 + 4].try_into().unwrap());
            seen.push((key, val));
        }
        if !more {
            break;
        }
        cursor_in = Some(cursor);
        assert!(seen.len() <= 5, "{seen:?}");
    }
    assert_eq!(seen, (0..5).map(|i| (i, i * 7)).collect::<Vec<_>>());
}

#[test]
fn percpu_values_are_one_slot_per_cpu() {
    require_root!();
    let cpus = possible_cpus().unwrap() as usize;
    let fd = create_map(map_type::PERCPU_ARRAY, 4, 4, 1, "corebpf_pcpu");
    let m = MapAccess::new(fd.as_fd()).unwrap();
    assert_eq!(m.value_buf_size(), 8 * cpus);
    let mut value = vec![0u8; 8 * cpus];
    for c in 0..cpus {
        value[c * 8..c * 8 + 4].copy_from_slice(&(c as u32 + 100).to_ne_bytes());
    }
    map_update_elem(&m, &0u32.to_ne_bytes(), &value, 0).unwrap();
    let mut out = vec![0u8; 8 * cpus];
    assert!(map_lookup_elem(&m, &0u32.to_ne_bytes(), &mut out, 0).unwrap());
    assert_eq!(out, value);
    // A buffer for one CPU only is refused before the kernel could overrun it.
    let e = map_lookup_elem(&m, &0u32.to_ne_bytes(), &mut out[..4], 0).unwrap_err();
    assert_eq!(e.errno(), 0);
}

#[test]
fn queue_map_takes_no_key() {
    require_root!();
    let fd = create_map(map_type::QUEUE, 0, 4, 4, "corebpf_queue");
    let m = MapAccess::new(fd.as_fd()).unwrap();
    assert_eq!(m.key_size(), 0);
    map_update_elem(&m, &[], &7u32.to_ne_bytes(), 0).unwrap();
    map_update_elem(&m, &[], &8u32.to_ne_bytes(), 0).unwrap();
    let mut out = [0u8; 4];
    assert!(map_lookup_elem(&m, &[], &mut out, 0).unwrap()); // peek
    assert_eq!(u32::from_ne_bytes(out), 7);
    assert!(map_lookup_and_delete_elem(&m, &[], &mut out, 0).unwrap());
    assert_eq!(u32::from_ne_bytes(out), 7);
    assert!(map_lookup_and_delete_elem(&m, &[], &mut out, 0).unwrap());
    assert_eq!(u32::from_ne_bytes(out), 8);
    assert!(!map_lookup_and_delete_elem(&m, &[], &mut out, 0).unwrap());
}

#[test]
fn frozen_map_rejects_updates() {
    require_root!();
    let fd = create_map(map_type::ARRAY, 4, 4, 1, "corebpf_frozen");
    let m = MapAccess::new(fd.as_fd()).unwrap();
    map_update_elem(&m, &0u32.to_ne_bytes(), &1u32.to_ne_bytes(), 0).unwrap();
    map_freeze(fd.as_fd()).unwrap();
    let e = map_update_elem(&m, &0u32.to_ne_bytes(), &2u32.to_ne_bytes(), 0).unwrap_err();
    assert_eq!(e.errno(), libc::EPERM);
}

#[test]
fn map_ids_iterate_and_open() {
    require_root!();
    let fd = create_map(map_type::ARRAY, 4, 4, 1, "corebpf_byid");
    let id = map_info(fd.as_fd()).unwrap().id;
    let mut cur = 0;
    let mut found = false;
    while let Some(next) = map_get_next_id(cur).unwrap() {
        assert!(next > cur);
        if next == id {
            found = true;
            break;
        }
        cur = next;
    }
    assert!(found, "map id {id} not listed");
    let again = map_get_fd_by_id(id, 0).unwrap();
    assert_eq!(map_info(again.as_fd()).unwrap().name(), "corebpf_byid");
    assert_eq!(
        map_get_fd_by_id(u32::MAX, 0).unwrap_err().errno(),
        libc::ENOENT
    );
}

#[test]
fn prog_load_info_and_test_run() {
    require_root!();
    let prog = load(prog_type::SOCKET_FILTER, &ret_prog(42), "corebpf_t42");
    let info = prog_info(prog.as_fd()).unwrap();
    assert_eq!(info.type_, prog_type::SOCKET_FILTER);
    assert_eq!(info.name(), "corebpf_t42");
    assert!(info.id > 0);
    assert!(info.is_gpl_compatible());
    assert_eq!(info.xlated_prog_len, 16);
    // The kernel counts verified instructions since 5.16.
    assert!(info.verified_insns >= 2 || !since(5, 16), "{info:?}");
    assert_ne!(info.tag, [0; 8]);

    let mut cur = 0;
    let mut found = false;
    while let Some(next) = prog_get_next_id(cur).unwrap() {
        if next == info.id {
            found = true;
            break;
        }
        cur = next;
    }
    assert!(found);
    let again = prog_get_fd_by_id(info.id).unwrap();
    assert_eq!(prog_info(again.as_fd()).unwrap().tag, info.tag);

    let data = [0xabu8; 64];
    let mut out = [0u8; 64];
    let r = prog_test_run(prog.as_fd(), &data, Some(&mut out), None, None, 10, 0).unwrap();
    assert_eq!(r.retval, 42);
    assert_eq!(r.data_size_out, 64);
    // Output buffer too small: ENOSPC, typed.
    // (The kernel hands the packet to socket filters without its Ethernet header and
    // zeroes that header on the way out.)
    assert_eq!(out[14..], data[14..]);
    let e = prog_test_run(prog.as_fd(), &data, Some(&mut out[..8]), None, None, 1, 0).unwrap_err();
    assert_eq!((e.call, e.errno()), ("BPF_PROG_TEST_RUN", libc::ENOSPC));
}

#[test]
fn verifier_failure_reports_the_log() {
    require_root!();
    // `exit` without setting r0.
    let insns = [asm::exit()];
    let mut log = vec![0u8; 4096];
    let mut attr = ProgLoadAttr::new(prog_type::SOCKET_FILTER, &insns, c"GPL");
    attr.log_level = log_level::LEVEL1;
    attr.log_buf = Some(&mut log);
    let e = prog_load(&mut attr).unwrap_err();
    assert_eq!((e.call, e.errno()), ("BPF_PROG_LOAD", libc::EACCES));
    let text = String::from_utf8_lossy(attr.log()).into_owned();
    assert!(text.contains("R0 !read_ok"), "{text}");
    assert_eq!(attr.log_len, text.len());
    if since(6, 4) {
        // 6.4+ reports the true size (text + NUL).
        assert_eq!(attr.log_true_size, Some(text.len() as u32 + 1));
        assert_eq!(attr.log_written(), Some(text.len() + 1));
    } else {
        // Older kernels don't; the length comes from the NUL.
        assert_eq!(attr.log_true_size, None);
    }

    // Without a log buffer the same failure comes back without a log.
    let mut attr = ProgLoadAttr::new(prog_type::SOCKET_FILTER, &insns, c"GPL");
    assert_eq!(prog_load(&mut attr).unwrap_err().errno(), libc::EACCES);
    assert_eq!((attr.log(), attr.log_true_size), (&[][..], None));
}

#[test]
fn truncated_log_is_enospc_with_true_size() {
    require_root!();
    let fd = create_map(map_type::ARRAY, 4, 8, 1, "corebpf_trunc");
    let insns = counter_prog(fd.as_fd());
    let mut log = vec![0u8; 128];
    let mut attr = ProgLoadAttr::new(prog_type::SOCKET_FILTER, &insns, c"GPL");
    attr.log_level = log_level::LEVEL2;
    attr.log_buf = Some(&mut log);
    let e = prog_load(&mut attr).unwrap_err();
    assert_eq!(e.errno(), libc::ENOSPC);
    assert_eq!(attr.log_len, 127);
    if !since(6, 4) {
        // Before 6.4 the kernel doesn't say how much log it wanted to write.
        assert_eq!(attr.log_true_size, None);
        println!("SKIP: truncated_log_is_enospc_with_true_size: log_true_size is new in 6.4");
        return;
    }
    let true_size = attr.log_true_size.expect("log_true_size on 6.4+");
    assert!(true_size > 128, "{true_size}");
    assert_eq!(attr.log_len, 127);
    // Retrying with the reported size succeeds; the separate-buffer form lets the
    // attributes be reused with a new buffer.
    let mut attr = ProgLoadAttr::new(prog_type::SOCKET_FILTER, &insns, c"GPL");
    for size in [128usize, true_size as usize] {
        let mut buf = vec![0u8; size];
        let r = prog_load_with_log(&mut attr, &mut buf, log_level::LEVEL2);
        assert_eq!(r.is_ok(), size >= true_size as usize, "{size}");
        assert_eq!(attr.log_true_size, Some(true_size));
        assert_eq!(attr.log_len, size.min(true_size as usize) - 1);
        assert!(buf[..attr.log_len].iter().all(|&b| b != 0));
    }
    let mut log = vec![0u8; true_size as usize];
    let mut attr = ProgLoadAttr::new(prog_type::SOCKET_FILTER, &insns, c"GPL");
    attr.log_level = log_level::LEVEL2;
    attr.log_buf = Some(&mut log);
    prog_load(&mut attr).unwrap();
    assert_eq!(attr.log_len + 1, true_size as usize);
}

#[test]
fn prog_map_ids_lists_used_maps() {
    require_root!();
    let map = create_map(map_type::ARRAY, 4, 8, 1, "corebpf_used");
    let prog = load(
        prog_type::SOCKET_FILTER,
        &counter_prog(map.as_fd()),
        "corebpf_uses",
    );
    let map_id = map_info(map.as_fd()).unwrap().id;
    assert_eq!(prog_map_ids(prog.as_fd()).unwrap(), vec![map_id]);
    // And the program really uses it.
    prog_test_run(prog.as_fd(), &[0; 64], None, None, None, 3, 0).unwrap();
    assert_eq!(read_slot0_u64(map.as_fd()), 3);
}

#[test]
fn info_and_map_ids_of_a_program_at_the_kernels_map_limit() {
    require_root!();
    // 64 maps is the verifier's MAX_USED_MAPS: exactly the buffer the first call offers.
    let maps: Vec<OwnedFd> = (0..64)
        .map(|i| create_map(map_type::ARRAY, 4, 8, 1, &format!("corebpf_m{i}")))
        .collect();
    let mut insns: Vec<Insn> = maps
        .iter()
        .flat_map(|m| asm::ld_map_fd(1, m.as_raw_fd()))
        .collect();
    insns.extend([asm::mov_imm(0, 0), asm::exit()]);
    let prog = load(prog_type::SOCKET_FILTER, &insns, "corebpf_many");
    let (info, mut ids) = prog_info_and_map_ids(prog.as_fd()).unwrap();
    assert_eq!(info.id, prog_info(prog.as_fd()).unwrap().id);
    assert_eq!(info.nr_map_ids, 64);
    assert_eq!(info.map_ids, 0, "the buffer's address is not handed back");
    let mut want: Vec<u32> = maps
        .iter()
        .map(|m| map_info(m.as_fd()).unwrap().id)
        .collect();
    ids.sort();
    want.sort();
    assert_eq!(ids, want);
    // A program with no map: no ids, in one call all the same.
    let bare = load(
        prog_type::SOCKET_FILTER,
        &[asm::mov_imm(0, 0), asm::exit()],
        "corebpf_bare",
    );
    let (info, ids) = prog_info_and_map_ids(bare.as_fd()).unwrap();
    assert_eq!((info.nr_map_ids, ids), (0, vec![]));
}

/// A BTF blob with one type: `int` (32-bit signed).
fn int_btf(bits: u32) -> Vec<u8> {
    let mut b = Vec::new();
    let strings = b"\0int\0";
    b.extend(0xeb9fu16.to_ne_bytes()); // magic
    b.extend([1u8, 0]); // version, flags
    b.extend(24u32.to_ne_bytes()); // hdr_len
    b.extend(0u32.to_ne_bytes()); // type_off
    b.extend(16u32.to_ne_bytes()); // type_len
    b.extend(16u32.to_ne_bytes()); // str_off
    b.extend((strings.len() as u32).to_ne_bytes()); // str_len
    b.extend(1u32.to_ne_bytes()); // name_off
    b.extend((1u32 << 24).to_ne_bytes()); // info: BTF_KIND_INT
    b.extend(4u32.to_ne_bytes()); // size
    b.extend(((1u32 << 24) | bits).to_ne_bytes()); // BTF_INT_SIGNED, offset 0, bits
    b.extend(strings);
    b
}

#[test]
fn btf_load_info_and_ids() {
    require_root!();
    let blob = int_btf(32);
    let fd = btf_load(&blob, None, 0).unwrap();
    let info = btf_info(fd.as_fd()).unwrap();
    assert!(info.id > 0);
    assert_eq!(info.btf_size as usize, blob.len());
    assert!(!info.kernel_btf);
    assert_eq!(info.name, "");
    assert_eq!(btf_data(fd.as_fd()).unwrap(), blob);
    let again = btf_get_fd_by_id(info.id).unwrap();
    assert_eq!(btf_info(again.as_fd()).unwrap().id, info.id);
    if !since(5, 11) {
        // Kernel BTF got ids and names in 5.11.
        return;
    }

    // The kernel's own BTF is listed, with its name.
    let mut cur = 0;
    let mut vmlinux = None;
    while let Some(next) = btf_get_next_id(cur).unwrap() {
        cur = next;
        let Ok(fd) = btf_get_fd_by_id(next) else {
            continue;
        };
        let i = btf_info(fd.as_fd()).unwrap();
        if i.kernel_btf && i.name == "vmlinux" {
            vmlinux = Some(i);
            break;
        }
    }
    let vmlinux = vmlinux.expect("vmlinux BTF listed");
    let on_disk = std::fs::metadata("/sys/kernel/btf/vmlinux").unwrap().len();
    assert_eq!(u64::from(vmlinux.btf_size), on_disk);
}

#[test]
fn bad_btf_fails_with_log() {
    require_root!();
    let blob = int_btf(40); // 40 bits do not fit a 4-byte int
    let mut log = vec![0u8; 4096];
    let mut attr = BtfLoadAttr::new(&blob);
    attr.log_level = 1;
    attr.log_buf = Some(&mut log);
    let e = btf_load_attr(&mut attr).unwrap_err();
    assert_eq!((e.call, e.errno()), ("BPF_BTF_LOAD", libc::EINVAL));
    let text = String::from_utf8_lossy(attr.log()).into_owned();
    assert!(!text.is_empty());
    let want = since(6, 4).then_some(text.len() as u32 + 1);
    assert_eq!(attr.log_true_size, want, "{text}");
}

#[test]
fn pin_and_get_on_a_fresh_bpffs() {
    require_root!();
    let fs = Bpffs::new();
    let map = create_map(map_type::ARRAY, 4, 4, 1, "corebpf_pinned");
    let prog = load(prog_type::SOCKET_FILTER, &ret_prog(0), "corebpf_pinp");
    let map_path = fs.dir.path().join("map");
    let prog_path = fs.dir.path().join("prog");
    obj_pin(map.as_fd(), &map_path).unwrap();
    obj_pin(prog.as_fd(), &prog_path).unwrap();
    let e = obj_pin(map.as_fd(), &map_path).unwrap_err();
    assert_eq!((e.call, e.errno()), ("BPF_OBJ_PIN", libc::EEXIST));

    let got = obj_get(&map_path, 0).unwrap();
    assert_eq!(
        map_info(got.as_fd()).unwrap().id,
        map_info(map.as_fd()).unwrap().id
    );
    let got = obj_get(&prog_path, 0).unwrap();
    assert_eq!(
        prog_info(got.as_fd()).unwrap().id,
        prog_info(prog.as_fd()).unwrap().id
    );

    // Read-only access is enforced.
    let ro = obj_get(&map_path, map_flags::RDONLY).unwrap();
    let m = MapAccess::new(ro.as_fd()).unwrap();
    let e = map_update_elem(&m, &0u32.to_ne_bytes(), &1u32.to_ne_bytes(), 0).unwrap_err();
    assert_eq!(e.errno(), libc::EPERM);

    let e = obj_get(&fs.dir.path().join("missing"), 0).unwrap_err();
    assert_eq!((e.call, e.errno()), ("BPF_OBJ_GET", libc::ENOENT));
    // Pinning outside a bpffs fails.
    let plain = tempfile::tempdir().unwrap();
    assert!(obj_pin(map.as_fd(), &plain.path().join("x")).is_err());
}

#[test]
fn tracepoint_perf_event_ioctl_attach_runs_program() {
    require_root!();
    let map = create_map(map_type::ARRAY, 4, 8, 1, "corebpf_tpcnt");
    let prog = load(
        prog_type::TRACEPOINT,
        &counter_prog(map.as_fd()),
        "corebpf_tpioc",
    );
    let event = syscall_tracepoint("getpid", flag::DISABLED, 0);
    perf_event_ioc_set_bpf(event.as_fd(), prog.as_fd()).unwrap();
    perf_event_ioc_enable(event.as_fd()).unwrap();
    for _ in 0..5 {
        getpid_syscall();
    }
    assert!(read_slot0_u64(map.as_fd()) >= 5);
    perf_event_ioc_disable(event.as_fd()).unwrap();
    // A second program on the same event is refused.
    let e = perf_event_ioc_set_bpf(event.as_fd(), prog.as_fd()).unwrap_err();
    assert_eq!(
        (e.call, e.errno()),
        ("PERF_EVENT_IOC_SET_BPF", libc::EEXIST)
    );
}

#[test]
fn tracepoint_link_create_passes_the_cookie() {
    require_root!();
    require_since!(
        "tracepoint_link_create_passes_the_cookie",
        5,
        15,
        "a perf link with a bpf cookie"
    );
    let map = create_map(map_type::ARRAY, 4, 8, 1, "corebpf_cookie");
    let prog = load(
        prog_type::TRACEPOINT,
        &cookie_prog(map.as_fd()),
        "corebpf_tplink",
    );
    let event = syscall_tracepoint("getpid", 0, 0);
    let link = link_create(
        prog.as_fd(),
        LinkTarget::Fd(event.as_fd()),
        attach_type::PERF_EVENT,
        0,
        LinkCreateExtra::PerfEvent {
            bpf_cookie: 0xc0ffee,
        },
    )
    .unwrap();
    getpid_syscall();
    assert_eq!(read_slot0_u64(map.as_fd()), 0xc0ffee);

    let info = link_info(link.as_fd()).unwrap();
    assert_eq!(info.link_type, link_type::PERF_EVENT);
    assert_eq!(info.prog_id, prog_info(prog.as_fd()).unwrap().id);
    let mut cur = 0;
    let mut found = false;
    while let Some(next) = link_get_next_id(cur).unwrap() {
        found |= next == info.id;
        cur = next;
    }
    assert!(found);
    let again = link_get_fd_by_id(info.id).unwrap();
    assert_eq!(link_info(again.as_fd()).unwrap().prog_id, info.prog_id);
}

#[test]
fn raw_tracepoint_open_runs_program() {
    require_root!();
    let map = create_map(map_type::ARRAY, 4, 8, 1, "corebpf_rawcnt");
    let prog = load(
        prog_type::RAW_TRACEPOINT,
        &counter_prog(map.as_fd()),
        "corebpf_rawtp",
    );
    let link = raw_tracepoint_open(Some(c"sys_enter"), prog.as_fd()).unwrap();
    getpid_syscall();
    assert!(read_slot0_u64(map.as_fd()) >= 1);
    assert_eq!(
        link_info(link.as_fd()).unwrap().link_type,
        link_type::RAW_TRACEPOINT
    );
    let e = raw_tracepoint_open(Some(c"no_such_tracepoint_xyz"), prog.as_fd()).unwrap_err();
    assert_eq!(
        (e.call, e.errno()),
        ("BPF_RAW_TRACEPOINT_OPEN", libc::ENOENT)
    );
}

#[test]
fn xdp_link_on_loopback_and_detach() {
    require_root!();
    let prog = load(prog_type::XDP, &ret_prog(2), "corebpf_xdp");
    // No instructions at all: E2BIG, as the kernel reports it.
    let mut attr = ProgLoadAttr::new(prog_type::XDP, &[], c"GPL");
    assert_eq!(prog_load(&mut attr).unwrap_err().errno(), libc::E2BIG);
    let link = link_create(
        prog.as_fd(),
        LinkTarget::Ifindex(1),
        attach_type::XDP,
        0,
        LinkCreateExtra::None,
    )
    .unwrap();
    let info = link_info(link.as_fd()).unwrap();
    assert_eq!(info.link_type, link_type::XDP);
    assert_eq!(info.extra_u32(0), Some(1)); // ifindex
    link_detach(link.as_fd()).unwrap();
    // Detached: the link no longer reports an interface.
    assert_eq!(link_info(link.as_fd()).unwrap().extra_u32(0), Some(0));
}

/// Writes a 400-byte sample of u64 words `seq*100 + i` into the ring buffer.
fn ringbuf_writer(map: BorrowedFd<'_>, seq: i32) -> Vec<Insn> {
    let mut v = Vec::new();
    for i in 0..50i16 {
        v.push(asm::st_dw(10, -400 + 8 * i, seq * 100 + i32::from(i)));
    }
    v.extend(asm::ld_map_fd(1, map.as_raw_fd()));
    v.extend([
        asm::mov_reg(2, 10),
        asm::add_imm(2, -400),
        asm::mov_imm(3, 400),
        asm::mov_imm(4, 0),
        asm::call(asm::RINGBUF_OUTPUT),
        asm::mov_imm(0, 0),
        asm::exit(),
    ]);
    v
}

fn expected_sample(seq: u64) -> Vec<u8> {
    (0..50u64)
        .flat_map(|i| (seq * 100 + i).to_ne_bytes())
        .collect()
}

#[test]
fn ringbuf_records_wrap_contiguously() {
    require_root!();
    let page = page_size() as u32;
    let map = create_map(map_type::RINGBUF, 0, 0, page, "corebpf_rb");
    let mut rb = RingbufMapping::new(map.as_fd(), page as usize).unwrap();
    assert_eq!(rb.data_size(), page as usize);
    assert_eq!(rb.record_at(rb.consumer_pos()), RingbufRecord::Empty);
    let per_record = 408u64;
    let records_to_wrap = page as u64 / per_record + 2;
    for seq in 0..records_to_wrap {
        let prog = load(
            prog_type::SOCKET_FILTER,
            &ringbuf_writer(map.as_fd(), seq as i32),
            "corebpf_rbw",
        );
        prog_test_run(prog.as_fd(), &[0; 64], None, None, None, 1, 0).unwrap();
        assert_eq!(rb.producer_pos(), (seq + 1) * per_record);
        let start = rb.consumer_pos();
        let mut samples = Vec::new();
        assert_eq!(
            rb.consume(|s| {
                samples.push(s.to_vec());
                ControlFlow::Continue(())
            }),
            Some(1)
        );
        assert_eq!(
            samples,
            vec![expected_sample(seq)],
            "record {seq} at {start}"
        );
        assert_eq!(rb.consumer_pos(), rb.producer_pos());
    }
    // The last records crossed the end of the data area.
    assert!(rb.consumer_pos() > u64::from(page));

    // Without consuming, the ring fills up: the producer drops what does not fit.
    let prog = load(
        prog_type::SOCKET_FILTER,
        &ringbuf_writer(map.as_fd(), 7),
        "corebpf_rbw",
    );
    let capacity = page as u64 / per_record;
    for _ in 0..capacity + 3 {
        prog_test_run(prog.as_fd(), &[0; 64], None, None, None, 1, 0).unwrap();
    }
    // A callback can stop early; the sample it stopped on is consumed.
    let mut n = 0u64;
    let mut check = |s: &[u8]| {
        assert_eq!(s, &expected_sample(7)[..]);
        n += 1;
        if n == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    assert_eq!(rb.consume(&mut check), Some(2));
    assert_eq!(rb.consume(&mut check), Some(capacity as usize - 2));
    assert_eq!(n, capacity);
    // A position outside [consumer, producer] is refused.
    assert_eq!(rb.record_at(rb.consumer_pos() + 8), RingbufRecord::Corrupt);
    assert_eq!(rb.record_at(0), RingbufRecord::Corrupt);
}

/// A backlog longer than the consumer's prefetch distance, crossing the end of the data
/// area, comes out complete and in order in one pass.
#[test]
fn ringbuf_long_backlog_is_consumed_in_order() {
    require_root!();
    let page = page_size() as u32;
    let map = create_map(map_type::RINGBUF, 0, 0, 4 * page, "corebpf_rb4");
    let mut rb = RingbufMapping::new(map.as_fd(), 4 * page as usize).unwrap();
    let per_record = 408u64;
    let progs: Vec<OwnedFd> = (0..64)
        .map(|seq| {
            load(
                prog_type::SOCKET_FILTER,
                &ringbuf_writer(map.as_fd(), seq),
                "corebpf_rbw",
            )
        })
        .collect();
    let run = |range: std::ops::Range<usize>| {
        for p in &progs[range] {
            prog_test_run(p.as_fd(), &[0; 64], None, None, None, 1, 0).unwrap();
        }
    };
    // Move the positions past half of the data area, then leave a backlog of 30
    // records (12 KiB, more than two pages) that wraps around its end.
    run(0..24);
    assert_eq!(rb.consume(|_| ControlFlow::Continue(())), Some(24));
    run(24..54);
    let (start, end) = (rb.consumer_pos(), rb.producer_pos());
    assert_eq!(end - start, 30 * per_record);
    assert!(start < u64::from(4 * page) && end > u64::from(4 * page));
    let mut samples = Vec::new();
    let n = rb.consume(|s| {
        samples.push(s.to_vec());
        ControlFlow::Continue(())
    });
    assert_eq!(n, Some(30));
    let want: Vec<Vec<u8>> = (24..54).map(expected_sample).collect();
    assert!(samples == want, "records out of order or corrupt");
    assert_eq!(rb.consumer_pos(), end);
}

#[test]
fn ringbuf_mapping_requires_a_ringbuf() {
    require_root!();
    let map = create_map(map_type::ARRAY, 4, 4, 1, "corebpf_notrb");
    assert_eq!(
        RingbufMapping::new(map.as_fd(), 4096).unwrap_err().errno(),
        0
    );
    let rb = create_map(map_type::RINGBUF, 0, 0, page_size() as u32, "corebpf_rbsz");
    // The size must be the map's.
    let e = RingbufMapping::new(rb.as_fd(), 2 * page_size()).unwrap_err();
    let text = crate::util::Chain(&e).to_string();
    assert!(text.contains("not"), "{text}");
}

#[test]
fn perf_buffer_samples_and_epoll() {
    require_root!();
    // Not getpid: a BPF program attached to a tracepoint (other tests do that) filters
    // the samples of every perf event on it by its return value.
    let event = syscall_tracepoint("getppid", flag::DISABLED, sample_type::RAW);
    let mut perf = PerfMapping::new(event.as_fd(), 2).unwrap();
    assert_eq!(perf.data_size(), 2 * page_size());
    let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).unwrap();
    ep.add(event.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, 5))
        .unwrap();
    let mut events = [EpollEvent::empty(); 4];
    assert_eq!(
        epoll_wait(&ep, &mut events, Some(Duration::ZERO)).unwrap(),
        0
    );

    perf_event_ioc_enable(event.as_fd()).unwrap();
    for _ in 0..3 {
        // SAFETY: getppid has no arguments and no side effects.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    perf_event_ioc_disable(event.as_fd()).unwrap();
    let second = Some(Duration::from_secs(1));
    assert_eq!(epoll_wait(&ep, &mut events, second).unwrap(), 1);
    assert_eq!(events[0].data(), 5);

    let head = perf.data_head();
    let mut pos = perf.data_tail();
    let mut samples = 0;
    while pos < head {
        let mut hdr = [0u8; 8];
        assert!(perf.read(pos, &mut hdr));
        let kind = u32::from_ne_bytes(hdr[..4].try_into().unwrap());
        let size = u16::from_ne_bytes(hdr[6..8].try_into().unwrap()) as u64;
        assert!(size >= 8);
        if kind == record_type::SAMPLE {
            let mut body = vec![0u8; size as usize - 8];
            assert!(perf.read(pos + 8, &mut body));
            // PERF_SAMPLE_RAW: u32 size, then the trace entry: 8 bytes of common fields
            // and `int __syscall_nr`.
            let nr = i32::from_ne_bytes(body[4 + 8..4 + 12].try_into().unwrap());
            assert_eq!(i64::from(nr), libc::SYS_getppid);
            samples += 1;
        }
        pos += size;
    }
    assert_eq!(samples, 3);
    assert!(!perf.read(head, &mut [0u8; 1]));
    perf.set_data_tail(head);
    assert_eq!(perf.data_tail(), head);
    assert!(!perf.read(head - 8, &mut [0u8; 8]));
}

#[test]
fn fd_array_supplies_maps_by_index() {
    require_root!();
    require_since!(
        "fd_array_supplies_maps_by_index",
        5,
        14,
        "BPF_PROG_LOAD's fd_array"
    );
    let other = create_map(map_type::ARRAY, 4, 8, 1, "corebpf_fdidx0");
    let counter = create_map(map_type::ARRAY, 4, 8, 1, "corebpf_fdidx1");
    // The counter program, with `ld_imm64 r1, map` rewritten to fd_array index 1.
    let mut insns = counter_prog(counter.as_fd());
    let ld = insns
        .iter()
        .position(|i| i.code == crate::insn::op::LD_IMM64)
        .unwrap();
    insns[ld] = Insn::new(
        crate::insn::op::LD_IMM64,
        1,
        crate::insn::pseudo::MAP_IDX,
        0,
        1,
    );
    let fds = [other.as_fd(), counter.as_fd()];

    let mut attr = ProgLoadAttr::new(prog_type::SOCKET_FILTER, &insns, c"GPL");
    attr.fd_array = Some(&fds);
    let prog = prog_load(&mut attr).unwrap();
    prog_test_run(prog.as_fd(), &[0; 64], None, None, None, 2, 0).unwrap();
    assert_eq!(read_slot0_u64(counter.as_fd()), 2);
    assert_eq!(read_slot0_u64(other.as_fd()), 0);
    let counter_id = map_info(counter.as_fd()).unwrap().id;
    assert_eq!(prog_map_ids(prog.as_fd()).unwrap(), vec![counter_id]);

    // With fd_array_cnt (6.14+) every map in the array is bound to the program; older
    // kernels refuse the unknown non-zero field: E2BIG where it lies past their whole
    // bpf_attr, EINVAL where inside it but past BPF_PROG_LOAD's fields (6.12).
    let mut attr = ProgLoadAttr::new(prog_type::SOCKET_FILTER, &insns, c"GPL");
    attr.fd_array = Some(&fds);
    attr.bind_fd_array = true;
    if !since(6, 14) {
        let errno = prog_load(&mut attr).unwrap_err().errno();
        assert!([libc::E2BIG, libc::EINVAL].contains(&errno), "{errno}");
        return;
    }
    let prog = prog_load(&mut attr).unwrap();
    let mut ids = prog_map_ids(prog.as_fd()).unwrap();
    ids.sort();
    let mut want = vec![map_info(other.as_fd()).unwrap().id, counter_id];
    want.sort();
    assert_eq!(ids, want);

    // An index outside the array is refused before the kernel could read past it.
    let mut attr = ProgLoadAttr::new(prog_type::SOCKET_FILTER, &insns, c"GPL");
    attr.fd_array = Some(&fds[..1]);
    assert_eq!(prog_load(&mut attr).unwrap_err().errno(), 0);
}

#[test]
fn map_extra_reaches_the_kernel() {
    require_root!();
    require_since!(
        "map_extra_reaches_the_kernel",
        5,
        16,
        "map_extra (bloom filter maps)"
    );
    let fd = map_create(&MapCreateAttr {
        map_type: map_type::BLOOM_FILTER,
        key_size: 0,
        value_size: 8,
        max_entries: 64,
        map_extra: 3, // number of hash functions
        map_name: obj_name("corebpf_bloom"),
        ..Default::default()
    })
    .unwrap();
    let info = map_info(fd.as_fd()).unwrap();
    assert_eq!((info.type_, info.map_extra), (map_type::BLOOM_FILTER, 3));
    let m = MapAccess::new(fd.as_fd()).unwrap();
    map_update_elem(&m, &[], &42u64.to_ne_bytes(), 0).unwrap();
    let mut v = 42u64.to_ne_bytes();
    assert!(map_lookup_elem(&m, &[], &mut v, 0).unwrap()); // "maybe present"
                                                           // Bits above the hash count are rejected: the field is where the kernel reads it.
    let e = map_create(&MapCreateAttr {
        map_type: map_type::BLOOM_FILTER,
        value_size: 8,
        max_entries: 64,
        map_extra: 1 << 40,
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.errno(), libc::EINVAL);
}
