//! CO-RE ("compile once, run everywhere") relocation: the pure engine.
//!
//! clang records, for every instruction that depends on a kernel type's layout, a
//! [`CoreRelo`]: the local (program) BTF type, an access string such as `"0:1:2"` and a
//! relocation kind. [`relocate`] matches each record against the target BTF (vmlinux and,
//! when vmlinux has no candidate, module BTFs) and patches the instruction: an offset,
//! an immediate, a load/store size, or — when the relocation can't be satisfied —
//! the instruction is "poisoned" into `call 0xbad2310` so the verifier rejects it only
//! if it is reachable.
//!
//! The semantics are libbpf's (`relo_core.c`: `bpf_core_parse_spec`, `bpf_core_spec_match`,
//! `bpf_core_fields_are_compat`, `bpf_core_types_are_compat`, `bpf_core_types_match`,
//! `bpf_core_calc_field_relo`, `bpf_core_patch_insn`), in cilium/ebpf's shape: a pure
//! function of (local BTF, target BTFs, instructions, records) returning patched
//! instructions and a typed account of each decision, never touching the kernel.
//!
//! Where this module deliberately differs from libbpf, it says so in the item's
//! documentation (see [`relocate`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::btf::ext::CoreRelo;
use crate::btf::{Btf, BtfError, Kind, Type};
use crate::insn::Insn;

mod calc;
mod cands;
mod compat;
mod matching;
mod patch;
mod spec;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_arrload;
#[cfg(test)]
mod tests_kernel;
#[cfg(test)]
mod tests_synthetic;
#[cfg(test)]
mod tests_types;

use calc::{calc_relo, CalcFail, RelRes};
use cands::{search_candidates, Candidate, TargetIndex};
use matching::{spec_match, Match, NoMatch};
use spec::{parse_spec, Spec};

pub use patch::POISON_HELPER;

/// `bpf_core_relo_kind`: what aspect of a field, type or enumerator a record relocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum CoreReloKind {
    /// Byte offset of a field (of the containing load for bitfields).
    FieldByteOffset = 0,
    /// Byte size of a field (of the load for bitfields).
    FieldByteSize = 1,
    /// 1 if the field exists in the target, else 0.
    FieldExists = 2,
    /// 1 if the field is a signed integer or signed enum.
    FieldSigned = 3,
    /// Left shift to apply to a loaded bitfield (little endian).
    FieldLShiftU64 = 4,
    /// Right shift to apply to a loaded bitfield.
    FieldRShiftU64 = 5,
    /// The type's id in the local (program) BTF.
    TypeIdLocal = 6,
    /// The matching type's id in the target BTF (0 if none).
    TypeIdTarget = 7,
    /// 1 if a compatible type exists in the target.
    TypeExists = 8,
    /// Size of the matching target type (0 if none).
    TypeSize = 9,
    /// 1 if the enumerator exists in the target.
    EnumvalExists = 10,
    /// The enumerator's value in the target.
    EnumvalValue = 11,
    /// 1 if a target type matches (`bpf_core_types_match`).
    TypeMatches = 12,
}

impl CoreReloKind {
    /// Converts the raw `kind` of a record.
    pub fn from_u32(v: u32) -> Option<CoreReloKind> {
        use CoreReloKind::*;
        Some(match v {
            0 => FieldByteOffset,
            1 => FieldByteSize,
            2 => FieldExists,
            3 => FieldSigned,
            4 => FieldLShiftU64,
            5 => FieldRShiftU64,
            6 => TypeIdLocal,
            7 => TypeIdTarget,
            8 => TypeExists,
            9 => TypeSize,
            10 => EnumvalExists,
            11 => EnumvalValue,
            12 => TypeMatches,
            _ => return None,
        })
    }

