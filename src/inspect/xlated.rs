//! A loaded program's translated instructions — what the verifier left for the JIT —
//! disassembled as `bpftool prog dump xlated` prints them, with each function's
//! prototype and each instruction's source line from the program's BTF.
//!
//! The kernel hands the instructions out with map pointers turned back into map ids
//! (`map[id:5]`, `map[id:5][0]+8` for an address inside a map's value) and helper and
//! kfunc calls as offsets from `__bpf_call_base`, named here from `/proc/kallsyms` as
//! bpftool names them (`call __htab_map_lookup_elem#346768`); calls to the program's own
//! functions print as `call pc+N#bpf_prog_<tag>_<name>`.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::disasm::{insn_text, Symbolizer};
use crate::btf::{Btf, Kind};
use crate::insn::{pseudo, Insn};
use crate::loaded_btf::{LoadedBtf, LoadedBtfError};
use crate::sys::bpf::{self as sysbpf, ProgDumpData};
use crate::sys::SysError;

/// Errors from reading and disassembling a loaded program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XlatedError {
    /// `BPF_PROG_GET_FD_BY_ID` failed (`ENOENT`: no program with this id; `EPERM`:
    /// needs `CAP_SYS_ADMIN`).
    #[error("opening program {id}")]
    Open {
        /// The id asked for.
        id: u32,
        /// The failed call.
        #[source]
        source: SysError,
    },
    /// Opening a pinned path failed.
    #[error("opening pinned object {}", path.display())]
    Pin {
        /// The path.
        path: PathBuf,
        /// The failed call.
        #[source]
        source: SysError,
    },
    /// The pinned object is not a program.
    #[error("{} is a pinned {kind}, not a program", path.display())]
    NotAProgram {
        /// The path.
        path: PathBuf,
        /// What it is (`map`, `link`, …).
        kind: String,
    },
    /// `BPF_OBJ_GET_INFO_BY_FD` failed.
    #[error("reading the instructions of program {id}")]
    Read {
        /// The program's id (0 when opened by a pin whose info could not be read).
        id: u32,
        /// The failed call.
        #[source]
        source: SysError,
    },
    /// The kernel gave no instructions: it hands them out only to `CAP_BPF` or
    /// `CAP_SYS_ADMIN` (and not for offloaded programs).
    #[error("the kernel shows no translated instructions of program {id}")]
    Hidden {
        /// The program's id.
        id: u32,
    },
    /// The kernel's instruction bytes are not whole instructions.
    #[error("program {id}: {len} bytes of translated instructions is not a whole number of instructions")]
    Malformed {
        /// The program's id.
        id: u32,
        /// The byte count.
        len: usize,
    },
    /// The program's BTF (for prototypes and source lines) could not be read.
    #[error("reading the BTF of program {id}")]
    Btf {
        /// The program's id.
        id: u32,
        /// Why.
        #[source]
        source: LoadedBtfError,
    },
}

/// A source line from a program's line_info, as clang recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    /// The line's text, leading white space removed (as bpftool prints it).
    pub text: String,
    /// The source file, as the compiler named it (`./hello.bpf.c`).
    pub file: String,
    /// Line number (1-based).
    pub line: u32,
    /// Column (1-based; 0 when unknown).
    pub column: u32,
}

/// One translated instruction, disassembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlatedInsn {
    /// Its index in the program (the second slot of a 64-bit immediate load has none).
    pub index: usize,
    /// The instruction as the kernel returned it (first slot for `ld_imm64`).
    pub insn: Insn,
    /// The text without the index: `(85) call bpf_map_lookup_elem#1`.
    pub text: String,
    /// The prototype of the function starting here (`int f(struct ctx * ctx)`, in
    /// bpftool's spelling), from the program's func_info and BTF.
    pub function: Option<String>,
    /// The source line starting here, from the program's line_info and BTF.
    pub source: Option<SourceLine>,
}

