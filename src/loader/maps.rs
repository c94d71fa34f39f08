//! Map creation at load, as libbpf does it: definitions adjusted before load
//! (`set_max_entries`, `set_global`, ring sizes), `BPF_MAP_CREATE` with fallbacks,
//! pinned maps reused when compatible, global data written, frozen and mapped, inner
//! map templates for map-in-maps, and the slots of `values` initializers.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::{struct_ops, LoadError, Loader};
use crate::map::{Global, GlobalVariable, Map, MapDef, MapType};
use crate::object::{GlobalKind, MapKind, MapSpec, ObjectSpec, Pinning, SlotValue};
use crate::program::Program;
use crate::sys::bpf::MapFd;
use crate::sys::{self, SysError};
use crate::util::Chain;

/// Pins this load made, removed again if the load fails (libbpf unpins what it pinned
/// when `bpf_object__load` fails): a failed load leaves nothing behind.
#[derive(Default)]
pub(super) struct NewPins(Vec<PathBuf>);

impl NewPins {
    /// The load succeeded: keep the pins.
    pub(super) fn keep(mut self) {
        self.0.clear();
    }
}

impl Drop for NewPins {
    fn drop(&mut self) {
        for p in &self.0 {
            if let Err(e) = std::fs::remove_file(p) {
                log::warn!("removing pin {} of a failed load: {e}", p.display());
            }
        }
    }
}

impl Loader {
    /// Applies what the caller set before load to a copy of the object's maps:
    /// `set_max_entries` and `global`/`set_global`.
    pub(super) fn adjusted_maps(&self, spec: &ObjectSpec) -> Result<Vec<MapSpec>, LoadError> {
        let mut maps = spec.maps.clone();
        for (name, n) in &self.max_entries {
            let m = maps
                .iter_mut()
                .find(|m| m.name == *name)
                .ok_or_else(|| LoadError::NoSuchMap { name: name.clone() })?;
            if matches!(m.kind, MapKind::GlobalData(_)) {
                return Err(LoadError::MaxEntries {
                    map: name.clone(),
                    reason: "a global data section is one value: its max_entries is 1".into(),
                });
            }
            m.max_entries = *n;
        }
        for (name, value) in &self.globals {
            set_global(spec, &mut maps, name, value)?;
        }
        Ok(maps)
    }

    /// Creates every map (a map-in-map's inner template first), then fills the slots
    /// of map-in-maps' `values` initializers. Returns the maps, in `spec_maps` order,
    /// and the pins made.
    pub(super) fn create_maps(
        &self,
        spec: &ObjectSpec,
        spec_maps: &[MapSpec],
        btf_fd: Option<&OwnedFd>,
        struct_ops: &struct_ops::Plan,
    ) -> Result<(Vec<Map>, NewPins), LoadError> {
        let mut maps = Vec::with_capacity(spec_maps.len());
        let mut pins = NewPins::default();
        for (i, m) in spec_maps.iter().enumerate() {
            if m.kind == MapKind::StructOps {
                let var = spec.struct_ops.iter().position(|s| s.map == i);
                maps.push(create_struct_ops_map(spec, m, btf_fd, struct_ops, var)?);
                continue;
            }
            // A keyless map's BTF value type must be a DATASEC (global data), which a
            // kernel without DATASEC support does not have: create it without BTF.
            let map_btf = btf_fd.filter(|_| {
                m.btf_key_type_id != 0 || self.has(crate::features::Feature::BtfDatasec)
            });
            let inner = match &m.inner {
                Some(i) => Some(self.create_map(spec, i, map_btf, None, &mut pins)?),
                None => None,
            };
            let map = self.create_map(spec, m, map_btf, inner.as_ref(), &mut pins)?;
            maps.push(map);
        }
        for (m, map) in spec_maps.iter().zip(&maps) {
            if m.map_type != sys::bpf::map_type::PROG_ARRAY && !map.reused() {
                fill_slots(m, map, |target| match target {
                    SlotValue::Map(name) => spec_maps
                        .iter()
                        .position(|s| s.name == *name)
                        .map(|i| maps[i].fd().as_raw_fd())
                        .ok_or("the object has no such map"),
                    SlotValue::Program(_) => Err("a map-in-map slot must name a map"),
                })?;
            }
        }
        Ok((maps, pins))
    }

