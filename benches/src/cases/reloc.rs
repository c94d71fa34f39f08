//! Case 2: CO-RE relocation of a relocation-heavy object, user-space CPU time.

use std::hint::black_box;

use corebpf::btf::kernel;
use corebpf::reloc::relocate_object;
use corebpf::ObjectSpec;

use super::{prog_bytes, CaseResult, Options, Table, Target};
use crate::libbpf;
use crate::measure::{self, Metric, Result, System};

const OBJECT: &str = "relo_heavy.bpf.o";

/// corebpf: parse, read the kernel BTF, relocate; returns the number of relocations.
fn corebpf_relocate(data: &[u8]) -> Result<usize> {
    let spec = ObjectSpec::parse(data, "relo_heavy").map_err(|e| e.to_string())?;
    let btf = kernel::load_vmlinux_btf().map_err(|e| e.to_string())?;
    let mut n = 0;
    for p in relocate_object(&spec, &btf) {
        n += p
            .result
            .map_err(|e| format!("corebpf: {}: {e}", p.program))?
            .len();
    }
    Ok(n)
}

pub fn run(o: &Options) -> Result<CaseResult> {
    let data = prog_bytes(OBJECT)?;
    let relocations = corebpf_relocate(&data)?;
    if relocations < 500 {
        return Err(format!("{OBJECT} has only {relocations} CO-RE relocations"));
    }
    let mut systems = vec![
        System::new("corebpf", |sw| {
            sw.measure(|| corebpf_relocate(black_box(&data)))?;
            Ok(1)
        }),
        System::new("libbpf", |sw| {
            sw.measure(|| -> Result<()> {
                let mut obj = libbpf::Object::open_mem(black_box(&data), "relo_heavy")?;
                obj.prepare()
            })?;
            Ok(1)
        }),
        System::new("aya", |sw| {
            sw.measure(|| -> Result<()> {
                let mut obj = aya_obj::Object::parse(black_box(&data))
                    .map_err(|e| format!("aya Object::parse: {e:?}"))?;
                let btf =
                    aya::Btf::from_sys_fs().map_err(|e| format!("aya Btf::from_sys_fs: {e}"))?;
                obj.relocate_btf(&btf)
                    .map_err(|e| format!("aya relocate_btf: {e}"))
            })?;
            Ok(1)
        }),
    ];
    let samples = measure::run(&o.plan(Metric::User, 150), &mut systems)?;
    let half = Some(Target {
        text: "≤ 0.5× libbpf's user CPU time".into(),
        bound: 0.5,
    });
    let user = Table::from_samples(
        "Open object + read kernel BTF + CO-RE relocate (user CPU)",
        "user CPU time per iteration (getrusage RUSAGE_THREAD)",
        &samples,
        Metric::User,
        &[("corebpf", "libbpf", half), ("corebpf", "aya", None)],
    );
    let wall = Table::from_samples(
        "The same, wall time",
        "wall time per iteration",
        &samples,
        Metric::Wall,
        &[("corebpf", "libbpf", None), ("corebpf", "aya", None)],
    );

    // The relocation pass alone, against kernel BTF parsed once (libbpf has no API for
    // that: its CO-RE always re-reads the kernel BTF, so it has no row here).
    let spec = ObjectSpec::parse(&data, "relo_heavy").map_err(|e| e.to_string())?;
    let kbtf = kernel::load_vmlinux_btf().map_err(|e| e.to_string())?;
    let aya_btf = aya::Btf::from_sys_fs().map_err(|e| format!("aya: {e}"))?;
    let mut alone = vec![
        System::new("corebpf", |sw| {
            let r = sw.measure(|| relocate_object(black_box(&spec), &kbtf));
            if r.iter().any(|p| p.result.is_err()) {
                return Err("corebpf: relocation failed".into());
            }
            Ok(1)
        }),
        System::new("aya", |sw| {
            let mut obj = aya_obj::Object::parse(&data).map_err(|e| format!("aya: {e}"))?;
            sw.measure(|| obj.relocate_btf(black_box(&aya_btf)))
                .map_err(|e| format!("aya relocate_btf: {e}"))?;
            Ok(1)
        }),
    ];
    let alone = measure::run(&o.plan(Metric::User, 150), &mut alone)?;
    let alone = Table::from_samples(
        "Relocation pass alone, kernel BTF already parsed (user CPU)",
        "user CPU time per pass",
        &alone,
        Metric::User,
        &[("corebpf", "aya", None)],
    );
    Ok(CaseResult {
        id: 2,
        title: format!("CO-RE relocation of `bpf-progs/{OBJECT}` ({relocations} relocations)"),
        setup: vec![
            format!(
                "Input: `bpf-progs/{OBJECT}` in memory: 10 programs, {relocations} CO-RE \
                 relocation records over task_struct, mm_struct, cred, signal_struct, \
                 files_struct, fs_struct, nsproxy, pid, cgroup, kernfs_node, file, path, \
                 dentry, inode, super_block, socket, sock, sock_common, sk_buff, net_device, \
                 vm_area_struct, plus type and enum relocations; target: the running kernel."
            ),
            "corebpf: `ObjectSpec::parse` + `btf::kernel::load_vmlinux_btf()` (fresh) + \
             `reloc::relocate_object(&spec, &btf)`."
                .into(),
            "libbpf: `bpf_object__open_mem` + `bpf_object__prepare` (loads the kernel BTF, \
             relocates; the object has no maps, so prepare's only kernel work is loading the \
             object's BTF, which is system time) + `bpf_object__close`."
                .into(),
            "aya: `aya_obj::Object::parse` + `Btf::from_sys_fs()` + `Object::relocate_btf`.".into(),
        ],
        tables: vec![user, wall, alone],
        notes: vec![],
    })
}
