//! `corebpf btf dump`: BTF as a C header or as bpftool's raw listing.

use std::io::Write as _;
use std::sync::Arc;

use anyhow::{bail, Context as _};

use corebpf::btf::{dump, kernel, Btf};
use corebpf::LoadedBtf;

use crate::args::{BtfDumpArgs, BtfFormat};
use crate::{naming, Result};

/// `corebpf btf dump`.
pub fn dump(a: &BtfDumpArgs) -> Result<()> {
    if a.json && a.format == BtfFormat::C {
        bail!("--json is for raw records; a C header has no JSON form (drop --json or use --format raw)");
    }
    let btf = open(a)?;
    let selected = match &a.type_name {
        Some(name) => Some(select(&btf, name)?),
        None => None,
    };
    let text = match (a.format, &selected) {
        (BtfFormat::C, None) => dump::dump_c(&btf),
        (BtfFormat::C, Some(ids)) => dump::dump_c_types(&btf, ids),
        (BtfFormat::Raw, None) if a.json => dump::dump_raw_json(&btf),
        (BtfFormat::Raw, None) => dump::dump_raw(&btf),
        (BtfFormat::Raw, Some(ids)) => {
            let all = dump::dependencies(&btf, ids);
            if a.json {
                dump::dump_raw_json_types(&btf, &all)
            } else {
                dump::dump_raw_types(&btf, &all)
            }
        }
    };
    write_stdout(text.as_bytes(), a.json)
}

/// Writes `bytes` (and a newline after JSON) to stdout; a reader that went away
/// (`| head`) is not an error.
fn write_stdout(bytes: &[u8], newline: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let res = out
        .write_all(bytes)
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush());
    match res {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing to stdout"))
        }
        _ => Ok(()),
    }
}

/// The BTF the arguments name: a file (split on `--base` when given), the running
/// kernel's, or a kernel BTF object by id.
fn open(a: &BtfDumpArgs) -> Result<Arc<Btf>> {
    let base = match &a.base {
        Some(p) => Some(Arc::new(
            kernel::load_btf_file(p).map_err(|e| naming(p, e))?,
        )),
        None => None,
    };
    let src = &a.source;
    if let Some(path) = &src.file {
        let btf = match base {
            Some(b) => kernel::load_split_btf_file(path, b),
            None => kernel::load_btf_file(path),
        };
        return Ok(Arc::new(btf.map_err(|e| naming(path, e))?));
    }
    if let Some(id) = src.id {
        let obj = LoadedBtf::from_id(id)?;
        return Ok(Arc::new(match base {
            Some(b) => obj.btf_on(Some(b))?,
            None => obj.btf()?,
        }));
    }
    if base.is_some() {
        bail!("--base is for split BTF (a FILE or an --id); the kernel's vmlinux BTF has no base");
    }
    // Mapped read-only where the kernel allows it (6.16+): no 5 MB read.
    kernel::vmlinux_btf().context("the running kernel's BTF")
}

/// The ids of the types named `name`, in id order.
fn select(btf: &Btf, name: &str) -> Result<Vec<u32>> {
    let mut ids: Vec<u32> = btf.ids_by_name(name).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(anyhow::anyhow!("no type named '{name}' in the BTF")).context("--type");
    }
    Ok(ids)
}
