//! Case 1: open and index the running kernel's vmlinux BTF, then resolve 100 type names.

use std::collections::HashSet;
use std::ffi::CString;
use std::hint::black_box;

use corebpf::btf::{kernel, Kind};

use super::{CaseResult, Options, Table, Target};
use crate::libbpf;
use crate::measure::{self, Metric, Result, System};

/// 100 struct names spread evenly over the kernel's type ids, each with the id its first
/// STRUCT of that name has (what every reader's by-name lookup must return).
fn pick_names() -> Result<Vec<(String, u32)>> {
    let btf = kernel::load_vmlinux_btf().map_err(|e| e.to_string())?;
    let mut seen = HashSet::new();
    let mut all = Vec::new();
    for t in btf.types() {
        if t.kind != Kind::Struct || t.name_off == 0 {
            continue;
        }
        let name = btf.name_of(&t).map_err(|e| e.to_string())?;
        if seen.insert(name.to_string()) {
            all.push((name.to_string(), t.id));
        }
    }
    if all.len() < 100 {
        return Err(format!(
            "only {} named structs in the kernel BTF",
            all.len()
        ));
    }
    let step = all.len() as f64 / 100.0;
    Ok((0..100)
        .map(|i| all[(i as f64 * step + step / 2.0) as usize].clone())
        .collect())
}

pub fn run(o: &Options) -> Result<CaseResult> {
    let names = pick_names()?;
    let cnames: Vec<CString> = names
        .iter()
        .map(|(n, _)| CString::new(n.as_str()).unwrap())
        .collect();
    let want: Vec<u32> = names.iter().map(|(_, id)| *id).collect();

    let check = |who: &str, got: &[Option<u32>]| -> Result<()> {
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            if *g != Some(*w) {
                return Err(format!(
                    "{who}: `{}` resolved to {g:?}, expected {w}",
                    names[i].0
                ));
            }
        }
        Ok(())
    };

    let mut systems = vec![
        System::new("corebpf", |sw| {
            let got = sw.measure(|| -> Result<Vec<Option<u32>>> {
                let btf = kernel::load_vmlinux_btf().map_err(|e| e.to_string())?;
                Ok(names
                    .iter()
                    .map(|(n, _)| btf.find_by_name_kind(black_box(n), Kind::Struct))
                    .collect())
            })?;
            check("corebpf", &got)?;
            Ok(1)
        }),
        System::new("libbpf", |sw| {
            let got = sw.measure(|| -> Result<Vec<Option<u32>>> {
                let btf = libbpf::Btf::vmlinux()?;
                Ok(cnames
                    .iter()
                    .map(|n| btf.find_by_name_kind(black_box(n), libbpf::BTF_KIND_STRUCT))
                    .collect())
            })?;
            check("libbpf", &got)?;
            Ok(1)
        }),
        System::new("aya", |sw| {
            let got = sw.measure(|| -> Result<Vec<Option<u32>>> {
                let btf =
                    aya::Btf::from_sys_fs().map_err(|e| format!("aya Btf::from_sys_fs: {e}"))?;
                Ok(names
                    .iter()
                    .map(|(n, _)| {
                        btf.id_by_type_name_kind(black_box(n), aya_obj::btf::BtfKind::Struct)
                            .ok()
                    })
                    .collect())
            })?;
            check("aya", &got)?;
            Ok(1)
        }),
    ];
    let samples = measure::run(&o.plan(Metric::Wall, 20), &mut systems)?;
    let half = Some(Target {
        text: "≤ 0.5× libbpf's time".into(),
        bound: 0.5,
    });
    let table = Table::from_samples(
        "Open + index vmlinux BTF + resolve 100 struct names",
        "wall time per iteration",
        &samples,
        Metric::Wall,
        &[("corebpf", "libbpf", half), ("corebpf", "aya", None)],
    );
    let cpu = Table::from_samples(
        "The same, thread CPU time",
        "thread CPU time (user+sys) per iteration",
        &samples,
        Metric::Cpu,
        &[("corebpf", "libbpf", None), ("corebpf", "aya", None)],
    );
    Ok(CaseResult {
        id: 1,
        title: "Kernel BTF: open, index, resolve 100 type names".into(),
        setup: vec![
            format!(
                "Input: /sys/kernel/btf/vmlinux; 100 STRUCT names spread evenly over its type ids \
                 (first `{}`, last `{}`); every system must return the same ids.",
                names[0].0,
                names[99].0
            ),
            "corebpf: `btf::kernel::load_vmlinux_btf()` (fresh, not the process-wide cache) + \
             `Btf::find_by_name_kind(name, Kind::Struct)` ×100."
                .into(),
            "libbpf: `btf__load_vmlinux_btf()` + `btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT)` ×100 + `btf__free`.".into(),
            "aya: `Btf::from_sys_fs()` + `Btf::id_by_type_name_kind(name, BtfKind::Struct)` ×100.".into(),
        ],
        tables: vec![table, cpu],
        notes: vec![],
    })
}
