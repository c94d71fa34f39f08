//! Case 3: full load of a multi-program object into the kernel.

use std::collections::HashMap;
use std::hint::black_box;

use corebpf::{Loader, ObjectSpec};

use super::{prog_bytes, CaseResult, Options, Table, Target};
use crate::measure::{self, Metric, Result, System};
use crate::{aya_glue, libbpf};

const OBJECT: &str = "multi.bpf.o";

/// Attach targets of the BTF-typed programs (`tp_btf/NAME` → NAME), which aya's
/// program loads take as an argument.
pub fn btf_targets(spec: &ObjectSpec) -> HashMap<String, String> {
    spec.programs
        .iter()
        .filter_map(|p| {
            let (kind, target) = p.section.split_once('/')?;
            matches!(
                kind,
                "tp_btf" | "fentry" | "fexit" | "lsm" | "fentry.s" | "fexit.s"
            )
            .then(|| (p.name.clone(), target.to_string()))
        })
        .collect()
}

pub fn run(o: &Options) -> Result<CaseResult> {
    let data = prog_bytes(OBJECT)?;
    let spec = ObjectSpec::parse(&data, "multi").map_err(|e| e.to_string())?;
    let programs = spec.programs.len();
    let maps = spec.maps.len();
    let targets = btf_targets(&spec);
    let expect = |who: &str, n: usize| -> Result<()> {
        if n != programs {
            return Err(format!("{who} loaded {n} programs of {programs}"));
        }
        Ok(())
    };
    let mut systems = vec![
        System::new("corebpf", |sw| {
            let n = sw.measure(|| -> Result<usize> {
                let spec =
                    ObjectSpec::parse(black_box(&data), "multi").map_err(|e| e.to_string())?;
                let obj = Loader::new().load(&spec).map_err(|e| e.to_string())?;
                Ok(obj.programs().len())
            })?;
            expect("corebpf", n)?;
            Ok(1)
        }),
        System::new("corebpf (BTF re-read)", |sw| {
            let n = sw.measure(|| -> Result<usize> {
                let spec =
                    ObjectSpec::parse(black_box(&data), "multi").map_err(|e| e.to_string())?;
                let obj = Loader::new()
                    .target_btf("/sys/kernel/btf/vmlinux")
                    .load(&spec)
                    .map_err(|e| e.to_string())?;
                Ok(obj.programs().len())
            })?;
            expect("corebpf (BTF re-read)", n)?;
            Ok(1)
        }),
        System::new("libbpf", |sw| {
            let n = sw.measure(|| -> Result<usize> {
                let mut obj = libbpf::Object::open_mem(black_box(&data), "multi")?;
                obj.load()?;
                Ok(obj.loaded_programs())
            })?;
            expect("libbpf", n)?;
            Ok(1)
        }),
        System::new("aya", |sw| {
            let n = sw.measure(|| -> Result<usize> {
                let btf =
                    aya::Btf::from_sys_fs().map_err(|e| format!("aya Btf::from_sys_fs: {e}"))?;
                Ok(aya_glue::load_all(black_box(&data), &btf, &targets)?.programs)
            })?;
            expect("aya", n)?;
            Ok(1)
        }),
    ];
    let samples = measure::run(&o.plan(Metric::Wall, 100), &mut systems)?;
    let one = Some(Target {
        text: "≤ 1.0× libbpf's wall time".into(),
        bound: 1.0,
    });
    let wall = Table::from_samples(
        "Open + load (BTF, maps, every program) + close",
        "wall time per load",
        &samples,
        Metric::Wall,
        &[
            ("corebpf", "libbpf", one),
            ("corebpf (BTF re-read)", "libbpf", None),
            ("corebpf", "aya", None),
        ],
    );
    let cpu = Table::from_samples(
        "The same, CPU time of the loading thread (user+sys; the verifier runs in it)",
        "thread CPU time per load",
        &samples,
        Metric::Cpu,
        &[("corebpf", "libbpf", None), ("corebpf", "aya", None)],
    );
    let user = Table::from_samples(
        "The same, user CPU time only (the loader's own work)",
        "user CPU time per load",
        &samples,
        Metric::User,
        &[("corebpf", "libbpf", None), ("corebpf", "aya", None)],
    );
    Ok(CaseResult {
        id: 3,
        title: format!("Full load of `bpf-progs/{OBJECT}` ({programs} programs, {maps} maps)"),
        setup: vec![
            format!(
                "Input: `bpf-progs/{OBJECT}` in memory: {programs} programs of 11 kinds, {maps} \
                 maps (12 BTF-defined of 12 types, .rodata, .data, .bss), CO-RE reads and \
                 tp_btf programs (so every system needs the kernel BTF). Nothing is attached; \
                 everything is closed at the end of each iteration, inside the timing."
            ),
            "corebpf: `ObjectSpec::parse` + `Loader::new().load(&spec)`; the kernel BTF is \
             parsed once per process and shared (`btf::kernel::vmlinux_btf`). \
             `corebpf (BTF re-read)` sets `Loader::target_btf(\"/sys/kernel/btf/vmlinux\")`, \
             which reads the kernel BTF again on every load, as libbpf does."
                .into(),
            "libbpf: `bpf_object__open_mem` + `bpf_object__load` + `bpf_object__close`.".into(),
            "aya: `Btf::from_sys_fs()` + `EbpfLoader::new().btf(Some(&btf)).load(data)` + \
             `load()` on every program (tp_btf ones with their target and the BTF)."
                .into(),
        ],
        tables: vec![wall, cpu, user],
        notes: vec![],
    })
}
