//! CO-RE, family by family, in the kernel.
//!
//! `bpf-progs/core_families.bpf.c` declares local types under the names of the target
//! types in `btf-fixtures/core/t_<family>.c`; each test loads one of its programs with
//! a `target_<family>_<variant>.btf` as the kernel's BTF, fills the global `in` with
//! bytes laid out as the TARGET type, attaches the program to `raw_tp/sys_enter`, makes
//! syscalls until it ran, and compares what it wrote to `out` with values computed here
//! from the target BTF as btf-rs (a BTF reader independent of ours) reads it.
//!
//! The input is a permutation of the 256 byte values, so a read at a wrong offset (or
//! of a wrong width) can't return the expected bytes. A guarded output is `MISSING`
//! when the program's existence check said the target lacks the field or enumerator.
//!
//! Every load has its own maps, and every program returns at once unless the syscall
//! comes from this process: tests run in parallel and only share the `hits` timing.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use btf_rs::{Btf, BtfType, Type};
use common::*;
use corebpf::loader::CoreLoadError;
use corebpf::reloc::core::{CoreError, CoreReloKind, Disagreement};
use corebpf::{LoadError, Loader, Object, ObjectSpec};

const OBJ: &str = "core_families.bpf.o";
/// What a guarded output holds when the target lacks what it reads (the C's MISSING).
const MISSING: u64 = 0xdead_beef_dead_beef;
/// Size of the C's `in`.
const IN_LEN: usize = 256;

// ------------------------------------------------------------------------- running

fn target_path(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("btf-fixtures/core")
        .join(format!("target_{target}.btf"))
}

/// Every byte value once: `i * 37` is a permutation modulo 256 (37 is odd).
fn pattern() -> Vec<u8> {
    (0..IN_LEN).map(|i| (i * 37 + 11) as u8).collect()
}

fn load(program: &str, target: &str, input: &[u8]) -> Result<(ObjectSpec, Object), LoadError> {
    setup();
    let spec = ObjectSpec::from_file(&prog(OBJ)).expect("parsing the object");
    let obj = Loader::new()
        .target_btf(target_path(target))
        .global("target_tgid", &std::process::id().to_ne_bytes())
        .global("in", input)
        .autoload(program, true)
        .load(&spec)?;
    Ok((spec, obj))
}

/// What a run left behind: the outputs and the input buffer afterwards.
struct Ran {
    out: Vec<u64>,
    input: Vec<u8>,
}

