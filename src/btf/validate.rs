//! Checks of a BTF blob from outside: a target BTF file given with `--btf` or
//! [`Loader::target_btf`](crate::Loader::target_btf), which the kernel never sees, and
//! an object's `.BTF`, before this crate reads map definitions and CO-RE records through
//! it. Every name must lie in the string table, every referenced type must exist, every
//! member of a struct or union must lie within its size, and no chain of pointers,
//! modifiers, typedefs and array elements may come back to where it started.

use super::{Btf, BtfError, Kind};

/// Checks every type of `btf`; the error names the first bad type and what is wrong.
///
/// # Examples
///
/// ```no_run
/// let btf = corebpf::btf::kernel::load_btf_file("/tmp/target.btf".as_ref())?;
/// corebpf::btf::validate::validate(&btf)?;
/// # Ok::<(), corebpf::btf::BtfError>(())
/// ```
pub fn validate(btf: &Btf) -> Result<(), BtfError> {
    // Valid ids are `0..len()` (void, the base's, this blob's).
    let last = btf.len();
    for t in btf.types() {
        let bad = |reason: String| BtfError::BadType { id: t.id, reason };
        if btf.str_at(t.name_off).is_err() {
            return Err(bad(format!(
                "name offset {} lies outside the string table",
                t.name_off
            )));
        }
        // Every type id the type refers to (0 is void where C allows it), and what.
        let missing = |what: String, id: u32| {
            (id >= last).then(|| bad(format!("{what}: type id {id} does not exist")))
        };
        match t.kind {
            Kind::Struct | Kind::Union => {
                for (i, m) in t.members().enumerate() {
                    if btf.str_at(m.name_off).is_err() {
                        return Err(bad(format!(
                            "member {i}: name offset {} lies outside the string table",
                            m.name_off
                        )));
                    }
                    if let Some(e) = missing(format!("member {i}"), m.type_id) {
                        return Err(e);
                    }
                    if let Some(end) = member_end_bits(btf, &m) {
                        if end > u64::from(t.size()) * 8 {
                            return Err(bad(format!(
                                "{} of size {} has member {i} ending at bit {end}, past its end",
                                t.kind.name(),
                                t.size()
                            )));
                        }
                    }
                }
            }
            Kind::Array => {
                let a = t.array()?;
                if let Some(e) = missing("element".into(), a.elem_type)
                    .or_else(|| missing("index".into(), a.index_type))
                {
                    return Err(e);
                }
            }
            Kind::FuncProto => {
                if let Some(e) = missing("return value".into(), t.ref_type()) {
                    return Err(e);
                }
                for (i, p) in t.params().enumerate() {
                    if let Some(e) = missing(format!("parameter {i}"), p.type_id) {
                        return Err(e);
                    }
                }
            }
            Kind::Datasec => {
                for (i, v) in t.datasec_vars().enumerate() {
                    if let Some(e) = missing(format!("variable {i}"), v.type_id) {
                        return Err(e);
                    }
                }
            }
            k if (k.is_modifier()
                || matches!(
                    k,
                    Kind::Ptr | Kind::Typedef | Kind::Func | Kind::Var | Kind::DeclTag
                ))
                && t.ref_type() >= last =>
            {
                return Err(bad(format!(
                    "refers to type id {}, which does not exist",
                    t.ref_type()
                )));
            }
            _ => {}
        }
    }
    check_cycles(btf)
}

/// Refuses a chain of pointers, modifiers, typedefs and array elements that comes back to
/// where it started (`typedef a b; typedef b a;`): nothing could resolve its size or
/// what it finally names. A cycle through a struct or union (`struct list_head`) is
/// fine and is not followed. Each type is walked once: linear in the number of types.
fn check_cycles(btf: &Btf) -> Result<(), BtfError> {
    const UNSEEN: u8 = 0;
    const ON_PATH: u8 = 1;
    const DONE: u8 = 2;
    let start = btf.start_id();
    let mut state = vec![UNSEEN; (btf.len() - start) as usize];
    let mut path = Vec::new();
    for mut id in start..btf.len() {
        // Types of the base (split BTF) were checked with it; void ends a chain.
        while let Some(slot) = id.checked_sub(start).map(|i| i as usize) {
            match state.get(slot) {
                Some(&UNSEEN) => {}
                Some(&ON_PATH) => {
                    let cycle = &path[path.iter().position(|&p| p == id).unwrap_or(0)..];
                    let ids: Vec<String> = cycle.iter().map(u32::to_string).collect();
                    return Err(BtfError::BadType {
                        id,
                        reason: format!(
                            "it refers back to itself: types {} -> {id} form a cycle",
                            ids.join(" -> ")
                        ),
                    });
                }
                _ => break,
            }
            state[slot] = ON_PATH;
            path.push(id);
            let t = btf.type_by_id(id)?;
            id = match t.kind {
                k if k.is_modifier() || matches!(k, Kind::Ptr | Kind::Typedef) => t.ref_type(),
                Kind::Array => t.array()?.elem_type,
                _ => break,
            };
        }
        for id in path.drain(..) {
            state[(id - start) as usize] = DONE;
        }
    }
    Ok(())
}

