//! Command-line parsing, by hand: the CLI has no dependencies beyond the library's.

use std::path::PathBuf;
use std::time::Duration;

/// Usage text.
pub const USAGE: &str = "\
usage: corebpf [-v] COMMAND ...

commands:
  load OBJ [--pin DIR] [--btf PATH]
      Load every map and program of OBJ and print one line per program (name, type,
      kernel id, instruction count, verified instruction count) and per map. With --pin,
      pin programs as DIR/<program> and maps as DIR/maps/<map> (DIR on bpffs).
  run OBJ [--duration SECS] [--event-type NAME] [--btf PATH]
      Load OBJ, attach every program whose section names its target, and print each
      ring buffer record as one line, decoded through the object's BTF struct NAME
      (default: a struct named `event`, when the object has one; raw hex otherwise).
      Ctrl-C or the duration ends it, detaching everything.
  relocate OBJ [--btf PATH] [--json]
      Compute OBJ's CO-RE relocations without loading anything (no privileges needed):
      one line per relocation with the program, instruction, kind, the access in words
      and the result (old -> new value), or why it was poisoned.
  help
      This text.

options:
  --btf PATH      relocate against PATH (raw BTF, or an ELF with .BTF) instead of the
                  running kernel's /sys/kernel/btf/vmlinux
  -v, --verbose   debug logging to stderr (repeat for trace)

Needs root (CAP_BPF and CAP_PERFMON). `run` mounts tracefs at /sys/kernel/tracing and
`load --pin` mounts bpffs at /sys/fs/bpf when they are missing, and says so.";

/// What to do.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// Print usage.
    Help,
    /// `load`.
    Load(LoadArgs),
    /// `run`.
    Run(RunArgs),
    /// `relocate`.
    Relocate(RelocateArgs),
}

/// `relocate` options.
#[derive(Debug, PartialEq, Default)]
pub struct RelocateArgs {
    pub object: PathBuf,
    pub btf: Option<PathBuf>,
    pub json: bool,
    pub verbose: u8,
}

/// Options common to all commands, kept with the command.
#[derive(Debug, PartialEq, Default)]
pub struct LoadArgs {
    pub object: PathBuf,
    pub pin: Option<PathBuf>,
    pub btf: Option<PathBuf>,
    pub verbose: u8,
}

/// `run` options.
#[derive(Debug, PartialEq, Default)]
pub struct RunArgs {
    pub object: PathBuf,
    pub duration: Option<Duration>,
    pub event_type: Option<String>,
    pub btf: Option<PathBuf>,
    pub verbose: u8,
}

impl Command {
    /// Verbosity level.
    pub fn verbose(&self) -> u8 {
        match self {
            Command::Help => 0,
            Command::Load(a) => a.verbose,
            Command::Run(a) => a.verbose,
            Command::Relocate(a) => a.verbose,
        }
    }
}

/// Options that take no value.
const SWITCHES: [&str; 1] = ["json"];

/// Parses the arguments after the program name.
pub fn parse(argv: &[String]) -> Result<Command, String> {
    let mut verbose = 0u8;
    let mut rest = Vec::new();
    for a in argv {
        match a.as_str() {
            "-v" | "--verbose" => verbose = verbose.saturating_add(1),
            "-vv" => verbose = verbose.saturating_add(2),
            "-h" | "--help" => return Ok(Command::Help),
            _ => rest.push(a.as_str()),
        }
    }
    let Some((&cmd, rest)) = rest.split_first() else {
        return Err("no command given".into());
    };
    let mut it = rest.iter().copied();
    let mut positional = Vec::new();
    let mut flags: Vec<(&str, String)> = Vec::new();
    let mut switches: Vec<&str> = Vec::new();
    while let Some(a) = it.next() {
        if let Some(flag) = a.strip_prefix("--").filter(|f| SWITCHES.contains(f)) {
            switches.push(flag);
        } else if let Some(flag) = a.strip_prefix("--") {
            let (name, value) = match flag.split_once('=') {
                Some((n, v)) => (n, v.to_string()),
                None => (
                    flag,
                    it.next()
                        .ok_or_else(|| format!("--{flag} needs a value"))?
                        .to_string(),
                ),
            };
            flags.push((name, value));
        } else {
            positional.push(a);
        }
    }
    let object = |positional: &[&str]| -> Result<PathBuf, String> {
        match positional {
            [obj] => Ok(PathBuf::from(obj)),
            [] => Err(format!("{cmd}: missing OBJ")),
            more => Err(format!("{cmd}: unexpected arguments {:?}", &more[1..])),
        }
    };
    if let Some(s) = switches.iter().find(|s| cmd != "relocate" || **s != "json") {
        return Err(format!("{cmd}: unknown option --{s}"));
    }
    match cmd {
        "help" => Ok(Command::Help),
        "load" => {
            let mut a = LoadArgs {
                object: object(&positional)?,
                verbose,
                ..Default::default()
            };
            for (name, value) in flags {
                match name {
                    "pin" => a.pin = Some(PathBuf::from(value)),
                    "btf" => a.btf = Some(PathBuf::from(value)),
                    other => return Err(format!("load: unknown option --{other}")),
                }
            }
            Ok(Command::Load(a))
        }
        "run" => {
            let mut a = RunArgs {
                object: object(&positional)?,
                verbose,
                ..Default::default()
            };
            for (name, value) in flags {
                match name {
                    "duration" => {
                        let secs: f64 = value
                            .parse()
                            .ok()
                            .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s < 1e9)
                            .ok_or_else(|| {
                                format!("--duration: not a number of seconds: {value:?}")
                            })?;
                        a.duration = Some(Duration::from_secs_f64(secs));
                    }
                    "event-type" => a.event_type = Some(value),
                    "btf" => a.btf = Some(PathBuf::from(value)),
                    other => return Err(format!("run: unknown option --{other}")),
                }
            }
            Ok(Command::Run(a))
        }
        "relocate" => {
            let mut a = RelocateArgs {
                object: object(&positional)?,
                json: switches.contains(&"json"),
                verbose,
                ..Default::default()
            };
            for (name, value) in flags {
                match name {
                    "btf" => a.btf = Some(PathBuf::from(value)),
                    other => return Err(format!("relocate: unknown option --{other}")),
                }
            }
            Ok(Command::Relocate(a))
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, String> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn parses_commands() {
        assert_eq!(
            p("load x.o --pin /sys/fs/bpf/t").unwrap(),
            Command::Load(LoadArgs {
                object: "x.o".into(),
                pin: Some("/sys/fs/bpf/t".into()),
                btf: None,
                verbose: 0
            })
        );
        let Command::Run(r) = p("-v run x.o --duration=1.5 --event-type ev").unwrap() else {
            panic!("not run");
        };
        assert_eq!(r.duration, Some(Duration::from_millis(1500)));
        assert_eq!(r.event_type.as_deref(), Some("ev"));
        assert_eq!(r.verbose, 1);
    }

    #[test]
    fn parses_relocate() {
        assert_eq!(
            p("relocate x.o --json --btf v.btf").unwrap(),
            Command::Relocate(RelocateArgs {
                object: "x.o".into(),
                btf: Some("v.btf".into()),
                json: true,
                verbose: 0
            })
        );
        assert!(p("load x.o --json").is_err());
    }

    #[test]
    fn rejects_bad_arguments() {
        for bad in [
            "",
            "load",
            "load a b",
            "run x.o --duration",
            "run x.o --duration -1",
            "run x.o --bogus 1",
            "frob x",
        ] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
    }
}
