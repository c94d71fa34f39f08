//! Case 14: a skeleton's open + load + attach (+ destroy) of `hello`, corebpf's
//! generated skeleton against a libbpf skeleton of the same object.
//!
//! The libbpf side is what `bpftool gen skeleton` and libbpf-rs's generated code do,
//! written here against libbpf-sys (libbpf-rs is not among the vendored crates): a
//! `bpf_object_skeleton` describing the object's maps and program, allocated with
//! `calloc` as libbpf's `bpf_object__destroy_skeleton` frees it, then
//! `bpf_object__open_skeleton`, `bpf_object__load_skeleton`,
//! `bpf_object__attach_skeleton` and `bpf_object__destroy_skeleton`.

use std::ffi::{c_int, c_void, CStr};
use std::mem::size_of;
use std::ptr::{self, NonNull};

use libbpf_sys as sys;

use super::{CaseResult, Options, Table, Target};
use crate::measure::{self, Metric, Result, System};

// The committed skeleton (`cargo xtask skel`), as a user of corebpf includes it; its
// `OBJECT` is bpf-progs/hello.bpf.o, which the libbpf side opens too.
include!("../../../examples/skel/hello.skel.rs");

/// The object's name, as the skeletons give it.
const NAME: &CStr = c"hello";
/// Its maps as libbpf names them: the BTF-defined ones, then the global-data sections
/// (which bpftool's skeletons also give a `mmaped` pointer).
const MAPS: [(&CStr, bool); 4] = [
    (c"events", false),
    (c"counts", false),
    (c".rodata", true),
    (c".bss", true),
];
/// Its program.
const PROG: &CStr = c"handle_execve";

/// What a generated libbpf skeleton struct holds (`struct hello_bpf` of bpftool's
/// header): the object, map and program pointers, the program's link and the
/// global-data mappings, which libbpf fills in through the skeleton's pointers.
struct Handles {
    obj: *mut sys::bpf_object,
    maps: [*mut sys::bpf_map; MAPS.len()],
    mmaped: [*mut c_void; MAPS.len()],
    prog: *mut sys::bpf_program,
    link: *mut sys::bpf_link,
}

/// hello through a libbpf skeleton; `bpf_object__destroy_skeleton` on drop.
struct LibbpfSkel {
    skel: NonNull<sys::bpf_object_skeleton>,
    /// Boxed: the skeleton points into it.
    handles: Box<Handles>,
}

fn rc_err(what: &str, rc: c_int) -> String {
    format!("libbpf {what}: {}", std::io::Error::from_raw_os_error(-rc))
}

/// `calloc(n, size_of::<T>())`.
fn calloc<T>(n: usize) -> Result<NonNull<T>> {
    // SAFETY: calloc has no preconditions; the result is checked for NULL.
    let p = unsafe { libc::calloc(n, size_of::<T>()) }.cast::<T>();
    NonNull::new(p).ok_or_else(|| "calloc failed".into())
}

impl LibbpfSkel {
    /// Builds the skeleton struct and `bpf_object__open_skeleton`s it (the `open()` of a
    /// generated skeleton).
    fn open(data: &'static [u8]) -> Result<LibbpfSkel> {
        let skel = calloc::<sys::bpf_object_skeleton>(1)?;
        // The owner from here on: a failure below destroys (and frees) what exists; an
        // all-zero skeleton has nothing to detach or close.
        let mut this = LibbpfSkel {
            skel,
            handles: Box::new(Handles {
                obj: ptr::null_mut(),
                maps: [ptr::null_mut(); MAPS.len()],
                mmaped: [ptr::null_mut(); MAPS.len()],
                prog: ptr::null_mut(),
                link: ptr::null_mut(),
            }),
        };
        let h: *mut Handles = &mut *this.handles;
        let s = skel.as_ptr();
        let maps = calloc::<sys::bpf_map_skeleton>(MAPS.len())?;
        // SAFETY: `s` is the zeroed skeleton this value owns; destroy_skeleton frees
        // its arrays with it.
        unsafe { (*s).maps = maps.as_ptr() };
        let progs = calloc::<sys::bpf_prog_skeleton>(1)?;
        // SAFETY: as above.
        unsafe { (*s).progs = progs.as_ptr() };
        // SAFETY: `s` is exclusively ours; `maps` and `progs` are zeroed arrays of
        // MAPS.len() and 1 elements; `h` points into a Box that outlives the skeleton
        // (dropped after it, in Drop), and the names are 'static C strings.
        unsafe {
            (*s).sz = size_of::<sys::bpf_object_skeleton>() as _;
            (*s).name = NAME.as_ptr();
            (*s).data = data.as_ptr().cast();
            (*s).data_sz = data.len() as _;
            (*s).obj = ptr::addr_of_mut!((*h).obj);
            (*s).map_cnt = MAPS.len() as c_int;
            (*s).map_skel_sz = size_of::<sys::bpf_map_skeleton>() as c_int;
            for (i, (name, mmaped)) in MAPS.iter().enumerate() {
                let m = maps.as_ptr().add(i);
                (*m).name = name.as_ptr();
                (*m).map = ptr::addr_of_mut!((*h).maps[i]);
                if *mmaped {
                    (*m).mmaped = ptr::addr_of_mut!((*h).mmaped[i]);
                }
            }
            (*s).prog_cnt = 1;
            (*s).prog_skel_sz = size_of::<sys::bpf_prog_skeleton>() as c_int;
            let p = progs.as_ptr();
            (*p).name = PROG.as_ptr();
            (*p).prog = ptr::addr_of_mut!((*h).prog);
            (*p).link = ptr::addr_of_mut!((*h).link);
        }
        // SAFETY: a complete skeleton; `data` is 'static, so it outlives the open
        // object (libbpf reads the ELF image in place until load); NULL opts are the
        // defaults.
        let rc = unsafe { sys::bpf_object__open_skeleton(skel.as_ptr(), ptr::null()) };
        if rc < 0 {
            return Err(rc_err("bpf_object__open_skeleton", rc));
        }
        Ok(this)
    }