/// Loads `program` relocated against `target` with `input`, attaches it and makes
/// syscalls until it has run.
fn run(program: &str, target: &str, input: &[u8]) -> Ran {
    let (spec, obj) = load(program, target, input)
        .unwrap_or_else(|e| panic!("loading {program} against {target}: {e}"));
    let names: Vec<&str> = obj.programs().iter().map(|p| p.name()).collect();
    assert_eq!(names, [program], "only the chosen program is loaded");
    let links = obj.attach_all().expect("attaching");
    assert_eq!(links.len(), 1);
    let mut ran = false;
    // A bound so a broken program fails the test instead of hanging it; no assertion
    // is made on time.
    for _ in 0..200 {
        let _ = std::fs::metadata("/");
        if global_u64(&spec, &obj, "hits") > 0 {
            ran = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(links);
    assert!(ran, "{program} against {target} never ran");
    let out = global(&spec, &obj, "out")
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Ran {
        out,
        input: global(&spec, &obj, "in"),
    }
}

fn load_err(program: &str, target: &str) -> LoadError {
    match load(program, target, &pattern()) {
        Ok(_) => panic!("{program} loaded against {target}; it must not"),
        Err(e) => e,
    }
}

/// Loading must fail because the verifier reached a poisoned relocation of kind `kind`
/// and access `local`; returns the reason CO-RE gave.
#[track_caller]
fn poisoned(program: &str, target: &str, kind: CoreReloKind, local: &str) -> String {
    let e = load_err(program, target);
    let text = e.to_string();
    match e {
        LoadError::PoisonedRelocation(p) => {
            assert_eq!(
                (p.program.as_str(), p.kind.as_str(), p.local.as_str()),
                (program, kind.name(), local),
                "{program} against {target}"
            );
            assert!(p.log.full().contains("195896080"), "{}", p.log);
            assert!(
                text.contains(local) && text.contains("could not be relocated"),
                "{text}"
            );
            p.reason.clone()
        }
        e => panic!("{program} against {target}: expected a poisoned relocation, got {e}"),
    }
}

/// Loading must fail with a hard CO-RE error; returns it and its message.
#[track_caller]
fn core_error(program: &str, target: &str) -> (CoreError, String) {
    match load_err(program, target) {
        LoadError::Core(CoreLoadError::Relocation { program: p, source }) => {
            assert_eq!(p, program, "against {target}");
            let text = source.to_string();
            (*source, text)
        }
        e => panic!("{program} against {target}: expected a CO-RE relocation error, got {e}"),
    }
}

// ------------------------------------------------------------------------- the test's view of a BTF

/// A BTF as btf-rs reads it.
struct View {
    btf: Btf,
}

/// `foo` of `foo___flavor`.
fn essential(name: &str) -> &str {
    name.rfind("___").map_or(name, |i| &name[..i])
}

/// Where a field is in the target, as btf-rs says.
#[derive(Clone, Copy, Debug)]
struct Field {
    /// Bit offset from the start of the root.
    bit: u64,
    /// Width in bits (the bitfield's, else the type's).
    bits: u64,
    /// Byte size of the type.
    size: u64,
    /// A signed integer or enum.
    signed: bool,
    /// Size of the innermost element of an array (of arrays); the type's size otherwise.
    elem: u64,
}

impl Field {
    fn off(&self) -> u64 {
        self.bit / 8
    }
}

/// What the local side declares a field to be, for the compatibility check C-level
/// CO-RE makes: integers match integers of any size, pointers any pointer, enums an
/// enum of the same (or no) name, structs/unions any struct/union.
#[derive(Clone, Copy, Debug)]
enum Local {
    Int,
    Ptr,
    Enum(&'static str),
    Comp,
    IntArray,
    /// Any array: of arrays, of structs.
    Array,
}

enum Step {
    Name(String),
    Index(u64),
}

/// `outer.in.deep`, `b[1][2]`, `c[2].b`, `[2].b` (the root pointer used as an array).
fn parse_path(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !name.is_empty() {
            steps.push(Step::Name(name.to_string()));
        }
        for idx in rest.split('[').skip(1) {
            steps.push(Step::Index(idx.trim_end_matches(']').parse().unwrap()));
        }
    }
    steps
}

impl View {
    fn open(target: &str) -> View {
        View {
            btf: Btf::from_file(target_path(target)).expect("btf-rs reads the target"),
        }
    }

    /// The object's own BTF, read from its `.BTF` section.
    fn local() -> View {
        use object::{Object as _, ObjectSection as _};
        let data = std::fs::read(prog(OBJ)).unwrap();
        let elf = object::File::parse(&*data).unwrap();
        let btf = elf.section_by_name(".BTF").unwrap().data().unwrap();
        View {
            btf: Btf::from_bytes(btf).expect("btf-rs reads the object's BTF"),
        }
    }

    fn name_of(&self, t: &Type) -> String {
        t.as_btf_type()
            .and_then(|b| self.btf.resolve_name(b).ok())
            .unwrap_or_default()
    }

    fn next(&self, t: &dyn BtfType) -> Type {
        self.btf.resolve_chained_type(t).unwrap()
    }

    /// Skips typedefs and modifiers.
    fn skip(&self, mut t: Type) -> Type {
        loop {
            t = match &t {
                Type::Typedef(x) => self.next(x),
                Type::Const(x) | Type::Volatile(x) | Type::Restrict(x) => self.next(x),
                Type::TypeTag(x) => self.next(x),
                _ => return t,
            }
        }
    }

    fn size(&self, t: &Type) -> u64 {
        match self.skip(t.clone()) {
            Type::Int(i) => i.size() as u64,
            Type::Ptr(_) => 8,
            Type::Struct(s) | Type::Union(s) => s.size() as u64,
            Type::Enum(e) => e.size() as u64,
            Type::Enum64(e) => e.size() as u64,
            Type::Array(a) => a.len() as u64 * self.size(&self.next(&a)),
            t => panic!("no size for a {}", t.name()),
        }
    }

    /// Size of what one load of a `t` moves: an array's innermost element.
    fn elem_size(&self, t: &Type) -> u64 {
        match self.skip(t.clone()) {
            Type::Array(a) => self.elem_size(&self.next(&a)),
            t => self.size(&t),
        }
    }

    fn signed(&self, t: &Type) -> bool {
        match self.skip(t.clone()) {
            Type::Int(i) => i.is_signed(),
            Type::Enum(e) => e.is_signed(),
            Type::Enum64(e) => e.is_signed(),
            _ => false,
        }
    }

    /// Every type with its id.
    fn all(&self) -> Vec<(u32, Type)> {
        (1..)
            .map_while(|id| self.btf.resolve_type_by_id(id).ok().map(|t| (id, t)))
            .collect()
    }

    /// The types a local `kind name` may relocate to: same kind (enum and enum64
    /// alike), same name up to flavors.
    fn candidates(&self, kind: &str, name: &str) -> Vec<(u32, Type)> {
        self.all()
            .into_iter()
            .filter(|(_, t)| {
                let k = match t {
                    Type::Struct(_) => "struct",
                    Type::Union(_) => "union",
                    Type::Enum(_) | Type::Enum64(_) => "enum",
                    Type::Typedef(_) => "typedef",
                    _ => return false,
                };
                let n = self.name_of(t);
                k == kind && !n.is_empty() && essential(&n) == essential(name)
            })
            .collect()
    }

    /// Exactly the type `kind name` (local side, no flavors).
    fn exact(&self, kind: &str, name: &str) -> (u32, Type) {
        let found: Vec<_> = self
            .candidates(kind, name)
            .into_iter()
            .filter(|(_, t)| self.name_of(t) == name)
            .collect();
        assert_eq!(found.len(), 1, "{kind} {name}");
        found.into_iter().next().unwrap()
    }

    /// The member `name` of struct/union `t`, looked for through anonymous members as C
    /// does: (bit offset, type, bitfield width, whether it is its container's last).
    fn member(&self, t: &Type, name: &str) -> Option<(u64, Type, Option<u64>, bool)> {
        let (Type::Struct(s) | Type::Union(s)) = t else {
            return None;
        };
        for (i, m) in s.members.iter().enumerate() {
            let mt = self.next(m);
            let mname = self.btf.resolve_name(m).unwrap_or_default();
            let bitfield = m.bitfield_size().filter(|&b| b > 0).map(u64::from);
            if mname == name {
                let last = i + 1 == s.members.len();
                return Some((u64::from(m.bit_offset()), mt, bitfield, last));
            }
            if mname.is_empty() {
                if let Some((off, t2, b2, last)) = self.member(&self.skip(mt), name) {
                    return Some((u64::from(m.bit_offset()) + off, t2, b2, last));
                }
            }
        }
        None
    }

    /// `path` in `root` (a candidate type), if it is there with a compatible type.
    fn walk(&self, root: Type, path: &str, want: Local) -> Option<Field> {
        let mut t = self.skip(root);
        let (mut bit, mut bitfield, mut last) = (0u64, None, false);
        for (i, step) in parse_path(path).into_iter().enumerate() {
            match step {
                Step::Index(n) if i == 0 => bit += n * self.size(&t) * 8,
                Step::Index(n) => {
                    let Type::Array(a) = &t else { return None };
                    // A zero-length array that is its struct's last member is flexible.
                    let flexible = a.len() == 0 && last;
                    if n >= a.len() as u64 && !flexible {
                        return None;
                    }
                    let elem = self.skip(self.next(a));
                    bit += n * self.size(&elem) * 8;
                    (t, bitfield, last) = (elem, None, false);
                }
                Step::Name(name) => {
                    let (off, mt, bf, is_last) = self.member(&t, &name)?;
                    bit += off;
                    (t, bitfield, last) = (self.skip(mt), bf, is_last);
                }
            }
        }
        let fits = match (want, &t) {
            (Local::Int, Type::Int(_)) | (Local::Ptr, Type::Ptr(_)) => true,
            (Local::Comp, Type::Struct(_) | Type::Union(_)) => true,
            (Local::Enum(name), Type::Enum(_) | Type::Enum64(_)) => {
                let n = self.name_of(&t);
                n.is_empty() || essential(&n) == name
            }
            (Local::IntArray, Type::Array(a)) => matches!(self.skip(self.next(a)), Type::Int(_)),
            (Local::Array, Type::Array(_)) => true,
            _ => false,
        };
        fits.then(|| Field {
            bit,
            bits: bitfield.unwrap_or(self.size(&t) * 8),
            size: self.size(&t),
            signed: self.signed(&t),
            elem: self.elem_size(&t),
        })
    }

    /// `root` is `struct flv`, `typedef mods_t`: where `path` is in whichever candidate
    /// has it (the candidates that do must agree: ambiguity is tested on its own).
    fn field(&self, root: &str, path: &str, want: Local) -> Option<Field> {
        let (kind, name) = root.split_once(' ').unwrap();
        let found: Vec<Field> = self
            .candidates(kind, name)
            .into_iter()
            .filter_map(|(_, t)| self.walk(t, path, want))
            .collect();
        if let Some(f) = found.first() {
            assert!(
                found.iter().all(|g| g.bit == f.bit),
                "{root}.{path}: candidates disagree"
            );
        }
        found.first().copied()
    }

    /// Value of enumerator `name` (local spelling) of enum `enum_name` in the target:
    /// the target's enumerator must be spelled as the local one without its flavor.
    /// 32-bit values are sign-extended only if the enum is signed.
    fn enumerator(&self, enum_name: &str, name: &str) -> Option<u64> {
        let want = essential(name);
        for (_, t) in self.candidates("enum", enum_name) {
            match &t {
                Type::Enum(e) => {
                    for m in &e.members {
                        if self.btf.resolve_name(m).unwrap() == want {
                            let v = m.val();
                            return Some(if e.is_signed() {
                                v as i32 as i64 as u64
                            } else {
                                u64::from(v)
                            });
                        }
                    }
                }
                Type::Enum64(e) => {
                    for m in &e.members {
                        if self.btf.resolve_name(m).unwrap() == want {
                            return Some(m.val());
                        }
                    }
                }
                _ => unreachable!(),
            }
        }
        None
    }
}

/// Whether local type `lt` and target type `tt` are compatible as CO-RE's type-based
/// checks define it: same kind through typedefs and modifiers, integers of any size,
/// composites and enums by the name already matched, pointers and arrays by what they
/// hold, function prototypes by arity and parameter types.
fn compatible(l: &View, lt: Type, t: &View, tt: Type, depth: u32) -> bool {
    if depth > 20 {
        return false;
    }
    match (l.skip(lt), t.skip(tt)) {
        (Type::Void, Type::Void) | (Type::Int(_), Type::Int(_)) => true,
        (Type::Struct(_), Type::Struct(_)) | (Type::Union(_), Type::Union(_)) => true,
        (Type::Enum(_) | Type::Enum64(_), Type::Enum(_) | Type::Enum64(_)) => true,
        (Type::Ptr(a), Type::Ptr(b)) => compatible(l, l.next(&a), t, t.next(&b), depth + 1),
        (Type::Array(a), Type::Array(b)) => compatible(l, l.next(&a), t, t.next(&b), depth + 1),
        (Type::FuncProto(a), Type::FuncProto(b)) => {
            let ret = |v: &View, f: &btf_rs::FuncProto| {
                v.btf.resolve_type_by_id(f.return_type_id()).unwrap()
            };
            a.parameters.len() == b.parameters.len()
                && compatible(l, ret(l, &a), t, ret(t, &b), depth + 1)
                && a.parameters
                    .iter()
                    .zip(&b.parameters)
                    .all(|(x, y)| compatible(l, l.next(x), t, t.next(y), depth + 1))
        }
        _ => false,
    }
}

/// Whether `lt` and `tt` have the same shape: same integer sizes and signedness, same
/// members and enumerators by name, same arities; composites behind a pointer by name
/// only. The type-based fixtures are either identical to the local types or differ in
/// something TYPE_MATCHES looks at, so this is the answer TYPE_MATCHES must give there.
fn identical(l: &View, lt: Type, t: &View, tt: Type, behind_ptr: bool) -> bool {
    let (lt, tt) = (l.skip(lt), t.skip(tt));
    let same_name = essential(&l.name_of(&lt)) == essential(&t.name_of(&tt));
    match (&lt, &tt) {
        (Type::Void, Type::Void) => true,
        (Type::Int(a), Type::Int(b)) => a.size() == b.size() && a.is_signed() == b.is_signed(),
        (Type::Struct(a), Type::Struct(b)) | (Type::Union(a), Type::Union(b)) => {
            same_name
                && (behind_ptr
                    || a.members.len() == b.members.len()
                        && a.members.iter().zip(&b.members).all(|(x, y)| {
                            l.btf.resolve_name(x).unwrap() == t.btf.resolve_name(y).unwrap()
                                && x.bitfield_size() == y.bitfield_size()
                                && identical(l, l.next(x), t, t.next(y), false)
                        }))
        }
        (Type::Enum(a), Type::Enum(b)) => {
            let names = |v: &View, e: &btf_rs::Enum| -> Vec<String> {
                e.members
                    .iter()
                    .map(|m| v.btf.resolve_name(m).unwrap())
                    .collect()
            };
            same_name && a.size() == b.size() && names(l, a) == names(t, b)
        }
        (Type::Ptr(a), Type::Ptr(b)) => identical(l, l.next(a), t, t.next(b), true),
        (Type::Array(a), Type::Array(b)) => {
            a.len() == b.len() && identical(l, l.next(a), t, t.next(b), behind_ptr)
        }
        (Type::FuncProto(a), Type::FuncProto(b)) => {
            let ret = |v: &View, f: &btf_rs::FuncProto| {
                v.btf.resolve_type_by_id(f.return_type_id()).unwrap()
            };
            a.parameters.len() == b.parameters.len()
                && identical(l, ret(l, a), t, ret(t, b), behind_ptr)
                && a.parameters
                    .iter()
                    .zip(&b.parameters)
                    .all(|(x, y)| identical(l, l.next(x), t, t.next(y), behind_ptr))
        }
        _ => false,
    }
}

/// The target candidates of local type `kind name` that are compatible with it.
fn compatible_candidates(l: &View, t: &View, kind: &str, name: &str) -> Vec<(u32, Type)> {
    let (_, lt) = l.exact(kind, name);
    t.candidates(kind, name)
        .into_iter()
        .filter(|(_, tt)| compatible(l, lt.clone(), t, tt.clone(), 0))
        .collect()
}

// ------------------------------------------------------------------------- expected values

/// `n` bytes of `mem` at `off`, little endian, sign-extended if `signed`.
fn read_le(mem: &[u8], off: u64, n: u64, signed: bool) -> u64 {
    let (off, n) = (off as usize, n as usize);
    let mut b = [0u8; 8];
    b[..n].copy_from_slice(&mem[off..off + n]);
    let v = u64::from_le_bytes(b);
    extend(v, n as u64 * 8, signed)
}

/// Bits `bit..bit + width` of `mem` (little-endian bit order), sign-extended if `signed`.
fn read_bits(mem: &[u8], bit: u64, width: u64, signed: bool) -> u64 {
    let v = (0..width).fold(0u64, |v, i| {
        let pos = (bit + i) as usize;
        v | (u64::from(mem[pos / 8] >> (pos % 8) & 1) << i)
    });
    extend(v, width, signed)
}

fn extend(v: u64, width: u64, signed: bool) -> u64 {
    if width >= 64 || !signed || (v >> (width - 1)) & 1 == 0 {
        v
    } else {
        v | (u64::MAX << width)
    }
}

fn put_le(mem: &mut [u8], off: u64, n: u64, value: u64) {
    let off = off as usize;
    mem[off..off + n as usize].copy_from_slice(&value.to_le_bytes()[..n as usize]);
}

/// What an output holds, given the target field.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// 1 if the field exists (the only kind of output that isn't MISSING when it doesn't).
    Exists,
    /// A read of `n` bytes (the local size: probe reads, same-size loads), sign-extended
    /// as the local type.
    Read(u64, bool),
    /// A load the loader resized to the target's size (unsigned local field).
    ReadTarget,
    /// A bitfield read: the target's bits, with the target's signedness.
    Bits,
    Offset,
    Size,
    Signed,
}

/// (output index, root, path, local kind, what the output holds)
type Row = (usize, &'static str, &'static str, Local, Want);

#[track_caller]
fn check(view: &View, input: &[u8], out: &[u64], rows: &[Row], what: &str) {
    for &(i, root, path, local, want) in rows {
        let f = view.field(root, path, local);
        let expected = match (want, f) {
            (Want::Exists, f) => u64::from(f.is_some()),
            (_, None) => MISSING,
            (Want::Read(n, signed), Some(f)) => read_le(input, f.off(), n, signed),
            (Want::ReadTarget, Some(f)) => read_le(input, f.off(), f.size, false),
            (Want::Bits, Some(f)) => read_bits(input, f.bit, f.bits, f.signed),
            (Want::Offset, Some(f)) => f.off(),
            (Want::Size, Some(f)) => f.size,
            (Want::Signed, Some(f)) => u64::from(f.signed),
        };
        assert_eq!(
            out[i], expected,
            "{what}: out[{i}] is {want:?} of {root}.{path} (target: {f:?})"
        );
    }
}

use Local::*;
use Want::*;

// ------------------------------------------------------------------------- flavors

const FLAVORS: &[Row] = &[
    (0, "struct flv", "c", Int, Exists),
    (1, "struct flv", "c", Int, Read(4, true)),
    (2, "struct flv", "c", Int, Offset),
    (3, "struct flv___rev", "a", Int, Exists),
    (4, "struct flv___rev", "a", Int, Read(4, true)),
    (5, "struct flv___rev", "b", Int, Exists),
    (6, "struct flv___rev", "b", Int, Read(4, true)),
];

#[test]
fn flavors_match_plain_and_flavored_targets() {
    for v in [
        "flavors_base",
        "flavors_tflavor",
        "flavors_dup_same",
        "flavors_none",
    ] {
        let view = View::open(v);
        let input = pattern();
        let r = run("flavors", v, &input);
        check(&view, &input, &r.out, FLAVORS, v);
    }
    // The expectations are not vacuous: c moved, and flv___v2 is a candidate of flv.
    assert_eq!(
        View::open("flavors_base")
            .field("struct flv", "c", Int)
            .unwrap()
            .off(),
        16
    );
    let tflavor = View::open("flavors_tflavor");
    assert_eq!(tflavor.field("struct flv", "a", Int).unwrap().off(), 4);
    assert!(tflavor.field("struct flv", "b", Int).is_none());
    assert!(View::open("flavors_none")
        .field("struct flv", "c", Int)
        .is_none());
}

#[test]
fn flavors_type_exists_id_and_size() {
    let local = View::local();
    for v in ["flavors_base", "flavors_tflavor", "flavors_none"] {
        let view = View::open(v);
        let r = run("flavors_type", v, &pattern());
        let cands = compatible_candidates(&local, &view, "struct", "flv");
        assert!(cands.len() <= 1, "{v}");
        let (id, size) = cands
            .first()
            .map_or((0, 0), |(id, t)| (u64::from(*id), view.size(t)));
        assert_eq!(r.out[..3], [u64::from(!cands.is_empty()), id, size], "{v}");
        assert_eq!(v == "flavors_none", id == 0);
    }
}

#[test]
fn flavors_disagreeing_candidates_fail_the_load() {
    // flv has c at 8, flv___v2 at 0.
    let (e, text) = core_error("flavors", "flavors_dup");
    match e {
        CoreError::Ambiguous {
            ctx,
            what,
            first_value,
            second_value,
            ..
        } => {
            assert_eq!(ctx.local, "struct flv.c");
            assert_eq!(what, Disagreement::BitOffset);
            let view = View::open("flavors_dup");
            let bits: Vec<u64> = view
                .candidates("struct", "flv")
                .into_iter()
                .map(|(_, t)| view.walk(t, "c", Int).unwrap().bit)
                .collect();
            assert_eq!(bits, [first_value, second_value]);
        }
        e => panic!("{e}"),
    }
    assert!(text.contains("ambiguous"), "{text}");
    // Two compatible candidates: TYPE_ID_TARGET can't choose, even if their layouts agree.
    for v in ["flavors_dup", "flavors_dup_same"] {
        let (e, text) = core_error("flavors_type", v);
        assert!(
            matches!(&e, CoreError::Ambiguous { ctx, what: Disagreement::Value, .. }
                if ctx.kind == CoreReloKind::TypeIdTarget && ctx.local == "struct flv"),
            "{v}: {text}"
        );
    }
}

#[test]
fn flavors_candidates_are_pruned_by_earlier_relocations() {
    // b (read first) is only in flv, so c is flv's (8), not ambiguous with flv___v2's.
    let v = "flavors_dup";
    let view = View::open(v);
    let with_b: Vec<Type> = view
        .candidates("struct", "flv")
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| view.walk(t.clone(), "b", Int).is_some())
        .collect();
    assert_eq!(with_b.len(), 1);
    let b = view.walk(with_b[0].clone(), "b", Int).unwrap();
    let c = view.walk(with_b[0].clone(), "c", Int).unwrap();
    let input = pattern();
    let r = run("flavors_prune", v, &input);
    assert_eq!(
        r.out[..2],
        [
            read_le(&input, b.off(), 4, true),
            read_le(&input, c.off(), 4, true)
        ]
    );
}