    fn create_map(
        &self,
        spec: &ObjectSpec,
        m: &MapSpec,
        btf_fd: Option<&OwnedFd>,
        inner: Option<&Map>,
        pins: &mut NewPins,
    ) -> Result<Map, LoadError> {
        let name_bytes = sys::bpf::obj_name(&m.kernel_name(&spec.name));
        let len = name_bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(name_bytes.len());
        let kernel_name = String::from_utf8_lossy(&name_bytes[..len]).into_owned();
        let def = creation_def(m);
        let pin_path = (m.pinning == Pinning::ByName).then(|| self.pin_root.join(&m.name));
        if let Some(path) = &pin_path {
            if path.exists() {
                return reuse_pinned(m, def, inner, path);
            }
        }
        let mut attr = sys::bpf::MapCreateAttr {
            map_type: def.map_type.0,
            key_size: def.key_size,
            value_size: def.value_size,
            max_entries: def.max_entries,
            map_flags: def.map_flags,
            numa_node: m.numa_node,
            map_name: name_bytes,
            map_extra: m.map_extra,
            inner_map_fd: inner.map(Map::fd),
            ..Default::default()
        };
        if let (Some(fd), true) = (
            btf_fd,
            m.btf_value_type_id != 0 && takes_btf_types(m.map_type),
        ) {
            attr.btf_fd = Some(fd.as_fd());
            attr.btf_key_type_id = m.btf_key_type_id;
            attr.btf_value_type_id = m.btf_value_type_id;
        }
        let fd = create_with_fallbacks(&mut attr, &m.name)?;
        let init_err = |source| LoadError::MapInit {
            map: m.name.clone(),
            source,
        };
        let fd = MapFd::new(fd).map_err(|source| LoadError::MapCreate {
            map: m.name.clone(),
            source,
        })?;
        let mut map = Map::new(
            m.name.clone(),
            kernel_name,
            fd,
            MapDef {
                map_flags: attr.map_flags,
                ..def
            },
        );
        if let Some(inner) = inner {
            map.set_inner(*inner.def());
        }
        init_map(spec, m, &mut map).map_err(init_err)?;
        if let Some(path) = pin_path {
            map.pin(&path).map_err(|e| LoadError::MapPin {
                map: m.name.clone(),
                path: path.clone(),
                reason: Chain(&e).to_string(),
            })?;
            pins.0.push(path);
        }
        Ok(map)
    }
}

/// Creates the map of a struct_ops variable: the kernel's value type and size, with
/// the object's BTF (which the kernel requires for these maps).
fn create_struct_ops_map(
    spec: &ObjectSpec,
    m: &MapSpec,
    btf_fd: Option<&OwnedFd>,
    plan: &struct_ops::Plan,
    var: Option<usize>,
) -> Result<Map, LoadError> {
    let err = |detail: &str| LoadError::StructOps {
        map: m.name.clone(),
        detail: detail.to_string(),
    };
    let var = var.ok_or_else(|| err("no struct_ops variable describes this map"))?;
    let btf_fd = btf_fd
        .ok_or_else(|| err("the kernel refused the object's BTF, which struct_ops maps need"))?;
    let (value_type_id, value_size) = plan.map_value(var);
    let def = MapDef::new(MapType(m.map_type), m.key_size, value_size, m.max_entries)
        .with_flags(m.map_flags);
    let attr = sys::bpf::MapCreateAttr {
        map_type: m.map_type,
        key_size: m.key_size,
        value_size,
        max_entries: m.max_entries,
        map_flags: m.map_flags,
        map_name: sys::bpf::obj_name(&m.kernel_name(&spec.name)),
        btf_fd: Some(btf_fd.as_fd()),
        btf_vmlinux_value_type_id: value_type_id,
        ..Default::default()
    };
    let created = sys::bpf::map_create(&attr).and_then(MapFd::new);
    let fd = created.map_err(|source| LoadError::MapCreate {
        map: m.name.clone(),
        source,
    })?;
    Ok(Map::new(m.name.clone(), m.name.clone(), fd, def))
}

/// The definition to create `m` with: as declared, with libbpf's adjustments (a perf
/// event array of 0 entries gets one per possible CPU; ring buffer sizes are rounded
/// up to a power-of-2 number of pages).
fn creation_def(m: &MapSpec) -> MapDef {
    let mut def = MapDef::new(MapType(m.map_type), m.key_size, m.value_size, m.max_entries)
        .with_flags(m.map_flags)
        .with_extra(m.map_extra);
    match def.map_type {
        MapType::PERF_EVENT_ARRAY if def.max_entries == 0 => {
            def.max_entries = sys::possible_cpus().unwrap_or(1);
        }
        MapType::RINGBUF | MapType::USER_RINGBUF => {
            def.max_entries = ring_size(def.max_entries, sys::page_size() as u32);
        }
        _ => {}
    }
    def
}

