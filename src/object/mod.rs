//! The object model: an ELF file from `clang -target bpf -g -O2` turned into an
//! [`ObjectSpec`] — programs, maps, global data, BTF and `.BTF.ext` — deterministically
//! and without touching the kernel.
//!
//! Semantics follow libbpf's `bpf_object__open()`: `bpf_object__elf_collect` (which
//! sections mean what), `bpf_object__init_user_btf_maps`/`parse_btf_map_def` (BTF map
//! definitions), `btf_fixup_datasec` (see [`crate::btf::fixup`]),
//! `bpf_object__collect_relos`/`bpf_program__record_reloc` (relocations) and
//! `bpf_object__reloc_code` (appending `.text` subprograms to each program).
//!
//! What the loader still has to do with a [`ProgramSpec`]'s instructions:
//!
//! - for each [`MapReloc`] at `insn` (always the first slot of an `ld_imm64`):
//!   [`MapRelocKind::Fd`]: `insns[insn].src_reg = BPF_PSEUDO_MAP_FD`, `imm = fd`;
//!   [`MapRelocKind::Value`]: `src_reg = BPF_PSEUDO_MAP_VALUE`, `insns[insn].imm = fd`,
//!   `insns[insn + 1].imm = offset`. The instructions are left as clang wrote them.
//! - [`ExternReloc`]s (`.kconfig`/`.ksyms`) are recorded, not resolved.
//! - CO-RE relocations are in `core_relos` (instruction offsets), not applied.
//!
//! Calls to subprograms and `ld_imm64` of callback addresses are already linked
//! (relative immediates; `src_reg = BPF_PSEUDO_FUNC` on the latter).

mod elf;
mod global_value;
mod link;
mod maps;
pub mod section;
pub mod struct_ops;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;

use crate::btf::ext::ExtSection;
use crate::btf::fixup::{self, VarSymbol, KCONFIG_SEC, KSYMS_SEC};
use crate::btf::{Btf, BtfError, BtfExt, Kind};
use crate::insn::Insn;

pub use crate::btf::ext::{CoreRelo, ExtPart, FuncInfo, LineInfo};
pub use elf::EM_BPF;
pub use global_value::{GlobalInfo, GlobalValueError};
pub use maps::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG};
pub use section::ProgramKind;
pub use struct_ops::{StructOpsFunc, StructOpsSpec};

use link::{CodeSection, Func, Linker, ResolveCtx, Target};

