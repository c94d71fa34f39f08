//! BENCHMARKS.md.

use std::fmt::Write as _;
use std::time::Duration;

use crate::cases::{CaseResult, Options, Quantity, Table};
use crate::machine::Machine;
use crate::measure::{summarize, Summary};

/// A time in seconds with a unit chosen for `scale` (the table's smallest median).
fn fmt_time(v: f64, scale: f64) -> String {
    let (div, unit) = if scale >= 1.0 {
        (1.0, "s")
    } else if scale >= 1e-3 {
        (1e-3, "ms")
    } else if scale >= 1e-6 {
        (1e-6, "µs")
    } else {
        (1e-9, "ns")
    };
    let x = v / div;
    let digits = if x >= 100.0 {
        1
    } else if x >= 10.0 {
        2
    } else {
        3
    };
    format!("{x:.digits$} {unit}")
}

fn fmt_value(q: Quantity, v: f64, scale: f64) -> String {
    match q {
        Quantity::Time => fmt_time(v, scale),
        Quantity::Memory => format!("{:.1} MiB", v / 1024.0),
    }
}

fn fmt_ratio(s: &Summary) -> String {
    format!("{:.3}", s.median)
}

/// Whether a ratio met its target (by its median), and by how much it missed; a bound
/// inside the ratio's interquartile range is also called a tie, since the rounds
/// themselves fall on both sides of it.
fn verdict(s: &Summary, bound: f64) -> String {
    let base = if s.median <= bound {
        format!("**met** ({:.0}% of the bound)", s.median / bound * 100.0)
    } else {
        format!(
            "**missed** by {:.0}% ({:.3} > {bound})",
            (s.median / bound - 1.0) * 100.0,
            s.median
        )
    };
    if s.p25 <= bound && bound <= s.p75 {
        format!("{base}, a tie (the bound is inside p25 – p75)")
    } else {
        base
    }
}

fn table_md(out: &mut String, t: &Table) {
    let scale = t
        .rows
        .iter()
        .map(|r| summarize(&r.values).median)
        .filter(|m| m.is_finite())
        .fold(f64::INFINITY, f64::min);
    let _ = writeln!(out, "**{}** — {}\n", t.title, t.metric);
    let _ = writeln!(
        out,
        "| system | median | p25 – p75 | min – max | iterations/sample |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for r in &t.rows {
        let s = summarize(&r.values);
        let f = |v| fmt_value(t.quantity, v, scale);
        let _ = writeln!(
            out,
            "| {} | {} | {} – {} | {} – {} | {} |",
            r.system,
            f(s.median),
            f(s.p25),
            f(s.p75),
            f(s.min),
            f(s.max),
            r.iters
        );
    }
    if !t.ratios.is_empty() {
        let _ = writeln!(
            out,
            "\n| ratio (per round) | median | p25 – p75 | min – max | target |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---|");
        for r in &t.ratios {
            let s = summarize(&r.values);
            let target = match &r.target {
                Some(t) => format!("{}: {}", t.text, verdict(&s, t.bound)),
                None => "—".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.3} – {:.3} | {:.3} – {:.3} | {} |",
                r.label,
                fmt_ratio(&s),
                s.p25,
                s.p75,
                s.min,
                s.max,
                target
            );
        }
    }
    out.push('\n');
}

/// A few lines for the terminal while the run goes on.
pub fn case_summary(r: &CaseResult) -> String {
    let mut out = String::new();
    for t in &r.tables {
        let scale = t
            .rows
            .iter()
            .map(|r| summarize(&r.values).median)
            .fold(f64::INFINITY, f64::min);
        let _ = writeln!(out, "   {} ({})", t.title, t.metric);
        for row in &t.rows {
            let s = summarize(&row.values);
            let _ = writeln!(
                out,
                "     {:<28} {:>12}  [{} – {}]",
                row.system,
                fmt_value(t.quantity, s.median, scale),
                fmt_value(t.quantity, s.p25, scale),
                fmt_value(t.quantity, s.p75, scale)
            );
        }
        for ratio in &t.ratios {
            let s = summarize(&ratio.values);
            let _ = writeln!(
                out,
                "     {:<44} {:.3} [{:.3} – {:.3}]{}",
                ratio.label,
                s.median,
                s.p25,
                s.p75,
                ratio
                    .target
                    .as_ref()
                    .map(|t| format!(
                        "  target {}: {}",
                        t.bound,
                        if s.median <= t.bound { "met" } else { "MISSED" }
                    ))
                    .unwrap_or_default()
            );
        }
    }
    out
}

/// Notes written by people after reading profiles: kept in the source, next to the
/// numbers they explain, and printed under their case.
fn static_notes(case: u32) -> &'static [&'static str] {
    crate::cases::notes(case)
}

