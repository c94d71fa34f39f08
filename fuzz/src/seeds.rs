//! Helpers that make the targets' starting corpora from the repository's files: the BPF
//! objects (`bpf-progs/`, the `testdata/` of the pure layers, the CO-RE fixtures), their
//! `.BTF` and `.BTF.ext` sections, the CO-RE target fixtures, and small pieces cut out of
//! the vmlinux fixtures (a few hundred real kernel types each, instead of 100,000).

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use corebpf::btf::{Btf, Kind};
use object::{Object, ObjectSection};

use crate::Seed;

/// Directories holding BPF objects, relative to the repository root.
const OBJECT_DIRS: &[&str] = &[
    "bpf-progs",
    "src/object/testdata",
    "src/reloc/testdata",
    "src/btf/testdata",
    "btf-fixtures/core",
];

/// The structures `bpf-progs/relo_heavy.bpf.c` reads, whose kernel definitions (and what
/// they embed) make the vmlinux pieces: real layouts with nested anonymous members.
pub const KERNEL_ROOTS: &[&str] = &[
    "task_struct",
    "mm_struct",
    "cred",
    "signal_struct",
    "files_struct",
    "fdtable",
    "fs_struct",
    "nsproxy",
    "pid_namespace",
    "css_set",
    "cgroup",
    "kernfs_node",
    "file",
    "path",
    "dentry",
    "qstr",
    "inode",
    "super_block",
    "socket",
    "sock",
    "sock_common",
    "sk_buff",
    "net_device",
    "vm_area_struct",
    "pid_type",
    "tcp_ca_state",
    "zone_type",
];

