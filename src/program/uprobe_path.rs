//! Finding the file a uprobe or USDT target names.
//!
//! A target with a `/` is a path and is used as given. A bare name is looked up as
//! libbpf's `resolve_full_path` does, with the dynamic loader's cache in between: a
//! library (a name ending in `.so` or containing `.so.`) in `LD_LIBRARY_PATH`, then in
//! `/etc/ld.so.cache` (the way `ld.so` finds `libc.so.6`), then in `/usr/lib64`,
//! `/usr/lib` and the architecture's multiarch directory (`/lib/x86_64-linux-gnu`); a
//! program in `PATH`, then in `/usr/bin` and `/usr/sbin`. A library must be readable,
//! a program readable and executable.
//!
//! The lookup is split so its rules are testable without the machine's files:
//! [`search`] takes the environment and the file checks as arguments, and
//! [`ld_so_cache_lookup`] reads cache bytes.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Where the dynamic loader keeps its cache.
pub const LD_SO_CACHE: &str = "/etc/ld.so.cache";

/// The multiarch library directory of this architecture, as libbpf's
/// `arch_specific_lib_paths()` (Debian's layout).
pub fn arch_lib_dir() -> Option<&'static str> {
    if cfg!(target_arch = "x86_64") {
        Some("/lib/x86_64-linux-gnu")
    } else if cfg!(target_arch = "x86") {
        Some("/lib/i386-linux-gnu")
    } else if cfg!(target_arch = "s390x") {
        Some("/lib/s390x-linux-gnu")
    } else if cfg!(all(target_arch = "arm", target_abi = "eabihf")) {
        Some("/lib/arm-linux-gnueabihf")
    } else if cfg!(target_arch = "arm") {
        Some("/lib/arm-linux-gnueabi")
    } else if cfg!(target_arch = "aarch64") {
        Some("/lib/aarch64-linux-gnu")
    } else if cfg!(all(target_arch = "mips64", target_endian = "little")) {
        Some("/lib/mips64el-linux-gnuabi64")
    } else if cfg!(all(target_arch = "mips", target_endian = "little")) {
        Some("/lib/mipsel-linux-gnu")
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        Some("/lib/powerpc64le-linux-gnu")
    } else if cfg!(target_arch = "sparc64") {
        Some("/lib/sparc64-linux-gnu")
    } else if cfg!(target_arch = "riscv64") {
        Some("/lib/riscv64-linux-gnu")
    } else {
        None
    }
}

/// True when `name` is a library's name by libbpf's rule (`*.so` or `*.so.*`).
pub fn is_library_name(name: &str) -> bool {
    name.ends_with(".so") || name.contains(".so.")
}

/// What [`search`] needs from the process and the machine.
pub struct SearchEnv<'a> {
    /// `LD_LIBRARY_PATH`.
    pub ld_library_path: Option<&'a OsStr>,
    /// `PATH`.
    pub path: Option<&'a OsStr>,
    /// A library's path from the loader cache, if the cache knows the name.
    pub ld_cache: &'a dyn Fn(&str) -> Option<PathBuf>,
    /// Whether a candidate exists with the permissions asked (readable; executable too
    /// when the flag is set).
    pub usable: &'a dyn Fn(&Path, bool) -> bool,
}

/// Resolves a bare `name` (no `/`) to a file, by the rules of the module
/// documentation; `None` when no candidate qualifies.
pub fn search(name: &str, env: &SearchEnv<'_>) -> Option<PathBuf> {
    let in_dirs = |dirs: &OsStr, exec: bool| {
        std::env::split_paths(dirs)
            .filter(|d| !d.as_os_str().is_empty())
            .map(|d| d.join(name))
            .find(|p| (env.usable)(p, exec))
    };
    if is_library_name(name) {
        if let Some(p) = env.ld_library_path.and_then(|d| in_dirs(d, false)) {
            return Some(p);
        }
        if let Some(p) = (env.ld_cache)(name).filter(|p| (env.usable)(p, false)) {
            return Some(p);
        }
        let mut standard = vec!["/usr/lib64", "/usr/lib"];
        standard.extend(arch_lib_dir());
        let standard = std::env::join_paths(standard).ok()?;
        in_dirs(&standard, false)
    } else {
        if let Some(p) = env.path.and_then(|d| in_dirs(d, true)) {
            return Some(p);
        }
        in_dirs(OsStr::new("/usr/bin:/usr/sbin"), true)
    }
}

