//! Case 6: peak RSS of a process that loads an object with CO-RE against the kernel BTF.
//!
//! Each sample is a fresh process: one of the minimal `rss-SYSTEM` binaries built next
//! to this one (`src/bin/rss_*.rs`), which loads the object with that system, reports
//! its memory counters (VmHWM: peak RSS of the exec'd image) and exits.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::{prog_path, CaseResult, Options, Quantity, Ratio, Row, Table, Target};
use crate::measure::{self, summarize, Result};

const SYSTEMS: &[&str] = &["corebpf", "libbpf", "aya", "baseline"];
const OBJECTS: &[&str] = &["hello.bpf.o", "task_state.bpf.o"];

fn binary(system: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let p = exe.with_file_name(format!("rss-{system}"));
    if !p.is_file() {
        return Err(format!(
            "{} is missing: build with `cargo build --release -p corebpf-bench --features peers`",
            p.display()
        ));
    }
    Ok(p)
}

/// A child's peak RSS (its VmHWM, KiB) and its RssAnon/RssFile at exit.
struct ChildMemory {
    maxrss: f64,
    anon: f64,
    file: f64,
}

fn kb_field(out: &str, key: &str) -> f64 {
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

/// Spawns one child and returns its memory.
fn spawn_child(system: &str, object: &str) -> Result<ChildMemory> {
    let mut child = Command::new(binary(system)?)
        .arg(prog_path(object))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawning rss-{system}: {e}"))?;
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 writes it and the status.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child; we reap it here (the Child handle is never waited on).
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    std::mem::forget(child);
    if rc != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("rss-{system} {object} failed (status {status:#x})"));
    }
    Ok(ChildMemory {
        // Not ru.ru_maxrss: for a child spawned from this (large) process it counts the
        // pages shared between fork and exec. VmHWM belongs to the exec'd image only.
        maxrss: kb_field(&out, "VmHWM="),
        anon: kb_field(&out, "RssAnon="),
        file: kb_field(&out, "RssFile="),
    })
}

pub fn run(o: &Options) -> Result<CaseResult> {
    let rounds = o.rounds.min(15);
    let mut tables = Vec::new();
    let mut notes = Vec::new();
    for object in OBJECTS {
        for s in SYSTEMS {
            spawn_child(s, object)?; // warm-up: page cache, kernel BTF in memory
        }
        let mut values = vec![Vec::new(); SYSTEMS.len()];
        let mut anon = vec![Vec::new(); SYSTEMS.len()];
        let mut file = vec![Vec::new(); SYSTEMS.len()];
        for round in 0..rounds {
            for k in 0..SYSTEMS.len() {
                let i = (round + k) % SYSTEMS.len();
                let m = spawn_child(SYSTEMS[i], object)?;
                values[i].push(m.maxrss);
                anon[i].push(m.anon);
                file[i].push(m.file);
            }
        }
        for (i, s) in SYSTEMS.iter().enumerate() {
            notes.push(format!(
                "`{object}`, {s}: at exit RssAnon {:.0} KiB (heap, stacks), RssFile {:.0} KiB (the binary's and libraries' touched pages), medians.",
                summarize(&anon[i]).median,
                summarize(&file[i]).median
            ));
        }
        let rows: Vec<Row> = SYSTEMS
            .iter()
            .zip(&values)
            .map(|(s, v)| Row {
                system: s.to_string(),
                values: v.clone(),
                iters: 1,
            })
            .collect();
        let target = Some(Target {
            text: "≤ libbpf's peak RSS".into(),
            bound: 1.0,
        });
        let ratios = vec![
            Ratio {
                label: "corebpf / libbpf".into(),
                values: measure::paired_ratios(&values[0], &values[1]),
                target,
            },
            Ratio {
                label: "corebpf / aya".into(),
                values: measure::paired_ratios(&values[0], &values[2]),
                target: None,
            },
        ];
        tables.push(Table {
            title: format!("Peak RSS of a process loading `bpf-progs/{object}`"),
            quantity: Quantity::Memory,
            metric: "peak RSS (VmHWM) of the child process".into(),
            rows,
            ratios,
        });
    }
    Ok(CaseResult {
        id: 6,
        title: "Peak RSS of a process that loads an object against the kernel's BTF".into(),
        setup: vec![
            format!(
                "Each sample is a new process: `rss-SYSTEM OBJECT`, a minimal binary per \
                 system (benches/src/bin/), which loads the object (every program, maps, \
                 the kernel BTF as the loader decides), prints its memory counters and \
                 exits; peak RSS is the child's VmHWM at exit (not `wait4`'s `ru_maxrss`, \
                 which also counts the parent's pages shared between fork and exec). \
                 {rounds} interleaved rounds. \
                 `baseline` only reads the object: the floor of a Rust process."
            ),
            "`hello.bpf.o` has no CO-RE relocations (libbpf does not read the kernel BTF for \
             it); `task_state.bpf.o` is the CO-RE variant (task_struct field relocations), \
             for which every system reads /sys/kernel/btf/vmlinux."
                .into(),
            "corebpf: `Loader::new().load_file(path)`; libbpf: `bpf_object__open_file` + \
             `bpf_object__load`; aya: `Btf::from_sys_fs()` + `EbpfLoader` + every program's `load()`."
                .into(),
        ],
        tables,
        notes,
    })
}
