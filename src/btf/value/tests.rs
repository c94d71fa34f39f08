use super::*;
use crate::btf::testutil::Builder;

/// Type ids of the sample BTF.
const U8: u32 = 1;
const S8: u32 = 2;
const U16: u32 = 3;
const S32: u32 = 4;
const U64: u32 = 5;
const S64: u32 = 6;
const U128: u32 = 7;
const BOOL: u32 = 8;
const CHAR: u32 = 9;
const ENUM: u32 = 10;
const ENUM64: u32 = 11;
const CHAR4: u32 = 12;
const U32X2: u32 = 13;
const STRUCT: u32 = 14;
const DOUBLE: u32 = 15;
const TYPEDEF: u32 = 16;
const CONST_VOLATILE: u32 = 18;
const SIGNED_ENUM: u32 = 19;
const PTR: u32 = 20;

fn sample() -> Btf {
    let mut b = Builder::new();
    b.int("unsigned char", 1, 8, false); // 1
    b.int("signed char", 1, 8, true); // 2
    b.int("unsigned short", 2, 16, false); // 3
    b.int("int", 4, 32, true); // 4
    b.int("unsigned long", 8, 64, false); // 5
    b.int("long", 8, 64, true); // 6
    b.int("unsigned __int128", 16, 128, false); // 7
    b.raw("_Bool", 1, 0, false, 1, &[(4 << 24) | 8]); // 8
    b.raw("char", 1, 0, false, 1, &[(2 << 24) | 8]); // 9
    let (off, on, loud) = (b.s("MODE_OFF"), b.s("MODE_ON"), b.s("MODE_LOUD"));
    b.raw("mode", 6, 3, false, 4, &[off, 0, on, 1, loud, 7]); // 10
    let big = b.s("BIG");
    b.raw("wide", 19, 1, false, 8, &[big, 0, 1]); // 11: BIG = 1 << 32
    b.raw("", 3, 0, false, 0, &[CHAR, S32, 4]); // 12: char[4]
    b.raw("", 3, 0, false, 0, &[S32, S32, 2]); // 13: int[2]
    let x = b.s("x");
    b.raw("point", 4, 1, false, 4, &[x, S32, 0]); // 14
    b.raw("double", 16, 0, false, 8, &[]); // 15
    b.raw("u16", 8, 0, false, U16, &[]); // 16: typedef
    b.raw("", 9, 0, false, TYPEDEF, &[]); // 17: volatile u16
    b.raw("", 10, 0, false, 17, &[]); // 18: const volatile u16
    let neg = b.s("NEG");
    b.raw("sgn", 6, 1, true, 1, &[neg, (-2i32) as u32]); // 19: signed 1-byte enum
    b.raw("", 2, 0, false, S32, &[]); // 20: int *
    Btf::parse(b.build()).unwrap()
}

