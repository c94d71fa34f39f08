//! Reading the ELF files that uprobes and USDT probes target: function symbols
//! (`.dynsym` and `.symtab`, versioned names), loadable segments, sections by name.
//!
//! Symbol resolution follows libbpf's `elf.c` (`elf_find_func_offset`,
//! `elf_resolve_syms_offsets`, `elf_resolve_pattern_offsets`): only `STT_FUNC`
//! symbols count, a name may carry a version (`malloc@@GLIBC_2.2.5`, `fn@LIB`), and a
//! symbol's file offset is its address minus its section's address plus that
//! section's file offset, which is what the kernel wants for executables (absolute
//! addresses), PIE executables and shared libraries (relative addresses) alike.
//!
//! The reader is kernel-free and reads files range by range (`pread`): resolving a
//! name in the system's libc reads its headers, `.dynsym`, `.dynstr`, `.gnu.version`
//! and `.gnu.version_d` (about 100 KB of its 2 MB), nothing else. It parses the few
//! structures it needs byte by byte, in the file's own byte order and class, so it needs
//! no alignment and no `unsafe`; every offset, size and count from the file is checked
//! against the file's size before anything is read or allocated, so hostile input gets
//! an error, never a panic or an allocation larger than the file.

use std::borrow::Cow;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use object::elf as E;

/// Why an ELF file could not be read, or a symbol was not found in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ElfError {
    /// Opening or reading the file failed.
    #[error("reading {len} bytes at offset {offset:#x}")]
    Read {
        /// Where the read started.
        offset: u64,
        /// How much was asked for.
        len: u64,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The file doesn't start with an ELF header.
    #[error("not an ELF file")]
    NotElf,
    /// A header, table or string points outside the file or makes no sense.
    #[error("malformed ELF file: {0}")]
    Malformed(String),
    /// No `STT_FUNC` symbol of that name (and version) is defined.
    #[error("no function '{name}' in .dynsym or .symtab")]
    NoSymbol {
        /// The name asked for (with its version, if given).
        name: String,
    },
    /// Two non-weak symbols of that name are at different addresses.
    #[error("function '{name}' is ambiguous: symbols at file offsets {first:#x} and {second:#x}")]
    Ambiguous {
        /// The name asked for.
        name: String,
        /// One offset.
        first: u64,
        /// Another.
        second: u64,
    },
    /// The symbol is there but at address 0, where no uprobe can go.
    #[error("function '{name}' has address 0")]
    ZeroAddress {
        /// The name asked for.
        name: String,
    },
    /// No function symbol matches a pattern.
    #[error("no function matches '{pattern}'")]
    NoMatch {
        /// The glob.
        pattern: String,
    },
}

fn malformed<T>(what: impl Into<String>) -> Result<T, ElfError> {
    Err(ElfError::Malformed(what.into()))
}

/// `SHT_GNU_versym`.
const SHT_GNU_VERSYM: u32 = 0x6fff_ffff;
/// `SHT_GNU_verdef`.
const SHT_GNU_VERDEF: u32 = 0x6fff_fffd;
/// The version index bits of a `versym` entry (the top bit marks hidden symbols).
const VERSYM_VERSION: u16 = 0x7fff;

/// Where the bytes come from: a buffer, or a file read range by range.
#[derive(Debug)]
enum Source<'a> {
    Bytes(&'a [u8]),
    File { file: File, size: u64 },
}

