//! The running kernel's BTF: `vmlinux` and the modules', read once and shared.
//!
//! [`vmlinux_btf`] finds the kernel's BTF where libbpf looks for it (sysfs first, then the
//! on-disk `vmlinux` images), parses it once per process and hands out `Arc`s to the same
//! [`Btf`]. [`module_btfs`] lists the modules' split BTF under `/sys/kernel/btf/` and parses
//! each one lazily, on first use, on top of `vmlinux`. [`load_btf_file`] reads a BTF file
//! given by the user (libbpf's `btf_custom_path`): raw BTF or an ELF with a `.BTF` section.
//!
//! All of this is file I/O; nothing here calls `bpf(2)`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use object::read::elf::{FileHeader, SectionHeader};
use object::{Endianness, FileKind, ReadCache};

use super::{Btf, BtfError, BTF_MAGIC};

/// Where the kernel exposes its own BTF.
pub const SYSFS_BTF_DIR: &str = "/sys/kernel/btf";
/// The kernel's `vmlinux` BTF in sysfs.
pub const SYSFS_VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// Largest BTF file or `.BTF` section we read (the kernel's own limit for loaded BTF is
/// far below this); guards allocation against a corrupt ELF header.
const MAX_BTF_SIZE: u64 = 1 << 30;

fn io_err(path: &Path, source: std::io::Error) -> BtfError {
    BtfError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The running kernel's release (`uname -r`), read from `/proc/sys/kernel/osrelease`.
pub fn kernel_release() -> Result<String, BtfError> {
    let p = Path::new("/proc/sys/kernel/osrelease");
    let s = std::fs::read_to_string(p).map_err(|e| io_err(p, e))?;
    Ok(s.trim().to_string())
}

/// The running kernel's `(major, minor)`, for tests that follow the feature
/// discipline (a feature is skipped below the release that introduced it).
#[cfg(test)]
pub(crate) fn running_version() -> (u32, u32) {
    let release = kernel_release().unwrap_or_default();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The name of `task_struct`'s state field on the running kernel, by its version:
/// `__state` since 5.14, `state` before (for tests that read it from the kernel's BTF).
#[cfg(test)]
pub(crate) fn task_state_field() -> &'static str {
    if running_version() >= (5, 14) {
        "__state"
    } else {
        "state"
    }
}

/// The places libbpf looks for the kernel's BTF, in its order, for kernel release `release`:
/// sysfs (raw BTF) first, then `vmlinux` ELF images whose `.BTF` section is read.
pub fn vmlinux_btf_paths(release: &str) -> Vec<PathBuf> {
    let r = release;
    [
        SYSFS_VMLINUX.to_string(),
        format!("/boot/vmlinux-{r}"),
        format!("/lib/modules/{r}/vmlinux-{r}"),
        format!("/lib/modules/{r}/build/vmlinux"),
        format!("/usr/lib/modules/{r}/kernel/vmlinux"),
        format!("/usr/lib/debug/boot/vmlinux-{r}"),
        format!("/usr/lib/debug/boot/vmlinux-{r}.debug"),
        format!("/usr/lib/debug/lib/modules/{r}/vmlinux"),
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

static VMLINUX: Mutex<Option<Arc<Btf>>> = Mutex::new(None);

/// The running kernel's `vmlinux` BTF, parsed once per process and shared.
///
/// Tries [`vmlinux_btf_paths`] in order; a candidate that is missing is skipped silently and
/// one that fails to read or parse is skipped with a debug log, as libbpf does. The first
/// success is cached: later calls return the same `Arc` without touching the file system.
/// A failure is not cached, so a later call tries again.
///
/// The error, when nothing works, is the first real read/parse failure if some candidate
/// existed, or a not-found I/O error naming every path tried.
pub fn vmlinux_btf() -> Result<Arc<Btf>, BtfError> {
    // Hold the lock across the parse so concurrent first callers parse once, not N times.
    let mut slot = VMLINUX.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(b) = slot.as_ref() {
        return Ok(b.clone());
    }
    let btf = Arc::new(load_vmlinux_btf()?);
    *slot = Some(btf.clone());
    Ok(btf)
}

/// Finds and parses the running kernel's BTF without the process-wide cache
/// (see [`vmlinux_btf`] for the search order and errors).
pub fn load_vmlinux_btf() -> Result<Btf, BtfError> {
    // Without a release we can still try sysfs.
    let release = kernel_release().unwrap_or_default();
    let paths = if release.is_empty() {
        vec![PathBuf::from(SYSFS_VMLINUX)]
    } else {
        vmlinux_btf_paths(&release)
    };
    let mut first_err = None;
    for p in &paths {
        let loaded = if p.as_os_str() == SYSFS_VMLINUX {
            load_sysfs_vmlinux(p)
        } else {
            load_btf_file(p)
        };
        match loaded {
            Ok(b) => {
                log::debug!("kernel BTF: {} ({} types)", p.display(), b.len());
                return Ok(b);
            }
            Err(BtfError::Io { source, .. })
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) => {}
            Err(e) => {
                log::debug!(
                    "kernel BTF: skipping {}: {}",
                    p.display(),
                    crate::util::Chain(&e)
                );
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| BtfError::Io {
        path: SYSFS_VMLINUX.to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "no BTF for the running kernel{}; tried {}",
                if release.is_empty() {
                    String::new()
                } else {
                    format!(" {release}")
                },
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    }))
}

/// Loads the kernel's BTF from sysfs (raw BTF).
///
/// Reading it costs 5.5 MB of copying in 4 KiB `read`s (sysfs hands out at most a page
/// per call) into freshly faulted memory; since Linux 6.16 the file can instead be mapped
/// read-only, which needs `unsafe` and so belongs in `sys` (see the BTF layer's report:
/// with `sys::mmap::SysfsMap`, this becomes "map, else read").
fn load_sysfs_vmlinux(path: &Path) -> Result<Btf, BtfError> {
    let f = File::open(path).map_err(|e| io_err(path, e))?;
    match crate::sys::mmap::SysfsMap::map(&f) {
        Ok(m) => return Btf::parse_mapped(Arc::new(m)),
        Err(e) => log::debug!(
            "mapping {} failed ({}); reading it",
            path.display(),
            crate::util::Chain(&e)
        ),
    }
    load_btf_file(path)
}

/// Reads a whole file into a `Vec` sized from its metadata, with no reallocation when the
/// size is right (sysfs reports the BTF file's size exactly).
pub fn read_file(path: &Path) -> Result<Vec<u8>, BtfError> {
    let f = File::open(path).map_err(|e| io_err(path, e))?;
    read_rest(path, f, &[])
}

/// `head` (bytes already read from `f`) followed by the rest of `f`.
fn read_rest(path: &Path, mut f: File, head: &[u8]) -> Result<Vec<u8>, BtfError> {
    let hint = f.metadata().map(|m| m.len()).unwrap_or(0);
    if hint > MAX_BTF_SIZE {
        return Err(BtfError::Invalid(format!(
            "{} is {hint} bytes, larger than BTF can be",
            path.display()
        )));
    }
    // One extra byte so the final read that sees EOF needs no growth.
    let mut buf = Vec::with_capacity(hint as usize + 1);
    buf.extend_from_slice(head);
    f.read_to_end(&mut buf).map_err(|e| io_err(path, e))?;
    Ok(buf)
}

/// What a file holds, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    RawBtf,
    Elf,
}

fn sniff(head: &[u8]) -> Option<Format> {
    if head.len() >= 2 && u16::from_le_bytes([head[0], head[1]]) == BTF_MAGIC {
        Some(Format::RawBtf)
    } else if head.starts_with(b"\x7fELF") {
        Some(Format::Elf)
    } else {
        None
    }
}

/// Reads a BTF file: raw BTF (like `/sys/kernel/btf/vmlinux`) or an ELF file with a `.BTF`
/// section (like a `vmlinux` image or a BPF object), told apart by their magic numbers.
/// This is libbpf's `btf_custom_path` / `btf__parse`.
///
/// For an ELF file only the headers and the `.BTF` section are read, not the whole file
/// (a `vmlinux` with debug info is hundreds of megabytes).
///
/// The running kernel's own `/sys/kernel/btf/vmlinux` (by any path that names that file)
/// is mapped rather than read where the kernel allows it, and not validated again: the
/// kernel checked it when it booted.
pub fn load_btf_file(path: &Path) -> Result<Btf, BtfError> {
    if is_sysfs_vmlinux(path) {
        let f = File::open(path).map_err(|e| io_err(path, e))?;
        if let Ok(m) = crate::sys::mmap::SysfsMap::map(&f) {
            return Btf::parse_mapped(Arc::new(m));
        }
    }
    let btf = Btf::parse(read_btf_bytes(path)?)?;
    super::validate::validate(&btf)?;
    Ok(btf)
}

/// True when `path` is the file `/sys/kernel/btf/vmlinux` (same device and inode).
fn is_sysfs_vmlinux(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let (Ok(a), Ok(b)) = (std::fs::metadata(path), std::fs::metadata(SYSFS_VMLINUX)) else {
        return false;
    };
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

/// Reads split BTF (a kernel module's: its ids and strings continue `base`'s) from a
/// file, raw or in an ELF `.BTF` section, as bpftool's `-B BASE` does.
pub fn load_split_btf_file(path: &Path, base: Arc<Btf>) -> Result<Btf, BtfError> {
    Btf::parse_split(read_btf_bytes(path)?, base)
}

/// The BTF bytes of a raw BTF file or of an ELF file's `.BTF` section.
fn read_btf_bytes(path: &Path) -> Result<Vec<u8>, BtfError> {
    let mut f = File::open(path).map_err(|e| io_err(path, e))?;
    let mut head = [0u8; 4];
    let n = read_up_to(&mut f, &mut head).map_err(|e| io_err(path, e))?;
    match sniff(&head[..n]) {
        Some(Format::RawBtf) => read_rest(path, f, &head[..n]),
        Some(Format::Elf) => read_elf_btf_section(path, f),
        None => Err(BtfError::Invalid(format!(
            "{} is neither raw BTF nor an ELF file (starts with {:02x?})",
            path.display(),
            &head[..n]
        ))),
    }
}

/// Parses BTF held in memory: raw BTF or an ELF image with a `.BTF` section (copied out).
pub fn parse_btf_or_elf(data: Vec<u8>) -> Result<Btf, BtfError> {
    match sniff(&data) {
        Some(Format::RawBtf) => Btf::parse(data),
        Some(Format::Elf) => {
            let (off, len) = elf_btf_range(data.as_slice(), "ELF image")?;
            let range = usize::try_from(off)
                .ok()
                .zip(usize::try_from(len).ok())
                .and_then(|(o, l)| Some(o..o.checked_add(l)?))
                .filter(|r| r.end <= data.len())
                .ok_or_else(|| {
                    BtfError::Invalid(".BTF section lies outside the ELF image".into())
                })?;
            Btf::parse(data[range].to_vec())
        }
        None => Err(BtfError::Invalid(
            "data is neither raw BTF nor an ELF image".into(),
        )),
    }
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads the `.BTF` section of the ELF file `f` (at `path`), reading only what it needs.
fn read_elf_btf_section(path: &Path, f: File) -> Result<Vec<u8>, BtfError> {
    let (off, len) = {
        let cache = ReadCache::new(&f);
        elf_btf_range(&cache, &path.display().to_string())?
    };
    if len > MAX_BTF_SIZE {
        return Err(BtfError::Invalid(format!(
            "{}: .BTF section of {len} bytes is larger than BTF can be",
            path.display()
        )));
    }
    let mut f = f;
    f.seek(SeekFrom::Start(off)).map_err(|e| io_err(path, e))?;
    let mut buf = vec![0u8; len as usize];
    f.read_exact(&mut buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            BtfError::Invalid(format!(
                "{}: .BTF section extends past the end of the file",
                path.display()
            ))
        } else {
            io_err(path, e)
        }
    })?;
    Ok(buf)
}

/// File offset and size of the `.BTF` section of an ELF image.
fn elf_btf_range<'d, R: object::ReadRef<'d>>(data: R, what: &str) -> Result<(u64, u64), BtfError> {
    let bad = |e: object::Error| BtfError::Invalid(format!("{what}: {e}"));
    match FileKind::parse(data).map_err(bad)? {
        FileKind::Elf32 => elf_btf_range_of::<object::elf::FileHeader32<Endianness>, R>(data, what),
        FileKind::Elf64 => elf_btf_range_of::<object::elf::FileHeader64<Endianness>, R>(data, what),
        k => Err(BtfError::Invalid(format!(
            "{what}: not an ELF file ({k:?})"
        ))),
    }
}

fn elf_btf_range_of<'d, H, R>(data: R, what: &str) -> Result<(u64, u64), BtfError>
where
    H: FileHeader<Endian = Endianness>,
    R: object::ReadRef<'d>,
{
    let bad = |e: object::Error| BtfError::Invalid(format!("{what}: {e}"));
    let hdr = H::parse(data).map_err(bad)?;
    let endian = hdr.endian().map_err(bad)?;
    let sections = hdr.sections(endian, data).map_err(bad)?;
    let (_, sec) = sections
        .section_by_name(endian, b".BTF")
        .ok_or_else(|| BtfError::Invalid(format!("{what} has no .BTF section")))?;
    let flags: u64 = sec.sh_flags(endian).into();
    if flags & u64::from(object::elf::SHF_COMPRESSED) != 0 {
        return Err(BtfError::Invalid(format!(
            "{what}: compressed .BTF sections are not supported"
        )));
    }
    sec.file_range(endian).ok_or_else(|| {
        BtfError::Invalid(format!(
            "{what}: .BTF section has no data in the file (NOBITS)"
        ))
    })
}

/// One kernel module's BTF, found under `/sys/kernel/btf/` and parsed on first use.
pub struct ModuleBtf {
    name: String,
    path: PathBuf,
    base: Arc<Btf>,
    btf: OnceLock<Option<Arc<Btf>>>,
}

impl std::fmt::Debug for ModuleBtf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleBtf")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("parsed", &self.btf.get().map(|b| b.is_some()))
            .finish()
    }
}