/// Errors from turning an ELF file into an [`ObjectSpec`]. Each names the section,
/// program, map or symbol involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// Reading the file failed.
    #[error("reading {path}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not an ELF file, or a malformed or truncated one.
    #[error("{}invalid ELF: {reason}", in_file(.path.as_deref()))]
    Elf {
        /// The file, when the object was read from one ([`ObjectSpec::from_file`]).
        path: Option<String>,
        /// What failed.
        reason: String,
    },
    /// An ELF file for another machine.
    #[error(
        "ELF machine is {name} ({machine}), not BPF ({EM_BPF}): compile with `clang -target bpf`"
    )]
    WrongMachine {
        /// `e_machine`.
        machine: u16,
        /// Its name (`x86_64`, ...).
        name: &'static str,
    },
    /// An executable or shared object instead of a relocatable object.
    #[error("ELF type {e_type} is not a relocatable object (ET_REL, from `clang -c`)")]
    NotRelocatable {
        /// `e_type`.
        e_type: u16,
    },
    /// Big-endian ELF (`-target bpfeb`).
    #[error("big-endian ELF is not supported (compile with `-target bpf` on a little-endian host or `-target bpfel`)")]
    BigEndian,
    /// A section holding code whose name is no known program type.
    #[error("section '{name}' holds code, but its name is no known program type (missing BPF prog type)")]
    UnknownSection {
        /// Section name.
        name: String,
    },
    /// A feature this loader does not support (yet).
    #[error("not supported: {what}")]
    Unsupported {
        /// What, naming the section or map.
        what: String,
    },
    /// A section whose contents are invalid.
    #[error("section '{section}': {reason}")]
    BadSection {
        /// Section name.
        section: String,
        /// What is wrong.
        reason: String,
    },
    /// A program or subprogram whose symbol is invalid.
    #[error("program '{program}' in section '{section}': {reason}")]
    BadProgram {
        /// Function name.
        program: String,
        /// Section name.
        section: String,
        /// What is wrong.
        reason: String,
    },
    /// BTF that the object needs is missing or invalid.
    #[error("invalid BTF for {what}")]
    Btf {
        /// What needed it.
        what: String,
        /// The BTF error.
        #[source]
        source: BtfError,
    },
    /// `.BTF.ext` is there but a part of it does not parse or validate, or its CO-RE
    /// relocations can't be read because the object's BTF is invalid. libbpf then loads
    /// without the section, CO-RE relocations included, so fields are read at the
    /// offsets clang assumed; here it is an error.
    #[error("section '.BTF.ext': {part} at byte offset {offset}: {reason}")]
    BadBtfExt {
        /// The part the bad bytes belong to.
        part: ExtPart,
        /// Byte offset within `.BTF.ext` of the header field, section entry or record.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// An invalid map definition.
    #[error("map '{map}': {reason}")]
    BadMap {
        /// Map name.
        map: String,
        /// What is wrong.
        reason: String,
    },
    /// An invalid relocation record.
    #[error("relocation in section '{section}' at offset {offset:#x}: {reason}")]
    BadReloc {
        /// The section the relocation applies to.
        section: String,
        /// Its byte offset there.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An `ld_imm64` refers to a map or variable the object does not define.
    #[error("program '{program}' references '{symbol}' at instruction {insn}, which the object does not define")]
    MissingMap {
        /// The (sub)program.
        program: String,
        /// The symbol.
        symbol: String,
        /// Instruction index within the (sub)program.
        insn: usize,
    },
    /// A call of a function the object does not define (and that is no `__ksym` extern).
    #[error("program '{program}' calls '{symbol}' at instruction {insn}, which the object does not define")]
    MissingFunction {
        /// The (sub)program.
        program: String,
        /// The symbol.
        symbol: String,
        /// Instruction index within the (sub)program.
        insn: usize,
    },
    /// A bpf-to-bpf call (or callback address) that does not lead to a `.text` function.
    #[error("program '{program}': call at instruction {insn}: {reason}")]
    BadCall {
        /// The (sub)program.
        program: String,
        /// Instruction index within it.
        insn: usize,
        /// What is wrong.
        reason: String,
    },
    /// A program that links to more instructions than any kernel accepts.
    #[error("program '{program}' is too large: {reason}")]
    TooLarge {
        /// The program.
        program: String,
        /// Which limit.
        reason: String,
    },
}

/// Kinds of global data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GlobalKind {
    /// `.data`, `.data.*`.
    Data,
    /// `.rodata`, `.rodata.*` (including string literal sections like `.rodata.str1.1`).
    Rodata,
    /// `.bss`, `.bss.*`.
    Bss,
    /// `.kconfig` externs.
    Kconfig,
}

/// Where a map definition comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MapKind {
    /// A BTF-defined map in `.maps`.
    Btf,
    /// A `struct bpf_map_def` in the legacy `maps` section.
    Legacy,
    /// A global data section (or `.kconfig`), as a one-element array.
    GlobalData(GlobalKind),
    /// A struct_ops variable in `.struct_ops` or `.struct_ops.link` (see
    /// [`ObjectSpec::struct_ops`]).
    StructOps,
}

/// Map pinning (`LIBBPF_PIN_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Pinning {
    /// Not pinned.
    #[default]
    None,
    /// Pinned by name under the pin root (`LIBBPF_PIN_BY_NAME`).
    ByName,
}

/// A map, as the object defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpec {
    /// C name (`counts`), or the section name for global data (`.rodata`, `.data.foo`, `.bss`, `.kconfig`).
    pub name: String,
    /// Where it comes from.
    pub kind: MapKind,
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `BPF_F_*` flags. Global data: `BPF_F_RDONLY_PROG` for `.rodata*`/`.kconfig`, and
    /// `BPF_F_MMAPABLE` when its DATASEC has a non-static variable (libbpf's rule).
    pub map_flags: u32,
    /// NUMA node.
    pub numa_node: u32,
    /// `map_extra` (bloom filter hashes, ...).
    pub map_extra: u64,
    /// Pinning.
    pub pinning: Pinning,
    /// BTF type of the key (0 when none).
    pub btf_key_type_id: u32,
    /// BTF type of the value (0 when none; the DATASEC for global data).
    pub btf_value_type_id: u32,
    /// Initial value: the section bytes of `.data*`/`.rodata*`; empty otherwise.
    pub data: Vec<u8>,
    /// ELF section the definition or data lives in (0 for `.kconfig`, which has none).
    pub section_index: usize,
    /// Offset of the definition within its section (`.maps`, `maps`); 0 for global data.
    pub symbol_offset: u64,
    /// A map-in-map's inner map definition (`__array(values, struct inner)`), named
    /// `NAME.inner`.
    pub inner: Option<Box<MapSpec>>,
    /// The slots its `values` initializer fills (`.values = { [1] = &other }`), in slot
    /// order: for a map-in-map, maps of this object; for a program array, programs.
    pub init_slots: Vec<(u32, SlotValue)>,
}

