//! CO-RE on the running kernel: one object, relocated against this kernel and against
//! Debian's 6.1 and 5.10, reads the right fields; offsets are checked with btf-rs, a BTF
//! reader independent of ours. What a kernel has (`task_struct.__state` since 5.14, or
//! `state` before) is read from its BTF, never from its release string.

mod common;

use std::sync::Mutex;

use common::*;
use corebpf::reloc::core::Outcome;
use corebpf::{LoadError, Loader, ObjectSpec};

/// The program records every syscall of this process: tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Run {
    spec: ObjectSpec,
    obj: corebpf::Object,
}

impl Run {
    fn u64(&self, name: &str) -> u64 {
        global_u64(&self.spec, &self.obj, name)
    }
}

/// Loads task_state (relocated against `target`, or the running kernel), attaches it and
/// makes syscalls until it has recorded some.
fn run_task_state(target: Option<&std::path::Path>) -> Run {
    setup();
    let spec = ObjectSpec::from_file(&prog("task_state.bpf.o")).unwrap();
    let mut loader = Loader::new().global("target_tgid", &std::process::id().to_ne_bytes());
    if let Some(t) = target {
        loader = loader.target_btf(t);
    }
    let obj = loader.load(&spec).expect("loading task_state");
    let links = obj.attach_all().expect("attaching task_state");
    assert_eq!(links.len(), 1);
    let run = Run { spec, obj };
    for _ in 0..100 {
        let _ = std::fs::metadata("/");
        if run.u64("hits") > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(run.u64("hits") > 0, "the program never ran");
    drop(links);
    run
}

fn our_thread_ids() -> Vec<u64> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

#[test]
fn task_state_on_the_running_kernel() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let vmlinux = "/sys/kernel/btf/vmlinux";
    let want = TaskState::of(vmlinux);
    let r = run_task_state(None);
    assert_eq!(
        r.u64("has_new_state"),
        u64::from(want.new),
        "task_struct.__state"
    );
    assert_eq!(
        r.u64("has_old_state"),
        u64::from(!want.new),
        "task_struct.state"
    );
    assert_eq!(r.u64("state_offset"), want.offset);
    assert_eq!(r.u64("state_size"), want.size);
    // The task making the syscall is running: TASK_RUNNING is 0.
    assert_eq!(r.u64("state_value"), 0);
    assert_eq!(
        r.u64("pid_offset"),
        offset_by_btf_rs(vmlinux, "task_struct", "pid")
    );
    // The field read through the relocated offset is the id of one of our threads.
    let pid = r.u64("pid_value") as u32 as u64;
    assert!(
        our_thread_ids().contains(&pid),
        "pid_value {pid} is not one of our threads"
    );
}

/// task_state relocated against a kernel BTF fixture, loaded and run here: the
/// offsets it computed are the fixture's.
fn task_state_against(fixture: &std::path::Path, new_state: bool) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let fixture_s = fixture.to_str().unwrap();
    let want = TaskState::of(fixture_s);
    assert_eq!(want.new, new_state, "{fixture_s}");
    let r = run_task_state(Some(fixture));
    assert_eq!(r.u64("has_new_state"), u64::from(new_state));
    assert_eq!(r.u64("has_old_state"), u64::from(!new_state));
    assert_eq!(r.u64("state_offset"), want.offset);
    assert_eq!(r.u64("state_size"), want.size);
    assert_eq!(
        r.u64("pid_offset"),
        offset_by_btf_rs(fixture_s, "task_struct", "pid")
    );
}

#[test]
fn task_state_against_the_6_1_fixture() {
    task_state_against(&btf_6_1(), true);
}

#[test]
fn task_state_against_the_5_10_fixture() {
    task_state_against(&btf_5_10(), false);
}

