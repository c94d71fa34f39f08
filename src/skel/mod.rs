//! Skeletons: a typed Rust module generated from an object's BTF, as `bpftool gen
//! skeleton` writes a C header for libbpf users.
//!
//! [`generate`] reads an object (the bytes of `prog.bpf.o`) and returns the text of one
//! Rust module: the object's bytes, a `#[repr(C)]` struct for every BTF type its maps,
//! global variables and ring or perf buffer records use, one struct per global-data
//! section (`.rodata`, `.data`, `.bss`), and the skeleton itself: `open()` to configure
//! the object (initial values of its globals, map sizes, which programs load), `load()`
//! for typed maps and programs, `attach()`, and live views of the loaded globals.
//! [`Builder`] does the same from a build script, writing `OUT_DIR/<name>.skel.rs`.
//!
//! The generated code contains no `unsafe`: its structs implement [`Pod`](crate::Pod)
//! through `#[derive(Pod)]` (the `derive` feature, on by default), which checks at
//! compile time that each is plain old data. Padding is explicit (`_pad_N` fields),
//! bitfields are bytes with getter and setter methods, enums are Rust enums with an
//! `Other` variant for values the object does not name (so every value is
//! representable), char arrays have a `NAME_str()` accessor returning the text up to
//! the first NUL (an error for text that is not UTF-8: nothing is lost silently), unions
//! are bytes with an accessor per member. Bit layouts assume a little-endian target
//! (`bpfel`, what clang's `-target bpf` picks on x86 and arm64).
//!
//! The same object always gives the same text, formatted as rustfmt formats it.
//!
//! # Examples
//!
//! Generate the skeleton of hello, as `corebpf gen skeleton` does:
//!
//! ```
//! use corebpf::skel::{generate, SkelOptions};
//!
//! let bytes = std::fs::read("bpf-progs/hello.bpf.o").unwrap();
//! let text = generate(&bytes, &SkelOptions::new("hello").object_path("hello.bpf.o")).unwrap();
//! assert!(text.contains("pub mod hello {"));
//! assert!(text.contains("pub struct Event {"));
//! assert!(text.contains("include_bytes!(\"hello.bpf.o\")"));
//! ```
//!
//! Use it (here from a build script's `OUT_DIR`):
//!
//! ```ignore
//! include!(concat!(env!("OUT_DIR"), "/hello.skel.rs"));
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mut open = hello::open()?;
//!     open.rodata_mut().target_tgid = std::process::id();
//!     let mut skel = open.load()?;
//!     skel.attach()?;
//!     let mut ring = skel
//!         .events_ring_buffer(|e: &hello::Event| {
//!             println!("{} {}", e.pid, e.filename_str().unwrap_or("?"));
//!             0
//!         })?
//!         .build()?;
//!     ring.poll(Some(std::time::Duration::from_secs(1)))?;
//!     println!("{:?}", skel.maps().counts()?.get(&0)?);
//!     Ok(())
//! }
//! ```

mod builder;
mod emit;
mod runtime;
#[cfg(test)]
mod tests;
mod types;

use std::path::PathBuf;

pub use builder::Builder;
pub use runtime::{
    bitfield_get, bitfield_get_signed, bitfield_set, c_str, perf_buffer, read_prefix, ring_buffer,
    write_prefix, LoadedObject, OpenObject,
};

use crate::btf::BtfError;
use crate::{LoadError, MapError, ObjectError, ProgramError};

