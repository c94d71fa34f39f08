//! What `#[derive(Pod)]` must refuse, each a snippet that must not compile, with the
//! error it must give (`ui/*.rs` and their `.stderr`; regenerate the expected output
//! with `TRYBUILD=overwrite cargo test -p corebpf-derive --test compile_fail` and review
//! the diff).

#[test]
fn refuses_what_is_not_plain_old_data() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
