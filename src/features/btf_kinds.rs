//! The BTF kind probes: for each BTF kind a loader may have to sanitize away, the
//! smallest BTF blob that uses it, offered to `BPF_BTF_LOAD`.

use super::probes::answer;
use super::Feature;
use crate::btf::Kind;
use crate::sys::bpf as sysbpf;
use crate::sys::SysError;

/// Whether the kernel takes the BTF of `feature` (one of the `Btf*` features).
pub(super) fn probe_btf_kind(feature: Feature) -> Result<bool, SysError> {
    answer(
        sysbpf::btf_load(&btf_probe_blob(feature), None, 0),
        &[libc::EINVAL],
    )
}

/// The info word of a BTF type record.
const fn btf_info(kind: Kind, vlen: u32) -> u32 {
    ((kind as u32) << 24) | vlen
}

/// `int` (signed, 4 bytes, 32 bits) named by string offset `name`.
const fn int32(name: u32) -> [u32; 4] {
    [name, btf_info(Kind::Int, 0), 4, (1 << 24) | 32]
}

/// A raw BTF blob of `types` (words) and `strs` (starting with NUL).
fn btf_blob(types: &[u32], strs: &[u8]) -> Vec<u8> {
    let type_len = (types.len() * 4) as u32;
    let mut blob = Vec::with_capacity(24 + type_len as usize + strs.len());
    blob.extend_from_slice(&crate::btf::BTF_MAGIC.to_le_bytes());
    blob.extend_from_slice(&[1, 0]); // version, flags
    for w in [24, 0, type_len, type_len, strs.len() as u32] {
        blob.extend_from_slice(&w.to_le_bytes());
    }
    for w in types {
        blob.extend_from_slice(&w.to_le_bytes());
    }
    blob.extend_from_slice(strs);
    blob
}

/// The smallest BTF that uses just the BTF feature `feature` (beyond an INT).
pub(super) fn btf_probe_blob(feature: Feature) -> Vec<u8> {
    let mut types: Vec<u32> = Vec::with_capacity(16);
    let strs: &[u8] = match feature {
        // [1] int
        Feature::Btf => {
            types.extend(int32(1));
            b"\0int\0"
        }
        // [1] int, [2] int (int a), [3] FUNC f -> [2], static or global
        Feature::BtfFunc | Feature::BtfGlobalFunc => {
            types.extend(int32(1));
            types.extend([0, btf_info(Kind::FuncProto, 1), 1, 5, 1]);
            let linkage = if feature == Feature::BtfGlobalFunc {
                crate::btf::linkage::GLOBAL
            } else {
                crate::btf::linkage::STATIC
            };
            types.extend([7, btf_info(Kind::Func, linkage), 2]);
            b"\0int\0a\0f\0"
        }
        // [1] int, [2] static VAR x, [3] DATASEC .data { x }
        Feature::BtfDatasec => {
            types.extend(int32(0));
            types.extend([1, btf_info(Kind::Var, 0), 1, crate::btf::linkage::STATIC]);
            types.extend([3, btf_info(Kind::Datasec, 1), 4, 2, 0, 4]);
            b"\0x\0.data\0"
        }
        // [1] float
        Feature::BtfFloat => {
            types.extend([1, btf_info(Kind::Float, 0), 4]);
            b"\0float\0"
        }
        // [1] int, [2] static VAR x, [3] DECL_TAG "tag" on x
        Feature::BtfDeclTag => {
            types.extend(int32(0));
            types.extend([1, btf_info(Kind::Var, 0), 1, crate::btf::linkage::STATIC]);
            types.extend([3, btf_info(Kind::DeclTag, 0), 2, u32::MAX]);
            b"\0x\0tag\0"
        }
        // [1] int, [2] TYPE_TAG "tag" -> int, [3] PTR -> [2]
        Feature::BtfTypeTag => {
            types.extend(int32(0));
            types.extend([1, btf_info(Kind::TypeTag, 0), 1]);
            types.extend([0, btf_info(Kind::Ptr, 0), 2]);
            b"\0tag\0"
        }
        // [1] enum64 e { V = 1 << 32 }
        Feature::BtfEnum64 => {
            types.extend([1, btf_info(Kind::Enum64, 1), 8, 3, 0, 1]);
            b"\0e\0V\0"
        }
        _ => b"\0",
    };
    btf_blob(&types, strs)
}

/// The BTF libbpf gives a local storage map probe: [1] `int`, [2] `struct bpf_spin_lock
/// { int val; }`, [3] `struct val { int cnt; struct bpf_spin_lock l; }`.
pub(super) fn local_storage_btf() -> Vec<u8> {
    let strs = b"\0int\0bpf_spin_lock\0val\0cnt\0l\0";
    let (int, lock, val, cnt, l) = (1, 5, 19, 23, 27);
    let mut types: Vec<u32> = Vec::with_capacity(20);
    types.extend(int32(int));
    types.extend([lock, btf_info(Kind::Struct, 1), 4, val, 1, 0]);
    types.extend([val, btf_info(Kind::Struct, 2), 8, cnt, 1, 0, l, 2, 32]);
    btf_blob(&types, strs)
}