/// A ring buffer size the kernel accepts (a power-of-2 multiple of the page size),
/// at least `size`; 0 stays 0 (the kernel's error then says it), and a size no such
/// multiple fits in `u32` is left for the kernel to refuse.
pub(super) fn ring_size(size: u32, page: u32) -> u32 {
    if size == 0 || page == 0 {
        return size;
    }
    let pages = size.div_ceil(page).next_power_of_two();
    pages.checked_mul(page).unwrap_or(size)
}

/// Writes initial values of global data and freezes `.rodata`, then records the
/// section's variables and maps it where the kernel allows; maps an arena.
fn init_map(spec: &ObjectSpec, m: &MapSpec, map: &mut Map) -> Result<(), SysError> {
    if map.map_type() == MapType::ARENA {
        return map.map_arena();
    }
    let MapKind::GlobalData(kind) = m.kind else {
        return Ok(());
    };
    if !m.data.is_empty() {
        let mut value = m.data.clone();
        value.resize(m.value_size as usize, 0);
        sys::bpf::map_update_elem(&map.access(), &0u32.to_ne_bytes(), &value, 0)?;
    }
    let frozen = matches!(kind, GlobalKind::Rodata | GlobalKind::Kconfig);
    if frozen {
        sys::bpf::map_freeze(map.fd())?;
    }
    let kind = if frozen {
        Global::Frozen
    } else {
        Global::Writable
    };
    map.set_global(kind, global_vars(spec, m))
}

/// The variables of a global-data map, by the object's BTF.
fn global_vars(spec: &ObjectSpec, m: &MapSpec) -> Vec<GlobalVariable> {
    let (Some(btf), id) = (spec.btf.as_ref(), m.btf_value_type_id) else {
        return Vec::new();
    };
    let Ok(sec) = btf.type_by_id(id) else {
        return Vec::new();
    };
    sec.datasec_vars()
        .filter_map(|v| {
            Some(GlobalVariable {
                name: btf.type_name(v.type_id).ok()?.to_string(),
                offset: v.offset,
                size: v.size,
            })
        })
        .collect()
}

/// Fills the program slots of every program array's `values` initializer, once the
/// programs are loaded (libbpf's `bpf_object_init_prog_arrays`).
pub(super) fn fill_prog_slots(
    spec_maps: &[MapSpec],
    maps: &[Map],
    programs: &[Program],
) -> Result<(), LoadError> {
    for (m, map) in spec_maps.iter().zip(maps) {
        if m.map_type != sys::bpf::map_type::PROG_ARRAY || map.reused() {
            continue;
        }
        fill_slots(m, map, |target| match target {
            SlotValue::Program(name) => programs
                .iter()
                .find(|p| p.name() == name)
                .map(|p| p.fd().as_raw_fd())
                .ok_or("that program is not loaded (not in the object, or autoload is off)"),
            SlotValue::Map(_) => Err("a program array slot must name a program"),
        })?;
    }
    Ok(())
}

/// Writes slot `i` → the fd `resolve` gives for its target, for every slot of `m`'s
/// initializer (slot `i` is key `i`, a `u32`, for arrays and hashes alike).
fn fill_slots(
    m: &MapSpec,
    map: &Map,
    resolve: impl Fn(&SlotValue) -> Result<i32, &'static str>,
) -> Result<(), LoadError> {
    for (slot, target) in &m.init_slots {
        let (SlotValue::Map(name) | SlotValue::Program(name)) = target;
        let bad = |reason: &str| LoadError::InitSlot {
            map: m.name.clone(),
            slot: *slot,
            target: name.clone(),
            reason: reason.to_string(),
        };
        if map.def().key_size != 4 {
            return Err(bad("slots of a 'values' initializer need 4-byte keys"));
        }
        let fd = resolve(target).map_err(bad)?;
        sys::bpf::map_update_elem(&map.access(), &slot.to_ne_bytes(), &fd.to_ne_bytes(), 0)
            .map_err(|source| LoadError::MapInit {
                map: m.name.clone(),
                source,
            })?;
    }
    Ok(())
}

/// Map types whose BTF key/value types the kernel refuses (their values are fds or
/// have no key): libbpf creates them without, and so do we, sparing a failed syscall.
fn takes_btf_types(map_type: u32) -> bool {
    use sys::bpf::map_type as t;
    ![
        t::PERF_EVENT_ARRAY,
        t::CGROUP_ARRAY,
        t::STACK_TRACE,
        t::ARRAY_OF_MAPS,
        t::HASH_OF_MAPS,
        t::DEVMAP,
        t::DEVMAP_HASH,
        t::CPUMAP,
        t::XSKMAP,
        t::SOCKMAP,
        t::SOCKHASH,
        t::QUEUE,
        t::STACK,
    ]
    .contains(&map_type)
}

