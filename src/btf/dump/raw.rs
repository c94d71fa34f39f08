//! The raw dump: one record per type, as `bpftool btf dump` prints them (text), or
//! its `-j` JSON.
//!
//! Text: `[ID] KIND 'NAME'` and the kind's fields (`size=`, `type_id=`, …) on one line,
//! then one tab-indented line per member, enumerator, parameter or section variable.
//! JSON: `{"types":[{"id":…,"kind":…,"name":…,…}]}` with bpftool's field names.
//! Anonymous types are named `(anon)` in both.

use std::fmt::Write as _;

use crate::btf::{int_enc, linkage, Btf, Kind, Type};

/// The upper-case kind name bpftool prints (`STRUCT`, `FUNC_PROTO`, …).
pub fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::Void => "UNKNOWN",
        Kind::Int => "INT",
        Kind::Ptr => "PTR",
        Kind::Array => "ARRAY",
        Kind::Struct => "STRUCT",
        Kind::Union => "UNION",
        Kind::Enum => "ENUM",
        Kind::Fwd => "FWD",
        Kind::Typedef => "TYPEDEF",
        Kind::Volatile => "VOLATILE",
        Kind::Const => "CONST",
        Kind::Restrict => "RESTRICT",
        Kind::Func => "FUNC",
        Kind::FuncProto => "FUNC_PROTO",
        Kind::Var => "VAR",
        Kind::Datasec => "DATASEC",
        Kind::Float => "FLOAT",
        Kind::DeclTag => "DECL_TAG",
        Kind::TypeTag => "TYPE_TAG",
        Kind::Enum64 => "ENUM64",
    }
}

fn int_encoding(enc: u8) -> &'static str {
    match enc {
        0 => "(none)",
        int_enc::SIGNED => "SIGNED",
        int_enc::CHAR => "CHAR",
        int_enc::BOOL => "BOOL",
        _ => "UNKN",
    }
}

fn linkage_name(l: u32) -> &'static str {
    match l {
        linkage::STATIC => "static",
        linkage::GLOBAL => "global",
        linkage::EXTERN => "extern",
        _ => "(unknown)",
    }
}

/// A name as bpftool shows it: `(anon)` for none, `(invalid)` for a bad offset.
fn shown_name(btf: &Btf, off: u32) -> &str {
    if off == 0 {
        return "(anon)";
    }
    btf.str_at(off).unwrap_or("(invalid)")
}

/// The ids a raw dump covers: `types`, or this blob's own types (not a base's).
fn ids<'t>(btf: &Btf, types: Option<&'t [u32]>) -> Box<dyn Iterator<Item = u32> + 't> {
    match types {
        Some(ids) => Box::new(ids.iter().copied()),
        None => Box::new(btf.start_id()..btf.len()),
    }
}

/// Text dump of `types` (this blob's own types when `None`), one record per type.
pub(super) fn text(btf: &Btf, types: Option<&[u32]>) -> String {
    let mut out = String::with_capacity(btf.raw().len() * 2);
    for id in ids(btf, types) {
        if let Ok(t) = btf.type_by_id(id) {
            write_text(&mut out, btf, &t);
        }
    }
    out
}

