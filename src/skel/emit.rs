//! The module's text: the object's bytes, the type items of [`super::types`], the
//! sections' structs and views, and the open and loaded skeletons. Written as rustfmt
//! writes it (lines within 100 columns, signatures broken one parameter a line when
//! they are not, short struct literals on one line), so the output needs no formatter.

use super::types::{camel, field_name, method_name, Accessor, EnumItem, Item, Layout, Types};
use super::{SkelError, SkelOptions};
use crate::map::MapType;
use crate::object::{GlobalKind, MapKind, MapSpec};
use crate::ObjectSpec;

/// rustfmt's `max_width`.
const MAX_WIDTH: usize = 100;
/// rustfmt's `struct_lit_width`: longer struct literal bodies go one field a line.
const STRUCT_LIT_WIDTH: usize = 18;
/// rustfmt's `chain_width`: longer method chains go one call a line.
const CHAIN_WIDTH: usize = 60;

/// Indented lines.
struct Writer {
    out: String,
    indent: usize,
}

impl Writer {
    fn line(&mut self, s: &str) {
        if s.is_empty() {
            self.out.push('\n');
            return;
        }
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
        self.out.push_str(s);
        self.out.push('\n');
    }

    fn open(&mut self, s: &str) {
        self.line(s);
        self.indent += 1;
    }

    fn close(&mut self, s: &str) {
        self.indent -= 1;
        self.line(s);
    }

    fn doc(&mut self, s: &str) {
        for l in s.lines() {
            self.line(&format!("/// {l}"));
        }
    }

    fn width(&self) -> usize {
        self.indent * 4
    }

    /// `head(params) -> ret {`, on one line when it fits, else one parameter a line.
    fn fn_open(&mut self, head: &str, params: &[&str], ret: Option<&str>) {
        let ret = ret.map(|r| format!(" -> {r}")).unwrap_or_default();
        let one = format!("{head}({}){ret} {{", params.join(", "));
        if self.width() + one.len() <= MAX_WIDTH {
            self.open(&one);
            return;
        }
        self.line(&format!("{head}("));
        self.indent += 1;
        for p in params {
            self.line(&format!("{p},"));
        }
        self.indent -= 1;
        self.open(&format!("){ret} {{"));
    }

    /// `prefix root.a(..).b(..)suffix`: on one line when the chain is short, else one
    /// call a line (rustfmt's `chain_width`).
    fn chain(&mut self, prefix: &str, root: &str, calls: &[String], suffix: &str) {
        let chain = format!("{root}{}", calls.concat());
        let one = format!("{prefix}{chain}{suffix}");
        if chain.len() <= CHAIN_WIDTH && self.width() + one.len() <= MAX_WIDTH {
            self.line(&one);
            return;
        }
        self.line(&format!("{prefix}{root}"));
        self.indent += 1;
        for (i, c) in calls.iter().enumerate() {
            if i + 1 == calls.len() {
                self.line(&format!("{c}{suffix}"));
            } else {
                self.line(c);
            }
        }
        self.indent -= 1;
    }

    /// `self.object.call`, as a statement or tail expression.
    fn object_call(&mut self, call: &str, suffix: &str) {
        self.chain("", "self.object", &[format!(".{call}")], suffix);
    }

    /// `prefix Name { a: x, b }suffix`: on one line when short, as rustfmt decides.
    fn struct_lit(&mut self, prefix: &str, name: &str, fields: &[(String, String)], suffix: &str) {
        let body: Vec<String> = fields
            .iter()
            .map(|(f, v)| {
                if f == v {
                    f.clone()
                } else {
                    format!("{f}: {v}")
                }
            })
            .collect();
        let body = body.join(", ");
        let one = format!("{prefix}{name} {{ {body} }}{suffix}");
        if body.len() <= STRUCT_LIT_WIDTH && self.width() + one.len() <= MAX_WIDTH {
            self.line(&one);
            return;
        }
        self.open(&format!("{prefix}{name} {{"));
        for (f, v) in fields {
            if f == v {
                self.line(&format!("{f},"));
            } else {
                self.line(&format!("{f}: {v},"));
            }
        }
        self.close(&format!("}}{}", suffix));
    }
}

