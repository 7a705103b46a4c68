//! Interoperability with skopeo: skopeo pulls what we push, and we push and pull what skopeo
//! wrote, single images and a multi-platform index, digests unchanged.

use crate::support::ActionRun;
use crate::support::registry::{Auth, TestLayout, TestRegistry, layer, pull_and_verify};
use deploy_action::oci::sha256_digest;
use std::process::Command;

fn skopeo(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let policy = dir.join("policy.json");
    std::fs::write(&policy, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();
    let out = Command::new("skopeo")
        .arg("--policy")
        .arg(&policy)
        .args(args)
        .env("HOME", dir)
        .env("XDG_RUNTIME_DIR", dir)
        .output()
        .expect("skopeo is installed");
    assert!(out.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn last_line(s: &str) -> &str {
    s.trim_end().lines().last().unwrap_or("")
}

#[test]
fn skopeo_pulls_what_we_push_and_we_push_what_skopeo_wrote() {
    let reg = TestRegistry::start(Auth::None);
    let h = &reg.host;
    let tmp = tempfile::tempdir().unwrap();
    let index = TestLayout::index(&tmp.path().join("index"));
    let single = TestLayout::image(&tmp.path().join("single"), &[layer(4000, false), layer(70_000, true)]);
    for (img, repo) in [(&index, "interop/multi"), (&single, "interop/single")] {
        let out = ActionRun::cli(["push", &img.spec(), &format!("{h}/{repo}:v1")]).run();
        assert_eq!(out.code, 0, "{}", out.log());
        // skopeo sees the same manifest bytes, and copies every blob (verifying digests).
        let raw = skopeo(
            tmp.path(),
            &["inspect", "--tls-verify=false", "--raw", &format!("docker://{h}/{repo}:v1")],
        )
        .stdout;
        assert_eq!(sha256_digest(&raw), img.digest);
        let back = tmp.path().join(format!("back-{}", repo.replace('/', "-")));
        skopeo(
            tmp.path(),
            &[
                "copy",
                "--all",
                "--preserve-digests",
                "--src-tls-verify=false",
                &format!("docker://{h}/{repo}:v1"),
                &format!("oci:{}:v1", back.display()),
            ],
        );
        // What skopeo wrote is a layout we push again, digest unchanged.
        let out =
            ActionRun::cli(["push", &format!("oci:{}:v1", back.display()), &format!("{h}/{repo}-again:v1")])
                .run();
        assert_eq!((out.code, last_line(&out.stdout)), (0, img.digest.as_str()), "{}", out.log());
        assert_eq!(pull_and_verify(h, &format!("{repo}-again"), "v1", None), img.digest);
    }
}

#[test]
fn we_read_what_skopeo_pushed() {
    let reg = TestRegistry::start(Auth::None);
    let h = &reg.host;
    let tmp = tempfile::tempdir().unwrap();
    let index = TestLayout::index(&tmp.path().join("index"));
    skopeo(
        tmp.path(),
        &[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:latest", index.dir.display()),
            &format!("docker://{h}/byskopeo/app:v1"),
        ],
    );
    let out = ActionRun::cli(["inspect", &format!("{h}/byskopeo/app:v1")]).run();
    assert_eq!((out.code, last_line(&out.stdout)), (0, index.digest.as_str()), "{}", out.log());
    assert_eq!(pull_and_verify(h, "byskopeo/app", "v1", None), index.digest);
    let out = ActionRun::cli([
        "copy",
        &format!("{h}/byskopeo/app:v1"),
        &format!("{h}/byskopeo/app:prod"),
        &format!("{h}/mirror/app:v1"),
    ])
    .run();
    assert_eq!((out.code, last_line(&out.stdout)), (0, index.digest.as_str()), "{}", out.log());
    assert_eq!(pull_and_verify(h, "mirror/app", "v1", None), index.digest);
}
