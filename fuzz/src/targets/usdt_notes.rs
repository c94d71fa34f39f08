//! USDT probes: the notes of a `.note.stapsdt` section (`parse_notes`), the argument
//! specification of each (`parse_args`), and the `__bpf_usdt_spec` map value made from
//! the arguments (`SpecLayout::encode`, both layouts).
//!
//! Input: one mode byte, then the bytes. Bit 0 of the mode: an ELF64 file (else ELF32);
//! bit 1: big-endian (else little); bit 2: the section is 8-byte aligned (else 4); bit 3:
//! the bytes are one argument specification (text) for `parse_args` alone, not notes.
//!
//! Properties: the notes parsed say no more than the section holds, hold no NUL, have a
//! name, and read back the same when written again as a linker writes them; arguments
//! are at most twelve, of size 1, 2, 4 or 8, with known registers and scales, read back
//! the same from their canonical text, and encode to a value of the layout's size whose
//! argument count is theirs (scale-index-base arguments only in the 1.7 layout).

use std::path::Path;

use corebpf::program::uprobe_elf::Layout;
use corebpf::program::usdt_spec::{
    parse_args, parse_notes, ArgLocation, SpecLayout, UsdtArg, UsdtNote, UsdtSpecError, MAX_ARGS,
    NOTE_NAME, NOTE_TYPE,
};

use crate::{chain, Outcome, Seed};

/// See the module documentation.
pub const ABOUT: &str = "mode byte + .note.stapsdt (or an argument spec) -> notes, args, spec";

const ELF64: u8 = 1 << 0;
const BIG_ENDIAN: u8 = 1 << 1;
const ALIGN8: u8 = 1 << 2;
const ARGS_ONLY: u8 = 1 << 3;

/// `offsetof(struct pt_regs, …)` on x86-64 and the 64-bit name of the register there.
const REGS: [(u16, &str); 17] = [
    (0, "r15"),
    (8, "r14"),
    (16, "r13"),
    (24, "r12"),
    (32, "rbp"),
    (40, "rbx"),
    (48, "r11"),
    (56, "r10"),
    (64, "r9"),
    (72, "r8"),
    (80, "rax"),
    (88, "rcx"),
    (96, "rdx"),
    (104, "rsi"),
    (112, "rdi"),
    (128, "rip"),
    (152, "rsp"),
];

/// One input (see the module documentation).
pub fn run(data: &[u8]) -> Outcome {
    let Some((&mode, bytes)) = data.split_first() else {
        return Err("empty input".into());
    };
    if mode & ARGS_ONLY != 0 {
        let spec = String::from_utf8_lossy(bytes);
        return check_args(&spec).map_err(|e| chain(&e));
    }
    let layout = layout(mode);
    let align = if mode & ALIGN8 != 0 { 8 } else { 4 };
    let notes = parse_notes(bytes, layout, align).map_err(|e| chain(&e))?;
    check_notes(&notes, bytes, layout, align);
    let mut outcome = Ok(());
    for note in &notes {
        if let Err(e) = check_args(&note.args) {
            outcome = Err(chain(&e));
        }
    }
    outcome
}

fn layout(mode: u8) -> Layout {
    Layout {
        is_64: mode & ELF64 != 0,
        little_endian: mode & BIG_ENDIAN == 0,
    }
}

/// The notes' promises (see the module documentation).
fn check_notes(notes: &[UsdtNote], section: &[u8], layout: Layout, align: u64) {
    // A note takes at least its 12-byte header and three addresses.
    let least = 12 + 3 * if layout.is_64 { 8 } else { 4 };
    assert!(
        notes.len() <= section.len() / least,
        "{} notes in {} bytes",
        notes.len(),
        section.len()
    );
    let text: usize = (notes.iter())
        .map(|n| n.provider.chars().count() + n.name.chars().count() + n.args.chars().count())
        .sum();
    assert!(
        text <= section.len(),
        "{text} characters of strings from a section of {} bytes",
        section.len()
    );
    for n in notes {
        assert!(!n.name.is_empty(), "note {n:?} has an empty name");
        for s in [&n.provider, &n.name, &n.args] {
            assert!(!s.contains('\0'), "note {n:?} has a NUL in a string");
        }
        assert!(
            !n.args.starts_with(':'),
            "note {n:?}: ':' arguments read as none"
        );
        if !layout.is_64 {
            for a in [n.location, n.base, n.semaphore] {
                assert!(
                    a <= u64::from(u32::MAX),
                    "ELF32 note {n:?} has a 64-bit address"
                );
            }
        }
    }
    // Written again as the linker writes them, the notes read back the same (unless a
    // string was not UTF-8: its replacement characters are not the original bytes).
    let lossless = notes.iter().all(|n| {
        !(n.provider.contains('\u{fffd}')
            || n.name.contains('\u{fffd}')
            || n.args.contains('\u{fffd}'))
    });
    if lossless {
        let again = write_notes(notes, layout, align as usize);
        match parse_notes(&again, layout, align) {
            Ok(back) => assert_eq!(back, notes, "notes written again read differently"),
            Err(e) => panic!("notes written again do not parse: {}", chain(&e)),
        }
    }
}

