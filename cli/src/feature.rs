//! `corebpf feature`: what the running kernel supports, from the library's probes.

use std::fmt::Write as _;
use std::io::Write as _;

use corebpf::btf::Kind;
use corebpf::features::{self, Feature, LinkType, ProgramType};

use crate::args::FeatureArgs;
use crate::output::json_str;
use crate::Result;

/// Helpers whose probe writes a warning to the kernel log; probed only with `--full`,
/// as bpftool's `full`.
const NOISY_HELPERS: [&str; 3] = [
    "bpf_trace_printk",
    "bpf_trace_vprintk",
    "bpf_probe_write_user",
];

/// Every answer, in the order printed.
struct Report {
    release: String,
    program_types: Vec<(ProgramType, bool)>,
    map_types: Vec<(&'static str, bool)>,
    link_types: Vec<(LinkType, bool)>,
    btf_kinds: Vec<(&'static str, bool)>,
    /// Per supported program type, the helpers it may call; `None` where it cannot be
    /// probed.
    helpers: Vec<(ProgramType, Option<Vec<&'static str>>)>,
    loader: Vec<(&'static str, bool)>,
}

/// `corebpf feature`.
pub fn feature(a: &FeatureArgs) -> Result<()> {
    let r = probe(a.full);
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", json(&r))?;
    } else {
        write!(out, "{}", text(&r))?;
    }
    out.flush()?;
    Ok(())
}

fn probe(full: bool) -> Report {
    let program_types: Vec<_> = ProgramType::all()
        .map(|t| (t, features::prog_type_supported(t)))
        .collect();
    let helpers = program_types
        .iter()
        .map(|&(t, supported)| {
            if !supported {
                return (t, Some(Vec::new()));
            }
            let mut names = Vec::new();
            for id in features::helper_ids() {
                let name = features::helper_name(id).unwrap_or("?");
                if !full && NOISY_HELPERS.contains(&name) {
                    continue;
                }
                match features::helper_supported(t, id) {
                    None => return (t, None),
                    Some(true) => names.push(name),
                    Some(false) => {}
                }
            }
            (t, Some(names))
        })
        .collect();
    Report {
        release: corebpf::btf::kernel::kernel_release().unwrap_or_default(),
        program_types,
        map_types: features::map_types()
            .map(|t| (t.name(), features::map_type_supported(t)))
            .collect(),
        link_types: LinkType::all()
            .map(|t| (t, features::link_type_supported(t)))
            .collect(),
        btf_kinds: (1..=19)
            .filter_map(Kind::from_raw)
            .map(|k| (k.name(), features::btf_kind_supported(k)))
            .collect(),
        helpers,
        loader: Feature::ALL
            .iter()
            .map(|&f| (f.name(), features::kernel_features().supports(f)))
            .collect(),
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// One section of `name  yes|no` lines.
fn section<'a>(out: &mut String, title: &str, rows: impl Iterator<Item = (&'a str, bool)>) {
    let _ = writeln!(out, "{title}:");
    for (name, ok) in rows {
        let _ = writeln!(out, "  {name:<26}{}", yes(ok));
    }
    out.push('\n');
}

fn text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "kernel {}\n", r.release);
    section(
        &mut out,
        "program types",
        r.program_types.iter().map(|(t, ok)| (t.name(), *ok)),
    );
    section(&mut out, "map types", r.map_types.iter().copied());
    section(
        &mut out,
        "link types",
        r.link_types.iter().map(|(t, ok)| (t.name(), *ok)),
    );
    section(&mut out, "btf kinds", r.btf_kinds.iter().copied());
    section(&mut out, "loader features", r.loader.iter().copied());
    let _ = writeln!(out, "helpers:");
    for (t, helpers) in &r.helpers {
        match helpers {
            None => {
                let _ = writeln!(
                    out,
                    "  {t}: not probed (a {t} program does not load without a target)"
                );
            }
            Some(h) if h.is_empty() => {
                let _ = writeln!(out, "  {t}: none (program type not supported)");
            }
            Some(h) => {
                let _ = writeln!(out, "  {t} ({}): {}", h.len(), h.join(" "));
            }
        }
    }
    out
}

/// `"key":{"name":bool,…}`.
fn json_map<'a>(out: &mut String, key: &str, rows: impl Iterator<Item = (&'a str, bool)>) {
    let _ = write!(out, "{}:{{", json_str(key));
    for (i, (name, ok)) in rows.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}:{ok}", json_str(name));
    }
    out.push('}');
}

fn json(r: &Report) -> String {
    let mut out = String::from("{");
    let _ = write!(out, "\"kernel_release\":{},", json_str(&r.release));
    json_map(
        &mut out,
        "program_types",
        r.program_types.iter().map(|(t, ok)| (t.name(), *ok)),
    );
    out.push(',');
    json_map(&mut out, "map_types", r.map_types.iter().copied());
    out.push(',');
    json_map(
        &mut out,
        "link_types",
        r.link_types.iter().map(|(t, ok)| (t.name(), *ok)),
    );
    out.push(',');
    json_map(&mut out, "btf_kinds", r.btf_kinds.iter().copied());
    out.push_str(",\"helpers\":{");
    for (i, (t, helpers)) in r.helpers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}:", json_str(t.name()));
        match helpers {
            None => out.push_str("null"),
            Some(h) => {
                let items: Vec<String> = h.iter().map(|n| json_str(n)).collect();
                let _ = write!(out, "[{}]", items.join(","));
            }
        }
    }
    out.push_str("},");
    json_map(&mut out, "loader", r.loader.iter().copied());
    out.push('}');
    out
}