/// A global-data section the skeleton types.
struct Section {
    /// `.rodata`.
    elf: String,
    /// `rodata`: accessor names.
    method: String,
    /// `Rodata`.
    ty: String,
    /// `RodataView`.
    view: String,
    writable: bool,
    datasec: u32,
}

/// A map's accessor in `Maps`.
struct MapAccessor {
    name: String,
    method: String,
    ty: String,
    doc: String,
    typed: bool,
}

/// The whole module.
pub(super) fn module(
    spec: &ObjectSpec,
    bytes: &[u8],
    opts: &SkelOptions,
) -> Result<String, SkelError> {
    let btf = spec.btf.as_ref().ok_or(SkelError::NoBtf)?;
    let sections = sections(spec);
    let reserved: Vec<String> = sections
        .iter()
        .flat_map(|s| [s.ty.clone(), s.view.clone()])
        .collect();
    let mut types = Types::new(btf, &reserved);
    let maps = map_accessors(spec, &mut types)?;
    let mut layouts = Vec::new();
    for s in &sections {
        let doc = format!(
            "Global variables of `{}`, laid out as in the object.",
            s.elf
        );
        layouts.push(types.section(s.datasec, &s.ty, doc)?);
    }
    let ring = record_type(spec, &mut types, MapType::RINGBUF, None)?;
    let perf_size = perf_output_size(spec);
    let perf = record_type(spec, &mut types, MapType::PERF_EVENT_ARRAY, perf_size)?;

    let mut w = Writer {
        out: String::new(),
        indent: 0,
    };
    let name = &opts.name;
    w.line(&format!(
        "// Skeleton of the BPF object `{name}`, generated by corebpf from its BTF: do not edit."
    ));
    w.line("// Regenerate it with `corebpf gen skeleton` (`cargo xtask skel` in corebpf itself).");
    w.line("");
    w.doc(&format!(
        "Skeleton of the BPF object `{name}`: [`{name}::open`] parses it for configuration,\n\
         [`{name}::OpenSkel::load`] loads it, [`{name}::Skel`] holds it loaded."
    ));
    w.line("#[allow(dead_code, non_camel_case_types, non_snake_case, unused_imports)]");
    w.open(&format!("pub mod {name} {{"));
    w.line("use ::corebpf::map::{GlobalData, Map, MapError};");
    w.line("use ::corebpf::skel::{LoadedObject, OpenObject, SkelError};");
    w.line("use ::corebpf::{PerfBufferBuilder, Pod, Program, RingBufferBuilder};");
    w.line("");
    object_bytes(&mut w, bytes, opts);
    for item in &types.items {
        w.line("");
        match item {
            Item::Struct(l) => layout(&mut w, l),
            Item::Enum(e) => enumeration(&mut w, e),
        }
    }
    for (s, l) in sections.iter().zip(&layouts) {
        w.line("");
        view(&mut w, s, l);
    }
    w.line("");
    open_skel(&mut w, spec, name, &sections);
    w.line("");
    skel(&mut w, name, &sections, &ring, &perf);
    w.line("");
    maps_struct(&mut w, &maps);
    w.line("");
    progs_struct(&mut w, spec);
    w.close("}");
    Ok(w.out)
}

/// `OBJECT`: `include_bytes!` of the path given, or a byte-string literal.
fn object_bytes(w: &mut Writer, bytes: &[u8], opts: &SkelOptions) {
    w.doc("The BPF object's bytes.");
    if let Some(path) = &opts.object_path {
        let path = path.escape_default().to_string();
        let one = format!("pub const OBJECT: &[u8] = include_bytes!(\"{path}\");");
        if w.width() + one.len() <= MAX_WIDTH {
            w.line(&one);
        } else {
            w.line("pub const OBJECT: &[u8] =");
            w.indent += 1;
            w.line(&format!("include_bytes!(\"{path}\");"));
            w.indent -= 1;
        }
        return;
    }
    w.line("pub const OBJECT: &[u8] = b\"\\");
    let mut line = String::new();
    for &b in bytes {
        if b.is_ascii_graphic() && b != b'"' && b != b'\\' {
            line.push(b as char);
        } else {
            line.push_str(&format!("\\x{b:02x}"));
        }
        if line.len() >= 96 {
            w.out.push_str(&line);
            w.out.push_str("\\\n");
            line.clear();
        }
    }
    w.out.push_str(&line);
    w.out.push_str("\";\n");
}

