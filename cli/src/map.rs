//! `corebpf map`: list, show, dump, lookup, update and delete the kernel's maps, values
//! formatted through each map's BTF (raw hex without), as `bpftool map` does; `map hist`
//! (cli/src/hist.rs) prints histogram maps.

use std::io::Write;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use corebpf::inspect::map::{self as inspect, Dumper, Entry, Input, MapRef, MapSummary};
use corebpf::map::MapType;

use crate::output::json_str;
use crate::Result;

/// `corebpf map` subcommands.
#[derive(Debug, Subcommand)]
pub enum MapCommand {
    /// List every map the kernel holds: id, type, name, flags, sizes, BTF id, holders
    List(ListArgs),
    /// One map's info: `map show ID|name NAME|pinned PATH`
    Show(SelArgs),
    /// Every entry of a map, formatted through its BTF (hex without):
    /// `map dump ID|name NAME|pinned PATH`
    Dump(SelArgs),
    /// One entry: `map lookup MAP key TEXT|hex BYTES...`
    Lookup(SelArgs),
    /// Write one entry: `map update MAP key TEXT|hex BYTES... value TEXT|hex BYTES...`
    ///
    /// Typed text is parsed through the map's BTF type (integers, enums by name,
    /// floats, char arrays as strings); a per-CPU map gets the value on every CPU.
    Update(SelArgs),
    /// Delete one entry: `map delete MAP key TEXT|hex BYTES...`
    Delete(SelArgs),
    /// Print a histogram map (id, `name NAME` or `pinned PATH`) as BCC's print_log2_hist
    ///
    /// The map is keyed by bucket index (an array of u64 or u32 slots, or a hash keyed by
    /// a u32 or u64 index); per-CPU values are summed. Log2 buckets are numbered as
    /// BCC's bpf_log2l() numbers them (slot 1 holds 0 and 1); `--linear` prints one line
    /// per bucket as print_linear_hist does.
    Hist(crate::hist::HistArgs),
}

/// `map list` options.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// A JSON array instead of text
    #[arg(long)]
    pub json: bool,
}

/// The map (`ID`, `id ID`, `name NAME`, `pinned PATH`), then `key ...`/`value ...`.
#[derive(Debug, Args)]
pub struct SelArgs {
    /// JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// The map, then for lookup/update/delete `key ...` and `value ...`
    #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
    pub words: Vec<String>,
}

/// `corebpf map ...`.
pub fn map(cmd: &MapCommand) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    match cmd {
        MapCommand::List(a) => list(&mut out, a.json)?,
        MapCommand::Show(a) => show(&mut out, a)?,
        MapCommand::Dump(a) => dump(&mut out, a)?,
        MapCommand::Lookup(a) => lookup(&mut out, a)?,
        MapCommand::Update(a) => update(a)?,
        MapCommand::Delete(a) => delete(a)?,
        MapCommand::Hist(a) => crate::hist::hist(a)?,
    }
    out.flush()?;
    Ok(())
}

/// The map reference and the remaining words.
fn parse_ref(words: &[String]) -> Result<(MapRef, &[String])> {
    let id =
        |s: &str| -> Result<u32> { s.parse().with_context(|| format!("'{s}' is not a map id")) };
    match words {
        [kw, v, rest @ ..] if kw == "name" => Ok((MapRef::Name(v.clone()), rest)),
        [kw, v, rest @ ..] if kw == "pinned" => Ok((MapRef::Pinned(v.into()), rest)),
        [kw, v, rest @ ..] if kw == "id" => Ok((MapRef::Id(id(v)?), rest)),
        [v, rest @ ..] => Ok((MapRef::Id(id(v)?), rest)),
        [] => bail!("no map given: ID, name NAME or pinned PATH"),
    }
}