/// The byte offsets task_state's relocations resolve to against `target` (offline, no
/// kernel involved), by local access; poisoned ones left out.
fn task_state_offsets(target: &corebpf::btf::Btf) -> Vec<(String, u64)> {
    let spec = ObjectSpec::from_file(&prog("task_state.bpf.o")).unwrap();
    let progs = corebpf::reloc::relocate_object(&spec, target);
    let results = progs[0].result.as_ref().expect("relocates");
    results
        .iter()
        .filter(|r| r.kind.name() == "byte_off")
        .filter_map(|r| match r.outcome {
            Outcome::Patched { new, .. } => Some((r.local.clone(), new)),
            Outcome::Poisoned { .. } => None,
        })
        .collect()
}

fn offset_of(offsets: &[(String, u64)], access: &str) -> Option<u64> {
    offsets
        .iter()
        .find(|(local, _)| local.ends_with(access))
        .map(|x| x.1)
}

#[test]
fn task_state_relocates_offline_against_every_kernel_fixture() {
    for (fixture, new_state) in [(btf_6_1(), true), (btf_5_10(), false)] {
        let path = fixture.to_str().unwrap();
        let target = corebpf::btf::kernel::load_btf_file(&fixture).unwrap();
        let offsets = task_state_offsets(&target);
        let want = TaskState::of(path);
        assert_eq!(want.new, new_state, "{path}");
        let pid = offset_by_btf_rs(path, "task_struct", "pid");
        assert_eq!(offset_of(&offsets, "task_struct.pid"), Some(pid), "{path}");
        // The branch for the field the kernel has is relocated, the other poisoned.
        let (kept, poisoned) = want.accesses();
        assert_eq!(offset_of(&offsets, kept), Some(want.offset), "{path}");
        assert_eq!(offset_of(&offsets, poisoned), None, "{path}: {offsets:?}");
    }
}

#[test]
fn the_same_object_relocates_differently_on_the_two_kernels() {
    let running = corebpf::btf::kernel::vmlinux_btf().unwrap();
    let old = corebpf::btf::kernel::load_btf_file(&btf_6_1()).unwrap();
    let on_running = task_state_offsets(&running);
    let on_6_1 = task_state_offsets(&old);
    let vmlinux = "/sys/kernel/btf/vmlinux";
    let fixture = btf_6_1();
    let (want_running, want_6_1) = (
        offset_by_btf_rs(vmlinux, "task_struct", "pid"),
        offset_by_btf_rs(fixture.to_str().unwrap(), "task_struct", "pid"),
    );
    let pid = |v: &[(String, u64)]| offset_of(v, "task_struct.pid");
    assert_eq!(pid(&on_running), Some(want_running), "{on_running:?}");
    assert_eq!(pid(&on_6_1), Some(want_6_1), "{on_6_1:?}");
    // task_struct.pid sits elsewhere in other kernels than in Debian's 6.1: the same
    // object resolves differently there, and identically where the running kernel's
    // layout is that 6.1's (the VM run, whatever its point release).
    if want_running == want_6_1 {
        assert_eq!(pid(&on_running), pid(&on_6_1));
    } else {
        assert_ne!(pid(&on_running), pid(&on_6_1));
    }
}

#[test]
fn a_reached_poisoned_relocation_is_named() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    setup();
    // Against 6.1's BTF, which has no task_struct.state (the running kernel may: 5.10).
    let err = Loader::new()
        .target_btf(btf_6_1())
        .load_file(prog("core_poison.bpf.o"))
        .expect_err("must be refused");
    match &err {
        LoadError::PoisonedRelocation(p) => {
            let (program, local, log) = (&p.program, &p.local, &p.log);
            assert_eq!(program, "read_old_state");
            assert!(
                local.contains("task_struct___old") && local.ends_with(".state"),
                "{local}"
            );
            assert!(log.full().contains("195896080"), "{log}");
        }
        other => panic!("expected a poisoned-relocation error, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("could not be relocated") && text.contains("state"),
        "{text}"
    );
}
