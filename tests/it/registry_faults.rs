//! Faults between us and a real registry: 5xx, 429 with Retry-After, connections dropped
//! mid-upload. After every faulty run the image is pulled back and every digest verified.

use crate::support::ActionRun;
use crate::support::proxy::{Fault, FaultProxy, Rule};
use crate::support::registry::{Auth, TestLayout, TestRegistry, layer, pull_and_verify};
use std::time::{Duration, Instant};

fn last_line(s: &str) -> &str {
    s.trim_end().lines().last().unwrap_or("")
}

#[test]
fn retries_5xx_and_429_with_retry_after() {
    let reg = TestRegistry::start(Auth::None);
    let proxy = FaultProxy::start(
        &reg.host,
        vec![
            Rule { method: "HEAD", path: "/blobs/", nth: vec![1, 2], fault: Fault::Status(500) },
            Rule { method: "POST", path: "/blobs/uploads/", nth: vec![1], fault: Fault::Status(503) },
            Rule { method: "PUT", path: "/blobs/uploads/", nth: vec![2], fault: Fault::Status(502) },
            Rule { method: "PUT", path: "/manifests/", nth: vec![1], fault: Fault::TooMany(1) },
        ],
    );
    let tmp = tempfile::tempdir().unwrap();
    let img =
        TestLayout::image(tmp.path(), &[layer(1000, false), layer(200_000, false), layer(40_000, true)]);
    let start = Instant::now();
    let out = ActionRun::cli(["push", &img.spec(), &format!("{}/faulty/app:v1", proxy.host)]).run();
    assert_eq!(
        (out.code, last_line(&out.stdout)),
        (0, img.digest.as_str()),
        "{}\n{:#?}",
        out.log(),
        proxy.log()
    );
    assert!(start.elapsed() >= Duration::from_secs(1), "Retry-After was not honoured");
    let log = proxy.log();
    assert!(log.iter().filter(|l| l.contains("Some(")).count() >= 5, "{log:#?}");
    assert_eq!(pull_and_verify(&reg.host, "faulty/app", "v1", None), img.digest);
}

fn push_big_through(fault: Fault, repo: &str) -> (Vec<String>, u64, u64) {
    let reg = TestRegistry::start(Auth::None);
    let proxy = FaultProxy::start(
        &reg.host,
        vec![Rule { method: "PATCH", path: "/blobs/uploads/", nth: vec![3], fault }],
    );
    let tmp = tempfile::tempdir().unwrap();
    let big = layer(3 << 20, false);
    let size = big.len() as u64;
    let img = TestLayout::image(tmp.path(), &[big]);
    let chunk: u64 = 512 << 10;
    let out = ActionRun::cli([
        "push",
        "--chunk-size",
        &chunk.to_string(),
        &img.spec(),
        &format!("{}/{repo}:v1", proxy.host),
    ])
    .run();
    assert_eq!(
        (out.code, last_line(&out.stdout)),
        (0, img.digest.as_str()),
        "{}\n{:#?}",
        out.log(),
        proxy.log()
    );
    assert_eq!(pull_and_verify(&reg.host, repo, "v1", None), img.digest);
    (proxy.log(), size, chunk)
}

