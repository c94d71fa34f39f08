//! Case 10: `corebpf btf dump --kernel --format c` (a vmlinux.h of the running kernel's
//! BTF) as a whole process vs `bpftool btf dump file /sys/kernel/btf/vmlinux format c`;
//! the raw listings alongside.

use std::process::Command;

use super::{bpftool, corebpf_cli, run_quiet, CaseResult, Options, Table, Target};
use crate::measure::{self, Metric, Result, System};

const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

pub fn run(o: &Options) -> Result<CaseResult> {
    let cli = corebpf_cli(o)?;
    let bpftool = bpftool()?;
    let ours = |format: &'static str| {
        let cli = cli.clone();
        move |sw: &mut measure::Stopwatch| {
            sw.measure(|| {
                run_quiet(Command::new(&cli).args(["btf", "dump", "--kernel", "--format", format]))
            })?;
            Ok(1)
        }
    };
    let theirs = |format: &'static str| {
        move |sw: &mut measure::Stopwatch| {
            sw.measure(|| {
                run_quiet(
                    Command::new(bpftool).args(["btf", "dump", "file", VMLINUX, "format", format]),
                )
            })?;
            Ok(1)
        }
    };
    let mut c = vec![
        System::new("corebpf btf dump --format c", ours("c")),
        System::new("bpftool btf dump format c", theirs("c")),
    ];
    let samples = measure::run(&o.plan(Metric::Wall, 0), &mut c)?;
    let header = Table::from_samples(
        "vmlinux.h: spawn, read the kernel's BTF, write the header to /dev/null, exit",
        "wall time per process",
        &samples,
        Metric::Wall,
        &[(
            "corebpf btf dump --format c",
            "bpftool btf dump format c",
            Some(Target {
                text: "≤ 0.5× bpftool's wall time".into(),
                bound: 0.5,
            }),
        )],
    );
    let mut raw = vec![
        System::new("corebpf btf dump --format raw", ours("raw")),
        System::new("bpftool btf dump format raw", theirs("raw")),
    ];
    let samples = measure::run(&o.plan(Metric::Wall, 0), &mut raw)?;
    let listing = Table::from_samples(
        "Raw listing: one record per type, to /dev/null",
        "wall time per process",
        &samples,
        Metric::Wall,
        &[(
            "corebpf btf dump --format raw",
            "bpftool btf dump format raw",
            None,
        )],
    );
    Ok(CaseResult {
        id: 10,
        title: "`corebpf btf dump --kernel --format c` vs `bpftool btf dump … format c`".into(),
        setup: vec![
            format!(
                "corebpf: `{} btf dump --kernel --format c` (release build), then `--format raw`.",
                cli.display()
            ),
            format!(
                "bpftool: `bpftool btf dump file {VMLINUX} format c` (Debian's bpftool, its own \
                 libbpf), then `format raw`."
            ),
            "Timed from spawn to exit status, stdout to /dev/null; both write the same header \
             (but for enum mode attributes) and the same listing."
                .into(),
        ],
        tables: vec![header, listing],
        notes: vec![],
    })
}
