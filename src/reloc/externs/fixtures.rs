//! Shared test fixtures: the test objects under `src/reloc/testdata`, a kernel
//! configuration and kallsyms as this machine has them, and an environment built from
//! them and the stand-in kernel BTF (`testdata/fake_kernel.bpf.c`). No kernel needed.

use crate::btf::fixup::KCONFIG_SEC;
use crate::btf::{Btf, Kind};
use crate::object::ObjectSpec;

use super::{FixedEnv, Kallsyms, KernelConfig};

pub(super) fn testdata(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/reloc/testdata")
        .join(name)
}

pub(super) fn object(name: &str) -> ObjectSpec {
    ObjectSpec::from_file(&testdata(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub(super) fn weak_of(spec: &ObjectSpec) -> impl Fn(&str) -> bool + '_ {
    move |n: &str| {
        spec.programs
            .iter()
            .flat_map(|p| &p.extern_relocs)
            .any(|r| r.weak && r.symbol == n)
    }
}

pub(super) fn fake_kernel(name: &str) -> Btf {
    object(name).btf.expect("fake kernel has BTF")
}

/// The configuration lines `externs.bpf.c` reads, as this machine's kernel has them.
pub(super) const CONFIG: &str = "\
# Automatically generated file; DO NOT EDIT.
CONFIG_ILLEGAL_POINTER_VALUE=0xdead000000000000
CONFIG_HZ=250
# CONFIG_MODULES is not set
CONFIG_TCP_CONG_CUBIC=y
CONFIG_BPF_SYSCALL=y
# CONFIG_KPROBES is not set
CONFIG_LOCALVERSION=\"-fc-v445\"
";

pub(super) fn kallsyms() -> Kallsyms {
    Kallsyms::parse(
        "ffffffff81000000 T _stext\n\
         ffffffff821f5f60 T schedule\n\
         ffffffff81377b60 T __x64_sys_getpid\n\
         ffffffffc0025500 t bpf_dispatcher_xdp\t[bpf]\n\
         ffffffffc0030000 t helper\t[mod_a]\n\
         ffffffffc0040000 t helper\t[mod_b]\n\
         ffffffff81400000 t same\n\
         ffffffff81400000 t same\n",
    )
    .unwrap()
}

pub(super) fn env(config: Option<&str>) -> FixedEnv {
    FixedEnv {
        config: config.map(|c| KernelConfig::parse(c).unwrap()),
        version: Some(kernel_version_6_18_44()),
        bpf_cookie: true,
        syscall_wrapper: false,
        kallsyms: Some(kallsyms()),
        vmlinux: Some(fake_kernel("fake_kernel.bpf.o")),
        modules: Vec::new(),
    }
}

pub(super) fn kernel_version_6_18_44() -> u32 {
    (6 << 16) + (18 << 8) + 44
}

/// Offset and size of `name` in the `.kconfig` DATASEC.
pub(super) fn kconfig_slot(spec: &ObjectSpec, name: &str) -> (usize, usize) {
    let btf = spec.btf.as_ref().unwrap();
    let sec = btf.find_by_name_kind(KCONFIG_SEC, Kind::Datasec).unwrap();
    let v = btf
        .type_by_id(sec)
        .unwrap()
        .datasec_vars()
        .find(|v| btf.type_name(v.type_id).unwrap() == name)
        .unwrap();
    (v.offset as usize, v.size as usize)
}
