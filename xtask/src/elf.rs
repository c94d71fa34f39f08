//! Just enough ELF to check built BPF objects and to take the `.BTF` out of
//! a kernel's vmlinux: the list of sections.
//!
//! BPF objects are ELF64 little-endian (`-target bpf` on a little-endian
//! host), and so is an x86-64 vmlinux; anything else is reported as an
//! error. Every offset read from the file is bounds-checked.

use std::ops::Range;

use crate::Result;

/// One section: its name and the bytes it occupies in the file.
#[derive(Debug)]
pub struct Section {
    pub name: String,
    /// Where its contents are in the file; empty for `SHT_NOBITS` (`.bss`).
    pub file_range: Range<usize>,
}

const SHT_NOBITS: u32 = 8;

/// The sections of the ELF64 little-endian file `bytes`, in header order
/// (the null section at index 0 is skipped).
pub fn sections(bytes: &[u8]) -> Result<Vec<Section>> {
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err("not an ELF file".into());
    }
    if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let shoff = usize_at(bytes, 0x28, 8)?;
    let shentsize = usize_at(bytes, 0x3a, 2)?;
    let shnum = usize_at(bytes, 0x3c, 2)?;
    let shstrndx = usize_at(bytes, 0x3e, 2)?;
    if shentsize < 64 {
        return Err(format!("section header size {shentsize} < 64"));
    }
    let header = |index: usize| -> Result<usize> {
        let start = index
            .checked_mul(shentsize)
            .and_then(|off| off.checked_add(shoff))
            .ok_or("section header offset overflows")?;
        bytes
            .get(start..start.saturating_add(64))
            .map(|_| start)
            .ok_or_else(|| format!("section header {index} is out of bounds"))
    };
    let range = |hdr: usize| -> Result<Range<usize>> {
        if u32_at(bytes, hdr + 4)? == SHT_NOBITS {
            return Ok(0..0);
        }
        let offset = usize_at(bytes, hdr + 24, 8)?;
        let size = usize_at(bytes, hdr + 32, 8)?;
        let end = offset.checked_add(size).ok_or("section size overflows")?;
        bytes
            .get(offset..end)
            .map(|_| offset..end)
            .ok_or_else(|| "section contents are out of bounds".to_string())
    };
    if shstrndx >= shnum {
        return Err(format!(
            "section name table index {shstrndx} >= {shnum} sections"
        ));
    }
    let names = &bytes[range(header(shstrndx)?)?];
    let mut sections = Vec::with_capacity(shnum.min(bytes.len() / 64));
    for index in 1..shnum {
        let hdr = header(index)?;
        let name_off = usize_at(bytes, hdr, 4)?;
        let name = names
            .get(name_off..)
            .and_then(|rest| rest.split(|&b| b == 0).next())
            .ok_or_else(|| format!("section {index} has a name out of bounds"))?;
        sections.push(Section {
            name: String::from_utf8_lossy(name).into_owned(),
            file_range: range(hdr)?,
        });
    }
    Ok(sections)
}

/// The contents of the first section called `name`, if there is one.
pub fn section<'a>(bytes: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    Ok(sections(bytes)?
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| &bytes[s.file_range]))
}

fn u32_at(bytes: &[u8], offset: usize) -> Result<u32> {
    Ok(usize_at(bytes, offset, 4)? as u32)
}

/// The little-endian unsigned integer of `len` (2, 4 or 8) bytes at `offset`.
fn usize_at(bytes: &[u8], offset: usize, len: usize) -> Result<usize> {
    let field = bytes
        .get(offset..offset.saturating_add(len))
        .ok_or("ELF file is truncated")?;
    let mut value = [0u8; 8];
    value[..len].copy_from_slice(field);
    usize::try_from(u64::from_le_bytes(value)).map_err(|_| "ELF offset too large".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(sections(b"").is_err());
        assert!(sections(b"\x7fELF").is_err());
        let mut header = vec![0u8; 64];
        header[..6].copy_from_slice(b"\x7fELF\x02\x01");
        header[0x28] = 0xff; // section headers far beyond the end
        header[0x3a] = 64;
        header[0x3c] = 2;
        header[0x3e] = 1;
        assert!(sections(&header).is_err());
    }
}
