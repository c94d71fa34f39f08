//! Reading BPF Type Format data: the object's `.BTF` and the kernel's.
//!
//! [`Btf`] keeps the raw bytes and an index of type offsets built in one pass;
//! types are read on demand as borrowed [`Type`] views, names are borrowed from
//! the string section, and a by-name index is built lazily on the first lookup.
//! Nothing here touches the kernel.

use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};
use std::sync::{Arc, OnceLock};

pub mod dump;
pub mod ext;
pub mod fixup;
pub mod format;
pub mod kernel;
pub mod minimize;
pub mod sanitize;
pub mod validate;
pub mod value;

pub use ext::BtfExt;

/// BTF magic number (`0xeB9F`), little endian in the header.
pub const BTF_MAGIC: u16 = 0xeb9f;
const HEADER_MIN: usize = 24;
const TYPE_HEADER: usize = 12;
/// Limit on type count we accept from a file, so a hostile header can't make us allocate much.
const MAX_TYPES: usize = 1 << 24;

/// Errors from reading BTF.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BtfError {
    /// The data is shorter than its header says, or than a header at all.
    #[error("BTF truncated: {0}")]
    Truncated(&'static str),
    /// Magic number or version is not BTF's.
    #[error("not BTF: bad magic {magic:#06x} or version {version}")]
    BadMagic {
        /// Magic found.
        magic: u16,
        /// Version found.
        version: u8,
    },
    /// Big-endian BTF is not supported.
    #[error("big-endian BTF is not supported")]
    BigEndian,
    /// The header describes sections outside the data.
    #[error("BTF header is invalid: {0}")]
    BadHeader(String),
    /// A type record has an unknown kind.
    #[error("BTF type [{id}] has unknown kind {kind}")]
    UnknownKind {
        /// Type id.
        id: u32,
        /// Raw kind value.
        kind: u32,
    },
    /// A type id outside the table.
    #[error("BTF type id {0} does not exist")]
    NoSuchType(u32),
    /// A string offset outside the string section, or a string that is not UTF-8 or not terminated.
    #[error("BTF string at offset {0} is invalid")]
    BadString(u32),
    /// A type of the wrong kind where another was required.
    #[error("BTF type [{id}] is {found:?}, expected {expected}")]
    WrongKind {
        /// Type id.
        id: u32,
        /// Kind found.
        found: Kind,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// A chain of modifiers/typedefs loops or is too long.
    #[error("BTF type [{0}] resolves through a loop or too many modifiers")]
    Loop(u32),
    /// One type is malformed (a name past the string table, a sized type of size 0,
    /// a reference to a missing type).
    #[error("BTF type [{id}] is invalid: {reason}")]
    BadType {
        /// Type id.
        id: u32,
        /// What is wrong.
        reason: String,
    },
    /// Anything else structurally wrong, described.
    #[error("BTF is invalid: {0}")]
    Invalid(String),
    /// Reading a BTF file failed.
    #[error("reading BTF from {path}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The kind of a BTF type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum Kind {
    /// `void` (type id 0 only).
    Void = 0,
    /// Integer.
    Int = 1,
    /// Pointer.
    Ptr = 2,
    /// Array.
    Array = 3,
    /// Struct.
    Struct = 4,
    /// Union.
    Union = 5,
    /// Enum of up to 32-bit values.
    Enum = 6,
    /// Forward declaration.
    Fwd = 7,
    /// Typedef.
    Typedef = 8,
    /// `volatile`.
    Volatile = 9,
    /// `const`.
    Const = 10,
    /// `restrict`.
    Restrict = 11,
    /// Function.
    Func = 12,
    /// Function prototype.
    FuncProto = 13,
    /// Variable.
    Var = 14,
    /// Data section.
    Datasec = 15,
    /// Floating point.
    Float = 16,
    /// Declaration tag.
    DeclTag = 17,
    /// Type tag.
    TypeTag = 18,
    /// Enum of 64-bit values.
    Enum64 = 19,
}

impl Kind {
    /// Converts a raw kind number.
    pub fn from_raw(k: u32) -> Option<Kind> {
        use Kind::*;
        Some(match k {
            0 => Void,
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }

    /// Lower-case name as C and bpftool spell it (`struct`, `union`, `enum`, ...).
    pub fn name(self) -> &'static str {
        use Kind::*;
        match self {
            Void => "void",
            Int => "int",
            Ptr => "ptr",
            Array => "array",
            Struct => "struct",
            Union => "union",
            Enum => "enum",
            Fwd => "fwd",
            Typedef => "typedef",
            Volatile => "volatile",
            Const => "const",
            Restrict => "restrict",
            Func => "func",
            FuncProto => "func_proto",
            Var => "var",
            Datasec => "datasec",
            Float => "float",
            DeclTag => "decl_tag",
            TypeTag => "type_tag",
            Enum64 => "enum64",
        }
    }

    /// Size of the kind-specific data following the 12-byte header, per `vlen` entry and fixed.
    fn extra_size(self, vlen: usize) -> usize {
        use Kind::*;
        match self {
            Int => 4,
            Array => 12,
            Struct | Union => 12 * vlen,
            Enum => 8 * vlen,
            FuncProto => 8 * vlen,
            Var => 4,
            Datasec => 12 * vlen,
            DeclTag => 4,
            Enum64 => 12 * vlen,
            _ => 0,
        }
    }

    /// True for struct and union.
    pub fn is_composite(self) -> bool {
        matches!(self, Kind::Struct | Kind::Union)
    }

    /// True for const, volatile, restrict and type tags.
    pub fn is_modifier(self) -> bool {
        matches!(
            self,
            Kind::Const | Kind::Volatile | Kind::Restrict | Kind::TypeTag
        )
    }
}

/// The parsed BTF header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Header length in bytes.
    pub hdr_len: u32,
    /// Flags (0).
    pub flags: u8,
    /// Offset of the type section after the header.
    pub type_off: u32,
    /// Length of the type section.
    pub type_len: u32,
    /// Offset of the string section after the header.
    pub str_off: u32,
    /// Length of the string section.
    pub str_len: u32,
}

/// Integer encoding bits.
pub mod int_enc {
    /// Signed integer.
    pub const SIGNED: u8 = 1;
    /// `char`.
    pub const CHAR: u8 = 2;
    /// `_Bool`.
    pub const BOOL: u8 = 4;
}

/// Linkage of a VAR or FUNC.
pub mod linkage {
    /// Static.
    pub const STATIC: u32 = 0;
    /// Global.
    pub const GLOBAL: u32 = 1;
    /// Extern.
    pub const EXTERN: u32 = 2;
}

/// Where the bytes of a [`Btf`] live.
enum Data {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
    /// Memory owned elsewhere, e.g. a read-only mapping of `/sys/kernel/btf/vmlinux`.
    Mapped(Arc<dyn AsRef<[u8]> + Send + Sync>),
}

impl Data {
    fn bytes(&self) -> &[u8] {
        match self {
            Data::Owned(v) => v,
            Data::Shared(a) => a,
            Data::Mapped(m) => (**m).as_ref(),
        }
    }
}

/// One BTF blob with its type index; optionally split on a base (module BTF on vmlinux).
pub struct Btf {
    data: Data,
    hdr: Header,
    /// Absolute byte offset (within `data`) of each type of this blob, by `id - start_id`.
    offsets: Vec<u32>,
    base: Option<Arc<Btf>>,
    /// First type id of this blob (1 for a base, base's count for split BTF).
    start_id: u32,
    /// First string offset of this blob (0 for a base).
    start_str: u32,
    /// How many of this blob's types have a name (sizes the name index).
    named: u32,
    /// How many of those are FUNCs.
    named_funcs: u32,
    /// By-name index of the named types other than FUNCs.
    names: OnceLock<NameIndex>,
    /// By-name index of the FUNCs.
    func_names: OnceLock<NameIndex>,
    /// FUNC lookups so far: the first one scans instead of building `func_names`.
    func_lookups: AtomicU32,
}

impl std::fmt::Debug for Btf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Btf")
            .field("types", &self.len())
            .field("bytes", &self.data.bytes().len())
            .field("split", &self.base.is_some())
            .finish()
    }
}