fn layout(w: &mut Writer, l: &Layout) {
    w.doc(&l.doc);
    w.line("#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod)]");
    w.line(if l.packed {
        "#[repr(C, packed)]"
    } else {
        "#[repr(C)]"
    });
    w.open(&format!("pub struct {} {{", l.name));
    for f in &l.fields {
        w.doc(&format!("{} (offset {}).", f.doc, f.offset));
        w.line(&format!("pub {}: {},", f.name, f.ty));
    }
    w.close("}");
    w.line("");
    w.open(&format!("impl Default for {} {{", l.name));
    w.doc("All zeros.");
    w.open("fn default() -> Self {");
    w.line("Pod::zeroed()");
    w.close("}");
    w.close("}");
    if l.accessors.is_empty() {
        return;
    }
    w.line("");
    w.open(&format!("impl {} {{", l.name));
    for (i, a) in l.accessors.iter().enumerate() {
        if i > 0 {
            w.line("");
        }
        accessor(w, a);
    }
    w.close("}");
}

fn accessor(w: &mut Writer, a: &Accessor) {
    match a {
        Accessor::Str { field } => {
            let bare = field.trim_start_matches("r#");
            w.doc(&format!(
                "`{bare}` up to its first NUL, as UTF-8 (an error for bytes that are not)."
            ));
            let m = method_name("", field, "_str");
            w.fn_open(
                &format!("pub fn {m}"),
                &["&self"],
                Some("Result<&str, ::std::str::Utf8Error>"),
            );
            w.line(&format!("::corebpf::skel::c_str(&self.{field})"));
            w.close("}");
        }
        Accessor::Enum { field, enum_name } => {
            let bare = field.trim_start_matches("r#");
            w.doc(&format!("`{bare}` as a [`{enum_name}`]."));
            w.fn_open(&format!("pub fn {field}"), &["&self"], Some(enum_name));
            w.line(&format!("{enum_name}::from_raw(self.{field})"));
            w.close("}");
            w.line("");
            w.doc(&format!("Sets `{bare}`."));
            let value = format!("value: {enum_name}");
            let set = method_name("set_", field, "");
            w.fn_open(&format!("pub fn {set}"), &["&mut self", &value], None);
            w.line(&format!("self.{field} = value.to_raw();"));
            w.close("}");
        }
        Accessor::Bitfield {
            name,
            storage,
            bit,
            bits,
            ty,
            signed,
            doc,
        } => {
            w.doc(&format!(
                "{doc}: bits {bit}..{} of `{storage}`.",
                bit + bits
            ));
            w.fn_open(&format!("pub fn {name}"), &["&self"], Some(ty));
            let (get, wide) = if *signed {
                ("bitfield_get_signed", "i64")
            } else {
                ("bitfield_get", "u64")
            };
            let cast = if *ty == wide {
                String::new()
            } else {
                format!(" as {ty}")
            };
            w.line(&format!(
                "::corebpf::skel::{get}(&self.{storage}, {bit}, {bits}){cast}"
            ));
            w.close("}");
            w.line("");
            let bare = name.trim_start_matches("r#");
            w.doc(&format!("Sets `{bare}` to the low {bits} bits of `value`."));
            let set = method_name("set_", name, "");
            let value = format!("value: {ty}");
            w.fn_open(&format!("pub fn {set}"), &["&mut self", &value], None);
            let value = if *ty == "u64" {
                "value"
            } else {
                "value as u64"
            };
            w.line(&format!(
                "::corebpf::skel::bitfield_set(&mut self.{storage}, {bit}, {bits}, {value});"
            ));
            w.close("}");
        }
        Accessor::Union { name, ty, doc } => {
            w.doc(&format!(
                "{doc}: the union's first bytes read as this member."
            ));
            w.fn_open(&format!("pub fn {name}"), &["&self"], Some(ty));
            w.line("::corebpf::skel::read_prefix(&self.bytes)");
            w.close("}");
            w.line("");
            let bare = name.trim_start_matches("r#");
            w.doc(&format!(
                "Writes member `{bare}` (the bytes past it are kept)."
            ));
            let set = method_name("set_", name, "");
            let value = format!("value: {ty}");
            w.fn_open(&format!("pub fn {set}"), &["&mut self", &value], None);
            w.line("::corebpf::skel::write_prefix(&mut self.bytes, &value);");
            w.close("}");
        }
    }
}