/// A loaded program's translated instructions, disassembled as
/// `bpftool prog dump xlated` does.
///
/// # Examples
///
/// ```no_run
/// use corebpf::inspect::XlatedListing;
///
/// let listing = XlatedListing::from_id(42)?;
/// for insn in listing.insns() {
///     if let Some(src) = &insn.source {
///         println!("; {}", src.text);
///     }
///     println!("{:4}: {}", insn.index, insn.text);
/// }
/// # Ok::<(), corebpf::inspect::XlatedError>(())
/// ```
#[derive(Debug, Clone)]
pub struct XlatedListing {
    id: u32,
    name: String,
    insns: Vec<XlatedInsn>,
}

impl XlatedListing {
    /// Reads and disassembles the program with id `id` (needs `CAP_SYS_ADMIN`).
    pub fn from_id(id: u32) -> Result<XlatedListing, XlatedError> {
        let fd =
            sysbpf::prog_get_fd_by_id(id).map_err(|source| XlatedError::Open { id, source })?;
        Self::from_fd(&fd, id)
    }

    /// Reads and disassembles the program pinned at `path` on a bpffs.
    pub fn from_pin(path: impl AsRef<Path>) -> Result<XlatedListing, XlatedError> {
        let path = path.as_ref();
        let fd = sysbpf::obj_get(path, 0).map_err(|source| XlatedError::Pin {
            path: path.to_owned(),
            source,
        })?;
        let kind = super::prog::fd_kind(&fd);
        if kind != "prog" {
            return Err(XlatedError::NotAProgram {
                path: path.to_owned(),
                kind,
            });
        }
        Self::from_fd(&fd, 0)
    }

    fn from_fd(fd: &OwnedFd, id: u32) -> Result<XlatedListing, XlatedError> {
        let data = sysbpf::prog_dump_data(fd.as_fd())
            .map_err(|source| XlatedError::Read { id, source })?;
        let id = data.info.id;
        if data.xlated.is_empty() {
            return Err(XlatedError::Hidden { id });
        }
        let insns = Insn::decode_all(&data.xlated).ok_or(XlatedError::Malformed {
            id,
            len: data.xlated.len(),
        })?;
        let btf = match data.info.btf_id {
            0 => None,
            b => Some(
                LoadedBtf::from_id(b)
                    .and_then(|o| o.btf())
                    .map_err(|source| XlatedError::Btf { id, source })?,
            ),
        };
        let symbols = KernelSymbols::new(&insns, &data.jited_ksyms);
        Ok(XlatedListing {
            id,
            name: data.info.name(),
            insns: listing(&insns, &symbols, btf.as_ref(), &data),
        })
    }

    /// The program's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The program's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The instructions, in order, one entry per instruction (two slots for `ld_imm64`).
    pub fn insns(&self) -> &[XlatedInsn] {
        &self.insns
    }
}

/// The disassembly of `insns`, with prototypes and source lines placed as bpftool
/// places them.
fn listing(
    insns: &[Insn],
    symbols: &KernelSymbols,
    btf: Option<&Btf>,
    data: &ProgDumpData,
) -> Vec<XlatedInsn> {
    let funcs = records(&data.func_info, data.info.func_info_rec_size, 2);
    let lines = records(&data.line_info, data.info.line_info_rec_size, 4);
    let mut next_func = 0;
    let mut lines_seen = 0;
    let mut out = Vec::with_capacity(insns.len());
    let mut i = 0;
    while i < insns.len() {
        let mut function = None;
        if let (Some(btf), Some(f)) = (btf, funcs.get(next_func)) {
            if f[0] as usize == i {
                function = func_signature(btf, f[1]);
                next_func += 1;
            }
        }
        let mut source = None;
        if let Some(l) = line_at(&lines, i as u32, lines_seen) {
            source = btf.and_then(|b| source_line(b, l));
            lines_seen += 1;
        }
        let insn = insns[i];
        out.push(XlatedInsn {
            index: i,
            insn,
            text: insn_text(insn, insns.get(i + 1).copied(), symbols),
            function,
            source,
        });
        i += if insn.is_ld_imm64() { 2 } else { 1 };
    }
    out
}