#[test]
fn flavors_unguarded_read_without_candidate_is_named() {
    let input = pattern();
    let r = run("flavors_unguarded", "flavors_base", &input);
    check(
        &View::open("flavors_base"),
        &input,
        &r.out,
        &[(0, "struct flv", "c", Int, Read(4, true))],
        "base",
    );
    let why = poisoned(
        "flavors_unguarded",
        "flavors_none",
        CoreReloKind::FieldByteOffset,
        "struct flv.c",
    );
    assert_eq!(why, "the target has no struct named flv");
}

// ------------------------------------------------------------------------- nesting

const NESTING: &[Row] = &[
    (0, "struct nest", "a", Int, Exists),
    (1, "struct nest", "b", Int, Exists),
    (2, "struct nest", "c", Int, Exists),
    (3, "struct nest", "outer.in.deep", Int, Exists),
    (4, "struct nest", "a", Int, Read(4, true)),
    (5, "struct nest", "b", Int, Read(4, true)),
    (6, "struct nest", "c", Int, Read(4, true)),
    (7, "struct nest", "outer.in.deep", Int, Read(4, true)),
    (8, "struct nest", "a", Int, Offset),
    (9, "struct nest", "b", Int, Offset),
    (10, "struct nest", "c", Int, Offset),
    (11, "struct nest", "outer.in.deep", Int, Offset),
    (12, "struct nest", "x", Int, Read(4, true)),
];

