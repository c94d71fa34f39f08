//! Program kinds beyond the probes: iterators, perf events, writable raw tracepoints,
//! freplace, syscall programs, kprobe sessions and tail calls, each attached (from its
//! section name where libbpf auto-attaches it) and driven by the event it serves: a
//! read of the iterator, CPU time, a test run, the extended program's own runs, a
//! syscall. struct_ops has its own file (tests/struct_ops.rs), links theirs
//! (tests/links.rs).
//!
//! Each test first asks `common::feature::require` whether the kernel can run it (see
//! tests/common/feature.rs); objects count only this process's threads where other
//! processes could trigger the same event.

mod common;

use std::io::Read;

use common::feature::{self, Feature};
use common::*;
use corebpf::program::{Iter, IterScope};
use corebpf::{Link, LinkError, Loader, MapFlags, Object, ObjectSpec, ProgramError};

/// Everything one pass of the iterator link prints.
fn read_iter(link: &Link) -> String {
    let mut text = String::new();
    link.open_iter()
        .expect("BPF_ITER_CREATE")
        .read_to_string(&mut text)
        .expect("reading the iterator");
    text
}

/// This process's name as the kernel keeps it (at most 15 bytes).
fn own_comm() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .expect("reading /proc/self/comm")
        .trim_end()
        .to_string()
}

#[test]
fn iter_task_lists_this_process_from_its_section_name() {
    const T: &str = "iter_task_lists_this_process_from_its_section_name";
    let Some(()) = feature::require(T, Feature::Iter) else {
        return;
    };
    let (_, obj) = load_only("iter.bpf.o", &["dump_task"], &[]);
    let p = obj.program("dump_task").unwrap();
    assert!(p.can_auto_attach(), "libbpf auto-attaches iter/task");
    let link = p.attach().expect("attaching iter/task");
    assert_eq!(link.description(), "iter task");
    let text = read_iter(&link);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("pid comm"), "{text}");
    let ours = format!("{} {}", std::process::id(), own_comm());
    assert!(
        lines.any(|l| l == ours),
        "no line '{ours}' in the iterator's output:\n{text}"
    );
    // Each pass is a new walk from the start.
    assert!(read_iter(&link).starts_with("pid comm\n"));
    let info = link.info().unwrap();
    assert_eq!(info.type_name(), "iter");
    assert_eq!(info.prog_id, p.info().unwrap().id);
    assert_eq!(
        info.kind,
        corebpf::link::LinkKind::Iter {
            target: "task".into(),
            param: corebpf::link::IterParam::Task { tid: 0, pid: 0 },
        }
    );
}

#[test]
fn iter_pinned_reads_as_a_file_each_open_a_new_walk() {
    const T: &str = "iter_pinned_reads_as_a_file_each_open_a_new_walk";
    let Some(()) = feature::require(T, Feature::Iter) else {
        return;
    };
    let (_, obj) = load_only("iter.bpf.o", &["dump_pids"], &[]);
    let mut link = Iter::try_from(obj.program("dump_pids").unwrap())
        .unwrap()
        .attach()
        .unwrap();
    let path = std::path::PathBuf::from(format!("/sys/fs/bpf/corebpf_iter_{}", std::process::id()));
    link.pin(&path).expect("pinning the iterator link");
    let ours = format!("pid {}", std::process::id());
    for _ in 0..2 {
        let text = std::fs::read_to_string(&path).expect("reading the pinned iterator");
        assert!(text.lines().any(|l| l == ours), "{ours} not in:\n{text}");
    }
    link.unpin().unwrap();
    assert!(!path.exists());
}

