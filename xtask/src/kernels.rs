//! The kernels the tests run on besides the host's, and finding their images.
//!
//! Each is a Debian kernel series installed by package into `/boot`. An image
//! is found by its series (`/boot/vmlinuz-6.1.*`, the newest if several), never
//! by a point release, so a security update of the package changes nothing here.

use std::cmp::Ordering;
use std::fs;
use std::path::{Path, PathBuf};

/// Where Debian installs kernel images.
pub const BOOT_DIR: &str = "/boot";

/// One kernel series of the test matrix and the Debian package that brings it.
#[derive(Debug)]
pub struct Series {
    /// `major.minor`, e.g. `6.1`.
    pub series: &'static str,
    /// What it is, for messages.
    pub about: &'static str,
    /// The package that installs `/boot/vmlinuz-<series>.*`.
    pub package: &'static str,
    /// The Debian suite to install it from when it is not bookworm's own
    /// (added to apt's sources with a low pin priority, see `setup`).
    pub suite: Option<&'static str>,
}

/// The kernels booted under QEMU, newest first.
///
/// - 6.12: the `linux-image-6.12-amd64` metapackage of bookworm's security
///   suite, which follows the newest 6.12 point release;
/// - 6.1: bookworm's own kernel (`linux-image-amd64`), the newest point release;
/// - 5.10: bullseye's, a suite that no longer changes, so the package is named.
pub const VM_KERNELS: [Series; 3] = [
    Series {
        series: "6.12",
        about: "Debian's 6.12 (bookworm-security)",
        package: "linux-image-6.12-amd64",
        suite: None,
    },
    Series {
        series: "6.1",
        about: "Debian bookworm's 6.1",
        package: "linux-image-amd64",
        suite: None,
    },
    Series {
        series: "5.10",
        about: "Debian bullseye's 5.10",
        package: "linux-image-5.10.0-30-amd64",
        suite: Some("bullseye"),
    },
];

/// The newest `vmlinuz-<series>.*` in `boot`, by kernel release.
pub fn newest_image(boot: &Path, series: &str) -> Option<PathBuf> {
    let entries = fs::read_dir(boot).ok()?;
    entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_prefix("vmlinuz-").map(str::to_string))
        .filter(|release| in_series(release, series))
        .max_by(|a, b| compare_versions(a, b))
        .map(|release| boot.join(format!("vmlinuz-{release}")))
}

/// Whether `release` belongs to `series`: `6.1.0-56-amd64` is in 6.1, `6.10.2` is not.
pub fn in_series(release: &str, series: &str) -> bool {
    release
        .strip_prefix(series)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '-']))
}

/// Compares versions like `sort -V`: runs of digits by value, the rest as text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, c) in s.char_indices().skip(1) {
            let prev = s[..i].chars().next_back().unwrap_or(c);
            if prev.is_ascii_digit() != c.is_ascii_digit() {
                out.push((
                    s[start..i].starts_with(|c: char| c.is_ascii_digit()),
                    &s[start..i],
                ));
                start = i;
            }
        }
        if start < s.len() {
            out.push((
                s[start..].starts_with(|c: char| c.is_ascii_digit()),
                &s[start..],
            ));
        }
        out
    }
    let (a, b) = (chunks(a), chunks(b));
    for (x, y) in a.iter().zip(&b) {
        let order = match (x, y) {
            ((true, x), (true, y)) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if order.is_ne() {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// The first word of the bzImage header's `kernel_version` string (boot
/// protocol 2.00+: "HdrS" at 0x202, a pointer at 0x20e relative to 0x200),
/// e.g. `6.1.0-56-amd64` of "6.1.0-56-amd64 (debian-kernel@...) #1 SMP ...".
pub fn header_release(image: &[u8]) -> Option<String> {
    if image.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let pointer = u16::from_le_bytes(image.get(0x20e..0x210)?.try_into().ok()?);
    let start = usize::from(pointer).checked_add(0x200)?;
    let text = image.get(start..start.saturating_add(256).min(image.len()))?;
    let end = text.iter().position(|&b| b == 0 || b == b' ')?;
    let release = std::str::from_utf8(&text[..end]).ok()?;
    (!release.is_empty()).then(|| release.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_versions_numerically() {
        use Ordering::*;
        assert_eq!(compare_versions("6.1.0-56-amd64", "6.1.0-9-amd64"), Greater);
        assert_eq!(compare_versions("6.1.0-9-amd64", "6.1.0-10-amd64"), Less);
        assert_eq!(compare_versions("6.1.0-9-amd64", "6.1.0-9-amd64"), Equal);
        assert_eq!(compare_versions("6.10.0-1", "6.1.0-56"), Greater);
        assert_eq!(
            compare_versions("6.12.118+deb12-amd64", "6.12.95+deb12-amd64"),
            Greater
        );
    }

    #[test]
    fn a_series_is_major_dot_minor() {
        assert!(in_series("6.1.0-56-amd64", "6.1"));
        assert!(in_series("5.10.0-30-amd64", "5.10"));
        assert!(!in_series("6.12.48+deb13-amd64", "6.1"));
        assert!(!in_series("6.10", "6.1"));
        assert!(in_series("6.12.118+deb12-amd64", "6.12"));
    }

    #[test]
    fn finds_the_newest_image_of_a_series() {
        let boot = std::env::temp_dir().join(format!("xtask-kernels-{}", std::process::id()));
        fs::create_dir_all(&boot).unwrap();
        for name in [
            "vmlinuz-6.1.0-9-amd64",
            "vmlinuz-6.1.0-57-amd64",
            "vmlinuz-6.12.118+deb12-amd64",
            "config-6.1.0-99-amd64",
        ] {
            fs::write(boot.join(name), b"").unwrap();
        }
        let newest =
            |series| newest_image(&boot, series).map(|p| p.file_name().unwrap().to_owned());
        assert_eq!(newest("6.1").unwrap(), "vmlinuz-6.1.0-57-amd64");
        assert_eq!(newest("6.12").unwrap(), "vmlinuz-6.12.118+deb12-amd64");
        assert_eq!(newest("5.10"), None);
        fs::remove_dir_all(&boot).unwrap();
    }

    #[test]
    fn reads_the_release_from_a_bzimage_header() {
        let mut image = vec![0u8; 0x1000];
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x20e..0x210].copy_from_slice(&0x300u16.to_le_bytes());
        let version = b"6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP\0";
        image[0x500..0x500 + version.len()].copy_from_slice(version);
        assert_eq!(header_release(&image).as_deref(), Some("6.1.0-56-amd64"));
        image[0x202] = b'X';
        assert_eq!(header_release(&image), None);
    }
}