/// An argument specification's promises (see the module documentation).
fn check_args(spec: &str) -> Result<(), UsdtSpecError> {
    let args = match parse_args(spec) {
        Ok(args) => args,
        Err(e) => {
            match &e {
                UsdtSpecError::BadArg { index, .. } => assert!(
                    *index * 4 <= spec.len(),
                    "argument #{index} of a {}-byte specification",
                    spec.len()
                ),
                UsdtSpecError::TooManyArgs { count } => assert!(
                    *count > MAX_ARGS,
                    "'{spec}': too many arguments, but the error counts {count}"
                ),
                other => panic!("parse_args returned {other:?}"),
            }
            return Err(e);
        }
    };
    assert!(args.len() <= MAX_ARGS, "{} arguments", args.len());
    for a in &args {
        assert!(matches!(a.size, 1 | 2 | 4 | 8), "argument {a:?}: size");
        match a.location {
            ArgLocation::Const(_) => {}
            ArgLocation::Reg { reg_off } | ArgLocation::Deref { reg_off, .. } => {
                assert!(reg_name(reg_off).is_some(), "argument {a:?}: register")
            }
            ArgLocation::Sib {
                base_off,
                index_off,
                scale_shift,
                ..
            } => {
                assert!(
                    reg_name(base_off).is_some() && reg_name(index_off).is_some(),
                    "argument {a:?}: registers"
                );
                assert!(scale_shift <= 3, "argument {a:?}: scale");
            }
        }
    }
    // The canonical text of the arguments reads back the same.
    let text: Vec<String> = args.iter().map(canonical).collect();
    let text = text.join(" ");
    match parse_args(&text) {
        Ok(back) => assert_eq!(back, args, "'{spec}' written as '{text}' reads differently"),
        Err(e) => panic!("'{spec}' written as '{text}' does not parse: {}", chain(&e)),
    }
    let sib = args
        .iter()
        .any(|a| matches!(a.location, ArgLocation::Sib { .. }));
    for layout in [SpecLayout::V1, SpecLayout::V2] {
        match layout.encode(&args, 0x0123_4567_89ab_cdef) {
            Ok(value) => {
                assert_eq!(value.len(), layout.size, "encoded value size");
                assert!(
                    !(sib && layout == SpecLayout::V1),
                    "SIB encoded in the 1.6 layout"
                );
                let cnt = u16::from_le_bytes([value[layout.size - 8], value[layout.size - 7]]);
                assert_eq!(usize::from(cnt), args.len(), "encoded argument count");
            }
            Err(UsdtSpecError::SibUnsupported { index }) => {
                assert!(sib && layout == SpecLayout::V1, "SIB refused in {layout:?}");
                assert!(
                    matches!(
                        args.get(index).map(|a| a.location),
                        Some(ArgLocation::Sib { .. })
                    ),
                    "SibUnsupported names argument #{index}, not a SIB one"
                );
            }
            // Refused only where the encoder does not know the registers' layout.
            Err(UsdtSpecError::UnsupportedArch)
                if !cfg!(all(target_arch = "x86_64", target_endian = "little")) => {}
            Err(e) => panic!("encoding {args:?}: {}", chain(&e)),
        }
    }
    Ok(())
}

fn reg_name(off: u16) -> Option<&'static str> {
    REGS.iter().find(|r| r.0 == off).map(|r| r.1)
}

/// `SIZE@LOCATION` with 64-bit register names.
fn canonical(a: &UsdtArg) -> String {
    let size = if a.signed {
        -i32::from(a.size)
    } else {
        i32::from(a.size)
    };
    let reg = |off| reg_name(off).unwrap_or("?");
    match a.location {
        ArgLocation::Const(v) => format!("{size}@${v}"),
        ArgLocation::Reg { reg_off } => format!("{size}@%{}", reg(reg_off)),
        ArgLocation::Deref { reg_off, offset } => format!("{size}@{offset}(%{})", reg(reg_off)),
        ArgLocation::Sib {
            base_off,
            index_off,
            scale_shift,
            offset,
        } => format!(
            "{size}@{offset}(%{},%{},{})",
            reg(base_off),
            reg(index_off),
            1 << scale_shift
        ),
    }
}