#[test]
fn iter_map_elem_walks_the_map_given_at_attach() {
    const T: &str = "iter_map_elem_walks_the_map_given_at_attach";
    let Some(()) = feature::require(T, Feature::IterMapElem) else {
        return;
    };
    let (_, obj) = load_only("iter.bpf.o", &["dump_elems"], &[]);
    let elems = obj.map("elems").unwrap();
    for (k, v) in [(1u32, 10u64), (2, 20), (7, 70)] {
        elems
            .update(&k.to_ne_bytes(), &v.to_ne_bytes(), MapFlags::ANY)
            .unwrap();
    }
    let iter = Iter::try_from(obj.program("dump_elems").unwrap()).unwrap();
    // A map element iterator without its map is refused by the kernel.
    let e = iter.attach().unwrap_err();
    assert!(matches!(e, ProgramError::Attach { .. }), "{e:?}");
    let link = iter.attach_map(elems).unwrap();
    let mut lines: Vec<String> = read_iter(&link).lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(lines, ["1=10", "2=20", "7=70"]);
    match link.info().unwrap().kind {
        corebpf::link::LinkKind::Iter {
            target,
            param: corebpf::link::IterParam::Map { map_id },
        } => {
            assert_eq!(target, "bpf_map_elem");
            assert_eq!(map_id, elems.info().unwrap().id);
        }
        other => panic!("unexpected link info {other:?}"),
    }
}

#[test]
fn iter_bpf_map_lists_this_objects_map() {
    const T: &str = "iter_bpf_map_lists_this_objects_map";
    let Some(()) = feature::require(T, Feature::Iter) else {
        return;
    };
    let (_, obj) = load_only("iter.bpf.o", &["dump_maps"], &[]);
    let link = obj.program("dump_maps").unwrap().attach().unwrap();
    let map = obj.map("elems").unwrap().info().unwrap();
    let want = format!("{} {}", map.id, map.name());
    let text = read_iter(&link);
    assert!(text.lines().any(|l| l == want), "no '{want}' in:\n{text}");
}

#[test]
fn iter_task_file_lists_a_file_this_process_opened() {
    const T: &str = "iter_task_file_lists_a_file_this_process_opened";
    let Some(()) = feature::require(T, Feature::Iter) else {
        return;
    };
    let pid = std::process::id() as i32;
    let (_, obj) = load_only(
        "iter.bpf.o",
        &["dump_files"],
        &[("target_tgid", pid.to_ne_bytes().to_vec())],
    );
    let link = obj.program("dump_files").unwrap().attach().unwrap();
    let file = std::fs::File::open("/proc/self/status").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file).to_string();
    let text = read_iter(&link);
    assert!(text.lines().any(|l| l == fd), "fd {fd} not in:\n{text}");
}

/// `BPF_LINK_UPDATE` on a live iterator link: the next walk runs the new program;
/// naming the wrong old program is refused (`EPERM`) and changes nothing.
#[test]
fn update_program_swaps_a_live_iterator_links_program() {
    const T: &str = "update_program_swaps_a_live_iterator_links_program";
    let Some(()) = feature::require(T, Feature::Iter) else {
        return;
    };
    let (_, obj) = load_only("iter.bpf.o", &["dump_task", "dump_pids"], &[]);
    let (tasks, pids) = (
        obj.program("dump_task").unwrap(),
        obj.program("dump_pids").unwrap(),
    );
    let link = tasks.attach().unwrap();
    assert!(read_iter(&link).starts_with("pid comm\n"));
    link.update_program(pids, Some(tasks))
        .expect("swapping dump_task for dump_pids");
    let text = read_iter(&link);
    let ours = format!("pid {}", std::process::id());
    assert!(!text.starts_with("pid comm\n"), "{text}");
    assert!(text.lines().any(|l| l == ours), "{text}");
    assert_eq!(link.info().unwrap().prog_id, pids.info().unwrap().id);
    // The link runs dump_pids now: expecting dump_task is refused.
    let e = link.update_program(tasks, Some(tasks)).unwrap_err();
    match &e {
        LinkError::Update {
            program, source, ..
        } => {
            assert_eq!(program, "dump_task");
            assert_eq!(source.errno(), libc::EPERM);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(link.info().unwrap().prog_id, pids.info().unwrap().id);
    // Without an expected old program it swaps back.
    link.update_program(tasks, None).unwrap();
    assert!(read_iter(&link).starts_with("pid comm\n"));
}

#[test]
fn iter_scoped_to_this_process() {
    const T: &str = "iter_scoped_to_this_process";
    let Some(()) = feature::require(T, Feature::Iter) else {
        return;
    };
    if !feature::parse_version(&feature::kernel_release()).is_some_and(|v| v >= (6, 1)) {
        feature::skip(T, "task iterators take a pid since 6.1");
        return;
    }
    let (_, obj) = load_only("iter.bpf.o", &["dump_pids"], &[]);
    let iter = Iter::try_from(obj.program("dump_pids").unwrap()).unwrap();
    let pid = std::process::id();
    let link = iter.attach_scoped(IterScope::Process(pid)).unwrap();
    assert_eq!(read_iter(&link), format!("pid {pid}\n"));
    assert!(matches!(
        link.info().unwrap().kind,
        corebpf::link::LinkKind::Iter {
            param: corebpf::link::IterParam::Task { tid: 0, pid: p },
            ..
        } if p == pid
    ));
}

/// Per-CPU sample counts of perf_event.bpf.o's `samples` (one u64 slot per possible
/// CPU).
fn samples_per_cpu(obj: &Object) -> Vec<u64> {
    let v = obj
        .map("samples")
        .unwrap()
        .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
        .unwrap()
        .expect("an array always has key 0");
    v.chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect()
}

/// Burns CPU on this thread for about `ms` milliseconds of its own run time.
fn spin(ms: u64) {
    let start = std::time::Instant::now();
    let mut x = 0u64;
    while start.elapsed() < std::time::Duration::from_millis(ms) {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
    }
}

fn online_cpus() -> Vec<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let mut cpus = Vec::new();
    for part in text.trim().split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        cpus.extend(lo.parse::<usize>().unwrap()..=hi.parse::<usize>().unwrap());
    }
    cpus
}