impl<'a> Source<'a> {
    fn size(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::File { size, .. } => *size,
        }
    }

    /// `len` bytes at `offset`, which must lie inside the file.
    fn read(&self, offset: u64, len: u64, what: &str) -> Result<Cow<'a, [u8]>, ElfError> {
        let end = offset.checked_add(len);
        if !matches!(end, Some(end) if end <= self.size()) {
            return malformed(format!(
                "{what} ({len} bytes at offset {offset:#x}) lies past the end of the file ({} bytes)",
                self.size()
            ));
        }
        match self {
            // In bounds: checked above against the slice's length.
            Source::Bytes(b) => Ok(Cow::Borrowed(&b[offset as usize..(offset + len) as usize])),
            Source::File { file, .. } => {
                let mut buf = vec![0u8; len as usize];
                file.read_exact_at(&mut buf, offset)
                    .map_err(|source| ElfError::Read {
                        offset,
                        len,
                        source,
                    })?;
                Ok(Cow::Owned(buf))
            }
        }
    }
}

/// Class and byte order: how to read the file's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// ELFCLASS64.
    pub is_64: bool,
    /// ELFDATA2LSB.
    pub little_endian: bool,
}

impl Layout {
    /// The layout of this process's own binaries.
    pub const NATIVE: Layout = Layout {
        is_64: cfg!(target_pointer_width = "64"),
        little_endian: cfg!(target_endian = "little"),
    };

    fn bytes<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
        b.get(off..off.checked_add(N)?)?.try_into().ok()
    }

    pub(crate) fn u16(self, b: &[u8], off: usize) -> Option<u16> {
        let a = Self::bytes(b, off)?;
        Some(if self.little_endian {
            u16::from_le_bytes(a)
        } else {
            u16::from_be_bytes(a)
        })
    }

    pub(crate) fn u32(self, b: &[u8], off: usize) -> Option<u32> {
        let a = Self::bytes(b, off)?;
        Some(if self.little_endian {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    }

    pub(crate) fn u64(self, b: &[u8], off: usize) -> Option<u64> {
        let a = Self::bytes(b, off)?;
        Some(if self.little_endian {
            u64::from_le_bytes(a)
        } else {
            u64::from_be_bytes(a)
        })
    }

    /// An address-sized field: 4 bytes in ELF32, 8 in ELF64.
    pub(crate) fn word(self, b: &[u8], off: usize) -> Option<u64> {
        if self.is_64 {
            self.u64(b, off)
        } else {
            self.u32(b, off).map(u64::from)
        }
    }

    /// Size of an address-sized field.
    pub(crate) fn word_size(self) -> usize {
        if self.is_64 {
            8
        } else {
            4
        }
    }
}

/// One section header (the fields uprobes and USDT need).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionHeader {
    /// Offset of the name in the section name table.
    pub name: u32,
    /// `sh_type`.
    pub kind: u32,
    /// `sh_addr`.
    pub addr: u64,
    /// `sh_offset`.
    pub offset: u64,
    /// `sh_size`.
    pub size: u64,
    /// `sh_link`.
    pub link: u32,
    /// `sh_addralign`.
    pub addralign: u64,
    /// `sh_entsize`.
    pub entsize: u64,
}

/// A loadable segment (`PT_LOAD`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// First virtual address.
    pub vaddr: u64,
    /// Size in memory.
    pub memsz: u64,
    /// File offset of its first byte.
    pub offset: u64,
    /// `PF_X`: the segment holds code.
    pub executable: bool,
}

impl Segment {
    /// True when `addr` lies in `[vaddr, vaddr + memsz)`.
    pub fn contains(&self, addr: u64) -> bool {
        self.vaddr <= addr && addr - self.vaddr < self.memsz
    }

    /// The file offset of address `addr` (which the segment contains).
    pub fn file_offset(&self, addr: u64) -> u64 {
        addr.wrapping_sub(self.vaddr).wrapping_add(self.offset)
    }
}

/// A function symbol as the scans see it.
#[derive(Clone, Copy, Debug)]
struct FuncSym<'s> {
    name: &'s [u8],
    offset: u64,
    weak: bool,
    /// The `versym` index (dynamic symbols with version information only).
    version: u16,
}