/// A by-name index: an open-addressing table of `(hash tag, type id)` built in one pass
/// over the types without copying names. Same-named types share a probe start and sit in
/// id order along the probe sequence.
struct NameIndex {
    /// `tag << 25 | (id - start_id + 1)` with a 7-bit tag from the hash; 0 marks an empty slot.
    /// Four bytes a slot keeps the table small: on vmlinux (71k named types) it is 512 KiB.
    slots: Vec<u32>,
    /// `64 - log2(slots.len())`: the slot of a hash is its top bits.
    shift: u32,
    /// Slots in use.
    used: usize,
}

const SLOT_IDX_BITS: u32 = 25;
const SLOT_IDX_MASK: u32 = (1 << SLOT_IDX_BITS) - 1;
// MAX_TYPES indexes plus one must fit beside the tag.
const _: () = assert!(MAX_TYPES < SLOT_IDX_MASK as usize);

fn slot_tag(h: u64) -> u32 {
    (h as u32) >> SLOT_IDX_BITS
}

impl NameIndex {
    fn with_capacity(n: usize) -> NameIndex {
        // Load factor between 1/3 and 2/3.
        let len = (n + n / 2).max(8).next_power_of_two();
        NameIndex {
            slots: vec![0; len],
            shift: 64 - len.trailing_zeros(),
            used: 0,
        }
    }

    /// Adds the type at index `idx` of its blob (`id - start_id`, below `MAX_TYPES`).
    /// Returns false, adding nothing, when that would leave no empty slot (the table was
    /// sized from counts that in-place rewrites may have made stale).
    fn insert(&mut self, h: u64, idx: u32) -> bool {
        if self.used + 1 >= self.slots.len() {
            return false;
        }
        self.used += 1;
        let mask = self.slots.len() - 1;
        let mut i = (h >> self.shift) as usize;
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = (slot_tag(h) << SLOT_IDX_BITS) | (idx + 1);
        true
    }
}

/// Merges two ascending id sequences.
/// Ids from a name index, or from a scan of the types.
enum NameHits<I> {
    Indexed(I),
    Scanned(std::vec::IntoIter<u32>),
}

impl<I: Iterator<Item = u32>> Iterator for NameHits<I> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        match self {
            NameHits::Indexed(i) => i.next(),
            NameHits::Scanned(v) => v.next(),
        }
    }
}