/// A software CPU clock sampled on every CPU (one link per CPU): every online CPU
/// gets samples (the clock ticks whether the CPU is busy or idle); dropping the
/// links stops them.
#[test]
fn perf_event_samples_the_cpu_clock_on_every_cpu() {
    use corebpf::program::{PerfEvent, PerfEventConfig, Sample};
    setup();
    let (spec, obj) = load_only("perf_event.bpf.o", &["count_samples"], &[]);
    let p = obj.program("count_samples").unwrap();
    assert!(
        !p.can_auto_attach(),
        "libbpf does not auto-attach perf_event"
    );
    let prog = PerfEvent::try_from(p).unwrap();
    // A sample every millisecond of CPU clock.
    let config = PerfEventConfig::cpu_clock(Sample::Period(1_000_000));
    let links = prog
        .attach_all_cpus(config)
        .expect("attaching on every CPU");
    let cpus = online_cpus();
    assert_eq!(links.len(), cpus.len());
    // Bounded: a broken attach fails here instead of hanging.
    let mut counts = samples_per_cpu(&obj);
    for _ in 0..200 {
        if cpus.iter().all(|&c| counts[c] > 0) {
            break;
        }
        spin(10);
        counts = samples_per_cpu(&obj);
    }
    for &c in &cpus {
        assert!(counts[c] > 0, "no samples on CPU {c}: {counts:?}");
    }
    assert_eq!(global_u64(&spec, &obj, "last_period"), 1_000_000);
    if links[0].link_fd().is_some() {
        let info = links[0].info().unwrap();
        assert_eq!(info.type_name(), "perf_event");
        if feature::parse_version(&feature::kernel_release()).is_some_and(|v| v >= (6, 6)) {
            // The type is the event's PMU: PERF_TYPE_SOFTWARE (1), or on kernels that
            // give the CPU clock a PMU of its own, that PMU's dynamic type (6.18: 6).
            match info.kind {
                corebpf::link::LinkKind::PerfEvent(corebpf::link::PerfEventLink::Event {
                    perf_type,
                    config: 0,
                    cookie: 0,
                }) => assert!(perf_type == 1 || perf_type > 5, "type {perf_type}"),
                other => panic!("unexpected link info {other:?}"),
            }
        }
    }
    drop(links);
    let stopped = settled(|| samples_per_cpu(&obj));
    spin(50);
    assert_eq!(
        samples_per_cpu(&obj),
        stopped,
        "samples after the links dropped"
    );
}

