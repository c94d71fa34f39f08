//! corebpf's benchmark suite: corebpf against libbpf (1.7, built from the source
//! vendored in `libbpf-sys`) and aya, on identical inputs, in one process and one run.
//!
//! Run it with `cargo xtask bench`, which builds this binary in release mode with the
//! `peers` feature and writes `BENCHMARKS.md`. Without that feature (the default, so that
//! `cargo test --workspace` neither builds libbpf nor needs libelf) the binary only says so.
//!
//! # Method
//!
//! Every case measures all systems *interleaved*: after warm-up, each round runs every
//! system once, in an order that rotates from round to round, so slow drifts of a shared
//! machine hit all systems alike. A system's sample in a round is the cost of `k`
//! iterations divided by `k` (and by the units of work, e.g. events), with `k` calibrated
//! in warm-up so that a sample lasts at least a few milliseconds. The report gives each
//! system's median and interquartile range (p25–p75) over the rounds, and each ratio as
//! the median (and p25–p75) of the *per-round* ratios corebpf/peer, which cancels load
//! that is common to a round. Wall time comes from `Instant`, CPU time from
//! `getrusage(RUSAGE_THREAD)` (user and system) and `CLOCK_THREAD_CPUTIME_ID`, peak RSS
//! from the VmHWM of a child process (the minimal `rss-*` binaries).

#[cfg(feature = "peers")]
mod aya_glue;
#[cfg(feature = "peers")]
mod cases;
#[cfg(feature = "peers")]
mod libbpf;
#[cfg(feature = "peers")]
mod machine;
#[cfg(feature = "peers")]
mod measure;
#[cfg(feature = "peers")]
mod report;

use std::process::ExitCode;

const USAGE: &str = "\
corebpf-bench — corebpf vs libbpf vs aya (run through `cargo xtask bench`)

USAGE:
    corebpf-bench [--rounds N] [--warmup N] [--cases 1,2,..] [--quick]
                  [--out FILE] [--command TEXT] [--corebpf-cli PATH]

    --rounds N        measured rounds per case (default 21)
    --warmup N        warm-up rounds per case (default 3)
    --cases LIST      which cases to run (default: all, 1-14)
    --quick           5 rounds, 1 warm-up: a smoke test, not a measurement
    --out FILE        write the Markdown report there (default: stdout only)
    --command TEXT    the command line to print as the way to reproduce
    --corebpf-cli P   the release `corebpf` binary for cases 7 and 8
                      (default: next to this binary)

Needs root, a kernel with BTF (/sys/kernel/btf/vmlinux) and bpffs at /sys/fs/bpf;
bpftool for cases 7 and 8.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(
        args.first().map(String::as_str),
        Some("-h" | "--help" | "help")
    ) {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    run(&args)
}

#[cfg(not(feature = "peers"))]
fn run(_args: &[String]) -> ExitCode {
    eprintln!(
        "corebpf-bench was built without the `peers` feature (libbpf and aya); \
         run it with `cargo xtask bench`"
    );
    ExitCode::from(2)
}

#[cfg(feature = "peers")]
fn run(args: &[String]) -> ExitCode {
    let options = match cases::Options::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match cases::run_all(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