/// Notes as a linker lays them out: header, owner, description, each padded to `align`.
fn write_notes(notes: &[UsdtNote], layout: Layout, align: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for n in notes {
        let mut desc = Vec::new();
        for a in [n.location, n.base, n.semaphore] {
            put_word(&mut desc, layout, a);
        }
        for s in [&n.provider, &n.name, &n.args] {
            desc.extend_from_slice(s.as_bytes());
            desc.push(0);
        }
        write_note(&mut out, layout, align, NOTE_NAME, NOTE_TYPE, &desc);
    }
    out
}

fn write_note(
    out: &mut Vec<u8>,
    layout: Layout,
    align: usize,
    owner: &[u8],
    kind: u32,
    desc: &[u8],
) {
    put_u32(out, layout, owner.len() as u32 + 1);
    put_u32(out, layout, desc.len() as u32);
    put_u32(out, layout, kind);
    out.extend_from_slice(owner);
    out.push(0);
    out.resize(out.len().next_multiple_of(align), 0);
    out.extend_from_slice(desc);
    out.resize(out.len().next_multiple_of(align), 0);
}

fn put_u32(out: &mut Vec<u8>, layout: Layout, v: u32) {
    out.extend_from_slice(&if layout.little_endian {
        v.to_le_bytes()
    } else {
        v.to_be_bytes()
    });
}

fn put_word(out: &mut Vec<u8>, layout: Layout, v: u64) {
    match (layout.is_64, layout.little_endian) {
        (true, true) => out.extend_from_slice(&v.to_le_bytes()),
        (true, false) => out.extend_from_slice(&v.to_be_bytes()),
        (false, _) => put_u32(out, layout, v as u32),
    }
}

/// Probe sites as gcc's `<sys/sdt.h>` describes them: (provider, name, arguments).
const PROBES: &[(&str, &str, &str)] = &[
    (
        "corebpf",
        "tick",
        "-4@%eax 8@-8(%rbp) 4@$5 -8@8(%rdi,%rcx,4)",
    ),
    (
        "corebpf",
        "args",
        "-4@%edi 8@-1204(%rbp) 1@%sil 2@(%rsp) -8@$-9 8@-96(%rbp,%rax,8)",
    ),
    ("libc", "setjmp", "8@%rdi -4@%esi 8@%rax"),
    ("python", "function__entry", "8@%r14 8@%r15 -4@%r12d"),
    ("app", "noargs", ""),
    ("app", "colon", ":"),
    (
        "app",
        "regs",
        "1@%al 2@%bx 4@%r8d 8@%r9 -1@%r10b -2@%r11w 4@%eip 8@%rip 8@%r13 8@%spl",
    ),
    (
        "app",
        "sib",
        "8@(%rax,%rbx) -4@16(%rsi,%rdx,2) 2@-32(%rsp,%r8,8) 1@0(%rbp,%r9,1)",
    ),
    (
        "app",
        "twelve",
        "1@$1 2@$2 4@$3 8@$4 -1@$5 -2@$6 -4@$7 -8@$8 8@%rax 8@%rbx 8@%rcx 8@%rdx",
    ),
];

/// Sections of the probes above in every layout (64- and 32-bit, both byte orders, 4-
/// and 8-byte aligned), a probe with a semaphore, and each argument string alone.
pub fn seeds(_repo: &Path) -> Vec<Seed> {
    let mut out = Vec::new();
    for mode in 0..8u8 {
        let layout = layout(mode);
        let align = if mode & ALIGN8 != 0 { 8 } else { 4 };
        let notes: Vec<UsdtNote> = (PROBES.iter().enumerate())
            .map(|(i, &(provider, name, args))| UsdtNote {
                provider: provider.into(),
                name: name.into(),
                args: args.into(),
                location: 0x1130 + 0x20 * i as u64,
                base: 0x2004,
                semaphore: if i == 1 { 0x4010 } else { 0 },
            })
            .collect();
        let mut data = vec![mode];
        data.extend(write_notes(&notes, layout, align));
        out.push(Seed {
            name: format!(
                "notes-{}-{}-align{align}",
                if layout.is_64 { "64" } else { "32" },
                if layout.little_endian { "le" } else { "be" }
            ),
            data,
        });
    }
    for (i, &(_, name, args)) in PROBES.iter().enumerate() {
        let mut data = vec![ARGS_ONLY | ELF64];
        data.extend_from_slice(args.as_bytes());
        out.push(Seed {
            name: format!("args-{i}-{name}"),
            data,
        });
    }
    out
}
