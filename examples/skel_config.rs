//! Configuration set before load through a skeleton: `.rodata` (`target_tgid`, a
//! `const volatile` the verifier sees as a constant) and `.data` (`default_message`)
//! of bpf-progs/hello_buffer_config.bpf.o, typed by
//! examples/skel/hello_buffer_config.skel.rs.
//!
//! `cargo run --example skel_config -- [MESSAGE]` (as root): a child waits until the
//! program is attached, then execs `/bin/true`; only that child is traced (other
//! processes' execs are filtered out by `target_tgid`). Prints its exec with the message
//! the program copied from `.data` (at most 11 bytes; default "from skel"), then the
//! events sent.

use std::error::Error;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

include!("skel/hello_buffer_config.skel.rs");

fn main() -> Result<(), Box<dyn Error>> {
    let message = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "from skel".into());

    // A shell that waits for a line on stdin, then becomes /bin/true (same pid): its
    // pid is known before load, so `.rodata` can name it.
    let mut shell = Command::new("/bin/sh")
        .args(["-c", "read x; exec /bin/true"])
        .stdin(Stdio::piped())
        .spawn()?;

    let mut open = hello_buffer_config::open()?;
    open.rodata_mut().target_tgid = shell.id();
    let slot = &mut open.data_mut().default_message;
    let text = message.as_bytes();
    if text.len() >= slot.len() {
        let most = slot.len() - 1;
        return Err(format!("MESSAGE has {} bytes; at most {most} fit", text.len()).into());
    }
    *slot = [0; 12];
    slot[..text.len()].copy_from_slice(text);
    let mut skel = open.load()?;
    skel.attach()?;

    let mut ring = skel
        .events_ring_buffer(|e: &hello_buffer_config::Event| {
            let file = e.filename_str().unwrap_or("?");
            let msg = e.message_str().unwrap_or("?");
            println!("pid {} {file}: {msg}", e.pid);
            0
        })?
        .build()?;
    // Let the shell go: it execs and ends.
    if let Some(mut stdin) = shell.stdin.take() {
        stdin.write_all(b"go\n")?;
    }
    shell.wait()?;
    ring.poll_for(Duration::from_millis(500))?;
    println!("{} events sent", skel.bss()?.total_events()?);
    Ok(())
}
