//! What `load` and `run` are told about an object before it is loaded (which programs,
//! global values, map sizes) and, for `run`, where programs attach when their section
//! does not say (`--iface`, `--cgroup`, `--pid`, `--binary`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Args;
use corebpf::object::section::XdpAttach;
use corebpf::object::{MapKind, ProgramKind, ProgramSpec};
use corebpf::program::{
    CgroupAttachMode, Interface, Netkit, SchedClassifier, TcAttachType, UProbe, UProbeMulti,
    UprobeLocation, Usdt, Xdp, XdpMode,
};
use corebpf::{Link, Loader, ObjectSpec, Program};

use crate::Result;

/// Choosing programs, setting globals and sizing maps, before load.
#[derive(Debug, Default, Args)]
pub struct ObjectOptions {
    /// Load only program PROG (repeatable); the others are not loaded
    #[arg(long, value_name = "PROG", allow_hyphen_values = true)]
    pub only: Vec<String>,
    /// Do not load program PROG (repeatable)
    #[arg(long, value_name = "PROG", allow_hyphen_values = true)]
    pub disable: Vec<String>,
    /// Set the .rodata/.data/.bss global NAME to VALUE before load, read as its BTF
    /// type says: integers (decimal, 0x hex), true/false, enumerator names, strings for
    /// char arrays (repeatable)
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_assignment, allow_hyphen_values = true)]
    pub set: Vec<(String, String)>,
    /// Create map MAP with N entries instead of its declared max_entries (repeatable)
    #[arg(long, value_name = "MAP=N", value_parser = parse_map_size, allow_hyphen_values = true)]
    pub map_size: Vec<(String, u32)>,
}

/// Where programs attach when their section does not say.
#[derive(Debug, Default, Args)]
pub struct AttachTargets {
    /// Network interface for XDP and TC programs (name or index)
    #[arg(long, value_name = "IFACE", allow_hyphen_values = true)]
    pub iface: Option<String>,
    /// Cgroup (a directory of cgroup2) for cgroup, sockops and lsm_cgroup programs
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    pub cgroup: Option<PathBuf>,
    /// Only this process triggers uprobes and USDT probes
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Executable or library for uprobe/USDT sections that name no binary
    /// (`uprobe/FUNC`, `usdt/PROVIDER:NAME`)
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    pub binary: Option<PathBuf>,
}

/// `NAME=VALUE`, split at the first `=`.
fn parse_assignment(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err("expected NAME=VALUE".into()),
    }
}

/// `MAP=N`, N a number of entries.
fn parse_map_size(text: &str) -> std::result::Result<(String, u32), String> {
    let (name, n) = parse_assignment(text).map_err(|_| "expected MAP=N".to_string())?;
    let n = n
        .parse::<u32>()
        .map_err(|_| format!("'{n}' is not a number of entries (0 to {})", u32::MAX))?;
    Ok((name, n))
}

/// "a, b, c", or "none".
fn listing<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Applies `opts` to `spec` (map sizes) and `loader` (programs, globals), after checking
/// every name they give against the object.
pub fn prepare(spec: &mut ObjectSpec, opts: &ObjectOptions, mut loader: Loader) -> Result<Loader> {
    for name in opts.only.iter().chain(&opts.disable) {
        if spec.program(name).is_none() {
            bail!(
                "no program '{name}' in {} (its programs: {})",
                spec.name,
                listing(spec.programs.iter().map(|p| p.name.as_str()))
            );
        }
    }
    for p in &spec.programs {
        let load = loads(opts, p);
        if load != p.autoload {
            loader = loader.autoload(&p.name, load);
        }
    }
    for (name, text) in &opts.set {
        let bytes = spec
            .global_value(name, text)
            .with_context(|| format!("--set {name}={text}"))?;
        loader = loader.global(name, &bytes);
    }
    for (name, n) in &opts.map_size {
        set_map_size(spec, name, *n)?;
    }
    Ok(loader)
}

/// Whether program `p` is loaded: named by `--only` (or no `--only` and its section
/// loads it by default), and not named by `--disable`.
pub fn loads(opts: &ObjectOptions, p: &ProgramSpec) -> bool {
    let chosen = if opts.only.is_empty() {
        p.autoload
    } else {
        opts.only.contains(&p.name)
    };
    chosen && !opts.disable.contains(&p.name)
}

