//! `cargo xtask bench`: build the benchmark suite in release mode with its peers
//! (libbpf, aya), run it, and write `BENCHMARKS.md`.
//!
//! The suite is the `corebpf-bench` package (`benches/`); its `peers` feature pulls in
//! libbpf-sys (building the vendored libbpf 1.7, which needs libelf-dev, zlib1g-dev and
//! pkg-config) and aya. Nothing else in the workspace enables that feature, so
//! `cargo test --workspace` stays fast and needs no libelf. The method is described in
//! `benches/src/main.rs` and at the top of the generated report.

use std::path::PathBuf;
use std::process::Command;

use crate::{cmd, workspace_root, Result};

/// Options passed through to the benchmark binary.
const PASSED: &[&str] = &["--rounds", "--warmup", "--cases"];
const FLAGS: &[&str] = &["--quick"];

/// `cargo xtask bench [--rounds N] [--warmup N] [--cases LIST] [--quick] [--out FILE]`
pub fn run(args: &[String]) -> Result<()> {
    let root = workspace_root();
    let mut out = root.join("BENCHMARKS.md");
    let mut passed: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if PASSED.contains(&arg.as_str()) {
            let value = it
                .next()
                .ok_or_else(|| format!("{arg} needs a value; see `cargo xtask help`"))?;
            passed.push(arg.clone());
            passed.push(value.clone());
        } else if FLAGS.contains(&arg.as_str()) {
            passed.push(arg.clone());
        } else if arg == "--out" {
            let value = it
                .next()
                .ok_or("--out needs a value; see `cargo xtask help`")?;
            out = PathBuf::from(value);
        } else {
            return Err(format!(
                "unknown bench option `{arg}`; see `cargo xtask help`"
            ));
        }
    }
    // The benchmarks load BPF programs.
    let uid = cmd::stdout_of(Command::new("id").arg("-u")).unwrap_or_default();
    if uid.trim() != "0" {
        return Err("cargo xtask bench loads BPF programs: run it as root".into());
    }

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(&cargo);
    build.current_dir(&root).args([
        "build",
        "--release",
        "--package",
        "corebpf-bench",
        "--features",
        "peers",
        "--bins",
    ]);
    println!("$ {}", cmd::display(&build));
    cmd::run(&mut build)?;
    // Cases 7 and 8 run the command-line tool as a whole process.
    let mut cli = Command::new(&cargo);
    cli.current_dir(&root).args([
        "build",
        "--release",
        "--package",
        "corebpf-cli",
        "--bin",
        "corebpf",
    ]);
    println!("$ {}", cmd::display(&cli));
    cmd::run(&mut cli)?;

    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let release = target.join("release");
    let mut shown = vec!["cargo xtask bench".to_string()];
    shown.extend(args.iter().cloned());
    let mut bench = Command::new(release.join("corebpf-bench"));
    bench
        .current_dir(&root)
        .args(&passed)
        .arg("--out")
        .arg(&out)
        .arg("--command")
        .arg(shown.join(" "))
        .arg("--corebpf-cli")
        .arg(release.join("corebpf"));
    println!("$ {}", cmd::display(&bench));
    cmd::run(&mut bench)
}
