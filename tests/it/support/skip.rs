//! A test whose tool (engine, act, sshd, skopeo, …) is missing: in CI (`CI` set) it fails;
//! elsewhere it is skipped visibly, never counted as a silent pass. A skip prints
//! `skipped: <test>: <why>` and appends that line to `$CARGO_TARGET_TMPDIR/skipped-tests`,
//! which `make test` lists at the end.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The file skips are recorded in (`target/tmp/skipped-tests`).
pub fn record_file() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests")
}

/// `true` when `have`; otherwise panics in CI with `why`, and elsewhere records the skip of
/// the running test and returns `false` (the test then returns at once).
pub fn unless(have: bool, why: &str) -> bool {
    if !have {
        skip(why);
    }
    have
}

/// Records that the running test is skipped because of `why`, or panics in CI.
pub fn skip(why: &str) {
    assert!(std::env::var_os("CI").is_none(), "needed in CI: {why}");
    // libtest names each test's thread after the test.
    let thread = std::thread::current();
    let line = format!("skipped: {}: {why}", thread.name().unwrap_or("?"));
    eprintln!("{line}");
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(record_file()) {
        let _ = writeln!(f, "{line}");
    }
}

/// Whether this process runs as root (dockerd and sshd tests need it).
pub fn is_root() -> bool {
    std::process::Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false)
}