/// What a slot of a `values` initializer holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SlotValue {
    /// The map of this name (a map-in-map's slot).
    Map(String),
    /// The program of this name (a program array's slot).
    Program(String),
}

/// How an `ld_imm64` refers to a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MapRelocKind {
    /// The map itself (its fd): `BPF_PSEUDO_MAP_FD`.
    Fd,
    /// An address within its (single) value: `BPF_PSEUDO_MAP_VALUE` plus `offset`.
    Value {
        /// Byte offset within the value.
        offset: u32,
    },
}

/// An `ld_imm64` the loader must point at a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapReloc {
    /// Index of the `ld_imm64`'s first slot in [`ProgramSpec::insns`].
    pub insn: usize,
    /// Index into [`ObjectSpec::maps`].
    pub map: usize,
    /// Map or value address.
    pub kind: MapRelocKind,
}

/// Which extern section an extern belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExternKind {
    /// `__kconfig`: a value from the kernel configuration, in the `.kconfig` map.
    Kconfig,
    /// `__ksym`: a kernel variable or function (kfunc).
    Ksym,
}

/// An instruction referring to a `.kconfig`/`.ksyms` extern.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExternReloc {
    /// Index of the instruction (`ld_imm64` first slot, or `call`) in [`ProgramSpec::insns`].
    pub insn: usize,
    /// The extern's name.
    pub symbol: String,
    /// A `call` (kfunc) rather than an `ld_imm64`.
    pub is_call: bool,
    /// `.kconfig` or `.ksyms`.
    pub kind: ExternKind,
    /// Declared `__weak` (its ELF symbol is `STB_WEAK`): may stay unresolved.
    pub weak: bool,
}

/// A program, linked with the subprograms it calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramSpec {
    /// Function symbol name.
    pub name: String,
    /// Section name without a leading `?`.
    pub section: String,
    /// False when the section name starts with `?` (libbpf: not loaded by default).
    pub autoload: bool,
    /// Program type and attach information from the section name.
    pub kind: ProgramKind,
    /// The body, then each `.text` subprogram it reaches, once, in order of first use.
    pub insns: Vec<Insn>,
    /// `ld_imm64`s of maps and global data, sorted by instruction.
    pub map_relocs: Vec<MapReloc>,
    /// BTF function info, `insn_off` in instructions, sorted.
    pub func_info: Vec<FuncInfo>,
    /// BTF line info, `insn_off` in instructions, sorted.
    pub line_info: Vec<LineInfo>,
    /// CO-RE relocations, `insn_off` in instructions, sorted; applied by the CO-RE pass.
    pub core_relos: Vec<CoreRelo>,
    /// References to `.kconfig`/`.ksyms` externs, sorted by instruction.
    pub extern_relocs: Vec<ExternReloc>,
}

/// Everything an object file defines.
#[derive(Debug)]
pub struct ObjectSpec {
    /// Object name: the file name without `.bpf.o`/`.o`, or as given.
    pub name: String,
    /// From `SEC("license")`, up to its NUL; "" when absent.
    pub license: String,
    /// From `SEC("version")`.
    pub kernel_version: Option<u32>,
    /// The object's BTF with DATASEC sizes and VAR offsets fixed up; `None` if absent or
    /// invalid (then a warning is logged).
    pub btf: Option<Btf>,
    /// `.BTF.ext` as in the file (byte offsets); `None` if absent, or dropped with an
    /// invalid `.BTF` when it holds no CO-RE relocations. A `.BTF.ext` that does not
    /// validate is an error ([`ObjectError::BadBtfExt`]), not a silent `None`.
    pub btf_ext: Option<BtfExt>,
    /// BTF-defined maps, legacy maps, global data maps (section order), then `.kconfig`.
    pub maps: Vec<MapSpec>,
    /// Programs, by section index then offset.
    pub programs: Vec<ProgramSpec>,
    /// struct_ops variables: their maps (in [`maps`](Self::maps), after global data)
    /// and which program each function-pointer member points to.
    pub struct_ops: Vec<StructOpsSpec>,
}