fn ok(id: u32, text: &str) -> Vec<u8> {
    encode(&sample(), id, text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn bad(id: u32, text: &str) -> ValueErrorKind {
    match encode(&sample(), id, text) {
        Ok(v) => panic!("{text} accepted as {v:?}"),
        Err(e) => {
            assert_eq!(e.text, text);
            e.kind
        }
    }
}

fn out_of_range(range: &str) -> ValueErrorKind {
    ValueErrorKind::OutOfRange {
        range: range.into(),
    }
}

#[test]
fn integers_of_every_size_and_sign() {
    assert_eq!(ok(U8, "255"), [255]);
    assert_eq!(ok(U8, "0xff"), [255]);
    assert_eq!(ok(S8, "-128"), [0x80]);
    assert_eq!(ok(S8, "127"), [127]);
    assert_eq!(ok(U16, "0b1_0000_0000"), [0, 1]);
    assert_eq!(ok(S32, "-1"), [0xff; 4]);
    assert_eq!(ok(S32, "0o17"), [15, 0, 0, 0]);
    assert_eq!(ok(U64, "18446744073709551615"), [0xff; 8]);
    assert_eq!(ok(S64, "-9223372036854775808"), i64::MIN.to_le_bytes());
    assert_eq!(
        ok(U128, "0xFFFF_FFFF_FFFF_FFFF_FFFF_FFFF_FFFF_FFFF"),
        [0xff; 16]
    );
    assert_eq!(ok(U8, "-0"), [0]);
    assert_eq!(ok(CHAR, "65"), [65]);
}

#[test]
fn integers_out_of_range_say_the_range() {
    assert_eq!(bad(U8, "256"), out_of_range("0..=255"));
    assert_eq!(bad(U8, "-1"), out_of_range("0..=255"));
    assert_eq!(bad(S8, "128"), out_of_range("-128..=127"));
    assert_eq!(bad(S8, "-129"), out_of_range("-128..=127"));
    assert_eq!(
        bad(U64, "18446744073709551616"),
        out_of_range("0..=18446744073709551615")
    );
    assert_eq!(
        bad(U128, "340282366920938463463374607431768211456"),
        ValueErrorKind::NotANumber
    );
}

#[test]
fn integers_refuse_what_is_no_number() {
    for t in ["", "-", "0x", "ten", "1.5", "--1", "-+1", "0x1g", "1e3"] {
        assert_eq!(bad(S32, t), ValueErrorKind::NotANumber, "{t:?}");
    }
}

#[test]
fn booleans() {
    assert_eq!(ok(BOOL, "true"), [1]);
    assert_eq!(ok(BOOL, "0"), [0]);
    assert_eq!(bad(BOOL, "yes"), ValueErrorKind::NotABool);
    assert_eq!(bad(BOOL, "2"), ValueErrorKind::NotABool);
}

#[test]
fn enums_by_name_or_number() {
    assert_eq!(ok(ENUM, "MODE_LOUD"), [7, 0, 0, 0]);
    assert_eq!(ok(ENUM, "3"), [3, 0, 0, 0]);
    assert_eq!(ok(ENUM64, "BIG"), (1u64 << 32).to_le_bytes());
    assert_eq!(ok(SIGNED_ENUM, "NEG"), [0xfe]);
    assert_eq!(ok(SIGNED_ENUM, "-128"), [0x80]);
    assert_eq!(
        bad(ENUM, "MODE_QUIET"),
        ValueErrorKind::NoSuchEnumerator {
            enumerators: vec!["MODE_OFF".into(), "MODE_ON".into(), "MODE_LOUD".into()]
        }
    );
    assert_eq!(bad(ENUM, "-1"), out_of_range("0..=4294967295"));
}

#[test]
fn strings_fit_with_their_nul() {
    assert_eq!(ok(CHAR4, "abc"), *b"abc\0");
    assert_eq!(ok(CHAR4, ""), [0; 4]);
    assert_eq!(
        bad(CHAR4, "abcd"),
        ValueErrorKind::TooLong { len: 4, max: 3 }
    );
}

#[test]
fn typedefs_and_modifiers_are_looked_through() {
    assert_eq!(ok(TYPEDEF, "513"), [1, 2]);
    assert_eq!(ok(CONST_VOLATILE, "0x0102"), [2, 1]);
    assert_eq!(bad(CONST_VOLATILE, "65536"), out_of_range("0..=65535"));
}

#[test]
fn floats() {
    assert_eq!(ok(DOUBLE, "1.5"), 1.5f64.to_le_bytes());
    assert_eq!(bad(DOUBLE, "one"), ValueErrorKind::NotANumber);
}

#[test]
fn other_types_are_refused_by_name() {
    for (id, what) in [(STRUCT, "struct point"), (U32X2, "int[2]"), (PTR, "int *")] {
        let kind = bad(id, "1");
        assert_eq!(
            kind,
            ValueErrorKind::Unsupported { what: what.into() },
            "type {id}"
        );
    }
}

#[test]
fn messages_name_the_text_and_the_limit() {
    let e = encode(&sample(), U8, "300").unwrap_err();
    assert_eq!(
        e.to_string(),
        "300 is out of range (the type holds 0..=255)"
    );
    let e = encode(&sample(), CHAR4, "hello").unwrap_err();
    assert_eq!(
        e.to_string(),
        "the string is 5 bytes long; at most 3 fit with the terminating NUL"
    );
    let e = encode(&sample(), ENUM, "x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "'x' is not an enumerator (the enum has MODE_OFF, MODE_ON, MODE_LOUD) nor a number"
    );
}

#[test]
fn bad_type_ids_are_errors_not_panics() {
    assert!(matches!(bad(999, "1"), ValueErrorKind::Btf(_)));
}
