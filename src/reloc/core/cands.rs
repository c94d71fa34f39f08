//! Candidate search (`bpf_core_find_cands`/`bpf_core_add_cands`): which target types may
//! correspond to a local type.
//!
//! libbpf scans every type of the target once per local type. Here one pass serves all
//! the local types a search asks about; and when a target is searched a second time
//! (a loader relocating program after program), its named structs, unions, enums,
//! typedefs and forward declarations are bucketed once (by kind and first byte of the
//! name), after which each local type only compares names within one bucket. Other
//! kinds (ints, pointers, ...) are always found by a pass over the target.

use crate::btf::{Btf, Kind};

use super::compat::{self, StrTab};
use super::Targets;

/// A target type that may match a local type: which target BTF, which id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Candidate {
    /// 0 = vmlinux, i + 1 = module i.
    pub target: u32,
    pub id: u32,
}

/// Kinds that are bucketed: struct, union, enum (32- and 64-bit), typedef, fwd.
const GROUPS: usize = 5;

fn group(k: Kind) -> Option<usize> {
    Some(match k {
        Kind::Struct => 0,
        Kind::Union => 1,
        Kind::Enum | Kind::Enum64 => 2,
        Kind::Typedef => 3,
        Kind::Fwd => 4,
        _ => return None,
    })
}

/// One target's named types of the bucketed kinds: `(id, name_off)` by kind group and
/// first byte of the name, in id order.
pub(super) struct Buckets {
    buckets: Vec<Vec<(u32, u32)>>,
}

/// What the cache knows of one target. The first search scans the target (as cheap as
/// it gets for a one-off); a second search builds the buckets, which every later search
/// then uses instead of scanning.
#[derive(Default)]
pub(super) enum TargetIndex {
    #[default]
    Unsearched,
    Scanned,
    Bucketed(Buckets),
}

impl Buckets {
    fn build(btf: &Btf, start_id: u32) -> Self {
        let mut buckets = vec![Vec::new(); GROUPS * 256];
        let strs = StrTab::new(btf);
        each_type(btf, start_id, &mut |id, kind, name_off| {
            let Some(g) = group(kind) else { return };
            match strs.tail(name_off).first() {
                Some(&c) if c != 0 => buckets[g * 256 + usize::from(c)].push((id, name_off)),
                _ => {}
            }
        });
        Buckets { buckets }
    }

    fn bucket(&self, g: usize, first: u8) -> &[(u32, u32)] {
        self.buckets
            .get(g * 256 + usize::from(first))
            .map_or(&[], |b| b)
    }
}

/// A local type whose candidates are being searched.
struct Wanted<'l> {
    local_id: u32,
    kind: Kind,
    /// Name without its `___flavor`.
    ess: &'l [u8],
}

/// `bpf_core_find_cands` for several local types at once: target types with the same
/// essential name (flavors stripped on both sides) and a compatible kind, in id order;
/// vmlinux first, and module BTFs (their own types) only for local types vmlinux has no
/// candidate for. Anonymous or unreadable local types get no entry.
pub(super) fn search_candidates(
    local: &Btf,
    targets: &Targets<'_>,
    ids: &[u32],
    index: &mut [TargetIndex],
) -> Vec<(u32, Vec<Candidate>)> {
    let wanted: Vec<Wanted<'_>> = ids
        .iter()
        .filter_map(|&id| {
            let t = local.type_by_id(id).ok()?;
            let name = local.str_bytes_at(t.name_off).ok()?;
            let ess = &name[..compat::essential_name_len(name)];
            (!ess.is_empty()).then_some(Wanted {
                local_id: id,
                kind: t.kind,
                ess,
            })
        })
        .collect();
    let mut found: Vec<Vec<Candidate>> = vec![Vec::new(); wanted.len()];
    let all: Vec<usize> = (0..wanted.len()).collect();
    search_in(targets.vmlinux, 0, 1, &wanted, &all, &mut found, index);
    let rest: Vec<usize> = all.into_iter().filter(|&w| found[w].is_empty()).collect();
    if !rest.is_empty() {
        let start = targets.vmlinux.len();
        for (i, (_, btf)) in targets.modules.iter().enumerate() {
            search_in(btf, i as u32 + 1, start, &wanted, &rest, &mut found, index);
        }
    }
    wanted.iter().map(|w| w.local_id).zip(found).collect()
}