fn enumeration(w: &mut Writer, e: &EnumItem) {
    let (n, raw) = (&e.name, e.raw);
    w.doc(&e.doc);
    w.line("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]");
    w.open(&format!("pub enum {n} {{"));
    for (v, c, lit) in &e.variants {
        w.doc(&format!("`{c}` ({lit})."));
        w.line(&format!("{v},"));
    }
    w.doc("A value the enum does not name.");
    w.line(&format!("Other({raw}),"));
    w.close("}");
    w.line("");
    w.open(&format!("impl {n} {{"));
    w.doc(&format!(
        "The variant of `raw`: [`{n}::Other`] for a value the enum does not name."
    ));
    w.fn_open(
        "pub const fn from_raw",
        &[&format!("raw: {raw}")],
        Some("Self"),
    );
    if e.variants.is_empty() {
        w.line("Self::Other(raw)");
    } else {
        w.open("match raw {");
        let mut seen = std::collections::BTreeSet::new();
        for (v, _, lit) in &e.variants {
            if seen.insert(lit.clone()) {
                w.line(&format!("{lit} => Self::{v},"));
            }
        }
        w.line("other => Self::Other(other),");
        w.close("}");
    }
    w.close("}");
    w.line("");
    w.doc("The value as the object stores it.");
    w.fn_open("pub const fn to_raw", &["self"], Some(raw));
    if e.variants.is_empty() {
        w.line("let Self::Other(raw) = self;");
        w.line("raw");
    } else {
        w.open("match self {");
        for (v, _, lit) in &e.variants {
            w.line(&format!("Self::{v} => {lit},"));
        }
        w.line("Self::Other(raw) => raw,");
        w.close("}");
    }
    w.close("}");
    w.close("}");
    w.line("");
    w.open(&format!("impl From<{raw}> for {n} {{"));
    w.open(&format!("fn from(raw: {raw}) -> Self {{"));
    w.line("Self::from_raw(raw)");
    w.close("}");
    w.close("}");
    w.line("");
    w.open(&format!("impl From<{n}> for {raw} {{"));
    w.open(&format!("fn from(value: {n}) -> Self {{"));
    w.line("value.to_raw()");
    w.close("}");
    w.close("}");
}

/// The global-data sections with variables, in object order.
fn sections(spec: &ObjectSpec) -> Vec<Section> {
    let Some(btf) = spec.btf.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in &spec.maps {
        let MapKind::GlobalData(kind) = m.kind else {
            continue;
        };
        if kind == GlobalKind::Kconfig || m.btf_value_type_id == 0 {
            continue;
        }
        let has_vars = btf.type_by_id(m.btf_value_type_id).is_ok_and(|t| {
            t.datasec_vars().any(|v| {
                btf.type_by_id(v.type_id)
                    .is_ok_and(|t| t.kind == crate::btf::Kind::Var)
            })
        });
        let method: String = m
            .name
            .trim_start_matches('.')
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if !has_vars || !super::types::is_identifier(&method) {
            continue;
        }
        let ty = camel(&method);
        out.push(Section {
            elf: m.name.clone(),
            method: field_name(&method),
            view: format!("{ty}View"),
            ty,
            writable: kind != GlobalKind::Rodata,
            datasec: m.btf_value_type_id,
        });
    }
    out
}

/// A view's accessor name for variable `field`, clear of the view's own methods.
fn var_method(field: &str) -> String {
    if matches!(field, "data" | "read" | "write") {
        format!("{field}_var")
    } else {
        field.to_string()
    }
}