pub fn render(o: &Options, m: &Machine, results: &[CaseResult], took: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "corebpf against libbpf {} (the C library, vendored in `libbpf-sys` and called \
         directly) and aya, on identical inputs, measured in one run on one machine. \
         Generated by `cargo xtask bench`; do not edit by hand — the analysis notes live in \
         `benches/src/cases/notes.rs`.\n",
        m.libbpf
    );
    let _ = writeln!(
        out,
        "Reproduce (as root, bpffs at /sys/fs/bpf):\n\n    {}\n",
        o.command
    );
    let _ = writeln!(out, "## Machine\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| CPU | {} ({} cores) |", m.cpu, m.cores);
    let _ = writeln!(out, "| memory | {} |", m.memory);
    let _ = writeln!(out, "| kernel | {} |", m.kernel);
    let _ = writeln!(out, "| rustc | {} |", m.rustc);
    let _ = writeln!(out, "| clang (BPF objects) | {} |", m.clang);
    let _ = writeln!(out, "| libbpf | {} (vendored by libbpf-sys) |", m.libbpf);
    for (name, v) in &m.peers {
        let _ = writeln!(out, "| {name} | {v} |");
    }
    let _ = writeln!(out, "| bpftool | {} |", m.bpftool);
    let _ = writeln!(
        out,
        "| load average | {} at start, {} at end (a shared machine: only ratios measured in the same rounds are meaningful) |",
        m.loadavg,
        crate::machine::loadavg()
    );
    let _ = writeln!(
        out,
        "| run | {} rounds after {} warm-up rounds per case; {:.0} s in all |\n",
        o.rounds,
        o.warmup,
        took.as_secs_f64()
    );
    let _ = writeln!(out, "## Method\n");
    let _ = writeln!(
        out,
        "Every case runs all systems interleaved: after warm-up, each round runs every system \
         once, starting with a different system each round, so that drifts of a shared machine \
         hit all systems alike. A sample is the cost of `k` iterations divided by `k` (and by \
         the units of work, e.g. events or map elements), with `k` calibrated during warm-up so \
         that a sample lasts long enough for its clock. Tables give each system's median, \
         interquartile range and extremes over the rounds; a ratio is computed per round \
         (corebpf's sample over the peer's sample from the same round) and summarized the same \
         way, which cancels load common to a round. Clocks: wall time from `Instant`; user and \
         system CPU time of the measuring thread from `getrusage(RUSAGE_THREAD)`; thread CPU \
         time from `CLOCK_THREAD_CPUTIME_ID`; peak RSS from the VmHWM of a child process \
         (a minimal binary per system). Every case checks that all systems produced the same result (type ids, \
         relocation success, programs loaded, sums of records and map values). Absolute \
         times are for this machine only; targets are ratios.\n"
    );
    let _ = writeln!(out, "## Targets\n");
    let _ = writeln!(
        out,
        "| case | ratio | median (p25 – p75) | target | verdict |"
    );
    let _ = writeln!(out, "|---|---|---:|---|---|");
    for r in results {
        for t in &r.tables {
            for ratio in &t.ratios {
                if let Some(target) = &ratio.target {
                    let s = summarize(&ratio.values);
                    let _ = writeln!(
                        out,
                        "| {}. {} | {} | {:.3} ({:.3} – {:.3}) | {} | {} |",
                        r.id,
                        t.title,
                        ratio.label,
                        s.median,
                        s.p25,
                        s.p75,
                        target.text,
                        verdict(&s, target.bound)
                    );
                }
            }
        }
    }
    out.push('\n');
    for r in results {
        let _ = writeln!(out, "## {}. {}\n", r.id, r.title);
        for line in &r.setup {
            let _ = writeln!(out, "- {line}");
        }
        out.push('\n');
        for t in &r.tables {
            table_md(&mut out, t);
        }
        let notes: Vec<&str> = r
            .notes
            .iter()
            .map(String::as_str)
            .chain(static_notes(r.id).iter().copied())
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(out, "Notes:\n");
            for n in notes {
                let _ = writeln!(out, "- {n}");
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(p25: f64, median: f64, p75: f64) -> Summary {
        Summary {
            median,
            p25,
            p75,
            min: p25,
            max: p75,
        }
    }

    #[test]
    fn verdicts_name_ties() {
        assert_eq!(
            verdict(&summary(0.8, 0.9, 0.95), 1.0),
            "**met** (90% of the bound)"
        );
        assert_eq!(
            verdict(&summary(0.99, 1.002, 1.01), 1.0),
            "**missed** by 0% (1.002 > 1), a tie (the bound is inside p25 – p75)"
        );
        assert_eq!(
            verdict(&summary(0.97, 0.99, 1.02), 1.0),
            "**met** (99% of the bound), a tie (the bound is inside p25 – p75)"
        );
        assert_eq!(
            verdict(&summary(1.1, 1.2, 1.3), 1.0),
            "**missed** by 20% (1.200 > 1)"
        );
    }
}
