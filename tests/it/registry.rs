//! push / copy / inspect against a real `docker-registry`: no auth, basic auth, token auth.

use crate::support::ActionRun;
use crate::support::registry::{Auth, TestLayout, TestRegistry, docker_auth, layer, pull_and_verify};
use crate::support::token::{PUSHER, READER};

fn last_line(s: &str) -> &str {
    s.trim_end().lines().last().unwrap_or("")
}

fn small_image(dir: &std::path::Path) -> TestLayout {
    TestLayout::image(dir, &[layer(2000, false), layer(50_000, true), layer(300_000, false)])
}

#[test]
fn push_inspect_copy_without_auth() {
    let reg = TestRegistry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let img = small_image(tmp.path());
    let h = &reg.host;

    let out =
        ActionRun::cli(["push", &img.spec(), &format!("{h}/app/api:v1"), &format!("{h}/app/api:latest")])
            .run();
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(last_line(&out.stdout), img.digest);
    assert!(out.stdout.contains("4 uploaded, 0 mounted, 0 existing"), "{}", out.stdout);
    assert_eq!(pull_and_verify(h, "app/api", "v1", None), img.digest);
    assert_eq!(pull_and_verify(h, "app/api", "latest", None), img.digest);

    // Warm re-push: nothing uploaded.
    let out = ActionRun::cli(["push", &img.spec(), &format!("{h}/app/api:v1")]).run();
    assert!(out.stdout.contains("0 uploaded, 0 mounted, 4 existing"), "{}", out.log());

    let out = ActionRun::cli(["inspect", &format!("{h}/app/api:v1")]).run();
    assert_eq!((out.code, last_line(&out.stdout)), (0, img.digest.as_str()), "{}", out.log());

    let out = ActionRun::cli(["inspect", &format!("{h}/app/api:nope")]).run();
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stderr.contains(&format!("{h}/app/api:nope does not exist")), "{}", out.stderr);
    assert!(out.stdout.is_empty());

    // Same repository: a new tag, no blob moved. Another repository: mounted.
    let out = ActionRun::cli([
        "copy",
        &format!("{h}/app/api:v1"),
        &format!("{h}/app/api:stable"),
        &format!("{h}/app/web:v1"),
    ])
    .run();
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(last_line(&out.stdout), img.digest);
    assert!(out.stdout.contains("app/web [v1]: 0 uploaded, 4 mounted"), "{}", out.stdout);
    assert_eq!(pull_and_verify(h, "app/api", "stable", None), img.digest);
    assert_eq!(pull_and_verify(h, "app/web", "v1", None), img.digest);

    let out =
        ActionRun::cli(["inspect", "--list-tags", "--format", "json", &format!("{h}/app/api:v1")]).run();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["digest"], img.digest.as_str());
    let mut tags: Vec<String> = serde_json::from_value(json["tags"].clone()).unwrap();
    tags.sort();
    assert_eq!(tags, ["latest", "stable", "v1"]);
}

#[test]
fn action_pushes_an_index_and_a_tar_layout() {
    let reg = TestRegistry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let img = TestLayout::index(tmp.path());
    let h = &reg.host;
    let out = ActionRun::action()
        .input("command", "push")
        .input("source", &img.spec())
        .input("destinations", &format!("{h}/multi/app:1.0\n{h}/multi/app:1\n{h}/other/app:1.0"))
        .run();
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(out.output("digest"), img.digest);
    assert_eq!(out.output("images"), format!("{h}/multi/app:1.0\n{h}/multi/app:1\n{h}/other/app:1.0"));
    assert!(out.summary.contains(&img.digest));
    for (repo, tag) in [("multi/app", "1.0"), ("multi/app", "1"), ("other/app", "1.0")] {
        assert_eq!(pull_and_verify(h, repo, tag, None), img.digest);
    }

    // The same layout as a tar (what `--output type=oci,dest=x.tar` writes).
    let tar_path = tmp.path().join("image.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    for entry in ["oci-layout", "index.json", "blobs"] {
        let p = tmp.path().join(entry);
        if p.is_dir() {
            b.append_dir_all(entry, &p).unwrap()
        } else {
            b.append_path_with_name(&p, entry).unwrap()
        }
    }
    b.finish().unwrap();
    let out = ActionRun::cli([
        "push",
        &format!("oci-archive:{}", tar_path.display()),
        &format!("{h}/fromtar/app:x"),
    ])
    .run();
    assert_eq!((out.code, last_line(&out.stdout)), (0, img.digest.as_str()), "{}", out.log());
    assert_eq!(pull_and_verify(h, "fromtar/app", "x", None), img.digest);
}

