//! `corebpf`: load, run and inspect eBPF objects, in the spirit of `bpftool`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::{CommandFactory, Parser};

mod args;
mod btf;
mod events;
mod feature;
mod gen;
mod hist;
mod link;
mod map;
mod output;
mod pin;
mod prog;
mod run;
mod run_flags;
mod trace_pipe;

use args::{BtfCommand, Cli, Command, LoadArgs, RelocateArgs};

fn main() -> ExitCode {
    // Usage errors exit with 2 after clap's message; --help and --version with 0.
    let cli = Cli::parse();
    output::init_logger(cli.verbose);
    let res = match cli.command {
        Command::Load(a) => load(&a),
        Command::Run(a) => run::run(&a),
        Command::Relocate(a) => relocate(&a),
        Command::Btf(BtfCommand::Dump(a)) => btf::dump(&a),
        Command::Feature(a) => feature::feature(&a),
        Command::Gen(c) => gen::gen(&c),
        Command::TracePipe(a) => trace_pipe::trace_pipe(&a),
        Command::Link(c) => link::link(&c),
        Command::Map(c) => map::map(&c),
        Command::Prog(a) => prog::prog(&a),
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "corebpf", &mut std::io::stdout());
            Ok(())
        }
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): a normal end, as for other Unix tools.
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            output::note(&output::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

type Result<T> = anyhow::Result<T>;

/// A loader relocating against `btf` when given, the running kernel otherwise.
fn loader(btf: Option<&Path>) -> corebpf::Loader {
    match btf {
        Some(p) => corebpf::Loader::new().target_btf(p),
        None => corebpf::Loader::new(),
    }
}

/// `corebpf relocate`: CO-RE decisions without loading.
fn relocate(a: &RelocateArgs) -> Result<()> {
    let spec = open_object(&a.object)?;
    let target = match &a.target.btf {
        Some(p) => {
            std::sync::Arc::new(corebpf::btf::kernel::load_btf_file(p).map_err(|e| naming(p, e))?)
        }
        None => corebpf::btf::kernel::vmlinux_btf().context("the running kernel's BTF")?,
    };
    let programs = corebpf::reloc::relocate_object(&spec, &target);
    let mut failed = false;
    let mut lines = Vec::new();
    for p in &programs {
        match &p.result {
            Ok(results) => lines.extend(results.iter().map(|r| output::Relocation {
                program: &p.program,
                result: r,
            })),
            Err(e) => {
                failed = true;
                output::note(&format!(
                    "program '{}': {}",
                    p.program,
                    output::error_chain(e)
                ));
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", output::relocations_json(&lines)).context(output::STDOUT)?;
    } else {
        for l in &lines {
            writeln!(out, "{l}").context(output::STDOUT)?;
        }
        if programs.is_empty() {
            output::note(&format!("{}: no CO-RE relocations", a.object.display()));
        }
    }
    out.flush().context(output::STDOUT)?;
    if failed {
        bail!("some programs could not be relocated");
    }
    Ok(())
}

/// Parses the object, naming the file in the error.
fn open_object(path: &Path) -> Result<corebpf::ObjectSpec> {
    corebpf::ObjectSpec::from_file(path).map_err(|e| naming(path, e))
}

/// `e`, with `path` in front unless its message names it already.
fn naming(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
    let shown = path.display().to_string();
    if e.to_string().contains(&shown) {
        e.into()
    } else {
        anyhow::Error::new(e).context(shown)
    }
}

fn load(a: &LoadArgs) -> Result<()> {
    let mut spec = open_object(&a.object)?;
    let loader = run_flags::prepare(&mut spec, &a.options, loader(a.target.btf.as_deref()))?;
    let mut obj = loader.load(&spec)?;
    let mut lines = Vec::new();
    for p in obj.programs() {
        lines.push(output::program_line(p)?);
    }
    for m in obj.maps() {
        lines.push(output::map_line(m)?);
    }
    // Pins are made (all or nothing) before anything is written, so that a reader
    // going away cannot cut the pinning short.
    if let Some(dir) = &a.pin {
        mount_bpffs_if_needed(dir)?;
        lines.extend(pin::pin_all(&mut obj, dir)?);
    }
    let mut out = std::io::stdout().lock();
    for l in &lines {
        writeln!(out, "{l}").context(output::STDOUT)?;
    }
    out.flush().context(output::STDOUT)?;
    Ok(())
}

/// Mounts a bpffs at /sys/fs/bpf when `dir` lies there and nothing is mounted yet.
fn mount_bpffs_if_needed(dir: &Path) -> Result<()> {
    let root = Path::new("/sys/fs/bpf");
    if dir.starts_with(root) && !corebpf::fs::is_bpffs(root) {
        corebpf::fs::mount_bpffs(root).context(
            "bpffs is not mounted and mounting it at /sys/fs/bpf \
             (`mount -t bpf bpf /sys/fs/bpf`) failed",
        )?;
        output::note("mounted bpffs at /sys/fs/bpf");
    }
    Ok(())
}

/// Mounts tracefs at /sys/kernel/tracing when no tracefs is mounted, saying so.
fn ensure_tracefs() -> Result<()> {
    if corebpf::program::tracefs::tracefs_root().is_ok() {
        return Ok(());
    }
    let target = PathBuf::from("/sys/kernel/tracing");
    corebpf::fs::mount_tracefs(&target).context(
        "tracefs is not mounted and mounting it at /sys/kernel/tracing \
         (`mount -t tracefs tracefs /sys/kernel/tracing`) failed",
    )?;
    output::note("mounted tracefs at /sys/kernel/tracing");
    Ok(())
}
