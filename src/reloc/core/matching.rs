//! Matching a local spec against one target candidate: `bpf_core_spec_match` and
//! `bpf_core_match_member`.

use crate::btf::{Btf, Kind};

use super::calc::{CalcFail, Work, MEMBER_WORK};
use super::compat::{
    essential_name_len, fields_are_compat, resolve, tail_is, types_are_compat, types_match, StrTab,
};
use super::spec::{is_flex_arr, mul_bits, Accessor, Spec};
use super::CoreReloKind;

/// Did the candidate match?
#[derive(Debug)]
pub(super) enum Match {
    Yes,
    No(NoMatch),
}

/// Why a candidate didn't match (kept for the poison reason; no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NoMatch {
    /// Type-based: `types_are_compat`/`types_match` said no.
    NotCompatible,
    /// Enumerator relocation: the candidate is not an enum.
    NotEnum,
    /// Enumerator relocation: no enumerator with that essential name.
    NoEnumerator,
    /// No member named like local accessor `acc` in target type `container`.
    FieldNotFound { acc: usize, container: u32 },
    /// The member exists but its type is incompatible.
    FieldIncompatible {
        acc: usize,
        container: u32,
        local_type: u32,
        target_type: u32,
    },
    /// Where a member is looked up, the target has `found`, not a struct/union.
    NotComposite { acc: usize, found: u32 },
    /// Where an index is applied, the target has `found`, not an array.
    NotArray { acc: usize, found: u32 },
    /// The index is past the target array's end.
    OutOfBounds { acc: usize, nelems: u32 },
}

/// Outcome of looking for one named member.
enum Member {
    /// Found; the member's type id.
    Found(u32),
    NotFound,
    /// Found by name but incompatible: (container, target member type).
    Incompatible(u32, u32),
}

/// `bpf_core_spec_match`: fills `targ` with the target's spec for candidate `targ_id`.
pub(super) fn spec_match<'a>(
    local: &Spec<'_>,
    targ_btf: &'a Btf,
    targ_id: u32,
    targ: &mut Spec<'a>,
) -> Result<Match, CalcFail> {
    let kind = local.kind;
    if kind.is_type_based() {
        let ok = if kind == CoreReloKind::TypeMatches {
            types_match(local.btf, local.root_type_id, targ_btf, targ_id)?
        } else {
            types_are_compat(local.btf, local.root_type_id, targ_btf, targ_id)?
        };
        return Ok(if ok {
            Match::Yes
        } else {
            Match::No(NoMatch::NotCompatible)
        });
    }

    if kind.is_enumval_based() {
        let t = resolve(targ_btf, targ_id)?;
        let tid = t.id;
        if !matches!(t.kind, Kind::Enum | Kind::Enum64) {
            return Ok(Match::No(NoMatch::NotEnum));
        }
        let lname = local.btf.str_bytes_at(local.acc[0].name_off)?;
        let lname = &lname[..essential_name_len(lname)];
        for (i, v) in t.enum_values().enumerate() {
            let tname = targ_btf.str_bytes_at(v.name_off)?;
            if essential_name_len(tname) == lname.len() && tname.starts_with(lname) {
                targ.push_acc(Accessor {
                    type_id: tid,
                    idx: i as u32,
                    name_off: v.name_off,
                    named: true,
                    ..Accessor::default()
                });
                targ.push_raw(i as u32);
                return Ok(Match::Yes);
            }
        }
        return Ok(Match::No(NoMatch::NoEnumerator));
    }

    let mut tid = targ_id;
    for i in 0..local.len {
        let lacc = &local.acc[i];
        let tt = resolve(targ_btf, tid)?;
        tid = tt.id;
        if lacc.named {
            if !tt.kind.is_composite() {
                return Ok(Match::No(NoMatch::NotComposite { acc: i, found: tid }));
            }
            let strs = StrTab::new(targ_btf);
            let lname = local.btf.str_bytes_at(lacc.name_off)?;
            match match_member(
                lname,
                lacc,
                local.btf,
                targ_btf,
                &strs,
                tid,
                targ,
                0,
                &mut Work::new(MEMBER_WORK),
            )? {
                Member::Found(next) => tid = next,
                Member::NotFound => {
                    return Ok(Match::No(NoMatch::FieldNotFound {
                        acc: i,
                        container: tid,
                    }))
                }
                Member::Incompatible(container, target_type) => {
                    let local_type = lacc.member_type;
                    return Ok(Match::No(NoMatch::FieldIncompatible {
                        acc: i,
                        container,
                        local_type,
                        target_type,
                    }));
                }
            }
        } else {
            // The root index applies to the candidate itself; later indexes need an array.
            if i > 0 {
                if tt.kind != Kind::Array {
                    return Ok(Match::No(NoMatch::NotArray { acc: i, found: tid }));
                }
                let a = tt.array()?;
                let flex = targ.len > 0 && is_flex_arr(targ_btf, &targ.acc[targ.len - 1], a.nelems);
                if !flex && lacc.idx >= a.nelems {
                    return Ok(Match::No(NoMatch::OutOfBounds {
                        acc: i,
                        nelems: a.nelems,
                    }));
                }
                tid = resolve(targ_btf, a.elem_type)?.id;
            }
            if !targ.push_raw(lacc.idx) {
                return Err(CalcFail::TooDeep);
            }
            targ.push_acc(Accessor {
                type_id: tid,
                idx: lacc.idx,
                ..Accessor::default()
            });
            let sz = targ_btf.resolve_size(tid)?;
            targ.bit_offset = mul_bits(lacc.idx, sz)
                .and_then(|b| b.checked_add(targ.bit_offset))
                .ok_or(CalcFail::TooDeep)?;
        }
    }
    Ok(Match::Yes)
}