/// Fixed-size records of u32 words (`bpf_func_info`: 2, `bpf_line_info`: 4), read
/// with the kernel's record size (which may grow past the fields known here).
fn records(raw: &[u8], rec_size: u32, words: usize) -> Vec<Vec<u32>> {
    let rec = rec_size as usize;
    if rec < words * 4 {
        return Vec::new();
    }
    raw.chunks_exact(rec)
        .map(|r| {
            r[..words * 4]
                .chunks_exact(4)
                .map(|w| u32::from_ne_bytes([w[0], w[1], w[2], w[3]]))
                .collect()
        })
        .collect()
}

/// The line_info record for instruction `index`, `seen` records having been used:
/// the last record starting at or before `index` if the next unused one does (libbpf's
/// `bpf_prog_linfo__lfind`, which bpftool calls once per instruction).
fn line_at(lines: &[Vec<u32>], index: u32, seen: usize) -> Option<&[u32]> {
    let rest = lines.get(seen..)?;
    if rest.first()?[0] > index {
        return None;
    }
    let n = rest.iter().take_while(|l| l[0] <= index).count();
    Some(&rest[n - 1])
}

/// A line_info record's file, line text and position; `None` for an empty line.
fn source_line(btf: &Btf, l: &[u32]) -> Option<SourceLine> {
    let text = btf.str_at(l[2]).ok().filter(|t| !t.is_empty())?;
    Some(SourceLine {
        text: text.trim_start().to_owned(),
        file: btf.str_at(l[1]).unwrap_or("").to_owned(),
        line: l[3] >> 10,
        column: l[3] & 0x3ff,
    })
}

/// A FUNC's prototype as bpftool spells it: `int f(struct ctx * ctx, u32 n)`; `None`
/// for a type bpftool cannot spell (it prints no prototype then).
fn func_signature(btf: &Btf, type_id: u32) -> Option<String> {
    let mut s = String::new();
    type_only(btf, type_id, &mut s, 0)?;
    Some(s).filter(|s| !s.is_empty())
}

/// bpftool's "type only" spelling of `id` appended to `s`: each type followed by a
/// space, pointers as `* `, arrays as `[N]` after their element.
fn type_only(btf: &Btf, id: u32, s: &mut String, depth: usize) -> Option<()> {
    if depth > crate::btf::MAX_RESOLVE_DEPTH {
        return None;
    }
    if id == 0 {
        s.push_str("void ");
        return Some(());
    }
    let t = btf.type_by_id(id).ok()?;
    let name = btf.name_of(&t).unwrap_or("");
    let next = |s: &mut String| type_only(btf, t.ref_type(), s, depth + 1);
    match t.kind {
        Kind::Int | Kind::Typedef | Kind::Float => s.push_str(&format!("{name} ")),
        Kind::Struct => s.push_str(&format!("struct {name} ")),
        Kind::Union => s.push_str(&format!("union {name} ")),
        Kind::Enum | Kind::Enum64 => s.push_str(&format!("enum {name} ")),
        Kind::Fwd => {
            let tag = if t.kflag() { "union" } else { "struct" };
            s.push_str(&format!("{tag} {name} "));
        }
        Kind::Array => {
            let a = t.array().ok()?;
            type_only(btf, a.elem_type, s, depth + 1)?;
            s.push_str(&format!("[{}]", a.nelems));
        }
        Kind::Ptr => {
            next(s)?;
            s.push_str("* ");
        }
        Kind::Volatile | Kind::Const | Kind::Restrict => {
            s.push_str(t.kind.name());
            s.push(' ');
            next(s)?;
        }
        Kind::FuncProto => func(btf, &t, None, s, depth)?,
        Kind::Func => {
            let proto = btf.type_by_id(t.ref_type()).ok()?;
            func(btf, &proto, Some(name), s, depth)?;
        }
        _ => return None,
    }
    Some(())
}

