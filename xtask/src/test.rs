//! `cargo xtask test`: the README's test command, which CI (`.ci/run`) runs.
//!
//! Installs what is missing (see `setup`), then runs the test binaries on
//! every kernel of the matrix (`vmtest`: the running one, directly, and
//! Debian's 6.12, 6.1 and 5.10 under QEMU), the doctests, clippy, rustfmt
//! and rustdoc, printing each command first. All steps run even when one
//! fails, so one CI run reports every problem. The output ends with a
//! summary of the steps and a line per kernel, so the outcome stays visible
//! when only the tail of a long log is shown.

use std::io::{self, Write};

use crate::{cmd, setup, vmtest, Result};

/// `cargo xtask test [TEST-ARGS...]`; TEST-ARGS go to every test binary.
pub fn run(args: &[String]) -> Result<()> {
    let with_vms = std::env::var_os("XTASK_NO_VM").is_none();
    if !with_vms {
        println!("XTASK_NO_VM is set: the tests run on the running kernel only");
    }
    let needs = if with_vms {
        setup::everything()
    } else {
        setup::host_tests()
    };
    setup::ensure(&needs)?;
    if !setup::is_root() {
        println!("warning: not root: the kernel tests (bpf(2), tracepoints) will fail");
    }
    let root = crate::workspace_root();

    let mut steps: Vec<(String, bool)> = Vec::new();
    let mut kernels = Vec::new();
    let shown = format!(
        "cargo xtask vmtest{}{}",
        if with_vms { "" } else { " --host-only" },
        if args.is_empty() {
            String::new()
        } else {
            format!(" -- {}", args.join(" "))
        }
    );
    println!("\n==> {shown}");
    let ok = match vmtest::run(&vmtest::Options::all(with_vms, args)) {
        Ok(outcome) => {
            kernels = outcome.summary;
            outcome.code == 0
        }
        Err(message) => {
            eprintln!("error: {message}");
            false
        }
    };
    steps.push((shown, ok));

    let mut clippy = cmd::cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--features",
        "corebpf/tokio",
        "--",
        "-D",
        "warnings",
    ]);
    let mut fmt = cmd::cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    // The test binaries leave doctests out; the crate docs' examples must compile too.
    let mut doctest = cmd::cargo();
    doctest.args([
        "test",
        "--workspace",
        "--doc",
        "--profile",
        vmtest::TEST_PROFILE,
    ]);
    let mut doc = cmd::cargo();
    doc.args(["doc", "--no-deps"])
        .env("RUSTDOCFLAGS", "-Dwarnings");
    for command in [&mut doctest, &mut clippy, &mut fmt, &mut doc] {
        command.current_dir(&root);
        let shown = cmd::display(command);
        println!("\n==> {shown}");
        // Flush so our line precedes the child's output in a pipe.
        let _ = io::stdout().flush();
        let ok = match cmd::run(command) {
            Ok(()) => true,
            Err(message) => {
                eprintln!("error: {message}");
                false
            }
        };
        steps.push((shown, ok));
    }

    println!("\n==> summary");
    for (shown, ok) in &steps {
        println!("  {:<6}  {shown}", if *ok { "ok" } else { "FAILED" });
    }
    println!("\n==> kernels");
    if kernels.is_empty() {
        println!("  (none: the tests did not run)");
    }
    for line in &kernels {
        println!("{line}");
    }

    let failed: Vec<_> = steps
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(shown, _)| shown.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} steps failed: {}",
            failed.len(),
            steps.len(),
            failed.join("; ")
        ))
    }
}
