//! BTF types as Rust items: each struct, union and global-data section becomes a
//! [`Layout`] (a `#[repr(C)]` struct with explicit padding and the accessors its
//! bitfields, enums, char arrays and union members need), each enum an [`EnumItem`].
//! Names are given once per BTF type, in the order types are first reached, so the
//! same object always gives the same items.

use std::collections::{BTreeMap, BTreeSet};

use super::SkelError;
use crate::btf::{format, Btf, Kind};

/// How deep structs may nest by value (hostile BTF can chain thousands).
const MAX_DEPTH: usize = 64;

/// Names the generated module defines or uses itself: BTF types are renamed around them.
const RESERVED: &[&str] = &[
    "Bss",
    "BssView",
    "Clone",
    "Copy",
    "Data",
    "DataView",
    "Debug",
    "Default",
    "Eq",
    "Err",
    "From",
    "GlobalData",
    "Into",
    "LoadedObject",
    "Map",
    "MapError",
    "Maps",
    "None",
    "Object",
    "Ok",
    "OpenObject",
    "OpenSkel",
    "Option",
    "PartialEq",
    "PerfBufferBuilder",
    "Pod",
    "Program",
    "Progs",
    "Result",
    "RingBufferBuilder",
    "Rodata",
    "RodataView",
    "Self",
    "Send",
    "Skel",
    "SkelError",
    "Some",
    "String",
    "Sync",
    "Vec",
    "OBJECT",
];

/// Rust keywords: fields and methods named so are written `r#name`.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use",
    "virtual", "where", "while", "yield",
];

/// True for `[A-Za-z_][A-Za-z0-9_]*`.
pub(super) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s != "_"
}

/// A C identifier as a Rust field or method name (`type` → `r#type`, `self` → `self_`).
pub(super) fn field_name(c: &str) -> String {
    // Static locals are `function.name` in BTF: any character that cannot be in a
    // Rust identifier becomes `_`.
    let mut c: String = c
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
        .collect();
    if c.is_empty() || c.starts_with(|ch: char| ch.is_ascii_digit()) {
        c.insert(0, '_');
    }
    let c = c.as_str();
    if matches!(c, "self" | "Self" | "super" | "crate" | "_") {
        format!("{c}_")
    } else if KEYWORDS.contains(&c) {
        format!("r#{c}")
    } else {
        c.to_string()
    }
}

/// `name` with `suffix`, `r#` dropped: `r#type` + `_str` → `type_str`.
pub(super) fn method_name(prefix: &str, name: &str, suffix: &str) -> String {
    field_name(&format!(
        "{prefix}{}{suffix}",
        name.trim_start_matches("r#")
    ))
}

/// `sys_enter_ctx` → `SysEnterCtx`, `TASK_RUNNING` → `TaskRunning`.
pub(super) fn camel(c: &str) -> String {
    let mut out = String::new();
    for part in c.split('_').filter(|p| !p.is_empty()) {
        let upper = !part.chars().any(|ch| ch.is_ascii_lowercase());
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            for ch in chars {
                out.push(if upper { ch.to_ascii_lowercase() } else { ch });
            }
        }
    }
    if out.is_empty() {
        out.push_str("Anon");
    }
    if out.starts_with(|ch: char| ch.is_ascii_digit()) {
        out.insert(0, 'T');
    }
    out
}

/// A member of a layout: a field, with how to read it.
#[derive(Clone, Debug)]
pub(super) struct Field {
    /// Rust name (`r#type` for a keyword).
    pub name: String,
    /// Rust type.
    pub ty: String,
    /// Byte offset.
    pub offset: u32,
    /// Documentation: the C declaration, or what the padding is.
    pub doc: String,
}

/// A method a layout's field needs.
#[derive(Clone, Debug)]
pub(super) enum Accessor {
    /// `NAME_str()` of a char array field.
    Str { field: String },
    /// `NAME()`/`set_NAME()` of an enum field stored as its integer.
    Enum { field: String, enum_name: String },
    /// `NAME()`/`set_NAME()` of a bitfield inside `storage`.
    Bitfield {
        name: String,
        storage: String,
        bit: u32,
        bits: u32,
        ty: &'static str,
        signed: bool,
        doc: String,
    },
    /// `NAME()`/`set_NAME()` of a union member.
    Union {
        name: String,
        ty: String,
        doc: String,
    },
}

/// A `#[repr(C)]` struct: a C struct, union or global-data section.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    pub name: String,
    pub doc: String,
    pub packed: bool,
    pub fields: Vec<Field>,
    pub accessors: Vec<Accessor>,
}

