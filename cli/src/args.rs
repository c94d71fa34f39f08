//! The command line, declared with clap's derive: usage, help, suggestions for misspelt
//! flags and shell completions come from these declarations. Paths are `PathBuf`s read
//! from the OS's arguments, so names that are not UTF-8 work.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};

/// Load, run and inspect eBPF objects, in the spirit of bpftool.
#[derive(Debug, Parser)]
#[command(
    name = "corebpf",
    version,
    after_help = "Needs root (CAP_BPF and CAP_PERFMON). `run` mounts tracefs at /sys/kernel/tracing\n\
and `load --pin` mounts bpffs at /sys/fs/bpf when they are missing, and says so."
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
    /// Load OBJ, attach it and print its ring buffer records until Ctrl-C
    ///
    /// Attaches every program whose section names its target and prints each ring
    /// buffer record as one line, decoded through the object's BTF struct NAME
    /// (default: a struct named `event`, when the object has one; raw hex otherwise).
    /// Ctrl-C or the duration ends it, detaching everything.
    Run(RunArgs),
    /// Compute OBJ's CO-RE relocations without loading anything (no privileges needed)
    ///
    /// One line per relocation with the program, instruction, kind, the access in
    /// words and the result (old -> new value), or why it was poisoned.
    Relocate(RelocateArgs),
    /// Print a completion script for SHELL to stdout
    ///
    /// For example `corebpf completions bash > /etc/bash_completion.d/corebpf`.
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
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
    #[command(flatten)]
    pub options: crate::run_flags::ObjectOptions,
    #[command(flatten)]
    pub targets: crate::run_flags::AttachTargets,
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
