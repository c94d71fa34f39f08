//! `build-progs` and `check-progs`: the BPF test objects in `bpf-progs/`.
//!
//! Every `bpf-progs/NAME.bpf.c` is compiled into the committed
//! `bpf-progs/NAME.bpf.o`. The objects must be byte-for-byte reproducible, so
//! that CI can rebuild them and fail when a committed one is stale:
//!
//! - the compiler is pinned (LLVM major version [`LLVM_MAJOR`]);
//! - clang runs in `bpf-progs/` with a relative source path, and
//!   `-fdebug-compilation-dir=.` plus `-f{debug,file}-prefix-map` keep the
//!   checkout path out of the object (BTF line info records `./NAME.bpf.c`);
//! - `llvm-strip -g` then drops the DWARF (which names the compiler and
//!   directories), keeping `.BTF` and `.BTF.ext`: all a loader needs;
//! - variables that change clang's include path are removed from its
//!   environment.
//!
//! The C programs target x86-64 (`-D__TARGET_ARCH_x86`) whatever the build
//! host; they use no architecture-specific headers beyond `asm/types.h`.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cmd, elf, setup, Result};

/// The LLVM major version the committed objects are built with.
pub const LLVM_MAJOR: u32 = 19;
const DEFAULT_CLANG: &str = "clang-19";
const DEFAULT_STRIP: &str = "llvm-strip-19";
/// Set to 1 to build with another LLVM major version anyway.
const ALLOW_ANY_LLVM: &str = "XTASK_ALLOW_ANY_LLVM";

const PROGS_DIR: &str = "bpf-progs";
const SOURCE_SUFFIX: &str = ".bpf.c";
const OBJECT_SUFFIX: &str = ".bpf.o";

/// The flags for every object, before the include directory and the file
/// names. `-Werror`: the committed objects build without warnings.
const CLANG_FLAGS: &[&str] = &[
    "-target",
    "bpf",
    "-mcpu=v3",
    "-O2",
    "-g",
    "-D__TARGET_ARCH_x86",
    "-Wall",
    "-Werror",
    "-fdebug-compilation-dir=.",
];

/// Environment variables that would silently change what clang compiles.
const CLANG_ENV_REMOVED: &[&str] = &[
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "OBJC_INCLUDE_PATH",
    "CCC_OVERRIDE_OPTIONS",
];

/// `cargo xtask build-progs [-v] [NAME...]`
pub fn build_progs(args: &[String]) -> Result<()> {
    let options = Options::parse(args, true)?;
    let progs_dir = progs_dir()?;
    let all = sources(&progs_dir)?;
    let names = if options.names.is_empty() {
        all
    } else {
        options
            .names
            .iter()
            .map(|arg| {
                let name = normalize_name(arg);
                if all.contains(&name) {
                    Ok(name)
                } else {
                    Err(format!(
                        "no {PROGS_DIR}/{name}{SOURCE_SUFFIX} (known: {})",
                        all.join(", ")
                    ))
                }
            })
            .collect::<Result<Vec<_>>>()?
    };
    let toolchain = Toolchain::find(options.verbose)?;
    for name in &names {
        let object = progs_dir.join(format!("{name}{OBJECT_SUFFIX}"));
        toolchain.build(&progs_dir, name, &object)?;
        let size = fs::metadata(&object).map(|m| m.len()).unwrap_or(0);
        println!("  built {PROGS_DIR}/{name}{OBJECT_SUFFIX} ({size} bytes)");
    }
    for orphan in orphans(&progs_dir)? {
        println!("  warning: {PROGS_DIR}/{orphan} has no source; delete it or add its .bpf.c");
    }
    Ok(())
}