/// A C enum: its Rust enum, with `Other(raw)` for the values it does not name.
#[derive(Clone, Debug)]
pub(super) struct EnumItem {
    pub name: String,
    pub doc: String,
    pub raw: &'static str,
    /// Variant name, C name and value as a Rust literal of type `raw`.
    pub variants: Vec<(String, String, String)>,
}

/// An item of the generated module, in the order made.
#[derive(Clone, Debug)]
pub(super) enum Item {
    Struct(Layout),
    Enum(EnumItem),
}

/// A BTF type as Rust sees it in a field.
#[derive(Clone, Debug)]
pub(super) struct RustType {
    pub text: String,
    pub size: u32,
    pub align: u32,
    /// The Rust enum for an enum type, with its raw integer type.
    pub enum_of: Option<(String, &'static str)>,
    /// An array of 1-byte chars.
    pub chars: bool,
}

impl RustType {
    fn prim(text: &'static str, size: u32) -> RustType {
        RustType {
            text: text.to_string(),
            size,
            align: size.max(1),
            enum_of: None,
            chars: false,
        }
    }

    fn bytes(size: u32) -> RustType {
        RustType {
            text: format!("[u8; {size}]"),
            size,
            align: 1,
            enum_of: None,
            chars: false,
        }
    }
}

/// A member before layout: a struct member or a section variable.
struct Member {
    name: Option<String>,
    type_id: u32,
    bit_offset: u32,
    bitfield_size: u32,
}

/// The items made so far, and the names given.
pub(super) struct Types<'b> {
    btf: &'b Btf,
    names: BTreeMap<u32, (String, u32)>,
    taken: BTreeSet<String>,
    pub items: Vec<Item>,
    depth: usize,
}

fn btf_err(e: crate::btf::BtfError) -> SkelError {
    SkelError::Btf(e)
}

fn int_type(size: u32, signed: bool) -> Option<&'static str> {
    Some(match (size, signed) {
        (1, false) => "u8",
        (1, true) => "i8",
        (2, false) => "u16",
        (2, true) => "i16",
        (4, false) => "u32",
        (4, true) => "i32",
        (8, false) => "u64",
        (8, true) => "i64",
        (16, false) => "u128",
        (16, true) => "i128",
        _ => return None,
    })
}