    /// libbpf's short name of the kind (`byte_off`, `field_exists`, `enumval_value`, ...).
    pub fn name(self) -> &'static str {
        use CoreReloKind::*;
        match self {
            FieldByteOffset => "byte_off",
            FieldByteSize => "byte_sz",
            FieldExists => "field_exists",
            FieldSigned => "signed",
            FieldLShiftU64 => "lshift_u64",
            FieldRShiftU64 => "rshift_u64",
            TypeIdLocal => "local_type_id",
            TypeIdTarget => "target_type_id",
            TypeExists => "type_exists",
            TypeSize => "type_size",
            EnumvalExists => "enumval_exists",
            EnumvalValue => "enumval_value",
            TypeMatches => "type_matches",
        }
    }

    /// Field-based kinds: the access string walks members and array elements.
    pub fn is_field_based(self) -> bool {
        (self as u32) <= 5
    }

    /// Type-based kinds: the access string is `"0"`.
    pub fn is_type_based(self) -> bool {
        matches!(
            self,
            CoreReloKind::TypeIdLocal
                | CoreReloKind::TypeIdTarget
                | CoreReloKind::TypeExists
                | CoreReloKind::TypeSize
                | CoreReloKind::TypeMatches
        )
    }

    /// Enumerator-based kinds: the access string is the enumerator's index.
    pub fn is_enumval_based(self) -> bool {
        matches!(
            self,
            CoreReloKind::EnumvalExists | CoreReloKind::EnumvalValue
        )
    }

    /// Kinds whose "not found" answer is a value (0), not a poisoned instruction.
    pub fn is_existence(self) -> bool {
        matches!(
            self,
            CoreReloKind::FieldExists
                | CoreReloKind::TypeExists
                | CoreReloKind::EnumvalExists
                | CoreReloKind::TypeMatches
        )
    }
}

impl fmt::Display for CoreReloKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The BTF a program is relocated against: vmlinux, and module BTFs split on it.
///
/// Candidates are searched as libbpf does: in vmlinux first; module BTFs (their own
/// types only, all modules together) only when vmlinux has no candidate at all.
#[derive(Clone, Copy, Debug)]
pub struct Targets<'a> {
    /// The kernel's BTF (`/sys/kernel/btf/vmlinux`) or a stand-in.
    pub vmlinux: &'a Btf,
    /// Module BTFs (split on `vmlinux`), with the module's name.
    pub modules: &'a [(String, &'a Btf)],
}

impl<'a> Targets<'a> {
    /// Only vmlinux, no modules.
    pub fn vmlinux(vmlinux: &'a Btf) -> Self {
        Targets {
            vmlinux,
            modules: &[],
        }
    }

    /// vmlinux and module BTFs.
    pub fn with_modules(vmlinux: &'a Btf, modules: &'a [(String, &'a Btf)]) -> Self {
        Targets { vmlinux, modules }
    }

    /// The BTF of target index `t` (0 = vmlinux, i + 1 = module i).
    fn btf(&self, t: u32) -> Option<&'a Btf> {
        if t == 0 {
            Some(self.vmlinux)
        } else {
            self.modules.get(t as usize - 1).map(|m| m.1)
        }
    }
}

/// Which target type a relocation resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRef {
    /// `None` for vmlinux, else the module's name.
    pub module: Option<Arc<str>>,
    /// Type id in that BTF (module ids continue vmlinux's).
    pub type_id: u32,
}

impl fmt::Display for TargetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.module {
            None => write!(f, "vmlinux [{}]", self.type_id),
            Some(m) => write!(f, "module {m} [{}]", self.type_id),
        }
    }
}

/// What happened to the relocated instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The instruction now carries `new`; `old` is the value the local BTF gives
    /// (what clang compiled in; checked against the instruction where libbpf checks it).
    Patched {
        /// Local value.
        old: u64,
        /// Target value now in the instruction.
        new: u64,
    },
    /// The instruction became `call 0xbad2310` (both slots for `ld_imm64`): the verifier
    /// rejects the program only if it is reachable ("invalid func unknown#195896080").
    Poisoned {
        /// Why, in words.
        reason: String,
    },
}

/// The decision for one relocation record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelocResult {
    /// Instruction index (within the program).
    pub insn: usize,
    /// Relocation kind.
    pub kind: CoreReloKind,
    /// The access in words: `struct task_struct.__state`, `struct sk_buff.cb[3]`,
    /// `enum foo::BAR`, `struct file`.
    pub local: String,
    /// Patched or poisoned.
    pub outcome: Outcome,
    /// The target type the decision came from (`None` when nothing matched, and for
    /// `TYPE_ID_LOCAL`, which never looks at the target).
    pub target: Option<TargetRef>,
    /// Load/store size rewrite `(old bytes, new bytes)` when the field's size changed.
    pub mem_size: Option<(u32, u32)>,
}

