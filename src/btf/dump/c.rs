//! The C emitter: BTF types as C declarations, in libbpf's `btf_dump` order and text.
//!
//! Two passes per requested type, as libbpf's `btf_dump__dump_type` does them:
//!
//! 1. *Ordering* walks the type graph depth-first and queues the definitions the type
//!    needs before itself. A dependency is *strong* when its size must be known (a
//!    struct embedded by value, a typedef used by value) and *weak* when a forward
//!    declaration is enough (a named struct reached through a pointer). Only named
//!    structs and unions, typedefs, enums and forward declarations are queued; anonymous
//!    structs, unions and enums are written inline where they are used.
//! 2. *Emission* writes each queued definition, first writing the forward declarations
//!    its members need (`struct foo;` for a struct seen only through pointers so far).
//!
//! Names are resolved when first written: the second type called `foo` (tags: structs,
//! unions and enums share one namespace; identifiers: typedefs and enumerators share
//! the other) becomes `foo___2`, the third `foo___3`. Because that depends on the order
//! of emission, following libbpf's order is what makes the names match bpftool's.
//!
//! Layout: a member at an offset natural alignment would not give gets explicit
//! padding bitfields (`long: 64;`, `int: 3;`) before it; a struct whose members or size
//! are not naturally aligned is `__attribute__((packed))`; 1- and 8-byte enums get a
//! `mode` attribute.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::btf::{Btf, Kind, Type, MAX_RESOLVE_DEPTH};

/// Deepest recursion we follow (ordering, emission, nested declarations); beyond it
/// (only in malformed BTF: loops, absurd nesting) a type is written without its
/// dependencies rather than overflowing the stack.
const MAX_DEPTH: usize = 256;

/// At most this many tabs of indentation, as libbpf.
const MAX_INDENT: usize = 12;

/// Most whole units of padding (`long: 64;` lines) written for one gap before the rest of
/// it becomes one `char` array. Kernels pad up to a page (511 longs before a
/// page-aligned member); hostile BTF declares structs of up to 4 GiB.
const MAX_PAD_UNITS: i64 = 512;

const PROLOGUE: &str = "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n\
#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n\
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n\
#endif\n\n";

const EPILOGUE: &str =
    "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n\
#endif /* __VMLINUX_H__ */\n";

/// Integer types some compilers name without defining them (GCC's Arm SIMD `__PolyN_t`),
/// with the standard type each aliases.
const MISSING_BASE_TYPES: [(&str, &str); 4] = [
    ("__Poly8_t", "unsigned char"),
    ("__Poly16_t", "unsigned short"),
    ("__Poly64_t", "unsigned long long"),
    ("__Poly128_t", "unsigned __int128"),
];

/// Writes `types` (every type when `None`) and what they need as a C header, wrapped in
/// an include guard and clang's `preserve_access_index` pragma.
pub(super) fn dump(btf: &Btf, types: Option<&[u32]>) -> String {
    let mut d = Dumper::new(btf);
    d.out.push_str(PROLOGUE);
    match types {
        Some(ids) => ids.iter().for_each(|&id| d.dump_type(id)),
        None => (1..btf.len()).for_each(|id| d.dump_type(id)),
    }
    d.out.push_str(EPILOGUE);
    d.out
}

/// [`dump`] of everything, with the C name each named struct, union, enum and typedef
/// got (by id; `None` for the others).
pub(super) fn dump_with_names(btf: &Btf) -> (String, Vec<Option<String>>) {
    let mut d = Dumper::new(btf);
    d.out.push_str(PROLOGUE);
    (1..btf.len()).for_each(|id| d.dump_type(id));
    d.out.push_str(EPILOGUE);
    let names = (0..btf.len())
        .map(|id| {
            let a = d.aux.get(id as usize).copied().unwrap_or_default();
            let t = d.ty(id)?;
            let defined = matches!(
                t.kind,
                Kind::Struct | Kind::Union | Kind::Enum | Kind::Enum64 | Kind::Typedef
            );
            if !a.named || t.name_off == 0 || !defined {
                return None;
            }
            let mut s = d.raw_name(&t).to_string();
            if a.suffix > 1 {
                s.push_str("___");
                push_u64(&mut s, u64::from(a.suffix));
            }
            Some(s)
        })
        .collect();
    (d.out, names)
}

#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum Order {
    #[default]
    No,
    Ordering,
    Ordered,
}

#[derive(Clone, Copy, PartialEq, Eq, Default)]
enum Emit {
    #[default]
    No,
    Emitting,
    Emitted,
}

/// What the dumper knows about one type id.
#[derive(Clone, Copy, Default)]
struct Aux {
    order: Order,
    emit: Emit,
    /// A forward declaration (struct/union) or the typedef itself was written already.
    fwd_emitted: bool,
    /// Some other type refers to this one (an anonymous enum nobody refers to is a
    /// top-level definition of constants).
    referenced: bool,
    /// The name was resolved (`suffix` is valid).
    named: bool,
    /// Natural alignment plus one; 0 = not computed yet.
    align: u8,
    /// `___N` suffix of the resolved name; 0 or 1 for none.
    suffix: u32,
    /// For an anonymous struct/union: the container (plus one; 0 = none) whose emission
    /// last walked its members for the declarations they need, and from which depth.
    walked_for: u32,
    walked_depth: u16,
}

