//! `btf-fixtures`: kernel BTF for the pure-layer tests, taken from a
//! distribution's compressed kernel image.
//!
//! A `vmlinuz` is a bzImage: real-mode setup code followed by a compressed
//! `vmlinux` ELF. Like the kernel's `scripts/extract-vmlinux`, we look for
//! the magic numbers of every compression the kernel supports, pipe the
//! image from each candidate offset into the matching system decompressor
//! (`xz -dc`, `gzip -dc`, …), ignore its complaints about the trailing bytes
//! after the payload, and keep the first output that is an ELF file. Its
//! `.BTF` section, unchanged, is the fixture: the same image always gives
//! the same bytes.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Instant;

use crate::{cmd, elf, kernels, Result};

const FIXTURES_DIR: &str = "btf-fixtures";
/// The default image is the newest installed kernel of this series.
const DEFAULT_SERIES: &str = "6.1";
const ELF_MAGIC: &[u8] = b"\x7fELF";

/// A compression the kernel can use for its payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Format {
    pub name: &'static str,
    pub magic: &'static [u8],
    /// The command that decompresses standard input to standard output.
    pub command: &'static [&'static str],
}

/// The formats and magic numbers of `scripts/extract-vmlinux`, in its order
/// (which breaks ties between formats found at the same offset).
pub const FORMATS: &[Format] = &[
    Format {
        name: "gzip",
        magic: b"\x1f\x8b\x08",
        command: &["gzip", "-dc"],
    },
    Format {
        name: "xz",
        magic: b"\xfd7zXZ\x00",
        command: &["xz", "-dc"],
    },
    Format {
        name: "bzip2",
        magic: b"BZh",
        command: &["bzip2", "-dc"],
    },
    Format {
        name: "lzma",
        magic: b"\x5d\x00\x00\x00",
        command: &["xz", "--format=lzma", "-dc"],
    },
    Format {
        name: "lzo",
        magic: b"\x89LZO",
        command: &["lzop", "-dc"],
    },
    Format {
        name: "lz4",
        magic: b"\x02\x21\x4c\x18",
        command: &["lz4", "-dc"],
    },
    Format {
        name: "zstd",
        magic: b"\x28\xb5\x2f\xfd",
        command: &["zstd", "-dc"],
    },
];