impl ModuleBtf {
    /// A module BTF at `path`, to be parsed as split BTF on `base` when first asked for.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>, base: Arc<Btf>) -> ModuleBtf {
        ModuleBtf {
            name: name.into(),
            path: path.into(),
            base,
            btf: OnceLock::new(),
        }
    }

    /// The module's name (the file name under `/sys/kernel/btf/`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it is read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The module's BTF (split on vmlinux), parsed on the first call and cached. `None` when it
    /// cannot be read or parsed; that is logged once as a warning and never retried.
    pub fn btf(&self) -> Option<Arc<Btf>> {
        self.btf
            .get_or_init(|| match self.load() {
                Ok(b) => Some(Arc::new(b)),
                Err(e) => {
                    log::warn!(
                        "skipping BTF of kernel module {}: {}",
                        self.name,
                        crate::util::Chain(&e)
                    );
                    None
                }
            })
            .clone()
    }

    /// Reads and parses the module's BTF now, uncached, reporting the error.
    pub fn load(&self) -> Result<Btf, BtfError> {
        Btf::parse_split(read_file(&self.path)?, self.base.clone())
    }
}

/// The kernel modules' BTF: the list from `/sys/kernel/btf/`, each parsed on demand.
#[derive(Debug)]
pub struct ModuleBtfs {
    base: Arc<Btf>,
    modules: Vec<ModuleBtf>,
}