/// `cargo xtask check-progs [-v]`
pub fn check_progs(args: &[String]) -> Result<()> {
    let options = Options::parse(args, false)?;
    let progs_dir = progs_dir()?;
    let names = sources(&progs_dir)?;
    let toolchain = Toolchain::find(options.verbose)?;
    let scratch = ScratchDir::new("corebpf-check-progs")?;

    let mut problems = Vec::new();
    for name in &names {
        let file = format!("{name}{OBJECT_SUFFIX}");
        let fresh = scratch.path().join(&file);
        toolchain.build(&progs_dir, name, &fresh)?;
        let fresh = read(&fresh)?;
        let verdict = match fs::read(progs_dir.join(&file)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Some("missing: not built or not committed".to_string())
            }
            Err(e) => return Err(format!("cannot read {PROGS_DIR}/{file}: {e}")),
            Ok(committed) if committed == fresh => None,
            Ok(committed) => Some(format!(
                "stale: {}",
                describe_difference(&committed, &fresh)
            )),
        };
        match verdict {
            None => println!("  ok     {PROGS_DIR}/{file}"),
            Some(why) => {
                println!("  STALE  {PROGS_DIR}/{file} ({why})");
                problems.push(file);
            }
        }
    }
    for orphan in orphans(&progs_dir)? {
        println!("  STALE  {PROGS_DIR}/{orphan} (no {SOURCE_SUFFIX} source)");
        problems.push(orphan);
    }

    if problems.is_empty() {
        println!(
            "all {} objects in {PROGS_DIR}/ match their sources",
            names.len()
        );
        Ok(())
    } else {
        Err(format!(
            "{} object(s) in {PROGS_DIR}/ do not match their sources: {}\n\
             run `cargo xtask build-progs` (with {DEFAULT_CLANG}) and commit the objects",
            problems.len(),
            problems.join(", ")
        ))
    }
}

struct Options {
    verbose: bool,
    names: Vec<String>,
}

impl Options {
    fn parse(args: &[String], names_allowed: bool) -> Result<Self> {
        let mut options = Options {
            verbose: false,
            names: Vec::new(),
        };
        for arg in args {
            match arg.as_str() {
                "-v" | "--verbose" => options.verbose = true,
                flag if flag.starts_with('-') => {
                    return Err(format!("unknown option `{flag}`; see `cargo xtask help`"))
                }
                name if names_allowed => options.names.push(name.to_string()),
                extra => {
                    return Err(format!(
                        "unexpected argument `{extra}`; see `cargo xtask help`"
                    ))
                }
            }
        }
        Ok(options)
    }
}

/// The compiler, the strip tool and the include directory they need.
struct Toolchain {
    clang: OsString,
    strip: OsString,
    asm_include: PathBuf,
    verbose: bool,
}

impl Toolchain {
    /// Finds the tools, checks their versions and the headers, and says
    /// which ones it uses.
    fn find(verbose: bool) -> Result<Self> {
        if std::env::var_os("CLANG").is_none() && std::env::var_os("LLVM_STRIP").is_none() {
            setup::ensure(&setup::bpf_toolchain())?;
        }
        let clang = tool_from_env("CLANG", DEFAULT_CLANG);
        let strip = tool_from_env("LLVM_STRIP", DEFAULT_STRIP);
        let clang_version = check_version(&clang, "CLANG", "clang")?;
        check_version(&strip, "LLVM_STRIP", "llvm-strip")?;
        for header in ["bpf/bpf_helpers.h", "linux/bpf.h"] {
            if !Path::new("/usr/include").join(header).is_file() {
                return Err(format!(
                    "/usr/include/{header} is missing; install libbpf-dev and linux-libc-dev"
                ));
            }
        }
        let asm_include = asm_include_dir()?;
        println!(
            "using {} ({clang_version}) and {}",
            clang.to_string_lossy(),
            strip.to_string_lossy()
        );
        Ok(Toolchain {
            clang,
            strip,
            asm_include,
            verbose,
        })
    }

    /// Compiles `progs_dir/NAME.bpf.c` into the stripped object `out`.
    ///
    /// The unstripped object goes to `out` with `.tmp.o` for `.o` (ignored
    /// by git) and is removed afterwards, also on failure.
    fn build(&self, progs_dir: &Path, name: &str, out: &Path) -> Result<()> {
        let source = format!("{name}{SOURCE_SUFFIX}");
        let unstripped = out.with_extension("tmp.o");
        let result = self
            .compile(progs_dir, &source, &unstripped)
            .and_then(|()| {
                let mut strip = Command::new(&self.strip);
                strip.arg("-g").arg(&unstripped).arg("-o").arg(out);
                self.run(&mut strip)
            });
        let _ = fs::remove_file(&unstripped);
        result?;
        check_object(out)
    }

