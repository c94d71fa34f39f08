//! Building the test binaries once on the host, and finding them in cargo's messages.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::{json, OPTIONAL_FEATURES, TEST_PROFILE};
use crate::{cmd, Result};

/// A test binary cargo built.
#[derive(Debug)]
pub(super) struct TestBinary {
    pub(super) executable: PathBuf,
    /// Its package's directory: cargo runs tests there, and so do we.
    pub(super) package_dir: PathBuf,
    /// Its source file relative to the workspace, e.g. `tests/foundation.rs`.
    pub(super) name: String,
}

pub(super) fn build(root: &Path) -> Result<Vec<TestBinary>> {
    let mut cargo = cmd::cargo();
    cargo
        .args([
            "test",
            "--workspace",
            "--all-targets",
            "--features",
            OPTIONAL_FEATURES,
            "--profile",
            TEST_PROFILE,
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(root);
    println!("==> {}", cmd::display(&cargo));
    let _ = io::stdout().flush();
    let output = cargo
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| cmd::spawn_error(&cargo, e))?;
    if !output.status.success() {
        return Err(format!(
            "`{}` failed ({}): the tests do not build",
            cmd::display(&cargo),
            output.status
        ));
    }
    // tests/examples.rs runs the examples from target/<profile>/examples/, where
    // `cargo build` puts them (a `--no-run` build leaves only hashed copies).
    let mut examples = cmd::cargo();
    examples
        .args([
            "build",
            "--workspace",
            "--examples",
            "--features",
            OPTIONAL_FEATURES,
            "--profile",
            TEST_PROFILE,
        ])
        .current_dir(root);
    println!("==> {}", cmd::display(&examples));
    let _ = io::stdout().flush();
    cmd::run(examples.stdin(Stdio::null()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut binaries = test_binaries(&stdout, root)?;
    // By package, unit tests before integration tests, as cargo test runs them.
    binaries.sort_by(|a, b| {
        let key = |t: &TestBinary| {
            (
                t.package_dir.clone(),
                t.name.contains("tests/"),
                t.name.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    Ok(binaries)
}

/// The test executables in cargo's JSON messages: `compiler-artifact`s
/// built with the test profile that have an `executable`.
pub(super) fn test_binaries(messages: &str, root: &Path) -> Result<Vec<TestBinary>> {
    let mut binaries: Vec<TestBinary> = Vec::new();
    for line in messages.lines().filter(|line| line.starts_with('{')) {
        let message = json::parse(line).map_err(|e| format!("reading cargo's output: {e}"))?;
        if message.get("reason").and_then(json::Value::as_str) != Some("compiler-artifact") {
            continue;
        }
        let is_test = message
            .get("profile")
            .and_then(|p| p.get("test"))
            .and_then(json::Value::as_bool);
        let executable = message.get("executable").and_then(json::Value::as_str);
        let (Some(true), Some(executable)) = (is_test, executable) else {
            continue;
        };
        // An example's test harness holds no tests (tests/examples.rs runs the
        // examples themselves); under TCG each still costs seconds to start.
        let kinds = message.get("target").and_then(|t| t.get("kind"));
        if matches!(kinds, Some(json::Value::Array(k)) if k.iter().any(|k| k.as_str() == Some("example")))
        {
            continue;
        }
        let manifest = message.get("manifest_path").and_then(json::Value::as_str);
        let package_dir = manifest
            .and_then(|m| Path::new(m).parent())
            .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
        let src = message
            .get("target")
            .and_then(|t| t.get("src_path"))
            .and_then(json::Value::as_str)
            .unwrap_or(executable);
        let name = Path::new(src)
            .strip_prefix(root)
            .map_or_else(|_| src.to_string(), |p| p.display().to_string());
        if !binaries
            .iter()
            .any(|b| b.executable == Path::new(executable))
        {
            binaries.push(TestBinary {
                executable: PathBuf::from(executable),
                package_dir,
                name,
            });
        }
    }
    Ok(binaries)
}

/// cargo's target directory (`cargo metadata`), which may be elsewhere
/// than `<workspace>/target`.
pub(super) fn target_dir(root: &Path) -> Result<PathBuf> {
    let mut metadata = cmd::cargo();
    metadata
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root);
    let text = cmd::stdout_of(&mut metadata)?;
    let value = json::parse(&text).map_err(|e| format!("reading `cargo metadata`: {e}"))?;
    value
        .get("target_directory")
        .and_then(json::Value::as_str)
        .map(PathBuf::from)
        .ok_or_else(|| "`cargo metadata` gave no target_directory".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_test_executables_in_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","manifest_path":"/w/Cargo.toml","target":{"kind":["lib"],"name":"corebpf","src_path":"/w/src/lib.rs","test":true},"profile":{"test":false},"executable":null}
{"reason":"compiler-artifact","manifest_path":"/w/Cargo.toml","target":{"kind":["bin"],"name":"corebpf","src_path":"/w/src/bin/corebpf/main.rs","test":true},"profile":{"test":false},"executable":"/w/target/debug/corebpf"}
{"reason":"compiler-artifact","manifest_path":"/w/Cargo.toml","target":{"kind":["test"],"name":"foundation","src_path":"/w/tests/foundation.rs","test":true},"profile":{"test":true},"executable":"/w/target/debug/deps/foundation-1"}
{"reason":"compiler-artifact","manifest_path":"/w/xtask/Cargo.toml","target":{"kind":["bin"],"name":"xtask","src_path":"/w/xtask/src/main.rs","test":true},"profile":{"test":true},"executable":"/w/target/debug/deps/xtask-2"}
{"reason":"build-finished","success":true}"#;
        let binaries = test_binaries(messages, Path::new("/w")).unwrap();
        let names: Vec<_> = binaries.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["tests/foundation.rs", "xtask/src/main.rs"]);
        assert_eq!(binaries[1].package_dir, Path::new("/w/xtask"));
    }
}