/// Program-independent facts of a failed relocation: the caller adds the program name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelocCtx {
    /// Instruction index.
    pub insn: usize,
    /// Relocation kind.
    pub kind: CoreReloKind,
    /// The access in words.
    pub local: String,
}

impl fmt::Display for RelocCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CO-RE relocation <{}> of {} at insn #{}",
            self.kind, self.local, self.insn
        )
    }
}

/// Which values candidates disagreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disagreement {
    /// The field's bit offset (libbpf: "field offset ambiguity").
    BitOffset,
    /// The relocated value (libbpf: "relocation decision ambiguity").
    Value,
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Disagreement::BitOffset => "field bit offset",
            Disagreement::Value => "relocated value",
        })
    }
}

/// Hard CO-RE errors (libbpf fails the load for these; nothing is poisoned).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The record's kind is not one of [`CoreReloKind`].
    #[error("CO-RE relocation at insn #{insn}: unknown relocation kind {kind}")]
    UnknownKind {
        /// Instruction index.
        insn: usize,
        /// Raw kind.
        kind: u32,
    },
    /// The record's type id is not in the local BTF.
    #[error("CO-RE relocation <{kind}> at insn #{insn}: local type id {type_id} does not exist")]
    LocalTypeOutOfRange {
        /// Instruction index.
        insn: usize,
        /// Kind.
        kind: CoreReloKind,
        /// The type id.
        type_id: u32,
    },
    /// The instruction index is past the program's end.
    #[error("{ctx}: instruction index out of range (the program has {len} instructions)")]
    InsnOutOfRange {
        /// Context.
        ctx: RelocCtx,
        /// Program length in instructions.
        len: usize,
    },
    /// The access string is malformed or does not fit the local type.
    #[error("{ctx}: invalid access string {access:?}: {reason}")]
    BadAccess {
        /// Context.
        ctx: RelocCtx,
        /// The access string as recorded.
        access: String,
        /// What is wrong.
        reason: String,
    },
    /// Candidate search needs a name.
    #[error("{ctx}: relocations of anonymous types are not supported")]
    AnonymousType {
        /// Context.
        ctx: RelocCtx,
    },
    /// A field relocation kind other than offset/size/exists on an array element.
    #[error("{ctx}: this kind can't be applied to an array element access")]
    ArrayAccess {
        /// Context.
        ctx: RelocCtx,
    },
    /// A bitfield that no single load of 8 bytes or fewer covers.
    #[error("{ctx}: the {side} bitfield at bit offset {bit_offset} ({bit_size} bits) can't be read with a 64-bit load")]
    BitfieldTooBig {
        /// Context.
        ctx: RelocCtx,
        /// "local" or "target".
        side: &'static str,
        /// Bit offset of the bitfield.
        bit_offset: u64,
        /// Width in bits.
        bit_size: u32,
    },
    /// The target nests deeper than a spec can describe (64 levels, as libbpf).
    #[error("{ctx}: the target's {target} nests struct/union/array members too deep")]
    TooDeep {
        /// Context.
        ctx: RelocCtx,
        /// The candidate.
        target: TargetRef,
    },
    /// Matching candidates disagree.
    #[error("{ctx}: ambiguous: target candidates {first} ({what} {first_value}) and {second} ({what} {second_value}) disagree")]
    Ambiguous {
        /// Context.
        ctx: RelocCtx,
        /// First matching candidate, in words (`vmlinux [12] struct foo`).
        first: String,
        /// Its value.
        first_value: u64,
        /// The disagreeing candidate.
        second: String,
        /// Its value.
        second_value: u64,
        /// What they disagree on.
        what: Disagreement,
    },
    /// The instruction does not carry the value the local BTF says clang put there
    /// (libbpf: "unexpected insn #N value").
    #[error(
        "{ctx}: unexpected {class} instruction value: got {got}, expected {expected} (-> {new})"
    )]
    UnexpectedValue {
        /// Context.
        ctx: RelocCtx,
        /// Instruction class in words (`ALU/ALU64`, `LDX/ST/STX`, `LDIMM64`).
        class: &'static str,
        /// Value found.
        got: u64,
        /// Local value expected.
        expected: u64,
        /// Target value that would have been written.
        new: u64,
    },
    /// The instruction is not of a kind CO-RE can patch.
    #[error("{ctx}: can't patch instruction (code {code:#04x}): {reason}")]
    NotPatchable {
        /// Context.
        ctx: RelocCtx,
        /// Opcode.
        code: u8,
        /// Why.
        reason: &'static str,
    },
    /// The relocated value doesn't fit the instruction field.
    #[error("{ctx}: relocated value {value} doesn't fit the instruction's {field}")]
    ValueTooBig {
        /// Context.
        ctx: RelocCtx,
        /// The value.
        value: u64,
        /// `off` (s16) or `imm` (32 bits).
        field: &'static str,
    },
    /// Load/store size rewrite impossible (libbpf: "unexpected mem size" / "invalid new mem size").
    #[error("{ctx}: {reason}")]
    MemSize {
        /// Context.
        ctx: RelocCtx,
        /// What is wrong.
        reason: String,
    },
    /// The local or a target BTF is malformed where the relocation needs it.
    #[error("{ctx}: the BTF it needs is invalid")]
    Btf {
        /// Context.
        ctx: RelocCtx,
        /// The BTF error.
        #[source]
        source: BtfError,
    },
}