/// A task clock on the calling thread at a given frequency: samples come while this
/// thread runs.
#[test]
fn perf_event_samples_the_calling_threads_task_clock() {
    use corebpf::program::perf_event::sw_config;
    use corebpf::program::{PerfEvent, PerfEventConfig, PerfEventScope, Sample};
    setup();
    let (_, obj) = load_only("perf_event.bpf.o", &["count_samples"], &[]);
    let prog = PerfEvent::try_from(obj.program("count_samples").unwrap()).unwrap();
    // About 1000 samples per second of this thread's run time.
    let config = PerfEventConfig::software(sw_config::TASK_CLOCK, Sample::Frequency(1000));
    let link = prog
        .attach(config, PerfEventScope::CallingThread)
        .expect("attaching to the calling thread");
    assert!(
        link.description().contains("calling thread"),
        "{}",
        link.description()
    );
    let total = |obj: &Object| samples_per_cpu(obj).iter().sum::<u64>();
    for _ in 0..100 {
        if total(&obj) > 0 {
            break;
        }
        spin(20);
    }
    assert!(total(&obj) > 0, "no task clock samples while spinning");
}

/// The chain stage0 → stage1 → stage2 through prog_array slots filled from user
/// space: the digits of `result` say which stages ran, in which order, and where the
/// chain ended (an empty slot: the caller goes on).
#[test]
fn tail_calls_run_the_chain_in_slot_order() {
    setup();
    let (spec, obj) = load_only(
        "tailcall.bpf.o",
        &["stage0", "stage1", "stage2"],
        &[("target_tid", tid().to_ne_bytes().to_vec())],
    );
    let stages = obj.map("stages").unwrap();
    let slot = |i: u32, prog: &str| {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&obj.program(prog).unwrap().fd());
        stages
            .update(&i.to_ne_bytes(), &(fd as u32).to_ne_bytes(), MapFlags::ANY)
            .unwrap_or_else(|e| panic!("slot {i}: {}", chain(&e)));
    };
    slot(1, "stage1");
    slot(2, "stage2");
    // Only stage0 names a tracepoint; the others run only as tail calls.
    assert!(!obj.program("stage1").unwrap().can_auto_attach());
    let _link = obj.program("stage0").unwrap().attach().unwrap();
    let getppid = || {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() };
    };
    getppid();
    assert_eq!(global_u64(&spec, &obj, "runs"), 1);
    assert_eq!(global_u64(&spec, &obj, "result"), 1230);
    // Cut the chain after stage1.
    assert!(stages.delete(&2u32.to_ne_bytes()).unwrap());
    getppid();
    assert_eq!(global_u64(&spec, &obj, "result"), 120);
    // Slot 1 now holds stage2 (which goes on to slot 3, empty): stage1 is skipped.
    slot(1, "stage2");
    getppid();
    assert_eq!(global_u64(&spec, &obj, "result"), 130);
    assert_eq!(global_u64(&spec, &obj, "runs"), 3);
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
#[cfg_attr(feature = "derive", derive(corebpf::Pod))]
struct SyscallArgs {
    a: u32,
    b: u32,
    sum: u32,
    map_fd: i32,
    max_entries: u32,
}

/// A `syscall` program run with a context: it writes back into the context and
/// creates a map whose fd lands in this process.
#[test]
#[cfg(feature = "derive")]
fn syscall_program_writes_its_context_and_creates_a_map() {
    use corebpf::program::SyscallProgram;
    const T: &str = "syscall_program_writes_its_context_and_creates_a_map";
    let Some(()) = feature::require(T, Feature::SyscallProgram) else {
        return;
    };
    let (_, obj) = load_only("syscall.bpf.o", &["add_and_create"], &[]);
    let p = obj.program("add_and_create").unwrap();
    assert!(!p.can_auto_attach());
    assert!(matches!(
        p.attach().unwrap_err(),
        ProgramError::NoAutoAttach { .. }
    ));
    let prog = SyscallProgram::try_from(p).unwrap();
    let mut args = SyscallArgs {
        a: 20,
        b: 22,
        map_fd: -1,
        max_entries: 5,
        ..Default::default()
    };
    assert_eq!(prog.run_with(&mut args).expect("running the program"), 7);
    assert_eq!(args.sum, 42);
    assert!(
        args.map_fd >= 0,
        "bpf_sys_bpf(BPF_MAP_CREATE) answered {}",
        args.map_fd
    );
    let fd = args.map_fd;
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
    assert_eq!(link.to_string_lossy(), "anon_inode:bpf-map");
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
    for want in ["map_type:\t2", "value_size:\t8", "max_entries:\t5"] {
        assert!(
            fdinfo.lines().any(|l| l == want),
            "{want} not in:\n{fdinfo}"
        );
    }
    nix::unistd::close(fd).unwrap();
    // Another context, another map.
    args.max_entries = 9;
    prog.run_with(&mut args).unwrap();
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", args.map_fd)).unwrap();
    assert!(fdinfo.lines().any(|l| l == "max_entries:\t9"), "{fdinfo}");
    nix::unistd::close(args.map_fd).unwrap();
}

