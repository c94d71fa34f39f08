//! `corebpf link list|show ID`: the BPF links the kernel holds, as `bpftool link`
//! shows them, with `--json`.

use std::io::Write;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use corebpf::inspect::{FieldValue, LinkEntry};

use crate::output::json_str;
use crate::Result;

/// `link` subcommands.
#[derive(Debug, Subcommand)]
pub enum LinkCommand {
    /// One entry per link the kernel holds: id, type, program, attach target, pids
    List(LinkListArgs),
    /// The link with id ID
    Show(LinkShowArgs),
}

/// `link list` options.
#[derive(Debug, Args)]
pub struct LinkListArgs {
    /// A JSON array of objects (field names in the README)
    #[arg(long)]
    pub json: bool,
}

/// `link show` options.
#[derive(Debug, Args)]
pub struct LinkShowArgs {
    /// The link id (as `link list` shows it)
    #[arg(value_name = "ID")]
    pub id: u32,
    /// One JSON object (field names in the README)
    #[arg(long)]
    pub json: bool,
}

/// `corebpf link ...`.
pub fn link(c: &LinkCommand) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match c {
        LinkCommand::List(a) => {
            let links = corebpf::inspect::list_links()?;
            if a.json {
                let items: Vec<String> = links.iter().map(json).collect();
                writeln!(out, "[{}]", items.join(","))?;
            } else {
                for l in &links {
                    write_text(&mut out, l)?;
                }
            }
        }
        LinkCommand::Show(a) => {
            let l = corebpf::inspect::LinkEntry::from_id(a.id)
                .with_context(|| format!("showing link {}", a.id))?;
            if a.json {
                writeln!(out, "{}", json(&l))?;
            } else {
                write_text(&mut out, &l)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// `ID: TYPE  prog PROG_ID (NAME)`, then the target and the pids, indented.
fn write_text(out: &mut impl Write, l: &LinkEntry) -> std::io::Result<()> {
    write!(
        out,
        "{}: {}  prog {}",
        l.info.id,
        l.info.type_name(),
        l.info.prog_id
    )?;
    match &l.prog_name {
        Some(n) if !n.is_empty() => writeln!(out, " ({n})")?,
        _ => writeln!(out)?,
    }
    let target = l.target();
    if !target.is_empty() {
        writeln!(out, "\t{target}")?;
    }
    if !l.pids.is_empty() {
        let pids: Vec<String> = l
            .pids
            .iter()
            .map(|h| format!("{}({})", h.comm, h.pid))
            .collect();
        writeln!(out, "\tpids {}", pids.join(", "))?;
    }
    Ok(())
}

/// `{"id":..,"type":..,"prog_id":..,"prog_name":..,"target":{..},"pids":[..]}`.
fn json(l: &LinkEntry) -> String {
    let prog_name = match &l.prog_name {
        Some(n) => json_str(n),
        None => "null".to_string(),
    };
    let fields: Vec<String> = l
        .fields
        .iter()
        .map(|(k, v)| {
            let v = match v {
                FieldValue::Num(n) => n.to_string(),
                FieldValue::Text(t) => json_str(t),
            };
            format!("{}:{v}", json_str(k))
        })
        .collect();
    let pids: Vec<String> = l
        .pids
        .iter()
        .map(|h| format!("{{\"pid\":{},\"comm\":{}}}", h.pid, json_str(&h.comm)))
        .collect();
    format!(
        "{{\"id\":{},\"type\":{},\"prog_id\":{},\"prog_name\":{prog_name},\"target\":{{{}}},\"pids\":[{}]}}",
        l.info.id,
        json_str(l.info.type_name()),
        l.info.prog_id,
        fields.join(","),
        pids.join(",")
    )
}
