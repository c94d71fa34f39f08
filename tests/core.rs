//! CO-RE on the running kernel: one object, relocated against this kernel and against
//! Debian's 6.1, reads the right fields; offsets are checked with btf-rs, a BTF reader
//! independent of ours.

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
    let r = run_task_state(None);
    assert_eq!(
        r.u64("has_new_state"),
        1,
        "this kernel has task_struct.__state"
    );
    assert_eq!(
        r.u64("has_old_state"),
        0,
        "this kernel has no task_struct.state"
    );
    assert_eq!(
        r.u64("state_offset"),
        offset_by_btf_rs(vmlinux, "task_struct", "__state")
    );
    assert_eq!(r.u64("state_size"), 4);
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

#[test]
fn task_state_against_the_6_1_fixture() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let fixture = btf_6_1();
    let fixture_s = fixture.to_str().unwrap();
    let r = run_task_state(Some(&fixture));
    assert_eq!(r.u64("has_new_state"), 1, "6.1 has task_struct.__state");
    assert_eq!(r.u64("has_old_state"), 0);
    assert_eq!(
        r.u64("state_offset"),
        offset_by_btf_rs(fixture_s, "task_struct", "__state")
    );
    assert_eq!(
        r.u64("pid_offset"),
        offset_by_btf_rs(fixture_s, "task_struct", "pid")
    );
}

#[test]
fn the_same_object_relocates_differently_on_the_two_kernels() {
    let spec = ObjectSpec::from_file(&prog("task_state.bpf.o")).unwrap();
    let running = corebpf::btf::kernel::vmlinux_btf().unwrap();
    let old = corebpf::btf::kernel::load_btf_file(&btf_6_1()).unwrap();
    let offsets = |target: &corebpf::btf::Btf| -> Vec<(String, u64)> {
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
    };
    let on_running = offsets(&running);
    let on_6_1 = offsets(&old);
    let pid = |v: &[(String, u64)]| v.iter().find(|(l, _)| l.ends_with(".pid")).map(|x| x.1);
    let vmlinux = "/sys/kernel/btf/vmlinux";
    let fixture = btf_6_1();
    let (want_running, want_6_1) = (
        offset_by_btf_rs(vmlinux, "task_struct", "pid"),
        offset_by_btf_rs(fixture.to_str().unwrap(), "task_struct", "pid"),
    );
    assert_eq!(pid(&on_running), Some(want_running), "{on_running:?}");
    assert_eq!(pid(&on_6_1), Some(want_6_1), "{on_6_1:?}");
    // task_struct.pid moved after 6.1: the same object resolves differently on another
    // kernel, and identically when the running kernel is that 6.1 (the VM run).
    let release = nix::sys::utsname::uname()
        .unwrap()
        .release()
        .to_string_lossy()
        .into_owned();
    if release == "6.1.0-56-amd64" {
        assert_eq!(pid(&on_running), pid(&on_6_1));
    } else {
        assert_ne!(pid(&on_running), pid(&on_6_1), "running {release} vs 6.1");
    }
}

#[test]
fn a_reached_poisoned_relocation_is_named() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    setup();
    let err = Loader::new()
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