/// `faccessat(AT_EACCESS)`: readable (and executable) by this process's effective ids.
fn accessible(path: &Path, exec: bool) -> bool {
    use nix::unistd::AccessFlags;
    let mut mode = AccessFlags::R_OK;
    if exec {
        mode |= AccessFlags::X_OK;
    }
    nix::unistd::faccessat(None, path, mode, nix::fcntl::AtFlags::AT_EACCESS).is_ok()
}

/// Resolves a uprobe or USDT target to a path: as given when it contains a `/`, else
/// by [`search`] in this process's environment and on this machine.
pub fn resolve(target: &Path) -> Option<PathBuf> {
    let name = match target.to_str() {
        Some(n) if !n.contains('/') && !n.is_empty() => n,
        _ => return Some(target.to_path_buf()),
    };
    let ld_library_path = std::env::var_os("LD_LIBRARY_PATH");
    let path = std::env::var_os("PATH");
    let ld_cache = |lib: &str| {
        let bytes = std::fs::read(LD_SO_CACHE).ok()?;
        ld_so_cache_lookup(&bytes, lib)
    };
    search(
        name,
        &SearchEnv {
            ld_library_path: ld_library_path.as_deref(),
            path: path.as_deref(),
            ld_cache: &ld_cache,
            usable: &accessible,
        },
    )
}

/// The magic of glibc's cache format ("new" format, glibc 2.3 and later).
const CACHE_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
/// The magic of the old format, which older glibc wrote in front of the new one.
const OLD_CACHE_MAGIC: &[u8] = b"ld.so-1.7.0";
/// `flags & FLAG_TYPE_MASK`: the library's type (`FLAG_ELF`, `FLAG_ELF_LIBC6`).
const FLAG_TYPE_MASK: i32 = 0x00ff;
/// `flags & FLAG_REQUIRED_MASK`: the ABI (`FLAG_X8664_LIB64`, ...).
const FLAG_REQUIRED_MASK: i32 = 0xff00;

/// The ABI bits of this architecture's entries in the cache (glibc's `ldconfig.h`);
/// `None` where this module doesn't know them (any entry is then taken).
fn cache_abi_flags() -> Option<i32> {
    if cfg!(target_arch = "x86_64") {
        Some(0x0300)
    } else if cfg!(target_arch = "aarch64") {
        Some(0x0a00)
    } else if cfg!(target_arch = "s390x") {
        Some(0x0400)
    } else if cfg!(target_arch = "powerpc64") {
        Some(0x0500)
    } else if cfg!(target_arch = "riscv64") {
        Some(0x1000)
    } else if cfg!(target_arch = "loongarch64") {
        Some(0x1200)
    } else if cfg!(target_arch = "x86") {
        Some(0)
    } else {
        None
    }
}

