//! `build --builder files`: daemonless images checked with skopeo and run by the real engine.

use crate::support::docker::{self, Dockerd};
use crate::support::skip;
use crate::support::{ActionRun, Outcome, output_with_timeout};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const EPOCH: &str = "1700000000";

/// The fixture tree for files builds.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/build/files")
}

/// Runs the binary as a CLI with `args`, optionally with `SOURCE_DATE_EPOCH`.
pub fn cli(args: &[&str], epoch: Option<&str>) -> Outcome {
    let mut run = ActionRun::cli(args.iter().copied()).env("PATH", "/usr/bin:/bin");
    if let Some(e) = epoch {
        run = run.env("SOURCE_DATE_EPOCH", e);
    }
    run.run()
}

/// The digest a build printed last.
pub fn last_line(out: &Outcome) -> String {
    assert_eq!(out.code, 0, "build failed:\n{}", out.log());
    let digest = out.stdout.lines().last().unwrap_or_default().to_owned();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "last line is not a digest:\n{}", out.log());
    digest
}

/// Runs skopeo (bounded to 60 s) and returns stdout, panicking with stderr on failure.
pub fn skopeo(args: &[&str]) -> String {
    let mut cmd = Command::new("skopeo");
    cmd.arg("--insecure-policy").args(args);
    let out = output_with_timeout(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Loads `oci:DIR:TAG` into the engine as `image` (skopeo → docker-archive → `docker load`).
pub fn load(engine: &Dockerd, layout: &str, image: &str) {
    let archive = tempfile::tempdir().unwrap();
    let tar = archive.path().join("image.tar");
    skopeo(&["copy", "-q", layout, &format!("docker-archive:{}:{image}", tar.display())]);
    docker_cli(engine, &["load", "-q", "-i", &tar.display().to_string()]);
}

/// Runs the docker CLI against the test engine (bounded to 120 s); stdout, or a panic with stderr.
pub fn docker_cli(engine: &Dockerd, args: &[&str]) -> String {
    let mut cmd = engine.cli();
    cmd.args(args);
    let out = output_with_timeout(cmd, Duration::from_secs(120));
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn skopeo_available() -> bool {
    skip::unless(docker::which("skopeo").is_some(), "skopeo")
}

#[test]
fn files_image_on_scratch_runs_in_the_engine() {
    let Some(engine) = docker::require() else { return };
    if !skopeo_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = format!("oci:{}/img:v1", dir.path().display());
    let www = format!("{}/www/:/srv/www/", fixtures().display());
    let started = Instant::now();
    let out = cli(
        &[
            "build",
            "--builder",
            "files",
            "--add",
            "/bin/busybox:/bin/busybox",
            "--add",
            &www,
            "--entrypoint",
            "/bin/busybox",
            "--cmd",
            "echo,hello",
            "--env",
            "GREETING=hi there",
            "--workdir",
            "/srv/www",
            "--label",
            "org.opencontainers.image.title=demo",
            "--output",
            &layout,
        ],
        Some(EPOCH),
    );
    let digest = last_line(&out);
    eprintln!("files builder, busybox + static dir: {:?}", started.elapsed());

    let inspect: serde_json::Value = serde_json::from_str(&skopeo(&["inspect", &layout])).unwrap();
    assert_eq!(inspect["Digest"], digest.as_str());
    assert_eq!(inspect["Created"], "2023-11-14T22:13:20Z");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(inspect["Labels"]["org.opencontainers.image.title"], "demo");

    load(engine, &layout, "deploy-action-test/files:v1");
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm", "--network", "none"];
        all.extend(args);
        docker_cli(engine, &all)
    };
    assert_eq!(run(&["deploy-action-test/files:v1"]), "hello\n");
    assert_eq!(run(&["deploy-action-test/files:v1", "cat", "index.html"]), "<h1>hello from files</h1>\n");
    assert_eq!(
        run(&["deploy-action-test/files:v1", "sh", "-c", "echo $GREETING; ./run.sh"]),
        "hi there\nrun.sh says hi\n"
    );
    let ls = run(&["deploy-action-test/files:v1", "ls", "-ln", "/srv/www"]);
    assert!(
        ls.lines().any(|l| l.starts_with("-rwxr-xr-x") && l.contains(" 0 ") && l.ends_with("run.sh")),
        "{ls}"
    );
    assert!(ls.lines().any(|l| l.starts_with("-rw-r--r--") && l.ends_with("index.html")), "{ls}");
}

fn build_to(dir: &Path, epoch: Option<&str>, src: &Path) -> String {
    last_line(&build_api(&format!("oci:{}", dir.display()), epoch, src))
}

/// A files build of `src` as the api binary plus the www fixtures, written to `output`.
fn build_api(output: &str, epoch: Option<&str>, src: &Path) -> Outcome {
    let add = format!("{}:/usr/local/bin/api", src.display());
    let www = format!("{}/www/:/srv/www/", fixtures().display());
    cli(
        &[
            "build",
            "--builder",
            "files",
            "--add",
            &add,
            "--add",
            &www,
            "--platform",
            "linux/amd64",
            "--output",
            output,
        ],
        epoch,
    )
}

fn diff_ids(layout: &Path, manifest: &str) -> Vec<String> {
    let blob =
        |d: &str| std::fs::read(layout.join("blobs/sha256").join(d.trim_start_matches("sha256:"))).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&blob(manifest)).unwrap();
    let c: serde_json::Value =
        serde_json::from_slice(&blob(m["config"]["digest"].as_str().unwrap())).unwrap();
    c["rootfs"]["diff_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

#[test]
fn source_date_epoch_makes_builds_reproducible() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("api");
    std::fs::write(&src, "#!/bin/sh\necho api\n").unwrap();
    let a = build_to(&work.path().join("a"), Some(EPOCH), &src);
    // A new modification time changes nothing when the epoch is fixed.
    std::fs::File::options()
        .append(true)
        .open(&src)
        .unwrap()
        .set_modified(std::time::SystemTime::UNIX_EPOCH)
        .unwrap();
    let b = build_to(&work.path().join("b"), Some(EPOCH), &src);
    assert_eq!(a, b, "same inputs and SOURCE_DATE_EPOCH must give the same digest");
    let c = build_to(&work.path().join("c"), Some("1700000001"), &src);
    assert_ne!(a, c, "another epoch is another image");

    // Without an epoch the files' own times count: equal times, equal layers; new times, new layers.
    let d = build_to(&work.path().join("d"), None, &src);
    let e = build_to(&work.path().join("e"), None, &src);
    assert_eq!(diff_ids(&work.path().join("d"), &d), diff_ids(&work.path().join("e"), &e));
    std::fs::File::options()
        .append(true)
        .open(&src)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    let f = build_to(&work.path().join("f"), None, &src);
    let (de, fe) = (diff_ids(&work.path().join("d"), &d), diff_ids(&work.path().join("f"), &f));
    assert_ne!(de[0], fe[0], "the binary's layer changed with its mtime");
    assert_eq!(de[1], fe[1], "the untouched directory's layer did not");
}

#[test]
fn several_platforms_make_one_index_with_each_platforms_files() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("multi");
    let add = format!("{}/target/{{arch}}/api:/usr/local/bin/api", fixtures().display());
    let out = cli(
        &[
            "build",
            "--builder",
            "files",
            "--add",
            &add,
            "--platform",
            "linux/amd64,linux/arm64",
            "--entrypoint",
            "/usr/local/bin/api",
            "--output",
            &format!("oci:{}:multi", dir.display()),
        ],
        Some(EPOCH),
    );
    let digest = last_line(&out);
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());
    assert_eq!(index["manifests"][0]["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "multi");

    let blob =
        |d: &str| std::fs::read(dir.join("blobs/sha256").join(d.trim_start_matches("sha256:"))).unwrap();
    let image_index: serde_json::Value = serde_json::from_slice(&blob(&digest)).unwrap();
    let arches: Vec<&str> = image_index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    let mut contents = Vec::new();
    for m in image_index["manifests"].as_array().unwrap() {
        let manifest: serde_json::Value =
            serde_json::from_slice(&blob(m["digest"].as_str().unwrap())).unwrap();
        let layer = blob(manifest["layers"][0]["digest"].as_str().unwrap());
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&layer[..]));
        let mut entry =
            tar.entries().unwrap().map(Result::unwrap).find(|e| e.path().unwrap().ends_with("api")).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        contents.push(text);
    }
    assert_eq!(contents, ["api built for amd64\n", "api built for arm64\n"]);

    if !skopeo_available() {
        return;
    }
    let layout = format!("oci:{}:multi", dir.display());
    let raw: serde_json::Value = serde_json::from_str(&skopeo(&["inspect", "--raw", &layout])).unwrap();
    assert_eq!(raw, image_index);
    let arm: serde_json::Value =
        serde_json::from_str(&skopeo(&["--override-arch", "arm64", "inspect", &layout])).unwrap();
    assert_eq!(arm["Architecture"], "arm64");
}

