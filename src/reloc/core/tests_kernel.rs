//! CO-RE against real kernel BTF: the task program against the committed 6.1 BTF and
//! the running kernel's, the work budget on every kernel type, and the timings behind
//! the benchmark (ignored by default).

use object::{Object, ObjectSection};

use super::tests::{fixture, local, run_with};
use super::*;
use crate::btf::ext::BtfExt;
use CoreReloKind::*;
// ------------------------------------------------------------------------- the running kernel

/// Byte offset of member `name` of struct `sid`, searching anonymous members as C does.
fn walk_member(btf: &Btf, sid: u32, name: &str) -> Option<u64> {
    let t = btf.type_by_id(btf.skip_mods_and_typedefs(sid).ok()?).ok()?;
    for m in t.members() {
        let n = btf.str_at(m.name_off).ok()?;
        if n == name {
            return Some(u64::from(m.bit_offset) / 8);
        }
        if n.is_empty() {
            if let Some(off) = walk_member(btf, m.type_id, name) {
                return Some(u64::from(m.bit_offset) / 8 + off);
            }
        }
    }
    None
}

/// Checks the task program against a kernel BTF, computing every expected offset by
/// walking the kernel's own members.
fn check_task(vmlinux: &Btf) {
    let task = vmlinux
        .find_by_name_kind("task_struct", Kind::Struct)
        .unwrap();
    let obj = local();
    let r = run_with(
        &obj,
        "core/task",
        &Targets::vmlinux(vmlinux),
        &mut CandidateCache::new(),
    );
    let pid = walk_member(vmlinux, task, "pid").unwrap();
    r.patched("struct task_struct.pid", FieldByteOffset, 4, pid);
    match walk_member(vmlinux, task, "__state") {
        Some(off) => {
            let s = r.patched("struct task_struct.__state", FieldByteOffset, 0, off);
            assert_eq!(
                s.target,
                Some(TargetRef {
                    module: None,
                    type_id: task
                })
            );
        }
        None => {
            r.poisoned("struct task_struct.__state", FieldByteOffset);
        }
    }
    match walk_member(vmlinux, task, "state") {
        // Kernels before 5.14 still have "state" (a long).
        Some(off) => {
            r.patched("struct task_struct___old.state", FieldByteOffset, 0, off);
        }
        None => {
            let why = r.poisoned("struct task_struct___old.state", FieldByteOffset);
            assert!(
                why.starts_with("no field state in struct task_struct of the target"),
                "{why}"
            );
            r.patched("struct task_struct___old.state", FieldExists, 1, 0);
        }
    }
}

#[test]
fn task_struct_against_committed_kernel_btf() {
    // btf-fixtures/vmlinux-*.btf: real kernels' BTF, the same on every machine.
    let dir = fixture("..");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.starts_with("vmlinux-") && name.ends_with(".btf") {
            let vmlinux = Btf::from_file(&dir.join(&name)).unwrap();
            check_task(&vmlinux);
            // 5.14+: __state exists and state doesn't; before, the other way round.
            let task = vmlinux
                .find_by_name_kind("task_struct", Kind::Struct)
                .unwrap();
            let release = &name["vmlinux-".len()..];
            let mut version = release.split(|c: char| !c.is_ascii_digit());
            let version: (u32, u32) = (
                version.next().unwrap().parse().unwrap(),
                version.next().unwrap().parse().unwrap(),
            );
            let renamed = version >= (5, 14);
            assert_eq!(
                walk_member(&vmlinux, task, "__state").is_some(),
                renamed,
                "{name}"
            );
            assert_eq!(
                walk_member(&vmlinux, task, "state").is_some(),
                !renamed,
                "{name}"
            );
            n += 1;
        }
    }
    assert!(n > 0, "no kernel BTF fixture in {}", dir.display());
}

#[test]
fn task_struct_against_the_running_kernel() {
    let Ok(data) = std::fs::read("/sys/kernel/btf/vmlinux") else {
        eprintln!("no /sys/kernel/btf/vmlinux: skipped");
        return;
    };
    check_task(&Btf::parse(data).unwrap());
}

#[test]
fn kernel_types_match_themselves_within_the_work_budget() {
    let mut kernels: Vec<Btf> = Vec::new();
    if let Ok(data) = std::fs::read("/sys/kernel/btf/vmlinux") {
        kernels.push(Btf::parse(data).unwrap());
    }
    for name in [
        "../vmlinux-6.1.0-56-amd64.btf",
        "../vmlinux-5.10.0-30-amd64.btf",
    ] {
        kernels.push(Btf::from_file(&fixture(name)).unwrap());
    }
    assert!(!kernels.is_empty());
    for vmlinux in &kernels {
        check_kernel_types_match(vmlinux);
    }
}