/// libbpf's `bpf_map__set_max_entries`, on the spec before load.
fn set_map_size(spec: &mut ObjectSpec, name: &str, n: u32) -> Result<()> {
    let object = spec.name.clone();
    let names = listing(spec.maps.iter().map(|m| m.name.as_str()));
    let Some(m) = spec.maps.iter_mut().find(|m| m.name == name) else {
        bail!("--map-size {name}={n}: no map '{name}' in {object} (its maps: {names})");
    };
    if matches!(m.kind, MapKind::GlobalData(_)) {
        bail!("--map-size {name}={n}: map '{name}' holds global variables; it has one entry");
    }
    m.max_entries = n;
    Ok(())
}

/// A target flag a program needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// `--iface`: XDP on an interface, TC, netkit.
    Iface,
    /// `--cgroup`: cgroup programs, sockops, lsm_cgroup.
    Cgroup,
    /// `--binary`: a uprobe or USDT section naming no binary.
    Binary,
}

impl Need {
    /// The flag, as typed.
    pub fn flag(self) -> &'static str {
        match self {
            Need::Iface => "--iface IFACE",
            Need::Cgroup => "--cgroup PATH",
            Need::Binary => "--binary PATH",
        }
    }

    fn given(self, t: &AttachTargets) -> bool {
        match self {
            Need::Iface => t.iface.is_some(),
            Need::Cgroup => t.cgroup.is_some(),
            Need::Binary => t.binary.is_some(),
        }
    }
}

/// The target flag a program of `kind` needs to attach, if any.
pub fn need(kind: &ProgramKind) -> Option<Need> {
    use ProgramKind as K;
    match kind {
        K::Xdp {
            attach: XdpAttach::Interface,
            ..
        } => Some(Need::Iface),
        K::SchedCls { .. } => Some(Need::Iface),
        K::CgroupSkb { .. }
        | K::CgroupSock { .. }
        | K::CgroupSockAddr { .. }
        | K::CgroupSysctl
        | K::CgroupSockopt { .. }
        | K::CgroupDevice
        | K::SockOps
        | K::LsmCgroup { .. } => Some(Need::Cgroup),
        K::Uprobe {
            target: Some(t), ..
        }
        | K::UprobeMulti {
            target: Some(t), ..
        } if !t.contains(':') => Some(Need::Binary),
        K::Usdt {
            target: Some(t), ..
        } if t.matches(':').count() < 2 => Some(Need::Binary),
        _ => None,
    }
}

/// Errors for the first program that will load and needs a target flag not given;
/// warns about target flags no program uses.
pub fn check_targets(spec: &ObjectSpec, opts: &ObjectOptions, t: &AttachTargets) -> Result<()> {
    let mut used = Vec::new();
    for p in spec.programs.iter().filter(|p| loads(opts, p)) {
        let Some(n) = need(&p.kind) else {
            continue;
        };
        if !n.given(t) {
            bail!(
                "program '{}' (section {}) attaches to a target its section does not name: give {}",
                p.name,
                p.section,
                n.flag()
            );
        }
        used.push(n);
    }
    let uprobes = spec.programs.iter().filter(|p| loads(opts, p)).any(|p| {
        matches!(
            p.kind,
            ProgramKind::Uprobe { .. } | ProgramKind::UprobeMulti { .. } | ProgramKind::Usdt { .. }
        )
    });
    for (given, n) in [
        (t.iface.is_some(), Need::Iface),
        (t.cgroup.is_some(), Need::Cgroup),
        (t.binary.is_some(), Need::Binary),
    ] {
        if given && !used.contains(&n) {
            crate::output::note(&format!("no program loaded uses {}", n.flag()));
        }
    }
    if t.pid.is_some() && !uprobes {
        crate::output::note("no program loaded is a uprobe or USDT probe; --pid has no effect");
    }
    Ok(())
}