/// `key ...` and, when `want_value`, `value ...` after the map reference.
fn parse_kv(words: &[String], want_value: bool) -> Result<(Input, Option<Input>)> {
    let Some((kw, rest)) = words.split_first() else {
        bail!("no key given: key TEXT or key hex BYTES...");
    };
    if kw != "key" {
        bail!("expected 'key', found '{kw}'");
    }
    let split = rest.iter().position(|w| w == "value");
    let (key, value) = match split {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let input = |w: &[String], what: &str| -> Result<Input> {
        match w {
            [] => bail!("no {what} given after '{what}'"),
            [h, bytes @ ..] if h == "hex" => Ok(Input::Hex(bytes.to_vec())),
            w => Ok(Input::Text(w.join(" "))),
        }
    };
    let key = input(key, "key")?;
    let value = match (value, want_value) {
        (Some(v), true) => Some(input(v, "value")?),
        (None, true) => bail!("no value given: value TEXT or value hex BYTES..."),
        (Some(_), false) => bail!("unexpected 'value'"),
        (None, false) => None,
    };
    Ok((key, value))
}

fn no_more(rest: &[String]) -> Result<()> {
    match rest.first() {
        Some(w) => bail!("unexpected '{w}' after the map"),
        None => Ok(()),
    }
}

fn list(out: &mut impl Write, json: bool) -> Result<()> {
    let maps = inspect::list()?;
    if json {
        let items: Vec<String> = maps.iter().map(summary_json).collect();
        writeln!(out, "[{}]", items.join(","))?;
    } else {
        for m in &maps {
            summary_text(out, m)?;
        }
    }
    Ok(())
}

fn show(out: &mut impl Write, a: &SelArgs) -> Result<()> {
    let (r, rest) = parse_ref(&a.words)?;
    no_more(rest)?;
    let s = inspect::show(&inspect::open(&r)?)?;
    if a.json {
        writeln!(out, "{}", summary_json(&s))?;
    } else {
        summary_text(out, &s)?;
    }
    Ok(())
}

fn summary_text(out: &mut impl Write, s: &MapSummary) -> Result<()> {
    let i = &s.info;
    write!(
        out,
        "{}: {}  name {}  flags 0x{:x}",
        i.id,
        MapType(i.type_),
        i.name(),
        i.map_flags
    )?;
    write!(
        out,
        "\n\tkey {}B  value {}B  max_entries {}",
        i.key_size, i.value_size, i.max_entries
    )?;
    if i.btf_id != 0 {
        write!(out, "\n\tbtf_id {}", i.btf_id)?;
    }
    if !s.pids.is_empty() {
        let pids: Vec<String> = s.pids.iter().map(|(p, c)| format!("{c}({p})")).collect();
        write!(out, "\n\tpids {}", pids.join(", "))?;
    }
    writeln!(out)?;
    Ok(())
}

fn summary_json(s: &MapSummary) -> String {
    let i = &s.info;
    let pids: Vec<String> = s
        .pids
        .iter()
        .map(|(p, c)| format!("{{\"pid\":{p},\"comm\":{}}}", json_str(c)))
        .collect();
    format!(
        "{{\"id\":{},\"type\":{},\"name\":{},\"flags\":{},\"key_size\":{},\"value_size\":{},\
         \"max_entries\":{},\"btf_id\":{},\"btf_key_type_id\":{},\"btf_value_type_id\":{},\
         \"pids\":[{}]}}",
        i.id,
        json_str(MapType(i.type_).name()),
        json_str(&i.name()),
        i.map_flags,
        i.key_size,
        i.value_size,
        i.max_entries,
        i.btf_id,
        i.btf_key_type_id,
        i.btf_value_type_id,
        pids.join(",")
    )
}

fn dump(out: &mut impl Write, a: &SelArgs) -> Result<()> {
    let (r, rest) = parse_ref(&a.words)?;
    no_more(rest)?;
    let d = Dumper::new(inspect::open(&r)?)?;
    let percpu = MapType(d.info().type_).is_percpu();
    let mut first = true;
    if a.json {
        out.write_all(b"[")?;
    }
    let mut count = 0usize;
    d.for_each(|e| -> Result<()> {
        count += 1;
        if a.json {
            if !first {
                out.write_all(b",")?;
            }
            first = false;
            entry_json(out, &e, percpu)
        } else {
            entry_text(out, &e, percpu)
        }
    })?;
    if a.json {
        writeln!(out, "]")?;
    } else {
        writeln!(
            out,
            "Found {count} element{}",
            if count == 1 { "" } else { "s" }
        )?;
    }
    Ok(())
}

fn entry_text(out: &mut impl Write, e: &Entry, percpu: bool) -> Result<()> {
    if percpu {
        writeln!(out, "key: {}", e.key)?;
        for (cpu, v) in e.values.iter().enumerate() {
            writeln!(out, "\tcpu{cpu}: {v}")?;
        }
    } else {
        writeln!(out, "key: {}  value: {}", e.key, e.values.join(""))?;
    }
    Ok(())
}

fn entry_json(out: &mut impl Write, e: &Entry, percpu: bool) -> Result<()> {
    if percpu {
        let values: Vec<String> = e
            .values
            .iter()
            .enumerate()
            .map(|(cpu, v)| format!("{{\"cpu\":{cpu},\"value\":{}}}", json_str(v)))
            .collect();
        write!(
            out,
            "{{\"key\":{},\"values\":[{}]}}",
            json_str(&e.key),
            values.join(",")
        )?;
    } else {
        write!(
            out,
            "{{\"key\":{},\"value\":{}}}",
            json_str(&e.key),
            json_str(&e.values.join(""))
        )?;
    }
    Ok(())
}

fn lookup(out: &mut impl Write, a: &SelArgs) -> Result<()> {
    let (r, rest) = parse_ref(&a.words)?;
    let (key, _) = parse_kv(rest, false)?;
    let d = Dumper::new(inspect::open(&r)?)?;
    let key = d.parse("key", &key)?;
    let Some(e) = d.lookup(&key)? else {
        bail!("map '{}': no such key", d.map().name());
    };
    let percpu = MapType(d.info().type_).is_percpu();
    if a.json {
        entry_json(out, &e, percpu)?;
        writeln!(out)?;
    } else {
        entry_text(out, &e, percpu)?;
    }
    Ok(())
}

fn update(a: &SelArgs) -> Result<()> {
    let (r, rest) = parse_ref(&a.words)?;
    let (key, value) = parse_kv(rest, true)?;
    let d = Dumper::new(inspect::open(&r)?)?;
    let key = d.parse("key", &key)?;
    let value = d.parse("value", &value.expect("parse_kv gives a value when asked"))?;
    d.update(&key, &value)?;
    Ok(())
}

fn delete(a: &SelArgs) -> Result<()> {
    let (r, rest) = parse_ref(&a.words)?;
    let (key, _) = parse_kv(rest, false)?;
    let d = Dumper::new(inspect::open(&r)?)?;
    let key = d.parse("key", &key)?;
    if !d.delete(&key)? {
        bail!("map '{}': no such key", d.map().name());
    }
    Ok(())
}
