//! What the unit tests know of the running kernel: its release, for the feature
//! discipline (below the release that introduced a feature: skip, naming it; at or
//! above it: the test runs and must pass).

/// The running kernel's (major, minor), from `uname -r`.
pub(crate) fn version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// False, after printing `SKIP: <test>: <what> is new in <major>.<minor>`, on a kernel
/// older than `since`; true on one that must have `what`.
pub(crate) fn has(test: &str, since: (u32, u32), what: &str) -> bool {
    if version() >= since {
        return true;
    }
    println!("SKIP: {test}: {what} is new in {}.{}", since.0, since.1);
    false
}
