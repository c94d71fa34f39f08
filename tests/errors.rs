//! Errors that say what happened, against the real kernel: a `BPF_PROG_LOAD` the kernel
//! refuses before its verifier runs (a missing capability, or this host's policy on
//! fentry) is not reported as a verifier rejection, and names the capabilities the
//! program type needs.

mod common;

use std::process::Command;

use common::feature::{self, skip, Feature, Probe};
use common::*;
use corebpf::{LoadError, Loader, ObjectSpec};

/// Loads only `program` of `object`.
fn load_one(object: &str, program: &str) -> Result<corebpf::Object, LoadError> {
    let spec = ObjectSpec::from_file(&prog(object)).expect("parsing the object");
    let mut loader = Loader::new();
    for p in &spec.programs {
        loader = loader.autoload(&p.name, p.name == program);
    }
    loader.load(&spec)
}

/// Checks that `e` is the refusal before the verifier, for `program`, naming `caps`.
#[track_caller]
fn assert_refused(e: &LoadError, program: &str, caps: &str) {
    let text = e.to_string();
    match e {
        LoadError::NotPermitted {
            program: p,
            capabilities,
            source,
            ..
        } => {
            assert_eq!(p, program);
            assert_eq!(*capabilities, caps);
            assert_eq!(source.errno(), libc::EPERM);
        }
        other => panic!("expected NotPermitted, got {}", chain(other)),
    }
    assert!(
        text.contains("refused to load it without running the verifier"),
        "{text}"
    );
    assert!(
        text.contains(caps) && text.contains("security policy"),
        "{text}"
    );
    assert!(!text.contains("rejected by the verifier"), "{text}");
}

/// This host's policy refuses fentry programs with `EPERM` even for root, before the
/// verifier runs. Where the kernel takes them (the VM kernels), the load must succeed.
#[test]
fn fentry_refused_by_policy_is_not_a_verifier_rejection() {
    const T: &str = "fentry_refused_by_policy_is_not_a_verifier_rejection";
    setup();
    match feature::probe(Feature::Fentry) {
        Probe::Refused(why) => {
            let e = load_one("fentry.bpf.o", "fentry_unlinkat").expect_err(&why);
            assert_refused(&e, "fentry_unlinkat", "CAP_BPF and CAP_PERFMON");
        }
        Probe::Supported => {
            load_one("fentry.bpf.o", "fentry_unlinkat").expect("fentry loads where probed");
            skip(
                T,
                "this kernel's policy lets root load fentry: nothing refused to check",
            );
        }
        Probe::Missing(why) | Probe::NotEnabled(why) => skip(T, &why),
    }
}

const CHILD: &str = "COREBPF_ERRORS_TEST_CHILD";

/// Without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN (dropped from the bounding set by
/// `setpriv` for a child running this same test), loading a raw tracepoint program is
/// refused before the verifier. `relo_heavy` has no maps, so the program load is the
/// first thing that needs the capabilities (its BTF is skipped with a warning);
/// `types_and_enums` asks only about types and enumerators every kernel here has (its
/// field reads would reach a poisoned relocation on some: 6.1 has no `saved_state`).
#[test]
fn a_missing_capability_is_named() {
    const T: &str = "a_missing_capability_is_named";
    if std::env::var_os(CHILD).is_some() {
        // The child: report what the loader said, for the parent to check.
        match load_one("relo_heavy.bpf.o", "types_and_enums") {
            Err(LoadError::NotPermitted {
                capabilities,
                source,
                ..
            }) => {
                let lacks = source.missing_capability();
                let lacks = lacks.map_or("nothing".to_owned(), |c| c.to_string());
                println!("CHILD-RESULT NotPermitted {capabilities}; lacks {lacks}");
            }
            Err(e) => println!("CHILD-RESULT other {}", chain(&e)),
            Ok(_) => println!("CHILD-RESULT loaded"),
        }
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        skip(T, "setpriv (util-linux) is not installed");
        return;
    }
    let out = Command::new("setpriv")
        .args(["--bounding-set", "-bpf,-perfmon,-sys_admin", "--"])
        .arg(std::env::current_exe().unwrap())
        .args([T, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("running the test binary under setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result = stdout
        .lines()
        .find_map(|l| l.split_once("CHILD-RESULT ").map(|(_, r)| r))
        .unwrap_or_else(|| {
            panic!(
                "the child said nothing: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    // The first of them the kernel checks, and this process lacks, is named.
    assert_eq!(
        result,
        "NotPermitted CAP_BPF and CAP_PERFMON; lacks CAP_BPF"
    );
    // The parent keeps its capabilities: the same load goes through.
    load_one("relo_heavy.bpf.o", "types_and_enums").expect("loading with all capabilities");
}
