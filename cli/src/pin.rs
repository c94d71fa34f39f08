//! `load --pin DIR`: all or nothing. Everything is pinned first under a staging
//! directory inside DIR and renamed into place only when every pin succeeded; any
//! failure, or SIGINT/SIGTERM (blocked for the duration), removes what was made.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use crate::Result;

/// One object to pin: its kind and name for messages, and its final path.
struct Planned {
    kind: &'static str,
    name: String,
    path: PathBuf,
}

/// Pins programs as DIR/<program> and maps as DIR/maps/<map> (global data maps under
/// their kernel name with `.` as `_`, since bpffs refuses dots: `hello_rodata`).
/// Returns one `pinned KIND NAME at PATH` line per pin.
pub fn pin_all(obj: &mut corebpf::Object, dir: &Path) -> Result<Vec<String>> {
    let plan = plan(obj, dir);
    if let Some(p) = plan.iter().find(|p| p.path.symlink_metadata().is_ok()) {
        bail!(
            "cannot pin {} {}: {} already exists",
            p.kind,
            p.name,
            p.path.display()
        );
    }
    let signals = crate::output::Signals::new().context("blocking SIGINT and SIGTERM")?;
    let created = create_dirs(dir)?;
    let staging = dir.join(format!("corebpf_pin_staging_{}", std::process::id()));
    let res = stage(obj, &staging).and_then(|()| commit(&plan, &staging, &signals));
    let _ = std::fs::remove_dir_all(&staging);
    if res.is_err() {
        for d in created.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
    res?;
    Ok(plan
        .iter()
        .map(|p| format!("pinned {} {} at {}", p.kind, p.name, p.path.display()))
        .collect())
}

/// Final paths, programs first, in the order `stage` pins them.
fn plan(obj: &corebpf::Object, dir: &Path) -> Vec<Planned> {
    let progs = obj.programs().iter().map(|p| Planned {
        kind: "program",
        name: p.name().to_string(),
        path: dir.join(p.name()),
    });
    let maps = obj.maps().iter().map(|m| Planned {
        kind: "map",
        name: m.name().to_string(),
        path: dir.join("maps").join(map_file(m)),
    });
    progs.chain(maps).collect()
}

fn map_file(m: &corebpf::Map) -> String {
    if m.name().contains('.') {
        m.pin_name()
    } else {
        m.name().to_string()
    }
}

/// Creates DIR and DIR/maps after checking that DIR is (or will be) on bpffs, so that
/// nothing is created elsewhere. Returns the directories it created, outermost first.
fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let existing = dir
        .ancestors()
        .find(|a| a.exists())
        .unwrap_or(Path::new("/"));
    if !corebpf::fs::is_bpffs(existing) {
        bail!(
            "{} is not on a bpf filesystem; pin under /sys/fs/bpf or mount one with `mount -t bpf bpf DIR`",
            dir.display()
        );
    }
    let maps = dir.join("maps");
    let mut missing: Vec<PathBuf> = maps
        .ancestors()
        .take_while(|a| !a.exists())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    for (i, d) in missing.iter().enumerate() {
        if let Err(e) = std::fs::create_dir(d) {
            for made in missing[..i].iter().rev() {
                let _ = std::fs::remove_dir(made);
            }
            return Err(anyhow::Error::new(e).context(format!("creating {}", d.display())));
        }
    }
    Ok(missing)
}

/// Pins everything under `staging` (programs at the top, maps under `maps/`).
fn stage(obj: &mut corebpf::Object, staging: &Path) -> Result<()> {
    let maps = staging.join("maps");
    std::fs::create_dir_all(&maps).with_context(|| format!("creating {}", maps.display()))?;
    for p in obj.programs() {
        p.pin(staging.join(p.name()))
            .with_context(|| format!("pinning program {}", p.name()))?;
    }
    for m in obj.maps_mut() {
        let path = maps.join(map_file(m));
        m.pin(&path)
            .with_context(|| format!("pinning map {}", m.name()))?;
    }
    Ok(())
}

/// Moves every staged pin into place, unless a signal arrived; on any failure removes
/// the pins already moved.
fn commit(plan: &[Planned], staging: &Path, signals: &crate::output::Signals) -> Result<()> {
    if signals.pending().unwrap_or(false) {
        bail!("interrupted; nothing pinned");
    }
    let dir = staging.parent().unwrap_or(Path::new("/"));
    for (i, p) in plan.iter().enumerate() {
        let rel = p.path.strip_prefix(dir).unwrap_or(&p.path);
        if let Err(e) = std::fs::rename(staging.join(rel), &p.path) {
            for done in &plan[..i] {
                let _ = std::fs::remove_file(&done.path);
            }
            return Err(anyhow::Error::new(e).context(format!(
                "cannot pin {} {} at {}",
                p.kind,
                p.name,
                p.path.display()
            )));
        }
    }
    Ok(())
}
