//! `cargo xtask fuzz`: coverage-guided fuzzing of the `fuzz/` crate's targets with
//! libFuzzer, on the stable toolchain.
//!
//! cargo-fuzz needs nightly only for `-Zsanitizer=…`; coverage guidance itself is LLVM's
//! SanitizerCoverage pass, which stable rustc runs when asked with `-Cpasses=sancov-module`
//! and its `-Cllvm-args`. libfuzzer-sys compiles libFuzzer and links it as `main`. The
//! code under test is safe Rust (the parsers and pure layers; `unsafe` lives in `src/sys`,
//! whose only part a target reaches is the netlink reply decoding, safe code that makes
//! no system call there: the target answers requests through a replaying transport), so AddressSanitizer would add nothing that bounds checks,
//! debug assertions and overflow checks — all on in the `fuzz` profile — do not already
//! catch. Runaway allocations are caught by the targets' bounded allocator, hangs by
//! libFuzzer's `-timeout`, memory growth by `-rss_limit_mb`.
//!
//! Per target, the corpus lives in `TARGET_DIR/fuzzing/corpus/NAME` (kept between runs),
//! seeded from the repository by `corebpf-fuzz seeds`; crashes go to
//! `TARGET_DIR/fuzzing/artifacts/NAME/`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{cmd, Result};

/// The host triple: given explicitly so RUSTFLAGS reach the target crates only, not build
/// scripts or proc macros (which would not link without libFuzzer's hooks).
const TRIPLE: &str = "x86_64-unknown-linux-gnu";

/// Coverage instrumentation as cargo-fuzz sets it (without a sanitizer).
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg=fuzzing",
];

/// Inputs each target runs under `--smoke`: a fixed count from libFuzzer's seed 1, on
/// the seeds alone (a fresh corpus each time). A CI check bounded by work, not by
/// the clock: about 15 s for the seven targets of the time here, where 60 s per target found new
/// inputs on each run and so failed CI at random. Not bit-for-bit repeatable (hash
/// maps in the code under test seed themselves, which steers coverage feedback), but
/// close: two runs here reached coverage within 2% of each other.
const SMOKE_RUNS: u64 = 20_000;

/// Options of one `cargo xtask fuzz` invocation.
#[derive(Debug)]
struct Options {
    seconds: u64,
    /// `--smoke`: [`SMOKE_RUNS`] inputs from seed 1 on a fresh corpus, not `seconds`.
    smoke: bool,
    /// Targets fuzzed at once (each libFuzzer process uses one core).
    jobs: usize,
    targets: Vec<String>,
    extra: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut opts = Options {
        seconds: 60,
        smoke: false,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        targets: Vec::new(),
        extra: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--smoke" => opts.smoke = true,
            "--jobs" => {
                let v = it.next().ok_or("--jobs needs a number")?;
                opts.jobs = match v.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--jobs: `{v}` is not a positive number")),
                };
            }
            "--time" => {
                let v = it.next().ok_or("--time needs a number of seconds")?;
                opts.seconds = v
                    .parse()
                    .map_err(|_| format!("--time: `{v}` is not a number of seconds"))?;
            }
            "--" => {
                opts.extra = it.cloned().collect();
                break;
            }
            s if s.starts_with('-') => {
                return Err(format!("unknown option `{s}`; see `cargo xtask help`"))
            }
            name => opts.targets.push(name.to_string()),
        }
    }
    Ok(opts)
}

/// What one target's run did, from libFuzzer's output.
#[derive(Debug, Default)]
struct Report {
    name: String,
    execs: u64,
    seconds: f64,
    cov: u64,
    features: u64,
    corpus: u64,
    crashed: bool,
    artifact: Option<String>,
}

