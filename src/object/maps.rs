//! Map definitions: BTF-defined (`.maps`), legacy (`maps`), global data and `.kconfig`.

use crate::btf::{linkage, Btf, Kind};

use super::elf::{Elf, Section, SymSection};
use super::{GlobalKind, MapKind, MapSpec, ObjectError, Pinning, SlotValue};

/// `BPF_MAP_TYPE_ARRAY`.
pub const BPF_MAP_TYPE_ARRAY: u32 = 2;
/// `BPF_MAP_TYPE_PROG_ARRAY`.
const BPF_MAP_TYPE_PROG_ARRAY: u32 = 3;
/// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
const BPF_MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
/// `BPF_MAP_TYPE_HASH_OF_MAPS`.
const BPF_MAP_TYPE_HASH_OF_MAPS: u32 = 13;
/// `BPF_F_RDONLY_PROG`: programs may only read the map.
pub const BPF_F_RDONLY_PROG: u32 = 0x80;
/// `BPF_F_MMAPABLE`: user space may mmap the array.
pub const BPF_F_MMAPABLE: u32 = 0x400;
/// `LIBBPF_PIN_BY_NAME`.
pub const LIBBPF_PIN_BY_NAME: u32 = 1;

fn map_err(map: &str, reason: impl Into<String>) -> ObjectError {
    ObjectError::BadMap {
        map: map.to_string(),
        reason: reason.into(),
    }
}

fn btf_err(map: &str, what: &str, e: crate::btf::BtfError) -> ObjectError {
    map_err(map, format!("{what}: {e}"))
}

/// An empty spec to fill in.
fn blank(name: String, kind: MapKind, section_index: usize) -> MapSpec {
    MapSpec {
        name,
        kind,
        map_type: 0,
        key_size: 0,
        value_size: 0,
        max_entries: 0,
        map_flags: 0,
        numa_node: 0,
        map_extra: 0,
        pinning: Pinning::None,
        btf_key_type_id: 0,
        btf_value_type_id: 0,
        data: Vec::new(),
        section_index,
        symbol_offset: 0,
        inner: None,
        init_slots: Vec::new(),
    }
}

/// `__uint(name, N)`, i.e. `int (*name)[N]`: N.
fn int_field(btf: &Btf, map: &str, field: &str, type_id: u32) -> Result<u32, ObjectError> {
    let what = format!("field '{field}'");
    let ptr = btf
        .skip_mods_and_typedefs(type_id)
        .map_err(|e| btf_err(map, &what, e))?;
    let t = btf.type_by_id(ptr).map_err(|e| btf_err(map, &what, e))?;
    if t.kind != Kind::Ptr {
        return Err(map_err(
            map,
            format!(
                "{what} must be a pointer to an array (__uint), not {}",
                t.kind.name()
            ),
        ));
    }
    let arr = btf
        .type_by_id(t.ref_type())
        .map_err(|e| btf_err(map, &what, e))?;
    if arr.kind != Kind::Array {
        return Err(map_err(
            map,
            format!(
                "{what} must point to an array (__uint), not {}",
                arr.kind.name()
            ),
        ));
    }
    Ok(arr.array().map_err(|e| btf_err(map, &what, e))?.nelems)
}

/// `__ulong(name, N)` (a one-value enum) or `__uint(name, N)`: N.
fn long_field(btf: &Btf, map: &str, field: &str, type_id: u32) -> Result<u64, ObjectError> {
    let what = format!("field '{field}'");
    let id = btf
        .skip_mods_and_typedefs(type_id)
        .map_err(|e| btf_err(map, &what, e))?;
    let t = btf.type_by_id(id).map_err(|e| btf_err(map, &what, e))?;
    match t.kind {
        Kind::Ptr => int_field(btf, map, field, type_id).map(u64::from),
        Kind::Enum | Kind::Enum64 => {
            let mut vals = t.enum_values();
            match (vals.next(), vals.next()) {
                (Some(v), None) => Ok(v.value),
                _ => Err(map_err(
                    map,
                    format!("{what}: an __ulong enum must have exactly one value"),
                )),
            }
        }
        k => Err(map_err(
            map,
            format!("{what} must be __ulong or __uint, not {}", k.name()),
        )),
    }
}