fn view(w: &mut Writer, s: &Section, l: &Layout) {
    let live = if s.writable {
        "reads and writes reach the programs' memory"
    } else {
        "frozen at load: it reads, and the library refuses writes"
    };
    w.doc(&format!(
        "A live view of the loaded object's `{}`: {live}.",
        s.elf
    ));
    w.open(&format!("pub struct {}<'a> {{", s.view));
    w.line("data: GlobalData<'a>,");
    w.close("}");
    w.line("");
    w.open(&format!(
        "impl<'a> From<GlobalData<'a>> for {}<'a> {{",
        s.view
    ));
    w.open("fn from(data: GlobalData<'a>) -> Self {");
    w.line("Self { data }");
    w.close("}");
    w.close("}");
    w.line("");
    w.open(&format!("impl<'a> {}<'a> {{", s.view));
    w.doc("The library's view of the section.");
    w.open("pub fn data(&self) -> &GlobalData<'a> {");
    w.line("&self.data");
    w.close("}");
    w.line("");
    w.doc("The whole section.");
    w.fn_open(
        "pub fn read",
        &["&self"],
        Some(&format!("Result<{}, MapError>", s.ty)),
    );
    w.line("self.data.read()");
    w.close("}");
    if s.writable {
        w.line("");
        w.doc("Writes the whole section.");
        let value = format!("value: &{}", s.ty);
        w.fn_open(
            "pub fn write",
            &["&self", &value],
            Some("Result<(), MapError>"),
        );
        w.line("self.data.write(value)");
        w.close("}");
    }
    for f in l.fields.iter().filter(|f| !f.name.starts_with("_pad_")) {
        w.line("");
        let m = var_method(&f.name);
        w.doc(&format!("{}, read from the programs' memory.", f.doc));
        let ret = format!("Result<{}, MapError>", f.ty);
        w.fn_open(&format!("pub fn {m}"), &["&self"], Some(&ret));
        w.line(&format!("self.data.read_at({})", f.offset));
        w.close("}");
        if s.writable {
            w.line("");
            w.doc(&format!("Sets `{}`.", f.name.trim_start_matches("r#")));
            let set = method_name("set_", &f.name, "");
            let value = format!("value: &{}", f.ty);
            w.fn_open(
                &format!("pub fn {set}"),
                &["&self", &value],
                Some("Result<(), MapError>"),
            );
            w.line(&format!("self.data.write_at({}, value)", f.offset));
            w.close("}");
        }
    }
    w.close("}");
}

fn open_skel(w: &mut Writer, spec: &ObjectSpec, name: &str, sections: &[Section]) {
    w.doc(&format!(
        "Parses the embedded object `{name}` (programs: {}, maps: {}), ready to configure.",
        spec.programs.len(),
        spec.maps.len()
    ));
    w.open("pub fn open() -> Result<OpenSkel, SkelError> {");
    w.line(&format!(
        "let object = OpenObject::parse(OBJECT, \"{name}\")?;"
    ));
    let mut fields: Vec<(String, String)> = sections
        .iter()
        .map(|s| (s.method.clone(), format!("object.section(\"{}\")?", s.elf)))
        .collect();
    fields.push(("object".into(), "object".into()));
    w.struct_lit("Ok(", "OpenSkel", &fields, ")");
    w.close("}");
    w.line("");
    w.doc(&format!(
        "`{name}` parsed, not loaded: set its global variables' initial values, its maps'\n\
         sizes and which programs load, then [`OpenSkel::load`]."
    ));
    w.open("pub struct OpenSkel {");
    w.line("object: OpenObject,");
    for s in sections {
        w.line(&format!("{}: {},", s.method, s.ty));
    }
    w.close("}");
    w.line("");
    w.open("impl OpenSkel {");
    w.doc("The parsed object: loader options, the object's specification.");
    w.open("pub fn object(&mut self) -> &mut OpenObject {");
    w.line("&mut self.object");
    w.close("}");
    for s in sections {
        let (m, ty) = (&s.method, &s.ty);
        w.line("");
        w.doc(&format!("`{}` as the object will be loaded with.", s.elf));
        w.fn_open(&format!("pub fn {m}"), &["&self"], Some(&format!("&{ty}")));
        w.line(&format!("&self.{m}"));
        w.close("}");
        w.line("");
        let frozen = if s.writable { "" } else { " (then frozen)" };
        w.doc(&format!(
            "`{}`, to change before load: written into the map at load{frozen}.",
            s.elf
        ));
        let mut_m = method_name("", m, "_mut");
        w.fn_open(
            &format!("pub fn {mut_m}"),
            &["&mut self"],
            Some(&format!("&mut {ty}")),
        );
        w.line(&format!("&mut self.{m}"));
        w.close("}");
    }
    w.line("");
    w.doc("Creates map `map` with `max_entries` entries instead of what the object says.");
    w.fn_open(
        "pub fn set_max_entries",
        &["&mut self", "map: &str", "max_entries: u32"],
        Some("Result<(), SkelError>"),
    );
    w.line("self.object.set_max_entries(map, max_entries)");
    w.close("}");
    w.line("");
    w.doc("Loads program `program` or not.");
    w.fn_open(
        "pub fn set_autoload",
        &["&mut self", "program: &str", "load: bool"],
        Some("Result<(), SkelError>"),
    );
    w.line("self.object.set_autoload(program, load)");
    w.close("}");
    w.line("");
    w.doc("Loads the object: BTF, maps (with the sections above), programs.");
    let this = if sections.is_empty() {
        "self"
    } else {
        "mut self"
    };
    w.fn_open("pub fn load", &[this], Some("Result<Skel, SkelError>"));
    for s in sections {
        let call = format!("set_section(\"{}\", self.{}.as_bytes())?", s.elf, s.method);
        w.object_call(&call, ";");
    }
    w.line("let object = self.object.load()?;");
    w.line("Ok(Skel { object })");
    w.close("}");
    w.close("}");
}

