//! Finding tracefs and reading event ids from it.

use std::path::{Path, PathBuf};

/// Where tracefs is looked for, in order (libbpf's order).
pub const TRACEFS_CANDIDATES: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Errors finding tracefs or an event in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TracefsError {
    /// Neither location has tracefs mounted.
    #[error(
        "tracefs is not mounted (looked in /sys/kernel/tracing and /sys/kernel/debug/tracing); \
         mount it with `mount -t tracefs tracefs /sys/kernel/tracing`"
    )]
    NotMounted,
    /// The event does not exist in this kernel.
    #[error("tracepoint {category}/{name} does not exist ({path} is missing)")]
    NoSuchEvent {
        /// Category (`syscalls`).
        category: String,
        /// Event name (`sys_enter_execve`).
        name: String,
        /// The id file looked for.
        path: PathBuf,
    },
    /// A tracepoint name with `/` or `..` in a component.
    #[error("invalid tracepoint name {0:?}")]
    BadName(String),
    /// Reading or parsing a tracefs file failed.
    #[error("reading {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// The mounted tracefs root.
pub fn tracefs_root() -> Result<&'static Path, TracefsError> {
    TRACEFS_CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| crate::sys::fs::is_tracefs(p))
        .ok_or(TracefsError::NotMounted)
}

fn valid_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}

/// The id of tracepoint `category/name` (`events/CAT/NAME/id`).
pub fn tracepoint_id(category: &str, name: &str) -> Result<u64, TracefsError> {
    if !valid_component(category) || !valid_component(name) {
        return Err(TracefsError::BadName(format!("{category}/{name}")));
    }
    let root = tracefs_root()?;
    let path = root.join("events").join(category).join(name).join("id");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TracefsError::NoSuchEvent {
                category: category.into(),
                name: name.into(),
                path,
            })
        }
        Err(e) => {
            return Err(TracefsError::Read {
                path,
                reason: e.to_string(),
            })
        }
    };
    text.trim().parse().map_err(|_| TracefsError::Read {
        path,
        reason: format!("not a number: {:?}", text.trim()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_path_tricks() {
        for (c, n) in [("..", "x"), ("a/b", "c"), ("syscalls", ""), ("a", "..")] {
            assert!(
                matches!(tracepoint_id(c, n), Err(TracefsError::BadName(_))),
                "{c}/{n}"
            );
        }
    }
}
