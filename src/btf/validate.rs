//! Checks of a BTF blob from outside (a target BTF file given with `--btf` or
//! [`Loader::target_btf`](crate::Loader::target_btf)), which unlike object BTF the
//! kernel never sees: every name must lie in the string table, every referenced type
//! must exist, and every member of a struct or union must lie within its size.

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
    let last = btf.start_id() + btf.len();
    for t in btf.types() {
        let bad = |reason: String| BtfError::BadType { id: t.id, reason };
        if btf.str_at(t.name_off).is_err() {
            return Err(bad(format!(
                "name offset {} lies outside the string table",
                t.name_off
            )));
        }
        if matches!(t.kind, Kind::Struct | Kind::Union) {
            for (i, m) in t.members().enumerate() {
                if btf.str_at(m.name_off).is_err() {
                    return Err(bad(format!(
                        "member {i}: name offset {} lies outside the string table",
                        m.name_off
                    )));
                }
                if m.type_id >= last {
                    return Err(bad(format!(
                        "member {i}: type id {} does not exist",
                        m.type_id
                    )));
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
        } else if (t.kind.is_modifier() || matches!(t.kind, Kind::Ptr)) && t.ref_type() >= last {
            return Err(bad(format!(
                "refers to type id {}, which does not exist",
                t.ref_type()
            )));
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
    fn well_formed_target_btf_loads() {
        let mut b = Builder::new();
        b.int("int", 4, 32, true);
        let m = b.s("x");
        b.raw("s", 4, 1, false, 4, &[m, 1, 0]);
        load(b.build()).expect("valid BTF");
    }
}
