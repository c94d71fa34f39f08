//! The cases of the benchmark suite, and the data they hand to the report.

mod notes;
pub use notes::notes;

pub mod btf;
pub mod btf_dump;
pub mod cold;
pub mod load;
pub mod map_dump;
pub mod mapio;
pub mod min_btf;
pub mod perfbuf;
pub mod prog_list;
pub mod reloc;
pub mod ringbuf;
pub mod rss;
pub mod skel;
pub mod uprobes;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::machine::Machine;
use crate::measure::{self, Metric, Plan, Result, Samples};

/// The number of the last case: cases are 1 to `LAST_CASE`.
pub const LAST_CASE: u32 = 14;

/// Command-line options of a benchmark run.
#[derive(Clone, Debug)]
pub struct Options {
    pub rounds: usize,
    pub warmup: usize,
    pub cases: Vec<u32>,
    pub out: Option<PathBuf>,
    pub command: String,
    pub corebpf_cli: Option<PathBuf>,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options {
            rounds: 21,
            warmup: 3,
            cases: (1..=LAST_CASE).collect(),
            out: None,
            command: "cargo xtask bench".into(),
            corebpf_cli: None,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match a.as_str() {
                "--rounds" => {
                    o.rounds = value("--rounds")?
                        .parse()
                        .map_err(|e| format!("--rounds: {e}"))?
                }
                "--warmup" => {
                    o.warmup = value("--warmup")?
                        .parse()
                        .map_err(|e| format!("--warmup: {e}"))?
                }
                "--quick" => {
                    o.rounds = 5;
                    o.warmup = 1;
                }
                "--cases" => {
                    o.cases = value("--cases")?
                        .split(',')
                        .map(|c| {
                            c.trim()
                                .parse::<u32>()
                                .ok()
                                .filter(|n| (1..=LAST_CASE).contains(n))
                                .ok_or_else(|| {
                                    format!("--cases: `{c}` is not a case number 1-{LAST_CASE}")
                                })
                        })
                        .collect::<Result<_>>()?
                }
                "--out" => o.out = Some(PathBuf::from(value("--out")?)),
                "--command" => o.command = value("--command")?,
                "--corebpf-cli" => o.corebpf_cli = Some(PathBuf::from(value("--corebpf-cli")?)),
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        if o.rounds < 3 {
            return Err("--rounds must be at least 3".into());
        }
        Ok(o)
    }

    /// A plan with this run's rounds and warm-up.
    pub fn plan(&self, metric: Metric, min_sample_ms: u64) -> Plan {
        Plan {
            rounds: self.rounds,
            warmup: self.warmup,
            min_sample: Duration::from_millis(min_sample_ms),
            max_iters: 10_000,
            metric,
        }
    }
}

/// What a quantity measures, for formatting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// Seconds.
    Time,
    /// KiB.
    Memory,
}

/// One system's line in a table.
pub struct Row {
    pub system: String,
    pub values: Vec<f64>,
    /// Iterations per sample (1 when not applicable).
    pub iters: usize,
}

/// A ratio between two rows, per round, with an optional target `median <= bound`.
pub struct Ratio {
    pub label: String,
    pub values: Vec<f64>,
    pub target: Option<Target>,
}

/// A target from the issue, as a bound on a ratio's median.
#[derive(Clone)]
pub struct Target {
    /// The words of the issue, e.g. "≤ 0.5× libbpf's time".
    pub text: String,
    pub bound: f64,
}

/// One table of a case: a metric per system, and ratios.
pub struct Table {
    pub title: String,
    pub quantity: Quantity,
    /// What is measured, e.g. "wall time per iteration".
    pub metric: String,
    pub rows: Vec<Row>,
    pub ratios: Vec<Ratio>,
}

impl Table {
    /// A table of `metric` over `samples`' systems, with ratios `(a, b, target)` meaning
    /// per-round a/b.
    pub fn from_samples(
        title: impl Into<String>,
        metric_text: impl Into<String>,
        samples: &Samples,
        metric: Metric,
        ratios: &[(&str, &str, Option<Target>)],
    ) -> Table {
        let rows = samples
            .names
            .iter()
            .enumerate()
            .map(|(i, name)| Row {
                system: name.clone(),
                values: samples.metric(i, metric),
                iters: samples.iters[i],
            })
            .collect::<Vec<_>>();
        let ratios = ratios
            .iter()
            .filter_map(|(a, b, target)| {
                let (ia, ib) = (samples.index(a)?, samples.index(b)?);
                Some(Ratio {
                    label: format!("{a} / {b}"),
                    values: measure::paired_ratios(&rows[ia].values, &rows[ib].values),
                    target: target.clone(),
                })
            })
            .collect();
        Table {
            title: title.into(),
            quantity: Quantity::Time,
            metric: metric_text.into(),
            rows,
            ratios,
        }
    }
}

/// One case's results.
pub struct CaseResult {
    pub id: u32,
    pub title: String,
    /// What exactly each system does, one line per system or remark.
    pub setup: Vec<String>,
    pub tables: Vec<Table>,
    /// Analysis: why a number is what it is (profiles, causes of misses).
    pub notes: Vec<String>,
}

/// The repository root (this crate's parent directory).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// `bpf-progs/NAME`.
pub fn prog_path(name: &str) -> PathBuf {
    root().join("bpf-progs").join(name)
}

/// The bytes of `bpf-progs/NAME`.
pub fn prog_bytes(name: &str) -> Result<Vec<u8>> {
    let p = prog_path(name);
    std::fs::read(&p).map_err(|e| format!("reading {}: {e}", p.display()))
}

/// The release `corebpf` binary the cases that run the command use.
pub fn corebpf_cli(o: &Options) -> Result<PathBuf> {
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
    Ok(cli)
}

/// `bpftool`, if it is installed.
pub fn bpftool() -> Result<&'static str> {
    let bpftool = "bpftool";
    if Command::new(bpftool).arg("version").output().is_err() {
        return Err("bpftool is not installed (apt-get install bpftool)".into());
    }
    Ok(bpftool)
}

/// Runs `cmd` with stdout to /dev/null; an error with its stderr if it fails.
pub fn run_quiet(cmd: &mut Command) -> Result<()> {
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

/// Runs the selected cases and writes the report.
pub fn run_all(o: &Options) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the benchmarks load BPF programs: run them as root".into());
    }
    crate::libbpf::silence();
    let machine = Machine::probe();
    let started = std::time::Instant::now();
    let mut results = Vec::new();
    for &case in &o.cases {
        eprintln!("== case {case}");
        let t0 = std::time::Instant::now();
        let r = match case {
            1 => btf::run(o),
            2 => reloc::run(o),
            3 => load::run(o),
            4 => ringbuf::run(o),
            5 => mapio::run(o),
            6 => rss::run(o),
            7 => cold::run(o),
            8 => uprobes::run(o),
            9 => perfbuf::run(o),
            10 => btf_dump::run(o),
            11 => prog_list::run(o),
            12 => map_dump::run(o),
            13 => min_btf::run(o),
            14 => skel::run(o),
            _ => unreachable!("validated in Options::parse"),
        }
        .map_err(|e| format!("case {case}: {e}"))?;
        eprint!("{}", crate::report::case_summary(&r));
        eprintln!("   ({:.1} s)", t0.elapsed().as_secs_f64());
        results.push(r);
    }
    let text = crate::report::render(o, &machine, &results, started.elapsed());
    match &o.out {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| format!("writing {}: {e}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}