/// An ELF file opened for symbol and segment lookups.
#[derive(Debug)]
pub struct ElfFile<'a> {
    src: Source<'a>,
    layout: Layout,
    e_type: u16,
    e_machine: u16,
    phoff: u64,
    phnum: u64,
    sections: Vec<SectionHeader>,
    shstrtab: Option<Cow<'a, [u8]>>,
}

impl ElfFile<'static> {
    /// Opens `path` and reads its headers and section table.
    pub fn open(path: &Path) -> Result<ElfFile<'static>, ElfError> {
        let read_err = |source| ElfError::Read {
            offset: 0,
            len: 0,
            source,
        };
        let file = File::open(path).map_err(read_err)?;
        let size = file.metadata().map_err(read_err)?.len();
        ElfFile::from_source(Source::File { file, size })
    }
}

impl<'a> ElfFile<'a> {
    /// Reads the headers and section table of an ELF image held in memory.
    pub fn parse(data: &'a [u8]) -> Result<ElfFile<'a>, ElfError> {
        ElfFile::from_source(Source::Bytes(data))
    }

    fn from_source(src: Source<'a>) -> Result<ElfFile<'a>, ElfError> {
        if src.size() < 16 {
            return Err(ElfError::NotElf);
        }
        // One read for the identification and the header (64 bytes for ELF64, 52 for
        // ELF32).
        let h = src.read(0, src.size().min(64), "the ELF header")?;
        let ident = &h[..16];
        if ident[..4] != E::ELFMAG {
            return Err(ElfError::NotElf);
        }
        let is_64 = match ident[4] {
            E::ELFCLASS64 => true,
            E::ELFCLASS32 => false,
            c => return malformed(format!("unknown ELF class {c}")),
        };
        let little_endian = match ident[5] {
            E::ELFDATA2LSB => true,
            E::ELFDATA2MSB => false,
            d => return malformed(format!("unknown ELF data encoding {d}")),
        };
        let l = Layout {
            is_64,
            little_endian,
        };
        if h.len() < if is_64 { 64 } else { 52 } {
            return malformed("truncated ELF header");
        }
        // Offsets of the fields after e_entry differ by class.
        let (phoff, shoff, rest) = if is_64 {
            (l.u64(&h, 32), l.u64(&h, 40), 52usize)
        } else {
            (
                l.u32(&h, 28).map(u64::from),
                l.u32(&h, 32).map(u64::from),
                40usize,
            )
        };
        let field = |off: usize| l.u16(&h, rest + off).map(u64::from);
        let bad = || ElfError::Malformed("truncated ELF header".into());
        let mut f = ElfFile {
            layout: l,
            e_type: l.u16(&h, 16).ok_or_else(bad)?,
            e_machine: l.u16(&h, 18).ok_or_else(bad)?,
            phoff: phoff.ok_or_else(bad)?,
            phnum: field(4).ok_or_else(bad)?,
            sections: Vec::new(),
            shstrtab: None,
            src,
        };
        let phentsize = field(2).ok_or_else(bad)?;
        if f.phnum != 0 && phentsize < f.phdr_size() {
            return malformed(format!("program header entries of {phentsize} bytes"));
        }
        let shoff = shoff.ok_or_else(bad)?;
        let shentsize = field(6).ok_or_else(bad)?;
        let shnum = field(8).ok_or_else(bad)?;
        let shstrndx = field(10).ok_or_else(bad)?;
        f.read_sections(shoff, shentsize, shnum, shstrndx)?;
        Ok(f)
    }

    fn phdr_size(&self) -> u64 {
        if self.layout.is_64 {
            56
        } else {
            32
        }
    }

    fn shdr_size(&self) -> u64 {
        if self.layout.is_64 {
            64
        } else {
            40
        }
    }

    fn parse_shdr(&self, b: &[u8]) -> Option<SectionHeader> {
        let l = self.layout;
        Some(if l.is_64 {
            SectionHeader {
                name: l.u32(b, 0)?,
                kind: l.u32(b, 4)?,
                addr: l.u64(b, 16)?,
                offset: l.u64(b, 24)?,
                size: l.u64(b, 32)?,
                link: l.u32(b, 40)?,
                addralign: l.u64(b, 48)?,
                entsize: l.u64(b, 56)?,
            }
        } else {
            SectionHeader {
                name: l.u32(b, 0)?,
                kind: l.u32(b, 4)?,
                addr: l.u32(b, 12)?.into(),
                offset: l.u32(b, 16)?.into(),
                size: l.u32(b, 20)?.into(),
                link: l.u32(b, 24)?,
                addralign: l.u32(b, 32)?.into(),
                entsize: l.u32(b, 36)?.into(),
            }
        })
    }

    /// Reads the section table and the section name table. Extended numbering (more
    /// than 0xff00 sections) keeps the count in section 0's size and the name table's
    /// index in its link.
    fn read_sections(
        &mut self,
        shoff: u64,
        shentsize: u64,
        shnum: u64,
        shstrndx: u64,
    ) -> Result<(), ElfError> {
        if shoff == 0 {
            return Ok(());
        }
        let size = self.shdr_size();
        if shentsize < size {
            return malformed(format!("section header entries of {shentsize} bytes"));
        }
        let count = if shnum == 0 {
            // Extended numbering: the count is section 0's size.
            let first = self.src.read(shoff, size, "section header 0")?;
            self.parse_shdr(&first)
                .ok_or_else(|| ElfError::Malformed("truncated section header".into()))?
                .size
        } else {
            shnum
        };
        if count == 0 {
            return Ok(());
        }
        let table_len = count
            .checked_mul(shentsize)
            .ok_or_else(|| ElfError::Malformed(format!("{count} section headers")))?;
        let table = self
            .src
            .read(shoff, table_len, "the section header table")?;
        let zero = self
            .parse_shdr(&table)
            .ok_or_else(|| ElfError::Malformed("truncated section header".into()))?;
        // The table was read in full, so the count is bounded by the file's size.
        let mut sections = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            let entry = &table[i * shentsize as usize..];
            sections.push(
                self.parse_shdr(entry)
                    .ok_or_else(|| ElfError::Malformed("truncated section header".into()))?,
            );
        }
        let strndx = if shstrndx == u64::from(E::SHN_XINDEX) {
            u64::from(zero.link)
        } else {
            shstrndx
        };
        self.sections = sections;
        if strndx != 0 {
            let sh = *self.sections.get(strndx as usize).ok_or_else(|| {
                ElfError::Malformed(format!("section name table index {strndx} out of range"))
            })?;
            self.shstrtab = Some(self.section_data(&sh)?);
        }
        Ok(())
    }

    /// How the file's fields are laid out.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// `e_type` (`ET_EXEC`, `ET_DYN`, ...).
    pub fn e_type(&self) -> u16 {
        self.e_type
    }

    /// `e_machine`.
    pub fn machine(&self) -> u16 {
        self.e_machine
    }

    /// True for shared objects, PIE executables included (`ET_DYN`).
    pub fn is_dyn(&self) -> bool {
        self.e_type == E::ET_DYN
    }

    /// Every section header, in file order.
    pub fn sections(&self) -> &[SectionHeader] {
        &self.sections
    }

    /// The name of a section.
    pub fn section_name(&self, sh: &SectionHeader) -> Option<&[u8]> {
        cstr_at(self.shstrtab.as_deref()?, sh.name as usize)
    }

    /// The first section named `name`.
    pub fn section_by_name(&self, name: &str) -> Option<&SectionHeader> {
        self.sections
            .iter()
            .find(|s| self.section_name(s) == Some(name.as_bytes()))
    }

    /// The first section of type `kind`.
    fn section_by_type(&self, kind: u32) -> Option<&SectionHeader> {
        self.sections.iter().find(|s| s.kind == kind)
    }

    /// The bytes of a section (empty for `SHT_NOBITS`).
    pub fn section_data(&self, sh: &SectionHeader) -> Result<Cow<'a, [u8]>, ElfError> {
        if sh.kind == E::SHT_NOBITS {
            return Ok(Cow::Borrowed(&[]));
        }
        self.src.read(sh.offset, sh.size, "a section")
    }