/// Appends the text record of one type, ending with a newline.
fn write_text(out: &mut String, btf: &Btf, t: &Type<'_>) {
    let name = shown_name(btf, t.name_off);
    let _ = write!(out, "[{}] {} '{}'", t.id, kind_label(t.kind), name);
    let enc = if t.kflag() { "SIGNED" } else { "UNSIGNED" };
    match t.kind {
        Kind::Int => {
            if let Ok(i) = t.int() {
                let _ = write!(
                    out,
                    " size={} bits_offset={} nr_bits={} encoding={}",
                    t.size(),
                    i.offset,
                    i.bits,
                    int_encoding(i.encoding)
                );
            }
        }
        Kind::Ptr
        | Kind::Const
        | Kind::Volatile
        | Kind::Restrict
        | Kind::Typedef
        | Kind::TypeTag => {
            let _ = write!(out, " type_id={}", t.ref_type());
        }
        Kind::Array => {
            if let Ok(a) = t.array() {
                let _ = write!(
                    out,
                    " type_id={} index_type_id={} nr_elems={}",
                    a.elem_type, a.index_type, a.nelems
                );
            }
        }
        Kind::Struct | Kind::Union => {
            let _ = write!(out, " size={} vlen={}", t.size(), t.vlen());
            for m in t.members() {
                let _ = write!(
                    out,
                    "\n\t'{}' type_id={} bits_offset={}",
                    shown_name(btf, m.name_off),
                    m.type_id,
                    m.bit_offset
                );
                if m.bitfield_size != 0 {
                    let _ = write!(out, " bitfield_size={}", m.bitfield_size);
                }
            }
        }
        Kind::Enum | Kind::Enum64 => {
            let _ = write!(out, " encoding={enc} size={} vlen={}", t.size(), t.vlen());
            for e in t.enum_values() {
                let n = shown_name(btf, e.name_off);
                let _ = match (t.kind == Kind::Enum64, t.kflag()) {
                    (false, true) => write!(out, "\n\t'{n}' val={}", e.value as i32),
                    (false, false) => write!(out, "\n\t'{n}' val={}", e.value as u32),
                    (true, true) => write!(out, "\n\t'{n}' val={}LL", e.value as i64),
                    (true, false) => write!(out, "\n\t'{n}' val={}ULL", e.value),
                };
            }
        }
        Kind::Fwd => {
            let _ = write!(
                out,
                " fwd_kind={}",
                if t.kflag() { "union" } else { "struct" }
            );
        }
        Kind::Func => {
            let _ = write!(
                out,
                " type_id={} linkage={}",
                t.ref_type(),
                linkage_name(t.linkage())
            );
        }
        Kind::FuncProto => {
            let _ = write!(out, " ret_type_id={} vlen={}", t.ref_type(), t.vlen());
            for p in t.params() {
                let _ = write!(
                    out,
                    "\n\t'{}' type_id={}",
                    shown_name(btf, p.name_off),
                    p.type_id
                );
            }
        }
        Kind::Var => {
            // bpftool's comma.
            let _ = write!(
                out,
                " type_id={}, linkage={}",
                t.ref_type(),
                linkage_name(t.linkage())
            );
        }
        Kind::Datasec => {
            let _ = write!(out, " size={} vlen={}", t.size(), t.vlen());
            for v in t.datasec_vars() {
                let _ = write!(
                    out,
                    "\n\ttype_id={} offset={} size={}",
                    v.type_id, v.offset, v.size
                );
                if let Ok(vt) = btf.type_by_id(v.type_id) {
                    let _ = write!(
                        out,
                        " ({} '{}')",
                        kind_label(vt.kind),
                        shown_name(btf, vt.name_off)
                    );
                }
            }
        }
        Kind::Float => {
            let _ = write!(out, " size={}", t.size());
        }
        Kind::DeclTag => {
            let _ = write!(
                out,
                " type_id={} component_idx={}",
                t.ref_type(),
                t.decl_tag_component()
            );
        }
        Kind::Void => {}
    }
    out.push('\n');
}

/// JSON dump of `types` (this blob's own types when `None`): `{"types":[…]}`.
pub(super) fn json(btf: &Btf, types: Option<&[u32]>) -> String {
    let mut out = String::with_capacity(btf.raw().len() * 3);
    out.push_str("{\"types\":[");
    let mut first = true;
    for id in ids(btf, types) {
        if let Ok(t) = btf.type_by_id(id) {
            if !first {
                out.push(',');
            }
            first = false;
            write_json(&mut out, btf, &t);
        }
    }
    out.push_str("]}");
    out
}

/// Appends `s` as a JSON string.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `,"key":value` for a number.
fn num(out: &mut String, key: &str, v: impl std::fmt::Display) {
    let _ = write!(out, ",\"{key}\":{v}");
}

/// `,"key":"value"`.
fn text_field(out: &mut String, key: &str, v: &str) {
    let _ = write!(out, ",\"{key}\":");
    json_str(out, v);
}