struct MergeAsc<A: Iterator<Item = u32>, B: Iterator<Item = u32>> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<A: Iterator<Item = u32>, B: Iterator<Item = u32>> Iterator for MergeAsc<A, B> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if x <= y => self.a.next(),
            (Some(_), Some(_)) | (None, _) => self.b.next(),
            (Some(_), None) => self.a.next(),
        }
    }
}

/// The indexes (`id - start_id`) whose name hash tag matches, along a probe sequence.
struct Probe<'a> {
    slots: &'a [u32],
    i: usize,
    tag: u32,
}

impl Iterator for Probe<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        let mask = self.slots.len().wrapping_sub(1);
        loop {
            let e = *self.slots.get(self.i)?;
            if e == 0 {
                self.slots = &[];
                return None;
            }
            self.i = (self.i + 1) & mask;
            if e >> SLOT_IDX_BITS == self.tag {
                return Some((e & SLOT_IDX_MASK) - 1);
            }
        }
    }
}

const HASH_K: u64 = 0x517c_c1b7_2722_0a95;

#[inline(always)]
fn hash_word(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(HASH_K)
}

#[inline(always)]
fn hash_finish(h: u64, len: usize) -> u64 {
    let h = hash_word(h, len as u64);
    let h = (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

/// Hash of a name, eight bytes at a time (the last chunk zero-padded; names hold no NUL).
pub(crate) fn name_hash(s: &[u8]) -> u64 {
    let mut h = 0u64;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        h = hash_word(
            h,
            u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        );
    }
    let r = chunks.remainder();
    if !r.is_empty() {
        let mut w = [0u8; 8];
        w[..r.len()].copy_from_slice(r);
        h = hash_word(h, u64::from_le_bytes(w));
    }
    hash_finish(h, s.len())
}

/// [`name_hash`] of the NUL-terminated string starting at `s[0]`, found and hashed in one
/// pass a word at a time; `None` if `s` has no NUL.
#[inline]
fn name_hash_cstr(s: &[u8]) -> Option<u64> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut h = 0u64;
    let mut i = 0;
    while let Some(c) = s.get(i..i + 8) {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let z = w.wrapping_sub(LO) & !w & HI;
        if z != 0 {
            // The lowest flagged byte is the first NUL (false positives only occur above it).
            let k = (z.trailing_zeros() / 8) as usize;
            if k > 0 {
                h = hash_word(h, w & (u64::MAX >> (64 - 8 * k)));
            }
            return Some(hash_finish(h, i + k));
        }
        h = hash_word(h, w);
        i += 8;
    }
    // Fewer than 8 bytes left.
    let rest = &s[i..];
    let k = rest.iter().position(|&c| c == 0)?;
    if k > 0 {
        let mut w = [0u8; 8];
        w[..k].copy_from_slice(&rest[..k]);
        h = hash_word(h, u64::from_le_bytes(w));
    }
    Some(hash_finish(h, i + k))
}

