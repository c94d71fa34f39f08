//! Reading what one libtest binary printed in its default ("pretty")
//! format. vmtest runs binaries with `--test-threads=1 --nocapture`, so
//! each test's output follows its `test NAME ... ` line as it is printed
//! (and survives a binary or a guest that dies); the output of
//! `--show-output`, under `---- NAME stdout ----`, is understood too.

use std::collections::{BTreeMap, BTreeSet};

/// What a `test NAME ... STATUS` line said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Status {
    Ok,
    Failed,
    Ignored,
    /// Started and never finished (the binary died or was killed).
    Unfinished,
}

/// The outcome of one test binary, as far as its output tells.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    /// Sums of its `test result:` lines.
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    /// The `test result:` lines themselves.
    pub result_lines: Vec<String>,
    /// Each test's status line.
    pub tests: BTreeMap<String, Status>,
    /// Each `SKIP: reason` line, with the test that printed it (`?` when the
    /// output does not say).
    pub skips: Vec<(String, String)>,
}

/// Tests counted the way vmtest reports them.
#[derive(Debug, Default, PartialEq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    /// Ignored tests and passing tests that printed `SKIP:`.
    pub skipped: u64,
}

impl Outcome {
    /// Tests that passed after printing `SKIP:`: they count as skipped,
    /// not passed (a test that printed `SKIP:` and then failed is a
    /// failure).
    pub fn skipped_tests(&self) -> BTreeSet<&str> {
        self.skips
            .iter()
            .map(|(test, _)| test.as_str())
            .filter(|test| self.tests.get(*test) == Some(&Status::Ok) || *test == "?")
            .collect()
    }

    /// Tests that failed, by name.
    pub fn failed_tests(&self) -> impl Iterator<Item = &str> {
        self.status(Status::Failed)
    }

    /// The test that was running when the binary stopped, if any.
    pub fn unfinished(&self) -> Option<&str> {
        self.status(Status::Unfinished).next()
    }

    fn status(&self, wanted: Status) -> impl Iterator<Item = &str> {
        self.tests
            .iter()
            .filter(move |(_, status)| **status == wanted)
            .map(|(name, _)| name.as_str())
    }

    /// The counts from the `test result:` lines; from the tests' status
    /// lines when there is none (the binary died before printing it).
    pub fn counts(&self) -> Counts {
        let (passed, failed, ignored) = if self.result_lines.is_empty() {
            let count = |wanted| self.status(wanted).count() as u64;
            (
                count(Status::Ok),
                count(Status::Failed),
                count(Status::Ignored),
            )
        } else {
            (self.passed, self.failed, self.ignored)
        };
        let skips = self.skipped_tests().len() as u64;
        Counts {
            passed: passed.saturating_sub(skips),
            failed,
            skipped: ignored + skips,
        }
    }
}

/// Parses the combined stdout and stderr of a libtest binary.
pub fn parse(output: &str) -> Outcome {
    let mut outcome = Outcome::default();
    // The test whose captured output we are in (`---- NAME stdout ----`).
    let mut section: Option<String> = None;
    // The last `test NAME ... ` line (with --nocapture, output follows it).
    let mut running: Option<String> = None;
    // Inside the list of names after the final `failures:`.
    let mut failure_list = false;
    for line in output.lines() {
        let line = line.trim_end_matches('\r');
        if failure_list {
            if let Some(name) = line.strip_prefix("    ") {
                outcome
                    .tests
                    .insert(name.trim().to_string(), Status::Failed);
                continue;
            }
            failure_list = false;
        }
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|rest| rest.strip_suffix(" stdout ----"))
        {
            section = Some(name.to_string());
            continue;
        }
        if line == "successes:" || line == "failures:" {
            section = None;
            failure_list = line == "failures:";
            continue;
        }
        if let Some(counts) = line.strip_prefix("test result: ") {
            section = None;
            outcome.result_lines.push(line.to_string());
            add_counts(&mut outcome, counts);
            continue;
        }
        let mut text = line;
        if section.is_none() {
            if let Some((name, rest)) = line
                .strip_prefix("test ")
                .and_then(|rest| rest.split_once(" ... "))
            {
                let status = status_word(rest).unwrap_or(Status::Unfinished);
                outcome.tests.insert(name.to_string(), status);
                running = Some(name.to_string());
                text = rest;
            } else if let (Some(status), Some(name)) = (status_word(line), &running) {
                // --nocapture: the status after the test's own output.
                if outcome.tests.get(name) == Some(&Status::Unfinished) {
                    outcome.tests.insert(name.clone(), status);
                }
            }
        }
        if let Some(reason) = text.strip_prefix("SKIP: ") {
            let test = section.as_ref().or(running.as_ref());
            let test = test.map_or("?", String::as_str).to_string();
            outcome.skips.push((test, reason.trim().to_string()));
        }
    }
    outcome
}

