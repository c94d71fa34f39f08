//! `corebpf prog list|show|pinned`: a program this test loads (held by this process)
//! and one bpftool loaded and pinned (another process), text and --json checked
//! against the library and against bpftool; error paths.

mod common;

use std::process::Command;

use common::*;
use corebpf::inspect::ProgramInfo;
use corebpf::{Loader, ObjectSpec};
use serde_json::Value;

fn run(args: &[&str]) -> String {
    ok(corebpf().args(args).output().unwrap())
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&run(args)).unwrap()
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[test]
fn a_program_this_process_loaded_in_show_list_and_json() {
    setup();
    let spec = ObjectSpec::from_file(&prog("hello.bpf.o")).unwrap();
    let obj = Loader::new().load(&spec).expect("loading hello.bpf.o");
    let p = obj.program("handle_execve").unwrap();
    let info = p.info().unwrap();
    let id = info.id;
    let lib = ProgramInfo::from_id(id).unwrap();
    assert_eq!(lib.name(), "handle_execve");
    assert!(!lib.map_ids().is_empty());
    let tag: String = info.tag.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(lib.tag(), tag);
    let me = u64::from(std::process::id());

    let v = json(&["prog", "show", &id.to_string(), "--json"]);
    assert_eq!(v["id"].as_u64(), Some(u64::from(id)));
    assert_eq!(v["name"], "handle_execve");
    assert_eq!(v["type"], "tracepoint");
    assert_eq!(v["tag"], tag.as_str());
    assert_eq!(v["uid"].as_u64(), Some(0));
    assert_eq!(
        v["bytes_xlated"].as_u64(),
        Some(u64::from(info.xlated_prog_len))
    );
    let want: Vec<u64> = lib.map_ids().iter().map(|&i| u64::from(i)).collect();
    assert_eq!(ids(&v["map_ids"]), want);
    assert_eq!(v["btf_id"].as_u64(), lib.btf_id().map(u64::from));
    let pids = v["pids"].as_array().unwrap();
    assert!(
        pids.iter().any(|h| h["pid"].as_u64() == Some(me)),
        "this process ({me}) holds the program: {v}"
    );

    let text = run(&["prog", "show", &id.to_string()]);
    let head = format!("{id}: tracepoint  name handle_execve  tag {tag}  gpl");
    assert!(text.starts_with(&head), "{text}");
    let maps: Vec<String> = want.iter().map(u64::to_string).collect();
    assert!(
        text.contains(&format!("map_ids {}", maps.join(","))),
        "{text}"
    );
    assert!(text.contains(&format!("({me})")), "{text}");

    let list = json(&["prog", "list", "--json"]);
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"].as_u64() == Some(u64::from(id)))
        .expect("the program is listed");
    assert_eq!(mine["tag"], tag.as_str());
    assert!(run(&["prog", "list"]).contains(&head));
    drop(obj);
    // Unloaded with the object: the id is gone.
    let out = corebpf()
        .args(["prog", "show", &id.to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn a_program_bpftool_loaded_and_pinned_matches_bpftool() {
    if !have_bpftool() {
        return;
    }
    setup();
    let pin = pin_path("prog", "pinned");
    let _guard = Remove(pin.clone());
    let load = Command::new("bpftool")
        .args(["prog", "load"])
        .arg(prog("hello.bpf.o"))
        .arg(&pin)
        .output()
        .unwrap();
    assert!(
        load.status.success(),
        "bpftool prog load: {}",
        String::from_utf8_lossy(&load.stderr)
    );
    let pin_s = pin.to_str().unwrap();
    let theirs: Value = serde_json::from_str(&ok(Command::new("bpftool")
        .args(["-j", "prog", "show", "pinned", pin_s])
        .output()
        .unwrap()))
    .unwrap();
    let ours = json(&["prog", "pinned", pin_s, "--json"]);
    for field in [
        "id",
        "name",
        "type",
        "tag",
        "gpl_compatible",
        "uid",
        "bytes_xlated",
        "jited",
        "bytes_jited",
        "map_ids",
        "btf_id",
    ] {
        assert_eq!(
            ours[field], theirs[field],
            "field {field}: ours {ours}, bpftool's {theirs}"
        );
    }
    // Both derive wall-clock time from time since boot: a second apart at most.
    let (a, b) = (
        ours["loaded_at"].as_i64().unwrap(),
        theirs["loaded_at"].as_i64().unwrap(),
    );
    assert!((a - b).abs() <= 1, "loaded_at {a} vs bpftool's {b}");
    let id = ours["id"].as_u64().unwrap();
    let by_id = json(&["prog", "show", &id.to_string(), "--json"]);
    assert_eq!(by_id["tag"], theirs["tag"]);
    // Only the pin holds it now: bpftool exited.
    assert!(by_id["pids"].as_array().unwrap().is_empty(), "{by_id}");
    let text = run(&["prog", "pinned", pin_s]);
    assert!(
        text.starts_with(&format!("{id}: tracepoint  name handle_execve  tag ")),
        "{text}"
    );
}

#[test]
fn an_unknown_id_is_an_error_naming_it() {
    let out = corebpf()
        .args(["prog", "show", "4294967295"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("program 4294967295"), "{err}");
}

#[test]
fn a_pinned_map_is_not_a_program() {
    if !have_bpftool() {
        return;
    }
    setup();
    let pin = pin_path("prog", "map");
    let _guard = Remove(pin.clone());
    let pin_s = pin.to_str().unwrap();
    ok(Command::new("bpftool")
        .args([
            "map", "create", pin_s, "type", "array", "key", "4", "value", "4", "entries", "1",
            "name", "notprog",
        ])
        .output()
        .unwrap());
    let out = corebpf().args(["prog", "pinned", pin_s]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(pin_s) && err.contains("is a pinned map, not a program"),
        "{err}"
    );
    let missing = corebpf()
        .args(["prog", "pinned", "/sys/fs/bpf/corebpf-no-such-pin"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/sys/fs/bpf/corebpf-no-such-pin"));
}
