//! Thin safe wrappers over the libbpf C API (libbpf-sys, vendored libbpf 1.7), used the
//! way a C program would use it: no Rust layer of our own in between.

use std::ffi::{c_int, c_void, CStr, CString};
use std::ptr::NonNull;

use libbpf_sys as sys;

use crate::measure::Result;

/// libbpf's version, e.g. "1.7".
pub fn version() -> String {
    // SAFETY: libbpf_version_string returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(sys::libbpf_version_string()) }
        .to_string_lossy()
        .trim_start_matches('v')
        .to_string()
}

/// Silences libbpf's stderr output (warnings would be printed inside timed sections).
pub fn silence() {
    // SAFETY: None is a valid print callback (it disables printing).
    unsafe { sys::libbpf_set_print(None) };
}

fn errno_err(what: &str, rc: i64) -> String {
    let e = std::io::Error::from_raw_os_error((-rc) as i32);
    format!("libbpf {what}: {e}")
}

/// A `struct btf`.
pub struct Btf(NonNull<sys::btf>);

impl Btf {
    /// `btf__load_vmlinux_btf()`: the running kernel's BTF, parsed.
    pub fn vmlinux() -> Result<Btf> {
        // SAFETY: plain call; the result is a pointer or an encoded error.
        let p = unsafe { sys::btf__load_vmlinux_btf() };
        // SAFETY: libbpf_get_error decodes libbpf's pointer-or-errno.
        let err = unsafe { sys::libbpf_get_error(p as *const c_void) };
        match NonNull::new(p) {
            Some(p) if err == 0 => Ok(Btf(p)),
            _ => Err(errno_err("btf__load_vmlinux_btf", err)),
        }
    }

    /// `btf__find_by_name_kind()`.
    pub fn find_by_name_kind(&self, name: &CStr, kind: u32) -> Option<u32> {
        // SAFETY: self.0 is a live btf, name is NUL-terminated.
        let id = unsafe { sys::btf__find_by_name_kind(self.0.as_ptr(), name.as_ptr(), kind) };
        (id > 0).then_some(id as u32)
    }
}

impl Drop for Btf {
    fn drop(&mut self) {
        // SAFETY: self.0 came from libbpf and is freed once.
        unsafe { sys::btf__free(self.0.as_ptr()) }
    }
}

/// A `struct bpf_object`.
pub struct Object {
    obj: NonNull<sys::bpf_object>,
    _name: CString,
}

impl Object {
    /// `bpf_object__open_mem()`.
    pub fn open_mem(data: &[u8], name: &str) -> Result<Object> {
        let cname = CString::new(name).map_err(|e| e.to_string())?;
        // SAFETY: an all-zero opts with `sz` set is libbpf's documented default.
        let mut opts: sys::bpf_object_open_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<sys::bpf_object_open_opts>() as _;
        opts.object_name = cname.as_ptr();
        // SAFETY: data is readable for its length for the duration of the call (libbpf
        // copies it); opts is valid.
        let p = unsafe { sys::bpf_object__open_mem(data.as_ptr().cast(), data.len() as _, &opts) };
        // SAFETY: decodes libbpf's pointer-or-errno.
        let err = unsafe { sys::libbpf_get_error(p as *const c_void) };
        match NonNull::new(p) {
            Some(obj) if err == 0 => Ok(Object { obj, _name: cname }),
            _ => Err(errno_err("bpf_object__open_mem", err)),
        }
    }

    /// `bpf_object__prepare()`: everything before `BPF_PROG_LOAD` (kernel BTF, CO-RE and
    /// other relocations, object BTF and map creation).
    pub fn prepare(&mut self) -> Result<()> {
        // SAFETY: self.obj is a live object.
        let rc = unsafe { sys::bpf_object__prepare(self.obj.as_ptr()) };
        if rc < 0 {
            return Err(errno_err("bpf_object__prepare", rc as i64));
        }
        Ok(())
    }

    /// `bpf_object__load()`.
    pub fn load(&mut self) -> Result<()> {
        // SAFETY: self.obj is a live object.
        let rc = unsafe { sys::bpf_object__load(self.obj.as_ptr()) };
        if rc < 0 {
            return Err(errno_err("bpf_object__load", rc as i64));
        }
        Ok(())
    }