/// Opens `path` and checks, before reading anything beyond the ELF header, that it is a
/// regular file whose header is valid and whose section table lies within its size;
/// then maps it. A device (`/dev/zero`) or a huge file that is not an object costs
/// neither time nor memory.
fn read_checked(path: &Path) -> Result<crate::sys::mmap::FileMap, ObjectError> {
    use std::io::Read as _;
    let io = |source| ObjectError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(elf::elf_err("not a regular file"));
    }
    let size = meta.len();
    let mut head = Vec::with_capacity(64);
    (&mut f).take(64).read_to_end(&mut head).map_err(io)?;
    elf::check_header(&head)?;
    let field = |at: usize, n: usize| {
        head[at..at + n]
            .iter()
            .rev()
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b))
    };
    let (shoff, shentsize, shnum) = (field(40, 8), field(58, 2), field(60, 2));
    let end = shoff.checked_add(shentsize * shnum);
    if !matches!(end, Some(end) if end <= size) {
        return Err(elf::elf_err(format!(
            "section table ({shnum} entries of {shentsize} bytes at offset {shoff}) \
             lies past the end of the {size}-byte file"
        )));
    }
    let len = usize::try_from(size).map_err(|_| elf::elf_err("file too large to map"))?;
    crate::sys::mmap::FileMap::map(&f, len).map_err(|e| io(e.source))
}

/// `"PATH: "` for an error about a file, or nothing.
fn in_file(path: Option<&str>) -> String {
    path.map_or_else(String::new, |p| format!("{p}: "))
}

impl ObjectSpec {
    /// Reads and parses an object file; its name is the file name without `.bpf.o`/`.o`.
    pub fn from_file(path: &Path) -> Result<ObjectSpec, ObjectError> {
        let data = read_checked(path).map_err(|e| match e {
            ObjectError::Elf { path: None, reason } => ObjectError::Elf {
                path: Some(path.display().to_string()),
                reason,
            },
            e => e,
        })?;
        let data = data.as_ref();
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = file
            .strip_suffix(".bpf.o")
            .or_else(|| file.strip_suffix(".o"))
            .map(str::to_string)
            .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_default();
        Self::parse(data, &name).map_err(|e| match e {
            ObjectError::Elf { path: None, reason } => ObjectError::Elf {
                path: Some(path.display().to_string()),
                reason,
            },
            e => e,
        })
    }

    /// Parses an object file's bytes.
    pub fn parse(data: &[u8], name: &str) -> Result<ObjectSpec, ObjectError> {
        let aligned = elf::aligned(data);
        let elf = elf::parse(aligned.bytes())?;
        Parser::new(&elf, name)?.run()
    }

    /// The map named `name`.
    pub fn map(&self, name: &str) -> Option<&MapSpec> {
        self.maps.iter().find(|m| m.name == name)
    }

    /// The program named `name`.
    pub fn program(&self, name: &str) -> Option<&ProgramSpec> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// Where global variable `name` lives: which global-data map, and its offset and
    /// size in that map's value, from the object's BTF (what a skeleton's
    /// `bss->name` resolves to). `None` without BTF or without such a variable.
    pub fn global(&self, name: &str) -> Option<GlobalVar> {
        let btf = self.btf.as_ref()?;
        self.maps.iter().enumerate().find_map(|(map, m)| {
            if !matches!(m.kind, MapKind::GlobalData(_)) || m.btf_value_type_id == 0 {
                return None;
            }
            let sec = btf.type_by_id(m.btf_value_type_id).ok()?;
            let v = sec
                .datasec_vars()
                .find(|v| btf.type_name(v.type_id).is_ok_and(|n| n == name))?;
            Some(GlobalVar {
                map,
                offset: v.offset,
                size: v.size,
            })
        })
    }
}

/// A global variable's place: see [`ObjectSpec::global`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalVar {
    /// Index into [`ObjectSpec::maps`] of its global-data map.
    pub map: usize,
    /// Byte offset within the map's value.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

