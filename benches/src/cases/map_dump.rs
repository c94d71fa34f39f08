//! Case 12: `corebpf map dump ID` of a 100,000-entry hash map with a struct value,
//! formatted through its BTF, to /dev/null, vs `bpftool map dump id ID` (also BTF-formatted,
//! as JSON-like text), each as a whole process.

use std::process::Command;

use super::{bpftool, corebpf_cli, prog_bytes, run_quiet, CaseResult, Options, Table, Target};
use crate::measure::{self, Metric, Result, System};
use corebpf::{Loader, MapFlags, ObjectSpec};

const ENTRIES: u32 = 100_000;

pub fn run(o: &Options) -> Result<CaseResult> {
    let cli = corebpf_cli(o)?;
    let bpftool = bpftool()?;
    let spec =
        ObjectSpec::parse(&prog_bytes("map_dump.bpf.o")?, "map_dump").map_err(|e| e.to_string())?;
    let obj = Loader::new()
        .set_max_entries("records", ENTRIES)
        .load(&spec)
        .map_err(|e| e.to_string())?;
    let map = obj.map("records").ok_or("no map 'records'")?;
    let mut keys = Vec::with_capacity(ENTRIES as usize * 4);
    let mut values = Vec::with_capacity(ENTRIES as usize * 40);
    for i in 0..ENTRIES {
        keys.extend_from_slice(&i.to_le_bytes());
        let mut v = [0u8; 40];
        v[..4].copy_from_slice(&i.to_le_bytes());
        v[4..8].copy_from_slice(b"task");
        v[12..16].copy_from_slice(&(i * 3).to_le_bytes());
        v[32..36].copy_from_slice(&2u32.to_le_bytes());
        v[36..40].copy_from_slice(&(i & 0xffff).to_le_bytes());
        values.extend_from_slice(&v);
    }
    map.update_batch(&keys, &values, MapFlags::ANY)
        .map_err(|e| e.to_string())?;
    let id = map.info().map_err(|e| e.to_string())?.id.to_string();
    let ours = {
        let (cli, id) = (cli.clone(), id.clone());
        move |sw: &mut measure::Stopwatch| {
            sw.measure(|| run_quiet(Command::new(&cli).args(["map", "dump", "id", &id])))?;
            Ok(1)
        }
    };
    let theirs = {
        let id = id.clone();
        move |sw: &mut measure::Stopwatch| {
            sw.measure(|| run_quiet(Command::new(bpftool).args(["map", "dump", "id", &id])))?;
            Ok(1)
        }
    };
    let mut c = vec![
        System::new("corebpf map dump", ours),
        System::new("bpftool map dump", theirs),
    ];
    let samples = measure::run(&o.plan(Metric::Wall, 0), &mut c)?;
    let table = Table::from_samples(
        "100,000-entry hash, struct value through BTF, to /dev/null",
        "wall time per process",
        &samples,
        Metric::Wall,
        &[(
            "corebpf map dump",
            "bpftool map dump",
            Some(Target {
                text: "≤ 1.0× bpftool's wall time".into(),
                bound: 1.0,
            }),
        )],
    );
    Ok(CaseResult {
        id: 12,
        title: "`corebpf map dump` vs `bpftool map dump` (100,000 entries, BTF)".into(),
        setup: vec![
            format!(
                "corebpf: `{} map dump id ID` (release build).",
                cli.display()
            ),
            "bpftool: `bpftool map dump id ID` (Debian's bpftool; its BTF output).".into(),
            "The map: map_dump.bpf.o's `records` (u32 key, 40-byte struct with nested struct, \
             char array, int array, enum, bitfields) resized to 100,000 entries, all filled. \
             Timed from spawn to exit status, stdout to /dev/null."
                .into(),
        ],
        tables: vec![table],
        notes: vec![],
    })
}