/// A multiply-rotate hash of the names the dumper counts: much cheaper than SipHash for
/// the ~100,000 short names of a kernel's BTF. Collisions only cost time, and the names
/// of one BTF are few enough for that to stay small.
#[derive(Default)]
struct NameHasher(u64);

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0 ^ u64::from_le_bytes(w))
                .wrapping_mul(K)
                .rotate_left(29);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(K).rotate_left(29);
        }
    }

    fn finish(&self) -> u64 {
        // Mix the high bits down: hashbrown picks buckets with the low ones.
        self.0 ^ (self.0 >> 32)
    }
}

type NameCounts<'a> = HashMap<&'a str, u32, BuildHasherDefault<NameHasher>>;

/// Kinds whose names the dumper looks up again and again (and so keeps decoded).
fn keeps_name(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Struct
            | Kind::Union
            | Kind::Enum
            | Kind::Enum64
            | Kind::Fwd
            | Kind::Typedef
            | Kind::Int
            | Kind::Float
    )
}

struct Dumper<'a> {
    btf: &'a Btf,
    /// Every type, decoded once: the passes visit most of them many times.
    types: Vec<Option<Type<'a>>>,
    /// The names of the kinds [`keeps_name`] picks, by id ("" for the others).
    names: Vec<&'a str>,
    aux: Vec<Aux>,
    /// How often each tag name (struct, union, enum) was given out.
    tag_names: NameCounts<'a>,
    /// How often each identifier (typedef, enumerator) was given out.
    ident_names: NameCounts<'a>,
    /// Definitions to emit for the type being dumped, in order.
    queue: Vec<u32>,
    /// Declarator chains under construction (nested frames share it).
    decl_stack: Vec<u32>,
    /// Lines of inline definitions of anonymous structs and unions (one per member and
    /// one per composite) left before [`Dumper::emit_anon_stub`] stands in for them.
    inline_budget: usize,
    /// Steps of [`Dumper::order`] and [`Dumper::emit_type`] left. Prototypes, arrays and
    /// modifiers are walked anew at every reference (as libbpf does), so a crafted BTF
    /// whose prototypes take prototypes that take prototypes branches at every level and
    /// depth alone does not bound the walk; real BTF (vmlinux: a few steps per type)
    /// stays far below.
    walk_budget: usize,
    out: String,
}

/// Appends the decimal digits of `v`.
fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

fn push_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_u64(out, v.unsigned_abs());
}

/// The smallest integer type an unnamed bitfield of `bits` bits fits in.
fn pad_type(bits: i64) -> &'static str {
    match bits {
        ..=8 => "char",
        9..=16 => "short",
        17..=32 => "int",
        _ => "long",
    }
}

fn indent(out: &mut String, lvl: usize) {
    for _ in 0..lvl.min(MAX_INDENT) {
        out.push('\t');
    }
}

impl<'a> Dumper<'a> {
    fn new(btf: &'a Btf) -> Dumper<'a> {
        let n = btf.len() as usize;
        let mut aux = vec![Aux::default(); n];
        // void needs neither ordering nor a definition.
        if let Some(void) = aux.first_mut() {
            void.order = Order::Ordered;
            void.emit = Emit::Emitted;
        }
        let types: Vec<Option<Type<'a>>> =
            (0..btf.len()).map(|id| btf.type_by_id(id).ok()).collect();
        let names = types
            .iter()
            .map(|t| match t {
                Some(t) if t.name_off != 0 && keeps_name(t.kind) => {
                    btf.str_at(t.name_off).unwrap_or("")
                }
                _ => "",
            })
            .collect();
        let mut d = Dumper {
            btf,
            types,
            names,
            aux,
            tag_names: NameCounts::default(),
            ident_names: NameCounts::default(),
            queue: Vec::new(),
            decl_stack: Vec::new(),
            // Real BTF inlines each anonymous type about once: far below this.
            inline_budget: n.saturating_mul(4).saturating_add(4096),
            walk_budget: n.saturating_mul(64).saturating_add(1 << 16),
            out: String::with_capacity(n * 24),
        };
        d.mark_referenced();
        d
    }

    fn ty(&self, id: u32) -> Option<Type<'a>> {
        self.types.get(id as usize).copied().flatten()
    }