impl ModuleBtfs {
    /// Lists the module BTF files in `dir` (every entry but `vmlinux`), sorted by name, to be
    /// parsed lazily on `base`. An unreadable directory gives an empty list and a warning.
    pub fn scan(dir: &Path, base: Arc<Btf>) -> ModuleBtfs {
        let mut modules = Vec::new();
        match std::fs::read_dir(dir) {
            Ok(rd) => {
                for ent in rd {
                    let ent = match ent {
                        Ok(e) => e,
                        Err(e) => {
                            log::warn!("listing {}: {e}", dir.display());
                            continue;
                        }
                    };
                    let name = ent.file_name();
                    let Some(name) = name.to_str() else {
                        log::warn!(
                            "skipping module BTF with a non-UTF-8 name {:?}",
                            ent.file_name()
                        );
                        continue;
                    };
                    if name == "vmlinux" {
                        continue;
                    }
                    modules.push(ModuleBtf::new(name, ent.path(), base.clone()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("listing module BTF in {}: {e}", dir.display()),
        }
        crate::util::sort_by(&mut modules, |a, b| a.name.cmp(&b.name));
        ModuleBtfs { base, modules }
    }

    /// The vmlinux BTF the modules' BTF is split on.
    pub fn base(&self) -> &Arc<Btf> {
        &self.base
    }

    /// Number of modules listed (whether or not their BTF parses).
    pub fn len(&self) -> usize {
        self.modules.len()
    }

    /// True when no module has BTF.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// The listed modules, sorted by name; their BTF is parsed only when asked for.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &ModuleBtf> + '_ {
        self.modules.iter()
    }

    /// The module called `name`, if it has BTF.
    pub fn get(&self, name: &str) -> Option<&ModuleBtf> {
        self.modules
            .binary_search_by(|m| m.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.modules[i])
    }

    /// Every module's parsed BTF, parsing those not parsed yet and skipping corrupt ones
    /// (with a warning). Use this for CO-RE candidate searches across modules.
    pub fn parsed(&self) -> impl Iterator<Item = (&str, Arc<Btf>)> + '_ {
        self.modules
            .iter()
            .filter_map(|m| Some((m.name(), m.btf()?)))
    }
}

static MODULES: Mutex<Option<Arc<ModuleBtfs>>> = Mutex::new(None);

/// The running kernel's module BTF list, cached process-wide, on top of [`vmlinux_btf`].
///
/// Listing is done once; each module's BTF is parsed on first use and then shared. Fails
/// only if the vmlinux BTF cannot be had; a missing or unreadable `/sys/kernel/btf` gives an
/// empty list, and a corrupt module is skipped with a warning.
pub fn module_btfs() -> Result<Arc<ModuleBtfs>, BtfError> {
    let mut slot = MODULES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(m) = slot.as_ref() {
        return Ok(m.clone());
    }
    let m = Arc::new(ModuleBtfs::scan(Path::new(SYSFS_BTF_DIR), vmlinux_btf()?));
    *slot = Some(m.clone());
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btf::Kind;
    use std::time::Instant;

    /// A base BTF: 1 int, 2 struct point { int x; }.
    fn base_btf() -> Vec<u8> {
        let mut b = crate::btf::testutil::Builder::new();
        b.int("int", 4, 32, true);
        let x = b.s("x");
        b.raw("point", 4, 1, false, 4, &[x, 1, 0]);
        b.build()
    }

    /// Split BTF on `base_btf()`: 3 struct modthing { struct point p; }.
    fn split_btf(base: &Btf) -> Vec<u8> {
        let mut b = crate::btf::testutil::Builder::new();
        b.strs.clear();
        let so = base.header().str_len;
        let n = b.s("modthing") + so;
        let p = b.s("p") + so;
        for w in [n, (4 << 24) | 1, 4, p, 2, 0] {
            b.types.extend_from_slice(&w.to_le_bytes());
        }
        b.build()
    }

    /// A minimal little-endian ELF64 relocatable file whose only section is `.BTF`.
    fn mini_elf(btf: &[u8]) -> Vec<u8> {
        let shstr = b"\0.BTF\0.shstrtab\0";
        let btf_off = 64u64;
        let str_off = btf_off + btf.len() as u64;
        let sh_off = (str_off + shstr.len() as u64).next_multiple_of(8);
        let mut e = Vec::new();
        e.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        e.extend_from_slice(&1u16.to_le_bytes()); // ET_REL
        e.extend_from_slice(&247u16.to_le_bytes()); // EM_BPF
        e.extend_from_slice(&1u32.to_le_bytes());
        e.extend_from_slice(&0u64.to_le_bytes()); // entry
        e.extend_from_slice(&0u64.to_le_bytes()); // phoff
        e.extend_from_slice(&sh_off.to_le_bytes());
        e.extend_from_slice(&0u32.to_le_bytes()); // flags
        for h in [64u16, 0, 0, 64, 3, 2] {
            e.extend_from_slice(&h.to_le_bytes());
        }
        e.extend_from_slice(btf);
        e.extend_from_slice(shstr);
        e.resize(sh_off as usize, 0);
        let sh = |e: &mut Vec<u8>, name: u32, ty: u32, off: u64, size: u64| {
            e.extend_from_slice(&name.to_le_bytes());
            e.extend_from_slice(&ty.to_le_bytes());
            for w in [0u64, 0, off, size] {
                e.extend_from_slice(&w.to_le_bytes());
            }
            e.extend_from_slice(&[0; 8]); // link, info
            e.extend_from_slice(&1u64.to_le_bytes()); // addralign
            e.extend_from_slice(&0u64.to_le_bytes()); // entsize
        };
        e.extend_from_slice(&[0; 64]);
        sh(&mut e, 1, 1, btf_off, btf.len() as u64);
        sh(&mut e, 6, 3, str_off, shstr.len() as u64);
        e
    }

    #[test]
    fn load_btf_file_reads_raw_btf_and_elf() {
        let dir = tempfile::tempdir().unwrap();
        let raw = base_btf();
        let p_raw = dir.path().join("raw.btf");
        std::fs::write(&p_raw, &raw).unwrap();
        let b = load_btf_file(&p_raw).unwrap();
        assert_eq!(b.find_by_name_kind("point", Kind::Struct), Some(2));

        let p_elf = dir.path().join("vmlinux");
        std::fs::write(&p_elf, mini_elf(&raw)).unwrap();
        let b = load_btf_file(&p_elf).unwrap();
        assert_eq!(b.find_by_name_kind("point", Kind::Struct), Some(2));
        let b = parse_btf_or_elf(mini_elf(&raw)).unwrap();
        assert_eq!(b.len(), 3);

        // Neither format, an ELF without .BTF, a truncated ELF, a missing file: errors.
        let p_txt = dir.path().join("text");
        std::fs::write(&p_txt, b"hello").unwrap();
        assert!(matches!(load_btf_file(&p_txt), Err(BtfError::Invalid(_))));
        let mut no_btf = mini_elf(&raw);
        let name_at = no_btf.len() - 2 * 64; // section 1's sh_name
        no_btf[name_at] = 7; // section 1 is now called "shstrtab"
        let p_nb = dir.path().join("nobtf");
        std::fs::write(&p_nb, &no_btf).unwrap();
        assert!(load_btf_file(&p_nb).is_err());
        let elf = mini_elf(&raw);
        for n in [4, 20, 63, 64, 100, elf.len() - 1] {
            let p = dir.path().join(format!("trunc{n}"));
            std::fs::write(&p, &elf[..n]).unwrap();
            assert!(load_btf_file(&p).is_err(), "len {n}");
            assert!(parse_btf_or_elf(elf[..n].to_vec()).is_err(), "len {n}");
        }
        for n in 0..raw.len() {
            let p = dir.path().join(format!("raw{n}"));
            std::fs::write(&p, &raw[..n]).unwrap();
            assert!(load_btf_file(&p).is_err(), "len {n}");
        }
        assert!(matches!(
            load_btf_file(&dir.path().join("absent")),
            Err(BtfError::Io { .. })
        ));
    }

    #[test]
    fn load_btf_file_reads_a_clang_object() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("p.bpf.c");
        std::fs::write(&c, "struct ev { int pid; char comm[16]; };\nstruct ev e;\n").unwrap();
        let o = dir.path().join("p.bpf.o");
        let ok = std::process::Command::new("clang-19")
            .args(["-target", "bpf", "-g", "-O2", "-c"])
            .arg(&c)
            .arg("-o")
            .arg(&o)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("skipping: clang-19 is not available");
            return;
        }
        let b = load_btf_file(&o).unwrap();
        let id = b.find_by_name_kind("ev", Kind::Struct).unwrap();
        assert_eq!(b.resolve_size(id).unwrap(), 20);
    }