/// `cargo xtask fuzz [--smoke | --time SECS] [TARGET...] [-- LIBFUZZER-ARGS...]`.
pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    let root = crate::workspace_root();
    let target_dir = target_dir(&root);
    let plain = build(&root, &target_dir, false)?;
    let fuzzer = build(&root, &target_dir, true)?;
    let all = list(&plain)?;
    let names = if opts.targets.is_empty() {
        all.clone()
    } else {
        for t in &opts.targets {
            if !all.contains(t) {
                return Err(format!(
                    "no fuzz target `{t}`; they are: {}",
                    all.join(", ")
                ));
            }
        }
        opts.targets.clone()
    };
    let work = target_dir.join("fuzzing");
    let seeds = work.join("seeds");
    let mut seed_cmd = Command::new(&plain);
    seed_cmd.arg("seeds").arg(&seeds).args(&names);
    cmd::run(&mut seed_cmd)?;
    let reports = fuzz_all(&fuzzer, &work, &names, &opts)?;
    if opts.smoke {
        println!("\nfuzz summary ({SMOKE_RUNS} inputs per target from seed 1):");
    } else {
        println!("\nfuzz summary ({} s per target):", opts.seconds);
    }
    for r in &reports {
        println!(
            "  {:<14} {:>10} execs in {:>6.0} s  cov {:>6}  ft {:>7}  corpus {:>6}  {}",
            r.name,
            r.execs,
            r.seconds,
            r.cov,
            r.features,
            r.corpus,
            match (&r.crashed, &r.artifact) {
                (false, _) => "ok".to_string(),
                (true, Some(a)) => format!("CRASH: {a}"),
                (true, None) => "CRASH".to_string(),
            }
        );
    }
    let crashed: Vec<&str> = (reports.iter().filter(|r| r.crashed))
        .map(|r| r.name.as_str())
        .collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzz targets crashed: {} (replay with `corebpf-fuzz run TARGET FILE`)",
            crashed.join(", ")
        ))
    }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// Builds the plain `corebpf-fuzz` tool (dev profile: it only writes seeds), or the instrumented libFuzzer driver (in its
/// own directory under the target dir, so its RUSTFLAGS do not rebuild everything else).
fn build(root: &Path, target_dir: &Path, instrumented: bool) -> Result<PathBuf> {
    let mut c = cmd::cargo();
    c.current_dir(root)
        .args(["build", "--package", "corebpf-fuzz"]);
    let out = if instrumented {
        let dir = target_dir.join("fuzz-instrumented");
        c.args([
            "--profile",
            "fuzz",
            "--features",
            "libfuzzer",
            "--bin",
            "fuzz",
        ])
        .args(["--target", TRIPLE])
        .arg("--target-dir")
        .arg(&dir)
        .env("RUSTFLAGS", RUSTFLAGS.join(" "));
        dir.join(TRIPLE).join("fuzz").join("fuzz")
    } else {
        c.args(["--bin", "corebpf-fuzz"]);
        target_dir.join("debug").join("corebpf-fuzz")
    };
    println!("\n==> {}", cmd::display(&c));
    cmd::run(&mut c)?;
    Ok(out)
}

fn list(plain: &Path) -> Result<Vec<String>> {
    let out = cmd::stdout_of(Command::new(plain).arg("list"))?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect())
}

/// Runs every target of `names`, `opts.jobs` at a time; their reports in `names` order.
fn fuzz_all(fuzzer: &Path, work: &Path, names: &[String], opts: &Options) -> Result<Vec<Report>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<Report>>>> =
        names.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.min(names.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(name) = names.get(i) else { break };
                let report = fuzz_one(fuzzer, work, name, opts);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
            });
        }
    });
    results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| Err("a fuzzing thread ended without a report".into()))
        })
        .collect()
}