fn rd_u32(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl Btf {
    /// Parses a base BTF blob (an object's `.BTF` or `vmlinux`).
    pub fn parse(data: Vec<u8>) -> Result<Btf, BtfError> {
        Self::parse_data(Data::Owned(data), None)
    }

    /// Parses a base BTF blob held in shared memory.
    pub fn parse_shared(data: Arc<[u8]>) -> Result<Btf, BtfError> {
        Self::parse_data(Data::Shared(data), None)
    }

    /// Parses a base BTF blob whose bytes are owned by `data` (for example a read-only
    /// memory mapping of `/sys/kernel/btf/vmlinux`), without copying them.
    pub fn parse_mapped(data: Arc<dyn AsRef<[u8]> + Send + Sync>) -> Result<Btf, BtfError> {
        Self::parse_data(Data::Mapped(data), None)
    }

    /// Parses split BTF (a kernel module's) whose ids and strings continue `base`'s.
    pub fn parse_split(data: Vec<u8>, base: Arc<Btf>) -> Result<Btf, BtfError> {
        Self::parse_data(Data::Owned(data), Some(base))
    }

    /// Reads and parses a raw BTF file.
    pub fn from_file(path: &std::path::Path) -> Result<Btf, BtfError> {
        let data = std::fs::read(path).map_err(|source| BtfError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(data)
    }

    fn parse_data(data: Data, base: Option<Arc<Btf>>) -> Result<Btf, BtfError> {
        let b = data.bytes();
        if b.len() < HEADER_MIN {
            return Err(BtfError::Truncated("header"));
        }
        let magic = u16::from_le_bytes([b[0], b[1]]);
        if magic == BTF_MAGIC.swap_bytes() {
            return Err(BtfError::BigEndian);
        }
        if magic != BTF_MAGIC || b[2] != 1 {
            return Err(BtfError::BadMagic {
                magic,
                version: b[2],
            });
        }
        let r = |o| rd_u32(b, o).ok_or(BtfError::Truncated("header"));
        let hdr = Header {
            hdr_len: r(4)?,
            flags: b[3],
            type_off: r(8)?,
            type_len: r(12)?,
            str_off: r(16)?,
            str_len: r(20)?,
        };
        let hl = hdr.hdr_len as usize;
        if hl < HEADER_MIN || hl > b.len() {
            return Err(BtfError::BadHeader(format!(
                "header length {}",
                hdr.hdr_len
            )));
        }
        // A longer header than we know must have zeroes in the part we don't.
        if b[HEADER_MIN..hl].iter().any(|&x| x != 0) {
            return Err(BtfError::BadHeader("unknown non-zero header fields".into()));
        }
        let sect = |off: u32, len: u32, what: &str| -> Result<(usize, usize), BtfError> {
            let start = hl
                .checked_add(off as usize)
                .ok_or_else(|| BtfError::BadHeader(format!("{what} offset overflows")))?;
            let end = start
                .checked_add(len as usize)
                .filter(|&e| e <= b.len())
                .ok_or_else(|| {
                    BtfError::BadHeader(format!(
                        "{what} section {off}+{len} past the end of {} bytes",
                        b.len() - hl
                    ))
                })?;
            Ok((start, end))
        };
        let (tstart, tend) = sect(hdr.type_off, hdr.type_len, "type")?;
        let (sstart, send) = sect(hdr.str_off, hdr.str_len, "string")?;
        if tstart % 4 != 0 {
            return Err(BtfError::BadHeader(
                "type section is not 4-byte aligned".into(),
            ));
        }
        if tstart < send && sstart < tend {
            return Err(BtfError::BadHeader(
                "type and string sections overlap".into(),
            ));
        }
        let strs = &b[sstart..send];
        if base.is_none() && (strs.first().copied().unwrap_or(1) != 0) {
            return Err(BtfError::BadHeader(
                "string section must start with a NUL".into(),
            ));
        }
        if !strs.is_empty() && strs[strs.len() - 1] != 0 {
            return Err(BtfError::BadHeader(
                "string section is not NUL-terminated".into(),
            ));
        }
        let (start_id, start_str) = match &base {
            Some(bb) => (bb.len(), bb.start_str + bb.hdr.str_len),
            None => (1, 0),
        };
        // One pass over the type section: record each type's offset and check its extent.
        // This is the hot loop of opening kernel BTF (126k types): errors are built only on
        // the error path, and the record size comes from a table rather than a match.
        let mut offsets = Vec::with_capacity((hdr.type_len as usize / 16).min(MAX_TYPES));
        let mut off = tstart;
        let mut named = 0u32;
        let mut named_funcs = 0u32;
        while off < tend {
            if off + TYPE_HEADER > tend {
                return Err(BtfError::Truncated("type header"));
            }
            let name_off = u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]);
            let info = u32::from_le_bytes([b[off + 4], b[off + 5], b[off + 6], b[off + 7]]);
            named += u32::from(name_off != 0);
            let raw_kind = ((info >> 24) & 0x1f) as usize;
            named_funcs += u32::from(name_off != 0 && raw_kind == Kind::Func as usize);
            let (fixed, per) = EXTRA_SIZE[raw_kind];
            if fixed == u8::MAX {
                return Err(BtfError::UnknownKind {
                    id: start_id + offsets.len() as u32,
                    kind: raw_kind as u32,
                });
            }
            if offsets.len() >= MAX_TYPES {
                return Err(BtfError::Invalid(format!("more than {MAX_TYPES} types")));
            }
            offsets.push(off as u32);
            let vlen = (info & 0xffff) as usize;
            off += TYPE_HEADER + fixed as usize + per as usize * vlen;
            if off > tend {
                // Name the type whose records overrun, not only the blob.
                return Err(BtfError::BadType {
                    id: start_id + offsets.len() as u32 - 1,
                    reason: format!(
                        "this {}{} runs {} bytes past the end of the {}-byte type section",
                        Kind::from_raw(raw_kind as u32).map_or("type", Kind::name),
                        if per == 0 {
                            String::new()
                        } else {
                            format!(" with {vlen} records of {per} bytes")
                        },
                        off - tend,
                        tend - tstart
                    ),
                });
            }
        }
        if off != tend {
            return Err(BtfError::Truncated("type data"));
        }
        Ok(Btf {
            data,
            hdr,
            offsets,
            base,
            start_id,
            start_str,
            named,
            named_funcs,
            names: OnceLock::new(),
            func_names: OnceLock::new(),
            func_lookups: AtomicU32::new(0),
        })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.hdr
    }

    /// The raw bytes of this blob (without the base's, for split BTF).
    pub fn raw(&self) -> &[u8] {
        self.data.bytes()
    }

    /// The base this split BTF extends, if any.
    pub fn base(&self) -> Option<&Arc<Btf>> {
        self.base.as_ref()
    }

    /// Number of type ids, counting `void` (0) and the base's: valid ids are `0..len()`.
    pub fn len(&self) -> u32 {
        self.start_id + self.offsets.len() as u32
    }

    /// True when the blob holds no types of its own.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// First type id defined by this blob (1, or the base's `len()` for split BTF).
    pub fn start_id(&self) -> u32 {
        self.start_id
    }

    /// Byte offset (within [`Btf::raw`]) of type `id`'s record; `None` for void, base types
    /// and ids out of range.
    pub fn type_offset(&self, id: u32) -> Option<usize> {
        let idx = id.checked_sub(self.start_id)? as usize;
        self.offsets.get(idx).map(|&o| o as usize)
    }

    /// Mutable access to the bytes, for in-place rewrites that keep every record's length
    /// (DATASEC/VAR fixups, sanitization). Makes a private copy if the bytes are shared.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        if !matches!(self.data, Data::Owned(_)) {
            self.data = Data::Owned(self.data.bytes().to_vec());
        }
        self.names = OnceLock::new();
        self.func_names = OnceLock::new();
        self.func_lookups = AtomicU32::new(0);
        match &mut self.data {
            Data::Owned(v) => v,
            Data::Shared(_) | Data::Mapped(_) => unreachable!("converted above"),
        }
    }

    /// The type with id `id`. Id 0 is `void`.
    pub fn type_by_id(&self, id: u32) -> Result<Type<'_>, BtfError> {
        if id == 0 {
            return Ok(Type {
                id: 0,
                kind: Kind::Void,
                name_off: 0,
                info: 0,
                size_or_type: 0,
                extra: &[],
            });
        }
        if id < self.start_id {
            return match &self.base {
                Some(b) => b.type_by_id(id),
                None => Err(BtfError::NoSuchType(id)),
            };
        }
        let off = self.type_offset(id).ok_or(BtfError::NoSuchType(id))?;
        let b = self.data.bytes();
        // Offsets and extents were validated when the index was built.
        let name_off = rd_u32(b, off).unwrap_or(0);
        let info = rd_u32(b, off + 4).unwrap_or(0);
        let size_or_type = rd_u32(b, off + 8).unwrap_or(0);
        let kind = Kind::from_raw((info >> 24) & 0x1f).unwrap_or(Kind::Void);
        let extra_len = kind.extra_size((info & 0xffff) as usize);
        let extra = &b[off + TYPE_HEADER..off + TYPE_HEADER + extra_len];
        Ok(Type {
            id,
            kind,
            name_off,
            info,
            size_or_type,
            extra,
        })
    }

    /// Iterates over this blob's own types (not the base's), in id order.
    pub fn types(&self) -> impl Iterator<Item = Type<'_>> + '_ {
        (self.start_id..self.len()).filter_map(move |id| self.type_by_id(id).ok())
    }

    /// The string at `off` in the string section (spanning the base's for split BTF).
    pub fn str_at(&self, off: u32) -> Result<&str, BtfError> {
        std::str::from_utf8(self.str_bytes_at(off)?).map_err(|_| BtfError::BadString(off))
    }

    /// The string at `off` as bytes, without UTF-8 validation.
    pub fn str_bytes_at(&self, off: u32) -> Result<&[u8], BtfError> {
        if off < self.start_str {
            return match &self.base {
                Some(b) => b.str_bytes_at(off),
                None => Err(BtfError::BadString(off)),
            };
        }
        let b = self.data.bytes();
        let start = self.hdr.hdr_len as usize + self.hdr.str_off as usize;
        let rel = (off - self.start_str) as usize;
        if rel >= self.hdr.str_len as usize {
            return Err(BtfError::BadString(off));
        }
        let s = &b[start + rel..start + self.hdr.str_len as usize];
        let end = s
            .iter()
            .position(|&c| c == 0)
            .ok_or(BtfError::BadString(off))?;
        Ok(&s[..end])
    }

    /// The name of a type ("" for anonymous types and void).
    pub fn name_of(&self, t: &Type<'_>) -> Result<&str, BtfError> {
        self.str_at(t.name_off)
    }

    /// The name of the type with id `id`.
    pub fn type_name(&self, id: u32) -> Result<&str, BtfError> {
        let t = self.type_by_id(id)?;
        self.str_at(t.name_off)
    }

    /// The by-name index of this blob's FUNCs (`funcs`) or of its other types, built on
    /// first use. FUNCs are kept apart because they are most of vmlinux's named types (56k
    /// of 71k) and CO-RE never looks them up: the common index builds in a quarter the time.
    fn name_index(&self, funcs: bool) -> &NameIndex {
        let (cell, count) = if funcs {
            (&self.func_names, self.named_funcs)
        } else {
            (&self.names, self.named - self.named_funcs)
        };
        cell.get_or_init(|| {
            self.build_index(funcs, count as usize)
                .or_else(|| self.build_index(funcs, self.offsets.len()))
                .unwrap_or_else(|| NameIndex::with_capacity(0))
        })
    }

    /// Builds a by-name index sized for `count` names; `None` if more turn up (the counts
    /// from parsing are stale after an in-place rewrite).
    ///
    /// Two passes: first pick the types to index without branching on each one (FUNCs and
    /// other kinds interleave, so a branch mispredicts often), then hash those names.
    fn build_index(&self, funcs: bool, count: usize) -> Option<NameIndex> {
        let b = self.data.bytes();
        // Zeroed (lazily mapped) memory: only the pages written to are touched.
        let mut sel = vec![0u32; count + 1];
        let mut n = 0usize;
        for (i, &off) in self.offsets.iter().enumerate() {
            let off = off as usize;
            // Offsets were checked against the type section when the index was built.
            let h = &b[off..off + 8];
            let named = (h[0] | h[1] | h[2] | h[3]) != 0;
            let is_func = h[7] & 0x1f == Kind::Func as u8;
            *sel.get_mut(n)? = i as u32;
            n += usize::from(named & (is_func == funcs));
        }
        let mut idx = NameIndex::with_capacity(count);
        let sstart = self.hdr.hdr_len as usize + self.hdr.str_off as usize;
        let strs = &b[sstart..sstart + self.hdr.str_len as usize];
        for &i in &sel[..n] {
            let off = self.offsets[i as usize] as usize;
            let name_off = u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]);
            let h = match name_off.checked_sub(self.start_str) {
                Some(rel) => match strs.get(rel as usize..).and_then(name_hash_cstr) {
                    Some(h) => h,
                    None => continue,
                },
                None => match self.str_bytes_at(name_off) {
                    Ok(n) => name_hash(n),
                    Err(_) => continue,
                },
            };
            if !idx.insert(h, i) {
                return None;
            }
        }
        Some(idx)
    }

    /// Builds the by-name indexes now instead of on the first lookup.
    pub fn build_name_index(&self) {
        self.name_index(false);
        self.name_index(true);
    }

    /// This blob's own ids named `name` among its FUNCs (`funcs`) or its other types, in
    /// id order. The first FUNC lookup of a blob without the FUNC index scans the types
    /// instead of building it: a loader resolving one attach target (an iterator, one
    /// fentry) needs no index of vmlinux's 56k FUNC names; the second lookup builds it.
    fn own_ids_by_name<'a>(&'a self, name: &'a str, funcs: bool) -> impl Iterator<Item = u32> + 'a {
        let scan = funcs
            && self.func_names.get().is_none()
            && self.func_lookups.fetch_add(1, AtomicOrdering::Relaxed) == 0;
        if scan {
            NameHits::Scanned(self.scan_funcs(name).into_iter())
        } else {
            NameHits::Indexed(self.indexed_ids(name, funcs))
        }
    }

    /// This blob's FUNCs named `name`, in id order, by one pass over the types.
    fn scan_funcs(&self, name: &str) -> Vec<u32> {
        let b = self.data.bytes();
        let want = name.as_bytes();
        let sstart = self.hdr.hdr_len as usize + self.hdr.str_off as usize;
        let strs = &b[sstart..sstart + self.hdr.str_len as usize];
        let mut out = Vec::new();
        for (i, &off) in self.offsets.iter().enumerate() {
            let off = off as usize;
            // Offsets were checked against the type section at parse.
            let h = &b[off..off + 8];
            if h[7] & 0x1f != Kind::Func as u8 {
                continue;
            }
            let name_off = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            let hit = match name_off.checked_sub(self.start_str) {
                // The first byte decides most names without a call to memcmp.
                Some(rel) => strs.get(rel as usize..).is_some_and(|s| {
                    s.first() == want.first()
                        && s.get(want.len()) == Some(&0)
                        && s.starts_with(want)
                }),
                None => self.str_bytes_at(name_off).is_ok_and(|n| n == want),
            };
            if hit && !want.is_empty() {
                out.push(self.start_id + i as u32);
            }
        }
        out
    }

    /// This blob's own ids named `name` in one of its two indexes, in id order.
    fn indexed_ids<'a>(&'a self, name: &'a str, funcs: bool) -> impl Iterator<Item = u32> + 'a {
        let idx = self.name_index(funcs);
        let h = name_hash(name.as_bytes());
        Probe {
            slots: &idx.slots,
            i: (h >> idx.shift) as usize,
            tag: slot_tag(h),
        }
        .map(move |i| self.start_id + i)
        .filter(move |&id| self.type_name(id).map(|n| n == name).unwrap_or(false))
    }

    /// Ids of this blob's types (and then the base's) named exactly `name`, in id order per blob.
    pub fn ids_by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = u32> + 'a {
        let own = MergeAsc {
            a: self.own_ids_by_name(name, false).peekable(),
            b: self.own_ids_by_name(name, true).peekable(),
        };
        let base: Box<dyn Iterator<Item = u32> + 'a> = match &self.base {
            Some(b) => Box::new(b.ids_by_name(name)),
            None => Box::new(std::iter::empty()),
        };
        own.chain(base)
    }

    /// Ids of types named exactly `name` of kind `kind`: this blob's, then the base's, in id
    /// order per blob. Looks at one index only (FUNCs or the rest).
    pub fn ids_by_name_kind<'a>(
        &'a self,
        name: &'a str,
        kind: Kind,
    ) -> Box<dyn Iterator<Item = u32> + 'a> {
        let own = self
            .own_ids_by_name(name, kind == Kind::Func)
            .filter(move |&id| self.type_by_id(id).map(|t| t.kind == kind).unwrap_or(false));
        match &self.base {
            Some(b) => Box::new(own.chain(b.ids_by_name_kind(name, kind))),
            None => Box::new(own),
        }
    }

    /// The first type named `name` of kind `kind`.
    pub fn find_by_name_kind(&self, name: &str, kind: Kind) -> Option<u32> {
        self.ids_by_name_kind(name, kind).next()
    }

    /// Follows typedefs and modifiers (const, volatile, restrict, type tags) to the underlying type.
    pub fn skip_mods_and_typedefs(&self, mut id: u32) -> Result<u32, BtfError> {
        for _ in 0..MAX_RESOLVE_DEPTH {
            let t = self.type_by_id(id)?;
            if t.kind.is_modifier() || t.kind == Kind::Typedef {
                id = t.size_or_type;
            } else {
                return Ok(id);
            }
        }
        Err(BtfError::Loop(id))
    }

    /// Follows modifiers only (not typedefs).
    pub fn skip_mods(&self, mut id: u32) -> Result<u32, BtfError> {
        for _ in 0..MAX_RESOLVE_DEPTH {
            let t = self.type_by_id(id)?;
            if t.kind.is_modifier() {
                id = t.size_or_type;
            } else {
                return Ok(id);
            }
        }
        Err(BtfError::Loop(id))
    }

    /// Size in bytes of a value of type `id` (arrays multiply, pointers are 8, typedefs resolve).
    pub fn resolve_size(&self, id: u32) -> Result<u64, BtfError> {
        let mut id = id;
        let mut mult: u64 = 1;
        for _ in 0..MAX_RESOLVE_DEPTH {
            let t = self.type_by_id(id)?;
            match t.kind {
                Kind::Int
                | Kind::Struct
                | Kind::Union
                | Kind::Enum
                | Kind::Enum64
                | Kind::Datasec
                | Kind::Float => {
                    return mult
                        .checked_mul(u64::from(t.size_or_type))
                        .ok_or(BtfError::Loop(id))
                }
                Kind::Ptr => return mult.checked_mul(8).ok_or(BtfError::Loop(id)),
                Kind::Typedef
                | Kind::Volatile
                | Kind::Const
                | Kind::Restrict
                | Kind::TypeTag
                | Kind::Var => {
                    id = t.size_or_type;
                }
                Kind::Array => {
                    let a = t.array()?;
                    mult = mult
                        .checked_mul(u64::from(a.nelems))
                        .ok_or(BtfError::Loop(id))?;
                    id = a.elem_type;
                }
                k => {
                    return Err(BtfError::WrongKind {
                        id,
                        found: k,
                        expected: "a sized type",
                    })
                }
            }
        }
        Err(BtfError::Loop(id))
    }
}