/// The status a `test NAME ... ` line ends with.
fn status_word(text: &str) -> Option<Status> {
    match text.trim() {
        "ok" => Some(Status::Ok),
        "FAILED" => Some(Status::Failed),
        word if word == "ignored" || word.starts_with("ignored, ") => Some(Status::Ignored),
        _ => None,
    }
}

/// Adds the numbers of `ok. 8 passed; 1 failed; 1 ignored; 0 measured; ...`.
fn add_counts(outcome: &mut Outcome, counts: &str) {
    for part in counts.split(';') {
        let mut words = part.split_whitespace().rev();
        let (Some(label), Some(number)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(number) = number.parse::<u64>() else {
            continue;
        };
        match label {
            "passed" => outcome.passed += number,
            "failed" => outcome.failed += number,
            "ignored" => outcome.ignored += number,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW_OUTPUT: &str = "
running 5 tests
test a ... ok
test b ... FAILED
test c ... ignored
test d ... ok
test e ... ok

successes:

---- d stdout ----
SKIP: BPF LSM not active (lsm=)

---- e stdout ----
kernel: Linux version 6.1
  SKIP: indented is not a skip


successes:
    a
    d
    e

failures:

---- b stdout ----
SKIP: printed before failing
thread 'b' panicked at tests/kernel.rs:29:9:
boom


failures:
    b

test result: FAILED. 3 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.11s
";

    #[test]
    fn counts_results_failures_and_skips() {
        let outcome = parse(SHOW_OUTPUT);
        assert_eq!((outcome.passed, outcome.failed, outcome.ignored), (3, 1, 1));
        assert_eq!(outcome.result_lines.len(), 1);
        assert_eq!(outcome.failed_tests().collect::<Vec<_>>(), ["b"]);
        assert_eq!(outcome.unfinished(), None);
        assert_eq!(
            outcome.skips,
            vec![
                ("d".into(), "BPF LSM not active (lsm=)".into()),
                ("b".into(), "printed before failing".into()),
            ]
        );
        assert_eq!(outcome.skipped_tests(), BTreeSet::from(["d"]));
        assert_eq!(
            outcome.counts(),
            Counts {
                passed: 2,
                failed: 1,
                skipped: 2
            }
        );
    }

    #[test]
    fn reads_nocapture_output() {
        let output = "
running 5 tests
test filesystems_mounted ... SKIP: no cgroup2 on /sys/fs/cgroup
ok
test finds_data ... ok
test ignored_one ... ignored
test optional_failure ... about to fail

thread 'optional_failure' (25167) panicked at tests/kernel.rs:64:9:
SKIP: not a skip: the test failed
FAILED
test reads_proc_version ... kernel: Linux version 6.1.0

ok

failures:

failures:
    optional_failure

test result: FAILED. 3 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.20s
";
        let outcome = parse(output);
        assert_eq!(
            outcome.failed_tests().collect::<Vec<_>>(),
            ["optional_failure"]
        );
        assert_eq!(outcome.tests.get("reads_proc_version"), Some(&Status::Ok));
        assert_eq!(
            outcome.skipped_tests(),
            BTreeSet::from(["filesystems_mounted"])
        );
        assert_eq!(
            outcome.counts(),
            Counts {
                passed: 2,
                failed: 1,
                skipped: 2
            }
        );
    }

    #[test]
    fn counts_status_lines_of_a_binary_that_died() {
        let output =
            "\nrunning 4 tests\ntest a ... ok\ntest b ... FAILED\ntest c ... ok\ntest d ... ";
        let outcome = parse(output);
        assert_eq!(outcome.unfinished(), Some("d"));
        assert_eq!(
            outcome.counts(),
            Counts {
                passed: 2,
                failed: 1,
                skipped: 0
            }
        );
    }

    #[test]
    fn attributes_skips_with_nocapture() {
        let output = "test x ... SKIP: no ring buffer\nok\ntest y ... \nSKIP: no lsm\nok\n\
                      test z ... ignored, needs root\n";
        let outcome = parse(output);
        assert_eq!(outcome.skipped_tests(), BTreeSet::from(["x", "y"]));
        assert_eq!(outcome.tests.get("z"), Some(&Status::Ignored));
        assert_eq!(outcome.counts().skipped, 3);
    }

    #[test]
    fn sums_several_result_lines() {
        let output = "test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\
                      test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
        let outcome = parse(output);
        assert_eq!((outcome.passed, outcome.failed, outcome.ignored), (3, 2, 1));
    }
}
