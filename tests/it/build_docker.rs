//! `build --builder docker`: Dockerfiles built by the real engine through the Engine API,
//! exported to OCI layouts that skopeo reads and the engine runs again.

use crate::build_files::{cli, docker_cli, fixtures, last_line, load, skopeo};
use crate::support::docker::{self, Dockerd};
use crate::support::skip;
use crate::support::{ActionRun, Outcome};
use std::path::Path;
use std::time::Instant;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn build(engine: &Dockerd, context: &Path, output: &Path, inputs: &[(&str, &str)]) -> Outcome {
    let mut run = ActionRun::action()
        .env("DOCKER_HOST", &engine.host)
        .input("command", "build")
        .input("context", &context.display().to_string())
        .input("pull", "false")
        .input("output", &format!("oci:{}:test", output.display()));
    for (k, v) in inputs {
        run = run.input(k, v);
    }
    run.run()
}

fn multi_stage_context(dir: &Path, image: &str) {
    write(
        dir,
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM {image} AS build\nARG NAME=nobody\nWORKDIR /src\nCOPY . .\n\
                     RUN echo \"hello $NAME\" > /greeting && ls /src | sort > /files.txt\n\
                     RUN echo '::warning::from the build'\n\
                     FROM {image} AS runtime\nCOPY --from=build /greeting /files.txt /out/\n\
                     LABEL stage=runtime\nCMD [\"sh\", \"-c\", \"cat /out/greeting /out/files.txt\"]\n"
                ),
            ),
            (".dockerignore", "# not sent\nsecret.txt\n*.log\n!keep.log\n**/node_modules\n"),
            ("app.txt", "app"),
            ("secret.txt", "do not send"),
            ("debug.log", "noise"),
            ("keep.log", "kept by an exception"),
            ("web/node_modules/x.js", "x"),
        ],
    );
}

