//! Case 11: `corebpf prog list` with 500 programs loaded vs `bpftool prog list`, both
//! as whole processes writing to /dev/null.

use std::process::Command;

use corebpf::{Loader, ObjectSpec};

use super::{bpftool, corebpf_cli, prog_bytes, run_quiet, CaseResult, Options, Table, Target};
use crate::measure::{self, Metric, Result, System};

/// Programs loaded (in this process) while the commands run.
const PROGRAMS: usize = 500;

pub fn run(o: &Options) -> Result<CaseResult> {
    let cli = corebpf_cli(o)?;
    let bpftool = bpftool()?;
    let data = prog_bytes("cg_dev.bpf.o")?;
    let spec = ObjectSpec::parse(&data, "cg_dev").map_err(|e| e.to_string())?;
    let mut objects = Vec::new();
    let mut loaded = 0;
    while loaded < PROGRAMS {
        let obj = Loader::new().load(&spec).map_err(|e| e.to_string())?;
        loaded += obj.programs().len().max(1);
        objects.push(obj);
    }
    let mut c = vec![
        System::new("corebpf prog list", move |sw: &mut measure::Stopwatch| {
            sw.measure(|| run_quiet(Command::new(&cli).args(["prog", "list"])))?;
            Ok(1)
        }),
        System::new("bpftool prog list", move |sw: &mut measure::Stopwatch| {
            sw.measure(|| run_quiet(Command::new(bpftool).args(["prog", "list"])))?;
            Ok(1)
        }),
    ];
    let samples = measure::run(&o.plan(Metric::Wall, 0), &mut c)?;
    drop(objects);
    let table = Table::from_samples(
        format!("{loaded} programs loaded by this process (and whatever else the host holds)"),
        "wall time per process",
        &samples,
        Metric::Wall,
        &[(
            "corebpf prog list",
            "bpftool prog list",
            Some(Target {
                text: "≤ 1.0× bpftool's wall time".into(),
                bound: 1.0,
            }),
        )],
    );
    Ok(CaseResult {
        id: 11,
        title: "`corebpf prog list` vs `bpftool prog list`, 500 programs loaded".into(),
        setup: vec![
            format!("{loaded} cgroup_device programs (cg_dev.bpf.o) loaded by the bench process."),
            "Timed from spawn to exit status, stdout to /dev/null; both print id, type, name, \
             tag, load time, uid, sizes, map ids, BTF id and holding pids."
                .into(),
        ],
        tables: vec![table],
        notes: vec![],
    })
}