/// Why a skeleton could not be generated, built or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SkelError {
    /// The object's bytes are no valid BPF object.
    #[error("parsing the object")]
    Object(#[source] Box<ObjectError>),
    /// The object has no `.BTF` section: without types there is nothing to generate.
    #[error("the object has no BTF (compile it with `-g`): a skeleton is made from its types")]
    NoBtf,
    /// The object's BTF is inconsistent.
    #[error("reading the object's BTF")]
    Btf(#[source] BtfError),
    /// A type the skeleton needs has no Rust layout.
    #[error("cannot lay out {type_name} as a Rust type: {reason}")]
    Layout {
        /// The type, spelt as in C.
        type_name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A skeleton name that is no Rust identifier.
    #[error("'{name}' is no name for a skeleton module: use letters, digits and '_'")]
    BadName {
        /// The name given.
        name: String,
    },
    /// The object has no map of that name.
    #[error("the object has no map '{name}'")]
    NoSuchMap {
        /// The name asked for.
        name: String,
    },
    /// The object has no program of that name.
    #[error("the object has no program '{name}'")]
    NoSuchProgram {
        /// The name asked for.
        name: String,
    },
    /// The object has no global-data section of that name.
    #[error("the object has no global-data section '{name}'")]
    NoSuchSection {
        /// The name asked for.
        name: String,
    },
    /// A section's value given with the wrong size.
    #[error("section '{name}' is {size} bytes, the value given is {given}")]
    SectionSize {
        /// The section.
        name: String,
        /// Its size.
        size: usize,
        /// The size given.
        given: usize,
    },
    /// Loading the object into the kernel.
    #[error("loading the skeleton's object")]
    Load(#[source] Box<LoadError>),
    /// Attaching its programs.
    #[error("attaching the skeleton's programs")]
    Attach(#[source] Box<ProgramError>),
    /// A map of the loaded object refused the typed view.
    #[error("map '{name}'")]
    Map {
        /// The map.
        name: String,
        /// What the view found.
        #[source]
        source: Box<MapError>,
    },
    /// Reading or writing a file (build scripts).
    #[error("{action} {}", path.display())]
    Io {
        /// What was done: `reading`, `writing`, `creating`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Running clang failed to start (it is not installed, or not on `PATH`).
    #[error("running {clang} to compile {} (install clang, or give a prebuilt .bpf.o)", source_file.display())]
    ClangMissing {
        /// The command tried.
        clang: String,
        /// The C source.
        source_file: PathBuf,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// clang ran and failed: the command, the source, its exit status and what it
    /// printed on stderr.
    #[error("{} failed to compile {} ({}):\n{}", .0.clang, .0.source_file.display(), .0.status, .0.stderr)]
    Clang(Box<ClangFailure>),
    /// A builder missing its input, or outside a build script without an output path.
    #[error("skeleton builder: {0}")]
    Builder(String),
}

/// A failed clang run: see [`SkelError::Clang`].
#[derive(Debug)]
pub struct ClangFailure {
    /// The command run.
    pub clang: String,
    /// The C source.
    pub source_file: PathBuf,
    /// Its exit status.
    pub status: String,
    /// What it printed on stderr.
    pub stderr: String,
}

/// How [`generate`] writes a skeleton.
///
/// # Examples
///
/// ```
/// let opts = corebpf::skel::SkelOptions::new("hello").object_path("../bpf/hello.bpf.o");
/// assert_eq!(opts.name(), "hello");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkelOptions {
    name: String,
    object_path: Option<String>,
}

impl SkelOptions {
    /// A skeleton named `name`: the module's name, and the object's name when loaded
    /// (it prefixes its global-data maps' names in the kernel, as `hello.rodata`).
    pub fn new(name: impl Into<String>) -> SkelOptions {
        SkelOptions {
            name: name.into(),
            object_path: None,
        }
    }

    /// The object is embedded as `include_bytes!(path)` (relative to the file the
    /// module is included from) instead of as a byte-string literal.
    pub fn object_path(mut self, path: impl Into<String>) -> SkelOptions {
        self.object_path = Some(path.into());
        self
    }

    /// The skeleton's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The skeleton of the object `object_bytes`: the text of one Rust module named as
/// `opts` says, deterministic and formatted as rustfmt formats it.
///
/// # Examples
///
/// ```
/// let bytes = std::fs::read("bpf-progs/hello_buffer_config.bpf.o").unwrap();
/// let opts = corebpf::skel::SkelOptions::new("config");
/// let text = corebpf::skel::generate(&bytes, &opts).unwrap();
/// // `.rodata`'s struct, and the open skeleton's accessor to it.
/// assert!(text.contains("pub struct Rodata {"));
/// assert!(text.contains("pub fn rodata_mut(&mut self) -> &mut Rodata {"));
/// assert_eq!(text, corebpf::skel::generate(&bytes, &opts).unwrap());
/// ```
pub fn generate(object_bytes: &[u8], opts: &SkelOptions) -> Result<String, SkelError> {
    if !types::is_identifier(&opts.name) {
        return Err(SkelError::BadName {
            name: opts.name.clone(),
        });
    }
    let spec = crate::ObjectSpec::parse(object_bytes, &opts.name)
        .map_err(|e| SkelError::Object(Box::new(e)))?;
    emit::module(&spec, object_bytes, opts)
}