/// `__type(name, T)`, i.e. `T *name`: (size of T, T).
fn type_field(btf: &Btf, map: &str, field: &str, type_id: u32) -> Result<(u32, u32), ObjectError> {
    let what = format!("field '{field}'");
    let t = btf
        .type_by_id(type_id)
        .map_err(|e| btf_err(map, &what, e))?;
    if t.kind != Kind::Ptr {
        return Err(map_err(
            map,
            format!("{what} must be a pointer (__type), not {}", t.kind.name()),
        ));
    }
    let target = t.ref_type();
    let size = btf
        .resolve_size(target)
        .map_err(|e| btf_err(map, &format!("{what}: size of type [{target}]"), e))?;
    let size = u32::try_from(size)
        .map_err(|_| map_err(map, format!("{what}: type of {size} bytes is too large")))?;
    Ok((size, target))
}

/// Sets a size, refusing a conflict with one set before (libbpf's "conflicting key size").
fn set_size(map: &str, what: &str, slot: &mut Option<u32>, size: u32) -> Result<(), ObjectError> {
    match *slot {
        Some(prev) if prev != size => Err(map_err(
            map,
            format!("conflicting {what} size: {prev} != {size} (its {what} type and {what}_size disagree)"),
        )),
        _ => {
            *slot = Some(size);
            Ok(())
        }
    }
}

/// The maps of the `.maps` section, from its DATASEC (sizes and offsets already fixed
/// up), with the slots their `values` initializers fill (from `.rel.maps`).
pub fn btf_maps(btf: &Btf, sec: &Section<'_>, elf: &Elf<'_>) -> Result<Vec<MapSpec>, ObjectError> {
    let dsec_id = btf
        .find_by_name_kind(".maps", Kind::Datasec)
        .ok_or_else(|| ObjectError::BadSection {
            section: sec.name.clone(),
            reason: "the BTF has no DATASEC '.maps' describing the maps".into(),
        })?;
    let dsec = btf.type_by_id(dsec_id).map_err(|e| ObjectError::Btf {
        what: "DATASEC '.maps'".into(),
        source: e,
    })?;
    let relocs: Vec<&super::elf::Reloc> = elf
        .relocs
        .iter()
        .filter(|rs| rs.target == sec.index)
        .flat_map(|rs| rs.relocs.iter())
        .collect();
    let mut maps = Vec::new();
    for v in dsec.datasec_vars() {
        let vt = btf.type_by_id(v.type_id).map_err(|e| ObjectError::Btf {
            what: "a variable of DATASEC '.maps'".into(),
            source: e,
        })?;
        if vt.kind != Kind::Var {
            return Err(ObjectError::BadSection {
                section: sec.name.clone(),
                reason: format!(
                    "DATASEC entry [{}] is a {}, not a VAR",
                    v.type_id,
                    vt.kind.name()
                ),
            });
        }
        let name = btf
            .str_at(vt.name_off)
            .map_err(|e| ObjectError::Btf {
                what: format!("name of map variable [{}]", v.type_id),
                source: e,
            })?
            .to_string();
        match vt.linkage() {
            linkage::EXTERN => {
                // Declared, not defined here: references to it fail as missing maps.
                log::debug!("map '{name}' in .maps is extern; skipping it");
                continue;
            }
            linkage::STATIC | linkage::GLOBAL => {}
            l => return Err(map_err(&name, format!("unsupported variable linkage {l}"))),
        }
        let end = u64::from(v.offset) + u64::from(v.size);
        if end > sec.size {
            return Err(map_err(
                &name,
                format!(
                    "definition at {}..{end} is outside section '.maps' of {} bytes",
                    v.offset, sec.size
                ),
            ));
        }
        let (mut m, values_at) = parse_def(btf, &name, vt.ref_type(), sec.index, false)?;
        m.symbol_offset = u64::from(v.offset);
        let inside = |r: &&&super::elf::Reloc| r.offset >= u64::from(v.offset) && r.offset < end;
        let mine: Vec<_> = relocs.iter().filter(inside).collect();
        if !mine.is_empty() {
            let values_at = values_at.ok_or_else(|| {
                map_err(
                    &name,
                    "relocations point into it, but it has no 'values' member",
                )
            })?;
            m.init_slots = init_slots(
                &name,
                elf,
                sec.index,
                &mine,
                u64::from(v.offset) + values_at,
            )?;
        }
        maps.push(m);
    }
    Ok(maps)
}