fn check_kernel_types_match(vmlinux: &Btf) {
    for name in [
        "task_struct",
        "sk_buff",
        "mm_struct",
        "file",
        "inode",
        "sock",
        "net_device",
        "bpf_prog",
    ] {
        let Some(id) = vmlinux.find_by_name_kind(name, Kind::Struct) else {
            continue;
        };
        let mut work = calc::Work::new(calc::TYPE_WORK);
        assert!(
            compat::types_match_with(vmlinux, id, vmlinux, id, &mut work).unwrap(),
            "{name}"
        );
        let used = calc::TYPE_WORK - work.0;
        eprintln!("types_match {name}: {used} steps");
        assert!(used < calc::TYPE_WORK / 8, "{name}: {used}");
        assert!(compat::types_are_compat(vmlinux, id, vmlinux, id).unwrap());
    }
}

/// Timing against the running kernel (run with `--ignored --nocapture`, release mode).
#[test]
#[ignore]
fn bench_task_relocation() {
    let Ok(data) = std::fs::read("/sys/kernel/btf/vmlinux") else {
        return;
    };
    let t0 = std::time::Instant::now();
    let vmlinux = Btf::parse(data).unwrap();
    let t1 = std::time::Instant::now();
    eprintln!("parse {:?}", t1 - t0);
    let obj = local();
    let p = &obj.progs["core/task"];
    let targets = Targets::vmlinux(&vmlinux);
    let mut cache = CandidateCache::new();
    let t4 = std::time::Instant::now();
    let mut insns = p.insns.clone();
    relocate(&obj.btf, &targets, &mut insns, &p.relos, &mut cache).unwrap();
    let t5 = std::time::Instant::now();
    let n = 10_000;
    for _ in 0..n {
        let mut insns = p.insns.clone();
        relocate(&obj.btf, &targets, &mut insns, &p.relos, &mut cache).unwrap();
    }
    let t6 = std::time::Instant::now();
    eprintln!(
        "first relocate {:?}, then {:?} per program of {} relos (cached)",
        t5 - t4,
        (t6 - t5) / n,
        p.relos.len()
    );
    let mut best = std::time::Duration::MAX;
    for _ in 0..200 {
        let t = std::time::Instant::now();
        let mut insns = p.insns.clone();
        relocate(
            &obj.btf,
            &targets,
            &mut insns,
            &p.relos,
            &mut CandidateCache::new(),
        )
        .unwrap();
        best = best.min(t.elapsed());
    }
    eprintln!("uncached (scan + search): best {best:?} per program");
}

/// Relocates every program of `$BENCH_OBJ` against the running kernel, the way a loader
/// would (one cache per object), and reports the time per object. Also prints the
/// records as C for a libbpf comparison harness.
#[test]
#[ignore]
fn bench_object() {
    let Ok(path) = std::env::var("BENCH_OBJ") else {
        return;
    };
    let Ok(data) = std::fs::read("/sys/kernel/btf/vmlinux") else {
        return;
    };
    let vmlinux = Btf::parse(data).unwrap();
    let data = std::fs::read(&path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let sec = |n: &str| file.section_by_name(n).and_then(|s| s.data().ok()).unwrap();
    let btf = Btf::parse(sec(".BTF").to_vec()).unwrap();
    let ext = BtfExt::parse(sec(".BTF.ext"), &btf).unwrap();
    let progs: Vec<(Vec<Insn>, Vec<CoreRelo>)> = ext
        .core_relos
        .iter()
        .map(|s| {
            let insns = Insn::decode_all(sec(&s.section)).unwrap();
            let relos = s
                .records
                .iter()
                .map(|r| CoreRelo {
                    insn_off: r.insn_off / 8,
                    ..*r
                })
                .collect();
            (insns, relos)
        })
        .collect();
    let n_relos: usize = progs.iter().map(|p| p.1.len()).sum();
    if std::env::var("PRINT_C").is_ok() {
        for (_, relos) in &progs {
            for r in relos {
                println!(
                    "{{ {}, {}, {}, {} }},",
                    r.insn_off * 8,
                    r.type_id,
                    r.access_str_off,
                    r.kind
                );
            }
        }
    }
    let targets = Targets::vmlinux(&vmlinux);
    if std::env::var("PRINT_RESULTS").is_ok() {
        let mut cache = CandidateCache::new();
        for (insns, relos) in &progs {
            let mut insns = insns.clone();
            match relocate(&btf, &targets, &mut insns, relos, &mut cache) {
                Ok(v) => v.iter().for_each(|r| println!("{r:?}")),
                Err(e) => println!("error: {e}"),
            }
        }
    }
    let mut best = std::time::Duration::MAX;
    for _ in 0..50 {
        let t = std::time::Instant::now();
        let mut cache = CandidateCache::new();
        for (insns, relos) in &progs {
            let mut insns = insns.clone();
            relocate(&btf, &targets, &mut insns, relos, &mut cache).unwrap();
        }
        best = best.min(t.elapsed());
    }
    let mut cache = CandidateCache::new();
    let mut wbest = std::time::Duration::MAX;
    for _ in 0..200 {
        let t = std::time::Instant::now();
        for (insns, relos) in &progs {
            let mut insns = insns.clone();
            relocate(&btf, &targets, &mut insns, relos, &mut cache).unwrap();
        }
        wbest = wbest.min(t.elapsed());
    }
    eprintln!(
        "corebpf: {best:?} per object ({} programs, {n_relos} relocations), warm {wbest:?}",
        progs.len()
    );
}