/// The sections that mean something, found in one pass.
struct Parser<'e, 'a> {
    elf: &'e elf::Elf<'a>,
    name: String,
    license: String,
    kernel_version: Option<u32>,
    btf_maps: Option<usize>,
    legacy_maps: Option<usize>,
    btf_sec: Option<usize>,
    ext_sec: Option<usize>,
    text: Option<usize>,
    programs: Vec<usize>,
    data: Vec<(usize, GlobalKind)>,
    struct_ops: Vec<usize>,
}

impl<'e, 'a> Parser<'e, 'a> {
    fn new(elf: &'e elf::Elf<'a>, name: &str) -> Result<Self, ObjectError> {
        let mut p = Parser {
            elf,
            name: name.to_string(),
            license: String::new(),
            kernel_version: None,
            btf_maps: None,
            legacy_maps: None,
            btf_sec: None,
            ext_sec: None,
            text: None,
            programs: Vec::new(),
            data: Vec::new(),
            struct_ops: Vec::new(),
        };
        for sec in &elf.sections {
            if sec.index == 0 {
                continue;
            }
            let bad = |reason: &str| ObjectError::BadSection {
                section: sec.name.clone(),
                reason: reason.to_string(),
            };
            match sec.name.as_str() {
                "license" => {
                    let end = sec
                        .data
                        .iter()
                        .position(|&b| b == 0)
                        .unwrap_or(sec.data.len());
                    p.license = String::from_utf8_lossy(&sec.data[..end]).into_owned();
                }
                "version" => {
                    let b: [u8; 4] = sec.data.try_into().map_err(|_| {
                        bad(&format!(
                            "{} bytes; the kernel version is a 4-byte u32",
                            sec.data.len()
                        ))
                    })?;
                    p.kernel_version = Some(u32::from_le_bytes(b));
                }
                ".maps" => p.btf_maps = Some(sec.index),
                "maps" => p.legacy_maps = Some(sec.index),
                ".BTF" => p.btf_sec = Some(sec.index),
                ".BTF.ext" => p.ext_sec = Some(sec.index),
                ".struct_ops" | ".struct_ops.link" => p.struct_ops.push(sec.index),
                _ if sec.is_exec() => {
                    if sec.size == 0 {
                        continue;
                    }
                    if sec.name == ".text" {
                        p.text = Some(sec.index);
                        continue;
                    }
                    let bare = sec.name.strip_prefix('?').unwrap_or(&sec.name);
                    if ProgramKind::from_section(bare).is_none() {
                        return Err(ObjectError::UnknownSection {
                            name: sec.name.clone(),
                        });
                    }
                    p.programs.push(sec.index);
                }
                n => match maps::global_kind(n) {
                    Some(kind) if sec.is_alloc() && sec.size > 0 => p.data.push((sec.index, kind)),
                    _ => log::debug!("skipping section '{n}'"),
                },
            }
        }
        Ok(p)
    }

    fn section(&self, idx: usize) -> &'e elf::Section<'a> {
        &self.elf.sections[idx]
    }

    /// Parses and fixes up `.BTF`; `Ok(None)` (with a warning) when it is absent or bad
    /// and nothing requires it.
    fn btf(&self) -> Result<Option<Btf>, ObjectError> {
        let Some(idx) = self.btf_sec else {
            if let Some(m) = self.btf_maps {
                return Err(ObjectError::BadSection {
                    section: self.section(m).name.clone(),
                    reason: "BTF-defined maps need BTF, and the object has no .BTF section".into(),
                });
            }
            return Ok(None);
        };
        let elf = self.elf;
        let result = Btf::parse(self.section(idx).data.to_vec()).and_then(|mut btf| {
            // The checks a target BTF gets: the kernel would refuse such BTF at load
            // (and the loader then go on without it), and this layer's own readers
            // (map definitions, CO-RE, globals) would act on dangling ids and names.
            crate::btf::validate::validate(&btf)?;
            let mut sizes: HashMap<&str, u64> = HashMap::new();
            for s in elf.sections.iter().rev() {
                sizes.insert(&s.name, s.size);
            }
            let mut globals: HashMap<&str, VarSymbol> = HashMap::new();
            for s in elf.symbols.iter().rev() {
                if s.kind == object::elf::STT_OBJECT
                    && s.is_global()
                    && matches!(s.section, elf::SymSection::Section(_))
                {
                    globals.insert(
                        &s.name,
                        VarSymbol {
                            value: s.value,
                            hidden: s.is_hidden(),
                        },
                    );
                }
            }
            fixup::fixup_datasecs(&mut btf, &|n| sizes.get(n).copied(), &|n| {
                globals.get(n).copied()
            })?;
            let text = self.text;
            let hidden_subprogs: std::collections::HashSet<&str> = elf
                .symbols
                .iter()
                .filter(|s| {
                    s.is_func()
                        && s.is_global()
                        && s.is_hidden()
                        && text.is_some_and(|t| s.section == elf::SymSection::Section(t))
                })
                .map(|s| s.name.as_str())
                .collect();
            fixup::mark_hidden_funcs_static(&mut btf, &|n| hidden_subprogs.contains(n))?;
            Ok(btf)
        });
        match result {
            Ok(btf) => Ok(Some(btf)),
            Err(source) if self.btf_maps.is_some() => Err(ObjectError::Btf {
                what: "the maps in '.maps'".into(),
                source,
            }),
            Err(e) => {
                log::warn!("object '{}': ignoring invalid .BTF: {e}", self.name);
                Ok(None)
            }
        }
    }