/// Creates a map, retrying as libbpf does when the kernel refuses an optional part:
/// BTF key/value types, then `BPF_F_MMAPABLE`; on `EPERM` raises `RLIMIT_MEMLOCK` once
/// (kernels before 5.11 charge map memory to it).
fn create_with_fallbacks(
    attr: &mut sys::bpf::MapCreateAttr<'_>,
    name: &str,
) -> Result<OwnedFd, LoadError> {
    let mut bumped = false;
    loop {
        match sys::bpf::map_create(attr) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.errno() == libc::EPERM && !bumped => {
                bumped = true;
                if sys::bump_memlock_rlimit().is_err() {
                    return Err(LoadError::MapCreate {
                        map: name.to_string(),
                        source: e,
                    });
                }
            }
            Err(e) if attr.btf_value_type_id != 0 || attr.btf_key_type_id != 0 => {
                log::warn!(
                    "map '{name}': kernel refused BTF key/value types ({}); creating without them",
                    Chain(&e)
                );
                attr.btf_fd = None;
                attr.btf_key_type_id = 0;
                attr.btf_value_type_id = 0;
            }
            Err(e)
                if attr.map_flags & sys::bpf::map_flags::MMAPABLE != 0
                    && attr.map_type != sys::bpf::map_type::ARENA
                    && e.errno() == libc::EINVAL =>
            {
                log::debug!("map '{name}': kernel refused BPF_F_MMAPABLE; creating without it");
                attr.map_flags &= !sys::bpf::map_flags::MMAPABLE;
            }
            Err(e) => {
                return Err(LoadError::MapCreate {
                    map: name.to_string(),
                    source: e,
                })
            }
        }
    }
}

/// Opens the map pinned at `path` and checks that it is the object's map (libbpf's
/// `map_is_reuse_compat`); a map-in-map must also take the object's inner maps.
fn reuse_pinned(
    m: &MapSpec,
    def: MapDef,
    inner: Option<&Map>,
    path: &Path,
) -> Result<Map, LoadError> {
    let pin_err = |reason: String| LoadError::MapPin {
        map: m.name.clone(),
        path: path.to_path_buf(),
        reason,
    };
    let mut pinned = Map::from_pin(path).map_err(|e| pin_err(Chain(&e).to_string()))?;
    pinned
        .def()
        .pin_compatible(&def)
        .map_err(|mismatch| LoadError::PinMismatch {
            map: m.name.clone(),
            path: path.to_path_buf(),
            mismatch,
        })?;
    log::debug!("map '{}': reusing pin {}", m.name, path.display());
    pinned.mark_reused(m.name.clone());
    if let Some(inner) = inner {
        pinned.set_inner(*inner.def());
    }
    if pinned.map_type() == MapType::ARENA {
        pinned.map_arena().map_err(|source| LoadError::MapInit {
            map: m.name.clone(),
            source,
        })?;
    }
    Ok(pinned)
}

/// Sets a global variable's bytes in the right global-data map, by the object's BTF.
fn set_global(
    spec: &ObjectSpec,
    maps: &mut [MapSpec],
    name: &str,
    value: &[u8],
) -> Result<(), LoadError> {
    let err = |reason: String| LoadError::NoSuchGlobal {
        name: name.to_string(),
        reason,
    };
    if spec.btf.is_none() {
        return Err(err("the object has no BTF".into()));
    }
    let v = spec
        .global(name)
        .ok_or_else(|| err("no global variable has that name".into()))?;
    if value.len() != v.size as usize {
        return Err(LoadError::GlobalSize {
            name: name.to_string(),
            size: v.size,
            given: value.len(),
        });
    }
    let m = &mut maps[v.map];
    let end = v.offset as usize + value.len();
    if m.data.len() < end {
        m.data.resize((m.value_size as usize).max(end), 0);
    }
    m.data[v.offset as usize..end].copy_from_slice(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_sizes_round_up_to_a_power_of_two_pages() {
        assert_eq!(ring_size(0, 4096), 0);
        assert_eq!(ring_size(1, 4096), 4096);
        assert_eq!(ring_size(4096, 4096), 4096);
        assert_eq!(ring_size(4097, 4096), 8192);
        assert_eq!(ring_size(3 * 4096, 4096), 4 * 4096);
        assert_eq!(ring_size(1 << 20, 4096), 1 << 20);
        // No power-of-2 multiple of the page fits: the kernel will say no.
        assert_eq!(ring_size(u32::MAX - 5, 4096), u32::MAX - 5);
    }
}
