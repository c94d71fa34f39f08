//! BTF to a compilable C header: `vmlinux.h`.
//!
//! [`dump_c`] writes every struct, union, enum and typedef of a BTF as C that clang
//! (`-target bpf`) compiles, with the layout the BTF describes: member offsets and struct
//! sizes are reproduced with explicit padding bitfields and `__attribute__((packed))`
//! where natural alignment would not give them, as libbpf's `btf_dump` does.
//!
//! Ordering: all named structs and unions are forward-declared first, then enums, then
//! typedefs and struct/union definitions in dependency order (a type embedded by value, or
//! a typedef used by name, comes before its user). Anonymous structs, unions and enums are
//! written inline where they are used. Names that C would see twice (two different
//! `struct foo`, an enumerator clashing with a typedef) get libbpf's `___2`, `___3`
//! suffixes. Functions, variables and data sections are not written.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::{Btf, Kind, Type};

/// Deepest dependency recursion we follow; beyond it (only in malformed BTF) types are
/// emitted without their dependencies rather than overflowing the stack.
const MAX_DEPTH: usize = 256;

/// Most unnamed padding bitfields emitted in a row (one per `long`, `int`, ... of the gap)
/// before the rest of the gap becomes a `char` array. Kernels pad up to a page (511 longs).
const MAX_PAD_UNITS: i64 = 512;

/// Writes all types of `btf` as a C header (a `vmlinux.h` when given the kernel's BTF),
/// wrapped in an include guard and in clang's `preserve_access_index` pragma so that
/// field accesses through these types are CO-RE relocatable.
pub fn dump_c(btf: &Btf) -> String {
    let mut d = Dumper::new(btf);
    d.run();
    d.out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    NotEmitted,
    Emitting,
    Emitted,
}

struct Dumper<'a> {
    btf: &'a Btf,
    /// Resolved (deduplicated) names of named struct/union/enum/fwd/typedef types.
    names: HashMap<u32, String>,
    /// Renamed enumerators, by (enum id, index).
    enumerators: HashMap<(u32, usize), String>,
    state: Vec<State>,
    /// Referenced from another type (an unreferenced anonymous enum is a top-level one).
    referenced: Vec<bool>,
    /// Memoized alignment, 0 = not computed yet.
    align: Vec<u8>,
    /// Anonymous composites whose members' needs were already required.
    anon_required: Vec<bool>,
    /// Lines of inline definitions of anonymous composites (one per member and one per
    /// composite) left before [`Dumper::emit_anon_stub`] replaces them.
    inline_budget: usize,
    out: String,
}

fn indent(out: &mut String, lvl: usize) {
    for _ in 0..lvl.min(16) {
        out.push('\t');
    }
}

impl<'a> Dumper<'a> {
    fn new(btf: &'a Btf) -> Dumper<'a> {
        let n = btf.len() as usize;
        let mut d = Dumper {
            btf,
            names: HashMap::new(),
            enumerators: HashMap::new(),
            state: vec![State::NotEmitted; n],
            referenced: vec![false; n],
            align: vec![0; n],
            anon_required: vec![false; n],
            inline_budget: n.saturating_mul(4).saturating_add(4096),
            out: String::with_capacity(n * 24),
        };
        d.resolve_names();
        d.mark_referenced();
        d
    }

    fn ty(&self, id: u32) -> Option<Type<'a>> {
        self.btf.type_by_id(id).ok()
    }