    /// Number of programs whose fd is valid (loaded).
    pub fn loaded_programs(&self) -> usize {
        let mut n = 0;
        let mut prog = std::ptr::null_mut();
        loop {
            // SAFETY: iterating over a live object's programs.
            prog = unsafe { sys::bpf_object__next_program(self.obj.as_ptr(), prog) };
            if prog.is_null() {
                return n;
            }
            // SAFETY: prog is a program of this object.
            if unsafe { sys::bpf_program__fd(prog) } >= 0 {
                n += 1;
            }
        }
    }
}

impl Object {
    /// `bpf_object__find_program_by_name()`, then `bpf_program__set_autoload(false)`
    /// for every other program: load only `name`.
    pub fn only_program(&mut self, name: &str) -> Result<()> {
        let mut found = false;
        let mut prog = std::ptr::null_mut();
        loop {
            // SAFETY: iterating over a live object's programs.
            prog = unsafe { sys::bpf_object__next_program(self.obj.as_ptr(), prog) };
            if prog.is_null() {
                break;
            }
            // SAFETY: prog is a program of this object; its name is NUL-terminated.
            let this = unsafe { CStr::from_ptr(sys::bpf_program__name(prog)) };
            let keep = this.to_bytes() == name.as_bytes();
            found |= keep;
            // SAFETY: the object is not loaded yet.
            unsafe { sys::bpf_program__set_autoload(prog, keep) };
        }
        if found {
            Ok(())
        } else {
            Err(format!("libbpf: no program {name}"))
        }
    }

    /// `bpf_program__attach_uprobe_opts(prog, -1, path, 0, {.func_name = function})`:
    /// an entry uprobe on `function` of `path`, resolved by libbpf.
    pub fn attach_uprobe(&self, program: &CStr, path: &CStr, function: &CStr) -> Result<Link> {
        // SAFETY: a live object, a NUL-terminated name.
        let prog =
            unsafe { sys::bpf_object__find_program_by_name(self.obj.as_ptr(), program.as_ptr()) };
        if prog.is_null() {
            return Err(format!("libbpf: no program {program:?}"));
        }
        // SAFETY: an all-zero opts with `sz` set is libbpf's documented default.
        let mut opts: sys::bpf_uprobe_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<sys::bpf_uprobe_opts>() as _;
        opts.func_name = function.as_ptr();
        // SAFETY: prog is loaded; path, function and opts outlive the call.
        let link =
            unsafe { sys::bpf_program__attach_uprobe_opts(prog, -1, path.as_ptr(), 0, &opts) };
        // SAFETY: decodes libbpf's pointer-or-errno.
        let err = unsafe { sys::libbpf_get_error(link as *const c_void) };
        match NonNull::new(link) {
            Some(l) if err == 0 => Ok(Link(l)),
            _ => Err(errno_err("bpf_program__attach_uprobe_opts", err)),
        }
    }
}

/// A `struct bpf_link`; `bpf_link__destroy` on drop.
pub struct Link(NonNull<sys::bpf_link>);

// SAFETY: a bpf_link is an fd and a heap block libbpf touches only through this
// handle; destroying it from another thread is as safe as from this one.
unsafe impl Send for Link {}

impl Drop for Link {
    fn drop(&mut self) {
        // SAFETY: destroyed once.
        unsafe { sys::bpf_link__destroy(self.0.as_ptr()) };
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        // SAFETY: the object is closed once.
        unsafe { sys::bpf_object__close(self.obj.as_ptr()) }
    }
}

/// `bpf_map_lookup_elem()`.
pub fn map_lookup_elem(fd: c_int, key: &u32, value: &mut u64) -> bool {
    // SAFETY: key and value are valid for the map's 4- and 8-byte sizes.
    let rc = unsafe {
        sys::bpf_map_lookup_elem(fd, (key as *const u32).cast(), (value as *mut u64).cast())
    };
    rc == 0
}

/// `bpf_map_get_next_key()` for a map of `u32` keys: the key after `prev` (the first
/// when `None`) into `next`; false at the end.
pub fn map_get_next_key(fd: c_int, prev: Option<&u32>, next: &mut u32) -> bool {
    let prev = prev.map_or(std::ptr::null(), |p| p as *const u32);
    // SAFETY: `prev` is null or a 4-byte key, `next` room for one.
    let rc = unsafe { sys::bpf_map_get_next_key(fd, prev.cast(), (next as *mut u32).cast()) };
    rc == 0
}