    /// The loadable segments, sorted by address.
    pub fn load_segments(&self) -> Result<Vec<Segment>, ElfError> {
        let size = self.phdr_size();
        let table_len = self
            .phnum
            .checked_mul(size)
            .ok_or_else(|| ElfError::Malformed("program header count".into()))?;
        let table = self
            .src
            .read(self.phoff, table_len, "the program header table")?;
        let l = self.layout;
        let mut segments = Vec::new();
        for entry in table.chunks_exact(size as usize) {
            let bad = || ElfError::Malformed("truncated program header".into());
            if l.u32(entry, 0).ok_or_else(bad)? != E::PT_LOAD {
                continue;
            }
            let (offset, vaddr, memsz, flags) = if l.is_64 {
                (
                    l.u64(entry, 8),
                    l.u64(entry, 16),
                    l.u64(entry, 40),
                    l.u32(entry, 4),
                )
            } else {
                (
                    l.u32(entry, 4).map(u64::from),
                    l.u32(entry, 8).map(u64::from),
                    l.u32(entry, 20).map(u64::from),
                    l.u32(entry, 24),
                )
            };
            segments.push(Segment {
                vaddr: vaddr.ok_or_else(bad)?,
                memsz: memsz.ok_or_else(bad)?,
                offset: offset.ok_or_else(bad)?,
                executable: flags.ok_or_else(bad)? & E::PF_X != 0,
            });
        }
        segments.sort_by_key(|s| s.vaddr);
        Ok(segments)
    }