impl CoreError {
    /// The program-independent context, when the error has one.
    pub fn ctx(&self) -> Option<&RelocCtx> {
        use CoreError::*;
        match self {
            UnknownKind { .. } | LocalTypeOutOfRange { .. } => None,
            InsnOutOfRange { ctx, .. }
            | BadAccess { ctx, .. }
            | AnonymousType { ctx }
            | ArrayAccess { ctx }
            | BitfieldTooBig { ctx, .. }
            | TooDeep { ctx, .. }
            | Ambiguous { ctx, .. }
            | UnexpectedValue { ctx, .. }
            | NotPatchable { ctx, .. }
            | ValueTooBig { ctx, .. }
            | MemSize { ctx, .. }
            | Btf { ctx, .. } => Some(ctx),
        }
    }
}

/// Which BTF a cache was filled against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BtfId {
    addr: usize,
    types: u32,
    bytes: usize,
}

impl BtfId {
    fn of(btf: &Btf) -> Self {
        BtfId {
            addr: btf as *const Btf as usize,
            types: btf.len(),
            bytes: btf.raw().len(),
        }
    }
}

/// Candidate target types per local type id, reusable across the programs of one object
/// (and across [`relocate`] calls) as long as the [`Targets`] stay the same; a cache
/// handed different targets empties itself.
///
/// As in libbpf, a type's candidate list is narrowed to the candidates that matched
/// each relocation that had at least one match.
#[derive(Default)]
pub struct CandidateCache {
    /// Identity of the targets the cache was filled against (address, type count and
    /// size of each BTF) and their names.
    bound: Vec<(BtfId, Arc<str>)>,
    cands: HashMap<u32, Vec<Candidate>>,
    /// Per target (same order as `bound`): whether it was scanned, or its named types
    /// bucketed for fast lookup (built on the second search in that target).
    index: Vec<TargetIndex>,
}

impl fmt::Debug for CandidateCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CandidateCache")
            .field("types", &self.cands.len())
            .field("targets", &self.bound.len())
            .finish()
    }
}