/// `(fixed, per-vlen)` size of the data after the 12-byte header, by raw kind;
/// `u8::MAX` marks kinds that don't exist (including 0, `void`, which is never a record).
const EXTRA_SIZE: [(u8, u8); 32] = {
    let mut t = [(u8::MAX, 0u8); 32];
    let mut k = 1;
    while k < 20 {
        t[k] = match k {
            1 | 14 | 17 => (4, 0),
            3 => (12, 0),
            4 | 5 | 15 | 19 => (0, 12),
            6 | 13 => (0, 8),
            _ => (0, 0),
        };
        k += 1;
    }
    t
};

/// How deep modifier/typedef/array chains may go before we call them a loop.
pub const MAX_RESOLVE_DEPTH: usize = 32;

/// A borrowed view of one type record.
#[derive(Clone, Copy, Debug)]
pub struct Type<'a> {
    /// Type id.
    pub id: u32,
    /// Kind.
    pub kind: Kind,
    /// Offset of the name in the string section (0 = anonymous).
    pub name_off: u32,
    /// Raw info word (vlen, kind, kind_flag).
    pub info: u32,
    /// Size (int, struct, union, enum, datasec, float) or referenced type id (others).
    pub size_or_type: u32,
    extra: &'a [u8],
}

/// Integer details.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntInfo {
    /// Encoding bits, see [`int_enc`].
    pub encoding: u8,
    /// Bit offset (0 in BTF from clang).
    pub offset: u8,
    /// Width in bits.
    pub bits: u8,
}