    /// `.BTF.ext`, validated against the object's BTF. Without usable BTF it is dropped
    /// with the BTF (a warning was logged) unless it holds CO-RE relocations, which
    /// would then be skipped silently.
    fn btf_ext(&self, btf: Option<&Btf>) -> Result<Option<BtfExt>, ObjectError> {
        let Some(idx) = self.ext_sec else {
            return Ok(None);
        };
        let data = self.section(idx).data;
        match btf {
            Some(b) => BtfExt::parse(data, b)
                .map(Some)
                .map_err(|e| ObjectError::BadBtfExt {
                    part: e.part,
                    offset: e.offset,
                    reason: e.reason,
                }),
            None if crate::btf::ext::declares_core_relos(data) => Err(ObjectError::BadBtfExt {
                part: ExtPart::CoreRelo,
                offset: 24,
                reason: "the object's .BTF, which the CO-RE relocations refer to, is missing \
                         or invalid"
                    .into(),
            }),
            None => Ok(None),
        }
    }

    fn run(self) -> Result<ObjectSpec, ObjectError> {
        let elf = self.elf;
        let btf = self.btf()?;
        let btf_ext = self.btf_ext(btf.as_ref())?;

        // Maps: BTF-defined, legacy, global data.
        let mut maps = Vec::new();
        if let Some(idx) = self.btf_maps {
            // `btf()` made sure BTF exists when `.maps` does.
            if let Some(b) = &btf {
                maps.extend(maps::btf_maps(b, self.section(idx), elf)?);
            }
        }
        if let Some(idx) = self.legacy_maps {
            maps.extend(maps::legacy_maps(elf, self.section(idx))?);
        }
        for &(idx, kind) in &self.data {
            maps.push(maps::global_data_map(
                self.section(idx),
                kind,
                btf.as_ref(),
            )?);
        }
        let mut struct_ops = Vec::new();
        for &idx in &self.struct_ops {
            let (m, specs) = struct_ops::parse(elf, self.section(idx), btf.as_ref(), maps.len())?;
            maps.extend(m);
            struct_ops.extend(specs);
        }

        // Code sections and their functions.
        let mut code_secs: Vec<CodeSection> = Vec::new();
        let mut funcs: Vec<Func> = Vec::new();
        let mut func_ranges = Vec::new();
        let mut text_code = None;
        let mut funcs_by_section: HashMap<usize, Vec<&elf::Symbol>> = HashMap::new();
        for s in &elf.symbols {
            if let (true, elf::SymSection::Section(i)) = (s.is_func(), s.section) {
                funcs_by_section.entry(i).or_default().push(s);
            }
        }
        for idx in self.text.iter().chain(self.programs.iter()).copied() {
            let sec = self.section(idx);
            let insns = Insn::decode_all(sec.data).ok_or_else(|| ObjectError::BadSection {
                section: sec.name.clone(),
                reason: format!(
                    "size {} is not a whole number of 8-byte instructions",
                    sec.data.len()
                ),
            })?;
            let code = code_secs.len();
            if Some(idx) == self.text {
                text_code = Some(code);
            }
            let mut mine = Vec::new();
            for s in funcs_by_section.get(&idx).into_iter().flatten() {
                let bad = |reason: String| ObjectError::BadProgram {
                    program: s.name.clone(),
                    section: sec.name.clone(),
                    reason,
                };
                if s.value % 8 != 0 || s.size % 8 != 0 || s.size == 0 {
                    return Err(bad(format!(
                        "offset {} and size {} must be non-empty whole instructions",
                        s.value, s.size
                    )));
                }
                let end = s
                    .value
                    .checked_add(s.size)
                    .filter(|&e| e <= sec.data.len() as u64);
                if end.is_none() {
                    return Err(bad(format!(
                        "{}+{} is outside the section's {} bytes",
                        s.value,
                        s.size,
                        sec.data.len()
                    )));
                }
                let (start, len) = ((s.value / 8) as usize, (s.size / 8) as usize);
                // An ld_imm64 takes two slots; one whose second slot lies past the
                // function's end would make the linker and the loader read the next
                // function's (or nothing) as its upper 32 bits.
                let mut i = start;
                while i < start + len {
                    if insns[i].is_ld_imm64() {
                        if i + 1 >= start + len {
                            return Err(bad(format!(
                                "instruction {} is the first half of an ld_imm64 whose \
                                 second half lies past the function's {len} instructions",
                                i - start
                            )));
                        }
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                mine.push(Func {
                    name: s.name.clone(),
                    code,
                    start,
                    len,
                });
            }
            crate::util::sort_by_key(&mut mine, |f| f.start);
            for w in mine.windows(2) {
                if w[1].start < w[0].start + w[0].len {
                    return Err(ObjectError::BadProgram {
                        program: w[1].name.clone(),
                        section: sec.name.clone(),
                        reason: format!("it overlaps '{}'", w[0].name),
                    });
                }
            }
            func_ranges.push(funcs.len()..funcs.len() + mine.len());
            funcs.extend(mine);
            code_secs.push(CodeSection {
                index: idx,
                name: sec.name.clone(),
                insns,
                relocs: Default::default(),
                func_info: Vec::new(),
                line_info: Vec::new(),
                core_relos: Vec::new(),
            });
        }

        // `.BTF.ext` records, converted to instruction indexes per section.
        if let Some(ext) = &btf_ext {
            attach_ext(ext, &mut code_secs)?;
        }

        // Externs, from the `.kconfig`/`.ksyms` DATASECs.
        let externs = btf.as_ref().map(extern_names).unwrap_or_default();

        // Relocations.
        let ctx = ResolveCtx {
            elf,
            maps: &maps,
            externs: &externs,
            text: self.text,
            map_sections: [self.btf_maps, self.legacy_maps],
        };
        let mut rels_by_target: HashMap<usize, Vec<&elf::RelocSection>> = HashMap::new();
        for rs in &elf.relocs {
            rels_by_target.entry(rs.target).or_default().push(rs);
        }
        for (sec, range) in code_secs.iter_mut().zip(&func_ranges) {
            let rels = rels_by_target
                .get(&sec.index)
                .map(Vec::as_slice)
                .unwrap_or_default();
            link::resolve(&ctx, sec, &funcs[range.clone()], rels)?;
        }
        let uses_kconfig = code_secs.iter().any(|c| {
            c.relocs.values().any(|t| {
                matches!(
                    t,
                    Target::Extern {
                        kind: ExternKind::Kconfig,
                        ..
                    }
                )
            })
        });
        if uses_kconfig {
            if let Some(m) = btf.as_ref().and_then(maps::kconfig_map) {
                maps.push(m);
            }
        }

        // Programs, linked.
        let text_starts = funcs
            .iter()
            .enumerate()
            .filter(|(_, f)| Some(f.code) == text_code)
            .map(|(i, f)| (f.start, i))
            .collect();
        let mut linker = Linker {
            sections: &code_secs,
            funcs: &funcs,
            text: text_code,
            text_starts,
            spent: 0,
        };
        let mut programs = Vec::new();
        for (i, f) in funcs.iter().enumerate() {
            if Some(f.code) == text_code {
                continue;
            }
            let sec_name = &code_secs[f.code].name;
            let (section, autoload) = match sec_name.strip_prefix('?') {
                Some(bare) => (bare.to_string(), false),
                None => (sec_name.clone(), true),
            };
            let kind =
                ProgramKind::from_section(&section).ok_or_else(|| ObjectError::UnknownSection {
                    name: sec_name.clone(),
                })?;
            let l = linker.link(i)?;
            programs.push(ProgramSpec {
                name: f.name.clone(),
                section,
                autoload,
                kind,
                insns: l.insns,
                map_relocs: l.map_relocs,
                func_info: l.func_info,
                line_info: l.line_info,
                core_relos: l.core_relos,
                extern_relocs: l.extern_relocs,
            });
        }

        Ok(ObjectSpec {
            name: self.name,
            license: self.license,
            kernel_version: self.kernel_version,
            btf,
            btf_ext,
            maps,
            programs,
            struct_ops,
        })
    }
}

/// An extern variable or function declared in `.kconfig` or `.ksyms`, as its DATASEC
/// entry says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ExternDecl<'b> {
    /// The extern's name.
    pub name: &'b str,
    /// Which section declares it.
    pub kind: ExternKind,
    /// Its BTF VAR (or FUNC) id.
    pub type_id: u32,
    /// Offset in the section.
    pub offset: u32,
    /// Size in the section.
    pub size: u32,
}

/// Every extern the `.kconfig` and `.ksyms` DATASECs declare, in section order.
pub(crate) fn extern_decls(btf: &Btf) -> Vec<ExternDecl<'_>> {
    let mut out = Vec::new();
    for (sec, kind) in [
        (KCONFIG_SEC, ExternKind::Kconfig),
        (KSYMS_SEC, ExternKind::Ksym),
    ] {
        let Some(t) = btf
            .find_by_name_kind(sec, Kind::Datasec)
            .and_then(|id| btf.type_by_id(id).ok())
        else {
            continue;
        };
        for v in t.datasec_vars() {
            if let Ok(name) = btf.type_name(v.type_id) {
                out.push(ExternDecl {
                    name,
                    kind,
                    type_id: v.type_id,
                    offset: v.offset,
                    size: v.size,
                });
            }
        }
    }
    out
}

