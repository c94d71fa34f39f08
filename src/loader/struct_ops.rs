//! struct_ops maps at load time: the kernel's layout of each ops struct, the maps
//! created for it, the programs loaded for its members, and the value that
//! registers them.
//!
//! For a variable of `struct NAME` the kernel's BTF has `struct NAME` (the ops
//! struct: what the programs implement) and `struct bpf_struct_ops_NAME` (the map's
//! value: some bookkeeping, then the ops struct as member `data`). As libbpf does:
//!
//! 1. the map is created with `btf_vmlinux_value_type_id` = `bpf_struct_ops_NAME`, a
//!    value of that type's size, and the object's BTF (the kernel wants it);
//! 2. each program a member points to is loaded with `attach_btf_id` = `NAME` and
//!    `expected_attach_type` = the index of that member in the kernel's struct;
//! 3. the value is the kernel layout, filled member by member, by name, from the
//!    object's variable: function pointers get the program fds, data members are
//!    copied (their sizes must agree); members the kernel lacks are allowed only when
//!    the object leaves them zero. Writing it to element 0 (and, for
//!    `.struct_ops.link`, creating the link) registers the ops: see
//!    [`StructOps::attach`](crate::program::StructOps::attach).

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use super::LoadError;
use crate::btf::{Btf, Kind};
use crate::object::{MapSpec, ObjectSpec, StructOpsSpec};
use crate::program::Program;

/// The kernel's side of one struct_ops variable.
#[derive(Debug)]
struct KernelLayout {
    /// `bpf_struct_ops_NAME`'s id and size: the map's value type.
    value_type_id: u32,
    value_size: u32,
    /// `NAME`'s id: the programs' `attach_btf_id`.
    type_id: u32,
    /// Offset of `data` (the ops struct) within the value.
    data_offset: u32,
}

/// One local member placed in the kernel's struct.
#[derive(Debug)]
struct Placed {
    name: String,
    local_offset: u32,
    size: u32,
    kernel_offset: u32,
    /// Index among the kernel struct's members (a program's expected attach type).
    kernel_index: u32,
    is_func: bool,
}

/// What the loader needs for an object's struct_ops variables.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// Per struct_ops spec (same order as [`ObjectSpec::struct_ops`]).
    vars: Vec<(KernelLayout, Vec<Placed>)>,
    /// Program name -> (`attach_btf_id`, expected attach type).
    programs: HashMap<String, (u32, u32)>,
}

/// A struct_ops map's value in the kernel's layout, with the program fds in it.
#[derive(Clone, Debug)]
pub(crate) struct StructOpsValue {
    /// Index of the map in the object's maps.
    pub map: usize,
    /// The ops struct's name (`tcp_congestion_ops`).
    pub type_name: String,
    /// Registered through a link (`.struct_ops.link`).
    pub link: bool,
    /// The bytes for element 0.
    pub value: Arc<[u8]>,
}

fn err(var: &str, detail: String) -> LoadError {
    LoadError::StructOps {
        map: var.to_string(),
        detail,
    }
}

impl Plan {
    /// Resolves every struct_ops variable of `spec` against the running kernel's BTF;
    /// an object without any asks nothing of the kernel.
    pub(super) fn new(spec: &ObjectSpec) -> Result<Plan, LoadError> {
        if spec.struct_ops.is_empty() {
            return Ok(Plan::default());
        }
        let first = &spec.maps[spec.struct_ops[0].map].name;
        let local = spec
            .btf
            .as_ref()
            .ok_or_else(|| err(first, "the object has no BTF".into()))?;
        let vmlinux = crate::btf::kernel::vmlinux_btf().map_err(|e| {
            err(
                first,
                format!("the kernel's BTF: {}", crate::util::Chain(&e)),
            )
        })?;
        let mut plan = Plan::default();
        for s in &spec.struct_ops {
            let var = &spec.maps[s.map].name;
            let layout = kernel_layout(&vmlinux, &s.type_name).map_err(|d| err(var, d))?;
            let placed = place_members(local, &vmlinux, s, &layout, &spec.maps[s.map].data)
                .map_err(|d| err(var, d))?;
            for f in &s.funcs {
                let m = placed
                    .iter()
                    .find(|m| m.local_offset == f.offset && m.is_func)
                    .ok_or_else(|| {
                        err(
                            var,
                            format!(
                                "program '{}' is set at offset {}, which is no function \
                                 pointer the kernel's {} has",
                                f.program, f.offset, s.type_name
                            ),
                        )
                    })?;
                let target = (layout.type_id, m.kernel_index);
                if let Some(prev) = plan.programs.insert(f.program.clone(), target) {
                    if prev != target {
                        return Err(err(
                            var,
                            format!(
                                "program '{}' implements two different members; a program \
                                 is loaded for one",
                                f.program
                            ),
                        ));
                    }
                }
            }
            plan.vars.push((layout, placed));
        }
        Ok(plan)
    }