impl CandidateCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of local types whose candidates are cached.
    pub fn len(&self) -> usize {
        self.cands.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.cands.is_empty()
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.bound.clear();
        self.cands.clear();
        self.index.clear();
    }

    /// Cached candidate `(module name or None, type id)` pairs of a local type.
    pub fn candidates(&self, local_type_id: u32) -> Option<Vec<TargetRef>> {
        self.cands
            .get(&local_type_id)
            .map(|v| v.iter().map(|c| self.target_ref(*c)).collect())
    }

    fn bind(&mut self, targets: &Targets<'_>) {
        let same = self.bound.len() == targets.modules.len() + 1
            && self.bound[0].0 == BtfId::of(targets.vmlinux)
            && self.bound[1..]
                .iter()
                .zip(targets.modules)
                .all(|(b, m)| b.0 == BtfId::of(m.1) && *b.1 == *m.0);
        if same {
            return;
        }
        self.clear();
        self.bound
            .push((BtfId::of(targets.vmlinux), Arc::from("vmlinux")));
        for (name, btf) in targets.modules {
            self.bound.push((BtfId::of(btf), Arc::from(name.as_str())));
        }
        self.index = (0..self.bound.len())
            .map(|_| TargetIndex::default())
            .collect();
    }

    /// Finds the candidates of every local type that `relos` relocate and that aren't
    /// cached yet, in one pass over each target BTF. [`relocate`] does this for its own
    /// records; a loader that calls this once with all of an object's records first
    /// scans each target once per object instead of once per program.
    pub fn prefetch<'r>(
        &mut self,
        local: &Btf,
        targets: &Targets<'_>,
        relos: impl IntoIterator<Item = &'r CoreRelo>,
    ) {
        self.bind(targets);
        let mut pending: Vec<u32> = Vec::new();
        for r in relos {
            if r.kind == CoreReloKind::TypeIdLocal as u32
                || CoreReloKind::from_u32(r.kind).is_none()
                || self.cands.contains_key(&r.type_id)
            {
                continue;
            }
            pending.push(r.type_id);
        }
        if pending.is_empty() {
            return;
        }
        pending.sort_unstable();
        pending.dedup();
        for (id, found) in search_candidates(local, targets, &pending, &mut self.index) {
            self.cands.insert(id, found);
        }
    }

    /// Whether the last search found any candidate (a target type with the same kind and
    /// essential name) for local type `local_id`, whether or not it then matched. A
    /// loader asks this before falling back to module BTFs, which libbpf searches only
    /// for types vmlinux lacks entirely.
    pub fn has_candidates(&self, local_id: u32) -> bool {
        self.cands.get(&local_id).is_some_and(|c| !c.is_empty())
    }

    fn target_ref(&self, c: Candidate) -> TargetRef {
        TargetRef {
            module: if c.target == 0 {
                None
            } else {
                self.bound.get(c.target as usize).map(|b| b.1.clone())
            },
            type_id: c.id,
        }
    }
}

/// libbpf's `bpf_core_types_are_compat`: names are ignored below the root; structs,
/// unions, enums and forward declarations are compatible with their own kind (enum with
/// enum64); integers with integers (not bit-offset ones); pointers and arrays if what
/// they refer to is; function prototypes if they have as many parameters and every
/// parameter and the return type are. Invalid BTF or too deep a comparison mean "no".
/// The rule behind TYPE_EXISTS, TYPE_SIZE, TYPE_ID_TARGET and kfunc prototype checks.
pub fn types_are_compat(local: &Btf, local_id: u32, targ: &Btf, targ_id: u32) -> bool {
    compat::types_are_compat(local, local_id, targ, targ_id).unwrap_or(false)
}

/// Length of `name` without its `___flavor` suffix (libbpf's
/// `bpf_core_essential_name_len`): the separator is the last `X___Y` with X and Y not
/// underscores.
pub fn essential_name_len(name: &str) -> usize {
    compat::essential_name_len(name.as_bytes())
}

/// Applies CO-RE relocation records to one program's instructions.
///
/// `relos[i].insn_off` must be an instruction index within `insns` (the object layer
/// converts the file's byte offsets). Returns one [`RelocResult`] per record, in order.
/// On error the instructions may be partly patched; the program must not be loaded
/// (libbpf fails the load too).
///
/// Deliberate differences from libbpf:
/// - access strings must be decimal indexes separated by single colons (libbpf's
///   `sscanf("%d")` also takes signs and blanks, and then indexes arrays with them);
/// - values of unsigned 32-bit enums are zero-extended, as clang compiles them (libbpf
///   sign-extends every 32-bit enumerator and then rejects clang's `ld_imm64`);
/// - an ALU immediate that doesn't fit in 32 bits is an error, not silently truncated;
/// - candidates of all the local types a call (or [`CandidateCache::prefetch`]) needs are
///   found in one pass over each target BTF, not one pass per local type;
/// - matching gives up with [`CoreError::TooDeep`] after a bounded amount of work on
///   hostile BTF (libbpf can take exponential time there).
pub fn relocate(
    local: &Btf,
    targets: &Targets<'_>,
    insns: &mut [Insn],
    relos: &[CoreRelo],
    cache: &mut CandidateCache,
) -> Result<Vec<RelocResult>, CoreError> {
    cache.prefetch(local, targets, relos);
    let mut out = Vec::with_capacity(relos.len());
    // Specs are large (64 steps): two scratch ones serve every record and candidate.
    let mut lspec = Spec::new(local, 0, CoreReloKind::FieldByteOffset);
    let mut tspec = Spec::new(targets.vmlinux, 0, CoreReloKind::FieldByteOffset);
    for relo in relos {
        out.push(relocate_one(
            local, targets, insns, relo, cache, &mut lspec, &mut tspec,
        )?);
    }
    Ok(out)
}