/// Candidates in one target BTF for the local types `which`.
fn search_in(
    btf: &Btf,
    target: u32,
    start_id: u32,
    wanted: &[Wanted<'_>],
    which: &[usize],
    found: &mut [Vec<Candidate>],
    index: &mut [TargetIndex],
) {
    let mut transient = TargetIndex::Unsearched;
    let slot = index.get_mut(target as usize).unwrap_or(&mut transient);
    if matches!(slot, TargetIndex::Scanned) {
        *slot = TargetIndex::Bucketed(Buckets::build(btf, start_id));
    }
    let TargetIndex::Bucketed(idx) = slot else {
        *slot = TargetIndex::Scanned;
        scan_target(btf, target, start_id, wanted, which, found);
        return;
    };
    let (bucketed, other): (Vec<usize>, Vec<usize>) = which
        .iter()
        .partition(|&&w| group(wanted[w].kind).is_some());
    let strs = StrTab::new(btf);
    for w in bucketed {
        let Some(g) = group(wanted[w].kind) else {
            continue;
        };
        let ess = wanted[w].ess;
        for &(id, name_off) in idx.bucket(g, ess[0]) {
            if is_flavor_of(strs.tail(name_off), ess) {
                found[w].push(Candidate { target, id });
            }
        }
    }
    if !other.is_empty() {
        scan_target(btf, target, start_id, wanted, &other, found);
    }
}

/// True if the name at the start of `tail` is `ess` or `ess` plus a `___flavor` suffix
/// (that is, its essential name is `ess`).
fn is_flavor_of(tail: &[u8], ess: &[u8]) -> bool {
    if tail.len() <= ess.len() {
        return false;
    }
    // The byte after the essential name decides most names of another length before
    // any comparison of the names themselves.
    let next = tail[ess.len()];
    if (next != 0 && next != b'_') || !tail.starts_with(ess) {
        return false;
    }
    match next {
        0 => true,
        b'_' => tail
            .iter()
            .position(|&c| c == 0)
            .is_some_and(|n| compat::essential_name_len(&tail[..n]) == ess.len()),
        _ => false,
    }
}

/// One pass over the types of `btf` from `start_id`: libbpf's `bpf_core_add_cands` for
/// all of `which` together. Kinds are filtered first, then the name's first byte, then
/// its prefix; only a name that starts like a wanted one is read in full.
fn scan_target(
    btf: &Btf,
    target: u32,
    start_id: u32,
    wanted: &[Wanted<'_>],
    which: &[usize],
    found: &mut [Vec<Candidate>],
) {
    let mut kinds: u32 = 0;
    let mut by_first: Vec<Vec<usize>> = vec![Vec::new(); 256];
    for &w in which {
        let k = wanted[w].kind;
        kinds |= 1 << (k as u8);
        if matches!(k, Kind::Enum | Kind::Enum64) {
            kinds |= (1 << (Kind::Enum as u8)) | (1 << (Kind::Enum64 as u8));
        }
        by_first[usize::from(wanted[w].ess[0])].push(w);
    }
    let strs = compat::StrTab::new(btf);
    each_type(btf, start_id, &mut |id, kind, name_off| {
        if kinds & (1 << (kind as u8)) == 0 {
            return;
        }
        let tail = strs.tail(name_off);
        let Some(&c) = tail.first() else { return };
        for &w in &by_first[usize::from(c)] {
            if is_flavor_of(tail, wanted[w].ess) && compat::kind_core_compat(kind, wanted[w].kind) {
                found[w].push(Candidate { target, id });
            }
        }
    });
}

/// Calls `f(id, kind, name_off)` for each type of `btf` (and its base) from `from_id`,
/// reading the records' headers directly: this is the hot loop of candidate search.
pub(super) fn each_type(btf: &Btf, from_id: u32, f: &mut impl FnMut(u32, Kind, u32)) {
    if from_id < btf.start_id() {
        if let Some(base) = btf.base() {
            each_type(base, from_id, f);
        }
    }
    let raw = btf.raw();
    for id in from_id.max(btf.start_id())..btf.len() {
        let Some(off) = btf.type_offset(id) else {
            continue;
        };
        let Some(h) = raw.get(off..off + 8) else {
            continue;
        };
        let name_off = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let Some(kind) = Kind::from_raw(u32::from(h[7] & 0x1f)) else {
            continue;
        };
        f(id, kind, name_off);
    }
}