/// `ret name(type arg, …)` of a prototype (bpftool's `btf_dump_func`).
fn func(
    btf: &Btf,
    proto: &crate::btf::Type<'_>,
    name: Option<&str>,
    s: &mut String,
    depth: usize,
) -> Option<()> {
    if proto.kind != Kind::FuncProto {
        return None;
    }
    type_only(btf, proto.ref_type(), s, depth + 1)?;
    s.push_str(name.unwrap_or(""));
    s.push('(');
    for (i, p) in proto.params().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        if p.type_id == 0 {
            s.push_str("...");
            continue;
        }
        type_only(btf, p.type_id, s, depth + 1)?;
        match btf.str_at(p.name_off) {
            Ok(n) if !n.is_empty() => s.push_str(n),
            // No name: drop the space the type left.
            _ => {
                if s.ends_with(' ') {
                    s.pop();
                }
            }
        }
    }
    s.push(')');
    Some(())
}

/// Names for calls and 64-bit immediates in translated instructions, as bpftool gives
/// them: maps by id, kernel and program functions from `/proc/kallsyms`.
#[derive(Debug, Default)]
struct KernelSymbols {
    /// Address of `__bpf_call_base` (0 when kallsyms hides addresses).
    call_base: u64,
    /// Addresses of the program's JITed functions.
    jited_ksyms: Vec<u64>,
    /// Symbol names of the call targets the program uses.
    names: HashMap<u64, String>,
}

impl KernelSymbols {
    /// Reads `/proc/kallsyms` for the call targets of `insns`; without it (or with
    /// addresses hidden) calls print as addresses, as bpftool prints them.
    fn new(insns: &[Insn], jited_ksyms: &[u64]) -> KernelSymbols {
        let mut s = KernelSymbols {
            jited_ksyms: jited_ksyms.to_vec(),
            ..Default::default()
        };
        let Ok(text) = std::fs::read_to_string("/proc/kallsyms") else {
            return s;
        };
        let Some(table) = SymbolTable::parse(&text) else {
            return s;
        };
        s.call_base = table.call_base;
        for insn in insns.iter().filter(|i| i.code == crate::insn::op::CALL) {
            let addr = s.address(*insn);
            if let Some(name) = table.find(addr) {
                s.names.insert(addr, name.to_owned());
            }
        }
        s
    }

    /// The kernel address a call goes to: a program function's from the JITed
    /// addresses (whose index the kernel leaves in `imm`), others `__bpf_call_base + imm`.
    fn address(&self, insn: Insn) -> u64 {
        if insn.src() == pseudo::CALL {
            if let Some(&a) = self.jited_ksyms.get(insn.imm as u32 as usize) {
                return a;
            }
        }
        self.call_base.wrapping_add(i64::from(insn.imm) as u64)
    }
}

impl Symbolizer for KernelSymbols {
    fn call_target(&self, insn: Insn) -> Option<String> {
        let addr = self.address(insn);
        let name = self.names.get(&addr);
        Some(if insn.src() == pseudo::CALL {
            // The kernel keeps the relative offset in `off` once the JIT has run.
            match name {
                _ if self.jited_ksyms.is_empty() => format!("{:+}", insn.off),
                Some(n) => format!("{:+}#{n}", insn.off),
                None => format!("{:+}#{addr:#x}", insn.off),
            }
        } else {
            name.cloned().unwrap_or_else(|| format!("{addr:#x}"))
        })
    }

    fn imm64(&self, insn: Insn, next: Insn, value: u64) -> String {
        match insn.src() {
            pseudo::MAP_FD => format!("map[id:{}]", insn.imm as u32),
            pseudo::MAP_VALUE => format!("map[id:{}][0]+{}", insn.imm as u32, next.imm as u32),
            pseudo::MAP_IDX_VALUE => format!("map[idx:{}]+{}", insn.imm as u32, next.imm as u32),
            pseudo::FUNC => format!("subprog[{:+}]", insn.imm),
            _ => format!("{value:#x}"),
        }
    }
}