/// Names of the externs in `.kconfig` and `.ksyms`.
fn extern_names(btf: &Btf) -> HashMap<String, ExternKind> {
    extern_decls(btf)
        .into_iter()
        .map(|d| (d.name.to_string(), d.kind))
        .collect()
}

/// Converts `.BTF.ext` byte offsets into instruction indexes of each code section.
/// A record off the instructions of its section, or for a section that holds no code,
/// is an error naming its offset in `.BTF.ext`.
fn attach_ext(ext: &BtfExt, code_secs: &mut [CodeSection]) -> Result<(), ObjectError> {
    fn each<T: Copy>(
        part: ExtPart,
        secs: &[ExtSection<T>],
        code_secs: &mut [CodeSection],
        off: impl Fn(&T) -> u32,
        mut push: impl FnMut(&mut CodeSection, T, u32),
    ) -> Result<(), ObjectError> {
        for s in secs {
            let err = |i: usize, reason: String| ObjectError::BadBtfExt {
                part,
                offset: s.record_offset(i),
                reason,
            };
            let Some(c) = code_secs.iter_mut().find(|c| c.name == s.section) else {
                return Err(err(0, format!("section '{}' holds no code", s.section)));
            };
            let n = c.insns.len();
            for (i, r) in s.records.iter().enumerate() {
                let insn = off(r) / 8;
                if insn as usize >= n {
                    return Err(err(
                        i,
                        format!(
                            "insn_off {} is past the {n} instructions of section '{}'",
                            off(r),
                            s.section
                        ),
                    ));
                }
                push(c, *r, insn);
            }
        }
        Ok(())
    }
    each(
        ExtPart::FuncInfo,
        &ext.func_info,
        code_secs,
        |r| r.insn_off,
        |c, r, insn_off| c.func_info.push(FuncInfo { insn_off, ..r }),
    )?;
    each(
        ExtPart::LineInfo,
        &ext.line_info,
        code_secs,
        |r| r.insn_off,
        |c, r, insn_off| c.line_info.push(LineInfo { insn_off, ..r }),
    )?;
    each(
        ExtPart::CoreRelo,
        &ext.core_relos,
        code_secs,
        |r| r.insn_off,
        |c, r, insn_off| c.core_relos.push(CoreRelo { insn_off, ..r }),
    )?;
    for c in code_secs.iter_mut() {
        crate::util::sort_by_key(&mut c.func_info, |r| r.insn_off);
        crate::util::sort_by_key(&mut c.line_info, |r| r.insn_off);
        crate::util::sort_by_key(&mut c.core_relos, |r| r.insn_off);
    }
    Ok(())
}