    #[test]
    fn module_btfs_parse_lazily_and_skip_corrupt_ones() {
        let base = Arc::new(Btf::parse(base_btf()).unwrap());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vmlinux"), base_btf()).unwrap();
        std::fs::write(dir.path().join("good_mod"), split_btf(&base)).unwrap();
        std::fs::write(dir.path().join("bad_mod"), b"\x9f\xeb\x01\0garbage").unwrap();
        let mods = ModuleBtfs::scan(dir.path(), base.clone());
        assert_eq!(mods.len(), 2);
        let names: Vec<_> = mods.iter().map(|m| m.name()).collect();
        assert_eq!(names, ["bad_mod", "good_mod"]);
        let good = mods.get("good_mod").unwrap();
        let g = good.btf().unwrap();
        assert!(Arc::ptr_eq(&g, &good.btf().unwrap()), "parsed once, shared");
        assert_eq!(g.find_by_name_kind("modthing", Kind::Struct), Some(3));
        assert_eq!(g.find_by_name_kind("point", Kind::Struct), Some(2));
        assert!(mods.get("bad_mod").unwrap().btf().is_none());
        assert!(mods.get("bad_mod").unwrap().load().is_err());
        assert!(mods.get("nope").is_none());
        let parsed: Vec<_> = mods.parsed().map(|(n, _)| n).collect();
        assert_eq!(parsed, ["good_mod"]);
        // A directory that doesn't exist is an empty list, not an error.
        assert!(ModuleBtfs::scan(&dir.path().join("none"), base).is_empty());
    }

