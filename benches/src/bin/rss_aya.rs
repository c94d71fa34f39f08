//! Case 6: a process that loads an object with aya (`Btf::from_sys_fs` + `EbpfLoader` +
//! every program's `load()`).

#[path = "../rss_common.rs"]
mod rss_common;

use aya::programs::Program;

fn main() {
    let path = rss_common::object_arg();
    let btf = aya::Btf::from_sys_fs().expect("aya: kernel BTF");
    let mut ebpf = aya::EbpfLoader::new()
        .btf(Some(&btf))
        .load_file(&path)
        .expect("aya: load");
    let mut n = 0;
    for (name, prog) in ebpf.programs_mut() {
        let r = match prog {
            Program::TracePoint(p) => p.load(),
            Program::RawTracePoint(p) => p.load(),
            Program::KProbe(p) => p.load(),
            _ => {
                eprintln!("aya: {name}: program kind not handled");
                std::process::exit(1);
            }
        };
        if let Err(e) = r {
            eprintln!("aya: {name}: {e}");
            std::process::exit(1);
        }
        n += 1;
    }
    rss_common::report(n);
}