fn skel(
    w: &mut Writer,
    name: &str,
    sections: &[Section],
    ring: &[(String, String)],
    perf: &[(String, String)],
) {
    w.doc(&format!(
        "`{name}` loaded. Dropping it detaches what [`Skel::attach`] attached, then\n\
         releases the programs and maps."
    ));
    w.open("pub struct Skel {");
    w.line("object: LoadedObject,");
    w.close("}");
    w.line("");
    w.open("impl Skel {");
    w.doc("The loaded object and its links.");
    w.open("pub fn object(&self) -> &LoadedObject {");
    w.line("&self.object");
    w.close("}");
    w.line("");
    w.doc("The loaded object, mutable (to pin its maps).");
    w.open("pub fn object_mut(&mut self) -> &mut LoadedObject {");
    w.line("&mut self.object");
    w.close("}");
    w.line("");
    w.doc("The maps, typed.");
    w.open("pub fn maps(&self) -> Maps<'_> {");
    w.struct_lit("", "Maps", &[("object".into(), "&self.object".into())], "");
    w.close("}");
    w.line("");
    w.doc("The programs.");
    w.open("pub fn progs(&self) -> Progs<'_> {");
    w.struct_lit("", "Progs", &[("object".into(), "&self.object".into())], "");
    w.close("}");
    w.line("");
    w.doc("Attaches every program whose section names its target; the links are kept.");
    w.open("pub fn attach(&mut self) -> Result<(), SkelError> {");
    w.line("self.object.attach()");
    w.close("}");
    w.line("");
    w.doc("Detaches what [`Skel::attach`] attached.");
    w.open("pub fn detach(&mut self) {");
    w.line("self.object.detach()");
    w.close("}");
    for s in sections {
        w.line("");
        w.doc(&format!("A live view of `{}`.", s.elf));
        let ret = format!("Result<{}<'_>, SkelError>", s.view);
        w.fn_open(&format!("pub fn {}", s.method), &["&self"], Some(&ret));
        let calls = [
            format!(".section(\"{}\")", s.elf),
            format!(".map({}::from)", s.view),
        ];
        w.chain("", "self.object", &calls, "");
        w.close("}");
    }
    for (map, ty) in ring {
        w.line("");
        w.doc(&format!(
            "A ring buffer builder for `{map}`, its records read as [`{ty}`]s: `callback`\n\
             returns 0 to go on. Add other maps or `build()` it."
        ));
        let m = method_name("", map, "_ring_buffer");
        let cb = format!("callback: impl FnMut(&{ty}) -> i32 + Send + 'a");
        let ret = "Result<RingBufferBuilder<'a>, SkelError>";
        w.fn_open(&format!("pub fn {m}<'a>"), &["&'a self", &cb], Some(ret));
        w.object_call(&format!("ring_buffer(\"{map}\", callback)"), "");
        w.close("}");
    }
    for (map, ty) in perf {
        w.line("");
        w.doc(&format!(
            "A perf buffer builder for `{map}`, its samples read as [`{ty}`]s with their\n\
             CPU. Set pages or a lost-sample callback, then `build()` it."
        ));
        let m = method_name("", map, "_perf_buffer");
        let cb = format!("callback: impl FnMut(u32, &{ty}) + Send + 'a");
        let ret = "Result<PerfBufferBuilder<'a>, SkelError>";
        w.fn_open(&format!("pub fn {m}<'a>"), &["&'a self", &cb], Some(ret));
        w.object_call(&format!("perf_buffer(\"{map}\", callback)"), "");
        w.close("}");
    }
    w.close("}");
}