#[test]
fn nesting_through_anonymous_members_missing_and_too_deep() {
    for v in [
        "nesting_base",
        "nesting_missing",
        "nesting_shallow",
        "nesting_incompat",
    ] {
        let input = pattern();
        let r = run("nesting", v, &input);
        check(&View::open(v), &input, &r.out, NESTING, v);
    }
    let base = View::open("nesting_base");
    let off = |p| base.field("struct nest", p, Int).unwrap().off();
    assert_eq!((off("a"), off("b"), off("outer.in.deep")), (12, 8, 32));
    assert!(View::open("nesting_missing")
        .field("struct nest", "b", Int)
        .is_none());
    assert!(View::open("nesting_shallow")
        .field("struct nest", "outer.in.deep", Int)
        .is_none());
    assert!(View::open("nesting_incompat")
        .field("struct nest", "a", Int)
        .is_none());
}

#[test]
fn nesting_unguarded_reads_are_named() {
    let input = pattern();
    let r = run("nesting_unguarded", "nesting_base", &input);
    let rows: Vec<Row> = NESTING[4..8]
        .iter()
        .map(|&(i, r, p, l, w)| (i - 4, r, p, l, w))
        .collect();
    check(&View::open("nesting_base"), &input, &r.out, &rows, "base");

    let kind = CoreReloKind::FieldByteOffset;
    let why = poisoned(
        "nesting_unguarded",
        "nesting_missing",
        kind,
        "struct nest.b",
    );
    assert!(why.starts_with("no field b in struct nest"), "{why}");
    let why = poisoned(
        "nesting_unguarded",
        "nesting_shallow",
        kind,
        "struct nest.outer.in.deep",
    );
    assert!(
        why.contains("field outer of struct nest has an incompatible type"),
        "{why}"
    );
    let why = poisoned(
        "nesting_unguarded",
        "nesting_incompat",
        kind,
        "struct nest.a",
    );
    assert!(why.contains("int int locally, ptr"), "{why}");
}

