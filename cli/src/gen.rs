//! `corebpf gen`: files generated from BTF and objects. `skeleton` writes a typed Rust
//! module for an object; `min_core_btf` writes the part of a target BTF that objects'
//! CO-RE relocations use. Each generator is one variant of [`GenCommand`], its
//! arguments and one function here.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use corebpf::btf::{kernel, minimize};

use crate::{naming, open_object, Result};

/// `gen` subcommands.
#[derive(Debug, Subcommand)]
pub enum GenCommand {
    /// Write a typed Rust skeleton of OBJ to stdout (as `bpftool gen skeleton` does for C)
    ///
    /// One module named NAME: the object's bytes, a #[repr(C)] struct per BTF type its
    /// maps, global data and ring/perf buffer records use, `open()` (typed `.rodata` and
    /// `.data` to set before load), `load()` (typed maps, programs, `attach()`, live
    /// `.bss`/`.data` views). Formatted as rustfmt would, and the same bytes for the same
    /// object. Build scripts use `corebpf::skel::Builder` instead.
    Skeleton(SkeletonArgs),
    /// Write the part of TARGET_BTF that OBJ's CO-RE relocations use, as a small BTF file
    ///
    /// Like `bpftool gen min_core_btf`: structs and unions keep only the members the
    /// relocations access (sizes and offsets unchanged), enums the enumerators they name,
    /// pointers not needed become `void *`. Relocating OBJ against OUT (`relocate --btf
    /// OUT`, `load --btf OUT`) gives the same results as against TARGET_BTF, so OUT can be
    /// shipped for kernels without /sys/kernel/btf/vmlinux. OUT is replaced atomically.
    #[command(name = "min_core_btf", visible_alias = "min-core-btf")]
    MinCoreBtf(MinCoreBtfArgs),
}

/// `gen skeleton` arguments.
#[derive(Debug, Args)]
pub struct SkeletonArgs {
    /// The BPF object
    #[arg(value_name = "OBJ", allow_hyphen_values = true)]
    pub object: PathBuf,
    /// The module's name (default: OBJ's file name without `.bpf.o`/`.o`, as an identifier)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Embed the object as `include_bytes!(PATH)` (relative to the file the module is
    /// included from) instead of as a byte-string literal
    #[arg(long, value_name = "PATH")]
    pub object_path: Option<String>,
}

/// `gen min_core_btf` arguments.
#[derive(Debug, Args)]
pub struct MinCoreBtfArgs {
    /// The full BTF (like /sys/kernel/btf/vmlinux, or an ELF with .BTF)
    #[arg(value_name = "TARGET_BTF", allow_hyphen_values = true)]
    pub target: PathBuf,
    /// Where to write the minimized BTF
    #[arg(value_name = "OUT", allow_hyphen_values = true)]
    pub out: PathBuf,
    /// The BPF objects whose relocations it must serve
    #[arg(value_name = "OBJ", required = true, allow_hyphen_values = true)]
    pub objects: Vec<PathBuf>,
}

/// `corebpf gen ...`.
pub fn gen(c: &GenCommand) -> Result<()> {
    match c {
        GenCommand::Skeleton(a) => skeleton(a),
        GenCommand::MinCoreBtf(a) => min_core_btf(a),
    }
}

/// `corebpf gen skeleton`.
fn skeleton(a: &SkeletonArgs) -> Result<()> {
    // Checked (magic, sizes) before it is read whole.
    open_object(&a.object)?;
    let bytes =
        std::fs::read(&a.object).with_context(|| format!("reading {}", a.object.display()))?;
    let name = a.name.clone().unwrap_or_else(|| default_name(&a.object));
    let mut opts = corebpf::skel::SkelOptions::new(name);
    if let Some(p) = &a.object_path {
        opts = opts.object_path(p.clone());
    }
    let text = corebpf::skel::generate(&bytes, &opts).map_err(|e| naming(&a.object, e))?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .context(crate::output::STDOUT)?;
    out.flush().context(crate::output::STDOUT)
}

/// `hello` for `dir/hello.bpf.o`: the file name without `.bpf.o` (or `.o`), every
/// character that can't be in an identifier as `_`, and `_` first if it starts with a
/// digit (or is empty).
fn default_name(object: &Path) -> String {
    let file = object
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = file
        .strip_suffix(".bpf.o")
        .or_else(|| file.strip_suffix(".o"))
        .unwrap_or(&file);
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// `corebpf gen min_core_btf`.
fn min_core_btf(a: &MinCoreBtfArgs) -> Result<()> {
    let target = kernel::load_btf_file(&a.target).map_err(|e| naming(&a.target, e))?;
    let specs = a
        .objects
        .iter()
        .map(|p| open_object(p))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&corebpf::ObjectSpec> = specs.iter().collect();
    let bytes = minimize::min_core_btf(&target, &refs).context("minimizing the target BTF")?;
    write_atomically(&a.out, &bytes)
}

/// Writes `bytes` to a temporary file next to `out` and renames it over `out`: readers
/// see the old file or the whole new one, and a failure leaves nothing behind.
fn write_atomically(out: &Path, bytes: &[u8]) -> Result<()> {
    let what = || format!("writing {}", out.display());
    let name = out
        .file_name()
        .with_context(|| format!("{}: not a file name", out.display()))?;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, out)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.with_context(what)
}