/// `bpf_map_lookup_elem()` of a `u32` key into `value`, which must hold the map's
/// whole value (for per-CPU maps, a slot per possible CPU).
pub fn map_lookup_elem_buf(fd: c_int, key: &u32, value: &mut [u8]) -> bool {
    // SAFETY: the key is 4 bytes; `value` is as long as the caller's map needs.
    let rc = unsafe {
        sys::bpf_map_lookup_elem(fd, (key as *const u32).cast(), value.as_mut_ptr().cast())
    };
    rc == 0
}

/// Reads every entry with `bpf_map_lookup_batch()`, `batch` per call, into `keys` and
/// `values` (sized for the whole map, `per_entry` u64s per value: a per-CPU map's slot
/// per CPU); returns the number of entries read.
pub fn map_lookup_batch_all(
    fd: c_int,
    batch: u32,
    keys: &mut [u32],
    values: &mut [u64],
    per_entry: usize,
) -> Result<usize> {
    // SAFETY: a u64 slice viewed as bytes: same memory, any bit pattern is a u8.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), values.len() * 8)
    };
    map_lookup_batch_buf(fd, batch, keys, bytes, 8 * per_entry)
}

/// [`map_lookup_batch_all`] for values of `value_len` bytes each (a per-CPU map's
/// whole value).
pub fn map_lookup_batch_buf(
    fd: c_int,
    batch: u32,
    keys: &mut [u32],
    values: &mut [u8],
    value_len: usize,
) -> Result<usize> {
    let opts = sys::bpf_map_batch_opts {
        sz: std::mem::size_of::<sys::bpf_map_batch_opts>() as _,
        elem_flags: 0,
        flags: 0,
    };
    let mut total = 0usize;
    let mut in_batch: u32 = 0;
    let mut out_batch: u32 = 0;
    let mut first = true;
    loop {
        let room = (keys.len() - total)
            .min(values.len() / value_len - total)
            .min(batch as usize);
        if room == 0 {
            return Ok(total);
        }
        let mut count = room as u32;
        // SAFETY: keys/values have `room` free slots from `total`; the cursors are
        // key-sized (4 bytes) tokens as the kernel requires for hash maps.
        let rc = unsafe {
            sys::bpf_map_lookup_batch(
                fd,
                if first {
                    std::ptr::null_mut()
                } else {
                    (&mut in_batch as *mut u32).cast()
                },
                (&mut out_batch as *mut u32).cast(),
                keys[total..].as_mut_ptr().cast(),
                values[total * value_len..].as_mut_ptr().cast(),
                &mut count,
                &opts,
            )
        };
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        total += count as usize;
        if rc < 0 {
            if errno == libc::ENOENT || rc == -libc::ENOENT {
                return Ok(total);
            }
            return Err(errno_err("bpf_map_lookup_batch", rc as i64));
        }
        in_batch = out_batch;
        first = false;
    }
}

/// A `struct ring_buffer` whose callback adds each record's second u64 to a sum.
pub struct RingBuffer {
    rb: NonNull<sys::ring_buffer>,
    sum: Box<u64>,
}

/// The record's `value` field (bytes 8..16), 0 if the record is shorter: the work every
/// consumer's callback does per record, the same code for every system.
pub fn record_value(rec: &[u8]) -> u64 {
    rec.get(8..16)
        .map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap()))
}

/// libbpf's ring buffer callback: adds each record's value to the `u64` behind `ctx`.
///
/// # Safety
/// Called by libbpf only, with `ctx` the `Box<u64>` registered in `RingBuffer::new` and
/// `data` valid for `size` bytes during the call.
unsafe extern "C" fn sum_sample(ctx: *mut c_void, data: *mut c_void, size: sys::size_t) -> c_int {
    // SAFETY: data holds `size` bytes for the duration of the call; ctx is the Box<u64>
    // registered in `RingBuffer::new`.
    unsafe {
        let rec = std::slice::from_raw_parts(data as *const u8, size as usize);
        let sum = &mut *(ctx as *mut u64);
        *sum = sum.wrapping_add(record_value(rec));
    }
    0
}

impl RingBuffer {
    /// `ring_buffer__new()` on a ringbuf map fd.
    pub fn new(map_fd: c_int) -> Result<RingBuffer> {
        let mut sum = Box::new(0u64);
        let ctx = (&mut *sum as *mut u64).cast::<c_void>();
        // SAFETY: the callback matches ring_buffer_sample_fn; ctx outlives the ring.
        let p = unsafe { sys::ring_buffer__new(map_fd, Some(sum_sample), ctx, std::ptr::null()) };
        match NonNull::new(p) {
            Some(rb) => Ok(RingBuffer { rb, sum }),
            None => Err(format!(
                "libbpf ring_buffer__new: {}",
                std::io::Error::last_os_error()
            )),
        }
    }