// ------------------------------------------------------------------------- arrays

const ARRAYS: &[Row] = &[
    (0, "struct arrs", "a[2]", Int, Exists),
    (1, "struct arrs", "a[2]", Int, Read(4, true)),
    (2, "struct arrs", "b[1][2]", Int, Exists),
    (3, "struct arrs", "b[1][2]", Int, Read(1, false)),
    (4, "struct arrs", "b[1][2]", Int, Size),
    (5, "struct arrs", "c[2].b", Int, Exists),
    (6, "struct arrs", "c[2].b", Int, Read(4, true)),
    (7, "struct arrs", "c[1]", Comp, Size),
    (8, "struct arrs", "b[1]", IntArray, Offset),
    (9, "struct arrs", "a", IntArray, Size),
    (10, "struct arrs", "d[3]", Int, Exists),
    (11, "struct arrs", "d[3]", Int, Read(4, true)),
    (12, "struct arrs_flex", "d[3]", Int, Exists),
    (13, "struct arrs_flex", "d[3]", Int, Read(4, true)),
    (14, "struct arrs_flex", "d[3]", Int, Offset),
];

#[test]
fn arrays_dimensions_element_sizes_flexible_and_bounds() {
    for v in ["arrays_base", "arrays_small", "arrays_wrong"] {
        let input = pattern();
        let r = run("arrays", v, &input);
        check(&View::open(v), &input, &r.out, ARRAYS, v);
    }
    let base = View::open("arrays_base");
    let b12 = base.field("struct arrs", "b[1][2]", Int).unwrap();
    assert_eq!((b12.off(), b12.size), (44, 2), "u16[3][4] at 32");
    let c2b = base.field("struct arrs", "c[2].b", Int).unwrap();
    assert_eq!(c2b.off(), 96);
    let flex = base.field("struct arrs_flex", "d[3]", Int).unwrap();
    assert_eq!(flex.off(), 20, "flexible: any index");
    let small = View::open("arrays_small");
    assert!(small.field("struct arrs", "a[2]", Int).is_none());
    assert!(small.field("struct arrs", "d[3]", Int).is_none());
    assert!(small.field("struct arrs_flex", "d[3]", Int).is_none());
}

#[test]
fn arrays_unguarded_out_of_bounds_and_wrong_kinds_are_named() {
    let kind = CoreReloKind::FieldByteOffset;
    let why = poisoned("arrays_unguarded", "arrays_small", kind, "struct arrs.a[2]");
    assert!(
        why.starts_with("index 2 is out of bounds of the target's array of 2 elements"),
        "{why}"
    );
    let why = poisoned("arrays_unguarded", "arrays_wrong", kind, "struct arrs.a[2]");
    assert!(why.contains("incompatible type"), "{why}");
    // Signedness of an array element: a hard error, whatever the target.
    let (e, text) = core_error("arrays_signed_elem", "arrays_base");
    assert!(
        matches!(&e, CoreError::ArrayAccess { ctx }
            if ctx.local == "struct arrs.a[2]" && ctx.kind == CoreReloKind::FieldSigned),
        "{text}"
    );
    assert!(text.contains("array element"), "{text}");
}

// ------------------------------------------------------------------------- loads of array fields

/// What one output reads: offset from the field's start, bytes, sign-extended.
type Read = (u64, u64, bool);

/// (program, the array field it loads element 0 of, what each output reads: offset
/// from the field's start, bytes, sign-extended). The loads of later elements go
/// through the relocated address with the local element size.
const ARRLOAD: [(&str, &str, &[Read]); 7] = [
    ("arrload_a", "a", &[(0, 4, true), (8, 4, true)]),
    ("arrload_m", "m", &[(0, 2, false)]),
    ("arrload_m_row", "m[1]", &[(0, 2, false)]),
    ("arrload_c", "c", &[(0, 4, true), (12, 4, true)]),
    ("arrload_s", "s", &[(0, 4, true)]),
    ("arrload_u", "u", &[(0, 4, false)]),
    ("arrload_g", "g", &[(0, 4, true)]),
];

/// Runs every ARRLOAD program against `v`: those whose field is in the target with
/// elements of the local size must load and read the target's bytes; the others must
/// fail to load, poisoned. Returns (field, reason) of those.
fn arrload_against(v: &str) -> Vec<(&'static str, String)> {
    let (view, local) = (View::open(v), View::local());
    let mut refused = Vec::new();
    for (program, path, reads) in ARRLOAD {
        let want = local.field("struct arrload", path, Array).unwrap().elem;
        match view.field("struct arrload", path, Array) {
            Some(f) if f.elem == want => {
                let input = pattern();
                let r = run(program, v, &input);
                for (i, &(at, n, signed)) in reads.iter().enumerate() {
                    let expected = read_le(&input, f.off() + at, n, signed);
                    assert_eq!(r.out[i], expected, "{v}: {program} out[{i}] ({f:?})");
                }
            }
            _ => {
                let local_path = format!("struct arrload.{path}");
                let why = poisoned(program, v, CoreReloKind::FieldByteOffset, &local_path);
                refused.push((path, why));
            }
        }
    }
    refused
}

#[test]
fn array_fields_longer_and_shorter_are_loaded_from_the_target() {
    for v in ["arrload_same", "arrload_longer"] {
        assert_eq!(arrload_against(v), [], "{v}");
    }
    // Only the explicit row index is out of the shorter target's bounds.
    let refused = arrload_against("arrload_shorter");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, "m[1]");
    assert!(refused[0].1.contains("out of bounds"), "{}", refused[0].1);
    // Not vacuous: the arrays moved and changed length.
    let (longer, shorter) = (View::open("arrload_longer"), View::open("arrload_shorter"));
    let f = |v: &View, p| v.field("struct arrload", p, Array).unwrap();
    assert_eq!((f(&longer, "a").off(), f(&longer, "a").size), (32, 28));
    assert_eq!((f(&longer, "m").size, f(&longer, "m[1]").off()), (24, 16));
    assert_eq!((f(&shorter, "c").off(), f(&shorter, "c").size), (12, 16));
}

#[test]
fn array_fields_with_elements_of_another_size_fail_the_load() {
    let refused = arrload_against("arrload_elems");
    let fields: Vec<&str> = refused.iter().map(|r| r.0).collect();
    // g changed only its signedness; u (u32 -> u16) is refused although a scalar u32
    // field turned u16 is resized: the kinds libbpf checks are the fields', arrays.
    assert_eq!(fields, ["a", "m", "m[1]", "c", "s", "u"]);
    for (path, why) in &refused {
        assert!(
            why.contains("is an array whose elements changed size"),
            "{path}: {why}"
        );
    }
    let view = View::open("arrload_elems");
    let g = view.field("struct arrload", "g", Array).unwrap();
    assert_eq!((g.off(), g.elem), (108, 4));
}