    /// Calls `f` with every defined `STT_FUNC` symbol of the first section of type
    /// `table` (`SHT_DYNSYM` or `SHT_SYMTAB`); `Ok(false)` when there is no such table.
    /// Symbols whose name or section can't be read are skipped, as libbpf skips them.
    fn scan_functions(
        &self,
        table: u32,
        f: &mut dyn FnMut(FuncSym<'_>) -> Result<(), ElfError>,
    ) -> Result<bool, ElfError> {
        let Some(symtab) = self.section_by_type(table) else {
            return Ok(false);
        };
        let l = self.layout;
        let sym_size: u64 = if l.is_64 { 24 } else { 16 };
        let entsize = if symtab.entsize == 0 {
            sym_size
        } else {
            symtab.entsize
        };
        if entsize < sym_size {
            return malformed(format!("symbol table entries of {entsize} bytes"));
        }
        let data = self.section_data(symtab)?;
        let strtab = match self.sections.get(symtab.link as usize) {
            Some(s) => self.section_data(s)?,
            None => return malformed("the symbol table's string table index is out of range"),
        };
        let versym = match (table, self.section_by_type(SHT_GNU_VERSYM)) {
            (E::SHT_DYNSYM, Some(v)) => Some(self.section_data(v)?),
            _ => None,
        };
        for (i, entry) in data.chunks_exact(entsize as usize).enumerate() {
            let (name, info, shndx, value) = if l.is_64 {
                (l.u32(entry, 0), entry[4], l.u16(entry, 6), l.u64(entry, 8))
            } else {
                (
                    l.u32(entry, 0),
                    entry[12],
                    l.u16(entry, 14),
                    l.u32(entry, 4).map(u64::from),
                )
            };
            let (Some(name), Some(shndx), Some(value)) = (name, shndx, value) else {
                continue;
            };
            if info & 0xf != E::STT_FUNC || shndx == E::SHN_UNDEF || shndx >= E::SHN_LORESERVE {
                continue;
            }
            let (Some(section), Some(name)) = (
                self.sections.get(usize::from(shndx)),
                cstr_at(&strtab, name as usize),
            ) else {
                continue;
            };
            let version = match &versym {
                Some(v) => match i.checked_mul(2).and_then(|o| l.u16(v, o)) {
                    Some(v) => v & VERSYM_VERSION,
                    None => continue,
                },
                None => 0,
            };
            f(FuncSym {
                name,
                offset: value
                    .wrapping_sub(section.addr)
                    .wrapping_add(section.offset),
                weak: info >> 4 == E::STB_WEAK,
                version,
            })?;
        }
        Ok(true)
    }

    /// The name of version `index` in `.gnu.version_d` (libbpf's `elf_get_vername`).
    fn version_name(&self, index: u16) -> Result<Option<Vec<u8>>, ElfError> {
        let Some(verdef) = self.section_by_type(SHT_GNU_VERDEF) else {
            return Ok(None);
        };
        let data = self.section_data(verdef)?;
        let strings = match self.sections.get(verdef.link as usize) {
            Some(s) => self.section_data(s)?,
            None => return malformed("the version definitions' string table is out of range"),
        };
        let l = self.layout;
        let mut off = 0usize;
        // Each entry is at least 20 bytes, so this bounds a chain that loops.
        for _ in 0..=data.len() / 20 {
            let (Some(ndx), Some(aux), Some(next)) = (
                l.u16(&data, off + 4),
                l.u32(&data, off + 12),
                l.u32(&data, off + 16),
            ) else {
                return Ok(None);
            };
            if ndx == index {
                let name = off
                    .checked_add(aux as usize)
                    .and_then(|a| l.u32(&data, a))
                    .and_then(|n| cstr_at(&strings, n as usize));
                return Ok(name.map(<[u8]>::to_vec));
            }
            if next == 0 {
                break;
            }
            off = match off.checked_add(next as usize) {
                Some(o) => o,
                None => break,
            };
        }
        Ok(None)
    }

    /// The file offset of function `name`, as libbpf's `elf_find_func_offset`:
    /// `.dynsym` first, then `.symtab`; `name` may end in `@VERSION` or `@@VERSION`
    /// (matched against `.gnu.version_d` for dynamic symbols, against the symbol's full
    /// name in `.symtab`). Several matches are fine when they agree; a weak symbol yields
    /// to a non-weak one; two non-weak symbols at different offsets are
    /// [`ElfError::Ambiguous`].
    pub fn function_offset(&self, name: &str) -> Result<u64, ElfError> {
        let (base, version) = match name.split_once('@') {
            Some((b, v)) => (b.as_bytes(), Some(v.strip_prefix('@').unwrap_or(v))),
            None => (name.as_bytes(), None),
        };
        let mut zero = false;
        for table in [E::SHT_DYNSYM, E::SHT_SYMTAB] {
            // (offset, weak) of the match so far.
            let mut found: Option<(u64, bool)> = None;
            let mut versions: Vec<(u16, Option<Vec<u8>>)> = Vec::new();
            self.scan_functions(table, &mut |sym| {
                match sym.name.strip_prefix(base) {
                    Some(r) if r.is_empty() || r[0] == b'@' => {}
                    _ => return Ok(()),
                }
                if let Some(want) = version {
                    let matches = if table == E::SHT_DYNSYM {
                        let known = versions.iter().find(|(i, _)| *i == sym.version);
                        let vname = match known {
                            Some((_, n)) => n.clone(),
                            None => {
                                let n = self.version_name(sym.version)?;
                                versions.push((sym.version, n.clone()));
                                n
                            }
                        };
                        vname.as_deref() == Some(want.as_bytes())
                    } else {
                        sym.name == name.as_bytes()
                    };
                    if !matches {
                        return Ok(());
                    }
                }
                match found {
                    Some((off, _)) if off == sym.offset => {}
                    Some((off, false)) if !sym.weak => {
                        return Err(ElfError::Ambiguous {
                            name: name.to_string(),
                            first: off,
                            second: sym.offset,
                        })
                    }
                    Some(_) if sym.weak => {}
                    _ => found = Some((sym.offset, sym.weak)),
                }
                Ok(())
            })?;
            match found {
                Some((0, _)) => zero = true,
                Some((off, _)) => return Ok(off),
                None => {}
            }
        }
        if zero {
            return Err(ElfError::ZeroAddress {
                name: name.to_string(),
            });
        }
        Err(ElfError::NoSymbol {
            name: name.to_string(),
        })
    }

    /// The file offsets of the functions `names`, in order, as libbpf's
    /// `elf_resolve_syms_offsets`: exact names (no versions), from `.dynsym` and
    /// `.symtab`, with the weak/non-weak rules of [`function_offset`](Self::function_offset).
    pub fn function_offsets(&self, names: &[&str]) -> Result<Vec<u64>, ElfError> {
        let mut index: std::collections::HashMap<&[u8], usize> =
            std::collections::HashMap::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            index.entry(n.as_bytes()).or_insert(i);
        }
        let mut found: Vec<Option<(u64, bool)>> = vec![None; names.len()];
        for table in [E::SHT_DYNSYM, E::SHT_SYMTAB] {
            self.scan_functions(table, &mut |sym| {
                let Some(&i) = index.get(sym.name) else {
                    return Ok(());
                };
                match found[i] {
                    Some((off, _)) if off == sym.offset => {}
                    Some((off, false)) if !sym.weak => {
                        return Err(ElfError::Ambiguous {
                            name: names[i].to_string(),
                            first: off,
                            second: sym.offset,
                        })
                    }
                    Some(_) if sym.weak => {}
                    _ => found[i] = Some((sym.offset, sym.weak)),
                }
                Ok(())
            })?;
        }
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                // Duplicated names share the first one's answer.
                let first = index.get(n.as_bytes()).copied().unwrap_or(i);
                match found[first] {
                    Some((0, _)) => Err(ElfError::ZeroAddress {
                        name: n.to_string(),
                    }),
                    Some((off, _)) => Ok(off),
                    None => Err(ElfError::NoSymbol {
                        name: n.to_string(),
                    }),
                }
            })
            .collect()
    }

    /// The functions whose names match glob `pattern` (`*`, `?`), with their file
    /// offsets, as libbpf's `elf_resolve_pattern_offsets`: `.symtab` first, `.dynsym`
    /// only when `.symtab` has no match. Unlike libbpf, functions at an offset already
    /// listed (aliases such as `malloc` and `__libc_malloc`) are listed once, so that
    /// one call doesn't run the program twice.
    pub fn matching_functions(&self, pattern: &str) -> Result<Vec<(String, u64)>, ElfError> {
        let mut out: Vec<(String, u64)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for table in [E::SHT_SYMTAB, E::SHT_DYNSYM] {
            self.scan_functions(table, &mut |sym| {
                let Ok(name) = std::str::from_utf8(sym.name) else {
                    return Ok(());
                };
                if sym.offset != 0
                    && super::kprobe::glob_match(pattern, name)
                    && seen.insert(sym.offset)
                {
                    out.push((name.to_string(), sym.offset));
                }
                Ok(())
            })?;
            if !out.is_empty() {
                return Ok(out);
            }
        }
        Err(ElfError::NoMatch {
            pattern: pattern.to_string(),
        })
    }
}

/// The NUL-terminated string at `off` in `table` (without the NUL); `None` when it
/// starts outside the table or runs off its end.
pub(crate) fn cstr_at(table: &[u8], off: usize) -> Option<&[u8]> {
    let rest = table.get(off..)?;
    let len = rest.iter().position(|&c| c == 0)?;
    Some(&rest[..len])
}

#[cfg(test)]
mod tests;