    fn compile(&self, progs_dir: &Path, source: &str, out: &Path) -> Result<()> {
        let mut clang = Command::new(&self.clang);
        clang.current_dir(progs_dir).args(CLANG_FLAGS);
        // The absolute checkout path must not reach the object; with a
        // relative source and compilation dir "." it should not anyway.
        for flag in ["-fdebug-prefix-map", "-ffile-prefix-map"] {
            let mut map = OsString::from(format!("{flag}="));
            map.push(progs_dir);
            map.push("=.");
            clang.arg(map);
        }
        clang.arg("-I").arg(&self.asm_include);
        clang.args(["-c", source, "-o"]).arg(out);
        for var in CLANG_ENV_REMOVED {
            clang.env_remove(var);
        }
        self.run(&mut clang)
            .map_err(|e| format!("compiling {PROGS_DIR}/{source}: {e}"))
    }

    fn run(&self, command: &mut Command) -> Result<()> {
        if self.verbose {
            let dir = command.get_current_dir().map(Path::to_path_buf);
            match dir {
                Some(dir) => println!("  (cd {} && {})", dir.display(), cmd::display(command)),
                None => println!("  {}", cmd::display(command)),
            }
        }
        cmd::run(command)
    }
}

/// `$VAR` if set and non-empty, else `default`.
fn tool_from_env(var: &str, default: &str) -> OsString {
    match std::env::var_os(var) {
        Some(value) if !value.is_empty() => value,
        _ => default.into(),
    }
}

/// Runs `tool --version` and refuses any LLVM major version but
/// [`LLVM_MAJOR`] unless `XTASK_ALLOW_ANY_LLVM=1`. Returns the version line.
fn check_version(tool: &OsStr, env_var: &str, what: &str) -> Result<String> {
    let shown = tool.to_string_lossy();
    let output = cmd::stdout_of(Command::new(tool).arg("--version")).map_err(|e| {
        format!(
            "{e}\n{what} {LLVM_MAJOR} is needed to build the BPF objects: install it \
             (apt-get install clang-{LLVM_MAJOR} llvm-{LLVM_MAJOR}) or set {env_var}=/path/to/{what}"
        )
    })?;
    let (major, line) = parse_version(&output)
        .ok_or_else(|| format!("cannot find a version number in `{shown} --version`: {output}"))?;
    if major != LLVM_MAJOR {
        let message = format!(
            "`{shown}` is LLVM {major} ({line}), but the committed BPF objects are built \
             with LLVM {LLVM_MAJOR}, and another version produces different bytes"
        );
        if std::env::var(ALLOW_ANY_LLVM).as_deref() == Ok("1") {
            println!("warning: {message}; going on because {ALLOW_ANY_LLVM}=1");
        } else {
            return Err(format!(
                "{message}.\ninstall clang-{LLVM_MAJOR} and llvm-{LLVM_MAJOR}, point \
                 {env_var}= at LLVM {LLVM_MAJOR}'s {what}, or set {ALLOW_ANY_LLVM}=1 to \
                 build anyway (check-progs will then report the objects stale)"
            ));
        }
    }
    Ok(line)
}

/// Finds "version X.Y.Z" in `--version` output, as printed by clang
/// ("Debian clang version 19.1.7 (3~deb12u1)") and the LLVM tools ("Debian
/// LLVM version 19.1.7"). Returns the major version and the whole line.
fn parse_version(output: &str) -> Option<(u32, String)> {
    output.lines().find_map(|line| {
        let (_, after) = line.split_once("version ")?;
        let number = after.split_whitespace().next()?;
        let major = number.split('.').next()?.parse().ok()?;
        Some((major, line.trim().to_string()))
    })
}

/// The directory holding `asm/types.h` for the build host (with
/// `-target bpf`, clang does not search the multiarch directory itself).
fn asm_include_dir() -> Result<PathBuf> {
    let multiarch = match std::env::consts::ARCH {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        "powerpc64" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        _ => "",
    };
    let candidates = [
        Path::new("/usr/include").join(multiarch),
        PathBuf::from("/usr/include"),
    ];
    candidates
        .into_iter()
        .find(|dir| dir.join("asm/types.h").is_file())
        .ok_or_else(|| {
            format!(
                "no asm/types.h in /usr/include/{multiarch} or /usr/include; install linux-libc-dev"
            )
        })
}