fn map_type_name(t: MapType) -> &'static str {
    t.name()
}

/// The typed view of each map (not global data, not struct_ops).
fn map_accessors(spec: &ObjectSpec, types: &mut Types<'_>) -> Result<Vec<MapAccessor>, SkelError> {
    let mut out = Vec::new();
    for m in &spec.maps {
        if !matches!(m.kind, MapKind::Btf | MapKind::Legacy) {
            continue;
        }
        let t = MapType(m.map_type);
        let hint = camel(&m.name);
        let key = key_value(types, m.btf_key_type_id, m.key_size, &format!("{hint}Key"))?;
        let value = key_value(
            types,
            m.btf_value_type_id,
            m.value_size,
            &format!("{hint}Value"),
        )?;
        let view = match t {
            MapType::HASH | MapType::LRU_HASH => Some(format!("HashMap<'a, {key}, {value}>")),
            MapType::ARRAY if key == "u32" => Some(format!("Array<'a, {value}>")),
            MapType::PERCPU_HASH => Some(format!("PerCpuHashMap<'a, {key}, {value}>")),
            MapType::LRU_PERCPU_HASH => Some(format!("LruPerCpuHashMap<'a, {key}, {value}>")),
            MapType::PERCPU_ARRAY if key == "u32" => Some(format!("PerCpuArray<'a, {value}>")),
            _ => None,
        };
        let kind = map_type_name(t);
        let (ty, doc, typed) = match view {
            Some(v) => (
                format!("::corebpf::map::{v}"),
                format!(
                    "`{}`: {kind}, `{key}` keys, `{value}` values, {} entries.",
                    m.name, m.max_entries
                ),
                true,
            ),
            None => (
                "&'a Map".to_string(),
                format!("`{}`: {kind}, {} entries.", m.name, m.max_entries),
                false,
            ),
        };
        out.push(MapAccessor {
            name: m.name.clone(),
            method: field_name(&m.name),
            ty,
            doc,
            typed,
        });
    }
    Ok(out)
}

/// The Rust type of a map's key or value: its BTF type when it has one of the map's
/// size, else bytes.
fn key_value(types: &mut Types<'_>, id: u32, size: u32, hint: &str) -> Result<String, SkelError> {
    if id != 0 {
        if let Ok(rt) = types.rust_type(id, hint) {
            if rt.size == size {
                return Ok(rt.text);
            }
        }
    }
    Ok(format!("[u8; {size}]"))
}

fn maps_struct(w: &mut Writer, maps: &[MapAccessor]) {
    w.doc("The loaded object's maps, typed by their BTF.");
    w.line("#[derive(Clone, Copy)]");
    w.open("pub struct Maps<'a> {");
    w.line("object: &'a LoadedObject,");
    w.close("}");
    if maps.is_empty() {
        return;
    }
    w.line("");
    w.open("impl<'a> Maps<'a> {");
    for (i, m) in maps.iter().enumerate() {
        if i > 0 {
            w.line("");
        }
        w.doc(&m.doc);
        let ret = format!("Result<{}, SkelError>", m.ty);
        w.fn_open(&format!("pub fn {}", m.method), &["&self"], Some(&ret));
        let call = if m.typed { "view" } else { "map" };
        w.object_call(&format!("{call}(\"{}\")", m.name), "");
        w.close("}");
    }
    w.close("}");
}

