//! Case 7: cold start — `corebpf load hello.bpf.o` as a whole process vs
//! `bpftool prog loadall` of the same object.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{bpftool, corebpf_cli, prog_path, run_quiet, CaseResult, Options, Table};
use crate::measure::{self, Metric, Result, System};

const OBJECT: &str = "hello.bpf.o";

fn remove_pins(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

pub fn run(o: &Options) -> Result<CaseResult> {
    let cli = corebpf_cli(o)?;
    let bpftool = bpftool()?;
    let object = prog_path(OBJECT);
    let pin_root = PathBuf::from(format!("/sys/fs/bpf/corebpf-bench-{}", std::process::id()));
    remove_pins(&pin_root);
    let pin_c = pin_root.join("corebpf");
    let pin_b = pin_root.join("bpftool");

    let mut systems = vec![
        System::new("corebpf load", |sw| {
            sw.measure(|| run_quiet(Command::new(&cli).arg("load").arg(&object)))?;
            Ok(1)
        }),
        System::new("corebpf load --pin", |sw| {
            let r = sw.measure(|| {
                run_quiet(
                    Command::new(&cli)
                        .arg("load")
                        .arg(&object)
                        .arg("--pin")
                        .arg(&pin_c),
                )
            });
            remove_pins(&pin_c);
            r.map(|()| 1)
        }),
        System::new("bpftool prog loadall", |sw| {
            let r = sw.measure(|| {
                run_quiet(
                    Command::new(bpftool)
                        .args(["prog", "loadall"])
                        .arg(&object)
                        .arg(&pin_b),
                )
            });
            remove_pins(&pin_b);
            r.map(|()| 1)
        }),
    ];
    std::fs::create_dir_all(&pin_root).map_err(|e| {
        format!(
            "creating {}: {e} (is bpffs mounted at /sys/fs/bpf?)",
            pin_root.display()
        )
    })?;
    let samples = measure::run(&o.plan(Metric::Wall, 0), &mut systems);
    remove_pins(&pin_root);
    let samples = samples?;
    let wall = Table::from_samples(
        "Whole process: spawn, load hello.bpf.o, exit",
        "wall time per process",
        &samples,
        Metric::Wall,
        &[
            ("corebpf load", "bpftool prog loadall", None),
            ("corebpf load --pin", "bpftool prog loadall", None),
        ],
    );
    Ok(CaseResult {
        id: 7,
        title: "Cold start: `corebpf load hello.bpf.o` vs `bpftool prog loadall`".into(),
        setup: vec![
            format!("corebpf: `{} load bpf-progs/{OBJECT}` (release build; prints one line per program and map).", cli.display()),
            "corebpf --pin: the same with `--pin DIR` (pins programs and maps, like bpftool pins \
             programs); the pins are removed after each run, untimed."
                .into(),
            "bpftool: `bpftool prog loadall bpf-progs/hello.bpf.o DIR` (Debian's bpftool, its own \
             libbpf; it must pin, so DIR is removed after each run, untimed)."
                .into(),
            "Timed from spawn to exit status, stdout to /dev/null.".into(),
        ],
        tables: vec![wall],
        notes: vec![],
    })
}