/// One record.
#[allow(clippy::too_many_arguments)]
fn relocate_one<'l, 't>(
    local: &'l Btf,
    targets: &Targets<'t>,
    insns: &mut [Insn],
    relo: &CoreRelo,
    cache: &mut CandidateCache,
    local_spec: &mut Spec<'l>,
    cand_spec: &mut Spec<'t>,
) -> Result<RelocResult, CoreError> {
    let insn = relo.insn_off as usize;
    let kind = CoreReloKind::from_u32(relo.kind).ok_or(CoreError::UnknownKind {
        insn,
        kind: relo.kind,
    })?;
    let local_t = local
        .type_by_id(relo.type_id)
        .map_err(|_| CoreError::LocalTypeOutOfRange {
            insn,
            kind,
            type_id: relo.type_id,
        })?;
    let root_ctx = || RelocCtx {
        insn,
        kind,
        local: describe_type(local, &local_t),
    };
    if insn >= insns.len() {
        return Err(CoreError::InsnOutOfRange {
            ctx: root_ctx(),
            len: insns.len(),
        });
    }
    let access = local
        .str_bytes_at(relo.access_str_off)
        .map_err(|e| CoreError::BadAccess {
            ctx: root_ctx(),
            access: String::new(),
            reason: e.to_string(),
        })?;
    parse_spec(local, relo.type_id, access, kind, local_spec).map_err(|reason| {
        CoreError::BadAccess {
            ctx: root_ctx(),
            access: String::from_utf8_lossy(access).into_owned(),
            reason,
        }
    })?;
    let local_spec: &Spec<'l> = local_spec;
    let ctx = RelocCtx {
        insn,
        kind,
        local: local_spec.describe(),
    };

    // TYPE_ID_LOCAL never looks at the target; its value may change at link time, so
    // libbpf doesn't validate it.
    if kind == CoreReloKind::TypeIdLocal {
        let res = RelRes {
            orig_val: u64::from(relo.type_id),
            new_val: u64::from(relo.type_id),
            validate: false,
            ..RelRes::default()
        };
        let outcome = patch::patch_insn(insns, insn, &res, &ctx, String::new)?;
        return Ok(RelocResult {
            insn,
            kind,
            local: ctx.local,
            outcome,
            target: None,
            mem_size: None,
        });
    }

    if local
        .str_bytes_at(local_t.name_off)
        .map(|n| n.is_empty())
        .unwrap_or(true)
    {
        return Err(CoreError::AnonymousType { ctx });
    }

    let CandidateCache {
        cands,
        bound,
        index,
    } = cache;
    let list = match cands.entry(relo.type_id) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            let found = search_candidates(local, targets, &[relo.type_id], index)
                .pop()
                .map(|f| f.1);
            e.insert(found.unwrap_or_default())
        }
    };
    let cand_ref = |c: Candidate| TargetRef {
        module: if c.target == 0 {
            None
        } else {
            bound.get(c.target as usize).map(|b| b.1.clone())
        },
        type_id: c.id,
    };

    // The first matching candidate, its field bit offset and result.
    let mut best: Option<(Candidate, u64, RelRes)> = None;
    let mut first_miss: Option<(Candidate, NoMatch)> = None;
    let mut kept = 0usize;
    for i in 0..list.len() {
        let cand = list[i];
        let Some(tbtf) = targets.btf(cand.target) else {
            continue;
        };
        cand_spec.reset(tbtf, cand.id, kind);
        match spec_match(local_spec, tbtf, cand.id, cand_spec) {
            Err(e) => return Err(fail_to_error(e, &ctx, cand_ref(cand))),
            Ok(Match::No(why)) => {
                log::trace!("{ctx}: candidate {} doesn't match: {why:?}", cand_ref(cand));
                if first_miss.is_none() {
                    first_miss = Some((cand, why));
                }
                continue;
            }
            Ok(Match::Yes) => {}
        }
        let res = calc_relo(kind, local_spec, Some(cand_spec))
            .map_err(|e| fail_to_error(e, &ctx, cand_ref(cand)))?;
        match &best {
            None => best = Some((cand, cand_spec.bit_offset, res)),
            Some((bc, bbits, bres)) => {
                let what = if cand_spec.bit_offset != *bbits {
                    Some((Disagreement::BitOffset, *bbits, cand_spec.bit_offset))
                } else if res.poison != bres.poison || res.new_val != bres.new_val {
                    Some((Disagreement::Value, bres.new_val, res.new_val))
                } else {
                    None
                };
                if let Some((what, a, b)) = what {
                    return Err(CoreError::Ambiguous {
                        first: describe_candidate(targets, cand_ref(*bc), *bc),
                        first_value: a,
                        second: describe_candidate(targets, cand_ref(cand), cand),
                        second_value: b,
                        what,
                        ctx,
                    });
                }
            }
        }
        list[kept] = cand;
        kept += 1;
    }
    // Like libbpf, later relocations of this type only consider candidates that matched
    // this one, unless none did (an existence check may legitimately find nothing).
    if kept > 0 {
        list.truncate(kept);
    }

    let (res, target) = match &best {
        Some((c, _, res)) => (*res, Some(cand_ref(*c))),
        None => {
            let res = calc_relo(kind, local_spec, None).map_err(|e| {
                fail_to_error(
                    e,
                    &ctx,
                    TargetRef {
                        module: None,
                        type_id: 0,
                    },
                )
            })?;
            (res, None)
        }
    };
    let reason = || {
        if best.is_none() {
            poison_reason(local_spec, targets, first_miss, &cand_ref)
        } else {
            let what = if res.array_elems {
                "is an array whose elements changed size"
            } else {
                "changed size"
            };
            let kinds = if res.array_elems {
                "only pointer and unsigned integer fields are resized, not arrays"
            } else {
                "it is neither a pointer nor an unsigned integer"
            };
            format!(
                "{} {what} from {} to {} bytes, and {kinds}, so the load/store can't be resized",
                ctx.local, res.orig_sz, res.new_sz
            )
        }
    };
    let outcome = patch::patch_insn(insns, insn, &res, &ctx, reason)?;
    let mem_size = match outcome {
        Outcome::Patched { .. } if res.orig_sz != res.new_sz && insn_is_mem(insns[insn]) => {
            Some((res.orig_sz, res.new_sz))
        }
        _ => None,
    };
    log::debug!("{ctx}: {outcome:?}");
    Ok(RelocResult {
        insn,
        kind,
        local: ctx.local,
        outcome,
        target,
        mem_size,
    })
}

