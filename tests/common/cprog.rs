//! Small C programs built by the tests (gcc, in a temporary directory), and children
//! that wait for a go-ahead on stdin so a test can attach to them first.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Writes `sources` (file name, text) into `dir` and runs `gcc SOURCES ARGS -o dir/OUT` on
/// them; returns the output's path. Panics with gcc's messages when it fails.
pub fn build(dir: &Path, out: &str, sources: &[(&str, &str)], args: &[&str]) -> PathBuf {
    let mut cmd = Command::new("gcc");
    cmd.current_dir(dir);
    for (name, text) in sources {
        std::fs::write(dir.join(name), text).expect("writing a C source");
        cmd.arg(name);
    }
    // After the sources, so that libraries (-l) resolve their symbols.
    cmd.args(args);
    let output = dir.join(out);
    cmd.arg("-o").arg(&output);
    let result = cmd.output().expect("running gcc (is it installed?)");
    assert!(
        result.status.success(),
        "gcc {args:?} -o {out} failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    output
}

/// A child process started with `args`, stopped before its work until [`Paused::go`]
/// writes a byte to its stdin (the programs read one byte first).
pub struct Paused {
    child: Child,
}

impl Paused {
    /// Starts `program` with `args` and `env`.
    pub fn spawn(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Paused {
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        Paused { child }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets the child run.
    pub fn go(&mut self) {
        let stdin = self.child.stdin.as_mut().expect("piped stdin");
        stdin.write_all(b"g").expect("writing to the child");
        stdin.flush().expect("flushing the child's stdin");
    }

    /// Waits for the child to exit successfully; returns what it printed.
    pub fn finish(mut self) -> String {
        drop(self.child.stdin.take());
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            stdout.read_to_string(&mut out).expect("reading the child");
        }
        let status = self.child.wait().expect("waiting for the child");
        assert!(status.success(), "child exited with {status}: {out}");
        out
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