/// `cargo xtask btf-fixtures [--vmlinuz PATH]`
pub fn run(args: &[String]) -> Result<()> {
    let started = Instant::now();
    let vmlinuz = match parse_args(args)? {
        Some(path) => path,
        None => default_vmlinuz(Path::new(kernels::BOOT_DIR))?,
    };
    let image =
        fs::read(&vmlinuz).map_err(|e| format!("cannot read {}: {e}", vmlinuz.display()))?;
    let release = release_of(&vmlinuz, &image)?;
    println!("image:   {} (kernel {release})", vmlinuz.display());

    let (vmlinux, offset, format) =
        extract_vmlinux(&image).map_err(|e| format!("{}: {e}", vmlinuz.display()))?;
    println!(
        "payload: {} at byte offset {offset}, {} bytes of vmlinux",
        format.name,
        vmlinux.len()
    );
    let btf = elf::section(&vmlinux, ".BTF")
        .map_err(|e| {
            format!(
                "the vmlinux in {} ({} bytes) is truncated or corrupt: {e}",
                vmlinuz.display(),
                vmlinux.len()
            )
        })?
        .ok_or_else(|| {
            format!(
                "the vmlinux in {} has no .BTF section (a kernel built without CONFIG_DEBUG_INFO_BTF)",
                vmlinuz.display()
            )
        })?;
    let types = count_types(btf).map_err(|e| format!("the .BTF of {}: {e}", vmlinuz.display()))?;

    let dir = crate::workspace_root().join(FIXTURES_DIR);
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let out = dir.join(format!("vmlinux-{release}.btf"));
    let state = write_if_changed(&out, btf)?;
    println!(
        "wrote:   {} ({} bytes, {types} types, {state}) in {:.1} s",
        out.display(),
        btf.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn parse_args(args: &[String]) -> Result<Option<PathBuf>> {
    let mut vmlinuz = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = if arg == "--vmlinuz" {
            args.next()
                .ok_or("--vmlinuz needs a path, e.g. --vmlinuz /boot/vmlinuz-6.1.0-56-amd64")?
                .clone()
        } else if let Some(value) = arg.strip_prefix("--vmlinuz=") {
            value.to_string()
        } else {
            return Err(format!(
                "btf-fixtures: unexpected argument `{arg}` (usage: cargo xtask btf-fixtures [--vmlinuz PATH])"
            ));
        };
        vmlinuz = Some(PathBuf::from(value));
    }
    Ok(vmlinuz)
}

/// The newest `vmlinuz-6.1…` in `boot`, by kernel release.
fn default_vmlinuz(boot: &Path) -> Result<PathBuf> {
    kernels::newest_image(boot, DEFAULT_SERIES).ok_or_else(|| {
        format!(
            "no {}/vmlinuz-{DEFAULT_SERIES}.* (install Debian's linux-image-amd64, or pass --vmlinuz PATH)",
            boot.display()
        )
    })
}

/// The kernel release (`uname -r`) of `image`: from the bzImage header's
/// version string if it has one, else from a `vmlinuz-RELEASE` file name.
/// It becomes part of a file name, so only `[A-Za-z0-9._+-]` is accepted.
fn release_of(path: &Path, image: &[u8]) -> Result<String> {
    let from_name = path
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_prefix("vmlinuz-"));
    let release = match (kernels::header_release(image), from_name) {
        (Some(header), Some(name)) if header != name => {
            eprintln!(
                "note: {} calls itself {header}; using that name",
                path.display()
            );
            header
        }
        (Some(header), _) => header,
        (None, Some(name)) => name.to_string(),
        (None, None) => {
            return Err(format!(
                "cannot tell the kernel release of {}: no bzImage version string and no vmlinuz-RELEASE file name",
                path.display()
            ))
        }
    };
    let safe = |c: char| c.is_ascii_alphanumeric() || "._+-".contains(c);
    if release.is_empty() || release.starts_with('.') || !release.chars().all(safe) {
        return Err(format!(
            "unusable kernel release `{release}` for {}",
            path.display()
        ));
    }
    Ok(release)
}

/// Every offset in `image` where a format's magic starts, in offset order
/// (formats at the same offset in [`FORMATS`] order).
pub fn candidates(image: &[u8]) -> Vec<(usize, &'static Format)> {
    let mut found = Vec::new();
    for (offset, &first) in image.iter().enumerate() {
        for format in FORMATS {
            if format.magic[0] == first && image[offset..].starts_with(format.magic) {
                found.push((offset, format));
            }
        }
    }
    found
}

/// The vmlinux ELF inside `image`, the offset of its compressed payload and
/// the payload's format.
fn extract_vmlinux(image: &[u8]) -> Result<(Vec<u8>, usize, &'static Format)> {
    let candidates = candidates(image);
    if candidates.is_empty() {
        return Err(
            "no compressed payload found (no gzip, xz, bzip2, lzma, lzo, lz4 or zstd magic)".into(),
        );
    }
    let mut problems = Vec::new();
    for (offset, format) in candidates {
        match decompress(format, &image[offset..]) {
            Ok(Some(vmlinux)) => return Ok((vmlinux, offset, format)),
            Ok(None) => {}
            Err(message) => {
                if !problems.contains(&message) {
                    problems.push(message);
                }
            }
        }
    }
    let mut message = "no candidate payload decompresses to an ELF file".to_string();
    for problem in problems {
        message.push_str("\n  ");
        message.push_str(&problem);
    }
    Err(message)
}