#[test]
fn array_fields_are_stored_into_at_the_target_offsets() {
    for v in ["arrload_longer", "arrload_shorter"] {
        let view = View::open(v);
        let input = pattern();
        let r = run("arrload_store", v, &input);
        let mut want = input.clone();
        for (path, value) in [("a", 0x1234567u64), ("g", (-0x7654321i32) as u32 as u64)] {
            let f = view.field("struct arrload", path, Array).unwrap();
            put_le(&mut want, f.off(), 4, value);
        }
        assert_eq!(r.input, want, "{v}");
        assert_ne!(r.input, input);
    }
    let why = poisoned(
        "arrload_store",
        "arrload_elems",
        CoreReloKind::FieldByteOffset,
        "struct arrload.a",
    );
    assert!(why.contains("from 4 to 8 bytes"), "{why}");
}

// ------------------------------------------------------------------------- primitives

const PRIMITIVES: &[Row] = &[
    (0, "struct prims", "a", Int, Exists),
    (1, "struct prims", "b", Int, Exists),
    (2, "struct prims", "c", Enum("prim_e"), Exists),
    (3, "struct prims", "d", Ptr, Exists),
    (4, "struct prims", "f", Ptr, Exists),
    (5, "struct prims", "a", Int, Read(1, true)),
    (6, "struct prims", "b", Int, Read(4, true)),
    (7, "struct prims", "c", Enum("prim_e"), Read(4, false)),
    (8, "struct prims", "d", Ptr, Read(8, false)),
    (9, "struct prims", "f", Ptr, Read(8, false)),
];

/// The pattern, with `a` (a char) and `c` (an enum) given values whose sign can't matter.
fn prims_input(view: &View) -> Vec<u8> {
    let mut input = pattern();
    if let Some(f) = view.field("struct prims", "a", Int) {
        put_le(&mut input, f.off(), 1, 0x5a);
    }
    if let Some(f) = view.field("struct prims", "c", Enum("prim_e")) {
        put_le(&mut input, f.off(), f.size, 0x0102_0304);
    }
    input
}

#[test]
fn primitives_enum_int_pointer_changes() {
    for v in ["primitives_base", "primitives_err1", "primitives_err2"] {
        let view = View::open(v);
        let input = prims_input(&view);
        let r = run("primitives", v, &input);
        check(&view, &input, &r.out, PRIMITIVES, v);
    }
    let ok = |v: &str, f, l| View::open(v).field("struct prims", f, l).is_some();
    assert!(ok("primitives_base", "c", Enum("prim_e")), "anonymous enum");
    assert!(!ok("primitives_err1", "c", Enum("prim_e")), "enum -> int");
    assert!(!ok("primitives_err1", "d", Ptr), "pointer -> long");
    assert!(ok("primitives_err1", "f", Ptr), "fn pointer -> int *");
    assert!(!ok("primitives_err2", "c", Enum("prim_e")), "renamed enum");
    assert!(!ok("primitives_err2", "f", Ptr), "fn pointer -> int");
}

#[test]
fn primitives_unguarded_mismatches_are_named() {
    let kind = CoreReloKind::FieldByteOffset;
    for v in ["primitives_err1", "primitives_err2"] {
        let why = poisoned("prims_c_unguarded", v, kind, "struct prims.c");
        assert!(why.contains("enum prim_e locally"), "{v}: {why}");
    }
    let why = poisoned(
        "prims_d_unguarded",
        "primitives_err1",
        kind,
        "struct prims.d",
    );
    assert!(
        why.contains("ptr <anon> locally, int long in the target"),
        "{why}"
    );
    let why = poisoned(
        "prims_f_unguarded",
        "primitives_err2",
        kind,
        "struct prims.f",
    );
    assert!(why.contains("incompatible type"), "{why}");
    // The other way round, they load and read the target's field.
    for (p, v, f) in [
        ("prims_d_unguarded", "primitives_err2", "d"),
        ("prims_f_unguarded", "primitives_err1", "f"),
    ] {
        let view = View::open(v);
        let input = prims_input(&view);
        let r = run(p, v, &input);
        check(
            &view,
            &input,
            &r.out,
            &[(0, "struct prims", f, Ptr, Read(8, false))],
            v,
        );
    }
}

// ------------------------------------------------------------------------- modifiers, typedefs

const MODS: &[Row] = &[
    (0, "typedef mods_t", "a", Int, Exists),
    (1, "typedef mods_t", "a", Int, Read(4, true)),
    (2, "typedef mods_t", "b", Int, Read(4, true)),
    (3, "typedef mods_t", "c", Int, Read(4, true)),
    (4, "typedef mods_t", "d", Ptr, Read(8, false)),
    (5, "typedef mods_t", "arr[1]", Int, Read(4, true)),
    (6, "struct mods", "c", Int, Exists),
    (7, "struct mods", "c", Int, Read(4, true)),
    (8, "struct mods", "arr[2]", Int, Read(4, true)),
];

#[test]
fn mods_and_typedefs_are_seen_through() {
    for v in ["mods_base", "mods_no_typedef"] {
        let input = pattern();
        let r = run("mods", v, &input);
        check(&View::open(v), &input, &r.out, MODS, v);
    }
    let base = View::open("mods_base");
    assert_eq!(base.field("typedef mods_t", "a", Int).unwrap().off(), 32);
    assert_eq!(base.field("struct mods", "arr[2]", Int).unwrap().off(), 16);
    assert!(View::open("mods_no_typedef")
        .field("typedef mods_t", "a", Int)
        .is_none());
}

#[test]
fn mods_typedef_root_without_target_typedef_is_named() {
    let why = poisoned(
        "mods_unguarded",
        "mods_no_typedef",
        CoreReloKind::FieldByteOffset,
        "typedef mods_t.a",
    );
    assert_eq!(why, "the target has no typedef named mods_t");
}

// ------------------------------------------------------------------------- pointer as array

const PTR_AS_ARRAY: &[Row] = &[
    (0, "struct pa", "[0].b", Int, Exists),
    (1, "struct pa", "[0].b", Int, Read(4, true)),
    (2, "struct pa", "[2].b", Int, Exists),
    (3, "struct pa", "[2].b", Int, Read(4, true)),
    (4, "struct pa", "[2].b", Int, Offset),
    (5, "struct pa", "[1].a", Int, Exists),
    (6, "struct pa", "[1].a", Int, Read(4, true)),
    (7, "struct pa", "[1].a", Int, Offset),
];

#[test]
fn pointer_used_as_array_scales_by_the_target_size() {
    for v in ["ptr_as_array_base", "ptr_as_array_err"] {
        let input = pattern();
        let r = run("ptr_as_array", v, &input);
        check(&View::open(v), &input, &r.out, PTR_AS_ARRAY, v);
    }
    let base = View::open("ptr_as_array_base");
    assert_eq!(base.field("struct pa", "[2].b", Int).unwrap().off(), 44);
    let err = View::open("ptr_as_array_err");
    assert_eq!(err.field("struct pa", "[1].a", Int).unwrap().off(), 4);
    let why = poisoned(
        "pa_unguarded",
        "ptr_as_array_err",
        CoreReloKind::FieldByteOffset,
        "struct pa[2].b",
    );
    assert!(why.starts_with("no field b in struct pa"), "{why}");
}

// ------------------------------------------------------------------------- ints

