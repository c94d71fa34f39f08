//! The command line, declared with clap's derive: usage, help, suggestions for misspelt
//! flags and shell completions come from these declarations. Paths are `PathBuf`s read
//! from the OS's arguments, so names that are not UTF-8 work.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// Load, run and inspect eBPF objects, in the spirit of bpftool.
#[derive(Debug, Parser)]
#[command(
    name = "corebpf",
    version,
    after_help = "Needs root (CAP_BPF and CAP_PERFMON). `run` and `trace-pipe` mount tracefs at\n\
/sys/kernel/tracing and `load --pin` mounts bpffs at /sys/fs/bpf when they are missing, and\n\
says so."
)]
pub struct Cli {
    /// Debug logging to stderr (twice or more: trace)
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load every map and program of OBJ and print one line per program and per map
    ///
    /// A program's line has its name, type, kernel id, instruction count and verified
    /// instruction count; a map's its name, type, id, key and value sizes and
    /// max_entries.
    Load(LoadArgs),
    /// Load OBJ, attach it and print its events until Ctrl-C
    ///
    /// Attaches every program whose section names its target and prints each ring
    /// buffer record and perf buffer sample as one line, decoded through the object's
    /// BTF type NAME (default: for perf buffers, the struct whose size the programs
    /// pass to bpf_perf_event_output when one named struct has it; otherwise a struct
    /// named `event`, when the object has one; raw hex otherwise). Ctrl-C or the
    /// duration ends it: everything is detached, what is left in the buffers is read,
    /// and a last line on stderr says `records N, lost M`: the events read, and the perf
    /// buffer samples the kernel dropped because a ring was full (it reports them with
    /// the next sample that fits, so a loss at the very end goes unreported). A ring
    /// buffer does not count what it could not hold; an object that counts its failed
    /// reservations in a map named `dropped` (u64 values, per CPU or not; see
    /// bpf-progs/ringbuf_drops.bpf.c) gets `, dropped D` added.
    Run(RunArgs),
    /// Compute OBJ's CO-RE relocations without loading anything (no privileges needed)
    ///
    /// One line per relocation with the program, instruction, kind, the access in
    /// words and the result (old -> new value), or why it was poisoned.
    Relocate(RelocateArgs),
    /// Inspect BTF: the kernel's, a file's, or a BTF object the kernel holds
    #[command(subcommand)]
    Btf(BtfCommand),
    /// Generate files from BTF and objects: a minimal BTF for objects' CO-RE relocations
    #[command(subcommand)]
    Gen(crate::gen::GenCommand),
    /// What the running kernel supports: program, map and link types, helpers per
    /// program type, BTF kinds, and the loader's own features
    ///
    /// Probes as `bpftool feature probe kernel` does (loads a tiny program, map or link
    /// of each kind and closes it at once). `--json` field names are listed in the README.
    Feature(FeatureArgs),
    /// Stream the kernel's trace buffer (`bpf_printk` output) to stdout until Ctrl-C
    ///
    /// Reads tracefs' trace_pipe, mounting tracefs at /sys/kernel/tracing when it is
    /// missing, and prints each line as the kernel writes it (BCC's `trace_print`), or
    /// with `--json` one object per line (field names in the README). Reading consumes
    /// the lines: two readers share them. Ctrl-C, or stdout's reader closing the pipe
    /// (`| head`), ends it with status 0.
    TracePipe(TracePipeArgs),
    /// The BPF links the kernel holds: type, program, attach target in words, pids
    ///
    /// Like `bpftool link list|show`; `--json` field names are listed in the README.
    #[command(subcommand)]
    Link(crate::link::LinkCommand),
    /// Inspect the kernel's maps: list, show, dump (through BTF), lookup, update,
    /// delete, and histogram maps printed as BCC does (`map hist`)
    #[command(subcommand)]
    Map(crate::map::MapCommand),
    /// The programs the kernel holds, whoever loaded them (as `bpftool prog`)
    ///
    /// `list` shows every program, `show ID` one by id, `pinned PATH` one pinned on a
    /// bpffs: id, type, name, tag, load time, uid, sizes, map ids, BTF id, run stats
    /// (with kernel.bpf_stats_enabled) and the processes holding it. `--json` field
    /// names are listed in the README.
    Prog(crate::prog::ProgArgs),
    /// Print a completion script for SHELL to stdout
    ///
    /// For example `corebpf completions bash > /etc/bash_completion.d/corebpf`.
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

/// `btf` subcommands.
#[derive(Debug, Subcommand)]
pub enum BtfCommand {
    /// Print BTF as a C header (a vmlinux.h) or as one record per type
    ///
    /// `--format c` writes the types as C that `clang -target bpf` compiles, in the order
    /// and with the names `bpftool btf dump ... format c` gives them; `--format raw` (the
    /// default) lists them like `bpftool btf dump ...`, and `--json` as bpftool's `-j`.
    Dump(BtfDumpArgs),
}

/// Where the BTF to dump comes from: exactly one of FILE, `--kernel`, `--id`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct BtfSource {
    /// Raw BTF (like /sys/kernel/btf/vmlinux) or an ELF file with a .BTF section
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The running kernel's BTF (/sys/kernel/btf/vmlinux)
    #[arg(long)]
    pub kernel: bool,
    /// The BTF object with this id (see `bpftool btf list`); a module's is read on top of
    /// vmlinux's
    #[arg(long, value_name = "ID")]
    pub id: Option<u32>,
}