impl<'b> Types<'b> {
    pub fn new(btf: &'b Btf, extra_reserved: &[String]) -> Types<'b> {
        let mut taken: BTreeSet<String> = RESERVED.iter().map(|s| s.to_string()).collect();
        taken.extend(extra_reserved.iter().cloned());
        Types {
            btf,
            names: BTreeMap::new(),
            taken,
            items: Vec::new(),
            depth: 0,
        }
    }

    /// Reserves a type name: `want`, or `want_`, `want_2`, ... when taken.
    fn unique(&mut self, want: &str) -> String {
        let mut name = want.to_string();
        let mut n = 1;
        while self.taken.contains(&name) {
            name = if n == 1 {
                format!("{want}_")
            } else {
                format!("{want}_{n}")
            };
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// The C spelling of type `id`, for documentation and errors.
    pub fn c_name(&self, id: u32) -> String {
        format::format_type_name(self.btf, id)
    }

    fn layout_error(&self, id: u32, reason: impl Into<String>) -> SkelError {
        SkelError::Layout {
            type_name: self.c_name(id),
            reason: reason.into(),
        }
    }

    /// The Rust type of BTF type `id`; `hint` names it when it is anonymous.
    pub fn rust_type(&mut self, id: u32, hint: &str) -> Result<RustType, SkelError> {
        let id = self.btf.skip_mods_and_typedefs(id).map_err(btf_err)?;
        let t = self.btf.type_by_id(id).map_err(btf_err)?;
        let name = self.btf.name_of(&t).map_err(btf_err)?.to_string();
        match t.kind {
            Kind::Int => {
                let info = t.int().map_err(btf_err)?;
                let size = t.size();
                let signed = info.encoding & 1 == 1 && name != "char";
                Ok(match int_type(size, signed) {
                    Some(p) => RustType::prim(p, size),
                    None => RustType::bytes(size),
                })
            }
            Kind::Ptr => Ok(RustType::prim("u64", 8)),
            Kind::Float => Ok(match size_float(t.size()) {
                Some(p) => RustType::prim(p, t.size()),
                None => RustType::bytes(t.size()),
            }),
            Kind::Enum | Kind::Enum64 => {
                let raw = int_type(t.size(), t.kflag())
                    .ok_or_else(|| self.layout_error(id, "an enum of an unusual size"))?;
                let enum_name = self.enum_item(id, hint)?;
                let mut rt = RustType::prim(raw, t.size());
                rt.enum_of = Some((enum_name, raw));
                Ok(rt)
            }
            Kind::Array => {
                let info = t.array().map_err(btf_err)?;
                let elem = self.rust_type(info.elem_type, hint)?;
                let size = elem
                    .size
                    .checked_mul(info.nelems)
                    .ok_or_else(|| self.layout_error(id, "an array larger than 4 GiB"))?;
                Ok(RustType {
                    text: format!("[{}; {}]", elem.text, info.nelems),
                    size,
                    align: elem.align,
                    enum_of: None,
                    chars: elem.size == 1 && elem.text == "u8" && self.is_char(info.elem_type),
                })
            }
            Kind::Struct | Kind::Union => {
                let (name, align) = self.composite(id, hint)?;
                Ok(RustType {
                    text: name,
                    size: t.size(),
                    align,
                    enum_of: None,
                    chars: false,
                })
            }
            _ => {
                // Functions, forward declarations, void: opaque bytes when sized.
                match self.btf.resolve_size(id) {
                    Ok(size) if size > 0 && size <= u64::from(u32::MAX) => {
                        Ok(RustType::bytes(size as u32))
                    }
                    _ => Err(self.layout_error(id, format!("a {} has no size", t.kind.name()))),
                }
            }
        }
    }

    fn is_char(&self, id: u32) -> bool {
        self.btf
            .skip_mods_and_typedefs(id)
            .and_then(|id| self.btf.type_name(id))
            .is_ok_and(|n| n.contains("char"))
    }

    /// The Rust enum of enum `id`, made on first use.
    fn enum_item(&mut self, id: u32, hint: &str) -> Result<String, SkelError> {
        if let Some((name, _)) = self.names.get(&id) {
            return Ok(name.clone());
        }
        let t = self.btf.type_by_id(id).map_err(btf_err)?;
        let c = self.btf.name_of(&t).map_err(btf_err)?.to_string();
        let name = self.unique(&camel(if c.is_empty() { hint } else { &c }));
        self.names.insert(id, (name.clone(), t.size()));
        let raw = int_type(t.size(), t.kflag()).unwrap_or("u32");
        let mut variants = Vec::new();
        let mut used = BTreeSet::from(["Other".to_string()]);
        for v in t.enum_values() {
            let vname = self.btf.str_at(v.name_off).map_err(btf_err)?;
            let mut variant = camel(vname);
            while !used.insert(variant.clone()) {
                variant.push('_');
            }
            variants.push((variant, vname.to_string(), literal(v.value, raw)));
        }
        let doc = if c.is_empty() {
            format!("An anonymous C enum ({} bytes).", t.size())
        } else {
            format!("`enum {c}` ({} bytes).", t.size())
        };
        self.items.push(Item::Enum(EnumItem {
            name: name.clone(),
            doc,
            raw,
            variants,
        }));
        Ok(name)
    }

    /// The Rust struct of struct or union `id` and its alignment, made on first use.
    fn composite(&mut self, id: u32, hint: &str) -> Result<(String, u32), SkelError> {
        if let Some(v) = self.names.get(&id) {
            return Ok(v.clone());
        }
        if self.depth >= MAX_DEPTH {
            return Err(self.layout_error(id, "structs nested too deep"));
        }
        let t = self.btf.type_by_id(id).map_err(btf_err)?;
        let c = self.btf.name_of(&t).map_err(btf_err)?.to_string();
        let name = self.unique(&camel(if c.is_empty() { hint } else { &c }));
        // Named (alignment filled in below) before its members, which may name it.
        self.names.insert(id, (name.clone(), 1));
        let members: Vec<Member> = t
            .members()
            .map(|m| {
                let n = self.btf.str_at(m.name_off).unwrap_or("");
                Member {
                    name: (!n.is_empty()).then(|| n.to_string()),
                    type_id: m.type_id,
                    bit_offset: m.bit_offset,
                    bitfield_size: m.bitfield_size,
                }
            })
            .collect();
        let kw = if t.kind == Kind::Union {
            "union"
        } else {
            "struct"
        };
        let doc = if c.is_empty() {
            format!("An anonymous C {kw} ({} bytes).", t.size())
        } else {
            format!("`{kw} {c}` ({} bytes).", t.size())
        };
        self.depth += 1;
        let made = if t.kind == Kind::Union {
            self.union_layout(id, &name, doc, t.size(), &members)
        } else {
            self.struct_layout(id, &name, doc, t.size(), members)
        };
        self.depth -= 1;
        let (layout, align) = made?;
        self.names.insert(id, (name.clone(), align));
        self.items.push(Item::Struct(layout));
        Ok((name, align))
    }

    /// A union: its bytes, and a getter and setter per member.
    fn union_layout(
        &mut self,
        id: u32,
        name: &str,
        doc: String,
        size: u32,
        members: &[Member],
    ) -> Result<(Layout, u32), SkelError> {
        let mut accessors = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let mname = field_name(m.name.as_deref().unwrap_or(&format!("anon{i}")));
            let hint = format!("{name}_{}", mname.trim_start_matches("r#"));
            let decl = self.decl(m);
            if m.bitfield_size != 0 {
                accessors.push(self.bitfield(id, m, &mname, "bytes", 0, decl)?);
                continue;
            }
            let rt = self.rust_type(m.type_id, &hint)?;
            if rt.size > size || m.bit_offset != 0 {
                return Err(self.layout_error(id, format!("member {mname} lies outside it")));
            }
            accessors.push(Accessor::Union {
                name: mname,
                ty: rt.text,
                doc: decl,
            });
        }
        let fields = vec![Field {
            name: "bytes".into(),
            ty: format!("[u8; {size}]"),
            offset: 0,
            doc: "The union's bytes, read and written through the member methods".into(),
        }];
        let layout = Layout {
            name: name.to_string(),
            doc,
            packed: false,
            fields,
            accessors,
        };
        Ok((layout, 1))
    }

    /// `type name` as in C, for a member's documentation.
    fn decl(&self, m: &Member) -> String {
        let ty = self.c_name(m.type_id);
        match (&m.name, m.bitfield_size) {
            (Some(n), 0) => format!("`{ty} {n}`"),
            (Some(n), bits) => format!("`{ty} {n}: {bits}`"),
            (None, _) => format!("An anonymous `{ty}`"),
        }
    }

    /// The accessor of bitfield `m`, stored in `storage` which starts at byte `base`.
    fn bitfield(
        &mut self,
        id: u32,
        m: &Member,
        name: &str,
        storage: &str,
        base: u32,
        doc: String,
    ) -> Result<Accessor, SkelError> {
        let tid = self
            .btf
            .skip_mods_and_typedefs(m.type_id)
            .map_err(btf_err)?;
        let t = self.btf.type_by_id(tid).map_err(btf_err)?;
        let signed = match t.kind {
            Kind::Int => t.int().map_err(btf_err)?.encoding & 1 == 1,
            Kind::Enum | Kind::Enum64 => t.kflag(),
            _ => return Err(self.layout_error(id, format!("bitfield {name} is no integer"))),
        };
        if m.bitfield_size > 64 {
            return Err(self.layout_error(id, format!("bitfield {name} is over 64 bits")));
        }
        let size = t.size().clamp(1, 8).next_power_of_two();
        let ty = int_type(size, signed).unwrap_or(if signed { "i64" } else { "u64" });
        Ok(Accessor::Bitfield {
            name: name.to_string(),
            storage: storage.to_string(),
            bit: m.bit_offset - base * 8,
            bits: m.bitfield_size,
            ty,
            signed,
            doc,
        })
    }

    /// A struct or section: fields at their offsets, padding made explicit, runs of
    /// bitfields as byte arrays.
    fn struct_layout(
        &mut self,
        id: u32,
        name: &str,
        doc: String,
        size: u32,
        mut members: Vec<Member>,
    ) -> Result<(Layout, u32), SkelError> {
        members.sort_by_key(|m| m.bit_offset);
        let mut fields = Vec::new();
        let mut accessors = Vec::new();
        let mut cursor = 0u32;
        let mut align = 1u32;
        let mut packed = false;
        let mut used = BTreeSet::new();
        let mut i = 0;
        while i < members.len() {
            let m = &members[i];
            if m.bitfield_size != 0 {
                // A run of bitfields: one byte array from the first's byte to the last's end.
                let start = m.bit_offset / 8;
                let mut end_bit = m.bit_offset + m.bitfield_size;
                let mut j = i + 1;
                while j < members.len()
                    && members[j].bitfield_size != 0
                    && members[j].bit_offset < end_bit.div_ceil(8) * 8
                {
                    end_bit = end_bit.max(members[j].bit_offset + members[j].bitfield_size);
                    j += 1;
                }
                if start < cursor {
                    return Err(self.layout_error(id, "a bitfield overlaps the member before it"));
                }
                pad(&mut fields, &mut cursor, start);
                let end = end_bit.div_ceil(8);
                let storage = format!("_bitfield_{start}");
                fields.push(Field {
                    name: storage.clone(),
                    ty: format!("[u8; {}]", end - start),
                    offset: start,
                    doc: "Storage of the bitfields below, read and written through their methods"
                        .into(),
                });
                for (k, b) in members[i..j].iter().enumerate() {
                    let bname = field_name(b.name.as_deref().unwrap_or(&format!("anon{}", i + k)));
                    let decl = self.decl(b);
                    accessors.push(self.bitfield(id, b, &bname, &storage, start, decl)?);
                }
                cursor = end;
                i = j;
                continue;
            }
            if m.bit_offset % 8 != 0 {
                return Err(self.layout_error(id, "a member that starts mid-byte"));
            }
            let offset = m.bit_offset / 8;
            let fname = field_name(m.name.as_deref().unwrap_or(&format!("anon{i}")));
            // Two static locals of different functions may sanitize to one name.
            let fname = claim(&mut used, fname);
            let hint = format!("{name}_{}", fname.trim_start_matches("r#"));
            let decl = self.decl(m);
            let rt = self.rust_type(m.type_id, &hint)?;
            if offset < cursor {
                return Err(self.layout_error(id, format!("member {fname} overlaps another")));
            }
            pad(&mut fields, &mut cursor, offset);
            if offset % rt.align != 0 {
                packed = true;
            }
            align = align.max(rt.align);
            if let Some((enum_name, _)) = &rt.enum_of {
                accessors.push(Accessor::Enum {
                    field: fname.clone(),
                    enum_name: enum_name.clone(),
                });
            }
            if rt.chars {
                accessors.push(Accessor::Str {
                    field: fname.clone(),
                });
            }
            fields.push(Field {
                name: fname,
                ty: rt.text,
                offset,
                doc: decl,
            });
            cursor = offset + rt.size;
            i += 1;
        }
        if cursor > size {
            return Err(self.layout_error(id, format!("members end at {cursor}, past its size")));
        }
        pad(&mut fields, &mut cursor, size);
        if size % align != 0 {
            packed = true;
        }
        let layout = Layout {
            name: name.to_string(),
            doc,
            packed,
            fields,
            accessors,
        };
        Ok((layout, if packed { 1 } else { align }))
    }

    /// The struct of a DATASEC's variables (`.rodata` → `name`), made now; returns the
    /// layout's fields with their BTF types for the views.
    pub fn section(&mut self, datasec: u32, name: &str, doc: String) -> Result<Layout, SkelError> {
        let t = self.btf.type_by_id(datasec).map_err(btf_err)?;
        let mut members = Vec::new();
        for v in t.datasec_vars() {
            let var = self.btf.type_by_id(v.type_id).map_err(btf_err)?;
            if var.kind != Kind::Var {
                continue;
            }
            let vname = self.btf.name_of(&var).map_err(btf_err)?.to_string();
            members.push(Member {
                name: Some(vname),
                type_id: var.ref_type(),
                bit_offset: v.offset.saturating_mul(8),
                bitfield_size: 0,
            });
        }
        self.taken.insert(name.to_string());
        let (layout, _) = self.struct_layout(datasec, name, doc, t.size(), members)?;
        self.items.push(Item::Struct(layout.clone()));
        Ok(layout)
    }
}

/// `name`, or `name_2`, `name_3`, ... when a field already has it.
fn claim(used: &mut BTreeSet<String>, name: String) -> String {
    let mut n = 1;
    let mut out = name.clone();
    while !used.insert(out.clone()) {
        n += 1;
        out = format!("{name}_{n}");
    }
    out
}

/// Adds a `_pad_N` field from `*cursor` to `to`.
fn pad(fields: &mut Vec<Field>, cursor: &mut u32, to: u32) {
    if to > *cursor {
        fields.push(Field {
            name: format!("_pad_{cursor}"),
            ty: format!("[u8; {}]", to - *cursor),
            offset: *cursor,
            doc: "Padding".into(),
        });
        *cursor = to;
    }
}

fn size_float(size: u32) -> Option<&'static str> {
    // Floats are kept as their bits: `Pod` is for types whose every bit pattern is a
    // value, and comparing floats bit for bit is what the kernel does.
    match size {
        4 => Some("u32"),
        8 => Some("u64"),
        _ => None,
    }
}

/// Enumerator `value` (sign-extended when signed) as a literal of `raw`.
fn literal(value: u64, raw: &str) -> String {
    match raw {
        "u8" => (value as u8).to_string(),
        "i8" => (value as i8).to_string(),
        "u16" => (value as u16).to_string(),
        "i16" => (value as i16).to_string(),
        "u32" => (value as u32).to_string(),
        "i32" => (value as i32).to_string(),
        "i64" => (value as i64).to_string(),
        _ => value.to_string(),
    }
}