fn insn_is_mem(i: Insn) -> bool {
    use crate::insn::class;
    matches!(i.class(), class::LDX | class::ST | class::STX)
}

/// Turns an internal failure into the public error.
fn fail_to_error(e: CalcFail, ctx: &RelocCtx, target: TargetRef) -> CoreError {
    let ctx = ctx.clone();
    match e {
        CalcFail::Btf(source) => CoreError::Btf { ctx, source },
        CalcFail::TooDeep => CoreError::TooDeep { ctx, target },
        CalcFail::ArrayAccess => CoreError::ArrayAccess { ctx },
        CalcFail::BitfieldTooBig {
            local,
            bit_offset,
            bit_size,
        } => CoreError::BitfieldTooBig {
            ctx,
            side: if local { "local" } else { "target" },
            bit_offset,
            bit_size,
        },
    }
}

/// `struct foo`, `union <anon>`, `typedef foo_t`, `enum bar`.
pub(crate) fn describe_type(btf: &Btf, t: &Type<'_>) -> String {
    let mut s = String::with_capacity(32);
    push_type(&mut s, btf, t);
    s
}

/// Appends `struct foo` (see [`describe_type`]) to `s`.
fn push_type(s: &mut String, btf: &Btf, t: &Type<'_>) {
    s.push_str(kind_word(t.kind));
    s.push(' ');
    match btf.str_bytes_at(t.name_off) {
        Ok(n) if !n.is_empty() => s.push_str(&String::from_utf8_lossy(n)),
        _ => s.push_str("<anon>"),
    }
}

