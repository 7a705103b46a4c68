//! `build --builder files --base REGISTRY/REPO:TAG`: the base pulled by our registry client from
//! the real local registry, pinned by digest, mounted on push, and run by the real engine.

use crate::build_files::{cli, fixtures, last_line};
use crate::support::ActionRun;
use crate::support::docker;
use crate::support::registry::{Auth, TestRegistry};
use std::path::Path;

const EPOCH: &str = "1700000000";

fn blob(layout: &Path, digest: &str) -> serde_json::Value {
    let path = layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The digest `docker push` printed (`latest: digest: sha256:… size: 527`).
fn pushed_digest(push_output: &str) -> String {
    push_output
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in {push_output}"))
        .to_owned()
}

fn build_on(base: &str, dir: &Path) -> crate::support::Outcome {
    ActionRun::action()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .input("command", "build")
        .input("builder", "files")
        .input("base", base)
        .input("add", &format!("{}/www/:/srv/www/", fixtures().display()))
        .input("cmd", "sh,-c,cat /srv/www/index.html; echo on $(busybox | head -1 | cut -c1-7)")
        .input("output", &format!("oci:{}:app", dir.display()))
        .run()
}

#[test]
fn a_busybox_base_from_the_registry_is_pinned_mounted_on_push_and_runs() {
    let Some(engine) = docker::require() else { return };
    let reg = TestRegistry::start(Auth::None);
    let h = &reg.host;
    // The base: a busybox rootfs imported into the engine and pushed by it (Docker media types).
    let base = format!("{h}/base/busybox:1.36");
    engine.run(&["tag", engine.job_image(), &base]);
    let base_digest = pushed_digest(&engine.run(&["push", &base]));

    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("a");
    let out = build_on(&base, &a);
    assert_eq!(out.code, 0, "{}", out.log());
    let digest = out.output("digest").to_owned();
    assert_eq!(out.output("base-digest"), base_digest);
    assert_eq!(out.output("base-image"), format!("{h}/base/busybox@{base_digest}"));
    assert!(out.summary.contains(&format!("pinned as `{h}/base/busybox@{base_digest}`")), "{}", out.summary);
    assert!(out.stdout.contains("MiB downloaded (0 already in the layout)"), "{}", out.stdout);

    // The manifest names its base; the base layer is the registry's blob, not recompressed.
    let manifest = blob(&a, &digest);
    assert_eq!(manifest["annotations"]["org.opencontainers.image.base.name"], base.as_str());
    assert_eq!(manifest["annotations"]["org.opencontainers.image.base.digest"], base_digest.as_str());
    let base_manifest = {
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-sf", "-H", "Accept: application/vnd.docker.distribution.manifest.v2+json"]);
        cmd.arg(format!("http://{h}/v2/base/busybox/manifests/1.36"));
        let raw = crate::support::output_with_timeout(cmd, std::time::Duration::from_secs(30));
        serde_json::from_slice::<serde_json::Value>(&raw.stdout).unwrap()
    };
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "the base's layer, then ours");
    assert_eq!(layers[0]["digest"], base_manifest["layers"][0]["digest"]);
    assert_eq!(layers[0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");

    // Reproducible with a registry base: a fresh layout, and the same one again (nothing downloaded).
    let b = work.path().join("b");
    let again = build_on(&base, &b);
    assert_eq!(again.output("digest"), digest, "{}", again.log());
    let same = build_on(&base, &a);
    assert_eq!(same.output("digest"), digest, "{}", same.log());
    assert!(same.stdout.contains("0.0 MiB downloaded (1 already in the layout)"), "{}", same.stdout);
    // By digest: the same image.
    let pinned = build_on(&format!("{h}/base/busybox@{base_digest}"), &work.path().join("c"));
    assert_eq!(pinned.code, 0, "{}", pinned.log());
    assert_eq!(pinned.output("base-digest"), base_digest);

    // The push to the base's registry mounts the base layer: only our layer and config go up.
    let app = format!("{h}/app/web:v1");
    let push = ActionRun::cli(["push", &format!("oci:{}:app", a.display()), &app]).run();
    assert_eq!(push.code, 0, "{}", push.log());
    assert!(push.stdout.contains("2 uploaded, 1 mounted, 0 existing"), "{}", push.stdout);
    assert_eq!(last_line(&push), digest);

    engine.run(&["pull", &app]);
    let ran = engine.run(&["run", "--rm", "--network", "none", &app]);
    assert_eq!(ran, "<h1>hello from files</h1>\non BusyBox\n");

    // The base has one platform: asking for another says which it has.
    let arm = ActionRun::action()
        .input("command", "build")
        .input("builder", "files")
        .input("base", &base)
        .input("platforms", "linux/arm64")
        .input("add", &format!("{}/www/:/srv/www/", fixtures().display()))
        .input("output", &format!("oci:{}", work.path().join("arm").display()))
        .run();
    assert_eq!(arm.code, 1, "{}", arm.log());
    assert!(arm.stdout.contains("is linux/amd64 only, not linux/arm64"), "{}", arm.stdout);
    assert!(!work.path().join("arm").exists(), "a failed pull leaves no layout");
}

#[test]
fn a_multi_platform_base_behind_basic_auth_gives_each_platform_its_manifest() {
    let (user, password) = ("base-user", "Base-Pa55-Secret");
    let reg = TestRegistry::start(Auth::Basic { user, password });
    let h = &reg.host;
    let work = tempfile::tempdir().unwrap();
    // A two-platform base made by the files builder and pushed with credentials.
    let base_dir = work.path().join("base");
    last_line(&cli(
        &[
            "build",
            "--builder",
            "files",
            "--add",
            &format!("{}/target/{{arch}}/api:/usr/local/bin/api", fixtures().display()),
            "--platform",
            "linux/amd64,linux/arm64",
            "--env",
            "FROM_BASE=1",
            "--output",
            &format!("oci:{}", base_dir.display()),
        ],
        Some(EPOCH),
    ));
    let base = format!("{h}/base/multi:v1");
    let creds = ["--username", user, "--password", password];
    let mut push_args = vec!["push".to_owned(), format!("oci:{}", base_dir.display()), base.clone()];
    push_args.extend(creds.iter().map(|s| (*s).to_owned()));
    let push = ActionRun::cli(push_args).run();
    let index_digest = last_line(&push);

    let app = work.path().join("app");
    let out = ActionRun::action()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .input("command", "build")
        .input("builder", "files")
        .input("base", &base)
        .input("platforms", "linux/arm64")
        .input("add", &format!("{}/www/:/srv/www/", fixtures().display()))
        // A base image's registry gets a credential only when one names it.
        .input("registry-auth", &format!("registry={h},username={user},password={password}"))
        .input("output", &format!("oci:{}", app.display()))
        .run();
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(out.output("base-digest"), index_digest);
    let no_mask: String = out.log().lines().filter(|l| !l.starts_with("::add-mask::")).collect();
    assert!(
        !no_mask.contains(password) && !out.summary.contains(password) && !out.output_file.contains(password)
    );
    let manifest = blob(&app, out.output("digest"));
    let config = blob(&app, manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["config"]["Env"], serde_json::json!(["FROM_BASE=1"]));
    // The arm64 base layer (the arm64 api), from the base's arm64 manifest.
    let index = blob(&base_dir, &index_digest);
    let arm =
        index["manifests"].as_array().unwrap().iter().find(|m| m["platform"]["architecture"] == "arm64");
    let arm_manifest = blob(&base_dir, arm.unwrap()["digest"].as_str().unwrap());
    assert_eq!(manifest["layers"][0]["digest"], arm_manifest["layers"][0]["digest"]);

    // Missing base, and a wrong password: clear errors, no layout, no password printed.
    let missing = work.path().join("missing");
    let mut args = vec![
        "build".to_owned(),
        "--builder".into(),
        "files".into(),
        "--base".into(),
        format!("{h}/base/nonexistent:v1"),
        "--add".into(),
        "/bin/busybox:/bin/busybox".into(),
        "--output".into(),
        format!("oci:{}", missing.display()),
        "--registry".into(),
        h.to_string(),
    ];
    args.extend(creds.iter().map(|s| (*s).to_owned()));
    let out = ActionRun::cli(args.clone()).run();
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(
        out.stderr.contains(&format!(
            "pulling the base image {h}/base/nonexistent:v1: {h}/base/nonexistent:v1 does not exist"
        )),
        "{}",
        out.stderr
    );
    assert!(!missing.exists());
    let wrong: Vec<String> = args
        .iter()
        .map(|a| if a == password { "Wrong-Pa55".to_owned() } else { a.replace("nonexistent", "multi") })
        .collect();
    let out = ActionRun::cli(wrong).run();
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stderr.contains("authentication failed"), "{}", out.stderr);
    assert!(!out.log().contains("Wrong-Pa55") && !out.log().contains(password), "{}", out.log());
    assert!(!missing.exists());
}
