//! `corebpf`: load, run and inspect eBPF objects, in the spirit of `bpftool`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::{CommandFactory, Parser};

mod args;
mod btf;
mod events;
mod feature;
mod hist;
mod link;
mod map;
mod output;
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
        Err(e) => {
            eprintln!("corebpf: {}", output::error_chain(e.as_ref()));
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
                eprintln!(
                    "corebpf: program '{}': {}",
                    p.program,
                    output::error_chain(e)
                );
            }
        }
    }
    if a.json {
        println!("{}", output::relocations_json(&lines));
    } else {
        for l in &lines {
            println!("{l}");
        }
        if programs.is_empty() {
            eprintln!("corebpf: {}: no CO-RE relocations", a.object.display());
        }
    }
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
    for p in obj.programs() {
        println!("{}", output::program_line(p)?);
    }
    for m in obj.maps() {
        println!("{}", output::map_line(m)?);
    }
    if let Some(dir) = &a.pin {
        pin_all(&mut obj, dir)?;
    }
    Ok(())
}

/// Pins programs as DIR/<program> and maps as DIR/maps/<map> (global data maps under
/// their kernel name with `.` as `_`, since bpffs refuses dots: `hello_rodata`).
fn pin_all(obj: &mut corebpf::Object, dir: &Path) -> Result<()> {
    ensure_bpffs(dir)?;
    let maps_dir = dir.join("maps");
    std::fs::create_dir_all(&maps_dir)
        .with_context(|| format!("creating {}", maps_dir.display()))?;
    for p in obj.programs() {
        let path = dir.join(p.name());
        p.pin(&path)?;
        println!("pinned program {} at {}", p.name(), path.display());
    }
    for m in obj.maps_mut() {
        let file = if m.name().contains('.') {
            m.pin_name()
        } else {
            m.name().to_string()
        };
        let path = maps_dir.join(file);
        m.pin(&path)?;
        println!("pinned map {} at {}", m.name(), path.display());
    }
    Ok(())
}

/// Makes sure `dir` (created if missing) is on a bpf filesystem, mounting one at
/// /sys/fs/bpf when the path lies there and nothing is mounted yet.
fn ensure_bpffs(dir: &Path) -> Result<()> {
    let root = Path::new("/sys/fs/bpf");
    if dir.starts_with(root) && !corebpf::fs::is_bpffs(root) {
        corebpf::fs::mount_bpffs(root).context(
            "bpffs is not mounted and mounting it at /sys/fs/bpf \
             (`mount -t bpf bpf /sys/fs/bpf`) failed",
        )?;
        eprintln!("corebpf: mounted bpffs at /sys/fs/bpf");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if !corebpf::fs::is_bpffs(dir) {
        bail!(
            "{} is not on a bpf filesystem; pin under /sys/fs/bpf or mount one with `mount -t bpf bpf DIR`",
            dir.display()
        );
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
    eprintln!("corebpf: mounted tracefs at /sys/kernel/tracing");
    Ok(())
}