/// Attaches every loaded program that can be: where its section says, or where the
/// target flags say for the kinds that need one ([`need`]).
pub fn attach(obj: &corebpf::Object, t: &AttachTargets) -> Result<Vec<corebpf::Link>> {
    let mut links = Vec::new();
    for p in obj.programs() {
        let user_probe = matches!(
            p.kind(),
            ProgramKind::Uprobe {
                target: Some(_),
                ..
            } | ProgramKind::UprobeMulti {
                target: Some(_),
                ..
            } | ProgramKind::Usdt {
                target: Some(_),
                ..
            }
        );
        let link = if user_probe && (t.pid.is_some() || need(p.kind()).is_some()) {
            attach_user_probe(p, t)
        } else {
            match need(p.kind()) {
                Some(Need::Iface) => attach_iface(p, t),
                Some(Need::Cgroup) => attach_cgroup(p, t),
                Some(Need::Binary) => attach_user_probe(p, t),
                None if p.can_auto_attach() => p.attach().map_err(Into::into),
                // Registered below, with their struct_ops map.
                None if matches!(p.kind(), ProgramKind::StructOps { .. }) => continue,
                None => {
                    crate::output::note(&format!(
                        "not attached: program '{}' (section {}): its section names no target",
                        p.name(),
                        p.section()
                    ));
                    continue;
                }
            }
        };
        links.push(link?);
    }
    for ops in obj.struct_ops_maps() {
        links.push(ops.attach()?);
    }
    Ok(links)
}

/// The value of a target flag [`check_targets`] made sure of.
fn given<'a, T: ?Sized>(value: Option<&'a T>, n: Need, p: &Program) -> Result<&'a T> {
    value.with_context(|| format!("program '{}' needs {}", p.name(), n.flag()))
}

/// `--iface`: a number is an interface index, anything else a name.
fn interface(text: &str) -> Interface {
    text.parse::<u32>()
        .map_or_else(|_| Interface::from(text), Interface::from)
}

/// XDP, netkit and TC programs on `--iface` (a plain `tc` section: ingress).
fn attach_iface(p: &Program, t: &AttachTargets) -> Result<Link> {
    let iface = interface(given(t.iface.as_deref(), Need::Iface, p)?);
    if let Ok(xdp) = Xdp::try_from(p) {
        return Ok(xdp.attach(iface, XdpMode::Default)?);
    }
    if let Ok(netkit) = Netkit::try_from(p) {
        return Ok(netkit.attach(iface)?);
    }
    let tc = SchedClassifier::try_from(p)?;
    let side = tc.section_attach_type().unwrap_or(TcAttachType::Ingress);
    Ok(tc.attach(iface, side)?)
}

/// Cgroup programs on `--cgroup`, sharing the hook with others (`BPF_F_ALLOW_MULTI`).
fn attach_cgroup(p: &Program, t: &AttachTargets) -> Result<Link> {
    use corebpf::program::{
        CgroupDevice, CgroupSkb, CgroupSock, CgroupSockAddr, CgroupSockopt, CgroupSysctl,
        LsmCgroup, SockOps,
    };
    let path = given(t.cgroup.as_deref(), Need::Cgroup, p)?;
    let mode = CgroupAttachMode::AllowMultiple;
    macro_rules! first_view {
        ($($view:ident),*) => {
            $(if let Ok(v) = $view::try_from(p) {
                return Ok(v.attach_path(path, mode)?);
            })*
        };
    }
    first_view!(
        CgroupSkb,
        CgroupSock,
        CgroupSockAddr,
        CgroupSockopt,
        CgroupSysctl,
        CgroupDevice,
        SockOps,
        LsmCgroup
    );
    bail!(
        "program '{}' (section {}) is no cgroup program",
        p.name(),
        p.section()
    )
}

/// The binary of a uprobe/USDT section target: the section's own `PATH:` when it has
/// one, else `--binary`.
fn binary<'a>(
    p: &Program,
    t: &'a AttachTargets,
    section_path: Option<&'a str>,
) -> Result<&'a Path> {
    match section_path {
        Some(path) => Ok(Path::new(path)),
        None => given(t.binary.as_deref(), Need::Binary, p),
    }
}

/// `FUNC[+OFF]` (OFF decimal or 0x hex).
fn uprobe_location(text: &str) -> Result<UprobeLocation<'_>> {
    let Some((func, off)) = text.split_once('+') else {
        return Ok(UprobeLocation::Function(text));
    };
    let offset = match off.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => off.parse(),
    }
    .with_context(|| format!("'{off}' in '{text}' is no offset"))?;
    Ok(UprobeLocation::FunctionOffset(func, offset))
}

