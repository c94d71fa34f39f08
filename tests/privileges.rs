//! Missing privileges are named, not reported as verifier rejections or a bare
//! `EPERM`: each test drops one capability (with `CAP_SYS_ADMIN`, which stands in for
//! it, where it does) from the bounding set of a child running this same test under
//! `setpriv`, has the child do the one operation that needs it, and checks that the
//! error says which capability this process lacks. The parent, with every capability,
//! does the same operation successfully, so that a refusal for another reason fails
//! the test.

mod common;

use std::error::Error;
use std::process::Command;

use common::feature::skip;
use common::*;
use corebpf::map::{MapDef, MapType};
use corebpf::{Capability, Loader, Map, SysError};

/// Set in the child's environment: run the operation and report, don't spawn.
const CHILD: &str = "COREBPF_PRIVILEGES_TEST_CHILD";

/// The capability a `SysError` in `e`'s chain says this process lacks.
fn missing_capability(e: &(dyn Error + 'static)) -> Option<Capability> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(sys) = c.downcast_ref::<SysError>() {
            return sys.missing_capability();
        }
        cause = c.source();
    }
    None
}

/// What the child prints for its parent: `ok`, or the missing capability and the chain.
fn report<T, E: Error + 'static>(result: Result<T, E>) {
    match result {
        Ok(_) => println!("CHILD-RESULT ok"),
        Err(e) => match missing_capability(&e) {
            Some(cap) => println!("CHILD-RESULT {cap} | {}", chain(&e)),
            None => println!("CHILD-RESULT none | {}", chain(&e)),
        },
    }
}

/// True in the child: the test body then runs its operation, reports and returns.
fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs `test` of this binary again under `setpriv --bounding-set DROP` and returns
/// the child's report; `None` (after a SKIP line) when `setpriv` is not installed.
fn run_child(test: &str, drop: &str) -> Option<String> {
    if Command::new("setpriv").arg("--version").output().is_err() {
        skip(test, "setpriv (util-linux) is not installed");
        return None;
    }
    let out = Command::new("setpriv")
        .args(["--bounding-set", drop, "--"])
        .arg(std::env::current_exe().expect("the test binary's path"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("running the test binary under setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result = stdout
        .lines()
        .find_map(|l| l.split_once("CHILD-RESULT ").map(|(_, r)| r.to_owned()))
        .unwrap_or_else(|| {
            panic!(
                "the child said nothing: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    eprintln!("{test}: without {drop}: {result}");
    Some(result)
}

/// Checks the child's report: refused, naming `cap` on the sys error and in words,
/// and not as the verifier's answer.
#[track_caller]
fn assert_names(result: &str, cap: Capability) {
    let (missing, text) = result
        .split_once(" | ")
        .unwrap_or_else(|| panic!("the child was not refused: {result}"));
    assert_eq!(missing, cap.to_string(), "{text}");
    assert!(
        text.contains(&format!("(needs {cap}, which this process lacks)")),
        "{text}"
    );
    assert!(!text.contains("rejected by the verifier"), "{text}");
    // The errno is the cause, printed once, after the call's own words.
    assert_eq!(text.matches("os error").count(), 1, "{text}");
}

/// Loads `object` with only `program` (the others are not loaded).
fn load_one(object: &str, program: &str) -> Result<corebpf::Object, corebpf::LoadError> {
    let spec = corebpf::ObjectSpec::from_file(&prog(object)).expect("parsing the object");
    let mut loader = Loader::new();
    for p in &spec.programs {
        loader = loader.autoload(&p.name, p.name == program);
    }
    loader.load(&spec)
}

/// Without CAP_BPF (and CAP_SYS_ADMIN), creating a map is refused and the error names
/// CAP_BPF.
#[test]
fn without_cap_bpf_map_creation_names_it() {
    const T: &str = "without_cap_bpf_map_creation_names_it";
    let create = || Map::create("priv_map", &MapDef::new(MapType::HASH, 4, 8, 4));
    if is_child() {
        report(create());
        return;
    }
    setup();
    // With unprivileged BPF allowed, the kernel lets anyone create a hash map.
    let unprivileged = std::fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled");
    if unprivileged.is_ok_and(|v| v.trim() == "0") {
        skip(
            T,
            "kernel.unprivileged_bpf_disabled is 0: no capability is needed",
        );
        return;
    }
    let Some(result) = run_child(T, "-bpf,-sys_admin") else {
        return;
    };
    assert_names(&result, Capability::Bpf);
    assert!(
        result.contains("'priv_map'") && result.contains("BPF_MAP_CREATE failed"),
        "{result}"
    );
    create().unwrap_or_else(|e| panic!("creating the map with every capability: {}", chain(&e)));
}

/// Without CAP_PERFMON (and CAP_SYS_ADMIN), loading a tracepoint program is refused
/// before the verifier, and the error names CAP_PERFMON: the maps and BTF, which need
/// only CAP_BPF, are created.
#[test]
fn without_cap_perfmon_a_tracepoint_load_names_it() {
    const T: &str = "without_cap_perfmon_a_tracepoint_load_names_it";
    let load = || load_one("hello.bpf.o", "handle_execve");
    if is_child() {
        report(load());
        return;
    }
    setup();
    let Some(result) = run_child(T, "-perfmon,-sys_admin") else {
        return;
    };
    assert_names(&result, Capability::Perfmon);
    assert!(
        result.contains("program 'handle_execve'")
            && result.contains("without running the verifier")
            && !result.contains("security policy"),
        "{result}"
    );
    load().unwrap_or_else(|e| panic!("loading with every capability: {}", chain(&e)));
}

/// Without CAP_NET_ADMIN (and CAP_SYS_ADMIN), loading an XDP program is refused before
/// the verifier, and the error names CAP_NET_ADMIN. perf_output's only map is a perf
/// event array, which needs only CAP_BPF, and it loads on 5.10.
#[test]
fn without_cap_net_admin_an_xdp_load_names_it() {
    const T: &str = "without_cap_net_admin_an_xdp_load_names_it";
    let load = || load_one("perf_output.bpf.o", "emit");
    if is_child() {
        report(load());
        return;
    }
    setup();
    let Some(result) = run_child(T, "-net_admin,-sys_admin") else {
        return;
    };
    assert_names(&result, Capability::NetAdmin);
    assert!(
        result.contains("program 'emit'") && result.contains("without running the verifier"),
        "{result}"
    );
    load().unwrap_or_else(|e| panic!("loading with every capability: {}", chain(&e)));
}

/// Without CAP_SYS_ADMIN alone (CAP_BPF kept), listing programs by id is refused, and
/// the error names CAP_SYS_ADMIN: nothing else stands in for it there.
#[test]
fn without_cap_sys_admin_listing_programs_names_it() {
    const T: &str = "without_cap_sys_admin_listing_programs_names_it";
    let list = || corebpf::inspect::programs().collect::<Result<Vec<_>, _>>();
    if is_child() {
        report(list());
        return;
    }
    setup();
    // Something to list, so that the parent's listing opens a program by id too.
    let _obj = load_one("hello.bpf.o", "handle_execve").expect("loading hello");
    let Some(result) = run_child(T, "-sys_admin") else {
        return;
    };
    assert_names(&result, Capability::SysAdmin);
    assert!(result.contains("BPF_PROG_GET_NEXT_ID"), "{result}");
    let programs = list().unwrap_or_else(|e| panic!("listing as root: {}", chain(&e)));
    assert!(!programs.is_empty(), "hello's program is listed");
}
