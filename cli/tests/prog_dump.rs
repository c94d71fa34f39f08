//! `corebpf prog dump xlated ID|pinned PATH [--source] [--linum] [--json]`: the
//! translated instructions of programs this test loads and of one bpftool loaded and
//! pinned, compared line by line with `bpftool prog dump xlated`, the source lines
//! checked against the C files, error paths.
//!
//! Two documented differences. The installed bpftool may carry a disassembler older
//! than the kernel's. Before 6.10 it knows no per-CPU address move, which it prints as
//! a plain `(bf) r0 = r0` where the kernel (and corebpf) print
//! `(bf) r0 = &(void __percpu *)(r0)`; [`same_line`] accepts exactly that. And in
//! `--json`, bpftool's JSON writer writes a backslash in a source line as `\n`;
//! corebpf writes valid JSON (`\\`).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use corebpf::inspect::{ProgramInfo, XlatedError, XlatedListing};
use corebpf::{Loader, ObjectSpec};
use serde_json::Value;

fn run(args: &[&str]) -> String {
    ok(corebpf().args(args).output().unwrap())
}

fn bpftool(args: &[&str]) -> String {
    ok(Command::new("bpftool").args(args).output().unwrap())
}

/// Equal lines, or the one documented difference (see the file's doc).
fn same_line(ours: &str, theirs: &str) -> bool {
    if ours == theirs {
        return true;
    }
    let Some((head, rest)) = ours.split_once("= &(void __percpu *)(") else {
        return false;
    };
    rest.strip_suffix(')')
        .is_some_and(|reg| theirs == format!("{head}= {reg}"))
}

/// Whole outputs equal line by line (up to [`same_line`]).
fn assert_same_output(ours: &str, theirs: &str, what: &str) {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    assert_eq!(
        a.len(),
        b.len(),
        "{what}: line counts\n{ours}\n---\n{theirs}"
    );
    for (x, y) in a.iter().zip(&b) {
        assert!(same_line(x, y), "{what}: ours\n{x}\nbpftool's\n{y}");
    }
}

/// The instruction lines (`% 4d: …`) of a dump.
fn insn_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            l.split_once(": ")
                .is_some_and(|(n, _)| !n.trim().is_empty() && n.trim().parse::<u32>().is_ok())
        })
        .collect()
}

/// Every `; text [file:F line_num:N line_col:C]` line names a line of the C file
/// whose text (leading white space removed) it shows.
fn assert_lines_are_the_sources(linum: &str, c_file: &Path) -> usize {
    let src = std::fs::read_to_string(c_file).unwrap();
    let file_lines: Vec<&str> = src.lines().collect();
    let mut n = 0;
    for l in linum.lines().filter(|l| l.starts_with("; ")) {
        let (text, pos) = l[2..].rsplit_once(" [file:").unwrap();
        let (file, rest) = pos.split_once(" line_num:").unwrap();
        let (num, _) = rest.split_once(" line_col:").unwrap();
        assert!(
            c_file.ends_with(file.trim_start_matches("./")),
            "{file} vs {}",
            c_file.display()
        );
        let num: usize = num.parse().unwrap();
        assert_eq!(file_lines[num - 1].trim_start(), text, "line {num}: {l}");
        n += 1;
    }
    n
}

#[test]
fn a_program_this_process_loaded_matches_bpftool() {
    setup();
    let spec = ObjectSpec::from_file(&prog("hello.bpf.o")).unwrap();
    let obj = Loader::new().load(&spec).expect("loading hello.bpf.o");
    let p = obj.program("handle_execve").unwrap();
    let info = p.info().unwrap();
    let id = info.id.to_string();
    let maps = ProgramInfo::from_id(info.id).unwrap().map_ids().to_vec();
    assert_eq!(maps.len(), 4, "rodata, counts, events, bss");

    let plain = run(&["prog", "dump", "xlated", &id]);
    let lines = insn_lines(&plain);
    assert_eq!(
        lines.len(),
        plain.lines().count(),
        "no source without --source"
    );
    // The library's listing is what the command prints.
    let listing = XlatedListing::from_id(info.id).unwrap();
    assert_eq!(listing.name(), "handle_execve");
    assert_eq!(listing.insns().len(), lines.len());
    let slots: usize = listing
        .insns()
        .iter()
        .map(|i| if i.insn.is_ld_imm64() { 2 } else { 1 })
        .sum();
    assert_eq!(slots * 8, info.xlated_prog_len as usize);
    // Every map shows up by id, the .rodata/.bss ones as values.
    for m in &maps {
        assert!(plain.contains(&format!("map[id:{m}]")), "map {m}:\n{plain}");
    }
    assert!(plain.contains("][0]+0"), "{plain}");
    assert!(plain.contains("(db) lock *(u64 *)("), "{plain}");
    assert!(plain.contains("(95) exit"), "{plain}");
    // The call into fill_event names the JITed subprogram and lands on its first
    // instruction, where its prototype is.
    let call = lines
        .iter()
        .find(|l| l.contains("call pc+"))
        .expect("a bpf-to-bpf call");
    assert!(call.ends_with("_fill_event"), "{call}");
    let at: usize = call
        .trim_start()
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let rel: usize = call
        .split("pc+")
        .nth(1)
        .unwrap()
        .split('#')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let target = listing
        .insns()
        .iter()
        .find(|i| i.index == at + 1 + rel)
        .unwrap();
    assert_eq!(
        target.function.as_deref(),
        Some("void fill_event(struct event * e, const char * filename, u32 tgid, u32 uid)")
    );

    // --linum: every source line is the C file's line it names.
    let linum = run(&["prog", "dump", "xlated", "id", &id, "--linum"]);
    let n = assert_lines_are_the_sources(&linum, &prog("hello.bpf.c"));
    assert!(n > 10, "{n} source lines:\n{linum}");
    let source = run(&["prog", "dump", "xlated", &id, "--source"]);
    assert!(source.starts_with(
        "int handle_execve(struct sys_enter_execve_ctx * ctx):\n\
         ; int handle_execve(struct sys_enter_execve_ctx *ctx)\n   0: "
    ));
    assert_eq!(insn_lines(&source), lines);

    if !have_bpftool() {
        return;
    }
    let theirs = bpftool(&["prog", "dump", "xlated", "id", &id]);
    assert_same_output(&plain, &insn_lines(&theirs).join("\n"), "instructions");
    assert_same_output(&source, &theirs, "--source vs bpftool's default");
    let theirs = bpftool(&["prog", "dump", "xlated", "id", &id, "linum"]);
    assert_same_output(&linum, &theirs, "--linum vs bpftool's linum");
}