/// How `btf dump` writes types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BtfFormat {
    /// A C header
    C,
    /// One record per type, like `bpftool btf dump`
    Raw,
}

/// `btf dump` options.
#[derive(Debug, Args)]
pub struct BtfDumpArgs {
    #[command(flatten)]
    pub source: BtfSource,
    /// FILE (or the object given by --id) is split BTF on top of BASE, like a module's on
    /// vmlinux's (bpftool's -B)
    #[arg(long, short = 'B', value_name = "BASE", allow_hyphen_values = true)]
    pub base: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = BtfFormat::Raw)]
    pub format: BtfFormat,
    /// Only the types named NAME and the types they need
    #[arg(long = "type", value_name = "NAME", allow_hyphen_values = true)]
    pub type_name: Option<String>,
    /// Raw records as JSON, with bpftool's field names (not with --format c)
    #[arg(long)]
    pub json: bool,
}

/// `feature` options.
#[derive(Debug, Args)]
pub struct FeatureArgs {
    /// One JSON object instead of text
    #[arg(long)]
    pub json: bool,
    /// Also probe the helpers that write a warning to the kernel log when probed
    /// (bpf_trace_printk, bpf_trace_vprintk, bpf_probe_write_user), as bpftool's `full`
    #[arg(long)]
    pub full: bool,
}

/// `trace-pipe` options.
#[derive(Debug, Args)]
pub struct TracePipeArgs {
    /// One JSON object per line: task, pid, cpu, flags, timestamp, event, message
    #[arg(long)]
    pub json: bool,
}

/// The BTF to relocate against.
#[derive(Debug, Args)]
pub struct TargetBtf {
    /// Relocate against PATH (raw BTF, or an ELF with .BTF) instead of the running
    /// kernel's /sys/kernel/btf/vmlinux
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    pub btf: Option<PathBuf>,
}

/// `load` options.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The BPF object (an ELF file from `clang -target bpf`)
    #[arg(value_name = "OBJ")]
    pub object: PathBuf,
    /// Pin programs as DIR/<program> and maps as DIR/maps/<map> (DIR on bpffs)
    #[arg(long, value_name = "DIR", allow_hyphen_values = true)]
    pub pin: Option<PathBuf>,
    #[command(flatten)]
    pub options: crate::run_flags::ObjectOptions,
    #[command(flatten)]
    pub target: TargetBtf,
}

/// `run` options.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The BPF object (an ELF file from `clang -target bpf`)
    #[arg(value_name = "OBJ")]
    pub object: PathBuf,
    /// Stop after SECS seconds (fractions allowed)
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, allow_hyphen_values = true)]
    pub duration: Option<Duration>,
    /// Decode records through the struct, union or typedef NAME of the object's BTF
    #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
    pub event_type: Option<String>,
    /// Perf buffer ring size per CPU, in pages (a power of two)
    #[arg(long, value_name = "N", default_value_t = corebpf::perf_buffer::DEFAULT_PAGES)]
    pub perf_pages: usize,
    #[command(flatten)]
    pub options: crate::run_flags::ObjectOptions,
    #[command(flatten)]
    pub targets: crate::run_flags::AttachTargets,
    #[command(flatten)]
    pub hist: crate::hist::RunHistArgs,
    #[command(flatten)]
    pub target: TargetBtf,
}

/// `relocate` options.
#[derive(Debug, Args)]
pub struct RelocateArgs {
    /// The BPF object (an ELF file from `clang -target bpf`)
    #[arg(value_name = "OBJ")]
    pub object: PathBuf,
    /// Print a JSON array of objects instead of lines
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub target: TargetBtf,
}

