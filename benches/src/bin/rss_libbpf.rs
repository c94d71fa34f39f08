//! Case 6: a process that loads an object with libbpf (`bpf_object__open_file` +
//! `bpf_object__load`), through libbpf-sys with nothing in between.

#[path = "../rss_common.rs"]
mod rss_common;

use std::ffi::CString;

fn main() {
    let path = CString::new(rss_common::object_arg()).expect("path without NUL");
    // SAFETY: None disables libbpf's printing.
    unsafe { libbpf_sys::libbpf_set_print(None) };
    // SAFETY: a valid path; default options.
    let obj = unsafe { libbpf_sys::bpf_object__open_file(path.as_ptr(), std::ptr::null()) };
    // SAFETY: decodes libbpf's pointer-or-errno.
    if obj.is_null() || unsafe { libbpf_sys::libbpf_get_error(obj as *const _) } != 0 {
        eprintln!("libbpf: bpf_object__open_file failed");
        std::process::exit(1);
    }
    // SAFETY: obj is a live object.
    let rc = unsafe { libbpf_sys::bpf_object__load(obj) };
    if rc < 0 {
        eprintln!(
            "libbpf: bpf_object__load: {}",
            std::io::Error::from_raw_os_error(-rc)
        );
        std::process::exit(1);
    }
    let mut n = 0;
    let mut prog = std::ptr::null_mut();
    loop {
        // SAFETY: iterating the live object's programs.
        prog = unsafe { libbpf_sys::bpf_object__next_program(obj, prog) };
        if prog.is_null() {
            break;
        }
        n += 1;
    }
    rss_common::report(n);
    // SAFETY: closed once.
    unsafe { libbpf_sys::bpf_object__close(obj) };
}