/// Why a program of section `section` cannot load on this kernel, when its kind is
/// newer than the kernel (the feature discipline: skipped below the release).
fn newer_than_this_kernel(section: &str) -> Option<&'static str> {
    let kinds: [(&str, (u32, u32), &'static str); 3] = [
        ("xdp.frags", (5, 18), "xdp.frags programs are new in 5.18"),
        ("tcx/", (6, 6), "tcx programs are new in 6.6"),
        ("netkit/", (6, 7), "netkit programs are new in 6.7"),
    ];
    kinds
        .iter()
        .find(|(prefix, since, _)| section.starts_with(prefix) && !kernel_at_least(*since))
        .map(|(_, _, why)| *why)
}

/// Objects with other instruction kinds: per-CPU maps (inlined lookups), a tail call,
/// bpf_loop's callback (`ld_imm64` of a function). Each program, plain and --source.
#[test]
fn other_objects_match_bpftool_program_by_program() {
    if !have_bpftool() {
        return;
    }
    setup();
    let mut compared = 0;
    let mut objects = vec!["maps_kinds", "tailcall", "xdp", "tc"];
    // A syscall program (5.14) calling bpf_loop (5.17).
    if kernel_at_least((5, 17)) {
        objects.push("ringbuf_bench");
    } else {
        println!("SKIP: ringbuf_bench.bpf.o: bpf_loop is new in 5.17");
    }
    for name in objects {
        let spec = ObjectSpec::from_file(&prog(&format!("{name}.bpf.o"))).unwrap();
        let mut loader = Loader::new();
        for p in &spec.programs {
            if let Some(why) = newer_than_this_kernel(&p.section) {
                println!("SKIP: {name} program {}: {why}", p.name);
                loader = loader.autoload(&p.name, false);
            }
        }
        let obj = loader
            .load(&spec)
            .unwrap_or_else(|e| panic!("loading {name}: {e:?}"));
        for p in obj.programs() {
            let id = p.info().unwrap().id.to_string();
            let ours = run(&["prog", "dump", "xlated", &id, "--source"]);
            let theirs = bpftool(&["prog", "dump", "xlated", "id", &id]);
            assert_same_output(&ours, &theirs, &format!("{name} program {id}"));
            compared += 1;
        }
    }
    assert!(compared >= 5, "{compared} programs");
}

#[test]
fn a_program_bpftool_loaded_and_pinned() {
    if !have_bpftool() {
        return;
    }
    setup();
    // The bpf_loop object where the kernel has bpf_loop (5.17), hello before.
    let bpf_loop = kernel_at_least((5, 17));
    let name = if bpf_loop { "ringbuf_bench" } else { "hello" };
    let pin = pin_path("dump", "rb");
    let _guard = Remove(pin.clone());
    let pin_s = pin.to_str().unwrap();
    let load = Command::new("bpftool")
        .args(["prog", "load"])
        .arg(prog(&format!("{name}.bpf.o")))
        .arg(&pin)
        .output()
        .unwrap();
    assert!(
        load.status.success(),
        "bpftool prog load: {}",
        String::from_utf8_lossy(&load.stderr)
    );
    let ours = run(&["prog", "dump", "xlated", "pinned", pin_s, "--source"]);
    let theirs = bpftool(&["prog", "dump", "xlated", "pinned", pin_s]);
    assert_same_output(&ours, &theirs, "pinned");
    if bpf_loop {
        // bpf_loop, inlined by the verifier: the callback's address loaded as a
        // subprogram, called as a JITed function, its prototype where it starts.
        assert!(ours.contains(" = subprog["), "{ours}");
        assert!(ours.contains("_produce_one\n"), "{ours}");
        assert!(
            ours.contains("\nlong produce_one(__u64 i, void * data):\n"),
            "{ours}"
        );
    } else {
        println!("SKIP: a_program_bpftool_loaded_and_pinned: bpf_loop is new in 5.17 (hello.bpf.o instead)");
    }
    let linum = run(&["prog", "dump", "xlated", "pinned", pin_s, "--linum"]);
    let source = prog(&format!("{name}.bpf.c"));
    assert!(assert_lines_are_the_sources(&linum, &source) > 3);
}