/// Pipes `payload` through the format's decompressor. `Ok(None)` when the
/// output is not an ELF file (the child is then killed rather than left to
/// decompress garbage); a non-zero exit status is tolerated, as the payload
/// runs on to the end of the image. A truncated ELF file is caught later by
/// the bounds checks of the ELF reader.
fn decompress(format: &Format, payload: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut command = Command::new(format.command[0]);
    command
        .args(&format.command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().map_err(|e| cmd::spawn_error(&command, e))?;
    let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("`{}`: no pipes", cmd::display(&command)));
    };
    let result = thread::scope(|scope| {
        // The decompressor may stop reading early (bad data, or killed by
        // us); the resulting broken pipe is expected.
        scope.spawn(move || {
            let _ = stdin.write_all(payload);
        });
        let result = read_elf(&mut stdout)
            .map_err(|e| format!("reading from `{}`: {e}", cmd::display(&command)));
        if !matches!(result, Ok(Some(_))) {
            // Lets the writer thread end, and the scope with it.
            let _ = child.kill();
        }
        result
    });
    let _ = child.wait();
    result
}

/// All of `output` if it starts as an ELF file does, else `None` after
/// reading only the first four bytes.
fn read_elf(output: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = [0u8; 4];
    match output.read_exact(&mut head) {
        Ok(()) if head == ELF_MAGIC => {}
        Ok(()) => return Ok(None),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut elf = head.to_vec();
    output.read_to_end(&mut elf)?;
    Ok(Some(elf))
}

/// Checks the BTF header and walks every type record; returns the number of
/// types (not counting the implicit `void`, as `bpftool btf dump` does not).
fn count_types(btf: &[u8]) -> Result<usize> {
    let u32_at = |offset: usize| -> Result<u32> {
        btf.get(offset..offset.saturating_add(4))
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| format!("truncated at byte {offset}"))
    };
    if btf.get(..2) != Some(&[0x9f, 0xeb]) {
        return Err("bad magic (not little-endian BTF)".into());
    }
    if btf.get(2) != Some(&1) {
        return Err(format!("unknown BTF version {:?}", btf.get(2)));
    }
    let header_len = u32_at(4)? as usize;
    let field = |offset: usize| -> Result<usize> { Ok(u32_at(offset)? as usize) };
    let (type_off, type_len, str_off, str_len) = (field(8)?, field(12)?, field(16)?, field(20)?);
    let end = |off: usize, len: usize| header_len.checked_add(off).and_then(|s| s.checked_add(len));
    let types_end = end(type_off, type_len).ok_or("type section overflows")?;
    let strings_end = end(str_off, str_len).ok_or("string section overflows")?;
    if header_len < 24 || types_end > btf.len() || strings_end > btf.len() {
        return Err("header describes sections beyond the end of the data".into());
    }
    let mut offset = header_len + type_off;
    let mut count = 0;
    while offset < types_end {
        let info = u32_at(offset + 4)?;
        let vlen = (info & 0xffff) as usize;
        let kind = (info >> 24) & 0x1f;
        let extra = match kind {
            // int, var, decl_tag: one u32
            1 | 14 | 17 => 4,
            // ptr, fwd, typedef, volatile, const, restrict, func, float, type_tag
            2 | 7 | 8 | 9 | 10 | 11 | 12 | 16 | 18 => 0,
            3 => 12,              // array
            4 | 5 => 12 * vlen,   // struct, union members
            6 | 13 => 8 * vlen,   // enum values, func_proto params
            15 | 19 => 12 * vlen, // datasec vars, enum64 values
            _ => return Err(format!("unknown BTF kind {kind} at byte {offset}")),
        };
        offset += 12 + extra;
        count += 1;
    }
    if offset != types_end {
        return Err("the last type runs past the type section".into());
    }
    Ok(count)
}