/// Sanity check of a built object: BTF kept, DWARF gone.
fn check_object(path: &Path) -> Result<()> {
    let bytes = read(path)?;
    let sections = elf::sections(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let has = |name: &str| sections.iter().any(|s| s.name == name);
    if !has(".BTF") || !has(".BTF.ext") {
        return Err(format!("{}: .BTF or .BTF.ext is missing", path.display()));
    }
    if let Some(debug) = sections.iter().find(|s| s.name.contains(".debug_")) {
        return Err(format!(
            "{}: {} survived llvm-strip -g",
            path.display(),
            debug.name
        ));
    }
    Ok(())
}

/// How `committed` differs from `fresh`, in terms of ELF sections.
fn describe_difference(committed: &[u8], fresh: &[u8]) -> String {
    let (Ok(old), Ok(new)) = (elf::sections(committed), elf::sections(fresh)) else {
        return "the committed file is not a valid ELF object".into();
    };
    let contents = |bytes: &'_ [u8], s: &elf::Section| bytes[s.file_range.clone()].to_vec();
    let mut differing = Vec::new();
    for section in &new {
        match old.iter().find(|o| o.name == section.name) {
            None => differing.push(format!("{} added", section.name)),
            Some(o) if contents(committed, o) != contents(fresh, section) => {
                differing.push(section.name.clone())
            }
            Some(_) => {}
        }
    }
    for section in &old {
        if !new.iter().any(|n| n.name == section.name) {
            differing.push(format!("{} removed", section.name));
        }
    }
    if differing.is_empty() {
        "same sections, different layout".into()
    } else {
        format!("differs in {}", differing.join(", "))
    }
}

/// `bpf-progs/` of this checkout, absolute.
fn progs_dir() -> Result<PathBuf> {
    let dir = crate::workspace_root().join(PROGS_DIR);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!("{} is not a directory", dir.display()))
    }
}

/// The NAMEs of `bpf-progs/NAME.bpf.c`, sorted.
fn sources(progs_dir: &Path) -> Result<Vec<String>> {
    let names = files_with_suffix(progs_dir, SOURCE_SUFFIX)?;
    if names.is_empty() {
        return Err(format!("no *{SOURCE_SUFFIX} in {}", progs_dir.display()));
    }
    Ok(names)
}

/// `NAME.bpf.o` files without a `NAME.bpf.c`.
fn orphans(progs_dir: &Path) -> Result<Vec<String>> {
    let sources = files_with_suffix(progs_dir, SOURCE_SUFFIX)?;
    Ok(files_with_suffix(progs_dir, OBJECT_SUFFIX)?
        .into_iter()
        .filter(|name| !sources.contains(name))
        .map(|name| format!("{name}{OBJECT_SUFFIX}"))
        .collect())
}

/// The sorted stems of the files in `dir` whose names end in `suffix`.
fn files_with_suffix(dir: &Path, suffix: &str) -> Result<Vec<String>> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if let Some(stem) = file_name.strip_suffix(suffix) {
            if !stem.is_empty() && entry.path().is_file() {
                names.push(stem.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// `hello`, `hello.bpf.c`, `hello.bpf.o` and `bpf-progs/hello.bpf.c` all
/// name `hello`.
fn normalize_name(arg: &str) -> String {
    let file = arg.rsplit('/').next().unwrap_or(arg);
    [SOURCE_SUFFIX, OBJECT_SUFFIX]
        .iter()
        .find_map(|suffix| file.strip_suffix(suffix))
        .unwrap_or(file)
        .to_string()
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// A fresh directory under the system temp dir, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(prefix: &str) -> Result<Self> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(ScratchDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_clang_and_llvm_tools() {
        let clang = "Debian clang version 19.1.7 (3~deb12u1)\nTarget: x86_64-pc-linux-gnu\n";
        assert_eq!(
            parse_version(clang),
            Some((19, "Debian clang version 19.1.7 (3~deb12u1)".into()))
        );
        let strip = "llvm-strip, compatible with GNU strip\nDebian LLVM version 19.1.7\n";
        assert_eq!(parse_version(strip).map(|v| v.0), Some(19));
        let upstream = "clang version 18.1.8 (https://github.com/llvm/llvm-project 3b5b5c1)";
        assert_eq!(parse_version(upstream).map(|v| v.0), Some(18));
        assert_eq!(parse_version("gcc (Debian 12.2.0-14) 12.2.0"), None);
    }

    #[test]
    fn program_names() {
        for arg in [
            "hello",
            "hello.bpf.c",
            "hello.bpf.o",
            "bpf-progs/hello.bpf.c",
        ] {
            assert_eq!(normalize_name(arg), "hello");
        }
    }
}