    /// `(attach_btf_id, expected_attach_type)` for struct_ops program `name`, or `None`
    /// when no variable uses it (then it is not loaded, as libbpf does).
    pub(super) fn program(&self, name: &str) -> Option<(u32, u32)> {
        self.programs.get(name).copied()
    }

    /// The map geometry for struct_ops variable `i`: `(value type id, value size)`.
    pub(super) fn map_value(&self, i: usize) -> (u32, u32) {
        let l = &self.vars[i].0;
        (l.value_type_id, l.value_size)
    }

    /// The values to register, with the loaded programs' fds in place.
    pub(super) fn values(
        &self,
        spec: &ObjectSpec,
        programs: &[Program],
    ) -> Result<Vec<StructOpsValue>, LoadError> {
        spec.struct_ops
            .iter()
            .zip(&self.vars)
            .map(|(s, (layout, placed))| {
                let m = &spec.maps[s.map];
                let value = fill(m, s, layout, placed, programs).map_err(|d| err(&m.name, d))?;
                Ok(StructOpsValue {
                    map: s.map,
                    type_name: s.type_name.clone(),
                    link: m.map_flags & crate::object::struct_ops::BPF_F_LINK != 0,
                    value: value.into(),
                })
            })
            .collect()
    }
}

/// Finds `bpf_struct_ops_NAME` and `NAME` in the kernel's BTF.
fn kernel_layout(vmlinux: &Btf, name: &str) -> Result<KernelLayout, String> {
    let value_name = format!("bpf_struct_ops_{name}");
    let missing = |what: &str| {
        format!(
            "the kernel's BTF has no {what}: this kernel has no struct_ops for {name} \
             (struct_ops came in 5.6; a module's ops struct is not supported yet)"
        )
    };
    let value_type_id = vmlinux
        .find_by_name_kind(&value_name, Kind::Struct)
        .ok_or_else(|| missing(&format!("struct {value_name}")))?;
    let type_id = vmlinux
        .find_by_name_kind(name, Kind::Struct)
        .ok_or_else(|| missing(&format!("struct {name}")))?;
    let vt = vmlinux
        .type_by_id(value_type_id)
        .map_err(|e| e.to_string())?;
    let data = vt
        .members()
        .find(|m| vmlinux.str_at(m.name_off).is_ok_and(|n| n == "data"))
        .ok_or_else(|| format!("struct {value_name} has no member 'data'"))?;
    Ok(KernelLayout {
        value_type_id,
        value_size: vt.size(),
        type_id,
        data_offset: data.bit_offset / 8,
    })
}

/// Places each member of the local struct in the kernel's, by name.
fn place_members(
    local: &Btf,
    vmlinux: &Btf,
    s: &StructOpsSpec,
    layout: &KernelLayout,
    data: &[u8],
) -> Result<Vec<Placed>, String> {
    let e = |e: crate::btf::BtfError| e.to_string();
    let lt = local.type_by_id(s.type_id).map_err(e)?;
    let kt = vmlinux.type_by_id(layout.type_id).map_err(e)?;
    let kernel: Vec<_> = kt.members().collect();
    let mut placed = Vec::new();
    for m in lt.members() {
        let name = local.str_at(m.name_off).map_err(e)?.to_string();
        let local_offset = m.bit_offset / 8;
        let size = local.resolve_size(m.type_id).map_err(e)? as u32;
        let set = s.funcs.iter().any(|f| f.offset == local_offset);
        let bytes = data
            .get(local_offset as usize..(local_offset + size) as usize)
            .ok_or_else(|| format!("member '{name}' lies outside the variable"))?;
        if m.bitfield_size != 0 {
            return Err(format!(
                "member '{name}' is a bitfield, which is not supported"
            ));
        }
        let Some((kernel_index, km)) = kernel
            .iter()
            .enumerate()
            .find(|(_, k)| vmlinux.str_at(k.name_off).is_ok_and(|n| n == name))
        else {
            if set || bytes.iter().any(|&b| b != 0) {
                return Err(format!(
                    "member '{name}' is set, but the kernel's struct {} has no such member",
                    s.type_name
                ));
            }
            continue;
        };
        let ktype = vmlinux.skip_mods_and_typedefs(km.type_id).map_err(e)?;
        let is_func = is_func_ptr(vmlinux, ktype);
        let ksize = vmlinux.resolve_size(km.type_id).map_err(e)? as u32;
        if is_func {
            if !set && bytes.iter().any(|&b| b != 0) {
                return Err(format!(
                    "function pointer '{name}' is set to something other than a program"
                ));
            }
        } else if set {
            return Err(format!(
                "member '{name}' is set to a program, but is no function pointer in the kernel"
            ));
        } else if ksize != size {
            return Err(format!(
                "member '{name}' is {size} bytes here and {ksize} in the kernel"
            ));
        }
        placed.push(Placed {
            name,
            local_offset,
            size,
            kernel_offset: km.bit_offset / 8,
            kernel_index: kernel_index as u32,
            is_func,
        });
    }
    Ok(placed)
}

