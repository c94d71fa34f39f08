//! Case 7: cold start — `corebpf load hello.bpf.o` as a whole process vs
//! `bpftool prog loadall` of the same object.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{prog_path, CaseResult, Options, Table};
use crate::measure::{self, Metric, Result, System};

const OBJECT: &str = "hello.bpf.o";

fn run_quiet(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("spawning {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn remove_pins(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

pub fn run(o: &Options) -> Result<CaseResult> {
    let cli = match &o.corebpf_cli {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("corebpf"),
    };
    if !cli.is_file() {
        return Err(format!(
            "{} is missing: build it with `cargo build --release --package corebpf-cli`",
            cli.display()
        ));
    }
    let bpftool = "bpftool";
    if Command::new(bpftool).arg("version").output().is_err() {
        return Err("bpftool is not installed (apt-get install bpftool)".into());
    }
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