    #[test]
    fn kernel_module_btfs_list() {
        if !have_sysfs_btf() {
            return;
        }
        let m = module_btfs().unwrap();
        assert!(Arc::ptr_eq(&m, &module_btfs().unwrap()));
        assert!(Arc::ptr_eq(m.base(), &vmlinux_btf().unwrap()));
        for (name, b) in m.parsed() {
            assert!(b.start_id() == m.base().len(), "{name}");
        }
    }

    fn have_sysfs_btf() -> bool {
        let ok = Path::new(SYSFS_VMLINUX).exists();
        if !ok {
            eprintln!("skipping: {SYSFS_VMLINUX} is absent");
        }
        ok
    }

    #[test]
    fn kernel_vmlinux_btf_is_cached_and_has_task_struct() {
        if !have_sysfs_btf() {
            return;
        }
        let a = vmlinux_btf().unwrap();
        let b = vmlinux_btf().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let ts = a
            .find_by_name_kind("task_struct", Kind::Struct)
            .expect("task_struct");
        let t = a.type_by_id(ts).unwrap();
        let state = task_state_field();
        assert!(t.members().any(|m| a.str_at(m.name_off).unwrap() == state));
        let lh = a.find_by_name_kind("list_head", Kind::Struct).unwrap();
        assert_eq!(a.resolve_size(lh).unwrap(), 16);
    }