fn patched_bytes(log: &[String]) -> u64 {
    log.iter()
        .filter(|l| l.starts_with("PATCH") && l.ends_with("202"))
        .map(|l| l.split(' ').nth(2).unwrap().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn cut_connection_mid_chunk_resumes_from_the_registry_offset() {
    let (log, size, _) = push_big_through(Fault::CutMidBody, "resume/app");
    // The session's progress is asked for, and the upload continues in the same session.
    let cut = log.iter().position(|l| l.contains("CutMidBody")).unwrap();
    let session = log[cut].split(' ').nth(1).unwrap().to_owned();
    let after: Vec<&String> = log[cut + 1..].iter().filter(|l| l.contains(&session)).collect();
    assert!(after[0].starts_with(&format!("GET {session} ")) && after[0].ends_with("204"), "{log:#?}");
    assert!(after[1].starts_with(&format!("PATCH {session} ")), "{log:#?}");
    // Nothing is sent twice: every accepted byte counts once.
    assert_eq!(patched_bytes(&log), size, "{log:#?}");
}

#[test]
fn dropped_connection_mid_chunk_still_delivers_intact_content() {
    // distribution 2.8 keeps the partial bytes and then refuses to resume the session
    // (404 on the progress check): the upload starts over in a new session.
    let (log, size, chunk) = push_big_through(Fault::DropMidBody, "restart/app");
    assert!(log.iter().any(|l| l.starts_with("GET /v2/restart/app/blobs/uploads/")), "{log:#?}");
    assert!(patched_bytes(&log) <= size + 3 * chunk, "{log:#?}");
}

#[test]
fn dropped_monolithic_upload_is_retried() {
    let reg = TestRegistry::start(Auth::None);
    let proxy = FaultProxy::start(
        &reg.host,
        vec![Rule { method: "PUT", path: "/blobs/uploads/", nth: vec![1], fault: Fault::DropMidBody }],
    );
    let tmp = tempfile::tempdir().unwrap();
    let img = TestLayout::image(tmp.path(), &[layer(500_000, false)]);
    let out =
        ActionRun::cli(["push", "--concurrency", "1", &img.spec(), &format!("{}/drop/app:v1", proxy.host)])
            .run();
    assert_eq!(
        (out.code, last_line(&out.stdout)),
        (0, img.digest.as_str()),
        "{}\n{:#?}",
        out.log(),
        proxy.log()
    );
    assert_eq!(pull_and_verify(&reg.host, "drop/app", "v1", None), img.digest);
}

#[test]
fn persistent_failure_gives_up_in_bounded_time_and_sets_no_tag() {
    let reg = TestRegistry::start(Auth::None);
    let proxy = FaultProxy::start(
        &reg.host,
        vec![Rule {
            method: "PUT",
            path: "/blobs/uploads/",
            nth: (1..100).collect(),
            fault: Fault::Status(503),
        }],
    );
    let tmp = tempfile::tempdir().unwrap();
    let img = TestLayout::image(tmp.path(), &[layer(1000, false)]);
    let start = Instant::now();
    let out = ActionRun::cli(["push", &img.spec(), &format!("{}/down/app:v1", proxy.host)]).run();
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(start.elapsed() < Duration::from_secs(60));
    assert!(out.stderr.contains("HTTP 503"), "{}", out.stderr);
    let out = ActionRun::cli(["inspect", &format!("{}/down/app:v1", reg.host)]).run();
    assert_eq!(out.code, 1, "a tag points at partial content: {}", out.log());
}

#[test]
fn corrupt_blob_is_an_error_and_sets_no_tag() {
    let reg = TestRegistry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let img = TestLayout::image(tmp.path(), &[layer(10_000, false)]);
    let layer_digest = &img.blobs[0];
    let path = tmp.path().join("blobs/sha256").join(layer_digest.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let out = ActionRun::cli(["push", &img.spec(), &format!("{}/corrupt/app:v1", reg.host)]).run();
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stderr.contains("DIGEST_INVALID"), "{}", out.stderr);
    let out = ActionRun::cli(["inspect", &format!("{}/corrupt/app:v1", reg.host)]).run();
    assert_eq!(out.code, 1);
}

#[test]
fn corrupted_content_from_a_source_is_an_error_and_sets_no_tag() {
    let src = TestRegistry::start(Auth::None);
    let dst = TestRegistry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let img = TestLayout::image(tmp.path(), &[layer(20_000, false)]);
    let out = ActionRun::cli(["push", &img.spec(), &format!("{}/origin/app:v1", src.host)]).run();
    assert_eq!(out.code, 0, "{}", out.log());

    // A manifest whose bytes do not hash to the digest the registry announced.
    let proxy = FaultProxy::start(
        &src.host,
        vec![Rule { method: "GET", path: "/manifests/", nth: vec![1], fault: Fault::CorruptResponse }],
    );
    let out = ActionRun::cli([
        "copy",
        &format!("{}/origin/app:v1", proxy.host),
        &format!("{}/copy/app:v1", dst.host),
    ])
    .run();
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stderr.contains("digest mismatch for manifest v1"), "{}", out.stderr);

    // A blob streamed through with rotten bytes: the destination refuses it.
    let proxy = FaultProxy::start(
        &src.host,
        vec![Rule { method: "GET", path: "/blobs/", nth: (1..50).collect(), fault: Fault::CorruptResponse }],
    );
    let out = ActionRun::cli([
        "copy",
        &format!("{}/origin/app:v1", proxy.host),
        &format!("{}/copy/app:v1", dst.host),
    ])
    .run();
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stderr.contains("DIGEST_INVALID"), "{}", out.stderr);
    let out = ActionRun::cli(["inspect", &format!("{}/copy/app:v1", dst.host)]).run();
    assert_eq!(out.code, 1, "a tag points at partial content: {}", out.log());
}

#[test]
fn a_registry_failing_during_the_shared_read_is_caught_up() {
    let a = TestRegistry::start(Auth::None);
    let b = TestRegistry::start(Auth::None);
    let proxy = FaultProxy::start(
        &b.host,
        vec![
            Rule { method: "PUT", path: "/blobs/uploads/", nth: vec![1], fault: Fault::Status(503) },
            Rule { method: "PUT", path: "/blobs/uploads/", nth: vec![2], fault: Fault::DropMidBody },
        ],
    );
    let tmp = tempfile::tempdir().unwrap();
    let img =
        TestLayout::image(tmp.path(), &[layer(300_000, false), layer(200_000, false), layer(100, true)]);
    let out = ActionRun::cli([
        "push",
        &img.spec(),
        &format!("{}/fan/app:v1", a.host),
        &format!("{}/fan/app:v1", proxy.host),
    ])
    .run();
    assert_eq!(
        (out.code, last_line(&out.stdout)),
        (0, img.digest.as_str()),
        "{}\n{:#?}",
        out.log(),
        proxy.log()
    );
    assert_eq!(pull_and_verify(&a.host, "fan/app", "v1", None), img.digest);
    assert_eq!(pull_and_verify(&b.host, "fan/app", "v1", None), img.digest);
}