fn write_json(out: &mut String, btf: &Btf, t: &Type<'_>) {
    let _ = write!(out, "{{\"id\":{}", t.id);
    text_field(out, "kind", kind_label(t.kind));
    text_field(out, "name", shown_name(btf, t.name_off));
    match t.kind {
        Kind::Int => {
            if let Ok(i) = t.int() {
                num(out, "size", t.size());
                num(out, "bits_offset", i.offset);
                num(out, "nr_bits", i.bits);
                text_field(out, "encoding", int_encoding(i.encoding));
            }
        }
        Kind::Ptr
        | Kind::Const
        | Kind::Volatile
        | Kind::Restrict
        | Kind::Typedef
        | Kind::TypeTag => num(out, "type_id", t.ref_type()),
        Kind::Array => {
            if let Ok(a) = t.array() {
                num(out, "type_id", a.elem_type);
                num(out, "index_type_id", a.index_type);
                num(out, "nr_elems", a.nelems);
            }
        }
        Kind::Struct | Kind::Union => {
            num(out, "size", t.size());
            num(out, "vlen", t.vlen());
            out.push_str(",\"members\":[");
            for (i, m) in t.members().enumerate() {
                out.push_str(if i == 0 { "{" } else { ",{" });
                out.push_str("\"name\":");
                json_str(out, shown_name(btf, m.name_off));
                num(out, "type_id", m.type_id);
                num(out, "bits_offset", m.bit_offset);
                if m.bitfield_size != 0 {
                    num(out, "bitfield_size", m.bitfield_size);
                }
                out.push('}');
            }
            out.push(']');
        }
        Kind::Enum | Kind::Enum64 => {
            text_field(
                out,
                "encoding",
                if t.kflag() { "SIGNED" } else { "UNSIGNED" },
            );
            num(out, "size", t.size());
            num(out, "vlen", t.vlen());
            out.push_str(",\"values\":[");
            for (i, e) in t.enum_values().enumerate() {
                out.push_str(if i == 0 { "{" } else { ",{" });
                out.push_str("\"name\":");
                json_str(out, shown_name(btf, e.name_off));
                match (t.kind == Kind::Enum64, t.kflag()) {
                    (false, true) => num(out, "val", e.value as i32),
                    (false, false) => num(out, "val", e.value as u32),
                    (true, true) => num(out, "val", e.value as i64),
                    (true, false) => num(out, "val", e.value),
                }
                out.push('}');
            }
            out.push(']');
        }
        Kind::Fwd => text_field(out, "fwd_kind", if t.kflag() { "union" } else { "struct" }),
        Kind::Func | Kind::Var => {
            num(out, "type_id", t.ref_type());
            text_field(out, "linkage", linkage_name(t.linkage()));
        }
        Kind::FuncProto => {
            num(out, "ret_type_id", t.ref_type());
            num(out, "vlen", t.vlen());
            out.push_str(",\"params\":[");
            for (i, p) in t.params().enumerate() {
                out.push_str(if i == 0 { "{" } else { ",{" });
                out.push_str("\"name\":");
                json_str(out, shown_name(btf, p.name_off));
                num(out, "type_id", p.type_id);
                out.push('}');
            }
            out.push(']');
        }
        Kind::Datasec => {
            num(out, "size", t.size());
            num(out, "vlen", t.vlen());
            out.push_str(",\"vars\":[");
            for (i, v) in t.datasec_vars().enumerate() {
                let _ = write!(
                    out,
                    "{}{{\"type_id\":{},\"offset\":{},\"size\":{}}}",
                    if i == 0 { "" } else { "," },
                    v.type_id,
                    v.offset,
                    v.size
                );
            }
            out.push(']');
        }
        Kind::Float => num(out, "size", t.size()),
        Kind::DeclTag => {
            num(out, "type_id", t.ref_type());
            num(out, "component_idx", t.decl_tag_component());
        }
        Kind::Void => {}
    }
    out.push('}');
}