/// The bit just past member `m`, when its size is known (a zero-length array, as a
/// flexible array member, ends where it starts).
fn member_end_bits(btf: &Btf, m: &super::Member) -> Option<u64> {
    let bits = if m.bitfield_size != 0 {
        u64::from(m.bitfield_size)
    } else {
        btf.resolve_size(m.type_id).ok()? * 8
    };
    Some(u64::from(m.bit_offset) + bits)
}

#[cfg(test)]
mod tests {
    use crate::btf::kernel::load_btf_file;
    use crate::btf::testutil::Builder;
    use crate::btf::BtfError;

    /// Writes `raw` to a file and loads it as a target BTF would be.
    fn load(raw: Vec<u8>) -> Result<crate::btf::Btf, BtfError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("target.btf");
        std::fs::write(&path, raw).unwrap();
        load_btf_file(&path)
    }

    fn bad_type(r: Result<crate::btf::Btf, BtfError>) -> (u32, String) {
        match r {
            Err(BtfError::BadType { id, reason }) => (id, reason),
            other => panic!("expected BadType, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn name_offset_past_the_string_table_names_the_type() {
        let mut b = Builder::new();
        b.int("int", 4, 32, true);
        // [2] an int whose name offset lies far beyond the strings.
        for w in [9999u32, 1 << 24, 4, 32] {
            b.types.extend_from_slice(&w.to_le_bytes());
        }
        let (id, reason) = bad_type(load(b.build()));
        assert_eq!(id, 2);
        assert!(reason.contains("name offset 9999"), "{reason}");
    }

    #[test]
    fn struct_of_size_zero_with_members_names_the_type() {
        let mut b = Builder::new();
        b.int("int", 4, 32, true);
        let m = b.s("x");
        // [2] struct s { int x; } of size 0.
        b.raw("s", 4, 1, false, 0, &[m, 1, 0]);
        let (id, reason) = bad_type(load(b.build()));
        assert_eq!(id, 2);
        assert!(
            reason.contains("size 0 has member 0 ending at bit 32"),
            "{reason}"
        );
    }

    #[test]
    fn member_of_a_missing_type_names_the_type() {
        let mut b = Builder::new();
        b.int("int", 4, 32, true);
        let m = b.s("x");
        b.raw("s", 4, 1, false, 4, &[m, 77, 0]);
        let (id, reason) = bad_type(load(b.build()));
        assert_eq!(id, 2);
        assert!(reason.contains("type id 77"), "{reason}");
    }

    #[test]
    fn typedef_cycle_names_the_types() {
        let mut b = Builder::new();
        b.int("int", 4, 32, true);
        // [2] typedef a -> [3] typedef b -> [2].
        b.raw("a", 8, 0, false, 3, &[]);
        b.raw("b", 8, 0, false, 2, &[]);
        // [4] a pointer into the cycle is reported with the cycle, not as one.
        b.raw("", 2, 0, false, 2, &[]);
        let (id, reason) = bad_type(load(b.build()));
        assert_eq!(id, 2);
        assert!(
            reason.contains("types 2 -> 3 -> 2 form a cycle"),
            "{reason}"
        );
    }

    #[test]
    fn array_of_a_missing_type_names_the_type() {
        let mut b = Builder::new();
        b.int("int", 4, 32, true);
        // [2] int[4] indexed by type 1, of elements of type 500.
        b.raw("", 3, 0, false, 0, &[500, 1, 4]);
        let (id, reason) = bad_type(load(b.build()));
        assert_eq!(id, 2);
        assert!(
            reason.contains("element: type id 500 does not exist"),
            "{reason}"
        );
    }

    #[test]
    fn a_struct_that_points_to_itself_is_no_cycle() {
        let mut b = Builder::new();
        b.int("int", 4, 32, true);
        let m = b.s("next");
        // [2] struct node { struct node *next; }, [3] the pointer.
        b.raw("node", 4, 1, false, 8, &[m, 3, 0]);
        b.raw("", 2, 0, false, 2, &[]);
        load(b.build()).expect("a self-referential struct is valid");
    }

    #[test]
    fn well_formed_target_btf_loads() {
        let mut b = Builder::new();
        b.int("int", 4, 32, true);
        let m = b.s("x");
        b.raw("s", 4, 1, false, 4, &[m, 1, 0]);
        load(b.build()).expect("valid BTF");
    }
}