const INTS: &[Row] = &[
    (0, "struct ints", "u8f", Int, ReadTarget),
    (1, "struct ints", "u16f", Int, Read(2, false)),
    (2, "struct ints", "s16f", Int, Read(2, true)),
    (3, "struct ints", "u32f", Int, ReadTarget),
    (4, "struct ints", "s32f", Int, Read(4, true)),
    (5, "struct ints", "u64f", Int, Read(8, false)),
    (6, "struct ints", "s64f", Int, Read(8, true)),
    (7, "struct ints", "u8f", Int, Size),
    (8, "struct ints", "u32f", Int, Size),
    (9, "struct ints", "s64f", Int, Size),
    (10, "struct ints", "s16f", Int, Signed),
    (11, "struct ints", "s32f", Int, Signed),
    (12, "struct ints", "u32f", Int, Signed),
    (13, "struct ints", "s64f", Int, Signed),
];

#[test]
fn ints_loads_resize_and_keep_the_local_sign() {
    let v = "ints_base";
    let view = View::open(v);
    let mut input = pattern();
    // Negative values where the local type is signed; a u32 where the local is a u8.
    for (field, value) in [
        ("u8f", 0xa1b2_c3d4),
        ("s16f", 0x8421),
        ("s32f", 0xfedc_ba98),
        ("s64f", 0x8765_4321_0fed_cba9),
    ] {
        let f = view.field("struct ints", field, Int).unwrap();
        put_le(&mut input, f.off(), f.size, value);
    }
    let r = run("ints", v, &input);
    check(&view, &input, &r.out, INTS, v);
    // Not vacuous: u8f became a u32, u32f a u8, s32f unsigned.
    let f = |n| view.field("struct ints", n, Int).unwrap();
    assert_eq!((f("u8f").off(), f("u8f").size), (8, 4));
    assert_eq!((f("u32f").off(), f("u32f").size), (12, 1));
    assert!(!f("s32f").signed);
    assert_eq!(r.out[0], 0xa1b2_c3d4, "the whole target u32");
    assert_eq!(r.out[4], 0xffff_ffff_fedc_ba98, "int sign-extended");
}

#[test]
fn ints_stores_resize() {
    let v = "ints_base";
    let view = View::open(v);
    let input = pattern();
    let r = run("ints_store", v, &input);
    let mut want = input.clone();
    for (field, value) in [("u8f", 0x7b), ("u32f", 0x1122_3344), ("u16f", 0xbeef)] {
        let f = view.field("struct ints", field, Int).unwrap();
        put_le(&mut want, f.off(), f.size, value);
    }
    assert_eq!(r.input, want, "stores of the target's sizes at its offsets");
    assert_ne!(r.input, input);
}

#[test]
fn ints_signed_size_change_and_unloadable_fields_fail() {
    let why = poisoned(
        "ints_s8",
        "ints_base",
        CoreReloKind::FieldByteOffset,
        "struct ints.s8f",
    );
    assert!(why.contains("changed size from 1 to 4 bytes"), "{why}");

    // A 16-byte field: no load reads it.
    let wide = View::open("ints_i128")
        .field("struct ints", "u32f", Int)
        .unwrap();
    assert_eq!(wide.size, 16);
    let (e, text) = core_error("ints", "ints_i128");
    assert!(
        matches!(&e, CoreError::MemSize { ctx, .. } if ctx.local == "struct ints.u32f"),
        "{text}"
    );
    assert!(text.contains("16 bytes"), "{text}");

    // An offset beyond a load's 16-bit one.
    let far = View::open("ints_far")
        .field("struct ints", "u8f", Int)
        .unwrap();
    let (e, text) = core_error("ints", "ints_far");
    match e {
        CoreError::ValueTooBig { ctx, value, .. } => {
            assert_eq!(ctx.local, "struct ints.u8f");
            assert_eq!(value, far.off());
            assert!(value > i16::MAX as u64);
        }
        e => panic!("{e}"),
    }
    assert!(text.contains("doesn't fit"), "{text}");
}

// ------------------------------------------------------------------------- existence

const EXISTENCE: &[Row] = &[
    (0, "struct ex", "a", Int, Exists),
    (1, "struct ex", "b", IntArray, Exists),
    (2, "struct ex", "b[3]", Int, Exists),
    (3, "struct ex", "b[1]", Int, Exists),
    (4, "struct ex", "s", Comp, Exists),
    (5, "struct ex", "s.x", Int, Exists),
    (6, "struct ex", "d", Ptr, Exists),
    (7, "struct ex", "gone", Int, Exists),
    (8, "struct ex", "e[1]", Int, Exists),
    (9, "struct ex", "a", Int, Read(4, true)),
    (10, "struct ex", "b[1]", Int, Read(4, true)),
    (11, "struct ex", "s.x", Int, Read(4, true)),
    (12, "struct ex", "d", Ptr, Read(8, false)),
];

#[test]
fn existence_of_fields_and_probe_reads_of_the_local_size() {
    for v in ["existence_base", "existence_none"] {
        let input = pattern();
        let r = run("existence", v, &input);
        check(&View::open(v), &input, &r.out, EXISTENCE, v);
        if v == "existence_none" {
            assert_eq!(r.out[..9], [0; 9], "nothing exists");
            assert_eq!(r.out[9..13], [MISSING; 4]);
        } else {
            // a, b, b[1], s, s.x, d exist; b[3] (2 elements), gone and e[1] (a pointer) don't.
            assert_eq!(r.out[..9], [1, 1, 0, 1, 1, 1, 1, 0, 0]);
        }
    }
    let why = poisoned(
        "existence_unguarded",
        "existence_base",
        CoreReloKind::FieldByteOffset,
        "struct ex.gone",
    );
    assert!(why.starts_with("no field gone in struct ex"), "{why}");
}

// ------------------------------------------------------------------------- bitfields

const BITFIELDS: &[Row] = &[
    (0, "struct bfs", "ub1", Int, Bits),
    (1, "struct bfs", "ub2", Int, Bits),
    (2, "struct bfs", "ub7", Int, Bits),
    (3, "struct bfs", "sb4", Int, Bits),
    (4, "struct bfs", "sb20", Int, Bits),
    (5, "struct bfs", "u32", Int, Bits),
    (6, "struct bfs", "s32", Int, Bits),
];

#[test]
fn bitfields_read_by_probe_and_directly() {
    for v in ["bitfields_base", "bitfields_widen"] {
        let view = View::open(v);
        for program in ["bitfields_probed", "bitfields_direct"] {
            // The pattern and its complement: every bit, sign bits included, is seen
            // both ways.
            let p = pattern();
            for input in [p.clone(), p.iter().map(|b| !b).collect()] {
                let r = run(program, v, &input);
                check(
                    &view,
                    &input,
                    &r.out,
                    BITFIELDS,
                    &format!("{program} on {v}"),
                );
            }
        }
    }
    let base = View::open("bitfields_base");
    let f = |n| base.field("struct bfs", n, Int).unwrap();
    assert_eq!(
        (f("sb20").bit, f("sb20").bits, f("sb20").signed),
        (64, 40, true)
    );
    assert_eq!(
        (f("ub7").bits, f("u32").bits),
        (8, 20),
        "bitfield <-> plain"
    );
    let widen = View::open("bitfields_widen");
    let ub2 = widen.field("struct bfs", "ub2", Int).unwrap();
    assert_eq!((ub2.bit, ub2.bits), (6, 6), "straddles its u8 unit");
}

