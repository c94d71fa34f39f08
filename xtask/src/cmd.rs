//! Running external commands and showing them the way a shell would.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::Result;

/// `cmd` as a shell command line: explicitly set variables first
/// (`RUSTDOCFLAGS=-Dwarnings cargo doc`), then the program and its
/// arguments, quoted where needed. The working directory is not shown.
pub fn display(cmd: &Command) -> String {
    let mut words = Vec::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            words.push(format!(
                "{}={}",
                key.to_string_lossy(),
                quote(value.to_string_lossy().as_ref())
            ));
        }
    }
    // `cargo` rather than the toolchain path cargo puts in $CARGO.
    let program = Path::new(cmd.get_program());
    let program = match program.file_name() {
        Some(name) if name == "cargo" => name,
        _ => program.as_os_str(),
    };
    words.push(quote(&program.to_string_lossy()));
    words.extend(cmd.get_args().map(|arg| quote(&arg.to_string_lossy())));
    words.join(" ")
}

/// Quotes `word` for a POSIX shell if it contains anything but plainly safe
/// characters.
fn quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-+=/.,:@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` with inherited stdio and fails unless it exits with status 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().map_err(|e| spawn_error(cmd, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", display(cmd)))
    }
}

/// Runs `cmd` and returns its standard output; fails unless it exits with
/// status 0 (its standard error then ends up in the message).
pub fn stdout_of(cmd: &mut Command) -> Result<String> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(cmd, e))?;
    if !output.status.success() {
        return Err(format!(
            "`{}` failed ({}): {}",
            display(cmd),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The message for a command that could not even be started.
pub fn spawn_error(cmd: &Command, err: std::io::Error) -> String {
    if err.kind() == std::io::ErrorKind::NotFound {
        format!(
            "`{}` not found in PATH",
            cmd.get_program().to_string_lossy()
        )
    } else {
        format!("cannot run `{}`: {err}", display(cmd))
    }
}

/// The cargo that runs us (cargo sets `CARGO`), else `cargo` from PATH.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO");
    Command::new(cargo.as_deref().unwrap_or(OsStr::new("cargo")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_what_needs_it() {
        let mut cmd = Command::new("cargo");
        cmd.args(["doc", "--no-deps", "a b", "it's"])
            .env("RUSTDOCFLAGS", "-Dwarnings");
        assert_eq!(
            display(&cmd),
            r"RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps 'a b' 'it'\''s'"
        );
        let toolchain_cargo = Command::new("/root/.rustup/toolchains/stable/bin/cargo");
        assert_eq!(display(&toolchain_cargo), "cargo");
    }
}