#[test]
fn copy_across_registries_keeps_the_digest() {
    let a = TestRegistry::start(Auth::None);
    let b = TestRegistry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let img = TestLayout::index(tmp.path());
    let out = ActionRun::cli(["push", &img.spec(), &format!("{}/src/app:v1", a.host)]).run();
    assert_eq!(out.code, 0, "{}", out.log());
    let out = ActionRun::cli([
        "copy",
        &format!("{}/src/app@{}", a.host, img.digest),
        &format!("{}/dst/app:prod", b.host),
    ])
    .run();
    assert_eq!((out.code, last_line(&out.stdout)), (0, img.digest.as_str()), "{}", out.log());
    assert_eq!(pull_and_verify(&b.host, "dst/app", "prod", None), img.digest);
}

/// Docker media types, unknown fields, annotation order and whitespace survive a push and a
/// copy between registries: every manifest is served byte for byte as it was written.
#[test]
fn docker_manifest_lists_are_pushed_and_copied_byte_for_byte() {
    let a = TestRegistry::start(Auth::None);
    let b = TestRegistry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let (img, raw) = TestLayout::docker_list(tmp.path());
    let out = ActionRun::cli(["push", &img.spec(), &format!("{}/src/app:v1", a.host)]).run();
    assert_eq!((out.code, last_line(&out.stdout)), (0, img.digest.as_str()), "{}", out.log());
    let out =
        ActionRun::cli(["copy", &format!("{}/src/app:v1", a.host), &format!("{}/dst/app:prod", b.host)])
            .run();
    assert_eq!((out.code, last_line(&out.stdout)), (0, img.digest.as_str()), "{}", out.log());
    for (host, repo) in [(&a.host, "src/app"), (&b.host, "dst/app")] {
        for (digest, bytes) in &raw {
            let (media_type, served) = TestLayout::served_manifest(host, repo, digest);
            assert!(
                served == *bytes,
                "{host}/{repo}@{digest} changed:\n{}",
                String::from_utf8_lossy(&served)
            );
            assert!(media_type.starts_with("application/vnd.docker.distribution.manifest."), "{media_type}");
        }
    }
    assert_eq!(pull_and_verify(&b.host, "dst/app", "prod", None), img.digest);
}

#[test]
fn basic_auth_from_inputs_and_docker_config_never_leaks() {
    let (user, password) = ("ci-user", "Basic-Pa55-Secret");
    let reg = TestRegistry::start(Auth::Basic { user, password });
    let tmp = tempfile::tempdir().unwrap();
    let img = small_image(tmp.path());
    let h = &reg.host;
    let out = ActionRun::action()
        .input("command", "push")
        .input("source", &img.spec())
        .input("destinations", &format!("{h}/sec/app:v1"))
        .input("registry", h)
        .input("username", user)
        .input("password", password)
        .run();
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(out.stdout.contains("::add-mask::Basic-Pa55-Secret"));
    let no_mask: String = out.log().lines().filter(|l| !l.starts_with("::add-mask::")).collect();
    assert!(
        !no_mask.contains(password) && !out.summary.contains(password) && !out.output_file.contains(password)
    );
    assert_eq!(pull_and_verify(h, "sec/app", "v1", Some((user, password))), img.digest);

    // No credentials: a clear authentication error.
    let out = ActionRun::cli(["inspect", &format!("{h}/sec/app:v1")]).run();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("authentication failed") && out.stderr.contains("anonymous"),
        "{}",
        out.stderr
    );

    // A wrong password is refused and not printed.
    let out = ActionRun::cli([
        "inspect",
        "--username",
        user,
        "--password",
        "Wrong-Pa55-Value",
        &format!("{h}/sec/app:v1"),
    ])
    .run();
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("user \"ci-user\" was refused"), "{}", out.stderr);
    assert!(!out.log().contains("Wrong-Pa55-Value"), "{}", out.log());

    // Docker config (DOCKER_CONFIG) with a base64 `auth`.
    let cfg = tmp.path().join("docker");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.json"),
        format!(r#"{{"auths":{{"{h}":{{"auth":"{}"}}}}}}"#, docker_auth(user, password)),
    )
    .unwrap();
    let out = ActionRun::cli(["inspect", &format!("{h}/sec/app:v1")])
        .env("DOCKER_CONFIG", cfg.to_str().unwrap())
        .run();
    assert_eq!((out.code, last_line(&out.stdout)), (0, img.digest.as_str()), "{}", out.log());
}