    fn raw_name(&self, t: &Type<'_>) -> &'a str {
        self.btf.str_at(t.name_off).unwrap_or("")
    }

    fn ids(&self) -> std::ops::Range<u32> {
        1..self.btf.len()
    }

    /// Gives every named type its C name, renaming the second and later users of a name
    /// in a namespace (tags: struct/union/enum; identifiers: typedefs and enumerators).
    fn resolve_names(&mut self) {
        #[derive(PartialEq, Eq, Clone, Copy)]
        enum Tag {
            Struct,
            Union,
            Enum,
        }
        let mut tags: HashMap<&'a str, (Tag, usize)> = HashMap::new();
        let mut idents: HashMap<&'a str, usize> = HashMap::new();
        let bump = |count: &mut usize, name: &str| -> String {
            *count += 1;
            if *count > 1 {
                format!("{name}___{count}")
            } else {
                name.to_string()
            }
        };
        for id in self.ids() {
            let Some(t) = self.ty(id) else { continue };
            let name = self.raw_name(&t);
            let tag = match t.kind {
                Kind::Struct => Tag::Struct,
                Kind::Union => Tag::Union,
                Kind::Enum | Kind::Enum64 => Tag::Enum,
                Kind::Typedef => {
                    if !name.is_empty() {
                        let c = idents.entry(name).or_insert(0);
                        self.names.insert(id, bump(c, name));
                    }
                    continue;
                }
                _ => continue,
            };
            if matches!(t.kind, Kind::Enum | Kind::Enum64) {
                for (i, e) in t.enum_values().enumerate() {
                    let en = self.btf.str_at(e.name_off).unwrap_or("");
                    let c = idents.entry(en).or_insert(0);
                    let resolved = bump(c, en);
                    if resolved != en {
                        self.enumerators.insert((id, i), resolved);
                    }
                }
            }
            if name.is_empty() {
                continue;
            }
            let e = tags.entry(name).or_insert((tag, 0));
            self.names.insert(id, bump(&mut e.1, name));
        }
        // Forward declarations name the same C type as a definition of the same tag kind.
        for id in self.ids() {
            let Some(t) = self.ty(id) else { continue };
            if t.kind != Kind::Fwd {
                continue;
            }
            let name = self.raw_name(&t);
            if name.is_empty() {
                continue;
            }
            let tag = if t.kflag() { Tag::Union } else { Tag::Struct };
            let e = tags.entry(name).or_insert((tag, 0));
            let resolved = if e.0 == tag && e.1 > 0 {
                name.to_string()
            } else {
                bump(&mut e.1, name)
            };
            self.names.insert(id, resolved);
        }
    }

    fn mark_referenced(&mut self) {
        for id in self.ids() {
            let Some(t) = self.ty(id) else { continue };
            let mut mark = |x: u32| {
                if let Some(r) = self.referenced.get_mut(x as usize) {
                    *r = true;
                }
            };
            match t.kind {
                Kind::Ptr
                | Kind::Typedef
                | Kind::Const
                | Kind::Volatile
                | Kind::Restrict
                | Kind::TypeTag
                | Kind::Func
                | Kind::Var
                | Kind::DeclTag => mark(t.ref_type()),
                Kind::Array => {
                    if let Ok(a) = t.array() {
                        mark(a.elem_type);
                        mark(a.index_type);
                    }
                }
                Kind::Struct | Kind::Union => t.members().for_each(|m| mark(m.type_id)),
                Kind::FuncProto => {
                    mark(t.ref_type());
                    t.params().for_each(|p| mark(p.type_id));
                }
                Kind::Datasec => t.datasec_vars().for_each(|v| mark(v.type_id)),
                _ => {}
            }
        }
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(&id).map(String::as_str).unwrap_or("")
    }

    fn run(&mut self) {
        self.out.push_str(
            "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n\
             #ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n\
             #pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n\
             #endif\n\n",
        );
        // 1. Every struct/union tag, so pointers to them can be written anywhere.
        let mut declared = HashSet::new();
        for id in self.ids() {
            let Some(t) = self.ty(id) else { continue };
            let kw = match t.kind {
                Kind::Struct => "struct",
                Kind::Union => "union",
                Kind::Fwd if t.kflag() => "union",
                Kind::Fwd => "struct",
                _ => continue,
            };
            let name = self.name(id).to_string();
            if !name.is_empty() && declared.insert((kw, name.clone())) {
                let _ = writeln!(self.out, "{kw} {name};");
            }
        }
        self.out.push('\n');
        // 2. Enums: named ones and top-level anonymous ones (constants). They depend on nothing.
        for id in self.ids() {
            let Some(t) = self.ty(id) else { continue };
            if matches!(t.kind, Kind::Enum | Kind::Enum64)
                && (t.name_off != 0 || !self.referenced[id as usize])
            {
                self.emit_enum_def(id, &t, 0);
                self.out.push_str(";\n\n");
                self.state[id as usize] = State::Emitted;
            }
        }
        // 3. Typedefs and struct/union definitions, dependencies first.
        for id in self.ids() {
            let Some(t) = self.ty(id) else { continue };
            let named = !self.name(id).is_empty();
            if named && matches!(t.kind, Kind::Typedef | Kind::Struct | Kind::Union) {
                self.ensure(id, 0);
            }
        }
        self.out.push_str(
            "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n\
             #endif /* __VMLINUX_H__ */\n",
        );
    }

    /// Emits the definition of named struct/union or typedef `id` after what it needs.
    fn ensure(&mut self, id: u32, depth: usize) {
        let Some(st) = self.state.get(id as usize).copied() else {
            return;
        };
        if st != State::NotEmitted || depth > MAX_DEPTH {
            return; // done, or a cycle (only in malformed BTF): emit what we can
        }
        let Some(t) = self.ty(id) else { return };
        self.state[id as usize] = State::Emitting;
        match t.kind {
            Kind::Struct | Kind::Union => {
                for m in t.members() {
                    self.require(m.type_id, true, depth + 1);
                }
                self.emit_struct_def(id, &t, 0, depth);
                self.out.push_str(";\n\n");
            }
            Kind::Typedef => {
                self.require(t.ref_type(), false, depth + 1);
                self.emit_typedef_def(id, &t, 0);
            }
            _ => {}
        }
        self.state[id as usize] = State::Emitted;
    }

    /// Makes sure what a use of type `id` needs is emitted: typedefs by name always,
    /// named structs/unions fully when `strong` (embedded by value, not behind a pointer),
    /// and whatever the members of anonymous (inline) composites need.
    fn require(&mut self, id: u32, strong: bool, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let Some(t) = self.ty(id) else { return };
        match t.kind {
            Kind::Ptr => self.require(t.ref_type(), false, depth + 1),
            Kind::Array => {
                if let Ok(a) = t.array() {
                    self.require(a.elem_type, strong, depth + 1);
                }
            }
            Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag => {
                self.require(t.ref_type(), strong, depth + 1)
            }
            Kind::Typedef => {
                self.ensure(id, depth + 1);
                if strong {
                    self.require(t.ref_type(), true, depth + 1);
                }
            }
            Kind::Struct | Kind::Union => {
                if t.name_off != 0 {
                    if strong {
                        self.ensure(id, depth + 1);
                    }
                } else if !std::mem::replace(&mut self.anon_required[id as usize], true) {
                    for m in t.members() {
                        self.require(m.type_id, true, depth + 1);
                    }
                }
            }
            Kind::FuncProto => {
                self.require(t.ref_type(), false, depth + 1);
                for p in t.params() {
                    self.require(p.type_id, false, depth + 1);
                }
            }
            _ => {}
        }
    }

    fn emit_typedef_def(&mut self, id: u32, t: &Type<'_>, lvl: usize) {
        let name = self.name(id).to_string();
        if name == "__builtin_va_list" {
            return; // a compiler built-in
        }
        if t.ref_type() == 0 && name == "__gnuc_va_list" {
            self.out
                .push_str("typedef __builtin_va_list __gnuc_va_list;\n\n");
            return;
        }
        self.out.push_str("typedef ");
        self.emit_decl(t.ref_type(), &name, lvl, 0);
        self.out.push_str(";\n\n");
    }

    fn emit_enum_def(&mut self, id: u32, t: &Type<'_>, lvl: usize) {
        let name = self.name(id).to_string();
        if name.is_empty() {
            self.out.push_str("enum");
        } else {
            let _ = write!(self.out, "enum {name}");
        }
        if t.vlen() == 0 {
            return;
        }
        self.out.push_str(" {");
        let signed = t.kflag();
        let is64 = t.kind == Kind::Enum64;
        let mut any_hi = false;
        for (i, e) in t.enum_values().enumerate() {
            let en = match self.enumerators.get(&(id, i)) {
                Some(n) => n.clone(),
                None => self.btf.str_at(e.name_off).unwrap_or("").to_string(),
            };
            self.out.push('\n');
            indent(&mut self.out, lvl + 1);
            any_hi |= e.value >> 32 != 0 && !(signed && (e.value as i64) >= i64::from(i32::MIN));
            let _ = match (is64, signed) {
                (false, true) => write!(self.out, "{en} = {},", e.value as i32),
                (false, false) => write!(self.out, "{en} = {},", e.value as u32),
                (true, true) => write!(self.out, "{en} = {}LL,", e.value as i64),
                (true, false) => write!(self.out, "{en} = {}ULL,", e.value),
            };
        }
        self.out.push('\n');
        indent(&mut self.out, lvl);
        self.out.push('}');
        if t.size() == 1 {
            self.out.push_str(" __attribute__((mode(byte)))");
        } else if t.size() == 8 && (!is64 || !any_hi) {
            // Values that all fit 32 bits would give a 4-byte enum.
            self.out.push_str(" __attribute__((mode(word)))");
        }
    }

    /// Natural alignment of type `id` as libbpf's `btf__align_of` computes it (pointer size 8).
    fn align_of(&mut self, id: u32, depth: usize) -> u32 {
        if let Some(&a) = self.align.get(id as usize) {
            if a != 0 {
                return u32::from(a);
            }
        }
        if depth > MAX_DEPTH {
            return 1;
        }
        let Some(t) = self.ty(id) else { return 1 };
        let a = match t.kind {
            Kind::Int | Kind::Enum | Kind::Enum64 | Kind::Float => t.size().clamp(1, 8),
            Kind::Ptr => 8,
            Kind::Typedef | Kind::Volatile | Kind::Const | Kind::Restrict | Kind::TypeTag => {
                self.align_of(t.ref_type(), depth + 1)
            }
            Kind::Array => match t.array() {
                Ok(a) => self.align_of(a.elem_type, depth + 1),
                Err(_) => 1,
            },
            Kind::Struct | Kind::Union => {
                let mut max_align = 1;
                let mut packed = false;
                for m in t.members() {
                    let a = self.align_of(m.type_id, depth + 1);
                    max_align = max_align.max(a);
                    if m.bitfield_size == 0 && m.bit_offset % (8 * a) != 0 {
                        packed = true;
                    }
                }
                if packed || t.size() % max_align != 0 {
                    1
                } else {
                    max_align
                }
            }
            _ => 1,
        };
        if let Some(slot) = self.align.get_mut(id as usize) {
            *slot = a as u8;
        }
        a
    }

    fn is_packed(&mut self, t: &Type<'_>) -> bool {
        let mut max_align = 1;
        for m in t.members() {
            let a = self.align_of(m.type_id, 0);
            if m.bitfield_size == 0 && m.bit_offset % (8 * a) != 0 {
                return true;
            }
            max_align = max_align.max(a);
        }
        t.size() % max_align != 0
    }

    /// Unnamed bitfields filling bits `cur..next`, relying on natural alignment where it
    /// gets there by itself (libbpf's `btf_dump_emit_bit_padding`).
    fn emit_bit_padding(
        &mut self,
        cur: i64,
        next: i64,
        next_align: i64,
        in_bitfield: bool,
        lvl: usize,
    ) {
        const PADS: [(&str, i64); 4] = [("long", 64), ("int", 32), ("short", 16), ("char", 8)];
        if cur >= next {
            return;
        }
        let roundup =
            |x: i64, y: i64| x.div_euclid(y) * y + if x.rem_euclid(y) != 0 { y } else { 0 };
        let mut cur = cur;
        let (mut pad_type, mut pad_bits, mut new_off) = ("char", 8, 0);
        for (name, bits) in PADS {
            pad_type = name;
            pad_bits = bits;
            new_off = roundup(cur, bits);
            if new_off <= next {
                break;
            }
        }
        if new_off > cur && new_off <= next {
            if in_bitfield
                || (new_off == next && roundup(cur, next_align * 8) != new_off)
                || (new_off != next && next - new_off <= new_off - cur)
            {
                self.out.push('\n');
                indent(&mut self.out, lvl);
                let _ = write!(
                    self.out,
                    "{pad_type}: {};",
                    if in_bitfield { new_off - cur } else { 0 }
                );
            }
            cur = new_off;
        }
        while cur != next {
            let bits = (next - cur).min(pad_bits);
            if bits == pad_bits {
                self.out.push('\n');
                indent(&mut self.out, lvl);
                let _ = write!(self.out, "{pad_type}: {pad_bits};");
                cur += bits;
                self.emit_pad_array(&mut cur, next, pad_bits, lvl);
                continue;
            }
            for (name, pbits) in PADS.iter().rev() {
                if *pbits < bits {
                    continue;
                }
                self.out.push('\n');
                indent(&mut self.out, lvl);
                let _ = write!(self.out, "{name}: {bits};");
                cur += bits;
                break;
            }
        }
    }

    /// After a first unit of padding (which the bitfield rules align), the whole units of
    /// `cur..next` as one `char` array when they are more than any real layout has (a
    /// page-aligned member: 511 longs): hostile BTF declares structs of up to 4 GiB, which
    /// a line per unit would turn into gigabytes of header.
    fn emit_pad_array(&mut self, cur: &mut i64, next: i64, unit: i64, lvl: usize) {
        let whole = (next - *cur) / unit;
        if whole > MAX_PAD_UNITS {
            self.out.push('\n');
            indent(&mut self.out, lvl);
            let _ = write!(self.out, "char __pad_{}[{}];", *cur / 8, whole * unit / 8);
            *cur += whole * unit;
        }
    }

    /// An anonymous composite of the right size, in place of its definition, once the
    /// inline budget is spent: only BTF that shares anonymous types at every level of a
    /// deep nest (each use inlines its definition again: exponential output) gets there.
    fn emit_anon_stub(&mut self, id: u32, t: &Type<'_>) {
        let kw = if t.kind == Kind::Struct {
            "struct"
        } else {
            "union"
        };
        let _ = write!(self.out, "{kw} {{ char __anon_{id}[{}]; }}", t.size());
    }

    fn emit_struct_def(&mut self, id: u32, t: &Type<'_>, lvl: usize, depth: usize) {
        let is_struct = t.kind == Kind::Struct;
        let kw = if is_struct { "struct" } else { "union" };
        let name = self.name(id).to_string();
        if name.is_empty() || t.name_off == 0 {
            let _ = write!(self.out, "{kw} {{");
        } else {
            let _ = write!(self.out, "{kw} {name} {{");
        }
        let align = i64::from(self.align_of(id, 0));
        let packed = is_struct && self.is_packed(t);
        let mut off: i64 = 0;
        let mut prev_bitfield = false;
        for (i, m) in t.members().enumerate() {
            let mut fname = self.btf.str_at(m.name_off).unwrap_or("").to_string();
            let m_off = i64::from(m.bit_offset);
            let m_sz = i64::from(m.bitfield_size);
            let m_align = if packed {
                1
            } else {
                i64::from(self.align_of(m.type_id, 0))
            };
            let in_bitfield = prev_bitfield && m_sz != 0;
            self.emit_bit_padding(off, m_off, m_align, in_bitfield, lvl + 1);
            if fname.is_empty() && m_sz == 0 && !self.is_anon_composite(m.type_id) {
                // C has no unnamed plain members; keep the layout with a made-up name.
                fname = format!("__unnamed_{i}");
            }
            self.out.push('\n');
            indent(&mut self.out, lvl + 1);
            self.emit_decl(m.type_id, &fname, lvl + 1, depth + 1);
            if m_sz != 0 {
                let _ = write!(self.out, ": {m_sz}");
                off = m_off + m_sz;
                prev_bitfield = true;
            } else {
                let size = self.btf.resolve_size(m.type_id).unwrap_or(0) as i64;
                off = m_off + size * 8;
                prev_bitfield = false;
            }
            self.out.push(';');
        }
        if is_struct {
            self.emit_bit_padding(off, i64::from(t.size()) * 8, align, false, lvl + 1);
        }
        if t.vlen() > 0 || t.size() > 0 {
            self.out.push('\n');
            indent(&mut self.out, lvl);
        }
        self.out.push('}');
        if packed {
            self.out.push_str(" __attribute__((packed))");
        }
    }

    fn is_anon_composite(&self, id: u32) -> bool {
        let mut id = id;
        for _ in 0..super::MAX_RESOLVE_DEPTH {
            match self.ty(id) {
                Some(t) if t.kind.is_modifier() => id = t.ref_type(),
                Some(t) => return t.kind.is_composite() && t.name_off == 0,
                None => return false,
            }
        }
        false
    }

    /// Writes the declaration of `fname` (maybe empty) as type `id`, libbpf's way: push the
    /// chain of pointers/arrays/prototypes/modifiers down to a named or inline type, then
    /// write it back out with C's declarator syntax.
    fn emit_decl(&mut self, id: u32, fname: &str, lvl: usize, depth: usize) {
        let mut stack = Vec::new();
        let mut id = id;
        loop {
            stack.push(id);
            if id == 0 || stack.len() > super::MAX_RESOLVE_DEPTH {
                break;
            }
            let Some(t) = self.ty(id) else { break };
            id = match t.kind {
                Kind::Ptr
                | Kind::Const
                | Kind::Volatile
                | Kind::Restrict
                | Kind::FuncProto
                | Kind::TypeTag => t.ref_type(),
                Kind::Array => match t.array() {
                    Ok(a) => a.elem_type,
                    Err(_) => break,
                },
                _ => break,
            };
        }
        self.emit_chain(&mut stack, fname, lvl, depth);
    }

    /// Writes pending `const`/`volatile`/`restrict` at the top of the stack, prefix style.
    fn emit_mods(&mut self, stack: &mut Vec<u32>) {
        while let Some(&id) = stack.last() {
            let Some(t) = self.ty(id) else { return };
            let q = match t.kind {
                Kind::Const => "const ",
                Kind::Volatile => "volatile ",
                Kind::Restrict => "restrict ",
                _ => return,
            };
            self.out.push_str(q);
            stack.pop();
        }
    }

    fn drop_mods(&mut self, stack: &mut Vec<u32>) {
        while let Some(&id) = stack.last() {
            match self.ty(id) {
                Some(t) if matches!(t.kind, Kind::Const | Kind::Volatile | Kind::Restrict) => {
                    stack.pop();
                }
                _ => return,
            }
        }
    }

    fn emit_name(&mut self, fname: &str, last_was_ptr: bool) {
        if !fname.is_empty() && !last_was_ptr {
            self.out.push(' ');
        }
        self.out.push_str(fname);
    }

    fn emit_chain(&mut self, stack: &mut Vec<u32>, fname: &str, lvl: usize, depth: usize) {
        let mut last_was_ptr = true;
        while let Some(id) = stack.pop() {
            if id == 0 {
                self.emit_mods(stack);
                self.out.push_str("void");
                last_was_ptr = false;
                continue;
            }
            let Some(t) = self.ty(id) else {
                let _ = write!(self.out, "void /* bad type {id} */");
                last_was_ptr = false;
                continue;
            };
            match t.kind {
                Kind::Int | Kind::Float => {
                    self.emit_mods(stack);
                    let n = self.raw_name(&t);
                    self.out.push_str(if n.is_empty() { "int" } else { n });
                }
                Kind::Struct | Kind::Union => {
                    self.emit_mods(stack);
                    let cost = 1 + t.vlen();
                    if t.name_off == 0 && depth < MAX_DEPTH && self.inline_budget < cost {
                        self.emit_anon_stub(id, &t);
                    } else if t.name_off == 0 && depth < MAX_DEPTH {
                        self.inline_budget -= cost;
                        self.emit_struct_def(id, &t, lvl, depth + 1);
                    } else {
                        let kw = if t.kind == Kind::Struct {
                            "struct"
                        } else {
                            "union"
                        };
                        let n = self.name(id).to_string();
                        let _ = write!(self.out, "{kw} {n}");
                    }
                }
                Kind::Enum | Kind::Enum64 => {
                    self.emit_mods(stack);
                    if t.name_off == 0 {
                        self.emit_enum_def(id, &t, lvl);
                    } else {
                        let n = self.name(id).to_string();
                        let _ = write!(self.out, "enum {n}");
                    }
                }
                Kind::Fwd => {
                    self.emit_mods(stack);
                    let kw = if t.kflag() { "union" } else { "struct" };
                    let n = self.name(id).to_string();
                    let _ = write!(self.out, "{kw} {n}");
                }
                Kind::Typedef => {
                    self.emit_mods(stack);
                    let n = self.name(id).to_string();
                    self.out.push_str(&n);
                }
                Kind::Ptr => self.out.push_str(if last_was_ptr { "*" } else { " *" }),
                Kind::Volatile => self.out.push_str(" volatile"),
                Kind::Const => self.out.push_str(" const"),
                Kind::Restrict => self.out.push_str(" restrict"),
                Kind::TypeTag => {
                    let n = self.raw_name(&t);
                    if t.kflag() {
                        let _ = write!(self.out, " __attribute__(({n}))");
                    } else {
                        let _ = write!(self.out, " __attribute__((btf_type_tag(\"{n}\")))");
                    }
                }
                Kind::Array => {
                    let nelems = t.array().map(|a| a.nelems).unwrap_or(0);
                    self.drop_mods(stack);
                    let Some(&next) = stack.last() else {
                        self.emit_name(fname, last_was_ptr);
                        let _ = write!(self.out, "[{nelems}]");
                        return;
                    };
                    let multidim = self
                        .ty(next)
                        .map(|n| n.kind == Kind::Array)
                        .unwrap_or(false);
                    if !fname.is_empty() && !last_was_ptr {
                        self.out.push(' ');
                    }
                    if !multidim {
                        self.out.push('(');
                    }
                    self.emit_chain(stack, fname, lvl, depth + 1);
                    if !multidim {
                        self.out.push(')');
                    }
                    let _ = write!(self.out, "[{nelems}]");
                    return;
                }
                Kind::FuncProto => {
                    self.drop_mods(stack);
                    if stack.is_empty() {
                        self.emit_name(fname, last_was_ptr);
                    } else {
                        self.out.push_str(" (");
                        self.emit_chain(stack, fname, lvl, depth + 1);
                        self.out.push(')');
                    }
                    self.out.push('(');
                    let params: Vec<_> = t.params().collect();
                    if params.is_empty() || (params.len() == 1 && params[0].type_id == 0) {
                        self.out.push_str("void)");
                        return;
                    }
                    for (i, p) in params.iter().enumerate() {
                        if i > 0 {
                            self.out.push_str(", ");
                        }
                        if i == params.len() - 1 && p.type_id == 0 {
                            self.out.push_str("...");
                            break;
                        }
                        let pname = self.btf.str_at(p.name_off).unwrap_or("").to_string();
                        self.emit_decl(p.type_id, &pname, lvl, depth + 1);
                    }
                    self.out.push(')');
                    return;
                }
                _ => {
                    let _ = write!(self.out, "void /* {} */", t.kind.name());
                }
            }
            last_was_ptr = t.kind == Kind::Ptr;
        }
        self.emit_name(fname, last_was_ptr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::testutil::Builder;
    use std::path::Path;
    use std::process::Command;

    fn clang() -> Option<&'static str> {
        let ok = Command::new("clang-19")
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("skipping: clang-19 is not installed");
        }
        ok.then_some("clang-19")
    }

    /// Compiles `src` (which may include "vmlinux.h", given as `header`) for BPF.
    fn compile(clang: &str, header: &str, src: &str) -> Result<(), String> {
        if let Ok(d) = std::env::var("DUMP_KEEP") {
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(Path::new(&d).join("vmlinux.h"), header).unwrap();
            std::fs::write(Path::new(&d).join("prog.bpf.c"), src).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vmlinux.h"), header).unwrap();
        let c = dir.path().join("prog.bpf.c");
        std::fs::write(&c, src).unwrap();
        let out = Command::new(clang)
            .args([
                "-target",
                "bpf",
                "-O2",
                "-g",
                "-Wall",
                "-Werror",
                "-Wno-unused-function",
            ])
            .arg("-I")
            .arg(dir.path())
            .arg("-c")
            .arg(&c)
            .arg("-o")
            .arg(dir.path().join("prog.o"))
            .output()
            .unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr)
                .chars()
                .take(6000)
                .collect())
        }
    }

    /// True if a value of type `id` holds a `__builtin_va_list`, whose size differs between
    /// x86-64 (24 bytes) and BPF (8): like libbpf, we leave it to the compiler's definition.
    fn holds_va_list(btf: &Btf, id: u32, depth: usize) -> bool {
        let Ok(t) = btf.type_by_id(id) else {
            return false;
        };
        if depth > 64 {
            return false;
        }
        match t.kind {
            Kind::Typedef if btf.name_of(&t).unwrap() == "__builtin_va_list" => true,
            Kind::Typedef | Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag => {
                holds_va_list(btf, t.ref_type(), depth + 1)
            }
            Kind::Array => holds_va_list(btf, t.array().unwrap().elem_type, depth + 1),
            Kind::Struct | Kind::Union => t
                .members()
                .any(|m| holds_va_list(btf, m.type_id, depth + 1)),
            _ => false,
        }
    }

    /// `_Static_assert`s of every named struct/union's size and of the offsets of its named
    /// non-bitfield members, in the emitted names.
    fn layout_asserts(btf: &Btf) -> String {
        let d = Dumper::new(btf);
        let mut s = String::new();
        for id in 1..btf.len() {
            let t = btf.type_by_id(id).unwrap();
            if !t.kind.is_composite() || t.name_off == 0 || holds_va_list(btf, id, 0) {
                continue;
            }
            let kw = if t.kind == Kind::Struct {
                "struct"
            } else {
                "union"
            };
            let name = format!("{kw} {}", d.name(id));
            let _ = writeln!(
                s,
                "_Static_assert(sizeof({name}) == {}, \"size {name}\");",
                t.size()
            );
            for m in t.members() {
                let mn = btf.str_at(m.name_off).unwrap();
                if mn.is_empty() || m.bitfield_size != 0 {
                    continue;
                }
                let _ = writeln!(
                    s,
                    "_Static_assert(__builtin_offsetof({name}, {mn}) == {}, \"{name}.{mn}\");",
                    m.bit_offset / 8
                );
            }
        }
        s
    }

    #[test]
    fn small_btf_dumps_and_compiles_with_the_same_layout() {
        const PTR: u32 = 2;
        const ARRAY: u32 = 3;
        const STRUCT: u32 = 4;
        const UNION: u32 = 5;
        const ENUM: u32 = 6;
        const FWD: u32 = 7;
        const TYPEDEF: u32 = 8;
        const CONST: u32 = 10;
        const PROTO: u32 = 13;
        let m = |b: &mut Builder, ms: &[(&str, u32, u32, u32)]| -> Vec<u32> {
            ms.iter()
                .flat_map(|&(n, t, off, bits)| [b.s(n), t, (bits << 24) | off])
                .collect()
        };
        let mut b = Builder::new();
        b.int("int", 4, 32, true); // 1
        b.int("char", 1, 8, true); // 2
        b.int("long unsigned int", 8, 64, false); // 3
        b.raw("u32", TYPEDEF, 0, false, 11, &[]); // 4: its target comes later in id order
                                                  // 5: struct node { struct node *next; u32 id; int flag:1; int rest:7; int x; } (24 bytes)
        let ms = m(
            &mut b,
            &[
                ("next", 6, 0, 0),
                ("id", 4, 64, 0),
                ("flag", 1, 96, 1),
                ("rest", 1, 97, 7),
                ("x", 1, 128, 0),
            ],
        );
        b.raw("node", STRUCT, 5, true, 24, &ms);
        b.raw("", PTR, 0, false, 5, &[]); // 6: struct node *
        b.raw("", ARRAY, 0, false, 0, &[2, 1, 16]); // 7: char[16]
        let ms = m(&mut b, &[("c", 2, 0, 0), ("v", 3, 8, 0)]);
        b.raw("packed_thing", STRUCT, 2, false, 9, &ms); // 8: needs packed
        let (a, bb) = (b.s("A"), b.s("B"));
        b.raw("e", ENUM, 2, false, 4, &[a, 0, bb, 5]); // 9
        let a2 = b.s("A");
        b.raw("", ENUM, 1, false, 4, &[a2, 7]); // 10: top-level anonymous enum, A clashes
        b.int("unsigned int", 4, 32, false); // 11
        let ms = m(
            &mut b,
            &[
                ("n", 5, 0, 0),
                ("name", 7, 192, 0),
                ("p", 8, 320, 0),
                ("k", 9, 416, 0),
                ("cb", 15, 448, 0),
                ("u", 14, 512, 0),
                ("fwd", 16, 576, 0),
                ("tail", 1, 704, 0),
            ],
        );
        b.raw("outer", STRUCT, 8, false, 128, &ms); // 12: `tail` after a gap; size with a tail gap
        b.raw("", PROTO, 2, false, 1, &[0, 6, 0, 17]); // 13: int (struct node *, const char *)
        let ms = m(&mut b, &[("i", 1, 0, 0), ("l", 3, 0, 0)]);
        b.raw("", UNION, 2, false, 8, &ms); // 14: anonymous union
        b.raw("", PTR, 0, false, 13, &[]); // 15: pointer to the prototype
        b.raw("", PTR, 0, false, 18, &[]); // 16: struct opaque *
        b.raw("", PTR, 0, false, 19, &[]); // 17: const char *
        b.raw("opaque", FWD, 0, false, 0, &[]); // 18
        b.raw("", CONST, 0, false, 2, &[]); // 19
        let ms = m(&mut b, &[("v", 1, 0, 0)]);
        b.raw("node", UNION, 1, false, 4, &ms); // 20: a union with a struct's tag: renamed
        let btf = Btf::parse(b.build()).unwrap();
        let h = dump_c(&btf);
        assert!(h.contains("struct packed_thing {\n\tchar c;\n\tlong unsigned int v;\n} __attribute__((packed));"), "{h}");
        assert!(
            h.contains("\tint (*cb)(struct node *, const char *);"),
            "{h}"
        );
        assert!(h.contains("A___2 = 7,"), "{h}");
        assert!(h.contains("union node___2"), "{h}");
        assert!(
            h.contains("\tunion {\n\t\tint i;\n\t\tlong unsigned int l;\n\t} u;"),
            "{h}"
        );
        assert!(h.contains("\tint flag: 1;\n\tint rest: 7;"), "{h}");
        // typedef u32 comes before struct node, which uses it by value.
        assert!(h.find("typedef unsigned int u32;").unwrap() < h.find("struct node {").unwrap());
        assert!(h.find("struct node {").unwrap() < h.find("struct outer {").unwrap());
        let Some(clang) = clang() else { return };
        let src = format!("#include \"vmlinux.h\"\n{}\nint x(struct outer *o) {{ return o->k + (int)o->n.id; }}\n", layout_asserts(&btf));
        compile(clang, &h, &src).unwrap_or_else(|e| panic!("{e}\n{h}"));
    }

    #[test]
    fn malformed_btf_does_not_crash() {
        const STRUCT: u32 = 4;
        const TYPEDEF: u32 = 8;
        let mut b = Builder::new();
        b.int("int", 4, 32, true); // 1
                                   // 2..: a chain of 5000 anonymous structs, each holding the next; the last holds itself.
        let n = 5000u32;
        for i in 0..n {
            let next = if i + 1 < n { 3 + i } else { 2 + i };
            let x = b.s("x");
            b.raw("", STRUCT, 1, false, 4, &[x, next, 0]);
        }
        let top = b.s("top");
        let _ = top;
        let x = b.s("x");
        b.raw("top", STRUCT, 1, false, 4, &[x, 2, 0]); // n + 2
        b.raw("loop_a", TYPEDEF, 0, false, n + 4, &[]); // n + 3
        b.raw("loop_b", TYPEDEF, 0, false, n + 3, &[]); // n + 4
        let x = b.s("x");
        b.raw("self", STRUCT, 1, false, 4, &[x, n + 5, 0]); // n + 5: contains itself
        let btf = Btf::parse(b.build()).unwrap();
        let h = dump_c(&btf);
        assert!(h.contains("struct top {"));
        assert!(h.contains("typedef loop_b loop_a;") || h.contains("typedef loop_a loop_b;"));
    }

    /// Found by the `btf_dump` fuzz target: a struct that declares 4 GiB made a line of
    /// padding per 8 bytes (gigabytes of header from a 60-byte BTF).
    #[test]
    fn huge_struct_padding_is_one_array_with_the_same_layout() {
        const STRUCT: u32 = 4;
        let mut b = Builder::new();
        b.int("int", 4, 32, true); // 1
        let x = b.s("x");
        b.raw("huge", STRUCT, 1, false, u32::MAX - 7, &[x, 1, 0]); // 2
        let y = b.s("y");
        b.raw("page", STRUCT, 1, false, 4100, &[y, 1, 4096 * 8]); // 3: page-aligned member
        let btf = Btf::parse(b.build()).unwrap();
        let h = dump_c(&btf);
        assert!(h.len() < 64 << 10, "header of {} bytes", h.len());
        let (huge, page) = h.split_once("struct page {").unwrap();
        assert!(
            huge.contains("\tlong: 64;\n\tchar __pad_16[4294967272];"),
            "{h}"
        );
        // Kernel-sized gaps keep libbpf's (and bpftool's) unnamed bitfields.
        assert_eq!(page.matches("long: 64;").count(), 512, "{h}");
        assert!(!page.contains("__pad"), "{h}");
        let Some(clang) = clang() else { return };
        let src = format!("#include \"vmlinux.h\"\n{}", layout_asserts(&btf));
        compile(clang, &h, &src).unwrap_or_else(|e| panic!("{e}\n{h}"));
    }

    /// Anonymous structs shared at every level of a deep nest: each use inlines the
    /// definition again, 2^depth times without a limit.
    #[test]
    fn shared_anonymous_nest_dumps_in_bounded_size() {
        const STRUCT: u32 = 4;
        let mut b = Builder::new();
        b.int("int", 4, 32, true); // 1
        let depth = 200u32;
        for i in 0..depth {
            // 2 + i: struct { T a; T b; } with T the next one (the last holds ints).
            let next = if i + 1 < depth { 3 + i } else { 1 };
            let (a, c) = (b.s("a"), b.s("b"));
            b.raw("", STRUCT, 2, false, 8, &[a, next, 0, c, next, 32]);
        }
        let top = b.s("top");
        b.raw("top", STRUCT, 1, false, 8, &[top, 2, 0]);
        let btf = Btf::parse(b.build()).unwrap();
        let h = dump_c(&btf);
        assert!(h.len() < 16 << 20, "header of {} bytes", h.len());
        assert!(
            h.contains("struct top {") && h.contains("__anon_"),
            "{}",
            &h[..4096]
        );
    }

    #[test]
    fn kernel_vmlinux_h_has_no_stubs() {
        if !Path::new(crate::btf::kernel::SYSFS_VMLINUX).exists() {
            eprintln!("skipping: no kernel BTF");
            return;
        }
        let btf = crate::btf::kernel::vmlinux_btf().unwrap();
        let h = dump_c(&btf);
        assert!(!h.contains("__anon_") && !h.contains("char __pad_"));
    }

    #[test]
    fn kernel_vmlinux_h_compiles_with_the_kernel_layout() {
        if !Path::new(crate::btf::kernel::SYSFS_VMLINUX).exists() {
            eprintln!("skipping: no kernel BTF");
            return;
        }
        let btf = crate::btf::kernel::vmlinux_btf().unwrap();
        let t = std::time::Instant::now();
        let h = dump_c(&btf);
        eprintln!("dump_c of vmlinux: {} bytes in {:?}", h.len(), t.elapsed());
        let Some(clang) = clang() else { return };
        let have_libbpf = Path::new("/usr/include/bpf/bpf_helpers.h").exists();
        let mut src = String::from("#include \"vmlinux.h\"\n");
        if have_libbpf {
            src.push_str(
                "#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_core_read.h>\n#include <bpf/bpf_tracing.h>\n\
                 char LICENSE[] SEC(\"license\") = \"GPL\";\n\
                 SEC(\"tp_btf/sched_switch\")\n\
                 int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)\n\
                 {\n\
                 \tint pid = BPF_CORE_READ(next, pid);\n\
                 \tunsigned int st = BPF_CORE_READ(prev, __state);\n\
                 \tchar comm[16];\n\
                 \tbpf_core_read_str(comm, sizeof(comm), &next->comm);\n\
                 \treturn pid + (int)st + comm[0];\n\
                 }\n",
            );
        } else {
            src.push_str("int f(struct task_struct *t) { return t->pid; }\n");
        }
        src.push_str(&layout_asserts(&btf));
        compile(clang, &h, &src).unwrap_or_else(|e| panic!("vmlinux.h does not compile:\n{e}"));
    }
}