#[test]
fn bitfields_too_big_for_one_load_fail_the_load() {
    let ub2 = View::open("bitfields_too_big")
        .field("struct bfs", "ub2", Int)
        .unwrap();
    for program in ["bitfields_probed", "bitfields_direct"] {
        let (e, text) = core_error(program, "bitfields_too_big");
        match e {
            CoreError::BitfieldTooBig {
                ctx,
                side,
                bit_offset,
                bit_size,
            } => {
                assert_eq!(ctx.local, "struct bfs.ub2");
                assert_eq!(side, "target");
                assert_eq!((bit_offset, u64::from(bit_size)), (ub2.bit, ub2.bits));
                assert!(bit_offset % 64 + u64::from(bit_size) > 64);
            }
            e => panic!("{program}: {e}"),
        }
        assert!(text.contains("can't be read with a 64-bit load"), "{text}");
    }
}

// ------------------------------------------------------------------------- sizes

const SIZES: &[Row] = &[
    (0, "struct sizes", "i", Int, Size),
    (1, "struct sizes", "s", Comp, Size),
    (2, "struct sizes", "u", Comp, Size),
    (3, "struct sizes", "e", Enum("sz_e"), Size),
    (4, "struct sizes", "p", Ptr, Size),
    (5, "struct sizes", "f", Ptr, Size),
    (6, "struct sizes", "arr", IntArray, Size),
    (12, "struct sizes", "e", Enum("sz_e"), ReadTarget),
];

const SIZED_TYPES: [(usize, &str, &str); 5] = [
    (7, "struct", "sizes"),
    (8, "typedef", "sz_t"),
    (9, "union", "sz_u"),
    (10, "enum", "sz_e"),
    (11, "typedef", "sz_fn"),
];

#[test]
fn sizes_of_fields_and_types() {
    let local = View::local();
    for v in ["sizes_base", "sizes_missing"] {
        let view = View::open(v);
        let input = pattern();
        let r = run("sizes", v, &input);
        check(&view, &input, &r.out, SIZES, v);
        for (i, kind, name) in SIZED_TYPES {
            let want = compatible_candidates(&local, &view, kind, name)
                .first()
                .map_or(0, |(_, t)| view.size(t));
            assert_eq!(r.out[i], want, "{v}: size of {kind} {name}");
        }
    }
    let base = View::open("sizes_base");
    assert_eq!(
        base.field("struct sizes", "e", Enum("sz_e")).unwrap().size,
        8
    );
    assert_eq!(base.size(&base.exact("struct", "sizes").1), 96);
    let why = poisoned(
        "sizes_unguarded",
        "sizes_missing",
        CoreReloKind::FieldByteSize,
        "struct sizes.i",
    );
    assert_eq!(why, "the target has no struct named sizes");
}

// ------------------------------------------------------------------------- type-based

const TB_TYPES: [(&str, &str); 7] = [
    ("struct", "tb_s"),
    ("union", "tb_u"),
    ("enum", "tb_e"),
    ("typedef", "tb_int"),
    ("typedef", "tb_s_t"),
    ("typedef", "tb_fn"),
    ("typedef", "tb_uint"),
];

#[test]
fn type_exists_matches_and_size() {
    let local = View::local();
    for v in [
        "type_based_match",
        "type_based_differ",
        "type_based_missing",
    ] {
        let view = View::open(v);
        let r = run("type_based", v, &pattern());
        for (i, (kind, name)) in TB_TYPES.into_iter().enumerate() {
            let compat = compatible_candidates(&local, &view, kind, name);
            let (_, lt) = local.exact(kind, name);
            let matches = view
                .candidates(kind, name)
                .into_iter()
                .any(|(_, t)| identical(&local, lt.clone(), &view, t, false));
            assert_eq!(
                r.out[i],
                u64::from(!compat.is_empty()),
                "{v}: {kind} {name} exists"
            );
            assert_eq!(
                r.out[7 + i],
                u64::from(matches),
                "{v}: {kind} {name} matches"
            );
        }
        for (i, (kind, name)) in [(14, ("struct", "tb_s")), (15, ("typedef", "tb_int"))] {
            let want = compatible_candidates(&local, &view, kind, name)
                .first()
                .map_or(0, |(_, t)| view.size(t));
            assert_eq!(r.out[i], want, "{v}: size of {kind} {name}");
        }
        // Not vacuous.
        match v {
            "type_based_match" => assert_eq!(r.out[..14], [1; 14]),
            "type_based_differ" => {
                assert_eq!(r.out[..7], [1, 1, 1, 1, 1, 0, 1]);
                assert_eq!(r.out[7..14], [0; 7]);
            }
            _ => assert_eq!(r.out[..16], [0; 16]),
        }
    }
}

#[test]
fn type_ids_local_and_target() {
    let local = View::local();
    for v in [
        "type_based_match",
        "type_based_differ",
        "type_based_missing",
    ] {
        let view = View::open(v);
        let r = run("type_id", v, &pattern());
        for (i, (kind, name)) in [
            ("struct", "tb_s"),
            ("typedef", "tb_int"),
            ("typedef", "tb_fn"),
        ]
        .into_iter()
        .enumerate()
        {
            let local_id = local.exact(kind, name).0;
            let target_id = compatible_candidates(&local, &view, kind, name)
                .first()
                .map_or(0, |c| c.0);
            assert_eq!(
                r.out[2 * i..2 * i + 2],
                [u64::from(local_id), u64::from(target_id)],
                "{v}: {kind} {name}"
            );
            if v == "type_based_match" {
                assert_ne!(target_id, 0);
            }
        }
    }
}

// ------------------------------------------------------------------------- enumerators

const ENUMVALS: [(&str, &str); 8] = [
    ("ev", "EV_A"),
    ("ev", "EV_B"),
    ("ev", "EV_C"),
    ("ev", "EV_BIG"),
    ("ev___old", "EV_GONE___old"),
    ("ev___old", "EV_C___old"),
    ("ev64", "EV64_A"),
    ("ev64", "EV64_B"),
];

#[test]
fn enum_values_and_existence() {
    for v in [
        "enumval_base",
        "enumval_kind",
        "enumval_signed",
        "enumval_missing",
    ] {
        let view = View::open(v);
        let r = run("enumval", v, &pattern());
        for (i, (e, name)) in ENUMVALS.into_iter().enumerate() {
            let value = view.enumerator(e, name);
            assert_eq!(r.out[i], u64::from(value.is_some()), "{v}: {name} exists");
            assert_eq!(
                r.out[8 + i],
                value.unwrap_or(MISSING),
                "{v}: value of {name}"
            );
        }
    }
    let val = |v, e, n| View::open(v).enumerator(e, n);
    assert_eq!(val("enumval_base", "ev", "EV_A"), Some(11));
    assert_eq!(val("enumval_base", "ev", "EV_B"), None);
    assert_eq!(
        val("enumval_kind", "ev", "EV_A"),
        Some(0x5_0000_0000),
        "enum64 now"
    );
    assert_eq!(val("enumval_signed", "ev", "EV_BIG"), Some(-5i64 as u64));
    assert_eq!(val("enumval_signed", "ev64", "EV64_A"), Some(-6i64 as u64));
}

#[test]
fn enum_values_unguarded_are_named() {
    let kind = CoreReloKind::EnumvalValue;
    let why = poisoned("enumval_unguarded", "enumval_base", kind, "enum ev::EV_B");
    assert!(why.contains("has no enumerator EV_B"), "{why}");
    let why = poisoned(
        "enumval_unguarded",
        "enumval_missing",
        kind,
        "enum ev::EV_B",
    );
    assert_eq!(why, "the target has no enum named ev");
}