/// The slots a `values` initializer fills: each relocation at `values + 8 * i` names
/// the map or program of slot `i`, as libbpf's `bpf_object__collect_map_relos` reads
/// them.
fn init_slots(
    map: &str,
    elf: &Elf<'_>,
    maps_section: usize,
    relocs: &[&&super::elf::Reloc],
    values: u64,
) -> Result<Vec<(u32, SlotValue)>, ObjectError> {
    let mut slots = Vec::new();
    for r in relocs {
        let Some(rel) = r.offset.checked_sub(values).filter(|o| o % 8 == 0) else {
            return Err(map_err(
                map,
                format!(
                    "relocation at offset {} is not on a slot of its 'values'",
                    r.offset
                ),
            ));
        };
        let slot = u32::try_from(rel / 8)
            .map_err(|_| map_err(map, format!("slot {} is too large", rel / 8)))?;
        let sym = elf
            .symbols
            .get(r.symbol)
            .ok_or_else(|| map_err(map, format!("relocation names symbol {} of none", r.symbol)))?;
        let value = match sym.section {
            SymSection::Section(i) if i == maps_section => SlotValue::Map(sym.name.clone()),
            SymSection::Section(_) if sym.is_func() => SlotValue::Program(sym.name.clone()),
            _ => {
                return Err(map_err(
                    map,
                    format!(
                        "slot {slot} names '{}', which is neither a map nor a program",
                        sym.name
                    ),
                ))
            }
        };
        slots.push((slot, value));
    }
    crate::util::sort_by_key(&mut slots, |(i, _)| *i);
    Ok(slots)
}

/// Parses a map definition struct (`def_type` is the VAR's type, or the pointee of an
/// inner map's `values`). Returns the spec and the byte offset of its `values` member.
fn parse_def(
    btf: &Btf,
    name: &str,
    def_type: u32,
    section_index: usize,
    is_inner: bool,
) -> Result<(MapSpec, Option<u64>), ObjectError> {
    let def_id = btf
        .skip_mods_and_typedefs(def_type)
        .map_err(|e| btf_err(name, "definition type", e))?;
    let def = btf
        .type_by_id(def_id)
        .map_err(|e| btf_err(name, "definition type", e))?;
    if def.kind != Kind::Struct {
        return Err(map_err(
            name,
            format!("definition is a {}, not a struct", def.kind.name()),
        ));
    }
    let mut m = blank(name.to_string(), MapKind::Btf, section_index);
    let (mut key_size, mut value_size) = (None, None);
    let mut values_at = None;
    let members: Vec<_> = def.members().collect();
    for (i, mem) in members.iter().enumerate() {
        let field = btf
            .str_at(mem.name_off)
            .map_err(|e| btf_err(name, "member name", e))?;
        let ty = mem.type_id;
        match field {
            "type" => m.map_type = int_field(btf, name, field, ty)?,
            "max_entries" => m.max_entries = int_field(btf, name, field, ty)?,
            "map_flags" => m.map_flags = int_field(btf, name, field, ty)?,
            "numa_node" => m.numa_node = int_field(btf, name, field, ty)?,
            "key_size" => set_size(name, "key", &mut key_size, int_field(btf, name, field, ty)?)?,
            "value_size" => set_size(
                name,
                "value",
                &mut value_size,
                int_field(btf, name, field, ty)?,
            )?,
            "key" => {
                let (size, id) = type_field(btf, name, field, ty)?;
                set_size(name, "key", &mut key_size, size)?;
                m.btf_key_type_id = id;
            }
            "value" => {
                let (size, id) = type_field(btf, name, field, ty)?;
                set_size(name, "value", &mut value_size, size)?;
                m.btf_value_type_id = id;
            }
            "values" => {
                if is_inner {
                    return Err(map_err(name, "multi-level inner maps are not supported"));
                }
                if i != members.len() - 1 {
                    return Err(map_err(name, "'values' must be the last member"));
                }
                // Slots hold a map or program fd: 4 bytes.
                set_size(name, "value", &mut value_size, 4)?;
                m.inner = values_field(btf, name, m.map_type, ty, section_index)?.map(Box::new);
                values_at = Some(u64::from(mem.bit_offset / 8));
            }
            "pinning" => {
                m.pinning = match int_field(btf, name, field, ty)? {
                    0 => Pinning::None,
                    LIBBPF_PIN_BY_NAME => Pinning::ByName,
                    p => {
                        return Err(map_err(
                            name,
                            format!("invalid pinning value {p} (0 or LIBBPF_PIN_BY_NAME)"),
                        ))
                    }
                }
            }
            "map_extra" => m.map_extra = long_field(btf, name, field, ty)?,
            other => {
                return Err(map_err(
                    name,
                    format!("unknown field '{other}' in the map definition"),
                ))
            }
        }
    }
    if m.map_type == 0 {
        return Err(map_err(name, "map type isn't specified (no `type` field)"));
    }
    m.key_size = key_size.unwrap_or(0);
    m.value_size = value_size.unwrap_or(0);
    Ok((m, values_at))
}

