//! `cargo xtask skel [--check]`: regenerates the committed skeletons of examples/skel/
//! from their objects, through the `skel_gen` example (corebpf's own generator: the
//! xtask does not link corebpf, so that it works while the library does not build).

use std::path::Path;

use crate::{cmd, workspace_root, Result};

/// Each skeleton: its object, its module name, the file written (all from the root).
/// `include_bytes!` paths are relative to the skeleton's directory, examples/skel/.
const SKELETONS: &[(&str, &str, &str)] = &[
    (
        "bpf-progs/hello.bpf.o",
        "hello",
        "examples/skel/hello.skel.rs",
    ),
    (
        "bpf-progs/hello_buffer_config.bpf.o",
        "hello_buffer_config",
        "examples/skel/hello_buffer_config.skel.rs",
    ),
    (
        "bpf-progs/perf_events.bpf.o",
        "perf_events",
        "examples/skel/perf_events.skel.rs",
    ),
    (
        "examples/skel/layouts.bpf.o",
        "layouts",
        "examples/skel/layouts.skel.rs",
    ),
];

pub fn run(args: &[String]) -> Result<()> {
    let mut check = false;
    for a in args {
        match a.as_str() {
            "--check" => check = true,
            other => return Err(format!("skel: unknown argument `{other}` (only --check)")),
        }
    }
    let root = workspace_root();
    let mut stale = Vec::new();
    for (object, name, out) in SKELETONS {
        let include = relative_to(Path::new(out).parent().unwrap_or(Path::new("")), object);
        let mut gen = cmd::cargo();
        gen.current_dir(&root).args([
            "run",
            "--quiet",
            "--package",
            "corebpf",
            "--example",
            "skel_gen",
            "--",
            object,
            name,
            &include,
        ]);
        let text = cmd::stdout_of(&mut gen)?;
        let path = root.join(out);
        let committed = std::fs::read_to_string(&path).ok();
        if committed.as_deref() == Some(text.as_str()) {
            println!("skel: {out} is up to date");
            continue;
        }
        if check {
            stale.push(out.to_string());
            continue;
        }
        std::fs::write(&path, &text).map_err(|e| format!("writing {out}: {e}"))?;
        println!("skel: wrote {out} ({} lines)", text.lines().count());
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "stale skeletons (run `cargo xtask skel` and commit them): {}",
            stale.join(", ")
        ))
    }
}

/// `to` (from the root) as a path relative to directory `from` (from the root).
fn relative_to(from: &Path, to: &str) -> String {
    let ups = from.components().count();
    let mut s = "../".repeat(ups);
    let to = Path::new(to);
    match to.strip_prefix(from) {
        Ok(rest) => rest.to_string_lossy().into_owned(),
        Err(_) => {
            s.push_str(&to.to_string_lossy());
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::relative_to;
    use std::path::Path;

    #[test]
    fn include_paths_are_relative_to_the_skeleton() {
        let dir = Path::new("examples/skel");
        assert_eq!(
            relative_to(dir, "bpf-progs/hello.bpf.o"),
            "../../bpf-progs/hello.bpf.o"
        );
        assert_eq!(
            relative_to(dir, "examples/skel/layouts.bpf.o"),
            "layouts.bpf.o"
        );
    }
}