/// `/proc/kallsyms`, sorted by address as bpftool sorts it.
struct SymbolTable<'a> {
    call_base: u64,
    /// `(address, name)`, non-zero addresses only, in a stable sort by address.
    syms: Vec<(u64, &'a str)>,
}

impl<'a> SymbolTable<'a> {
    /// `None` when addresses are hidden (`kernel.kptr_restrict`): `__bpf_call_base`
    /// reads as zero.
    fn parse(text: &'a str) -> Option<SymbolTable<'a>> {
        let mut call_base = 0;
        let mut syms = Vec::with_capacity(text.len() / 40);
        for line in text.lines() {
            let mut f = line.split_ascii_whitespace();
            let (Some(addr), Some(_), Some(name)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let Ok(addr) = u64::from_str_radix(addr, 16) else {
                continue;
            };
            if name == "__bpf_call_base" {
                if addr == 0 {
                    return None;
                }
                call_base = addr;
            }
            if addr != 0 {
                syms.push((addr, name));
            }
        }
        syms.sort_by_key(|s| s.0);
        Some(SymbolTable { call_base, syms })
    }

    /// The symbol at exactly `addr`; among several, the one a C `bsearch` of the
    /// sorted table finds (bpftool's choice).
    fn find(&self, addr: u64) -> Option<&'a str> {
        let (mut lo, mut hi) = (0, self.syms.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match addr.cmp(&self.syms[mid].0) {
                std::cmp::Ordering::Less => hi = mid,
                std::cmp::Ordering::Greater => lo = mid + 1,
                std::cmp::Ordering::Equal => return Some(self.syms[mid].1),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::testutil::Builder;

    #[test]
    fn kallsyms_lookup_is_exact_and_needs_visible_addresses() {
        let text = "ffffffff81000010 T b\nffffffff81000000 T __bpf_call_base\n\
                    ffffffff81000010 t b_alias\nffffffffa0001000 t bpf_prog_1234_f\t[bpf]\n\
                    0000000000000000 A fixed_percpu_data\n";
        let t = SymbolTable::parse(text).unwrap();
        assert_eq!(t.call_base, 0xffff_ffff_8100_0000);
        assert_eq!(t.find(0xffff_ffff_a000_1000), Some("bpf_prog_1234_f"));
        assert!(matches!(
            t.find(0xffff_ffff_8100_0010),
            Some("b" | "b_alias")
        ));
        assert_eq!(t.find(0xffff_ffff_8100_0011), None);
        assert_eq!(t.find(0), None);
        assert!(SymbolTable::parse("0000000000000000 T __bpf_call_base\n").is_none());
    }

    #[test]
    fn calls_and_maps_named_as_bpftool_names_them() {
        let mut s = KernelSymbols {
            call_base: 0x10_0000,
            jited_ksyms: vec![0xa000, 0xb000],
            names: HashMap::new(),
        };
        s.names.insert(0x10_1000, "helper_impl".into());
        s.names.insert(0xb000, "bpf_prog_ab_sub".into());
        let text = |i: Insn, n: Insn| insn_text(i, Some(n), &s);
        let zero = Insn::default();
        assert_eq!(
            text(Insn::new(0x85, 0, 0, 0, 0x1000), zero),
            "(85) call helper_impl#4096"
        );
        // Known helper ids keep their table name; unknown addresses print as such.
        assert_eq!(
            text(Insn::new(0x85, 0, 0, 0, 1), zero),
            "(85) call bpf_map_lookup_elem#1"
        );
        assert_eq!(
            text(Insn::new(0x85, 0, 0, 0, -0x10_0000), zero),
            "(85) call 0x0#-1048576"
        );
        assert_eq!(
            text(Insn::new(0x85, 0, pseudo::KFUNC_CALL, 0, 0x1000), zero),
            "(85) call helper_impl#4096"
        );
        assert_eq!(
            text(Insn::new(0x85, 0, pseudo::CALL, 9, 1), zero),
            "(85) call pc+9#bpf_prog_ab_sub"
        );
        assert_eq!(
            text(Insn::new(0x85, 0, pseudo::CALL, -3, 0), zero),
            "(85) call pc-3#0xa000"
        );
        let v = Insn::new(0, 0, 0, 0, 8);
        assert_eq!(
            text(Insn::new(0x18, 1, pseudo::MAP_FD, 0, 5), zero),
            "(18) r1 = map[id:5]"
        );
        assert_eq!(
            text(Insn::new(0x18, 1, pseudo::MAP_VALUE, 0, 5), v),
            "(18) r1 = map[id:5][0]+8"
        );
        assert_eq!(
            text(Insn::new(0x18, 1, pseudo::FUNC, 0, 3), zero),
            "(18) r1 = subprog[+3]"
        );
        assert_eq!(
            text(Insn::new(0x18, 1, 0, 0, -1), v),
            "(18) r1 = 0x8ffffffff"
        );
        s.jited_ksyms.clear();
        assert_eq!(
            insn_text(Insn::new(0x85, 0, pseudo::CALL, 4, 1), None, &s),
            "(85) call pc+4"
        );
    }

    #[test]
    fn line_info_is_found_as_libbpf_finds_it() {
        let lines = vec![
            vec![0, 0, 0, 0],
            vec![3, 0, 0, 0],
            vec![3, 0, 0, 1],
            vec![9, 0, 0, 0],
        ];
        assert_eq!(line_at(&lines, 0, 0).unwrap()[0], 0);
        assert_eq!(line_at(&lines, 1, 1), None);
        // Two records at 3: the last is shown, and only one counts as used.
        assert_eq!(line_at(&lines, 3, 1).unwrap()[3], 1);
        assert_eq!(line_at(&lines, 4, 2).unwrap()[3], 1);
        assert_eq!(line_at(&lines, 9, 3).unwrap()[0], 9);
        assert_eq!(line_at(&lines, 10, 4), None);
    }

    #[test]
    fn prototypes_in_bpftools_spelling() {
        let mut b = Builder::new();
        b.int("int", 4, 32, true); // 1
        b.int("char", 1, 8, true); // 2
        b.raw("", 10, 0, false, 2, &[]); // 3 const char
        b.raw("", 2, 0, false, 3, &[]); // 4 const char *
        b.raw("ctx", 4, 0, false, 8, &[]); // 5 struct ctx (no members)
        b.raw("", 2, 0, false, 5, &[]); // 6 struct ctx *
        let (c, f) = (b.s("c"), b.s("f"));
        b.raw("", 13, 3, false, 1, &[c, 6, f, 4, 0, 1]); // 7 proto
        b.raw("handler", 12, 1, false, 7, &[]); // 8 func
        b.raw("", 13, 2, false, 0, &[0, 1, 0, 0]); // 9 void (int, ...)
        b.raw("vararg", 12, 0, false, 9, &[]); // 10
        let btf = Btf::parse(b.build()).unwrap();
        assert_eq!(
            func_signature(&btf, 8).unwrap(),
            "int handler(struct ctx * c, const char * f, int)"
        );
        assert_eq!(func_signature(&btf, 10).unwrap(), "void vararg(int, ...)");
        assert_eq!(func_signature(&btf, 99), None);
    }

    #[test]
    fn records_use_the_kernels_record_size() {
        let mut raw = Vec::new();
        for w in [1u32, 2, 0xff, 3, 4, 0xff] {
            raw.extend_from_slice(&w.to_ne_bytes());
        }
        assert_eq!(records(&raw, 12, 2), vec![vec![1, 2], vec![3, 4]]);
        assert!(records(&raw, 4, 2).is_empty());
    }
}