/// Uprobes, uprobe.multi and USDT probes, in the section's binary or `--binary`, for
/// `--pid` only when given.
fn attach_user_probe(p: &Program, t: &AttachTargets) -> Result<Link> {
    match p.kind() {
        ProgramKind::Uprobe {
            target: Some(s), ..
        } => {
            let (path, at) = split_path(s, 1);
            let location = uprobe_location(at)?;
            Ok(UProbe::try_from(p)?.attach(binary(p, t, path)?, location, t.pid, None)?)
        }
        ProgramKind::UprobeMulti {
            target: Some(s), ..
        } => {
            let (path, pattern) = split_path(s, 1);
            Ok(UProbeMulti::try_from(p)?.attach(binary(p, t, path)?, pattern, t.pid)?)
        }
        ProgramKind::Usdt {
            target: Some(s), ..
        } => {
            let (path, probe) = split_path(s, 2);
            let (provider, name) = probe.split_once(':').unwrap_or(("", probe));
            Ok(Usdt::try_from(p)?.attach(binary(p, t, path)?, provider, name, t.pid, None)?)
        }
        _ => bail!(
            "program '{}' (section {}) names no function to probe",
            p.name(),
            p.section()
        ),
    }
}

/// Splits `PATH:REST`, REST being the last `parts` colon-separated fields
/// (`FUNC`, or `PROVIDER:NAME`): `(None, text)` when there is no path.
fn split_path(text: &str, parts: usize) -> (Option<&str>, &str) {
    let mut at = text.len();
    for _ in 0..parts {
        match text[..at].rfind(':') {
            Some(i) => at = i,
            None => return (None, text),
        }
    }
    // `parts` colons found from the right: the last one ends the path.
    (Some(&text[..at]), &text[at + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_split_at_the_first_equals() {
        assert_eq!(
            parse_assignment("label=a=b").unwrap(),
            ("label".into(), "a=b".into())
        );
        assert_eq!(parse_assignment("x=").unwrap(), ("x".into(), "".into()));
        assert!(parse_assignment("=1").is_err());
        assert!(parse_assignment("x").is_err());
    }

    #[test]
    fn map_sizes_are_numbers_of_entries() {
        assert_eq!(parse_map_size("seen=4096").unwrap(), ("seen".into(), 4096));
        assert!(parse_map_size("seen=-1").is_err());
        assert!(parse_map_size("seen=4294967296").is_err());
        assert!(parse_map_size("seen").is_err());
    }

    #[test]
    fn each_kind_needs_its_flag() {
        let k = |s: &str| need(&ProgramKind::from_section(s).unwrap());
        assert_eq!(k("xdp"), Some(Need::Iface));
        assert_eq!(k("xdp/devmap"), None);
        assert_eq!(k("tc"), Some(Need::Iface));
        assert_eq!(k("tcx/egress"), Some(Need::Iface));
        assert_eq!(k("cgroup_skb/ingress"), Some(Need::Cgroup));
        assert_eq!(k("cgroup/connect4"), Some(Need::Cgroup));
        assert_eq!(k("sockops"), Some(Need::Cgroup));
        assert_eq!(k("uprobe/readline"), Some(Need::Binary));
        assert_eq!(k("uretprobe/readline"), Some(Need::Binary));
        assert_eq!(k("uprobe//bin/bash:readline"), None);
        assert_eq!(k("usdt/prov:name"), Some(Need::Binary));
        assert_eq!(k("usdt//bin/x:prov:name"), None);
        assert_eq!(k("tracepoint/syscalls/sys_enter_execve"), None);
        assert_eq!(k("socket"), None);
    }

    #[test]
    fn section_targets_split_into_path_and_probe() {
        assert_eq!(
            split_path("/bin/bash:readline", 1),
            (Some("/bin/bash"), "readline")
        );
        assert_eq!(split_path("readline", 1), (None, "readline"));
        assert_eq!(
            split_path("/x/lib.so:prov:name", 2),
            (Some("/x/lib.so"), "prov:name")
        );
        assert_eq!(split_path("prov:name", 2), (None, "prov:name"));
    }

    #[test]
    fn uprobe_locations_take_an_offset() {
        assert!(matches!(
            uprobe_location("readline").unwrap(),
            UprobeLocation::Function("readline")
        ));
        assert!(matches!(
            uprobe_location("readline+0x10").unwrap(),
            UprobeLocation::FunctionOffset("readline", 16)
        ));
        assert!(matches!(
            uprobe_location("readline+8").unwrap(),
            UprobeLocation::FunctionOffset("readline", 8)
        ));
        assert!(uprobe_location("readline+x").is_err());
    }

    #[test]
    fn iface_numbers_are_indexes() {
        assert_eq!(
            interface("3").to_string(),
            Interface::from(3u32).to_string()
        );
        assert_eq!(
            interface("eth0").to_string(),
            Interface::from("eth0").to_string()
        );
    }
}