/// Writes `bytes` to `path` through a temporary file and a rename, unless
/// the file already holds exactly those bytes.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<&'static str> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok("unchanged");
    }
    let tmp = path.with_extension("btf.tmp");
    fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot rename {} to {}: {e}", tmp.display(), path.display())
    })?;
    Ok("written")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(image: &[u8]) -> Vec<(usize, &'static str)> {
        candidates(image)
            .into_iter()
            .map(|(offset, format)| (offset, format.name))
            .collect()
    }

    #[test]
    fn magic_scan_finds_every_format_in_offset_order() {
        let mut image = vec![0xaau8; 64];
        let mut put = |offset: usize, bytes: &[u8]| {
            image[offset..offset + bytes.len()].copy_from_slice(bytes);
        };
        put(40, b"\x28\xb5\x2f\xfd"); // zstd
        put(2, b"\xfd7zXZ\x00"); // xz
        put(10, b"\x1f\x8b\x08"); // gzip
        put(20, b"BZh9");
        put(30, b"\x02\x21\x4c\x18"); // lz4
        put(50, b"\x89LZO");
        assert_eq!(
            names(&image),
            [
                (2, "xz"),
                (10, "gzip"),
                (20, "bzip2"),
                (30, "lz4"),
                (40, "zstd"),
                (50, "lzo"),
            ]
        );
    }

    #[test]
    fn magic_scan_handles_edges() {
        assert!(candidates(b"").is_empty());
        // A magic cut off by the end of the image is no candidate.
        assert!(candidates(b"xx\xfd7zXZ").is_empty());
        // One at the very start and one ending at the very end.
        assert_eq!(
            names(b"\x1f\x8b\x08..\x28\xb5\x2f\xfd"),
            [(0, "gzip"), (5, "zstd")]
        );
        // Overlapping and repeated magics are all candidates.
        assert_eq!(
            names(b"\x5d\x00\x00\x00\x00\x00\x1f\x8b\x08\x1f\x8b\x08"),
            [(0, "lzma"), (6, "gzip"), (9, "gzip")]
        );
        assert!(candidates(b"\x1f\x8b\x07 \xfd7zXZ\x01 BZ").is_empty());
    }

    #[test]
    fn release_comes_from_the_bzimage_header_or_the_file_name() {
        let mut image = vec![0u8; 0x400];
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        let version = b"6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP\0";
        image[0x300..0x300 + version.len()].copy_from_slice(version);
        let path = Path::new("/tmp/kernel");
        assert_eq!(release_of(path, &image).unwrap(), "6.1.0-56-amd64");
        let named = Path::new("/boot/vmlinuz-6.1.0-9-amd64");
        assert_eq!(release_of(named, b"").unwrap(), "6.1.0-9-amd64");
        assert!(release_of(path, b"").is_err());
        assert!(release_of(Path::new("vmlinuz-../x"), b"").is_err());
    }

    #[test]
    fn btf_type_walk() {
        // Header, then an int and a two-member struct, then strings.
        let mut types = Vec::new();
        for word in [1u32, 1 << 24, 4, 0x20] {
            types.extend_from_slice(&word.to_le_bytes()); // int
        }
        for word in [1u32, (4 << 24) | 2, 8, 1, 1, 0, 1, 1, 32] {
            types.extend_from_slice(&word.to_le_bytes()); // struct
        }
        let strings = b"\0x\0";
        let mut btf = vec![0x9f, 0xeb, 1, 0];
        for word in [24u32, 0, types.len() as u32, types.len() as u32, 3] {
            btf.extend_from_slice(&word.to_le_bytes());
        }
        btf.extend_from_slice(&types);
        btf.extend_from_slice(strings);
        assert_eq!(count_types(&btf).unwrap(), 2);
        assert!(count_types(&btf[..btf.len() - 1]).is_err());
        assert!(count_types(b"\x9f\xeb\x01").is_err());
    }
}
