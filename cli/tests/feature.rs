//! `corebpf feature` on the running kernel, against what it certainly has and against
//! `bpftool feature probe kernel`.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;
use serde_json::Value;

fn ours() -> Value {
    let out = corebpf().args(["feature", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn bpftool() -> Option<Value> {
    let out = Command::new("bpftool")
        .args(["-j", "feature", "probe", "kernel"])
        .output()
        .ok()
        .filter(|o| o.status.success());
    if out.is_none() {
        println!("SKIP: bpftool is not installed");
    }
    Some(serde_json::from_slice(&out?.stdout).unwrap())
}

fn names(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_json_has_every_section_and_what_this_kernel_has() {
    let j = ours();
    for key in [
        "kernel_release",
        "program_types",
        "map_types",
        "link_types",
        "btf_kinds",
        "helpers",
        "loader",
    ] {
        assert!(j.get(key).is_some(), "no {key} in {j}");
    }
    // Program types every kernel these tests run on has (3.19 to 4.8).
    for t in ["socket_filter", "kprobe", "sched_cls", "tracepoint", "xdp"] {
        assert_eq!(j["program_types"][t], true, "{t}");
    }
    for t in ["hash", "array", "percpu_array", "perf_event_array"] {
        assert_eq!(j["map_types"][t], true, "{t}");
    }
    assert_eq!(j["btf_kinds"]["struct"], true);
    assert_eq!(j["loader"]["btf"], true);
    assert_eq!(j["program_types"].as_object().unwrap().len(), 32);
    let xdp = names(&j["helpers"]["xdp"]);
    assert!(xdp.contains("bpf_xdp_adjust_head") && !xdp.contains("bpf_skb_store_bytes"));
    let sock = names(&j["helpers"]["socket_filter"]);
    assert!(sock.contains("bpf_map_lookup_elem") && !sock.contains("bpf_xdp_adjust_head"));
    // The helpers that write to the kernel log are probed only with --full.
    assert!(!names(&j["helpers"]["kprobe"]).contains("bpf_trace_printk"));
}

#[test]
fn the_text_names_each_verdict() {
    let out = corebpf().arg("feature").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for section in [
        "program types:",
        "map types:",
        "link types:",
        "btf kinds:",
        "loader features:",
        "helpers:",
    ] {
        assert!(text.contains(section), "{section}\n{text}");
    }
    let line = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{text}"))
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(line("socket_filter"), "yes");
    assert_eq!(line("xdp"), "yes");
    assert!(text.contains("\n  xdp ("), "{text}");
}

#[test]
fn verdicts_agree_with_bpftool() {
    let Some(b) = bpftool() else { return };
    let j = ours();
    // Program and map types: the same verdict for every type bpftool knows.
    let mut compared = 0;
    for (section, suffix, ours) in [
        ("program_types", "_prog_type", &j["program_types"]),
        ("map_types", "_map_type", &j["map_types"]),
    ] {
        for (key, verdict) in b[section].as_object().unwrap() {
            let name = key
                .strip_prefix("have_")
                .and_then(|k| k.strip_suffix(suffix))
                .unwrap();
            assert_eq!(&ours[name], verdict, "{section} {name}");
            compared += 1;
        }
    }
    assert!(compared >= 50, "{compared}");

    // Helpers: bpftool 7.1's libbpf (1.1) knows only the "unknown func" words for a
    // helper a program type may not call; since 6.2 the verifier says "program of this
    // type cannot use helper", and bpftool calls every such helper available. So each
    // helper we list is in bpftool's list (or newer than its table), and each of
    // bpftool's we leave out is one the verifier refuses in those words, asked here
    // without the library.
    let known: BTreeSet<String> = b["helpers"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(names)
        .collect();
    let (mut agreed, mut refused) = (0, 0);
    for (key, listed) in b["helpers"].as_object().unwrap() {
        let t = key.strip_suffix("_available_helpers").unwrap();
        let theirs = names(listed);
        let mine = names(&j["helpers"][t]);
        for h in &mine {
            assert!(
                theirs.contains(h) || !known.contains(h),
                "{t}: we list {h}, bpftool does not"
            );
        }
        let prog_type = corebpf::features::ProgramType::from_name(t).unwrap();
        // Types whose probe needs no load attributes can be asked directly.
        let plain = !matches!(
            t,
            "kprobe"
                | "cgroup_sock_addr"
                | "cgroup_sockopt"
                | "sk_lookup"
                | "lirc_mode2"
                | "syscall"
                | "netfilter"
                | "struct_ops"
                | "tracing"
                | "ext"
                | "lsm"
        );
        for h in theirs.difference(&mine) {
            refused += 1;
            if !plain {
                continue;
            }
            let id = corebpf::features::helper_id(h).unwrap() as i32;
            let (loaded, log) = raw_bpf::helper_call_log(prog_type.0, id);
            assert!(
                !loaded && log.contains("program of this type cannot use helper"),
                "{t}: bpftool lists {h}, we do not, and the verifier said:\n{log}"
            );
        }
        agreed += mine.intersection(&theirs).count();
    }
    println!(
        "program/map types: {compared} verdicts equal; helpers: {agreed} (type, helper) \
         pairs listed by both, {refused} listed by bpftool only (refused by the verifier)"
    );
}