#[test]
fn runner_inputs_build_and_report() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("layout");
    let out = ActionRun::action()
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .input("command", "build")
        .input("builder", "files")
        .input("add", &format!("/bin/busybox:/bin/busybox\n{}/www/:/srv/www/", fixtures().display()))
        .input("image-entrypoint", "/bin/busybox")
        .input("cmd", r#"["echo", "a, b"]"#)
        .input("exposed-ports", "8080")
        .input("no-cache", "false")
        .input("output", &format!("oci:{}:v1", dir.display()))
        .run();
    assert_eq!(out.code, 0, "{}", out.log());
    let digest = out.output("digest");
    assert!(digest.starts_with("sha256:"));
    assert_eq!(out.output("layout"), dir.display().to_string());
    assert!(out.summary.contains("| Builder | Platform(s) | Digest | Size |"), "{}", out.summary);
    assert!(out.summary.contains(&format!("| files | linux/amd64 | `{digest}` |")), "{}", out.summary);
    assert!(dir.join("oci-layout").is_file());
}

#[test]
fn bad_inputs_fail_before_anything_is_written() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("layout");
    let output = format!("oci:{}", dir.display());
    for (add, platform, expect) in [
        (
            "/bin/busybox:bin/busybox",
            "linux/amd64",
            "invalid input `add`: \"/bin/busybox:bin/busybox\" needs an absolute DST",
        ),
        (
            "/nonexistent/api:/api",
            "linux/amd64",
            "invalid input `add`: \"/nonexistent/api:/api\" has a source that does not exist",
        ),
        (
            "/bin/busybox:/bin/busybox",
            "linux-amd64",
            "invalid input `platforms`: \"linux-amd64\" must be os/arch",
        ),
    ] {
        let out = ActionRun::action()
            .input("command", "build")
            .input("add", add)
            .input("platforms", platform)
            .input("output", &output)
            .run();
        assert_eq!(out.code, 2, "{}", out.log());
        assert!(out.stdout.contains(expect), "{}", out.stdout);
        assert!(!dir.exists(), "nothing may be written on bad input");
        assert!(out.output_file.is_empty());
    }
}