/// `__array(values, T)`, i.e. `T *values[]`: for a map-in-map, `T` is the inner map's
/// definition (returned); for a program array, a function prototype.
fn values_field(
    btf: &Btf,
    name: &str,
    map_type: u32,
    type_id: u32,
    section_index: usize,
) -> Result<Option<MapSpec>, ObjectError> {
    let is_map_in_map = matches!(
        map_type,
        BPF_MAP_TYPE_ARRAY_OF_MAPS | BPF_MAP_TYPE_HASH_OF_MAPS
    );
    if !is_map_in_map && map_type != BPF_MAP_TYPE_PROG_ARRAY {
        return Err(map_err(
            name,
            "'values' is only for map-in-maps and program arrays (declare `type` first)",
        ));
    }
    let what = "field 'values'";
    let arr = btf
        .type_by_id(type_id)
        .map_err(|e| btf_err(name, what, e))?;
    if arr.kind != Kind::Array {
        return Err(map_err(name, "'values' must be an array (__array)"));
    }
    let elem = arr.array().map_err(|e| btf_err(name, what, e))?.elem_type;
    let ptr_id = btf
        .skip_mods_and_typedefs(elem)
        .map_err(|e| btf_err(name, what, e))?;
    let ptr = btf.type_by_id(ptr_id).map_err(|e| btf_err(name, what, e))?;
    if ptr.kind != Kind::Ptr {
        return Err(map_err(name, "'values' must be an array of pointers"));
    }
    let target_id = btf
        .skip_mods_and_typedefs(ptr.ref_type())
        .map_err(|e| btf_err(name, what, e))?;
    let target = btf
        .type_by_id(target_id)
        .map_err(|e| btf_err(name, what, e))?;
    if !is_map_in_map {
        if target.kind != Kind::FuncProto {
            return Err(map_err(
                name,
                "a program array's 'values' must point to functions",
            ));
        }
        return Ok(None);
    }
    if target.kind != Kind::Struct {
        return Err(map_err(
            name,
            "a map-in-map's 'values' must point to the inner map's definition",
        ));
    }
    let inner_name = format!("{name}.inner");
    let (inner, _) = parse_def(btf, &inner_name, target_id, section_index, true)?;
    Ok(Some(inner))
}

/// Size of `struct bpf_map_def`: type, key_size, value_size, max_entries, map_flags.
const LEGACY_DEF_SIZE: usize = 20;