fn is_func_ptr(btf: &Btf, id: u32) -> bool {
    let Ok(t) = btf.type_by_id(id) else {
        return false;
    };
    t.kind == Kind::Ptr
        && btf
            .skip_mods_and_typedefs(t.ref_type())
            .and_then(|p| btf.type_by_id(p))
            .is_ok_and(|p| p.kind == Kind::FuncProto)
}

/// The value bytes: zeros, then each placed member (program fds as u64).
fn fill(
    m: &MapSpec,
    s: &StructOpsSpec,
    layout: &KernelLayout,
    placed: &[Placed],
    programs: &[Program],
) -> Result<Vec<u8>, String> {
    let mut value = vec![0u8; layout.value_size as usize];
    for p in placed {
        let at = (layout.data_offset + p.kernel_offset) as usize;
        let bytes: Vec<u8> = if p.is_func {
            let Some(f) = s.funcs.iter().find(|f| f.offset == p.local_offset) else {
                continue;
            };
            let prog = programs
                .iter()
                .find(|q| q.name() == f.program)
                .ok_or_else(|| {
                    format!(
                        "program '{}' (member '{}') was not loaded",
                        f.program, p.name
                    )
                })?;
            u64::try_from(prog.fd().as_raw_fd())
                .unwrap_or(0)
                .to_ne_bytes()
                .to_vec()
        } else {
            m.data[p.local_offset as usize..(p.local_offset + p.size) as usize].to_vec()
        };
        value
            .get_mut(at..at + bytes.len())
            .ok_or_else(|| format!("member '{}' lies outside the kernel's value", p.name))?
            .copy_from_slice(&bytes);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::testutil::Builder;
    use crate::object::StructOpsFunc;

    /// BTF kinds, as numbered in the format.
    const PTR: u32 = 2;
    const STRUCT: u32 = 4;
    const FUNC_PROTO: u32 = 13;

    /// A kernel with `struct my_ops { void (*run)(void); int level; char pad[8]; }`
    /// and its value type `struct bpf_struct_ops_my_ops { int state; int pad;
    /// struct my_ops data; }`: ids 1 int, 2 proto, 3 ptr, 4 char, 5 char[8],
    /// 6 my_ops, 7 the value.
    fn kernel() -> Btf {
        let mut b = Builder::new();
        b.int("int", 4, 32, true);
        b.raw("", FUNC_PROTO, 0, false, 0, &[]);
        b.raw("", PTR, 0, false, 2, &[]);
        b.int("char", 1, 8, true);
        b.raw("", 3, 0, false, 0, &[4, 1, 8]); // char[8]
        let (run, level, pad) = (b.s("run"), b.s("level"), b.s("pad"));
        b.raw(
            "my_ops",
            STRUCT,
            3,
            false,
            24,
            &[run, 3, 0, level, 1, 64, pad, 5, 96],
        );
        let (state, data) = (b.s("state"), b.s("data"));
        b.raw(
            "bpf_struct_ops_my_ops",
            STRUCT,
            3,
            false,
            32,
            &[state, 1, 0, pad, 1, 32, data, 6, 64],
        );
        Btf::parse(b.build()).unwrap()
    }

    /// The object's view: `struct my_ops { int level; void (*run)(void); int gone; }`,
    /// ids 1 int, 2 proto, 3 ptr, 4 my_ops.
    fn local() -> Btf {
        let mut b = Builder::new();
        b.int("int", 4, 32, true);
        b.raw("", FUNC_PROTO, 0, false, 0, &[]);
        b.raw("", PTR, 0, false, 2, &[]);
        let (level, run, gone) = (b.s("level"), b.s("run"), b.s("gone"));
        b.raw(
            "my_ops",
            STRUCT,
            3,
            false,
            24,
            &[level, 1, 0, run, 3, 64, gone, 1, 128],
        );
        Btf::parse(b.build()).unwrap()
    }

    fn spec(funcs: &[(u32, &str)]) -> StructOpsSpec {
        StructOpsSpec {
            map: 0,
            type_name: "my_ops".into(),
            type_id: 4,
            funcs: funcs
                .iter()
                .map(|&(offset, p)| StructOpsFunc {
                    offset,
                    program: p.into(),
                })
                .collect(),
        }
    }

    /// `level` = 7 at 0, `run` unset at 8, `gone` = `gone` at 16.
    fn data(gone: u32) -> Vec<u8> {
        let mut d = vec![0u8; 24];
        d[..4].copy_from_slice(&7u32.to_ne_bytes());
        d[16..20].copy_from_slice(&gone.to_ne_bytes());
        d
    }

    #[test]
    fn kernel_layout_finds_the_value_and_its_data_member() {
        let l = kernel_layout(&kernel(), "my_ops").unwrap();
        assert_eq!((l.value_type_id, l.value_size, l.type_id), (7, 32, 6));
        assert_eq!(l.data_offset, 8);
        let e = kernel_layout(&kernel(), "other_ops").unwrap_err();
        assert!(e.contains("bpf_struct_ops_other_ops"), "{e}");
    }

    #[test]
    fn members_are_placed_by_name_and_indexed_in_the_kernel_struct() {
        let (k, l) = (kernel(), local());
        let layout = kernel_layout(&k, "my_ops").unwrap();
        let placed = place_members(&l, &k, &spec(&[(8, "run_prog")]), &layout, &data(0)).unwrap();
        let got: Vec<_> = placed
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.local_offset,
                    p.kernel_offset,
                    p.kernel_index,
                    p.is_func,
                )
            })
            .collect();
        // `gone` is zero, and the kernel lacks it: left out.
        assert_eq!(got, [("level", 0, 8, 1, false), ("run", 8, 0, 0, true)]);
        let mut m = blank_map();
        m.data = data(0);
        let value = fill(&m, &spec(&[]), &layout, &placed, &[]).unwrap();
        assert_eq!(value.len(), 32);
        assert_eq!(&value[8 + 8..8 + 12], &7u32.to_ne_bytes(), "level in data");
        assert!(value[8..16].iter().all(|&b| b == 0), "run, with no program");
    }

    #[test]
    fn what_the_kernel_cant_take_is_refused() {
        let (k, l) = (kernel(), local());
        let layout = kernel_layout(&k, "my_ops").unwrap();
        // A non-zero member the kernel lacks.
        let e = place_members(&l, &k, &spec(&[]), &layout, &data(5)).unwrap_err();
        assert!(e.contains("'gone'"), "{e}");
        // A program where the kernel has data.
        let e = place_members(&l, &k, &spec(&[(0, "p")]), &layout, &data(0)).unwrap_err();
        assert!(e.contains("no function pointer"), "{e}");
        // A function pointer set to something other than a program.
        let mut d = data(0);
        d[8] = 1;
        let e = place_members(&l, &k, &spec(&[]), &layout, &d).unwrap_err();
        assert!(e.contains("'run'"), "{e}");
    }

    fn blank_map() -> MapSpec {
        MapSpec {
            name: "ops".into(),
            kind: crate::object::MapKind::StructOps,
            map_type: 26,
            key_size: 4,
            value_size: 24,
            max_entries: 1,
            map_flags: 0,
            numa_node: 0,
            map_extra: 0,
            pinning: crate::object::Pinning::None,
            btf_key_type_id: 0,
            btf_value_type_id: 4,
            data: Vec::new(),
            section_index: 0,
            symbol_offset: 0,
            inner: None,
            init_slots: Vec::new(),
        }
    }
}