/// The path `/etc/ld.so.cache` (its bytes in `cache`) gives for library `name`, for
/// this architecture; `None` when the cache doesn't list it or isn't a cache. Every
/// count and offset is checked against the cache's size.
///
/// The format (glibc's `dl-cache.h`): the 20-byte magic `glibc-ld.so.cache1.1`, the
/// entry count at offset 20, then from offset 48 entries of 24 bytes (`flags`, `key`,
/// `value`, `osversion`, `hwcap`), `key` and `value` being offsets of the library's
/// name and path from the start of that header. Caches written by glibc before 2.32
/// may start with the old format's header and entries, the new header following them
/// at the next 8-byte boundary.
pub fn ld_so_cache_lookup(cache: &[u8], name: &str) -> Option<PathBuf> {
    let word = |off: usize| -> Option<u32> {
        let b: [u8; 4] = cache.get(off..off.checked_add(4)?)?.try_into().ok()?;
        Some(u32::from_ne_bytes(b))
    };
    let start = if cache.starts_with(CACHE_MAGIC) {
        0
    } else if cache.starts_with(OLD_CACHE_MAGIC) {
        // The old header: 11-byte magic padded to 12, a count, 12-byte entries.
        let old = word(12)? as usize;
        let end = old.checked_mul(12)?.checked_add(16)?;
        let aligned = end.checked_add(7)? & !7;
        if !cache.get(aligned..)?.starts_with(CACHE_MAGIC) {
            return None;
        }
        aligned
    } else {
        return None;
    };
    let count = word(start + 20)? as usize;
    let entries = start + 48;
    // Refuse a count the file can't hold before walking it.
    if count.checked_mul(24)?.checked_add(entries)? > cache.len() {
        return None;
    }
    let string = |off: u32| -> Option<&[u8]> {
        super::uprobe_elf::cstr_at(cache, start.checked_add(off as usize)?)
    };
    let abi = cache_abi_flags();
    (0..count).find_map(|i| {
        let e = entries + i * 24;
        let flags = word(e)? as i32;
        let kind = flags & FLAG_TYPE_MASK;
        // FLAG_ELF (1) or FLAG_ELF_LIBC6 (3): a library of this libc's kind.
        if kind != 1 && kind != 3 {
            return None;
        }
        if abi.is_some_and(|a| flags & FLAG_REQUIRED_MASK != a) {
            return None;
        }
        if string(word(e + 4)?)? != name.as_bytes() {
            return None;
        }
        let path = std::str::from_utf8(string(word(e + 8)?)?).ok()?;
        Some(PathBuf::from(path))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache in the new format with the given (flags, name, path) entries.
    fn cache(entries: &[(i32, &str, &str)]) -> Vec<u8> {
        let mut strings = Vec::new();
        let base = 48 + 24 * entries.len();
        let mut table = Vec::new();
        for (flags, name, path) in entries {
            let key = (base + strings.len()) as u32;
            strings.extend_from_slice(name.as_bytes());
            strings.push(0);
            let value = (base + strings.len()) as u32;
            strings.extend_from_slice(path.as_bytes());
            strings.push(0);
            table.extend_from_slice(&flags.to_ne_bytes());
            table.extend_from_slice(&key.to_ne_bytes());
            table.extend_from_slice(&value.to_ne_bytes());
            table.extend_from_slice(&[0u8; 12]);
        }
        let mut out = CACHE_MAGIC.to_vec();
        out.extend_from_slice(&(entries.len() as u32).to_ne_bytes());
        out.extend_from_slice(&(strings.len() as u32).to_ne_bytes());
        out.resize(48, 0);
        out.extend_from_slice(&table);
        out.extend_from_slice(&strings);
        out
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn cache_entries_are_found_for_this_abi_only() {
        let c = cache(&[
            (0x0003, "libfoo.so.1", "/lib32/libfoo.so.1"),
            (0x0a03, "libfoo.so.1", "/lib/aarch64/libfoo.so.1"),
            (0x0303, "libfoo.so.1", "/lib/x86_64-linux-gnu/libfoo.so.1"),
            (0x0303, "libbar.so", "/usr/lib/x86_64-linux-gnu/libbar.so"),
        ]);
        assert_eq!(
            ld_so_cache_lookup(&c, "libfoo.so.1"),
            Some(PathBuf::from("/lib/x86_64-linux-gnu/libfoo.so.1"))
        );
        assert_eq!(
            ld_so_cache_lookup(&c, "libbar.so"),
            Some(PathBuf::from("/usr/lib/x86_64-linux-gnu/libbar.so"))
        );
        assert_eq!(ld_so_cache_lookup(&c, "libfoo.so"), None);
        assert_eq!(ld_so_cache_lookup(&c, "libbaz.so.1"), None);

        // Behind an old-format header (glibc before 2.32).
        let mut old = OLD_CACHE_MAGIC.to_vec();
        old.push(0);
        old.extend_from_slice(&2u32.to_ne_bytes());
        old.extend_from_slice(&[0u8; 24]);
        old.resize(old.len().next_multiple_of(8), 0);
        old.extend_from_slice(&c);
        assert_eq!(
            ld_so_cache_lookup(&old, "libbar.so"),
            Some(PathBuf::from("/usr/lib/x86_64-linux-gnu/libbar.so"))
        );
    }

    #[test]
    fn damaged_caches_find_nothing_and_never_panic() {
        let good = cache(&[(0x0303, "libfoo.so.1", "/lib/libfoo.so.1")]);
        for cut in 0..good.len() {
            let _ = ld_so_cache_lookup(&good[..cut], "libfoo.so.1");
        }
        assert_eq!(ld_so_cache_lookup(b"", "libc.so.6"), None);
        assert_eq!(ld_so_cache_lookup(b"garbage garbage garbage", "x"), None);
        // A count far beyond the file.
        let mut huge = good.clone();
        huge[20..24].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(ld_so_cache_lookup(&huge, "libfoo.so.1"), None);
        // A string offset past the end.
        let mut bad = good.clone();
        bad[52..56].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(ld_so_cache_lookup(&bad, "libfoo.so.1"), None);
        // An old header whose count points past the file.
        let mut old = OLD_CACHE_MAGIC.to_vec();
        old.push(0);
        old.extend_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(ld_so_cache_lookup(&old, "libfoo.so.1"), None);
    }

    /// The machine's own cache knows its libc, and the file is there.
    #[test]
    fn the_system_cache_finds_libc() {
        let Ok(bytes) = std::fs::read(LD_SO_CACHE) else {
            panic!("{LD_SO_CACHE} is missing; glibc systems have one");
        };
        let libc = ld_so_cache_lookup(&bytes, "libc.so.6").expect("libc.so.6 in the cache");
        assert!(libc.is_absolute() && libc.exists(), "{}", libc.display());
        assert_eq!(resolve(Path::new("libc.so.6")), Some(libc));
    }

    fn env_with<'a>(
        usable: &'a dyn Fn(&Path, bool) -> bool,
        cache: &'a dyn Fn(&str) -> Option<PathBuf>,
        ld: Option<&'a OsStr>,
        path: Option<&'a OsStr>,
    ) -> SearchEnv<'a> {
        SearchEnv {
            ld_library_path: ld,
            path,
            ld_cache: cache,
            usable,
        }
    }

    #[test]
    fn search_order_follows_the_loader_and_libbpf() {
        let files: Vec<(&str, bool)> = [
            ("/opt/a/libx.so.1", false),
            ("/cache/libx.so.1", false),
            ("/usr/lib/libx.so.1", false),
            ("/usr/lib/liby.so", false),
            ("/bin2/tool", true),
            ("/usr/bin/tool", true),
            ("/usr/sbin/admin", true),
            ("/bin2/data", false),
        ]
        .into_iter()
        .collect();
        // (path, executable)
        let usable = |p: &Path, exec: bool| {
            let p = p.to_str().unwrap();
            files.iter().any(|&(f, x)| f == p && (x || !exec))
        };
        let cache = |n: &str| (n == "libx.so.1").then(|| PathBuf::from("/cache/libx.so.1"));
        let none = |_: &str| None;
        let ld = OsStr::new("/nowhere::/opt/a");
        let path = OsStr::new("/bin2");
        let s = |name, env: &SearchEnv<'_>| search(name, env).map(|p| p.display().to_string());

        let e = env_with(&usable, &cache, Some(ld), Some(path));
        assert_eq!(s("libx.so.1", &e).as_deref(), Some("/opt/a/libx.so.1"));
        let e = env_with(&usable, &cache, None, Some(path));
        assert_eq!(s("libx.so.1", &e).as_deref(), Some("/cache/libx.so.1"));
        let e = env_with(&usable, &none, None, Some(path));
        assert_eq!(s("libx.so.1", &e).as_deref(), Some("/usr/lib/libx.so.1"));
        assert_eq!(s("liby.so", &e).as_deref(), Some("/usr/lib/liby.so"));
        assert_eq!(s("libz.so", &e), None);
        // Programs: PATH first, then the standard directories; executable only.
        assert_eq!(s("tool", &e).as_deref(), Some("/bin2/tool"));
        let e = env_with(&usable, &none, None, None);
        assert_eq!(s("tool", &e).as_deref(), Some("/usr/bin/tool"));
        assert_eq!(s("admin", &e).as_deref(), Some("/usr/sbin/admin"));
        let e = env_with(&usable, &none, None, Some(path));
        assert_eq!(s("data", &e), None, "not executable");
    }

    #[test]
    fn paths_with_a_slash_are_taken_as_given() {
        assert_eq!(
            resolve(Path::new("./relative/bin")),
            Some(PathBuf::from("./relative/bin"))
        );
        assert_eq!(
            resolve(Path::new("/no/such/libc.so.6")),
            Some(PathBuf::from("/no/such/libc.so.6"))
        );
        assert_eq!(resolve(Path::new("libcorebpf-no-such-library.so.9")), None);
    }
}
