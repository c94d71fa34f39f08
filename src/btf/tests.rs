//! Unit tests of the BTF parser, its name indexes and its lookups.

use super::testutil::Builder;
use super::*;

fn sample() -> Vec<u8> {
    let mut b = Builder::new();
    b.int("int", 4, 32, true); // 1
    let x = b.s("x");
    let y = b.s("y");
    // 2: struct point { int x; int y:3; } with kflag bitfield
    b.raw("point", 4, 2, true, 8, &[x, 1, 0, y, 1, (3 << 24) | 32]);
    b.raw("", 2, 0, false, 2, &[]); // 3: ptr to point
    b.raw("", 3, 0, false, 0, &[1, 1, 10]); // 4: int[10]
    b.raw("pt", 8, 0, false, 2, &[]); // 5: typedef point pt
    b.raw("", 10, 0, false, 5, &[]); // 6: const pt
    b.build()
}

#[test]
fn parses_and_reads_types() {
    let btf = Btf::parse(sample()).unwrap();
    assert_eq!(btf.len(), 7);
    let p = btf.type_by_id(2).unwrap();
    assert_eq!(p.kind, Kind::Struct);
    assert_eq!(btf.name_of(&p).unwrap(), "point");
    let m: Vec<_> = p.members().collect();
    assert_eq!(m[1].bit_offset, 32);
    assert_eq!(m[1].bitfield_size, 3);
    assert_eq!(btf.resolve_size(4).unwrap(), 40);
    assert_eq!(btf.resolve_size(6).unwrap(), 8);
    assert_eq!(btf.skip_mods_and_typedefs(6).unwrap(), 2);
    assert_eq!(btf.skip_mods(6).unwrap(), 5);
    assert_eq!(btf.find_by_name_kind("point", Kind::Struct), Some(2));
    assert_eq!(btf.find_by_name_kind("point", Kind::Union), None);
    assert_eq!(btf.find_by_name_kind("nope", Kind::Struct), None);
    assert!(matches!(btf.type_by_id(7), Err(BtfError::NoSuchType(7))));
}

#[test]
fn rejects_bad_input() {
    let good = sample();
    assert!(matches!(
        Btf::parse(good[..10].to_vec()),
        Err(BtfError::Truncated(_))
    ));
    let mut bad = good.clone();
    bad[0] = 0;
    assert!(matches!(Btf::parse(bad), Err(BtfError::BadMagic { .. })));
    let mut bad = good.clone();
    bad[12] = 0xff; // type_len huge
    assert!(matches!(Btf::parse(bad), Err(BtfError::BadHeader(_))));
    let mut bad = good.clone();
    // Kind 31 in the first type's info word.
    bad[24 + 7] = 31;
    assert!(matches!(
        Btf::parse(bad),
        Err(BtfError::UnknownKind { id: 1, .. })
    ));
    // Every truncation is an error, never a panic.
    for n in 0..good.len() {
        assert!(Btf::parse(good[..n].to_vec()).is_err(), "len {n}");
    }
}

#[test]
fn typedef_loop_is_an_error() {
    let mut b = Builder::new();
    b.raw("a", 8, 0, false, 2, &[]);
    b.raw("b", 8, 0, false, 1, &[]);
    let btf = Btf::parse(b.build()).unwrap();
    assert!(matches!(
        btf.skip_mods_and_typedefs(1),
        Err(BtfError::Loop(_))
    ));
    assert!(btf.resolve_size(1).is_err());
}

#[test]
fn split_btf_continues_ids_and_strings() {
    let base = Arc::new(Btf::parse(sample()).unwrap());
    let mut b = Builder::new();
    b.strs.clear(); // split string sections don't start with the base's NUL
    let n = b.s("modint");
    let info = 1u32 << 24;
    for w in [n + base.header().str_len, info, 8, 64] {
        b.types.extend_from_slice(&w.to_le_bytes());
    }
    let split = Btf::parse_split(b.build(), base.clone()).unwrap();
    assert_eq!(split.start_id(), 7);
    assert_eq!(split.type_name(7).unwrap(), "modint");
    assert_eq!(split.type_name(2).unwrap(), "point");
    assert_eq!(split.ids_by_name("point").collect::<Vec<_>>(), vec![2]);
    assert_eq!(split.ids_by_name("modint").collect::<Vec<_>>(), vec![7]);
}

