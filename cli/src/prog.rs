//! `corebpf prog list|show|pinned|dump`: the programs the kernel holds, as `bpftool prog`
//! shows them, and their translated instructions as `bpftool prog dump xlated` prints
//! them.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use corebpf::inspect::{self, Holder, ProgramInfo, XlatedInsn, XlatedListing};

use crate::output::json_str;
use crate::Result;

/// `prog` options.
#[derive(Debug, Args)]
pub struct ProgArgs {
    /// What to show
    #[command(subcommand)]
    pub command: ProgCommand,
    /// JSON instead of text: an array for `list`, one object otherwise (field names
    /// in the README)
    #[arg(long, global = true)]
    pub json: bool,
}

/// `prog` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProgCommand {
    /// Every program the kernel holds, whoever loaded it
    #[command(alias = "show-all")]
    List,
    /// The program with id ID
    Show {
        /// Program id
        id: u32,
    },
    /// The program pinned at PATH on a bpffs
    Pinned {
        /// Path on a bpffs
        path: PathBuf,
    },
    /// A program's instructions
    #[command(subcommand)]
    Dump(DumpCommand),
}

/// `prog dump` kinds.
#[derive(Debug, Subcommand)]
pub enum DumpCommand {
    /// The kernel's translated instructions, disassembled as `bpftool prog dump
    /// xlated` prints them
    Xlated(XlatedArgs),
}

/// `prog dump xlated` options.
#[derive(Debug, Args)]
pub struct XlatedArgs {
    /// The program: ID, `id ID` or `pinned PATH`
    #[arg(value_name = "ID | id ID | pinned PATH", num_args = 1..=2, required = true)]
    pub target: Vec<String>,
    /// Each function's prototype and each instruction's source line (from the
    /// program's BTF), before the instruction where it starts
    #[arg(long)]
    pub source: bool,
    /// With the source lines, their file, line and column (bpftool's `linum`);
    /// implies --source
    #[arg(long)]
    pub linum: bool,
}

/// `corebpf prog`.
pub fn prog(a: &ProgArgs) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if let ProgCommand::Dump(DumpCommand::Xlated(x)) = &a.command {
        dump_xlated(&mut out, x, a.json)?;
        out.flush()?;
        return Ok(());
    }
    let (progs, holders) = match &a.command {
        ProgCommand::List => {
            inspect::prog::list_with_holders().context("listing the kernel's programs")?
        }
        ProgCommand::Show { id } => (vec![ProgramInfo::from_id(*id)?], inspect::prog::holders()),
        ProgCommand::Pinned { path } => {
            (vec![ProgramInfo::from_pin(path)?], inspect::prog::holders())
        }
        ProgCommand::Dump(_) => unreachable!("handled above"),
    };
    let single = !matches!(a.command, ProgCommand::List);
    if a.json {
        write_json(&mut out, &progs, &holders, single)?;
    } else {
        for p in &progs {
            write_text(&mut out, p, holders.get(&p.id()))?;
        }
    }
    out.flush()?;
    Ok(())
}

fn write_json(
    out: &mut impl Write,
    progs: &[ProgramInfo],
    holders: &HashMap<u32, Vec<Holder>>,
    single: bool,
) -> std::io::Result<()> {
    if !single {
        out.write_all(b"[")?;
    }
    for (i, p) in progs.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(json_object(p, holders.get(&p.id())).as_bytes())?;
    }
    if !single {
        out.write_all(b"]")?;
    }
    out.write_all(b"\n")
}

/// One program as a JSON object; field names as bpftool's where it has them.
fn json_object(p: &ProgramInfo, holders: Option<&Vec<Holder>>) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "{{\"id\":{},\"type\":{},\"name\":{},\"tag\":{},\"gpl_compatible\":{},\
         \"loaded_at\":{},\"uid\":{},\"bytes_xlated\":{},\"jited\":{},\"bytes_jited\":{},\
         \"verified_insns\":{}",
        p.id(),
        json_str(p.program_type().name()),
        json_str(&p.name()),
        json_str(&p.tag()),
        p.gpl_compatible(),
        loaded_at_unix(p).map_or("null".into(), |t| t.to_string()),
        p.uid(),
        p.xlated_len(),
        p.jited_len() != 0,
        p.jited_len(),
        p.verified_insns(),
    );
    let ids: Vec<String> = p.map_ids().iter().map(u32::to_string).collect();
    let _ = write!(s, ",\"map_ids\":[{}]", ids.join(","));
    if let Some(id) = p.btf_id() {
        let _ = write!(s, ",\"btf_id\":{id}");
    }
    if let Some((t, n)) = p.run_stats() {
        let _ = write!(s, ",\"run_time_ns\":{},\"run_cnt\":{n}", t.as_nanos());
    }
    let pids: Vec<String> = holders
        .into_iter()
        .flatten()
        .map(|h| format!("{{\"pid\":{},\"comm\":{}}}", h.pid, json_str(&h.comm)))
        .collect();
    let _ = write!(s, ",\"pids\":[{}]}}", pids.join(","));
    s
}