    /// `bpf_object__load_skeleton`.
    fn load(&mut self) -> Result<()> {
        // SAFETY: an opened skeleton this value owns.
        let rc = unsafe { sys::bpf_object__load_skeleton(self.skel.as_ptr()) };
        if rc < 0 {
            return Err(rc_err("bpf_object__load_skeleton", rc));
        }
        Ok(())
    }

    /// `bpf_object__attach_skeleton`.
    fn attach(&mut self) -> Result<()> {
        // SAFETY: a loaded skeleton this value owns.
        let rc = unsafe { sys::bpf_object__attach_skeleton(self.skel.as_ptr()) };
        if rc < 0 {
            return Err(rc_err("bpf_object__attach_skeleton", rc));
        }
        Ok(())
    }

    /// Whether the program got its link and the global-data sections their mappings,
    /// as libbpf reports them through the skeleton's pointers.
    fn attached(&self) -> bool {
        let h = &self.handles;
        !h.obj.is_null()
            && !h.prog.is_null()
            && !h.link.is_null()
            && h.maps.iter().all(|m| !m.is_null())
            && MAPS
                .iter()
                .zip(h.mmaped)
                .all(|((_, mapped), p)| !mapped || !p.is_null())
    }
}

impl Drop for LibbpfSkel {
    fn drop(&mut self) {
        // SAFETY: the skeleton and its arrays came from calloc and are destroyed once:
        // libbpf detaches the links, closes the object and frees all three; `handles`,
        // which it writes through, is dropped only after this.
        unsafe { sys::bpf_object__destroy_skeleton(self.skel.as_ptr()) }
    }
}

pub fn run(o: &Options) -> Result<CaseResult> {
    let data: &'static [u8] = hello::OBJECT;
    let mut systems = vec![
        System::new("corebpf", |sw| {
            let links = sw.measure(|| -> Result<usize> {
                let open = hello::open().map_err(|e| e.to_string())?;
                let mut skel = open.load().map_err(|e| e.to_string())?;
                skel.attach().map_err(|e| e.to_string())?;
                Ok(skel.object().links().len())
            })?;
            if links != 1 {
                return Err(format!("corebpf attached {links} links, not 1"));
            }
            Ok(1)
        }),
        System::new("libbpf", |sw| {
            let attached = sw.measure(|| -> Result<bool> {
                let mut skel = LibbpfSkel::open(data)?;
                skel.load()?;
                skel.attach()?;
                Ok(skel.attached())
            })?;
            if !attached {
                return Err("libbpf's skeleton left a link or pointer unset".into());
            }
            Ok(1)
        }),
    ];
    let samples = measure::run(&o.plan(Metric::Wall, 100), &mut systems)?;
    let one = Some(Target {
        text: "≤ 1.0× a libbpf skeleton's wall time".into(),
        bound: 1.0,
    });
    let wall = Table::from_samples(
        "Skeleton open + load + attach + destroy",
        "wall time per iteration",
        &samples,
        Metric::Wall,
        &[("corebpf", "libbpf", one)],
    );
    let cpu = Table::from_samples(
        "The same, CPU time of the thread (user+sys; the verifier runs in it)",
        "thread CPU time per iteration",
        &samples,
        Metric::Cpu,
        &[("corebpf", "libbpf", None)],
    );
    let user = Table::from_samples(
        "The same, user CPU time only (the loader's own work)",
        "user CPU time per iteration",
        &samples,
        Metric::User,
        &[("corebpf", "libbpf", None)],
    );
    Ok(CaseResult {
        id: 14,
        title: "Skeleton of `bpf-progs/hello.bpf.o`: open + load + attach".into(),
        setup: vec![
            "Input: `bpf-progs/hello.bpf.o` embedded in the binary (the skeleton's \
             `OBJECT`): 1 tracepoint program with a bpf-to-bpf call, 4 maps (ring buffer, \
             hash, .rodata, .bss), no CO-RE. One iteration opens, loads, attaches and \
             destroys, all inside the timing; the attached tracepoint \
             (syscalls/sys_enter_execve) is detached again at the end."
                .into(),
            "corebpf: the committed generated skeleton `examples/skel/hello.skel.rs`: \
             `hello::open()` + `load()` + `attach()`, then drop (detach and close)."
                .into(),
            "libbpf: a skeleton as `bpftool gen skeleton` and libbpf-rs's generated code \
             build it, written against libbpf-sys (libbpf-rs is not vendored here; it \
             makes the same libbpf calls): a calloc'd `bpf_object_skeleton` with 4 map and \
             1 program entries (the global-data maps with their `mmaped` pointers), \
             `bpf_object__open_skeleton` + `bpf_object__load_skeleton` + \
             `bpf_object__attach_skeleton` + `bpf_object__destroy_skeleton`."
                .into(),
        ],
        tables: vec![wall, cpu, user],
        notes: vec![
            "Wall time is almost all the kernel's: detaching a tracepoint waits for RCU \
             grace periods in close(2) of the link and perf event (`strace -T` of one \
             open+load+attach+drop of hello: 20 ms and 36 ms in two closes, on a 6.18 \
             kernel), the same for both systems, so the wall ratio sits near 1 with a wide \
             spread; the CPU tables show the loaders' own difference."
                .into(),
        ],
    })
}