    /// Timing of the pieces of getting kernel BTF; run with
    /// `cargo test --release --lib btf::kernel::tests::bench_vmlinux -- --ignored --nocapture`.
    /// Prints each round and the best of all rounds.
    #[test]
    #[ignore]
    fn bench_vmlinux() {
        if !have_sysfs_btf() {
            return;
        }
        let p = Path::new(SYSFS_VMLINUX);
        let names = [
            "task_struct",
            "list_head",
            "file",
            "inode",
            "sk_buff",
            "mm_struct",
            "pt_regs",
            "bpf_prog",
            "sock",
            "net_device",
        ];
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        let labels = [
            "read",
            "parse",
            "load_sysfs_vmlinux (as shipped)",
            "first lookup (builds index)",
            "100 lookups",
            "rest of index",
            "func lookup",
        ];
        let mut best = [f64::MAX; 7];
        for round in 0..20 {
            let t0 = Instant::now();
            let data = read_file(p).unwrap();
            let t1 = Instant::now();
            let btf = Btf::parse(data).unwrap();
            let t2 = Instant::now();
            drop(btf);
            let t3 = Instant::now();
            let btf = load_sysfs_vmlinux(p).unwrap();
            let t4 = Instant::now();
            // The first lookup builds the (struct/union/...) name index.
            assert!(btf.find_by_name_kind("task_struct", Kind::Struct).is_some());
            let t5 = Instant::now();
            let mut found = 0;
            for i in 0..100 {
                found += btf
                    .find_by_name_kind(names[i % names.len()], Kind::Struct)
                    .is_some() as u32;
            }
            assert_eq!(found, 100);
            let t6 = Instant::now();
            // Whatever index is left (FUNCs, when they are indexed apart).
            btf.build_name_index();
            let t7 = Instant::now();
            assert!(btf.find_by_name_kind("schedule", Kind::Func).is_some());
            let t8 = Instant::now();
            let r = [
                ms(t0, t1),
                ms(t1, t2),
                ms(t3, t4),
                ms(t4, t5),
                ms(t5, t6),
                ms(t6, t7),
                ms(t7, t8),
            ];
            let mut line = format!("round {round:2}:");
            for ((b, x), l) in best.iter_mut().zip(r).zip(labels) {
                *b = b.min(x);
                let _ = std::fmt::Write::write_fmt(&mut line, format_args!(" {l} {x:.3} ms,"));
            }
            eprintln!("{line}");
        }
        let mut line = String::from("best of 20:");
        for (b, l) in best.iter().zip(labels) {
            let _ = std::fmt::Write::write_fmt(&mut line, format_args!(" {l} {b:.3} ms,"));
        }
        eprintln!("{line}");
    }
}