/// A duration in seconds, fractions allowed: `10`, `0.5`.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| "not a number of seconds".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn p(s: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("corebpf").chain(s.split_whitespace()))
    }

    #[test]
    fn the_declarations_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_commands() {
        let Command::Load(l) = p("load x.o --pin /sys/fs/bpf/t").unwrap().command else {
            panic!("not load");
        };
        assert_eq!(l.object, PathBuf::from("x.o"));
        assert_eq!(l.pin, Some(PathBuf::from("/sys/fs/bpf/t")));
        assert_eq!(l.target.btf, None);
        let cli = p("-v run x.o --duration=1.5 --event-type ev").unwrap();
        assert_eq!(cli.verbose, 1);
        let Command::Run(r) = cli.command else {
            panic!("not run");
        };
        assert_eq!(r.duration, Some(Duration::from_millis(1500)));
        assert_eq!(r.event_type.as_deref(), Some("ev"));
        assert_eq!(r.perf_pages, 64);
        let Command::Run(r) = p("run x.o --perf-pages 1").unwrap().command else {
            panic!("not run");
        };
        assert_eq!(r.perf_pages, 1);
    }

    #[test]
    fn parses_relocate() {
        let Command::Relocate(r) = p("relocate x.o --json --btf v.btf").unwrap().command else {
            panic!("not relocate");
        };
        assert_eq!(r.object, PathBuf::from("x.o"));
        assert_eq!(r.target.btf, Some(PathBuf::from("v.btf")));
        assert!(r.json);
        assert!(p("load x.o --json").is_err());
    }

    #[test]
    fn parses_btf_dump() {
        let Command::Btf(BtfCommand::Dump(d)) =
            p("btf dump --kernel --format c --type task_struct")
                .unwrap()
                .command
        else {
            panic!("not btf dump");
        };
        assert!(d.source.kernel);
        assert_eq!(d.format, BtfFormat::C);
        assert_eq!(d.type_name.as_deref(), Some("task_struct"));
        let Command::Btf(BtfCommand::Dump(d)) =
            p("btf dump mod.btf -B vmlinux --json").unwrap().command
        else {
            panic!("not btf dump");
        };
        assert_eq!(d.source.file, Some(PathBuf::from("mod.btf")));
        assert_eq!(d.base, Some(PathBuf::from("vmlinux")));
        assert_eq!(d.format, BtfFormat::Raw);
        assert!(d.json);
        let Command::Btf(BtfCommand::Dump(d)) = p("btf dump --id 7").unwrap().command else {
            panic!("not btf dump");
        };
        assert_eq!(d.source.id, Some(7));
        for bad in [
            "btf dump",
            "btf dump x --kernel",
            "btf dump --kernel --id 1",
            "btf dump --id x",
            "btf dump --kernel --format h",
        ] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn parses_feature() {
        let Command::Feature(f) = p("feature --json").unwrap().command else {
            panic!("not feature");
        };
        assert!(f.json && !f.full);
        assert!(p("feature --bogus").is_err());
        assert!(p("feature x").is_err());
    }

    #[test]
    fn parses_gen_min_core_btf() {
        use crate::gen::GenCommand;
        for name in ["min_core_btf", "min-core-btf"] {
            let cli = p(&format!("gen {name} vmlinux out.btf a.o b.o")).unwrap();
            let Command::Gen(GenCommand::MinCoreBtf(g)) = cli.command else {
                panic!("not gen {name}");
            };
            assert_eq!(g.target, PathBuf::from("vmlinux"));
            assert_eq!(g.out, PathBuf::from("out.btf"));
            assert_eq!(g.objects, [PathBuf::from("a.o"), PathBuf::from("b.o")]);
        }
        for bad in [
            "gen",
            "gen min_core_btf",
            "gen min_core_btf v out",
            "gen frob",
        ] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn verbose_counts_anywhere() {
        assert_eq!(p("-vvv load x.o").unwrap().verbose, 3);
        assert_eq!(p("load -v x.o --verbose").unwrap().verbose, 2);
    }

    #[test]
    fn values_may_start_with_a_dash() {
        let Command::Relocate(r) = p("relocate x.o --btf -v").unwrap().command else {
            panic!("not relocate");
        };
        assert_eq!(r.target.btf, Some(PathBuf::from("-v")));
        let Command::Load(l) = p("load --pin --help -- -x.o").unwrap().command else {
            panic!("not load");
        };
        assert_eq!(l.pin, Some(PathBuf::from("--help")));
        assert_eq!(l.object, PathBuf::from("-x.o"));
    }

    #[test]
    fn rejects_bad_arguments() {
        for bad in [
            "",
            "load",
            "load a b",
            "load --bogus x.o",
            "run x.o --duration",
            "run x.o --duration -1",
            "run x.o --duration soon",
            "run x.o --bogus 1",
            "frob x",
            "completions tcsh",
        ] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
    }
}