#[test]
fn dockerfile_builds_run_and_export_to_a_layout_that_runs_again() {
    let Some(engine) = docker::require() else { return };
    let image = engine.job_image();
    let work = tempfile::tempdir().unwrap();
    let ctx = work.path().join("ctx");
    multi_stage_context(&ctx, image);
    let layout = work.path().join("layout");
    let started = Instant::now();
    let out = build(
        engine,
        &ctx,
        &layout,
        &[("builder", "docker"), ("build-args", "NAME=world"), ("labels", "org.example=1")],
    );
    assert_eq!(out.code, 0, "{}", out.log());
    eprintln!("docker builder, multi-stage: {:?}", started.elapsed());
    assert!(out.stdout.contains("::group::docker build (classic builder"), "{}", out.stdout);
    // Debian's docker.io 20.10 sends no Builder-Version in /_ping: the log says so.
    assert!(
        out.stdout.contains("classic builder (version=1): Docker/20.10")
            && out.stdout.contains("advertises no BuildKit (no Builder-Version header in /_ping)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Step 1/"), "{}", out.stdout);
    // Workflow commands printed by the build are not obeyed: they sit between stop-commands
    // markers, and each such line is also indented so it cannot start a command.
    let pos =
        |needle: &str| out.stdout.find(needle).unwrap_or_else(|| panic!("no {needle:?} in\n{}", out.stdout));
    let stop = pos("::stop-commands::");
    let token = out.stdout[stop + 17..].lines().next().unwrap().to_owned();
    assert!(
        stop < pos("\n ::warning::from the build")
            && pos("\n ::warning::from the build") < pos(&format!("::{token}::"))
    );
    let id = out.output("image-id").to_owned();
    let expected = "hello world\nDockerfile\napp.txt\nkeep.log\nweb\n";
    assert_eq!(docker_cli(engine, &["run", "--rm", "--network", "none", &id]), expected);
    let labels = docker_cli(engine, &["inspect", "--format", "{{json .Config.Labels}}", &id]);
    assert!(labels.contains(r#""org.example":"1""#) && labels.contains(r#""stage":"runtime""#), "{labels}");
    assert!(out.summary.contains("| docker (classic builder"), "{}", out.summary);

    if !skip::unless(docker::which("skopeo").is_some(), "skopeo") {
        return;
    }
    let oci = format!("oci:{}:test", layout.display());
    let inspect: serde_json::Value = serde_json::from_str(&skopeo(&["inspect", &oci])).unwrap();
    assert_eq!(inspect["Digest"], out.output("digest"));
    // The config is kept byte for byte, so the engine's image id survives the round trip.
    let raw: serde_json::Value = serde_json::from_str(&skopeo(&["inspect", "--raw", &oci])).unwrap();
    assert_eq!(raw["config"]["digest"], id.as_str());
    assert!(
        raw["layers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip")
    );
    load(engine, &oci, "deploy-action-test/docker-built:roundtrip");
    assert_eq!(
        docker_cli(
            engine,
            &["run", "--rm", "--network", "none", "deploy-action-test/docker-built:roundtrip"]
        ),
        expected
    );

    // --target stops at a stage; a Dockerfile outside the context is sent along.
    let outside = work.path().join("Other.Dockerfile");
    std::fs::write(&outside, format!("FROM {image}\nCOPY app.txt /\nCMD [\"cat\", \"/app.txt\"]\n")).unwrap();
    let layout2 = work.path().join("layout2");
    let out = build(engine, &ctx, &layout2, &[("file", &outside.display().to_string())]);
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(out.stdout.contains("builder auto: the Docker engine at unix://"), "{}", out.stdout);
    assert_eq!(docker_cli(engine, &["run", "--rm", "--network", "none", out.output("image-id")]), "app");
    let layout3 = work.path().join("layout3");
    let out = build(engine, &ctx, &layout3, &[("target", "build"), ("build-args", "NAME=stage")]);
    assert_eq!(out.code, 0, "{}", out.log());
    let id = out.output("image-id");
    assert_eq!(
        docker_cli(engine, &["run", "--rm", "--network", "none", id, "cat", "/greeting"]),
        "hello stage\n"
    );
}

#[test]
fn a_failing_instruction_names_itself_and_writes_no_layout() {
    let Some(engine) = docker::require() else { return };
    let work = tempfile::tempdir().unwrap();
    let ctx = work.path().join("ctx");
    write(
        &ctx,
        &[("Dockerfile", &format!("FROM {}\nRUN true\nRUN false\nRUN echo never\n", engine.job_image()))],
    );
    let layout = work.path().join("layout");
    let out = build(engine, &ctx, &layout, &[("builder", "docker")]);
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(
        out.stdout.contains("::error title=deploy-action failed::Step 3/4 : RUN false failed: The command '/bin/sh -c false' returned a non-zero code: 1"),
        "{}",
        out.stdout
    );
    assert!(!layout.exists(), "a failed build leaves no layout");
    assert!(out.output_file.is_empty());

    write(&ctx, &[("Dockerfile", "FROM scratch\nFOO bar\n")]);
    let out = build(engine, &ctx, &layout, &[("builder", "docker")]);
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stdout.to_lowercase().contains("unknown instruction: foo"), "{}", out.stdout);
    assert!(!layout.exists());
}

#[test]
fn a_dockerfile_without_an_engine_explains_why() {
    let work = tempfile::tempdir().unwrap();
    write(work.path(), &[("Dockerfile", "FROM scratch\n")]);
    let layout = work.path().join("layout");
    let out = ActionRun::action()
        .env("DOCKER_HOST", &format!("unix://{}/no-engine.sock", work.path().display()))
        .input("command", "build")
        .input("context", &work.path().display().to_string())
        .input("output", &format!("oci:{}", layout.display()))
        .run();
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(
        out.stdout.contains("Forgejo's runner gives job containers no Docker socket by default"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("no Docker engine at unix://"), "{}", out.stdout);
    assert!(!layout.exists());
}

#[test]
fn the_same_tiny_image_from_both_builders() {
    let Some(engine) = docker::require() else { return };
    let work = tempfile::tempdir().unwrap();
    let ctx = work.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    write(
        &ctx,
        &[(
            "Dockerfile",
            "FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\nCMD [\"echo\", \"hello\"]\n",
        )],
    );
    let started = Instant::now();
    let docker = build(engine, &ctx, &work.path().join("d"), &[("builder", "docker"), ("no-cache", "true")]);
    let docker_time = started.elapsed();
    assert_eq!(docker.code, 0, "{}", docker.log());
    let started = Instant::now();
    let files = cli(
        &[
            "build",
            "--builder",
            "files",
            "--add",
            &format!("{}/busybox:/bin/busybox", ctx.display()),
            "--entrypoint",
            "/bin/busybox",
            "--cmd",
            "echo,hello",
            "--output",
            &format!("oci:{}", work.path().join("f").display()),
        ],
        Some("0"),
    );
    let files_time = started.elapsed();
    last_line(&files);
    eprintln!(
        "same busybox image: docker builder {docker_time:?} (build + export + gzip), files builder {files_time:?}"
    );
    assert_eq!(
        docker_cli(engine, &["run", "--rm", "--network", "none", docker.output("image-id")]),
        "hello\n"
    );
    let _ = fixtures();
}

#[test]
fn auto_takes_the_engine_when_it_answers_and_files_when_it_does_not() {
    let Some(engine) = docker::require() else { return };
    let work = tempfile::tempdir().unwrap();
    let ctx = work.path().join("ctx");
    write(
        &ctx,
        &[("Dockerfile", &format!("FROM {}\nCMD [\"echo\", \"from docker\"]\n", engine.job_image()))],
    );
    let both = |host: &str, layout: &Path| {
        ActionRun::action()
            .env("DOCKER_HOST", host)
            .input("command", "build")
            .input("context", &ctx.display().to_string())
            .input("add", "/bin/busybox:/bin/busybox")
            .input("image-entrypoint", "/bin/busybox")
            .input("cmd", "echo,from files")
            .input("output", &format!("oci:{}:auto", layout.display()))
            .run()
    };
    let out = both(&engine.host, &work.path().join("with-engine"));
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(out.stdout.contains("builder auto: the Docker engine at unix://"), "{}", out.stdout);
    assert_eq!(
        docker_cli(engine, &["run", "--rm", "--network", "none", out.output("image-id")]),
        "from docker\n"
    );

    let missing = format!("unix://{}/none.sock", work.path().display());
    let layout = work.path().join("without-engine");
    let out = both(&missing, &layout);
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(
        out.stdout.contains(&format!("builder auto: no Docker engine at {missing}"))
            && out.stdout.contains("files builder"),
        "{}",
        out.stdout
    );
    assert!(!out.outputs.contains_key("image-id"));
    load(engine, &format!("oci:{}:auto", layout.display()), "deploy-action-test/auto:files");
    assert_eq!(
        docker_cli(engine, &["run", "--rm", "--network", "none", "deploy-action-test/auto:files"]),
        "from files\n"
    );
}
