//! Case 8: attach 50 uprobes by function name in the system's libc, symbol resolution
//! included.

use std::ffi::CString;
use std::hint::black_box;
use std::path::PathBuf;

use corebpf::program::uprobe_elf::ElfFile;
use corebpf::program::{uprobe_path, UProbe};
use corebpf::{Loader, ObjectSpec};

use super::{prog_bytes, CaseResult, Options, Table, Target};
use crate::libbpf;
use crate::measure::{self, Metric, Result, Samples, System};

const OBJECT: &str = "uprobe.bpf.o";
const PROGRAM: &str = "entry";
const COUNT: usize = 50;

/// The system's libc, found as the dynamic loader finds it, and the first 51 of its
/// `xdr_*` functions (rarely called, so probes on them don't slow the machine down while
/// attached) whose names resolve to one function: 50 measured, one for the warm start.
fn targets() -> Result<(PathBuf, Vec<String>)> {
    let libc = uprobe_path::resolve("libc.so.6".as_ref()).ok_or("libc.so.6 not found")?;
    let elf = ElfFile::open(&libc).map_err(|e| format!("{}: {e}", libc.display()))?;
    let mut names: Vec<String> = elf
        .matching_functions("xdr_*")
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| elf.function_offset(n).is_ok())
        .collect();
    names.sort();
    names.dedup();
    if names.len() <= COUNT {
        return Err(format!(
            "{} has only {} unambiguous xdr_* functions",
            libc.display(),
            names.len()
        ));
    }
    names.truncate(COUNT + 1);
    Ok((libc, names))
}

/// Closes the links of one iteration outside the timed section, each in its own
/// thread: the kernel waits for an RCU grace period when a uprobe goes (about 0.1 s
/// each here), so one by one the 50 would dominate the case's run time.
fn detach<T: Send>(links: Vec<T>) {
    std::thread::scope(|s| {
        for link in links {
            s.spawn(move || drop(link));
        }
    });
}

/// The kernel's state when a measured attachment starts.
///
/// The first uprobe registered after a quiet spell waits for an RCU grace period (the
/// kernel's `dup_mmap_sem` is a per-CPU rw-semaphore whose writer side synchronizes
/// RCU when it was idle); the ones that follow within a grace period don't. Which one
/// a library meets is up to what ran before it, so each measurement sets it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// No uprobe registered or removed for a while: a tool starting up.
    Cold,
    /// A uprobe was registered just before (not timed): the per-probe costs alone.
    Warm,
}

/// How long after the last uprobe went the kernel is surely quiet again (many grace
/// periods).
const QUIET: std::time::Duration = std::time::Duration::from_millis(300);

/// What both systems measure with: the names, libc, and each library's loaded program.
struct Setup<'a> {
    libc: PathBuf,
    names: Vec<String>,
    probe: UProbe<'a>,
    lobj: libbpf::Object,
}

impl Setup<'_> {
    /// Puts the kernel in `start`'s state; the returned link (warm) is dropped after
    /// the measured section.
    fn prepare(&self, start: Start) -> Result<Option<corebpf::Link>> {
        match start {
            Start::Cold => {
                std::thread::sleep(QUIET);
                Ok(None)
            }
            Start::Warm => self
                .probe
                .attach(&self.libc, self.names[COUNT].as_str(), None, None)
                .map(Some)
                .map_err(|e| format!("warm-up uprobe: {e}")),
        }
    }

    /// Runs the interleaved rounds of both systems, each measurement from `start`.
    fn measure(&self, o: &Options, start: Start) -> Result<Samples> {
        let cprog = CString::new(PROGRAM).unwrap();
        let cpath = CString::new(self.libc.to_str().ok_or("libc path")?).unwrap();
        let cnames: Vec<CString> = self.names[..COUNT]
            .iter()
            .map(|n| CString::new(n.as_str()).unwrap())
            .collect();
        let check = |who: &str, n: usize| -> Result<()> {
            if n != COUNT {
                return Err(format!("{who} attached {n} uprobes of {COUNT}"));
            }
            Ok(())
        };
        let mut systems = vec![
            System::new("corebpf", |sw| {
                let warm = self.prepare(start)?;
                let links = sw.measure(|| -> Result<Vec<corebpf::Link>> {
                    self.names[..COUNT]
                        .iter()
                        .map(|n| {
                            self.probe
                                .attach(black_box(&self.libc), n.as_str(), None, None)
                                .map_err(|e| e.to_string())
                        })
                        .collect()
                })?;
                check("corebpf", links.len())?;
                let warm = std::thread::spawn(move || drop(warm));
                detach(links);
                warm.join()
                    .map_err(|_| "dropping the warm-up link panicked")?;
                Ok(1)
            }),
            System::new("libbpf", |sw| {
                let warm = self.prepare(start)?;
                let links = sw.measure(|| -> Result<Vec<libbpf::Link>> {
                    cnames
                        .iter()
                        .map(|n| self.lobj.attach_uprobe(&cprog, black_box(&cpath), n))
                        .collect()
                })?;
                check("libbpf", links.len())?;
                let warm = std::thread::spawn(move || drop(warm));
                detach(links);
                warm.join()
                    .map_err(|_| "dropping the warm-up link panicked")?;
                Ok(1)
            }),
        ];
        measure::run(&o.plan(Metric::Wall, 5), &mut systems)
    }
}