    fn raw_name(&self, t: &Type<'_>) -> &'a str {
        if keeps_name(t.kind) {
            if let Some(&n) = self.names.get(t.id as usize) {
                return n;
            }
        }
        self.btf.str_at(t.name_off).unwrap_or("")
    }

    fn aux(&mut self, id: u32) -> &mut Aux {
        // Every id handed in was checked against the table by `ty`; `len() - 1` exists.
        let last = self.aux.len() - 1;
        &mut self.aux[(id as usize).min(last)]
    }

    /// Marks the types other types refer to. Like libbpf, a prototype's return type is
    /// not counted (only its parameters).
    fn mark_referenced(&mut self) {
        for id in 1..self.btf.len() {
            let Some(t) = self.ty(id) else { continue };
            let aux = &mut self.aux;
            let mut mark = |x: u32| {
                if let Some(a) = aux.get_mut(x as usize) {
                    a.referenced = true;
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
                        mark(a.index_type);
                        mark(a.elem_type);
                    }
                }
                Kind::Struct | Kind::Union => t.members().for_each(|m| mark(m.type_id)),
                Kind::FuncProto => t.params().for_each(|p| mark(p.type_id)),
                Kind::Datasec => t.datasec_vars().for_each(|v| mark(v.type_id)),
                _ => {}
            }
        }
    }

    /// Emits type `id` and everything it needs that is not emitted yet.
    fn dump_type(&mut self, id: u32) {
        if id >= self.btf.len() {
            return;
        }
        self.queue.clear();
        self.order(id, false, 0);
        let queue = std::mem::take(&mut self.queue);
        for &q in &queue {
            self.emit_type(q, 0, 0);
        }
        self.queue = queue;
    }

    // ---------------------------------------------------------------------------------
    // Names
    // ---------------------------------------------------------------------------------

    /// Resolves the C name of a struct/union/enum (`tag`) or typedef (`!tag`): the first
    /// user of a name keeps it, later ones get `___N`. Forward declarations and
    /// enumerator-less enums refer to another definition and keep their name.
    fn resolve_name(&mut self, id: u32, tag: bool) -> (&'a str, u32) {
        let Some(t) = self.ty(id) else {
            return ("", 0);
        };
        let name = self.raw_name(&t);
        if name.is_empty() {
            return ("", 0);
        }
        let a = *self.aux(id);
        if a.named {
            return (name, a.suffix);
        }
        let suffix = if t.kind == Kind::Fwd || (t.kind == Kind::Enum && t.vlen() == 0) {
            0
        } else {
            self.bump(name, tag)
        };
        let a = self.aux(id);
        a.named = true;
        a.suffix = suffix;
        (name, suffix)
    }

    /// Counts one more user of `name` in its namespace, returning the count.
    fn bump(&mut self, name: &'a str, tag: bool) -> u32 {
        let map = if tag {
            &mut self.tag_names
        } else {
            &mut self.ident_names
        };
        let c = map.entry(name).or_insert(0);
        *c += 1;
        *c
    }

    fn push_name(&mut self, name: &str, suffix: u32) {
        self.out.push_str(name);
        if suffix > 1 {
            self.out.push_str("___");
            push_u64(&mut self.out, u64::from(suffix));
        }
    }

    fn push_type_name(&mut self, id: u32) {
        let (n, s) = self.resolve_name(id, true);
        self.push_name(n, s);
    }

    fn push_ident_name(&mut self, id: u32) {
        let (n, s) = self.resolve_name(id, false);
        self.push_name(n, s);
    }

    // ---------------------------------------------------------------------------------
    // Ordering
    // ---------------------------------------------------------------------------------

    /// Takes one step of the walk budget; false once it is spent (then what is left is
    /// ordered as weak and not emitted: the output of such a BTF is incomplete, not
    /// endless).
    fn step(&mut self) -> bool {
        if self.walk_budget == 0 {
            return false;
        }
        self.walk_budget -= 1;
        if self.walk_budget == 0 {
            log::debug!("BTF dump: the type walk took too many steps; leaving the rest out");
        }
        true
    }