/// `bpf_core_match_member`: finds the member named like `lacc` in target composite
/// `tid`, descending into anonymous members, and records the steps in `targ`.
#[allow(clippy::too_many_arguments)]
fn match_member<'a>(
    lname: &[u8],
    lacc: &Accessor,
    local: &Btf,
    targ_btf: &'a Btf,
    strs: &StrTab<'a>,
    tid: u32,
    targ: &mut Spec<'a>,
    depth: usize,
    work: &mut Work,
) -> Result<Member, CalcFail> {
    let tt = resolve(targ_btf, tid)?;
    let tid = tt.id;
    if !tt.kind.is_composite() {
        return Ok(Member::NotFound);
    }
    let mut incompatible = None;
    for (i, m) in tt.members().enumerate() {
        work.spend(1)?;
        // Too deep struct/union/array nesting (the spec holds 64 steps).
        if !targ.push_raw(i as u32) || depth >= super::spec::SPEC_MAX_LEN {
            return Err(CalcFail::TooDeep);
        }
        let saved = targ.bit_offset;
        targ.bit_offset = targ.bit_offset.saturating_add(u64::from(m.bit_offset));
        // Compare in place: most members differ in their first byte.
        let tname = strs.tail(m.name_off);
        if tname.first().map_or(true, |&c| c == 0) {
            // An embedded anonymous struct/union: look inside.
            match match_member(
                lname,
                lacc,
                local,
                targ_btf,
                strs,
                m.type_id,
                targ,
                depth + 1,
                work,
            )? {
                Member::Found(next) => return Ok(Member::Found(next)),
                Member::NotFound => {}
                Member::Incompatible(c, t) => incompatible = Some((c, t)),
            }
        } else if tail_is(tname, lname) {
            let acc = Accessor {
                type_id: tid,
                idx: i as u32,
                name_off: m.name_off,
                named: true,
                member_type: m.type_id,
                bitfield_size: m.bitfield_size,
            };
            if fields_are_compat(local, lacc.member_type, targ_btf, m.type_id)?
                && targ.push_acc(acc)
            {
                return Ok(Member::Found(m.type_id));
            }
            targ.bit_offset = saved;
            targ.raw_len -= 1;
            return Ok(Member::Incompatible(tid, m.type_id));
        }
        // Not this member.
        targ.bit_offset = saved;
        targ.raw_len -= 1;
    }
    Ok(match incompatible {
        Some((c, t)) => Member::Incompatible(c, t),
        None => Member::NotFound,
    })
}
