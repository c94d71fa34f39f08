//! [`Builder`]: skeletons from a build script, with the standard library only.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{generate, ClangFailure, SkelError, SkelOptions};

/// Generates a skeleton from a build script: compiles a `.bpf.c` with clang (or takes
/// a prebuilt `.bpf.o`), writes `OUT_DIR/<name>.skel.rs` and tells cargo to run the
/// script again when the input changes.
///
/// # Examples
///
/// In `build.rs` (with `corebpf` in `[build-dependencies]`), in its `main`:
///
/// ```no_run
/// corebpf::skel::Builder::new()
///     .source("src/bpf/hello.bpf.c")
///     .build()
///     .expect("generating the skeleton of hello.bpf.c");
/// ```
///
/// and in the crate:
///
/// ```ignore
/// include!(concat!(env!("OUT_DIR"), "/hello.skel.rs"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    source: Option<PathBuf>,
    object: Option<PathBuf>,
    name: Option<String>,
    clang: Option<String>,
    clang_args: Vec<String>,
    out_dir: Option<PathBuf>,
}

impl Builder {
    /// A builder with no input yet.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// The C source to compile with `clang -O2 -g -target bpf -c` (into `OUT_DIR`).
    pub fn source(mut self, path: impl Into<PathBuf>) -> Builder {
        self.source = Some(path.into());
        self
    }

    /// A prebuilt object, used as it is.
    pub fn object(mut self, path: impl Into<PathBuf>) -> Builder {
        self.object = Some(path.into());
        self
    }

    /// The skeleton's name (module and file name); by default the input's file name up
    /// to its first `.` (`hello.bpf.c` → `hello`).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// The clang to run (default: `$CLANG`, else `clang`).
    pub fn clang(mut self, clang: impl Into<String>) -> Builder {
        self.clang = Some(clang.into());
        self
    }

    /// An extra clang argument (`-I include`, `-DDEBUG`), after the standard ones.
    pub fn clang_arg(mut self, arg: impl Into<String>) -> Builder {
        self.clang_args.push(arg.into());
        self
    }

    /// Where to write (default: `$OUT_DIR`, as cargo sets it for build scripts).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(dir.into());
        self
    }

    /// Compiles when given a source, generates, writes `<out>/<name>.skel.rs` (only when
    /// its text changes) and returns its path; prints `cargo:rerun-if-changed` for the
    /// input.
    pub fn build(self) -> Result<PathBuf, SkelError> {
        let out_dir = match self.out_dir.clone() {
            Some(d) => d,
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| {
                    SkelError::Builder(
                        "OUT_DIR is not set: run from a build script or set out_dir".into(),
                    )
                })?,
        };
        let input = self
            .source
            .as_ref()
            .or(self.object.as_ref())
            .ok_or_else(|| SkelError::Builder("give a .bpf.c source or a .bpf.o object".into()))?;
        let name = match &self.name {
            Some(n) => n.clone(),
            None => stem(input),
        };
        println!("cargo:rerun-if-changed={}", input.display());
        let object = match &self.source {
            Some(src) => {
                let obj = out_dir.join(format!("{name}.bpf.o"));
                self.compile(src, &obj)?;
                obj
            }
            None => input.clone(),
        };
        let bytes = std::fs::read(&object).map_err(|source| SkelError::Io {
            action: "reading",
            path: object.clone(),
            source,
        })?;
        let absolute = std::fs::canonicalize(&object).unwrap_or(object);
        let opts = SkelOptions::new(&name).object_path(absolute.display().to_string());
        let text = generate(&bytes, &opts)?;
        let out = out_dir.join(format!("{name}.skel.rs"));
        if std::fs::read_to_string(&out).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&out, text).map_err(|source| SkelError::Io {
                action: "writing",
                path: out.clone(),
                source,
            })?;
        }
        Ok(out)
    }

    fn compile(&self, src: &Path, obj: &Path) -> Result<(), SkelError> {
        let clang = self
            .clang
            .clone()
            .or_else(|| std::env::var("CLANG").ok())
            .unwrap_or_else(|| "clang".into());
        let output = Command::new(&clang)
            .args(["-O2", "-g", "-target", "bpf", "-c"])
            .arg(src)
            .arg("-o")
            .arg(obj)
            .args(&self.clang_args)
            .output()
            .map_err(|source| SkelError::ClangMissing {
                clang: clang.clone(),
                source_file: src.to_path_buf(),
                source,
            })?;
        if !output.status.success() {
            return Err(SkelError::Clang(Box::new(ClangFailure {
                clang,
                source_file: src.to_path_buf(),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr)
                    .trim_end()
                    .to_string(),
            })));
        }
        Ok(())
    }
}

/// `dir/hello.bpf.c` → `hello`, made an identifier.
fn stem(path: &Path) -> String {
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("skel");
    let base = file.split('.').next().unwrap_or(file);
    let name: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if super::types::is_identifier(&name) {
        name
    } else {
        format!("skel_{name}")
    }
}