/// Array details.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayInfo {
    /// Element type.
    pub elem_type: u32,
    /// Index type.
    pub index_type: u32,
    /// Number of elements.
    pub nelems: u32,
}

/// A struct or union member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Name offset (0 = anonymous).
    pub name_off: u32,
    /// Member type.
    pub type_id: u32,
    /// Offset in bits from the start of the struct.
    pub bit_offset: u32,
    /// Bitfield width in bits, 0 for a plain member.
    pub bitfield_size: u32,
}

/// An enumerator (32- or 64-bit enums).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnumValue {
    /// Name offset.
    pub name_off: u32,
    /// Value as stored (sign depends on the enum's kind flag).
    pub value: u64,
}

/// A function prototype parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// Name offset.
    pub name_off: u32,
    /// Type.
    pub type_id: u32,
}

/// A variable within a DATASEC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VarSecInfo {
    /// The VAR (or FUNC for externs) type id.
    pub type_id: u32,
    /// Offset within the section.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

impl<'a> Type<'a> {
    /// Number of members/params/values/variables.
    pub fn vlen(&self) -> usize {
        (self.info & 0xffff) as usize
    }

    /// The kind flag bit.
    pub fn kflag(&self) -> bool {
        self.info >> 31 == 1
    }

    /// Size in bytes for sized kinds (int, struct, union, enum, datasec, float).
    pub fn size(&self) -> u32 {
        self.size_or_type
    }