    /// Queues what `id` needs, then `id` if it is a definition. Returns whether the link
    /// to `id` is strong (its definition must come first) rather than weak (a forward
    /// declaration will do), as libbpf's `btf_dump_order_type`: a chain through a
    /// pointer to a named type is weak. A type already ordered answers strong.
    fn order(&mut self, id: u32, through_ptr: bool, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            log::debug!("BTF dump: type [{id}] nests too deep; ordering it as weak");
            return false;
        }
        if !self.step() {
            return false;
        }
        let Some(t) = self.ty(id) else { return false };
        match self.aux(id).order {
            Order::Ordered => return true,
            Order::Ordering => {
                // A loop: fine through a pointer to a named struct/union (a forward
                // declaration breaks it), a malformed BTF otherwise.
                if !(t.kind.is_composite() && through_ptr && t.name_off != 0) {
                    log::debug!("BTF dump: type [{id}] is part of a loop C cannot express");
                }
                return false;
            }
            Order::No => {}
        }
        match t.kind {
            Kind::Int | Kind::Float => {
                self.aux(id).order = Order::Ordered;
                false
            }
            Kind::Ptr => {
                let strong = self.order(t.ref_type(), true, depth + 1);
                self.aux(id).order = Order::Ordered;
                strong
            }
            Kind::Array => match t.array() {
                Ok(a) => self.order(a.elem_type, false, depth + 1),
                Err(_) => false,
            },
            Kind::Struct | Kind::Union => {
                // Named and behind a pointer: a forward declaration will do.
                if through_ptr && t.name_off != 0 {
                    return false;
                }
                self.aux(id).order = Order::Ordering;
                for m in t.members() {
                    self.order(m.type_id, false, depth + 1);
                }
                if t.name_off != 0 {
                    self.queue.push(id);
                }
                self.aux(id).order = Order::Ordered;
                true
            }
            Kind::Enum | Kind::Enum64 | Kind::Fwd => {
                // Named ones, and anonymous enums nobody uses (constants), stand alone.
                if t.name_off != 0 || !self.aux(id).referenced {
                    self.queue.push(id);
                }
                self.aux(id).order = Order::Ordered;
                true
            }
            Kind::Typedef => {
                let strong = self.order(t.ref_type(), through_ptr, depth + 1);
                if through_ptr && !strong {
                    return false;
                }
                self.queue.push(id);
                self.aux(id).order = Order::Ordered;
                true
            }
            Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag => {
                self.order(t.ref_type(), through_ptr, depth + 1)
            }
            Kind::FuncProto => {
                let mut strong = self.order(t.ref_type(), through_ptr, depth + 1);
                for p in t.params() {
                    strong |= self.order(p.type_id, through_ptr, depth + 1);
                }
                strong
            }
            Kind::Func | Kind::Var | Kind::Datasec | Kind::DeclTag | Kind::Void => {
                self.aux(id).order = Order::Ordered;
                false
            }
        }
    }

    // ---------------------------------------------------------------------------------
    // Emission
    // ---------------------------------------------------------------------------------

    /// Emits `id` as a top-level definition (`cont_id` 0), or, when `id` is used inside
    /// the definition of `cont_id`, the forward declarations that use needs.
    fn emit_type(&mut self, id: u32, cont_id: u32, depth: usize) {
        if depth > MAX_DEPTH || !self.step() {
            return;
        }
        let Some(t) = self.ty(id) else { return };
        let top_level = cont_id == 0;
        let a = *self.aux(id);
        match a.emit {
            Emit::Emitted => return,
            Emit::Emitting => {
                self.emit_while_emitting(id, &t, cont_id);
                return;
            }
            Emit::No => {}
        }
        match t.kind {
            Kind::Int => {
                self.emit_missing_alias(&t);
                self.aux(id).emit = Emit::Emitted;
            }
            Kind::Enum | Kind::Enum64 => {
                if top_level {
                    self.emit_enum_def(id, &t, 0);
                    self.out.push_str(";\n\n");
                }
                self.aux(id).emit = Emit::Emitted;
            }
            Kind::Ptr | Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag => {
                self.emit_type(t.ref_type(), cont_id, depth + 1)
            }
            Kind::Array => {
                if let Ok(arr) = t.array() {
                    self.emit_type(arr.elem_type, cont_id, depth + 1);
                }
            }
            Kind::Fwd => {
                self.emit_fwd(id, &t);
                self.out.push_str(";\n\n");
                self.aux(id).emit = Emit::Emitted;
            }
            Kind::Typedef => {
                self.aux(id).emit = Emit::Emitting;
                self.emit_type(t.ref_type(), id, depth + 1);
                // Someone may have needed it as a forward declaration meanwhile.
                if !self.aux(id).fwd_emitted && !self.is_builtin(&t) {
                    self.emit_typedef_def(id, &t, 0);
                    self.out.push_str(";\n\n");
                }
                self.aux(id).emit = Emit::Emitted;
            }
            Kind::Struct | Kind::Union => self.emit_composite(id, &t, cont_id, depth),
            Kind::FuncProto => {
                self.emit_type(t.ref_type(), cont_id, depth + 1);
                for p in t.params() {
                    self.emit_type(p.type_id, cont_id, depth + 1);
                }
            }
            Kind::Float | Kind::Func | Kind::Var | Kind::Datasec | Kind::DeclTag | Kind::Void => {}
        }
    }

    /// A use of `id` met while `id` itself is being emitted: a forward declaration of
    /// the struct/union, or the typedef written early, breaks the loop.
    fn emit_while_emitting(&mut self, id: u32, t: &Type<'_>, cont_id: u32) {
        if self.aux(id).fwd_emitted {
            return;
        }
        match t.kind {
            Kind::Struct | Kind::Union => {
                // Inside its own definition no declaration is needed; an anonymous
                // loop cannot be declared at all (malformed BTF).
                if id == cont_id || t.name_off == 0 {
                    return;
                }
                self.emit_struct_fwd(id, t);
                self.out.push_str(";\n\n");
                self.aux(id).fwd_emitted = true;
            }
            Kind::Typedef => {
                // Good for uses through pointers; the target's definition follows.
                if !self.is_builtin(t) {
                    self.emit_typedef_def(id, t, 0);
                    self.out.push_str(";\n\n");
                }
                self.aux(id).fwd_emitted = true;
            }
            _ => {}
        }
    }

    fn emit_composite(&mut self, id: u32, t: &Type<'_>, cont_id: u32, depth: usize) {
        let top_level = cont_id == 0;
        self.aux(id).emit = Emit::Emitting;
        // Written out in full (a top-level definition, or an anonymous one inline): its
        // members' types need their declarations first.
        if top_level || t.name_off == 0 {
            let inner = if t.name_off == 0 { cont_id } else { id };
            if top_level || self.first_walk(id, cont_id, depth) {
                for m in t.members() {
                    self.emit_type(m.type_id, inner, depth + 1);
                }
            }
        } else if !self.aux(id).fwd_emitted && id != cont_id {
            self.emit_struct_fwd(id, t);
            self.out.push_str(";\n\n");
            self.aux(id).fwd_emitted = true;
        }
        if top_level {
            self.emit_struct_def(id, t, 0, depth);
            self.out.push_str(";\n\n");
            self.aux(id).emit = Emit::Emitted;
        } else {
            self.aux(id).emit = Emit::No;
        }
    }

    /// Whether the members of anonymous composite `id` still need walking for container
    /// `cont_id`'s emission, recording this walk. A walk for the same container from the
    /// same depth or deeper would write nothing: the first one left every type it reaches
    /// emitted or declared. Without this, anonymous types shared at every level of a deep
    /// nest are walked 2^depth times.
    fn first_walk(&mut self, id: u32, cont_id: u32, depth: usize) -> bool {
        let key = cont_id.wrapping_add(1);
        let depth = depth.min(usize::from(u16::MAX)) as u16;
        let a = self.aux(id);
        if a.walked_for == key && a.walked_depth <= depth {
            return false;
        }
        a.walked_for = key;
        a.walked_depth = depth;
        true
    }

    /// `__builtin_va_list` is the compiler's own: redefining it breaks the header.
    fn is_builtin(&self, t: &Type<'_>) -> bool {
        self.raw_name(t) == "__builtin_va_list"
    }

    fn emit_missing_alias(&mut self, t: &Type<'_>) {
        let name = self.raw_name(t);
        if let Some((_, std)) = MISSING_BASE_TYPES.iter().find(|(n, _)| *n == name) {
            self.out.push_str("typedef ");
            self.out.push_str(std);
            self.out.push(' ');
            self.out.push_str(name);
            self.out.push_str(";\n\n");
        }
    }

    fn emit_struct_fwd(&mut self, id: u32, t: &Type<'_>) {
        self.out.push_str(if t.kind == Kind::Struct {
            "struct"
        } else {
            "union"
        });
        if t.name_off != 0 {
            self.out.push(' ');
        }
        self.push_type_name(id);
    }

    fn emit_fwd(&mut self, id: u32, t: &Type<'_>) {
        self.out
            .push_str(if t.kflag() { "union " } else { "struct " });
        self.push_type_name(id);
    }

    fn emit_typedef_def(&mut self, id: u32, t: &Type<'_>, lvl: usize) {
        let (name, suffix) = self.resolve_name(id, false);
        // Old GCCs typedef __gnuc_va_list to void.
        if t.ref_type() == 0 && name == "__gnuc_va_list" && suffix <= 1 {
            self.out
                .push_str("typedef __builtin_va_list __gnuc_va_list");
            return;
        }
        self.out.push_str("typedef ");
        let mut full = String::with_capacity(name.len() + 6);
        full.push_str(name);
        if suffix > 1 {
            full.push_str("___");
            push_u64(&mut full, u64::from(suffix));
        }
        self.emit_decl(t.ref_type(), &full, lvl, 0);
    }

    fn emit_enum_def(&mut self, id: u32, t: &Type<'_>, lvl: usize) {
        self.out.push_str("enum");
        if t.name_off != 0 {
            self.out.push(' ');
        }
        self.push_type_name(id);
        if t.vlen() == 0 {
            return;
        }
        self.out.push_str(" {");
        let signed = t.kflag();
        let is64 = t.kind == Kind::Enum64;
        let mut any_hi = false;
        for e in t.enum_values() {
            let name = self.btf.str_at(e.name_off).unwrap_or("");
            // Enumerators share the identifiers' namespace with typedefs.
            let suffix = self.bump(name, false);
            self.out.push('\n');
            indent(&mut self.out, lvl + 1);
            self.push_name(name, suffix);
            self.out.push_str(" = ");
            match (is64, signed) {
                (false, true) => push_i64(&mut self.out, i64::from(e.value as i32)),
                (false, false) => push_u64(&mut self.out, u64::from(e.value as u32)),
                (true, true) => {
                    push_i64(&mut self.out, e.value as i64);
                    self.out.push_str("LL");
                }
                (true, false) => {
                    push_u64(&mut self.out, e.value);
                    self.out.push_str("ULL");
                }
            }
            self.out.push(',');
            // Would clang make the enum 8 bytes by itself? Only for values that do not
            // fit 32 bits (a small negative signed value does).
            any_hi |= e.value >> 32 != 0 && !(signed && (e.value as i64) >= i64::from(i32::MIN));
        }
        self.out.push('\n');
        indent(&mut self.out, lvl);
        self.out.push('}');
        if t.size() == 1 {
            self.out.push_str(" __attribute__((mode(byte)))");
        } else if t.size() == 8 && (!is64 || !any_hi) {
            self.out.push_str(" __attribute__((mode(word)))");
        }
    }

    // ---------------------------------------------------------------------------------
    // Layout: alignment, packing, padding
    // ---------------------------------------------------------------------------------

    /// Natural alignment of type `id` as libbpf's `btf__align_of` computes it (pointer
    /// size 8); 1 for a struct that must be packed.
    fn align_of(&mut self, id: u32, depth: usize) -> u32 {
        if let Some(a) = self.aux.get(id as usize) {
            if a.align != 0 {
                return u32::from(a.align - 1);
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
                        break;
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
        if let Some(slot) = self.aux.get_mut(id as usize) {
            slot.align = a as u8 + 1;
        }
        a
    }

    /// Whether natural alignment would not give `t`'s layout: a plain member sits off
    /// its natural alignment, or the size is not a multiple of the largest member
    /// alignment (bitfields count: their type aligns the struct).
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
    /// gets there by itself; `: 0` widths force an alignment (libbpf's bit padding).
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
                self.push_pad(pad_type, if in_bitfield { new_off - cur } else { 0 }, lvl);
            }
            cur = new_off;
        }
        while cur != next {
            let bits = (next - cur).min(pad_bits);
            if bits == pad_bits {
                self.push_pad(pad_type, pad_bits, lvl);
                cur += bits;
                self.push_pad_array(&mut cur, next, pad_bits, lvl);
                continue;
            }
            // The remainder: the smallest type that holds it.
            if let Some((name, _)) = PADS.iter().rev().find(|(_, b)| *b >= bits) {
                self.push_pad(name, bits, lvl);
            }
            cur += bits;
        }
    }

    /// A union larger than its members make it (one whose members BTF left out): unnamed
    /// bitfields, which count towards a union's size but not its alignment, make up the
    /// difference. libbpf writes nothing here, and clang sizes such a union smaller.
    fn emit_union_padding(&mut self, t: &Type<'_>, align: i64, lvl: usize) {
        let size = i64::from(t.size()) * 8;
        let end = t
            .members()
            .map(|m| {
                // A crafted size may not fit in bits: saturate (no padding follows).
                let bits = if m.bitfield_size != 0 {
                    i64::from(m.bitfield_size)
                } else {
                    i64::try_from(self.btf.resolve_size(m.type_id).unwrap_or(0))
                        .unwrap_or(i64::MAX)
                        .saturating_mul(8)
                };
                i64::from(m.bit_offset).saturating_add(bits)
            })
            .max()
            .unwrap_or(0);
        let unit = align.clamp(1, 1 << 32) * 8;
        let natural = end.saturating_add(unit - 1) / unit * unit;
        if size <= natural {
            return;
        }
        if size <= 64 {
            self.push_pad(pad_type(size), size, lvl);
            return;
        }
        // Wider than one bitfield: a struct of them, all at offset 0 of the union.
        self.out.push('\n');
        indent(&mut self.out, lvl);
        self.out.push_str("struct {");
        let mut cur = 0;
        while cur < size {
            let bits = (size - cur).min(64);
            self.push_pad(pad_type(bits), bits, lvl + 1);
            cur += bits;
            self.push_pad_array(&mut cur, size, 64, lvl + 1);
        }
        self.out.push('\n');
        indent(&mut self.out, lvl);
        self.out.push_str("};");
    }

    /// After a first unit of padding (which the bitfield rules align), the whole `unit`s
    /// of `cur..next` as one `char` array when there are more than [`MAX_PAD_UNITS`]: a
    /// line per unit would turn a 4 GiB struct into gigabytes of header.
    fn push_pad_array(&mut self, cur: &mut i64, next: i64, unit: i64, lvl: usize) {
        let whole = (next - *cur) / unit;
        if whole <= MAX_PAD_UNITS {
            return;
        }
        self.out.push('\n');
        indent(&mut self.out, lvl);
        self.out.push_str("char __pad_");
        push_i64(&mut self.out, *cur / 8);
        self.out.push('[');
        push_i64(&mut self.out, whole * unit / 8);
        self.out.push_str("];");
        *cur += whole * unit;
    }

    fn push_pad(&mut self, ty: &str, bits: i64, lvl: usize) {
        self.out.push('\n');
        indent(&mut self.out, lvl);
        self.out.push_str(ty);
        self.out.push_str(": ");
        push_i64(&mut self.out, bits);
        self.out.push(';');
    }

    fn emit_struct_def(&mut self, id: u32, t: &Type<'_>, lvl: usize, depth: usize) {
        let is_struct = t.kind == Kind::Struct;
        let align = i64::from(self.align_of(id, 0));
        let packed = is_struct && self.is_packed(t);
        self.emit_struct_fwd(id, t);
        self.out.push_str(" {");
        let mut off: i64 = 0;
        let mut prev_bitfield = false;
        let mut unnamed = String::new();
        for (i, m) in t.members().enumerate() {
            let mut fname = self.btf.str_at(m.name_off).unwrap_or("");
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
                unnamed.clear();
                unnamed.push_str("__unnamed_");
                push_u64(&mut unnamed, i as u64);
                fname = &unnamed;
            }
            self.out.push('\n');
            indent(&mut self.out, lvl + 1);
            self.emit_decl(m.type_id, fname, lvl + 1, depth + 1);
            if m_sz != 0 {
                self.out.push_str(": ");
                push_i64(&mut self.out, m_sz);
                off = m_off + m_sz;
                prev_bitfield = true;
            } else {
                // A crafted size may not fit in bits: saturate (padding is then skipped).
                let size = i64::try_from(self.btf.resolve_size(m.type_id).unwrap_or(0))
                    .unwrap_or(i64::MAX);
                off = m_off.saturating_add(size.saturating_mul(8));
                prev_bitfield = false;
            }
            self.out.push(';');
        }
        if is_struct {
            self.emit_bit_padding(off, i64::from(t.size()) * 8, align, false, lvl + 1);
        } else {
            self.emit_union_padding(t, align, lvl + 1);
        }
        // `struct empty {}` stays on one line.
        if t.vlen() > 0 || t.size() > 0 {
            self.out.push('\n');
            indent(&mut self.out, lvl);
        }
        self.out.push('}');
        if packed {
            self.out.push_str(" __attribute__((packed))");
        }
    }

    /// An anonymous struct/union of the same size and alignment in place of its
    /// definition, once the inline budget is spent: only BTF that shares anonymous types
    /// at every level of a deep nest (each use inlines the definition again: exponential
    /// output) gets here.
    fn emit_anon_stub(&mut self, id: u32, t: &Type<'_>) {
        let align = self.align_of(id, 0);
        self.emit_struct_fwd(id, t);
        self.out.push_str(" { char __anon_");
        push_u64(&mut self.out, u64::from(id));
        self.out.push('[');
        push_u64(&mut self.out, u64::from(t.size()));
        self.out.push_str("]; }");
        if align > 1 {
            self.out.push_str(" __attribute__((aligned(");
            push_u64(&mut self.out, u64::from(align));
            self.out.push_str(")))");
        }
    }

    fn is_anon_composite(&self, id: u32) -> bool {
        let mut id = id;
        for _ in 0..MAX_RESOLVE_DEPTH {
            match self.ty(id) {
                Some(t) if t.kind.is_modifier() => id = t.ref_type(),
                Some(t) => return t.kind.is_composite() && t.name_off == 0,
                None => return false,
            }
        }
        false
    }

    // ---------------------------------------------------------------------------------
    // Declarations
    // ---------------------------------------------------------------------------------

    /// Writes the declaration of `fname` (maybe empty) as type `id`: pushes the chain of
    /// pointers, arrays, prototypes and modifiers down to a named or inline type, then
    /// writes it back out in C's declarator syntax.
    fn emit_decl(&mut self, id: u32, fname: &str, lvl: usize, depth: usize) {
        let start = self.decl_stack.len();
        let mut id = id;
        loop {
            self.decl_stack.push(id);
            if id == 0 || self.decl_stack.len() - start > MAX_RESOLVE_DEPTH * 4 {
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
        self.emit_chain(start, fname, lvl, depth);
        self.decl_stack.truncate(start);
    }

    /// The top of the current frame (which starts at `start`), if any.
    fn peek(&self, start: usize) -> Option<u32> {
        if self.decl_stack.len() > start {
            self.decl_stack.last().copied()
        } else {
            None
        }
    }

    fn pop(&mut self, start: usize) -> Option<u32> {
        if self.decl_stack.len() > start {
            self.decl_stack.pop()
        } else {
            None
        }
    }

    /// Writes pending `const`/`volatile`/`restrict` at the top of the frame, prefix style.
    fn emit_mods(&mut self, start: usize) {
        while let Some(id) = self.peek(start) {
            let Some(t) = self.ty(id) else { return };
            let q = match t.kind {
                Kind::Const => "const ",
                Kind::Volatile => "volatile ",
                Kind::Restrict => "restrict ",
                _ => return,
            };
            self.out.push_str(q);
            self.decl_stack.pop();
        }
    }

    /// Drops modifiers C has no place for (on arrays and prototypes).
    fn drop_mods(&mut self, start: usize) {
        while let Some(id) = self.peek(start) {
            match self.ty(id) {
                Some(t) if t.kind.is_modifier() => {
                    self.decl_stack.pop();
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

    fn emit_chain(&mut self, start: usize, fname: &str, lvl: usize, depth: usize) {
        // No space before the first `*` of a frame: `(*fn)`, `int ***p`.
        let mut last_was_ptr = true;
        while let Some(id) = self.pop(start) {
            if id == 0 {
                self.emit_mods(start);
                self.out.push_str("void");
                last_was_ptr = false;
                continue;
            }
            let Some(t) = self.ty(id) else {
                self.out.push_str("void");
                last_was_ptr = false;
                continue;
            };
            match t.kind {
                Kind::Int | Kind::Float => {
                    self.emit_mods(start);
                    let n = self.raw_name(&t);
                    self.out.push_str(if n.is_empty() { "int" } else { n });
                }
                Kind::Struct | Kind::Union => {
                    self.emit_mods(start);
                    let cost = 1 + t.vlen();
                    // An anonymous composite past the depth bound has no name to
                    // refer to it by: a stub of its size and alignment keeps the layout.
                    if t.name_off == 0 && (depth >= MAX_DEPTH || self.inline_budget < cost) {
                        self.emit_anon_stub(id, &t);
                    } else if t.name_off == 0 {
                        self.inline_budget -= cost;
                        self.emit_struct_def(id, &t, lvl, depth + 1);
                    } else {
                        self.emit_struct_fwd(id, &t);
                    }
                }
                Kind::Enum | Kind::Enum64 => {
                    self.emit_mods(start);
                    if t.name_off == 0 {
                        self.emit_enum_def(id, &t, lvl);
                    } else {
                        self.out.push_str("enum ");
                        self.push_type_name(id);
                    }
                }
                Kind::Fwd => {
                    self.emit_mods(start);
                    self.emit_fwd(id, &t);
                }
                Kind::Typedef => {
                    self.emit_mods(start);
                    self.push_ident_name(id);
                }
                Kind::Ptr => self.out.push_str(if last_was_ptr { "*" } else { " *" }),
                Kind::Volatile => self.out.push_str(" volatile"),
                Kind::Const => self.out.push_str(" const"),
                Kind::Restrict => self.out.push_str(" restrict"),
                Kind::TypeTag => {
                    self.emit_mods(start);
                    let n = self.raw_name(&t);
                    if t.kflag() {
                        self.out.push_str(" __attribute__((");
                        self.out.push_str(n);
                        self.out.push_str("))");
                    } else {
                        self.out.push_str(" __attribute__((btf_type_tag(\"");
                        self.out.push_str(n);
                        self.out.push_str("\")))");
                    }
                }
                Kind::Array => {
                    self.emit_array(&t, start, fname, last_was_ptr, lvl, depth);
                    return;
                }
                Kind::FuncProto => {
                    self.emit_proto(&t, start, fname, last_was_ptr, lvl, depth);
                    return;
                }
                Kind::Func | Kind::Var | Kind::Datasec | Kind::DeclTag | Kind::Void => {
                    self.out.push_str("void /* ");
                    self.out.push_str(t.kind.name());
                    self.out.push_str(" */");
                }
            }
            last_was_ptr = t.kind == Kind::Ptr;
        }
        self.emit_name(fname, last_was_ptr);
    }

    fn emit_array(
        &mut self,
        t: &Type<'_>,
        start: usize,
        fname: &str,
        last_was_ptr: bool,
        lvl: usize,
        depth: usize,
    ) {
        let nelems = t.array().map(|a| a.nelems).unwrap_or(0);
        // Qualifiers of an array (GCC repeats the element's) have no place in C.
        self.drop_mods(start);
        let Some(next) = self.peek(start) else {
            self.emit_name(fname, last_was_ptr);
            self.push_dim(nelems);
            return;
        };
        let multidim = self.ty(next).is_some_and(|n| n.kind == Kind::Array);
        if !fname.is_empty() && !last_was_ptr {
            self.out.push(' ');
        }
        if !multidim {
            self.out.push('(');
        }
        if depth < MAX_DEPTH {
            self.emit_chain(start, fname, lvl, depth + 1);
        }
        if !multidim {
            self.out.push(')');
        }
        self.push_dim(nelems);
    }

    fn push_dim(&mut self, n: u32) {
        self.out.push('[');
        push_u64(&mut self.out, u64::from(n));
        self.out.push(']');
    }

    fn emit_proto(
        &mut self,
        t: &Type<'_>,
        start: usize,
        fname: &str,
        last_was_ptr: bool,
        lvl: usize,
        depth: usize,
    ) {
        // GCC marks noreturn function pointers volatile: drop such qualifiers.
        self.drop_mods(start);
        if self.peek(start).is_some() {
            self.out.push_str(" (");
            if depth < MAX_DEPTH {
                self.emit_chain(start, fname, lvl, depth + 1);
            }
            self.out.push(')');
        } else {
            self.emit_name(fname, last_was_ptr);
        }
        self.out.push('(');
        let n = t.vlen();
        // Clang writes `f(void)` as one void parameter.
        if n == 0 || (n == 1 && t.params().next().is_some_and(|p| p.type_id == 0)) {
            self.out.push_str("void)");
            return;
        }
        for (i, p) in t.params().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            // A last parameter of type void means `...`.
            if i == n - 1 && p.type_id == 0 {
                self.out.push_str("...");
                break;
            }
            let pname = self.btf.str_at(p.name_off).unwrap_or("");
            if depth < MAX_DEPTH {
                self.emit_decl(p.type_id, pname, lvl, depth + 1);
            }
        }
        self.out.push(')');
    }
}