#[test]
fn json_lists_the_same_instructions() {
    setup();
    let spec = ObjectSpec::from_file(&prog("hello.bpf.o")).unwrap();
    let obj = Loader::new().load(&spec).expect("loading hello.bpf.o");
    let id = obj
        .program("handle_execve")
        .unwrap()
        .info()
        .unwrap()
        .id
        .to_string();
    let text = run(&["prog", "dump", "xlated", &id]);
    let v: Value = serde_json::from_str(&run(&["prog", "dump", "xlated", &id, "--json"])).unwrap();
    let insns = v.as_array().unwrap();
    let lines = insn_lines(&text);
    assert_eq!(insns.len(), lines.len());
    for (j, l) in insns.iter().zip(&lines) {
        let want = format!(
            " {:>3}: {}",
            j["pc"].as_u64().unwrap(),
            j["disasm"].as_str().unwrap()
        );
        assert_eq!(&want, l);
        assert!(j.get("src").is_none(), "no source without --source: {j}");
    }
    let v: Value =
        serde_json::from_str(&run(&["prog", "dump", "xlated", &id, "--json", "--source"])).unwrap();
    let insns = v.as_array().unwrap();
    assert_eq!(
        insns[0]["proto"],
        "int handle_execve(struct sys_enter_execve_ctx * ctx)"
    );
    assert_eq!(
        insns[0]["src"],
        "int handle_execve(struct sys_enter_execve_ctx *ctx)"
    );
    assert_eq!(insns[0]["file"], "./hello.bpf.c");
    assert!(insns[0]["line_num"].as_u64().unwrap() > 100);
    let with_src = insns.iter().filter(|j| j.get("src").is_some()).count();
    let fns = insns.iter().filter(|j| j.get("proto").is_some()).count();
    assert_eq!(fns, 2, "handle_execve and fill_event");

    if !have_bpftool() {
        return;
    }
    // bpftool's JSON: the same disassembly and source text per instruction.
    let theirs: Value =
        serde_json::from_str(&bpftool(&["-j", "prog", "dump", "xlated", "id", &id])).unwrap();
    let theirs = theirs.as_array().unwrap();
    assert_eq!(theirs.len(), insns.len());
    for (a, b) in insns.iter().zip(theirs) {
        assert!(same_line(
            a["disasm"].as_str().unwrap(),
            b["disasm"].as_str().unwrap()
        ));
        // bpftool's JSON writer writes a backslash as `\n` (`'\0'` in hello.bpf.c).
        let src = a
            .get("src")
            .and_then(|s| s.as_str())
            .map(|s| s.replace('\\', "\n"));
        assert_eq!(src.as_deref(), b.get("src").and_then(|s| s.as_str()));
        assert_eq!(a.get("proto"), b.get("proto"));
    }
    assert_eq!(
        theirs.iter().filter(|j| j.get("src").is_some()).count(),
        with_src
    );
}

#[test]
fn a_missing_id_is_a_typed_error_naming_it() {
    let out = corebpf()
        .args(["prog", "dump", "xlated", "4294967295"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("opening program 4294967295"), "{err}");
    assert!(out.stdout.is_empty());
    match XlatedListing::from_id(u32::MAX) {
        Err(XlatedError::Open { id, source }) => {
            assert_eq!(id, u32::MAX);
            assert_eq!(source.errno(), libc::ENOENT);
        }
        other => panic!("{other:?}"),
    }
    for bad in [
        &["xlated", "pinned"][..],
        &["xlated", "twelve"],
        &["xlated", "by", "7"],
    ] {
        let out = corebpf().args(["prog", "dump"]).args(bad).output().unwrap();
        assert!(!out.status.success(), "{bad:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn a_pinned_map_is_not_a_program() {
    if !have_bpftool() {
        return;
    }
    setup();
    let pin = pin_path("dump", "map");
    let _guard = Remove(pin.clone());
    let pin_s = pin.to_str().unwrap();
    bpftool(&[
        "map", "create", pin_s, "type", "array", "key", "4", "value", "4", "entries", "1", "name",
        "notprog",
    ]);
    let out = corebpf()
        .args(["prog", "dump", "xlated", "pinned", pin_s])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a pinned map, not a program"), "{err}");
    assert!(matches!(
        XlatedListing::from_pin(&pin),
        Err(XlatedError::NotAProgram { kind, .. }) if kind == "map"
    ));
}
