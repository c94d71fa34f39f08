//! Case 13: `corebpf gen min_core_btf` vs `bpftool gen min_core_btf` for relo_heavy
//! against the running kernel's BTF, each a whole process.

use std::process::Command;

use super::{bpftool, corebpf_cli, prog_path, run_quiet, CaseResult, Options, Table, Target};
use crate::measure::{self, Metric, Result, System};

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";
const OBJECT: &str = "relo_heavy.bpf.o";

pub fn run(o: &Options) -> Result<CaseResult> {
    let cli = corebpf_cli(o)?;
    let bpftool = bpftool()?;
    let obj = prog_path(OBJECT);
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let ours_out = dir.join(format!("corebpf-bench-{pid}-min.btf"));
    let theirs_out = dir.join(format!("corebpf-bench-{pid}-bpftool-min.btf"));
    let ours = {
        let (cli, obj, out) = (cli.clone(), obj.clone(), ours_out.clone());
        move |sw: &mut measure::Stopwatch| {
            sw.measure(|| {
                run_quiet(
                    Command::new(&cli)
                        .args(["gen", "min_core_btf", VMLINUX])
                        .arg(&out)
                        .arg(&obj),
                )
            })?;
            Ok(1)
        }
    };
    let theirs = {
        let (obj, out) = (obj.clone(), theirs_out.clone());
        move |sw: &mut measure::Stopwatch| {
            sw.measure(|| {
                run_quiet(
                    Command::new(bpftool)
                        .args(["gen", "min_core_btf", VMLINUX])
                        .arg(&out)
                        .arg(&obj),
                )
            })?;
            Ok(1)
        }
    };
    let mut systems = vec![
        System::new("corebpf gen min_core_btf", ours),
        System::new("bpftool gen min_core_btf", theirs),
    ];
    let samples = measure::run(&o.plan(Metric::Wall, 0), &mut systems);
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let sizes = format!(
        "Output: corebpf {} bytes, bpftool {} bytes, from {} bytes of vmlinux BTF.",
        size(&ours_out),
        size(&theirs_out),
        size(std::path::Path::new(VMLINUX))
    );
    let _ = std::fs::remove_file(&ours_out);
    let _ = std::fs::remove_file(&theirs_out);
    let samples = samples?;
    let table = Table::from_samples(
        "Minimal BTF for relo_heavy: spawn, read vmlinux BTF and the object, write OUT, exit",
        "wall time per process",
        &samples,
        Metric::Wall,
        &[(
            "corebpf gen min_core_btf",
            "bpftool gen min_core_btf",
            Some(Target {
                text: "≤ 0.5× bpftool's wall time".into(),
                bound: 0.5,
            }),
        )],
    );
    Ok(CaseResult {
        id: 13,
        title: "`corebpf gen min_core_btf` vs `bpftool gen min_core_btf`".into(),
        setup: vec![
            format!(
                "corebpf: `{} gen min_core_btf {VMLINUX} OUT bpf-progs/{OBJECT}` (release build).",
                cli.display()
            ),
            format!(
                "bpftool: `bpftool gen min_core_btf {VMLINUX} OUT bpf-progs/{OBJECT}` (Debian's \
                 bpftool, its own libbpf)."
            ),
            "Timed from spawn to exit status; OUT in the temporary directory, replaced each round."
                .into(),
        ],
        tables: vec![table],
        notes: vec![sizes],
    })
}