fn progs_struct(w: &mut Writer, spec: &ObjectSpec) {
    w.doc("The loaded object's programs.");
    w.line("#[derive(Clone, Copy)]");
    w.open("pub struct Progs<'a> {");
    w.line("object: &'a LoadedObject,");
    w.close("}");
    if spec.programs.is_empty() {
        return;
    }
    w.line("");
    w.open("impl<'a> Progs<'a> {");
    for (i, p) in spec.programs.iter().enumerate() {
        if i > 0 {
            w.line("");
        }
        w.doc(&format!(
            "`{}`, `SEC(\"{}\")`; `None` when it was not loaded.",
            p.name, p.section
        ));
        let m = field_name(&p.name);
        w.fn_open(
            &format!("pub fn {m}"),
            &["&self"],
            Some("Option<&'a Program>"),
        );
        w.object_call(&format!("program(\"{}\")", p.name), "");
        w.close("}");
    }
    w.close("}");
}

/// The record type of each map of type `t`: the named struct of size `size` when
/// known and unique (`event` first), else `struct event`.
fn record_type(
    spec: &ObjectSpec,
    types: &mut Types<'_>,
    t: MapType,
    size: Option<u32>,
) -> Result<Vec<(String, String)>, SkelError> {
    let Some(btf) = spec.btf.as_ref() else {
        return Ok(Vec::new());
    };
    let maps: Vec<&MapSpec> = spec
        .maps
        .iter()
        .filter(|m| m.map_type == t.0 && matches!(m.kind, MapKind::Btf | MapKind::Legacy))
        .collect();
    if maps.is_empty() {
        return Ok(Vec::new());
    }
    let event = btf.find_by_name_kind("event", crate::btf::Kind::Struct);
    let id = match size {
        Some(size) => {
            let sized: Vec<u32> = btf
                .types()
                .filter(|t| t.kind.is_composite() && t.size() == size)
                .filter(|t| btf.name_of(t).is_ok_and(|n| !n.is_empty()))
                .map(|t| t.id)
                .collect();
            match (event.filter(|e| sized.contains(e)), sized.as_slice()) {
                (Some(e), _) => Some(e),
                (None, [only]) => Some(*only),
                _ => None,
            }
        }
        None => event,
    };
    let Some(id) = id else {
        return Ok(Vec::new());
    };
    let ty = types.rust_type(id, "Record")?.text;
    Ok(maps.iter().map(|m| (m.name.clone(), ty.clone())).collect())
}

/// The size every `bpf_perf_event_output`-like call of the object passes (r5 set to a
/// constant shortly before the call), when they agree.
fn perf_output_size(spec: &ObjectSpec) -> Option<u32> {
    // bpf_perf_event_output, bpf_skb_output, bpf_xdp_output.
    const HELPERS: [i32; 3] = [25, 111, 121];
    let mut size = None;
    for p in &spec.programs {
        for (i, insn) in p.insns.iter().enumerate() {
            if !insn.is_helper_call() || !HELPERS.contains(&insn.imm) {
                continue;
            }
            let this = r5_before(&p.insns[..i])?;
            if *size.get_or_insert(this) != this {
                return None;
            }
        }
    }
    size
}

/// The constant `r5 = imm` sets last in `insns`, with no jump in between.
fn r5_before(insns: &[crate::Insn]) -> Option<u32> {
    for insn in insns.iter().rev().take(32) {
        if matches!(insn.class(), 0x05 | 0x06) {
            return None;
        }
        if insn.dst() == 5 && !insn.is_ld_imm64() {
            // BPF_ALU64 | BPF_MOV | BPF_K, BPF_ALU | BPF_MOV | BPF_K.
            return matches!(insn.code, 0xb7 | 0xb4)
                .then_some(insn.imm)
                .and_then(|v| u32::try_from(v).ok());
        }
    }
    None
}