pub fn run(o: &Options) -> Result<CaseResult> {
    let (libc, names) = targets()?;
    let data = prog_bytes(OBJECT)?;
    let spec = ObjectSpec::parse(&data, "uprobe").map_err(|e| e.to_string())?;
    let mut loader = Loader::new();
    for p in &spec.programs {
        loader = loader.autoload(&p.name, p.name == PROGRAM);
    }
    let obj = loader.load(&spec).map_err(|e| e.to_string())?;
    let probe = UProbe::try_from(obj.program(PROGRAM).ok_or("no program entry")?)
        .map_err(|e| e.to_string())?;
    let mut lobj = libbpf::Object::open_mem(&data, "uprobe")?;
    lobj.only_program(PROGRAM)?;
    lobj.load()?;
    let setup = Setup {
        libc,
        names,
        probe,
        lobj,
    };

    let cold = setup.measure(o, Start::Cold)?;
    let warm = setup.measure(o, Start::Warm)?;
    let half = || {
        Some(Target {
            text: "≤ 0.5× libbpf's time".into(),
            bound: 0.5,
        })
    };
    let pair = |t| [("corebpf", "libbpf", t)];
    let tables = vec![
        Table::from_samples(
            "Attach 50 uprobes by function name in libc, from a quiet kernel",
            "wall time per 50 attachments",
            &cold,
            Metric::Wall,
            &pair(half()),
        ),
        Table::from_samples(
            "The same, thread CPU time",
            "thread CPU time (user+sys) per 50 attachments",
            &cold,
            Metric::Cpu,
            &pair(None),
        ),
        Table::from_samples(
            "Attach 50 uprobes right after another uprobe was registered (no grace-period wait)",
            "wall time per 50 attachments",
            &warm,
            Metric::Wall,
            &pair(half()),
        ),
        Table::from_samples(
            "The same, thread CPU time",
            "thread CPU time (user+sys) per 50 attachments",
            &warm,
            Metric::Cpu,
            &pair(None),
        ),
    ];
    let (libc, names) = (&setup.libc, &setup.names);
    Ok(CaseResult {
        id: 8,
        title: "Uprobes: attach 50 by function name in libc".into(),
        setup: vec![
            format!(
                "Target: {} (found as the dynamic loader finds libc.so.6), its first {COUNT} \
                 unambiguous xdr_* functions (`{}` … `{}`); program `{PROGRAM}` of {OBJECT}, \
                 loaded once per system before measuring.",
                libc.display(),
                names[0],
                names[COUNT - 1]
            ),
            "corebpf: `UProbe::attach(libc_path, name, None, None)` ×50: symbol lookup, \
             uprobe PMU perf event, perf link."
                .into(),
            "libbpf: `bpf_program__attach_uprobe_opts(prog, -1, libc_path, 0, {.func_name})` \
             ×50: the same, by libbpf."
                .into(),
            format!(
                "Only the attachments are timed; the links are closed afterwards, outside the \
                 timed section. Quiet start: {} ms without uprobe changes before each \
                 measurement. Warm start: a 51st uprobe (`{}`) attached just before, untimed.",
                QUIET.as_millis(),
                names[COUNT]
            ),
        ],
        tables,
        notes: vec![],
    })
}