    /// Referenced type for ptr, typedef, modifiers, func, var, decl/type tags.
    pub fn ref_type(&self) -> u32 {
        self.size_or_type
    }

    fn word(&self, i: usize) -> u32 {
        rd_u32(self.extra, i * 4).unwrap_or(0)
    }

    fn want(&self, k: Kind, expected: &'static str) -> Result<(), BtfError> {
        if self.kind == k {
            Ok(())
        } else {
            Err(BtfError::WrongKind {
                id: self.id,
                found: self.kind,
                expected,
            })
        }
    }

    /// Integer encoding; errors for other kinds.
    pub fn int(&self) -> Result<IntInfo, BtfError> {
        self.want(Kind::Int, "int")?;
        let w = self.word(0);
        Ok(IntInfo {
            encoding: ((w >> 24) & 0x0f) as u8,
            offset: ((w >> 16) & 0xff) as u8,
            bits: (w & 0xff) as u8,
        })
    }

    /// Array details; errors for other kinds.
    pub fn array(&self) -> Result<ArrayInfo, BtfError> {
        self.want(Kind::Array, "array")?;
        Ok(ArrayInfo {
            elem_type: self.word(0),
            index_type: self.word(1),
            nelems: self.word(2),
        })
    }

    /// Members of a struct or union (empty for other kinds).
    pub fn members(&self) -> impl ExactSizeIterator<Item = Member> + 'a {
        let kflag = self.kflag();
        let extra = if self.kind.is_composite() {
            self.extra
        } else {
            &[]
        };
        extra.chunks_exact(12).map(move |c| {
            let off = rd_u32(c, 8).unwrap_or(0);
            let (bit_offset, bitfield_size) = if kflag {
                (off & 0x00ff_ffff, off >> 24)
            } else {
                (off, 0)
            };
            Member {
                name_off: rd_u32(c, 0).unwrap_or(0),
                type_id: rd_u32(c, 4).unwrap_or(0),
                bit_offset,
                bitfield_size,
            }
        })
    }

    /// The `i`-th member of a struct or union.
    pub fn member(&self, i: usize) -> Option<Member> {
        self.members().nth(i)
    }

    /// Enumerators of an enum or enum64 (empty for other kinds). Values of signed 32-bit
    /// enums are sign-extended.
    pub fn enum_values(&self) -> impl Iterator<Item = EnumValue> + 'a {
        let signed = self.kflag();
        let (extra, step): (&[u8], usize) = match self.kind {
            Kind::Enum => (self.extra, 8),
            Kind::Enum64 => (self.extra, 12),
            _ => (&[], 8),
        };
        extra.chunks_exact(step).map(move |c| {
            let lo = rd_u32(c, 4).unwrap_or(0);
            let value = if step == 12 {
                u64::from(lo) | (u64::from(rd_u32(c, 8).unwrap_or(0)) << 32)
            } else if signed {
                lo as i32 as i64 as u64
            } else {
                u64::from(lo)
            };
            EnumValue {
                name_off: rd_u32(c, 0).unwrap_or(0),
                value,
            }
        })
    }

    /// Parameters of a function prototype (empty for other kinds).
    pub fn params(&self) -> impl Iterator<Item = Param> + 'a {
        let extra = if self.kind == Kind::FuncProto {
            self.extra
        } else {
            &[]
        };
        extra.chunks_exact(8).map(|c| Param {
            name_off: rd_u32(c, 0).unwrap_or(0),
            type_id: rd_u32(c, 4).unwrap_or(0),
        })
    }

    /// Linkage of a VAR, or of a FUNC (stored in vlen).
    pub fn linkage(&self) -> u32 {
        match self.kind {
            Kind::Var => self.word(0),
            Kind::Func => self.vlen() as u32,
            _ => 0,
        }
    }

    /// Component index of a DECL_TAG (-1 for the whole declaration).
    pub fn decl_tag_component(&self) -> i32 {
        if self.kind == Kind::DeclTag {
            self.word(0) as i32
        } else {
            -1
        }
    }

    /// Variables of a DATASEC (empty for other kinds).
    pub fn datasec_vars(&self) -> impl ExactSizeIterator<Item = VarSecInfo> + 'a {
        let extra = if self.kind == Kind::Datasec {
            self.extra
        } else {
            &[]
        };
        extra.chunks_exact(12).map(|c| VarSecInfo {
            type_id: rd_u32(c, 0).unwrap_or(0),
            offset: rd_u32(c, 4).unwrap_or(0),
            size: rd_u32(c, 8).unwrap_or(0),
        })
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A tiny BTF builder for unit tests.

    /// Builds raw BTF from type records and a string table.
    #[derive(Default)]
    pub struct Builder {
        pub types: Vec<u8>,
        pub strs: Vec<u8>,
    }

    impl Builder {
        pub fn new() -> Self {
            Builder {
                types: Vec::new(),
                strs: vec![0],
            }
        }
        pub fn s(&mut self, name: &str) -> u32 {
            if name.is_empty() {
                return 0;
            }
            let off = self.strs.len() as u32;
            self.strs.extend_from_slice(name.as_bytes());
            self.strs.push(0);
            off
        }
        pub fn raw(
            &mut self,
            name: &str,
            kind: u32,
            vlen: u32,
            kflag: bool,
            st: u32,
            extra: &[u32],
        ) {
            let n = self.s(name);
            let info = (u32::from(kflag) << 31) | (kind << 24) | vlen;
            for w in [n, info, st].iter().chain(extra) {
                self.types.extend_from_slice(&w.to_le_bytes());
            }
        }
        pub fn int(&mut self, name: &str, size: u32, bits: u32, signed: bool) {
            let enc = if signed { 1u32 << 24 } else { 0 };
            self.raw(name, 1, 0, false, size, &[enc | bits]);
        }
        pub fn build(&self) -> Vec<u8> {
            let mut out = Vec::new();
            out.extend_from_slice(&0xeb9fu16.to_le_bytes());
            out.push(1);
            out.push(0);
            out.extend_from_slice(&24u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(self.types.len() as u32).to_le_bytes());
            out.extend_from_slice(&(self.types.len() as u32).to_le_bytes());
            out.extend_from_slice(&(self.strs.len() as u32).to_le_bytes());
            out.extend_from_slice(&self.types);
            out.extend_from_slice(&self.strs);
            out
        }
    }
}

#[cfg(test)]
mod tests;