#[test]
fn token_auth_enforces_scopes_caches_tokens_and_mounts() {
    let reg = TestRegistry::start(Auth::Token);
    let token = reg.token.as_ref().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let img = small_image(tmp.path());
    let h = &reg.host;
    let creds = |(u, p): (&str, &str)| {
        vec!["--username".to_owned(), u.to_owned(), "--password".to_owned(), p.to_owned()]
    };

    let mut args = vec!["push".to_owned(), img.spec(), format!("{h}/team/api:v1")];
    args.extend(creds(PUSHER));
    let out = ActionRun::cli(args).run();
    assert_eq!((out.code, last_line(&out.stdout)), (0, img.digest.as_str()), "{}\n{}", out.log(), reg.log());
    // One token for the push scope, reused for every blob and manifest.
    assert!(token.issued() <= 2, "tokens issued: {}", token.issued());
    assert_eq!(pull_and_verify(h, "team/api", "v1", Some(PUSHER)), img.digest);

    // A pull-only user can inspect but not push.
    let mut args = vec!["inspect".to_owned(), format!("{h}/team/api:v1")];
    args.extend(creds(READER));
    let out = ActionRun::cli(args).run();
    assert_eq!((out.code, last_line(&out.stdout)), (0, img.digest.as_str()), "{}", out.log());
    let other = small_image(&tmp.path().join("other"));
    let mut args = vec!["push".to_owned(), other.spec(), format!("{h}/team/api:v2")];
    args.extend(creds(READER));
    let out = ActionRun::cli(args).run();
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stderr.contains("user \"reader\" was refused"), "{}", out.stderr);
    assert!(!out.log().contains(READER.1));
    let out = ActionRun::cli(["inspect", &format!("{h}/team/api:v2")]).run();
    assert_eq!(out.code, 1);

    // Copy to another repository mounts, asking for both scopes in one token.
    let mut args = vec!["copy".to_owned(), format!("{h}/team/api:v1"), format!("{h}/team/web:v1")];
    args.extend(creds(PUSHER));
    let out = ActionRun::cli(args).run();
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(out.stdout.contains("4 mounted"), "{}", out.stdout);
    assert!(
        token
            .scopes()
            .iter()
            .any(|s| s.contains("repository:team/web:pull,push") && s.contains("repository:team/api:pull")),
        "{:?}",
        token.scopes()
    );
    assert_eq!(pull_and_verify(h, "team/web", "v1", Some(PUSHER)), img.digest);
    assert!(!out.log().contains(PUSHER.1));
}

#[test]
fn one_push_to_two_registries_and_two_repositories() {
    let a = TestRegistry::start(Auth::None);
    let b = TestRegistry::start(Auth::None);
    let tmp = tempfile::tempdir().unwrap();
    let img = small_image(tmp.path());
    let dests = [
        format!("{}/one/app:v1", a.host),
        format!("{}/two/app:v1", a.host),
        format!("{}/one/app:v1", b.host),
    ];
    let out =
        ActionRun::cli(["push", "--format", "json", &img.spec(), &dests[0], &dests[1], &dests[2]]).run();
    assert_eq!(out.code, 0, "{}", out.log());
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["digest"], img.digest.as_str());
    let per_repo: Vec<(String, u64, u64)> = json["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["repository"].as_str().unwrap().to_owned(),
                d["uploaded"].as_u64().unwrap(),
                d["mounted"].as_u64().unwrap(),
            )
        })
        .collect();
    // The second repository of a registry mounts from the first.
    assert!(per_repo.contains(&(format!("{}/two/app", a.host), 0, 4)), "{per_repo:?}");
    assert!(per_repo.contains(&(format!("{}/one/app", b.host), 4, 0)), "{per_repo:?}");
    for (host, repo) in [(&a.host, "one/app"), (&a.host, "two/app"), (&b.host, "one/app")] {
        assert_eq!(pull_and_verify(host, repo, "v1", None), img.digest);
    }
}

#[test]
fn a_refused_token_is_fetched_again() {
    let reg = TestRegistry::start(Auth::Token);
    let token = reg.token.as_ref().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let img = small_image(tmp.path());
    let mut args = vec!["push".to_owned(), img.spec(), format!("{}/stale/app:v1", reg.host)];
    args.extend(["--username", PUSHER.0, "--password", PUSHER.1].map(String::from));
    let out = ActionRun::cli(args).run();
    assert_eq!(out.code, 0, "{}", out.log());
    let before = token.issued();
    token.issue_stale(1);
    let out = ActionRun::cli([
        "inspect",
        "--username",
        READER.0,
        "--password",
        READER.1,
        &format!("{}/stale/app:v1", reg.host),
    ])
    .run();
    assert_eq!((out.code, last_line(&out.stdout)), (0, img.digest.as_str()), "{}", out.log());
    assert_eq!(token.issued() - before, 2, "the stale token was not replaced");
}
