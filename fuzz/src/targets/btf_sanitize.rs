//! The BTF sanitizer: an object's BTF rewritten for a kernel lacking some BTF kinds
//! (FUNC, global FUNC, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64) and with `.ksyms`
//! made loadable. The rewritten copy must parse again, and — as documented — need no
//! further sanitization for the same features.
//!
//! Input: one byte whose low seven bits say which features the kernel has (bit 0 FUNC,
//! 1 global FUNC, 2 DATASEC, 3 FLOAT, 4 DECL_TAG, 5 TYPE_TAG, 6 ENUM64), then raw BTF.

use std::path::Path;

use corebpf::btf::sanitize::{sanitize, BtfFeatures};
use corebpf::btf::Btf;

use crate::{chain, seeds, Outcome, Seed};

/// See the module documentation.
pub const ABOUT: &str = "feature byte + BTF -> sanitizer; the copy parses and is final";

/// The features of bit set `bits` (see the module documentation).
fn features(bits: u8) -> BtfFeatures {
    let has = |i: u8| bits & (1 << i) != 0;
    BtfFeatures {
        func: has(0),
        global_func: has(1),
        datasec: has(2),
        float: has(3),
        decl_tag: has(4),
        type_tag: has(5),
        enum64: has(6),
    }
}

/// One input (see the module documentation).
pub fn run(data: &[u8]) -> Outcome {
    let Some((&bits, raw)) = data.split_first() else {
        return Err("empty input".into());
    };
    let features = features(bits);
    let btf = Btf::parse(raw.to_vec()).map_err(|e| chain(&e))?;
    let needed = features.needs_sanitization(&btf);
    let out = sanitize(&btf, &features).map_err(|e| chain(&e))?;
    let again = Btf::parse(out.raw().to_vec())
        .unwrap_or_else(|e| panic!("sanitized BTF does not parse: {}", chain(&e)));
    assert!(
        !features.needs_sanitization(&again),
        "sanitized BTF still needs sanitizing for {features:?} (it needed it: {needed})"
    );
    assert!(again.len() >= btf.len(), "sanitizing dropped types");
    Ok(())
}

/// The objects' BTF (with externs, DATASECs, FUNCs, tags, ENUM64s) under a few feature
/// sets: a 4.18 kernel, a 5.4, a 5.15, a 6.1.
pub fn seeds(repo: &Path) -> Vec<Seed> {
    let sets = [
        ("none", 0u8),
        ("5.4", 0b0000_0111),
        ("5.15", 0b0000_1111),
        ("all", 0x7f),
    ];
    let mut out = Vec::new();
    for btf in seeds::sections(repo, ".BTF", ".BTF") {
        for (tag, bits) in sets {
            let mut data = vec![bits];
            data.extend_from_slice(&btf.data);
            out.push(Seed {
                name: format!("{}-{tag}", btf.name),
                data,
            });
        }
    }
    out
}