/// bpftool's text layout: a header line, then indented detail lines.
fn write_text(
    out: &mut impl Write,
    p: &ProgramInfo,
    holders: Option<&Vec<Holder>>,
) -> std::io::Result<()> {
    write!(out, "{}: {}  ", p.id(), p.program_type().name())?;
    let name = p.name();
    if !name.is_empty() {
        write!(out, "name {name}  ")?;
    }
    write!(out, "tag {}", p.tag())?;
    if p.gpl_compatible() {
        write!(out, "  gpl")?;
    }
    if let Some((t, n)) = p.run_stats() {
        write!(out, " run_time_ns {} run_cnt {n}", t.as_nanos())?;
    }
    out.write_all(b"\n")?;
    let at = loaded_at_unix(p).map_or_else(|| "?".to_owned(), format_utc);
    writeln!(out, "\tloaded_at {at}  uid {}", p.uid())?;
    write!(out, "\txlated {}B  ", p.xlated_len())?;
    if p.jited_len() != 0 {
        write!(out, "jited {}B", p.jited_len())?;
    } else {
        write!(out, "not jited")?;
    }
    // Lists written item by item: no string per id or holder (500 programs' worth
    // of them were a tenth of `prog list`'s formatting).
    for (i, id) in p.map_ids().iter().enumerate() {
        let lead = if i == 0 { "  map_ids " } else { "," };
        write!(out, "{lead}{id}")?;
    }
    out.write_all(b"\n")?;
    if let Some(id) = p.btf_id() {
        writeln!(out, "\tbtf_id {id}")?;
    }
    if let Some(hs) = holders.filter(|h| !h.is_empty()) {
        for (i, h) in hs.iter().enumerate() {
            let lead = if i == 0 { "\tpids " } else { ", " };
            write!(out, "{lead}{}({})", h.comm, h.pid)?;
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// `corebpf prog dump xlated`.
fn dump_xlated(out: &mut impl Write, a: &XlatedArgs, json: bool) -> Result<()> {
    let parse_id = |id: &str| {
        id.parse::<u32>()
            .with_context(|| format!("'{id}' is not a program id"))
    };
    let listing = match a.target.as_slice() {
        [id] => XlatedListing::from_id(parse_id(id)?)?,
        [kw, id] if kw == "id" => XlatedListing::from_id(parse_id(id)?)?,
        [kw, path] if kw == "pinned" => XlatedListing::from_pin(path)?,
        _ => anyhow::bail!(
            "expected ID, 'id ID' or 'pinned PATH', got '{}'",
            a.target.join(" ")
        ),
    };
    let source = a.source || a.linum;
    if json {
        write_xlated_json(out, &listing, source)?;
    } else {
        for insn in listing.insns() {
            write_xlated_insn(out, insn, source, a.linum)?;
        }
    }
    Ok(())
}

/// One instruction as bpftool prints it: the prototype and source line first (with
/// `source`), then `% 4d: text` (a blank before the index, padded to four columns).
fn write_xlated_insn(
    out: &mut impl Write,
    insn: &XlatedInsn,
    source: bool,
    linum: bool,
) -> std::io::Result<()> {
    if source {
        if let Some(f) = &insn.function {
            writeln!(out, "{f}:")?;
        }
        if let Some(l) = &insn.source {
            write!(out, "; {}", l.text)?;
            if linum {
                write!(
                    out,
                    " [file:{} line_num:{} line_col:{}]",
                    l.file, l.line, l.column
                )?;
            }
            out.write_all(b"\n")?;
        }
    }
    writeln!(out, " {:>3}: {}", insn.index, insn.text)
}

/// The listing as a JSON array of instructions (field names in the README).
fn write_xlated_json(
    out: &mut impl Write,
    listing: &XlatedListing,
    source: bool,
) -> std::io::Result<()> {
    use std::fmt::Write as _;
    out.write_all(b"[")?;
    let mut s = String::with_capacity(128);
    for (i, insn) in listing.insns().iter().enumerate() {
        s.clear();
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"pc\":{},\"disasm\":{}",
            insn.index,
            json_str(&insn.text)
        );
        if source {
            if let Some(f) = &insn.function {
                let _ = write!(s, ",\"proto\":{}", json_str(f));
            }
            if let Some(l) = &insn.source {
                let _ = write!(
                    s,
                    ",\"src\":{},\"file\":{},\"line_num\":{},\"line_col\":{}",
                    json_str(&l.text),
                    json_str(&l.file),
                    l.line,
                    l.column
                );
            }
        }
        s.push('}');
        out.write_all(s.as_bytes())?;
    }
    out.write_all(b"]\n")
}

fn loaded_at_unix(p: &ProgramInfo) -> Option<u64> {
    p.loaded_at()?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// `YYYY-MM-DDTHH:MM:SS+0000` for a Unix time (UTC; days to civil date by the usual
/// era arithmetic).
fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::{format_utc, write_xlated_insn};
    use corebpf::inspect::{SourceLine, XlatedInsn};
    use corebpf::Insn;

    #[test]
    fn xlated_lines_as_bpftool_prints_them() {
        let mut insn = XlatedInsn {
            index: 7,
            insn: Insn::new(0x95, 0, 0, 0, 0),
            text: "(95) exit".into(),
            function: Some("int f(void)".into()),
            source: Some(SourceLine {
                text: "return 0;".into(),
                file: "./f.c".into(),
                line: 3,
                column: 2,
            }),
        };
        let text = |insn: &XlatedInsn, source, linum| {
            let mut out = Vec::new();
            write_xlated_insn(&mut out, insn, source, linum).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(&insn, false, false), "   7: (95) exit\n");
        assert_eq!(
            text(&insn, true, false),
            "int f(void):\n; return 0;\n   7: (95) exit\n"
        );
        assert_eq!(
            text(&insn, true, true),
            "int f(void):\n; return 0; [file:./f.c line_num:3 line_col:2]\n   7: (95) exit\n"
        );
        // printf's "% 4d": a blank before the number, padded to four columns.
        insn.index = 1234;
        assert_eq!(text(&insn, false, false), " 1234: (95) exit\n");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00+0000");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00+0000");
        assert_eq!(format_utc(1_796_510_652), "2026-12-05T22:44:12+0000");
    }
}