/// A writable raw tracepoint (`raw_tp.w/bpf_test_finish`) rewrites the error code of
/// this thread's test runs: the run fails with the errno it wrote until the link goes.
#[test]
fn writable_raw_tracepoint_rewrites_the_test_runs_error() {
    setup();
    let (spec, obj) = load_only(
        "raw_tp_w.bpf.o",
        &["fail_test_runs", "accept_all"],
        &[("target_tid", tid().to_ne_bytes().to_vec())],
    );
    let filter = obj.program("accept_all").unwrap();
    let packet = [0u8; 64];
    // The run sees the packet after its Ethernet header.
    let len = packet.len() as u32 - 14;
    assert_eq!(filter.test_run(&packet, 1).unwrap(), len);
    let w = obj.program("fail_test_runs").unwrap();
    assert!(w.can_auto_attach(), "libbpf auto-attaches raw_tp.w");
    let link = w.attach().expect("attaching raw_tp.w/bpf_test_finish");
    assert_eq!(link.description(), "raw tracepoint bpf_test_finish");
    let e = filter.test_run(&packet, 1).unwrap_err();
    match &e {
        ProgramError::Sys { source, .. } => assert_eq!(source.errno(), libc::EBADMSG),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(global_u64(&spec, &obj, "finishes"), 1);
    drop(link);
    assert_eq!(filter.test_run(&packet, 1).unwrap(), len);
    assert_eq!(global_u64(&spec, &obj, "finishes"), 1);
}

/// `freplace/choose` replaces the global function `choose()` of a loaded program: the
/// target's result changes while the link lives, and comes back when it goes.
#[test]
fn freplace_replaces_a_global_function_of_a_loaded_program() {
    use corebpf::program::FReplace;
    use corebpf::LoadError;
    const T: &str = "freplace_replaces_a_global_function_of_a_loaded_program";
    let Some(()) = feature::require(T, Feature::Freplace) else {
        return;
    };
    let me = tid().to_ne_bytes().to_vec();
    let (tspec, target) = load_only("freplace_target.bpf.o", &["caller"], &[("target_tid", me)]);
    let caller = target.program("caller").unwrap();
    let _caller_link = caller.attach().unwrap();
    let getppid = || {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() };
    };
    getppid();
    assert_eq!(global_u64(&tspec, &target, "seen"), 42);

    // Without its target program, the loader says what is missing.
    let e = Loader::new()
        .load_file(prog("freplace_ext.bpf.o"))
        .unwrap_err();
    assert!(
        matches!(&e, LoadError::AttachTarget { detail, .. } if detail.contains("Loader::attach_target")),
        "{e}"
    );
    let espec = ObjectSpec::from_file(&prog("freplace_ext.bpf.o")).unwrap();
    let ext = Loader::new()
        .attach_target("new_choose", Some(caller.fd()), "choose")
        .load(&espec)
        .unwrap_or_else(|e| panic!("loading the extension: {}", chain(&e)));
    let p = ext.program("new_choose").unwrap();
    assert!(p.can_auto_attach(), "libbpf auto-attaches freplace");
    let link = p.attach().expect("attaching the extension");
    getppid();
    assert_eq!(global_u64(&tspec, &target, "seen"), 4100);
    assert_eq!(global_u64(&espec, &ext, "replaced_runs"), 1);
    let info = link.info().unwrap();
    assert_eq!(info.type_name(), "tracing");
    match info.kind {
        // Tracing links report their target since 5.13; before, the kernel leaves it 0.
        corebpf::link::LinkKind::Tracing { target_obj_id, .. } if kernel_at_least((5, 13)) => {
            assert_eq!(
                target_obj_id,
                caller.info().unwrap().id,
                "the target program's id"
            );
        }
        corebpf::link::LinkKind::Tracing { target_obj_id, .. } => {
            assert_eq!(target_obj_id, 0, "a target id before 5.13");
        }
        other => panic!("unexpected {other:?}"),
    }
    drop(link);
    getppid();
    assert_eq!(global_u64(&tspec, &target, "seen"), 42);
    assert_eq!(global_u64(&espec, &ext, "replaced_runs"), 1);

    // The same extension, attached to the function of another instance of the target.
    let me = tid().to_ne_bytes().to_vec();
    let (t2spec, target2) = load_only("freplace_target.bpf.o", &["caller"], &[("target_tid", me)]);
    let caller2 = target2.program("caller").unwrap();
    let _caller2_link = caller2.attach().unwrap();
    let link = FReplace::try_from(p)
        .unwrap()
        .attach_to(caller2.fd(), "choose")
        .expect("attaching to a second target");
    getppid();
    assert_eq!(global_u64(&t2spec, &target2, "seen"), 4100);
    assert_eq!(global_u64(&tspec, &target, "seen"), 42);
    let e = FReplace::try_from(p)
        .unwrap()
        .attach_to(caller2.fd(), "no_such_function")
        .unwrap_err();
    assert!(matches!(e, ProgramError::BadTarget { .. }), "{e}");
    drop(link);
}

