//! Case 5: map I/O on a 100,000-entry hash map, per element and in batches.

use std::hint::black_box;
use std::os::fd::AsRawFd;

use corebpf::map::{HashMap, MapFlags};
use corebpf::{Loader, ObjectSpec};

use super::{prog_bytes, CaseResult, Options, Table, Target};
use crate::measure::{self, Metric, Result, System};
use crate::{aya_glue, libbpf};

const OBJECT: &str = "ringbuf_bench.bpf.o";
const ENTRIES: u32 = 100_000;
/// Entries per BPF_MAP_LOOKUP_BATCH call, the same for every system.
const BATCH: u32 = 4096;

fn value(key: u32) -> u64 {
    key as u64 * 3 + 1
}

/// Σ value(k) over all keys: what every full read must add up to.
fn expected_sum() -> u64 {
    (0..ENTRIES).map(value).sum()
}

pub fn run(o: &Options) -> Result<CaseResult> {
    let data = prog_bytes(OBJECT)?;
    let spec = ObjectSpec::parse(&data, "ringbuf_bench").map_err(|e| e.to_string())?;
    let obj = Loader::new().load(&spec).map_err(|e| e.to_string())?;
    let map = obj.map("big").ok_or("no map `big`")?;
    let typed: HashMap<u32, u64> = map
        .try_into()
        .map_err(|e: corebpf::MapError| e.to_string())?;
    for k in 0..ENTRIES {
        typed
            .insert(&k, &value(k), MapFlags::ANY)
            .map_err(|e| e.to_string())?;
    }
    let fd = map.fd().as_raw_fd();
    let aya_map = aya_glue::hash_map(map.fd())?;
    let want = expected_sum();
    let check = |who: &str, n: u64, sum: u64| -> Result<u64> {
        if n != ENTRIES as u64 || sum != want {
            return Err(format!(
                "{who}: read {n} entries summing to {sum}, expected {ENTRIES} / {want}"
            ));
        }
        Ok(n)
    };
    // Every batch system keeps its buffers across rounds and passes: allocated here once,
    // so that no sample pays for faulting in fresh pages.
    let (mut keys, mut values) = (Vec::new(), Vec::new());
    let mut lkeys = vec![0u32; ENTRIES as usize];
    let mut lvalues = vec![0u64; ENTRIES as usize];

    let mut systems = vec![
        System::new("corebpf per-element", |sw| {
            let (n, sum) = sw.measure(|| -> Result<(u64, u64)> {
                let (mut n, mut sum) = (0, 0u64);
                for k in 0..ENTRIES {
                    if let Some(v) = typed.get(black_box(&k)).map_err(|e| e.to_string())? {
                        sum += v;
                        n += 1;
                    }
                }
                Ok((n, sum))
            })?;
            check("corebpf per-element", n, sum)
        }),
        System::new("corebpf batch", |sw| {
            let (n, sum) = sw.measure(|| -> Result<(u64, u64)> {
                map.lookup_batch_into(BATCH, &mut keys, &mut values)
                    .map_err(|e| e.to_string())?;
                let sum = values
                    .chunks_exact(8)
                    .map(|v| u64::from_ne_bytes(v.try_into().unwrap()))
                    .sum();
                Ok(((keys.len() / 4) as u64, sum))
            })?;
            check("corebpf batch", n, sum)
        }),
        System::new("libbpf per-element", |sw| {
            let (n, sum) = sw.measure(|| {
                let (mut n, mut sum) = (0, 0u64);
                let mut v = 0u64;
                for k in 0..ENTRIES {
                    if libbpf::map_lookup_elem(fd, black_box(&k), &mut v) {
                        sum += v;
                        n += 1;
                    }
                }
                (n, sum)
            });
            check("libbpf per-element", n, sum)
        }),
        System::new("libbpf batch", |sw| {
            let (n, sum) = sw.measure(|| -> Result<(u64, u64)> {
                let n = libbpf::map_lookup_batch_all(fd, BATCH, &mut lkeys, &mut lvalues)?;
                Ok((n as u64, lvalues[..n].iter().sum()))
            })?;
            check("libbpf batch", n, sum)
        }),
        System::new("aya per-element", |sw| {
            let (n, sum) = sw.measure(|| -> Result<(u64, u64)> {
                let (mut n, mut sum) = (0, 0u64);
                for k in 0..ENTRIES {
                    let v = aya_map
                        .get(black_box(&k), 0)
                        .map_err(|e| format!("aya HashMap::get: {e}"))?;
                    sum += v;
                    n += 1;
                }
                Ok((n, sum))
            })?;
            check("aya per-element", n, sum)
        }),
    ];
    let samples = measure::run(&o.plan(Metric::Wall, 20), &mut systems)?;
    let wall = Table::from_samples(
        "Read all 100,000 entries (u32 → u64), time per element",
        "wall time per element",
        &samples,
        Metric::Wall,
        &[
            (
                "corebpf batch",
                "corebpf per-element",
                Some(Target {
                    text: "batch ≥ 5× corebpf per-element (time ratio ≤ 0.2)".into(),
                    bound: 0.2,
                }),
            ),
            (
                "corebpf batch",
                "libbpf batch",
                Some(Target {
                    text: "batch ≥ 1.0× libbpf batch (time ratio ≤ 1.0)".into(),
                    bound: 1.0,
                }),
            ),
            ("corebpf per-element", "libbpf per-element", None),
            ("corebpf per-element", "aya per-element", None),
            ("libbpf batch", "libbpf per-element", None),
        ],
    );
    let cpu = Table::from_samples(
        "The same, thread CPU time per element",
        "thread CPU time per element",
        &samples,
        Metric::Cpu,
        &[
            ("corebpf batch", "libbpf batch", None),
            ("corebpf per-element", "libbpf per-element", None),
        ],
    );
    Ok(CaseResult {
        id: 5,
        title: "Map I/O on a 100,000-entry hash map".into(),
        setup: vec![
            format!(
                "Input: `big` of `bpf-progs/{OBJECT}` (BPF_MAP_TYPE_HASH, u32 → u64, \
                 100,000 entries, all present), loaded once; every system reads the same map \
                 and the sum of the values is checked. Batch size {BATCH} for every system."
            ),
            "corebpf per-element: `map::HashMap<u32, u64>::get(&key)` for every key; batch: \
             `Map::lookup_batch_into(4096, ..)` into buffers kept across passes."
                .into(),
            "libbpf per-element: `bpf_map_lookup_elem` for every key; batch: \
             `bpf_map_lookup_batch` in a loop into preallocated arrays."
                .into(),
            "aya per-element: `maps::HashMap<_, u32, u64>::get(&key, 0)`; aya 0.14 has no batch lookup."
                .into(),
        ],
        tables: vec![wall, cpu],
        notes: vec![],
    })
}