/// The maps of a legacy `maps` section: one `struct bpf_map_def` per symbol.
pub fn legacy_maps(elf: &Elf<'_>, sec: &Section<'_>) -> Result<Vec<MapSpec>, ObjectError> {
    let mut syms: Vec<_> = elf
        .symbols
        .iter()
        .filter(|s| s.section == SymSection::Section(sec.index) && !s.is_section())
        .collect();
    if syms.is_empty() {
        return Ok(Vec::new());
    }
    crate::util::sort_by_key(&mut syms, |s| s.value);
    let bad = |reason: String| ObjectError::BadSection {
        section: sec.name.clone(),
        reason,
    };
    if sec.data.len() as u64 != sec.size {
        return Err(bad("the legacy maps section has no contents".into()));
    }
    let n = syms.len();
    if sec.data.len() % n != 0 || sec.data.is_empty() {
        return Err(bad(format!(
            "cannot tell the map definition size: {n} maps in {} bytes",
            sec.data.len()
        )));
    }
    let def_size = sec.data.len() / n;
    let mut maps = Vec::with_capacity(n);
    for s in syms {
        let start = usize::try_from(s.value)
            .ok()
            .filter(|&v| v <= sec.data.len() - def_size);
        let Some(start) = start else {
            return Err(map_err(
                &s.name,
                format!("definition at offset {} is outside section 'maps'", s.value),
            ));
        };
        let bytes = &sec.data[start..start + def_size];
        let mut def = [0u8; LEGACY_DEF_SIZE];
        let known = def_size.min(LEGACY_DEF_SIZE);
        def[..known].copy_from_slice(&bytes[..known]);
        if bytes[known..].iter().any(|&b| b != 0) {
            return Err(ObjectError::Unsupported {
                what: format!(
                    "legacy map '{}': non-zero definition fields beyond struct bpf_map_def ({def_size} bytes)",
                    s.name
                ),
            });
        }
        let f = |i: usize| {
            u32::from_le_bytes([def[4 * i], def[4 * i + 1], def[4 * i + 2], def[4 * i + 3]])
        };
        let mut m = blank(s.name.clone(), MapKind::Legacy, sec.index);
        m.map_type = f(0);
        m.key_size = f(1);
        m.value_size = f(2);
        m.max_entries = f(3);
        m.map_flags = f(4);
        m.symbol_offset = s.value;
        maps.push(m);
    }
    Ok(maps)
}

/// The kind of global data a section holds, by its name (libbpf's `.data`, `.data.*`, ...).
pub fn global_kind(name: &str) -> Option<GlobalKind> {
    let is =
        |base: &str| name == base || name.strip_prefix(base).is_some_and(|r| r.starts_with('.'));
    if is(".data") {
        Some(GlobalKind::Data)
    } else if is(".rodata") {
        Some(GlobalKind::Rodata)
    } else if is(".bss") {
        Some(GlobalKind::Bss)
    } else {
        None
    }
}

/// `BPF_OBJ_NAME_LEN`: a kernel object's name is at most 15 bytes and a NUL.
const OBJ_NAME_LEN: usize = 16;
/// Room libbpf keeps for an internal map's section name, however short the name.
const SECTION_ROOM: usize = 7;

/// The kernel name libbpf gives the map of global-data section `section` (`.data`,
/// `.rodata`, `.bss`, `.kconfig`, `.data.*`, `.rodata.*`) of the object named `object`
/// (libbpf's `internal_map_name`):
///
/// - the object's name is taken up to its first `.` (libbpf names an object opened
///   from `biolatency.bpf.o` `biolatency`);
/// - a custom section (a second `.`, as in `.rodata.cfg`) is named by itself, cut to 15
///   bytes, without the object's name;
/// - otherwise the section's name is kept whole and the object's name cut so that the
///   section would fit in 7 bytes or its own length if longer, even when it is shorter
///   (`.bss` of `biolatency` is `biolaten.bss`, `.kconfig` `biolate.kconfig`);
/// - bytes other than ASCII letters, digits, `_` and `.` become `_`.
pub(super) fn internal_map_name(object: &str, section: &str) -> String {
    let object = object.split('.').next().unwrap_or_default().as_bytes();
    let section = section.as_bytes();
    let room = section.len().clamp(SECTION_ROOM, OBJ_NAME_LEN - 1);
    let custom = section.get(1..).is_some_and(|rest| rest.contains(&b'.'));
    let prefix = if custom {
        0
    } else {
        object.len().min(OBJ_NAME_LEN - 1 - room)
    };
    object[..prefix]
        .iter()
        .chain(&section[..section.len().min(room)])
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
                char::from(b)
            } else {
                '_'
            }
        })
        .collect()
}

impl MapSpec {
    /// The name this map gets in the kernel (what `bpftool map show` lists) when it is
    /// created from the object named `object` ([`ObjectSpec::name`](super::ObjectSpec)):
    /// a declared map's C name, and for global data the name libbpf gives it, so that
    /// tools looking a map up by name find the same one whichever loader created it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> Result<(), corebpf::ObjectError> {
    /// let spec = corebpf::ObjectSpec::from_file("biolatency.bpf.o".as_ref())?;
    /// let bss = spec.map(".bss").expect("a .bss section");
    /// assert_eq!(bss.kernel_name(&spec.name), "biolaten.bss");
    /// # Ok(())
    /// # }
    /// ```
    pub fn kernel_name(&self, object: &str) -> String {
        match self.kind {
            MapKind::GlobalData(_) => internal_map_name(object, &self.name),
            _ => self.name.clone(),
        }
    }
}