/// `Loader::attach_target` naming a program the object lacks is refused before
/// anything is created, as `Loader::autoload` is.
#[test]
fn attach_target_for_a_missing_program_is_refused() {
    let e = Loader::new()
        .attach_target("no_such_program", None, "choose")
        .load_file(prog("freplace_ext.bpf.o"))
        .unwrap_err();
    assert!(
        matches!(&e, corebpf::LoadError::NoSuchProgram { name } if name == "no_such_program"),
        "{e}"
    );
}

/// A kprobe session on do_unlinkat: one program sees the entry and the return of
/// each of this thread's calls, with a cookie carried from one to the other.
#[test]
fn kprobe_session_sees_entry_and_return_of_each_call() {
    const T: &str = "kprobe_session_sees_entry_and_return_of_each_call";
    let Some(()) = feature::require(T, Feature::KprobeSession) else {
        return;
    };
    let (spec, obj) = load_only(
        "kprobe_session.bpf.o",
        &["session_unlinkat"],
        &[("target_tid", tid().to_ne_bytes().to_vec())],
    );
    let p = obj.program("session_unlinkat").unwrap();
    assert!(p.can_auto_attach(), "libbpf auto-attaches kprobe.session");
    let link = p.attach().expect("attaching kprobe.session/do_unlinkat");
    assert_eq!(link.description(), "kprobe.session do_unlinkat");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let e = std::fs::remove_file(&missing).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    let g = |name| global_u64(&spec, &obj, name) as i64;
    assert_eq!((g("entries"), g("returns")), (1, 1));
    assert_eq!(
        g("cookie_at_return"),
        libc::AT_FDCWD as i64,
        "dfd, from the entry run"
    );
    assert_eq!(g("ret_seen"), -libc::ENOENT as i64);
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"x").unwrap();
    std::fs::remove_file(&victim).unwrap();
    assert_eq!((g("entries"), g("returns"), g("ret_seen")), (2, 2, 0));
    assert!(matches!(
        link.info().unwrap().kind,
        corebpf::link::LinkKind::KprobeMulti { ref addrs, .. } if addrs.len() == 1
    ));
    drop(link);
    let _ = std::fs::remove_file(&missing);
    assert_eq!((g("entries"), g("returns")), (2, 2));
}
