//! Reading the ELF container: header checks, sections, symbols, relocations.
//!
//! Everything is validated here once (offsets and sizes against the file, symbol
//! names against the string table, section indexes against the section table),
//! so the rest of the object layer works on plain, trusted values.

use object::elf;
use object::read::elf::{FileHeader, Rel as _, SectionHeader, Sym as _};
use object::LittleEndian as LE;

use super::ObjectError;

/// `EM_BPF`.
pub const EM_BPF: u16 = 247;
/// `R_BPF_64_64`: the 64-bit immediate of an `ld_imm64`.
pub const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_ABS64`: a 64-bit address in data (a struct_ops function pointer).
pub const R_BPF_64_ABS64: u32 = 2;
/// `R_BPF_64_32`: the 32-bit immediate of a `call`.
pub const R_BPF_64_32: u32 = 10;

/// Where a symbol is defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymSection {
    /// `SHN_UNDEF`: an extern.
    Undefined,
    /// A regular section index.
    Section(usize),
    /// `SHN_ABS`, `SHN_COMMON` and other reserved indexes.
    Special(u16),
}

/// One symbol table entry.
#[derive(Clone, Debug)]
pub struct Symbol {
    /// Name ("" for section symbols and unnamed ones).
    pub name: String,
    /// `st_value`.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// `STT_*`.
    pub kind: u8,
    /// `STB_*`.
    pub bind: u8,
    /// `STV_*`.
    pub visibility: u8,
    /// Defining section.
    pub section: SymSection,
}

impl Symbol {
    /// True for a `STT_FUNC`.
    pub fn is_func(&self) -> bool {
        self.kind == elf::STT_FUNC
    }
    /// True for a `STT_SECTION`.
    pub fn is_section(&self) -> bool {
        self.kind == elf::STT_SECTION
    }
    /// True for a global or weak binding.
    pub fn is_global(&self) -> bool {
        self.bind == elf::STB_GLOBAL || self.bind == elf::STB_WEAK
    }
    /// True for `STV_HIDDEN` or `STV_INTERNAL`.
    pub fn is_hidden(&self) -> bool {
        self.visibility == elf::STV_HIDDEN || self.visibility == elf::STV_INTERNAL
    }
}

/// One section.
#[derive(Clone, Debug)]
pub struct Section<'a> {
    /// Section index.
    pub index: usize,
    /// Name (lossily decoded).
    pub name: String,
    /// `SHT_*`.
    pub sh_type: u32,
    /// `SHF_*`.
    pub flags: u64,
    /// `sh_size` (also for `SHT_NOBITS`, which has no bytes in the file).
    pub size: u64,
    /// The bytes (empty for `SHT_NOBITS`), checked to lie within the file.
    pub data: &'a [u8],
}

impl Section<'_> {
    /// Allocated at run time (`SHF_ALLOC`).
    pub fn is_alloc(&self) -> bool {
        self.flags & u64::from(elf::SHF_ALLOC) != 0
    }
    /// Holds code (`SHT_PROGBITS` with `SHF_EXECINSTR`).
    pub fn is_exec(&self) -> bool {
        self.sh_type == elf::SHT_PROGBITS && self.flags & u64::from(elf::SHF_EXECINSTR) != 0
    }
}

/// One relocation record.
#[derive(Clone, Copy, Debug)]
pub struct Reloc {
    /// Byte offset within the target section.
    pub offset: u64,
    /// `R_BPF_*`.
    pub kind: u32,
    /// Symbol table index.
    pub symbol: usize,
}

/// A relocation section.
#[derive(Clone, Debug)]
pub struct RelocSection {
    /// The section the records apply to.
    pub target: usize,
    /// The records.
    pub relocs: Vec<Reloc>,
}

/// The parsed container.
#[derive(Debug)]
pub struct Elf<'a> {
    /// Every section, by index (index 0 is the null section).
    pub sections: Vec<Section<'a>>,
    /// Every symbol, by index (index 0 is the null symbol).
    pub symbols: Vec<Symbol>,
    /// `SHT_REL` sections.
    pub relocs: Vec<RelocSection>,
}

pub(crate) fn elf_err(reason: impl Into<String>) -> ObjectError {
    ObjectError::Elf {
        path: None,
        reason: reason.into(),
    }
}

/// A human name for an ELF `e_machine` value.
pub fn machine_name(machine: u16) -> &'static str {
    match machine {
        elf::EM_NONE => "none",
        elf::EM_SPARC => "sparc",
        elf::EM_386 => "i386",
        elf::EM_MIPS => "mips",
        elf::EM_PPC => "ppc",
        elf::EM_PPC64 => "ppc64",
        elf::EM_S390 => "s390",
        elf::EM_ARM => "arm",
        elf::EM_SPARCV9 => "sparcv9",
        elf::EM_X86_64 => "x86_64",
        elf::EM_AARCH64 => "aarch64",
        elf::EM_RISCV => "riscv",
        elf::EM_BPF => "bpf",
        elf::EM_LOONGARCH => "loongarch",
        _ => "unknown",
    }
}

/// Bytes that start 8-byte aligned, as `object`'s ELF structures need (it is built
/// without its `unaligned` feature); borrowed when the input already is.
pub enum Aligned<'a> {
    /// The caller's bytes, already aligned.
    Borrowed(&'a [u8]),
    /// A copy placed at an aligned offset of its buffer.
    Owned(Vec<u8>, usize),
}

impl Aligned<'_> {
    /// The aligned bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Aligned::Borrowed(b) => b,
            Aligned::Owned(v, pad) => &v[*pad..],
        }
    }
}

/// Aligns `data` (see [`Aligned`]), copying only when needed.
pub fn aligned(data: &[u8]) -> Aligned<'_> {
    if data.as_ptr() as usize % 8 == 0 {
        return Aligned::Borrowed(data);
    }
    // Reserve room up front so the buffer never moves, then start at an aligned offset.
    let mut buf = Vec::with_capacity(data.len() + 8);
    let pad = (8 - buf.as_ptr() as usize % 8) % 8;
    buf.resize(pad, 0);
    buf.extend_from_slice(data);
    Aligned::Owned(buf, pad)
}

/// Checks the identification and header; returns nothing, errors name the problem.
pub(crate) fn check_header(data: &[u8]) -> Result<(), ObjectError> {
    if data.len() < 4 || data[..4] != elf::ELFMAG {
        return Err(elf_err("not an ELF file (bad magic number)"));
    }
    if data.len() < 64 {
        return Err(elf_err(format!(
            "truncated ELF header ({} of 64 bytes)",
            data.len()
        )));
    }
    match data[4] {
        elf::ELFCLASS64 => {}
        elf::ELFCLASS32 => return Err(elf_err("32-bit ELF; BPF objects are 64-bit")),
        c => return Err(elf_err(format!("unknown ELF class {c}"))),
    }
    match data[5] {
        elf::ELFDATA2LSB => {}
        elf::ELFDATA2MSB => return Err(ObjectError::BigEndian),
        d => return Err(elf_err(format!("unknown ELF data encoding {d}"))),
    }
    let machine = u16::from_le_bytes([data[18], data[19]]);
    if machine != EM_BPF {
        return Err(ObjectError::WrongMachine {
            machine,
            name: machine_name(machine),
        });
    }
    let e_type = u16::from_le_bytes([data[16], data[17]]);
    if e_type != elf::ET_REL {
        return Err(ObjectError::NotRelocatable { e_type });
    }
    Ok(())
}

/// Parses the container. `data` must be 8-byte aligned (see [`aligned`]).
pub fn parse(data: &[u8]) -> Result<Elf<'_>, ObjectError> {
    check_header(data)?;
    let e = LE;
    let hdr = elf::FileHeader64::<LE>::parse(data)
        .map_err(|err| elf_err(format!("ELF header: {err}")))?;
    // The checks `object` makes, first with the numbers in the message.
    let (shoff, shentsize, shnum) = (
        hdr.e_shoff(e),
        u64::from(hdr.e_shentsize(e)),
        u64::from(hdr.e_shnum(e)),
    );
    if shnum != 0 {
        if shentsize != 64 {
            return Err(elf_err(format!(
                "section header size {shentsize}, not 64 (e_shentsize)"
            )));
        }
        if !shoff
            .checked_add(shnum * shentsize)
            .is_some_and(|end| end <= data.len() as u64)
        {
            return Err(elf_err(format!(
                "section table ({shnum} entries of {shentsize} bytes at offset {shoff}) \
                 lies past the end of the {}-byte file",
                data.len()
            )));
        }
        let shstrndx = u64::from(hdr.e_shstrndx(e));
        if shstrndx != u64::from(elf::SHN_XINDEX) && shstrndx >= shnum {
            return Err(elf_err(format!(
                "section name table index {shstrndx} (e_shstrndx) is not one of the \
                 {shnum} sections"
            )));
        }
    }
    let table = hdr
        .sections(e, data)
        .map_err(|err| elf_err(format!("section table: {err}")))?;
    let names_size = table
        .section(object::SectionIndex(usize::from(hdr.e_shstrndx(e))))
        .map_or(0, |s| s.sh_size(e));

    let mut sections = Vec::with_capacity(table.len());
    for (idx, sh) in table.enumerate() {
        let name = table.section_name(e, sh).map_err(|err| {
            elf_err(format!(
                "name of section {}: offset {} in the {names_size}-byte section name \
                 table: {err}",
                idx.0,
                sh.sh_name(e)
            ))
        })?;
        let name = String::from_utf8_lossy(name).into_owned();
        let (offset, size) = (sh.sh_offset(e), sh.sh_size(e));
        if sh.sh_type(e) != elf::SHT_NOBITS
            && !offset
                .checked_add(size)
                .is_some_and(|end| end <= data.len() as u64)
        {
            return Err(elf_err(format!(
                "section '{name}' (index {}): its {size} bytes at offset {offset} lie \
                 past the end of the {}-byte file",
                idx.0,
                data.len()
            )));
        }
        let bytes = sh
            .data(e, data)
            .map_err(|err| elf_err(format!("section '{name}' (index {}): {err}", idx.0)))?;
        sections.push(Section {
            index: idx.0,
            name,
            sh_type: sh.sh_type(e),
            flags: sh.sh_flags(e),
            size: sh.sh_size(e),
            data: bytes,
        });
    }

    let symtab_count = table
        .iter()
        .filter(|s| s.sh_type(e) == elf::SHT_SYMTAB)
        .count();
    if symtab_count == 0 {
        return Err(elf_err("no symbol table (stripped object?)"));
    }
    if symtab_count > 1 {
        return Err(elf_err("more than one symbol table"));
    }
    let symtab = table
        .symbols(e, data, elf::SHT_SYMTAB)
        .map_err(|err| elf_err(format!("symbol table: {err}")))?;
    let symtab_index = symtab.section().0;
    let mut symbols = Vec::with_capacity(symtab.len());
    for (idx, sym) in symtab.enumerate() {
        let name = symtab
            .symbol_name(e, sym)
            .map_err(|err| elf_err(format!("name of symbol {}: {err}", idx.0)))?;
        let name = String::from_utf8_lossy(name).into_owned();
        let section = match sym.st_shndx(e) {
            elf::SHN_UNDEF => SymSection::Undefined,
            elf::SHN_XINDEX => match symtab.symbol_section(e, sym, idx) {
                Ok(Some(s)) => SymSection::Section(s.0),
                Ok(None) => SymSection::Undefined,
                Err(err) => return Err(elf_err(format!("section of symbol '{name}': {err}"))),
            },
            s if s < elf::SHN_LORESERVE => SymSection::Section(usize::from(s)),
            s => SymSection::Special(s),
        };
        if let SymSection::Section(s) = section {
            if s >= sections.len() {
                return Err(elf_err(format!(
                    "symbol '{name}' is in section {s}, but there are only {} sections",
                    sections.len()
                )));
            }
        }
        symbols.push(Symbol {
            name,
            value: sym.st_value(e),
            size: sym.st_size(e),
            kind: sym.st_type(),
            bind: sym.st_bind(),
            visibility: sym.st_visibility(),
            section,
        });
    }

    let mut relocs = Vec::new();
    for (idx, sh) in table.enumerate() {
        if sh.sh_type(e) != elf::SHT_REL {
            continue;
        }
        let name = &sections[idx.0].name;
        let target = sh.sh_info(e) as usize;
        // As libbpf: only relocations of code, of `.maps` (the `values` initializers of
        // map-in-maps and program arrays) and of struct_ops variables (their function
        // pointers) matter; `.rel.BTF`, `.rel.BTF.ext`, `.rel.debug_*` and the like are
        // for linkers and are skipped.
        let wanted = |t: &Section<'_>| {
            t.is_exec()
                || t.name == ".maps"
                || t.name == ".struct_ops"
                || t.name == ".struct_ops.link"
        };
        if !sections.get(target).is_some_and(wanted) {
            log::debug!("skipping relocation section '{name}' (its target is not code)");
            continue;
        }
        if sh.sh_link(e) as usize != symtab_index {
            return Err(elf_err(format!(
                "relocation section '{name}' does not refer to the symbol table"
            )));
        }
        let (rels, _) = sh
            .rel(e, data)
            .map_err(|err| elf_err(format!("relocation section '{name}': {err}")))?
            .unwrap_or((&[], object::SectionIndex(0)));
        let relocs_of: Vec<Reloc> = rels
            .iter()
            .map(|r| Reloc {
                offset: r.r_offset(e),
                kind: r.r_type(e),
                symbol: r.r_sym(e) as usize,
            })
            .collect();
        relocs.push(RelocSection {
            target,
            relocs: relocs_of,
        });
    }
    Ok(Elf {
        sections,
        symbols,
        relocs,
    })
}
