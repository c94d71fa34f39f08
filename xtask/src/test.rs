//! `cargo xtask test`: the README's test command, which CI (`.ci/run`) runs.
//!
//! Runs the tests, clippy, rustfmt and rustdoc, in that order, printing each
//! command first. All steps run even when one fails, so one CI run reports
//! every problem. The output ends with a summary and cargo test's
//! `test result:` lines (each with the test binary it belongs to), so the
//! outcome stays visible when only the tail of a long log is shown.

use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use crate::{cmd, Result};

/// `cargo xtask test [ARGS...]`; ARGS go to `cargo test`.
pub fn run(args: &[String]) -> Result<()> {
    preflight();
    let root = crate::workspace_root();

    let mut test = cmd::cargo();
    test.args(["test", "--workspace", "--all-targets"])
        .args(args);
    let mut clippy = cmd::cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    let mut fmt = cmd::cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    // `--all-targets` leaves doctests out; the crate docs' example must compile too.
    let mut doctest = cmd::cargo();
    doctest.args(["test", "--workspace", "--doc"]);
    let mut doc = cmd::cargo();
    doc.args(["doc", "--no-deps"])
        .env("RUSTDOCFLAGS", "-Dwarnings");

    // The same test binaries inside Debian's 6.1 kernel under QEMU (the host's kernel
    // ran them above). Two slow tests that never touch the kernel are left to the host
    // run: under emulation they alone take minutes.
    let mut vmtest = cmd::cargo();
    vmtest.args([
        "run",
        "--quiet",
        "--package",
        "xtask",
        "--",
        "vmtest",
        "--vm-only",
        "--",
    ]);
    vmtest.args(VM_SKIPS.iter().flat_map(|t| ["--skip", t]));
    let with_vm = std::env::var_os("XTASK_NO_VM").is_none();
    if !with_vm {
        println!("XTASK_NO_VM is set: not running the tests in VMs");
    }

    let mut steps: Vec<(String, bool)> = Vec::new();
    let mut results = Vec::new();
    let mut commands = vec![test, doctest, clippy, fmt, doc];
    if with_vm {
        commands.push(vmtest);
    }
    for (index, command) in commands.iter_mut().enumerate() {
        command.current_dir(&root);
        let shown = cmd::display(command);
        println!("\n==> {shown}");
        // Flush so our line precedes the child's output in a pipe.
        let _ = io::stdout().flush();
        let ok = if index == 0 {
            let (ok, found) = run_tests(command)?;
            results = found;
            ok
        } else {
            match cmd::run(command) {
                Ok(()) => true,
                Err(message) => {
                    eprintln!("error: {message}");
                    false
                }
            }
        };
        steps.push((shown, ok));
    }

    println!("\n==> summary");
    for (shown, ok) in &steps {
        println!("  {:<6}  {shown}", if *ok { "ok" } else { "FAILED" });
    }
    println!("\n==> cargo test results");
    if results.is_empty() {
        println!("  (none: cargo test failed before running any test binary)");
    }
    for TestResult { binary, line } in &results {
        println!("  {binary}");
        println!("    {line}");
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

/// Kernel-independent tests too slow to repeat under emulation (pure parsing fuzz, a
/// vmlinux.h compile, a C compile); the host run covers them.
const VM_SKIPS: [&str; 3] = [
    "corrupted_objects_never_panic",
    "kernel_vmlinux_h_compiles",
    "real_x86_object_is_refused_when_a_c_compiler_exists",
];

/// Warns about a setup in which the kernel tests cannot pass.
fn preflight() {
    // The effective uid is the second number of "Uid:" in /proc/self/status
    // (std has no geteuid, and xtask has no dependencies).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1));
    if euid != Some("0") {
        println!("warning: not root: the kernel tests (bpf(2), tracepoints) will fail");
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mounted = |fstype: &str, dir: &str| {
        mounts.lines().any(|line| {
            let mut fields = line.split_whitespace().skip(1);
            fields.next() == Some(dir) && fields.next() == Some(fstype)
        })
    };
    if !mounted("tracefs", "/sys/kernel/tracing") {
        println!("warning: tracefs is not mounted on /sys/kernel/tracing (see .ci/run)");
    }
    if !mounted("bpf", "/sys/fs/bpf") {
        println!("warning: bpffs is not mounted on /sys/fs/bpf (see .ci/run)");
    }
}

/// One `test result:` line and the test binary cargo said it was running.
struct TestResult {
    binary: String,
    line: String,
}

#[derive(Clone, Copy)]
enum Stream {
    Out,
    Err,
}

/// Runs `cargo test`, passing its output through unchanged while noting
/// which binary each `test result:` line belongs to (cargo announces
/// "Running unittests src/lib.rs (target/...)" on stderr, the harness prints
/// its result on stdout).
fn run_tests(command: &mut Command) -> Result<(bool, Vec<TestResult>)> {
    if io::stderr().is_terminal() && std::env::var_os("CARGO_TERM_COLOR").is_none() {
        // cargo would see a pipe and drop the colours the user expects.
        command.env("CARGO_TERM_COLOR", "always");
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| cmd::spawn_error(command, e))?;
    let (sender, lines) = mpsc::channel();
    let out = child.stdout.take().map(|pipe| {
        let sender = sender.clone();
        thread::spawn(move || tee(pipe, io::stdout(), Stream::Out, sender))
    });
    let err = child.stderr.take().map(|pipe| {
        let sender = sender.clone();
        thread::spawn(move || tee(pipe, io::stderr(), Stream::Err, sender))
    });
    drop(sender);

    let mut results = Vec::new();
    let mut binary = String::from("(unknown test binary)");
    for (stream, line) in lines {
        let text = strip_ansi(&line);
        let text = text.trim();
        match stream {
            Stream::Err => {
                if let Some(rest) = text
                    .strip_prefix("Running ")
                    .or_else(|| text.strip_prefix("Doc-tests "))
                {
                    binary = rest.to_string();
                }
            }
            Stream::Out => {
                if text.starts_with("test result:") {
                    results.push(TestResult {
                        binary: binary.clone(),
                        line: text.to_string(),
                    });
                }
            }
        }
    }
    for thread in [out, err].into_iter().flatten() {
        let _ = thread.join();
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for `{}`: {e}", cmd::display(command)))?;
    if !status.success() {
        eprintln!("error: `{}` failed ({status})", cmd::display(command));
    }
    Ok((status.success(), results))
}

/// Copies `pipe` to `sink` as it arrives (partial lines included, so
/// "test foo ... " shows before the test ends) and sends each complete line
/// to `lines`.
fn tee(
    pipe: impl Read,
    mut sink: impl Write,
    stream: Stream,
    lines: mpsc::Sender<(Stream, String)>,
) {
    let mut reader = BufReader::new(pipe);
    let mut pending = Vec::new();
    loop {
        let chunk = match reader.fill_buf() {
            Ok([]) => break,
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let _ = sink.write_all(chunk);
        let _ = sink.flush();
        let len = chunk.len();
        pending.extend_from_slice(chunk);
        reader.consume(len);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line).into_owned();
            let _ = lines.send((stream, line));
        }
    }
}

/// `text` without ANSI escape sequences (colour codes).
fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (0x40..=0x7e).
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colour_codes() {
        assert_eq!(
            strip_ansi("\u{1b}[1m\u{1b}[92m     Running\u{1b}[0m unittests src/lib.rs"),
            "     Running unittests src/lib.rs"
        );
    }
}