/// libbpf's `map_is_mmapable`: the DATASEC has a variable that is not static.
fn has_non_static_var(btf: &Btf, dsec: u32) -> bool {
    let Ok(t) = btf.type_by_id(dsec) else {
        return false;
    };
    t.datasec_vars().any(|v| {
        btf.type_by_id(v.type_id)
            .map(|vt| vt.kind == Kind::Var && vt.linkage() != linkage::STATIC)
            .unwrap_or(false)
    })
}

fn global_flags(kind: GlobalKind, btf: Option<&Btf>, dsec: u32) -> u32 {
    let mut flags = 0;
    if matches!(kind, GlobalKind::Rodata | GlobalKind::Kconfig) {
        flags |= BPF_F_RDONLY_PROG;
    }
    if let Some(btf) = btf {
        if dsec != 0 && has_non_static_var(btf, dsec) {
            flags |= BPF_F_MMAPABLE;
        }
    }
    flags
}

/// The largest global-data section accepted, 512 MiB: the kernel refuses array map
/// values larger than `KMALLOC_MAX_SIZE` (`1 << (MAX_PAGE_ORDER + PAGE_SHIFT)`: 4 MiB with
/// 4 KiB pages, 512 MiB with arm64's 64 KiB pages and its default order of 13).
pub const MAX_GLOBAL_DATA: u32 = 512 << 20;

/// The global data map of an allocated, non-empty `.data*`/`.rodata*`/`.bss*` section.
pub fn global_data_map(
    sec: &Section<'_>,
    kind: GlobalKind,
    btf: Option<&Btf>,
) -> Result<MapSpec, ObjectError> {
    // `.data` and `.rodata` bring their bytes, so the file bounds them; `.bss` is only a
    // size in its header, and every later allocation of the value (an initial value set
    // with `Loader::global`, the map's mapping) would follow it.
    let value_size = u32::try_from(sec.size)
        .ok()
        .filter(|&size| size <= MAX_GLOBAL_DATA)
        .ok_or_else(|| ObjectError::BadSection {
            section: sec.name.clone(),
            reason: format!(
                "{} bytes of global data is more than a map value can hold \
                 (this loader's limit is {MAX_GLOBAL_DATA} bytes; kernels refuse array \
                 values over KMALLOC_MAX_SIZE, 4 MiB on x86-64)",
                sec.size
            ),
        })?;
    let dsec = btf
        .and_then(|b| b.find_by_name_kind(&sec.name, Kind::Datasec))
        .unwrap_or(0);
    let mut m = blank(sec.name.clone(), MapKind::GlobalData(kind), sec.index);
    m.map_type = BPF_MAP_TYPE_ARRAY;
    m.key_size = 4;
    m.value_size = value_size;
    m.max_entries = 1;
    m.map_flags = global_flags(kind, btf, dsec);
    m.btf_value_type_id = dsec;
    if kind != GlobalKind::Bss && sec.sh_type != object::elf::SHT_NOBITS {
        m.data = sec.data.to_vec();
    }
    Ok(m)
}

/// The `.kconfig` map, sized from its (laid out) DATASEC.
pub fn kconfig_map(btf: &Btf) -> Option<MapSpec> {
    let dsec = btf.find_by_name_kind(crate::btf::fixup::KCONFIG_SEC, Kind::Datasec)?;
    let size = btf.type_by_id(dsec).ok()?.size();
    if size == 0 {
        return None;
    }
    let mut m = blank(
        crate::btf::fixup::KCONFIG_SEC.to_string(),
        MapKind::GlobalData(GlobalKind::Kconfig),
        0,
    );
    m.map_type = BPF_MAP_TYPE_ARRAY;
    m.key_size = 4;
    m.value_size = size;
    m.max_entries = 1;
    m.map_flags = global_flags(GlobalKind::Kconfig, Some(btf), dsec);
    m.btf_value_type_id = dsec;
    Some(m)
}