/// Runs one target for `opts.seconds`, echoing libFuzzer's status lines, each
/// prefixed with the target's name (targets run side by side).
fn fuzz_one(fuzzer: &Path, work: &Path, name: &str, opts: &Options) -> Result<Report> {
    let corpus = work
        .join(if opts.smoke { "smoke-corpus" } else { "corpus" })
        .join(name);
    let artifacts = work.join("artifacts").join(name);
    if opts.smoke && corpus.exists() {
        fs::remove_dir_all(&corpus).map_err(|e| format!("emptying {}: {e}", corpus.display()))?;
    }
    for d in [&corpus, &artifacts] {
        fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
    }
    let mut c = Command::new(fuzzer);
    c.env("COREBPF_FUZZ_TARGET", name);
    if opts.smoke {
        c.arg("-seed=1").arg(format!("-runs={SMOKE_RUNS}"));
    } else {
        c.arg(format!("-max_total_time={}", opts.seconds));
    }
    // A unit slower than this is a hang; the smoke bound leaves room for a
    // loaded CI machine, since its run must not fail on timing alone.
    c.arg(if opts.smoke {
        "-timeout=30"
    } else {
        "-timeout=10"
    })
    .arg("-rss_limit_mb=2048")
    .arg("-max_len=262144")
    .arg("-print_final_stats=1")
    .arg(format!("-artifact_prefix={}/", artifacts.display()))
    .args(&opts.extra)
    .arg(&corpus)
    .arg(work.join("seeds").join(name))
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    println!("\n==> [{name}] {}", cmd::display(&c));
    let start = Instant::now();
    let mut child = c.spawn().map_err(|e| cmd::spawn_error(&c, e))?;
    let mut report = Report {
        name: name.to_string(),
        ..Report::default()
    };
    let stderr = child.stderr.take().expect("piped");
    for line in BufReader::new(stderr)
        .lines()
        .map_while(std::result::Result::ok)
    {
        read_line(&line, &mut report);
        // The periodic and final status lines, and anything about a crash.
        let status = ["INITED", "pulse", "DONE"].iter().any(|w| line.contains(w));
        let trouble = report.crashed
            || line.contains("==")
            || line.contains("panicked")
            || line.contains("corebpf-fuzz:");
        if (line.starts_with('#') && status) || line.starts_with("stat::") || trouble {
            println!("[{name}] {line}");
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the fuzzer: {e}"))?;
    report.seconds = start.elapsed().as_secs_f64();
    report.crashed |= !status.success();
    Ok(report)
}

/// Picks what the report needs out of one line of libFuzzer's standard error.
fn read_line(line: &str, r: &mut Report) {
    let field = |key: &str| -> Option<u64> {
        let mut words = line.split_whitespace();
        words.find(|w| *w == key)?;
        let value = words.next()?.split('/').next()?;
        value.trim_end_matches(['k', 'M', 'b']).parse().ok()
    };
    if let Some(rest) = line.strip_prefix('#') {
        if let Some(n) = rest.split_whitespace().next().and_then(|n| n.parse().ok()) {
            r.execs = n;
        }
        r.cov = field("cov:").unwrap_or(r.cov);
        r.features = field("ft:").unwrap_or(r.features);
        r.corpus = field("corp:").unwrap_or(r.corpus);
    } else if let Some(v) = line.strip_prefix("stat::number_of_executed_units:") {
        r.execs = v.trim().parse().unwrap_or(r.execs);
    } else if line.contains("ERROR: libFuzzer") || line.contains("panicked at") {
        r.crashed = true;
    } else if let Some(at) = line.find("Test unit written to ") {
        r.artifact = Some(
            line[at + "Test unit written to ".len()..]
                .trim()
                .to_string(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_fill_the_report() {
        let mut r = Report::default();
        read_line(
            "#524288\tpulse  cov: 2911 ft: 11012 corp: 812/301Kb exec/s: 8738 rss: 96Mb",
            &mut r,
        );
        assert_eq!(
            (r.execs, r.cov, r.features, r.corpus),
            (524288, 2911, 11012, 812)
        );
        read_line("stat::number_of_executed_units: 530001", &mut r);
        assert_eq!(r.execs, 530001);
        assert!(!r.crashed);
        read_line("==123== ERROR: libFuzzer: deadly signal", &mut r);
        read_line(
            "artifact_prefix='a/'; Test unit written to a/crash-0f",
            &mut r,
        );
        assert!(r.crashed);
        assert_eq!(r.artifact.as_deref(), Some("a/crash-0f"));
    }
}