    /// `ring_buffer__consume()`: records consumed.
    pub fn consume(&mut self) -> Result<u64> {
        // SAFETY: self.rb is live.
        let n = unsafe { sys::ring_buffer__consume(self.rb.as_ptr()) };
        if n < 0 {
            return Err(errno_err("ring_buffer__consume", n as i64));
        }
        Ok(n as u64)
    }

    pub fn sum(&self) -> u64 {
        *self.sum
    }
}

impl Drop for RingBuffer {
    fn drop(&mut self) {
        // SAFETY: freed once.
        unsafe { sys::ring_buffer__free(self.rb.as_ptr()) }
    }
}

/// What a libbpf perf buffer's callbacks add up.
#[derive(Default)]
pub struct PerfTally {
    pub samples: u64,
    pub lost: u64,
    pub sum: u64,
}

/// A `struct perf_buffer` whose callbacks count samples and losses and sum each
/// sample's value field, as [`RingBuffer`]'s does.
pub struct PerfBuffer {
    pb: NonNull<sys::perf_buffer>,
    tally: Box<PerfTally>,
}

/// libbpf's perf buffer sample callback: counts and sums into the `PerfTally` at `ctx`.
///
/// # Safety
/// Called by libbpf only, with `ctx` the `Box<PerfTally>` registered in
/// `PerfBuffer::new` and `data` valid for `size` bytes during the call.
unsafe extern "C" fn perf_sample(ctx: *mut c_void, _cpu: c_int, data: *mut c_void, size: u32) {
    // SAFETY: as documented above.
    unsafe {
        let rec = std::slice::from_raw_parts(data as *const u8, size as usize);
        let tally = &mut *(ctx as *mut PerfTally);
        tally.samples += 1;
        tally.sum = tally.sum.wrapping_add(record_value(rec));
    }
}

/// libbpf's perf buffer lost callback.
///
/// # Safety
/// Called by libbpf only, with `ctx` the `Box<PerfTally>` registered in `PerfBuffer::new`.
unsafe extern "C" fn perf_lost(ctx: *mut c_void, _cpu: c_int, count: u64) {
    // SAFETY: ctx is the registered PerfTally.
    unsafe { (*(ctx as *mut PerfTally)).lost += count };
}

impl PerfBuffer {
    /// `perf_buffer__new()` on a perf event array fd, `pages` pages per CPU.
    pub fn new(map_fd: c_int, pages: usize) -> Result<PerfBuffer> {
        let mut tally = Box::<PerfTally>::default();
        let ctx = (&mut *tally as *mut PerfTally).cast::<c_void>();
        // SAFETY: the callbacks match libbpf's types; ctx outlives the buffer; a null
        // opts means defaults.
        let p = unsafe {
            sys::perf_buffer__new(
                map_fd,
                pages as _,
                Some(perf_sample),
                Some(perf_lost),
                ctx,
                std::ptr::null(),
            )
        };
        // SAFETY: decodes libbpf's pointer-or-errno.
        let err = unsafe { sys::libbpf_get_error(p as *const c_void) };
        match NonNull::new(p) {
            Some(pb) if err == 0 => Ok(PerfBuffer { pb, tally }),
            _ => Err(errno_err("perf_buffer__new", err)),
        }
    }

    /// `perf_buffer__poll()` with a timeout in milliseconds.
    pub fn poll(&mut self, timeout_ms: c_int) -> Result<()> {
        // SAFETY: self.pb is live.
        let n = unsafe { sys::perf_buffer__poll(self.pb.as_ptr(), timeout_ms) };
        if n < 0 {
            return Err(errno_err("perf_buffer__poll", n as i64));
        }
        Ok(())
    }

    pub fn tally(&self) -> &PerfTally {
        &self.tally
    }
}

impl Drop for PerfBuffer {
    fn drop(&mut self) {
        // SAFETY: freed once.
        unsafe { sys::perf_buffer__free(self.pb.as_ptr()) }
    }
}

/// `BTF_KIND_STRUCT`.
pub const BTF_KIND_STRUCT: u32 = 4;