/// The C-ish word for a kind (`enum` for enum64 too).
fn kind_word(k: Kind) -> &'static str {
    match k {
        Kind::Enum64 => "enum",
        k => k.name(),
    }
}

fn describe_candidate(targets: &Targets<'_>, r: TargetRef, c: Candidate) -> String {
    let what = targets
        .btf(c.target)
        .and_then(|b| b.type_by_id(c.id).ok().map(|t| describe_type(b, &t)))
        .unwrap_or_default();
    format!("{r} {what}")
}

/// Why a relocation found nothing, in words.
fn poison_reason(
    local_spec: &Spec<'_>,
    targets: &Targets<'_>,
    miss: Option<(Candidate, NoMatch)>,
    cand_ref: &dyn Fn(Candidate) -> TargetRef,
) -> String {
    let lbtf = local_spec.btf;
    let Some((cand, why)) = miss else {
        let root = lbtf.type_by_id(local_spec.root_type_id).ok();
        let name = root
            .as_ref()
            .and_then(|t| lbtf.str_bytes_at(t.name_off).ok())
            .unwrap_or(b"");
        let ess = &name[..compat::essential_name_len(name)];
        let kind = root.map(|t| kind_word(t.kind)).unwrap_or("type");
        let modules = if targets.modules.is_empty() {
            String::new()
        } else {
            format!(" (nor do its {} module BTFs)", targets.modules.len())
        };
        return format!(
            "the target has no {kind} named {}{modules}",
            String::from_utf8_lossy(ess)
        );
    };
    let tbtf = targets.btf(cand.target).unwrap_or(targets.vmlinux);
    let tdesc = |id: u32| {
        tbtf.type_by_id(id)
            .map(|t| describe_type(tbtf, &t))
            .unwrap_or_else(|_| format!("type [{id}]"))
    };
    let ldesc = |id: u32| {
        lbtf.type_by_id(id)
            .map(|t| describe_type(lbtf, &t))
            .unwrap_or_else(|_| format!("type [{id}]"))
    };
    let where_ = cand_ref(cand);
    let acc_name = |i: usize| local_spec.acc_name(i);
    match why {
        NoMatch::NotCompatible => format!(
            "{} of the target is not compatible with the local type",
            tdesc(cand.id)
        ),
        NoMatch::NotEnum => format!("{} ({where_}) is not an enum", tdesc(cand.id)),
        NoMatch::NoEnumerator => format!(
            "{} of the target ({where_}) has no enumerator {}",
            tdesc(cand.id),
            acc_name(0)
        ),
        NoMatch::FieldNotFound { acc, container } => format!(
            "no field {} in {} of the target ({where_})",
            acc_name(acc),
            tdesc(container)
        ),
        NoMatch::FieldIncompatible {
            acc,
            container,
            local_type,
            target_type,
        } => format!(
            "field {} of {} has an incompatible type in the target ({where_}): {} locally, {} in the target",
            acc_name(acc),
            tdesc(container),
            ldesc(local_type),
            tdesc(target_type)
        ),
        NoMatch::NotComposite { acc, found } => format!(
            "the target ({where_}) has {} where the local type has a struct or union holding field {}",
            tdesc(found),
            acc_name(acc)
        ),
        NoMatch::NotArray { acc, found } => format!(
            "the target ({where_}) has {} where the local type has an array (index {})",
            tdesc(found),
            local_spec.acc[acc].idx
        ),
        NoMatch::OutOfBounds { acc, nelems } => format!(
            "index {} is out of bounds of the target's array of {} elements ({where_})",
            local_spec.acc[acc].idx, nelems
        ),
    }
}