#[test]
fn an_oci_layout_is_a_base_for_the_next_build() {
    let Some(engine) = docker::require() else { return };
    if !skopeo_available() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let base = format!("oci:{}:base", work.path().join("base").display());
    last_line(&cli(
        &[
            "build",
            "--builder",
            "files",
            "--add",
            "/bin/busybox:/bin/busybox",
            "--entrypoint",
            "/bin/busybox",
            "--cmd",
            "echo,hello",
            "--env",
            "A=1",
            "--output",
            &base,
        ],
        Some(EPOCH),
    ));
    let app = format!("oci:{}:app", work.path().join("app").display());
    let www = format!("{}/www/:/srv/www/", fixtures().display());
    let digest = last_line(&cli(
        &[
            "build",
            "--builder",
            "files",
            "--base",
            &base,
            "--add",
            &www,
            "--cmd",
            "sh,-c,cat /srv/www/index.html; echo A=$A",
            "--output",
            &app,
        ],
        Some(EPOCH),
    ));
    let layers = diff_ids(&work.path().join("app"), &digest);
    assert_eq!(layers.len(), 2, "the base's layer, then ours");
    load(engine, &app, "deploy-action-test/on-base:v1");
    assert_eq!(
        docker_cli(engine, &["run", "--rm", "--network", "none", "deploy-action-test/on-base:v1"]),
        "<h1>hello from files</h1>\nA=1\n"
    );
}

#[test]
fn the_output_layout_never_goes_into_its_own_layers() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("app.txt"), "app").unwrap();
    let layout = work.path().join("out");
    for _ in 0..2 {
        let digest = last_line(&cli(
            &[
                "build",
                "--builder",
                "files",
                "--add",
                &format!("{}:/app/", work.path().display()),
                "--output",
                &format!("oci:{}", layout.display()),
            ],
            Some(EPOCH),
        ));
        let blob = |d: &str| {
            std::fs::read(layout.join("blobs/sha256").join(d.trim_start_matches("sha256:"))).unwrap()
        };
        let manifest: serde_json::Value = serde_json::from_slice(&blob(&digest)).unwrap();
        let layer = blob(manifest["layers"][0]["digest"].as_str().unwrap());
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&layer[..]));
        let names: Vec<String> =
            tar.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["app/", "app/app.txt"]);
    }
}

#[test]
fn output_may_name_registry_references_the_build_is_pushed_to() {
    let reg = crate::support::registry::TestRegistry::start(crate::support::registry::Auth::None);
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let src = work.path().join("api");
    std::fs::write(&src, "#!/bin/sh\necho api\n").unwrap();
    let local = build_to(&layout, Some(EPOCH), &src);
    let dests = format!("{h}/org/api:v1,{h}/org/api:latest", h = reg.host);
    let out = build_api(&dests, Some(EPOCH), &src);
    let pushed = last_line(&out);
    assert_eq!(pushed, local, "the pushed image differs from the same build into a layout");
    for tag in ["v1", "latest"] {
        assert_eq!(crate::support::registry::pull_and_verify(&reg.host, "org/api", tag, None), pushed);
    }
    let bad = build_api("oci:a,oci:b", None, &src);
    assert_eq!(bad.code, 2, "{}", bad.log());
    assert!(bad.log().contains("more than one oci: layout"), "{}", bad.log());
}