/// Files in `repo/dir` whose names end in `suffix`, sorted.
fn files(repo: &Path, dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(repo.join(dir))
        .map(|rd| {
            rd.filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.to_str().is_some_and(|s| s.ends_with(suffix)))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// A seed name for a repository file: its path with `/` turned into `_`.
fn name_of(repo: &Path, path: &Path) -> String {
    path.strip_prefix(repo)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('/', "_")
}

/// Every BPF object of the repository, as (seed name, bytes).
pub fn objects(repo: &Path) -> Vec<Seed> {
    OBJECT_DIRS
        .iter()
        .flat_map(|dir| files(repo, dir, ".o"))
        .filter_map(|p| {
            Some(Seed {
                name: name_of(repo, &p),
                data: fs::read(&p).ok()?,
            })
        })
        .collect()
}

/// The section `name` of every object that has one, as (object's seed name + suffix, bytes).
pub fn sections(repo: &Path, name: &str, suffix: &str) -> Vec<Seed> {
    objects(repo)
        .into_iter()
        .filter_map(|o| {
            Some(Seed {
                name: format!("{}{suffix}", o.name),
                data: section(&o.data, name)?,
            })
        })
        .collect()
}

/// Section `name` of an ELF image.
pub fn section(elf: &[u8], name: &str) -> Option<Vec<u8>> {
    // The ELF reader wants its headers aligned; a heap copy is (`include_bytes!` need not be).
    let elf = elf.to_vec();
    let file = object::File::parse(elf.as_slice()).ok()?;
    let data = file.section_by_name(name)?.data().ok()?;
    Some(data.to_vec())
}

/// The CO-RE target fixtures (`btf-fixtures/core/target_*.btf`): small hand-made kernels.
pub fn core_targets(repo: &Path) -> Vec<Seed> {
    files(repo, "btf-fixtures/core", ".btf")
        .into_iter()
        .filter_map(|p| {
            Some(Seed {
                name: name_of(repo, &p),
                data: fs::read(&p).ok()?,
            })
        })
        .collect()
}

/// The vmlinux fixtures (MBs each), parsed.
pub fn vmlinux(repo: &Path) -> Vec<(String, Btf)> {
    files(repo, "btf-fixtures", ".btf")
        .into_iter()
        .filter_map(|p| Some((name_of(repo, &p), Btf::parse(fs::read(&p).ok()?).ok()?)))
        .collect()
}

/// Small pieces of each vmlinux fixture: the types of [`KERNEL_ROOTS`] and what they
/// embed, as base BTF; the first and second halves of the roots, the second as split
/// BTF on the first (as a module's BTF is on vmlinux) — (name, base, split).
pub fn vmlinux_pieces(repo: &Path) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    vmlinux(repo)
        .into_iter()
        .filter_map(|(name, btf)| {
            let (a, b) = KERNEL_ROOTS.split_at(KERNEL_ROOTS.len() / 2);
            let base = Btf::parse(piece(&btf, a, None)).ok()?;
            let split = piece(&btf, b, Some(&base));
            Some((name, base.raw().to_vec(), split))
        })
        .collect()
}

/// The whole-roots piece of each vmlinux fixture, as base BTF.
pub fn vmlinux_small(repo: &Path) -> Vec<Seed> {
    vmlinux(repo)
        .into_iter()
        .map(|(name, btf)| Seed {
            name: name.replace(".btf", "-piece.btf"),
            data: piece(&btf, KERNEL_ROOTS, None),
        })
        .collect()
}

/// Byte offsets (from the record's start) of the type ids a record holds, and whether
/// each is a pointer's target (which a piece may cut).
fn refs(kind: Kind, vlen: usize) -> Vec<(usize, bool)> {
    match kind {
        Kind::Ptr => vec![(8, true)],
        Kind::Typedef
        | Kind::Volatile
        | Kind::Const
        | Kind::Restrict
        | Kind::Func
        | Kind::Var
        | Kind::DeclTag
        | Kind::TypeTag => vec![(8, false)],
        Kind::Array => vec![(12, false), (16, false)],
        Kind::Struct | Kind::Union => (0..vlen).map(|i| (12 + 12 * i + 4, false)).collect(),
        Kind::FuncProto => std::iter::once((8, false))
            .chain((0..vlen).map(|i| (12 + 8 * i + 4, false)))
            .collect(),
        Kind::Datasec => (0..vlen).map(|i| (12 + 12 * i, false)).collect(),
        _ => Vec::new(),
    }
}

/// Offsets of the name offsets a record holds (its own, members', enumerators', params').
fn name_refs(kind: Kind, vlen: usize) -> Vec<usize> {
    let per = match kind {
        Kind::Struct | Kind::Union | Kind::Enum64 => 12,
        Kind::Enum | Kind::FuncProto => 8,
        _ => 0,
    };
    std::iter::once(0)
        .chain((0..if per > 0 { vlen } else { 0 }).map(|i| 12 + per * i))
        .collect()
}

fn rd(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn wr(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// The raw record of type `id` (header and what follows it).
fn record(btf: &Btf, id: u32) -> &[u8] {
    let off = btf.type_offset(id).expect("an id of this blob");
    let raw = btf.raw();
    let t = btf.type_by_id(id).expect("an id of this blob");
    &raw[off..off + 12 + extra_len(t.kind, t.vlen())]
}

fn extra_len(kind: Kind, vlen: usize) -> usize {
    match kind {
        Kind::Int | Kind::Var | Kind::DeclTag => 4,
        Kind::Array => 12,
        Kind::Struct | Kind::Union | Kind::Datasec | Kind::Enum64 => 12 * vlen,
        Kind::Enum | Kind::FuncProto => 8 * vlen,
        _ => 0,
    }
}

/// A BTF blob of the named `roots` of `src` and every type they reach by value; pointers
/// to structs and unions outside that set become `void *`. With `base`, the blob is split
/// BTF on it: types the base has (same name and kind) are referred to there, not copied.
pub fn piece(src: &Btf, roots: &[&str], base: Option<&Btf>) -> Vec<u8> {
    let mut keep = BTreeSet::new();
    let mut todo: Vec<u32> = roots
        .iter()
        .flat_map(|r| src.ids_by_name(r).take(1).collect::<Vec<_>>())
        .collect();
    while let Some(id) = todo.pop() {
        if id == 0 || !keep.insert(id) {
            continue;
        }
        let Ok(t) = src.type_by_id(id) else { continue };
        let rec = record(src, id);
        for (at, is_ptr) in refs(t.kind, t.vlen()) {
            let to = rd(rec, at);
            let cut = is_ptr
                && src
                    .skip_mods_and_typedefs(to)
                    .and_then(|r| src.type_by_id(r))
                    .is_ok_and(|r| r.kind.is_composite());
            if !cut {
                todo.push(to);
            }
        }
    }
    // New ids: the base's types of the same name and kind, else ours in order.
    let mut ids: HashMap<u32, u32> = HashMap::new();
    let mut next = base.map_or(1, Btf::len);
    let mut emit = Vec::new();
    for &id in &keep {
        let t = src.type_by_id(id).expect("kept ids exist");
        let name = src.name_of(&t).unwrap_or("");
        let in_base = base.and_then(|b| {
            (!name.is_empty() && !matches!(t.kind, Kind::Ptr | Kind::Array))
                .then(|| b.find_by_name_kind(name, t.kind))
                .flatten()
        });
        match in_base {
            Some(b) => {
                ids.insert(id, b);
            }
            None => {
                ids.insert(id, next);
                next += 1;
                emit.push(id);
            }
        }
    }
    // Split BTF's string offsets continue the base's (a base blob here).
    let str_start = base.map_or(0, |b| b.header().str_len);
    let mut strs: Vec<u8> = if base.is_some() { Vec::new() } else { vec![0] };
    let mut str_ids: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut types = Vec::new();
    for &id in &emit {
        let t = src.type_by_id(id).expect("kept ids exist");
        let mut rec = record(src, id).to_vec();
        for (at, _) in refs(t.kind, t.vlen()) {
            let to = rd(&rec, at);
            wr(&mut rec, at, ids.get(&to).copied().unwrap_or(0));
        }
        for at in name_refs(t.kind, t.vlen()) {
            let name = src.str_bytes_at(rd(&rec, at)).unwrap_or(b"");
            let off = if name.is_empty() {
                0
            } else {
                *str_ids.entry(name.to_vec()).or_insert_with(|| {
                    let off = str_start + strs.len() as u32;
                    strs.extend_from_slice(name);
                    strs.push(0);
                    off
                })
            };
            wr(&mut rec, at, off);
        }
        types.extend_from_slice(&rec);
    }
    let mut out = Vec::with_capacity(24 + types.len() + strs.len());
    out.extend_from_slice(&[0x9f, 0xeb, 1, 0]);
    for v in [
        24,
        0,
        types.len() as u32,
        types.len() as u32,
        strs.len() as u32,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&types);
    out.extend_from_slice(&strs);
    out
}