#[test]
fn name_hash_agrees_with_the_in_place_hash() {
    let text: Vec<u8> = (0..64u8).map(|i| b'a' + i % 26).collect();
    for len in 0..40 {
        for pad in 0..9 {
            let mut buf = text[..len].to_vec();
            buf.push(0);
            buf.extend(std::iter::repeat(b'z').take(pad));
            assert_eq!(
                name_hash_cstr(&buf),
                Some(name_hash(&text[..len])),
                "len {len} pad {pad}"
            );
        }
    }
    assert_eq!(name_hash_cstr(b"abc"), None);
    assert_ne!(name_hash(b"ab"), name_hash(b"ba"));
}

#[test]
fn name_index_keeps_id_order_and_separates_funcs() {
    let mut b = Builder::new();
    b.int("dup", 4, 32, true); // 1
    b.raw("", 13, 0, false, 0, &[]); // 2: func_proto void (void)
    b.raw("dup", 12, 0, false, 2, &[]); // 3: FUNC dup
    b.raw("dup", 4, 0, false, 0, &[]); // 4: struct dup {}
    b.raw("f", 12, 1, false, 2, &[]); // 5: FUNC f
    b.raw("dup", 8, 0, false, 1, &[]); // 6: typedef dup
    let btf = Btf::parse(b.build()).unwrap();
    assert_eq!(btf.ids_by_name("dup").collect::<Vec<_>>(), vec![1, 3, 4, 6]);
    assert_eq!(btf.find_by_name_kind("dup", Kind::Func), Some(3));
    assert_eq!(btf.find_by_name_kind("dup", Kind::Typedef), Some(6));
    assert_eq!(btf.find_by_name_kind("f", Kind::Func), Some(5));
    assert_eq!(btf.find_by_name_kind("f", Kind::Struct), None);
    assert_eq!(
        btf.ids_by_name_kind("dup", Kind::Int).collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(btf.ids_by_name("").count(), 0);
}

#[test]
fn the_first_func_lookup_scans_and_agrees_with_the_index() {
    let mut b = Builder::new();
    b.raw("", 13, 0, false, 0, &[]); // 1: func_proto void (void)
    b.raw("g", 12, 0, false, 1, &[]); // 2: FUNC g
    b.raw("go", 12, 0, false, 1, &[]); // 3: FUNC go (g is its prefix)
    b.raw("g", 4, 0, false, 0, &[]); // 4: struct g {}
    b.raw("g", 12, 1, false, 1, &[]); // 5: FUNC g again
    let btf = Btf::parse(b.build()).unwrap();
    let scanned: Vec<u32> = btf.ids_by_name_kind("g", Kind::Func).collect();
    assert!(
        btf.func_names.get().is_none(),
        "the first lookup built no index"
    );
    let indexed: Vec<u32> = btf.ids_by_name_kind("g", Kind::Func).collect();
    assert!(btf.func_names.get().is_some(), "the second one did");
    assert_eq!(scanned, vec![2, 5]);
    assert_eq!(indexed, scanned);
    assert_eq!(btf.find_by_name_kind("go", Kind::Func), Some(3));
}

#[test]
fn name_index_survives_stale_counts() {
    let mut b = Builder::new();
    for i in 0..50 {
        b.raw(&format!("f{i}"), 12, 0, false, 0, &[]);
    }
    let mut btf = Btf::parse(b.build()).unwrap();
    // Turn every FUNC into a typedef in place: the parse-time counts are now wrong.
    let offs: Vec<usize> = (1..=50).map(|id| btf.type_offset(id).unwrap()).collect();
    let bytes = btf.bytes_mut();
    for o in offs {
        bytes[o + 7] = 8;
    }
    assert_eq!(btf.find_by_name_kind("f49", Kind::Typedef), Some(50));
    assert_eq!(btf.find_by_name_kind("f0", Kind::Func), None);
}

#[test]
fn parse_mapped_shares_the_bytes() {
    struct Mapped(Vec<u8>);
    impl AsRef<[u8]> for Mapped {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }
    let btf = Btf::parse_mapped(Arc::new(Mapped(sample()))).unwrap();
    assert_eq!(btf.find_by_name_kind("point", Kind::Struct), Some(2));
}
