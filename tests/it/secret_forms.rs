//! No secret shows in any encoding: servers that echo the credentials they were sent (a token
//! service quoting `Authorization: Basic …`, a registry doing the same, a forge quoting the token,
//! a Dokploy quoting `x-api-key`) make `inspect`, `push`, `copy`, `build --base`, `record` and a
//! dokploy `deploy` fail, as a CLI and in a runner; stdout, stderr, the output file and the
//! summary must hold none of the secret's forms, and a runner must have been told to mask each.

use crate::forge_ops::OPS;
use crate::support::fake_forge::{FakeForge, Flavor};
use crate::support::http::{Canned, ScriptedServer};
use crate::support::registry::{Auth, TestLayout, TestRegistry, layer};
use crate::support::{ActionRun, Outcome};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use deploy_action::runner::escape_data;

/// A password that changes under every encoding (base64 alphabets differ on it, `@ / : " é +`
/// are percent-encoded, `"` and `é` JSON-escaped).
const PASSWORD: &str = "p@ss/w:rd\"é+x";
/// The registry user (the token server knows it; the password is wrong).
const USER: &str = "pusher";
/// A password that only a docker config `auth` field carries.
const CONFIG_PASSWORD: &str = "c0nf/ig:\"ü+y";
/// Header values must be ASCII: the forge token and the Dokploy key keep the other characters.
const TOKEN: &str = "tok/p@ss:w\"rd+x_0123";
const API_KEY: &str = "dok/k@y:\"q+x_5678";

/// Every byte but letters and digits as `%XX`.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// The forms of one secret (and of `user:secret` for a registry credential) that must not show.
fn forms(secret: &str, user: Option<&str>) -> Vec<(String, String)> {
    let mut forms = vec![("raw".to_owned(), secret.to_owned())];
    let mut b64 = |what: &str, text: &str| {
        for (alphabet, engine) in [
            ("standard", &STANDARD),
            ("standard, no pad", &STANDARD_NO_PAD),
            ("url-safe", &URL_SAFE),
            ("url-safe, no pad", &URL_SAFE_NO_PAD),
        ] {
            forms.push((format!("base64 {alphabet} of {what}"), engine.encode(text)));
        }
    };
    b64("the secret", secret);
    if let Some(user) = user {
        b64("user:password", &format!("{user}:{secret}"));
    }
    forms.push(("URL-encoded".to_owned(), percent(secret)));
    let json = serde_json::to_string(secret).unwrap();
    forms.push(("JSON-escaped".to_owned(), json[1..json.len() - 1].to_owned()));
    forms.sort();
    forms.dedup_by(|a, b| a.1 == b.1);
    forms
}

/// The one scan every case uses: no form of any of `secrets` in stdout (but its `::add-mask::`
/// lines), stderr, the output file or the summary; in a runner, an `::add-mask::` for each form,
/// and for `early` secrets (inputs, flags) before any other line.
fn assert_hidden(out: &Outcome, case: &str, secrets: &[(&str, Option<&str>)], early: usize, runner: bool) {
    let mut shown = String::new();
    for text in [&out.stdout, &out.stderr, &out.output_file, &out.summary] {
        for line in text.lines().filter(|l| !l.starts_with("::add-mask::")) {
            shown.push_str(line);
            shown.push('\n');
        }
    }
    let lines: Vec<&str> = out.stdout.lines().collect();
    let first_other = lines.iter().position(|l| !l.starts_with("::add-mask::")).unwrap_or(lines.len());
    for (i, (secret, user)) in secrets.iter().enumerate() {
        for (what, form) in forms(secret, *user) {
            assert!(!shown.contains(&form), "{case}: the {what} form `{form}` of a secret shows:\n{shown}");
            if runner {
                let mask = format!("::add-mask::{}", escape_data(&form));
                let at = lines.iter().position(|l| *l == mask);
                let at = at.unwrap_or_else(|| panic!("{case}: no `{mask}` ({what}):\n{}", out.stdout));
                assert!(
                    i >= early || at < first_other,
                    "{case}: `{mask}` comes after other lines:\n{}",
                    out.stdout
                );
            }
        }
    }
}

/// Runs `a` as a CLI and, with the same inputs, in a runner; both must fail, quote what the
/// server said (`quoted`, as the redacted echo) and show no secret.
fn both(
    case: &str,
    cli: ActionRun,
    action: ActionRun,
    secrets: &[(&str, Option<&str>)],
    early: usize,
    quoted: &str,
) {
    for (form, run, runner) in [("CLI", cli, false), ("runner", action, true)] {
        let out = run.run();
        let case = format!("{case} ({form})");
        assert_eq!(out.code, 1, "{case}: {}", out.log());
        assert!(
            out.log().contains(quoted),
            "{case}: the server's echo `{quoted}` is not quoted:\n{}",
            out.log()
        );
        assert_hidden(&out, &case, secrets, early, runner);
    }
}

fn creds() -> [&'static str; 4] {
    ["--username", USER, "--password", PASSWORD]
}

fn with_creds(a: ActionRun) -> ActionRun {
    a.input("username", USER).input("password", PASSWORD)
}

fn cli(args: &[&str]) -> ActionRun {
    ActionRun::cli(args.iter().copied().chain(creds()))
}

const PAIR: &[(&str, Option<&str>)] = &[(PASSWORD, Some(USER))];

#[test]
fn registry_commands_hide_a_password_a_token_service_echoes_as_basic() {
    let reg = TestRegistry::start(Auth::Token);
    reg.token.as_ref().unwrap().echo_credentials();
    let h = &reg.host;
    let work = tempfile::tempdir().unwrap();
    let img = TestLayout::image(&work.path().join("img"), &[layer(200, true)]);
    let (src, dst) = (format!("{h}/org/src:v1"), format!("{h}/org/dst:v1"));
    let quoted = "bad credentials Basic ***";

    both(
        "inspect",
        cli(&["inspect", &src]),
        with_creds(ActionRun::action().input("command", "inspect").input("reference", &src)),
        PAIR,
        1,
        quoted,
    );
    both(
        "push",
        cli(&["push", &img.spec(), &dst]),
        with_creds(
            ActionRun::action()
                .input("command", "push")
                .input("source", &img.spec())
                .input("destinations", &dst),
        ),
        PAIR,
        1,
        quoted,
    );
    both(
        "copy",
        cli(&["copy", &src, &dst]),
        with_creds(
            ActionRun::action().input("command", "copy").input("source", &src).input("destinations", &dst),
        ),
        PAIR,
        1,
        quoted,
    );
    std::fs::write(work.path().join("hello"), "hi\n").unwrap();
    let add = format!("{}:/hello", work.path().join("hello").display());
    let out_dir = format!("oci:{}", work.path().join("out").display());
    let base = format!("{h}/org/base:v1");
    // The pair goes to a base image's registry only when `registry` names it.
    both(
        "build --base",
        cli(&[
            "build",
            "--builder",
            "files",
            "--base",
            &base,
            "--add",
            &add,
            "--output",
            &out_dir,
            "--registry",
            h,
        ]),
        with_creds(
            ActionRun::action()
                .input("command", "build")
                .input("builder", "files")
                .input("base", &base)
                .input("add", &add)
                .input("output", &out_dir)
                .input("registry", h),
        ),
        PAIR,
        1,
        quoted,
    );

    // A docker config's `auth` field: its password is decoded and hidden in every form too.
    let cfg = work.path().join("docker");
    std::fs::create_dir_all(&cfg).unwrap();
    let auth = STANDARD.encode(format!("{USER}:{CONFIG_PASSWORD}"));
    std::fs::write(cfg.join("config.json"), serde_json::json!({"auths": {h: {"auth": auth}}}).to_string())
        .unwrap();
    let cfg = cfg.to_str().unwrap();
    both(
        "inspect, docker config",
        ActionRun::cli(["inspect", &src]).env("DOCKER_CONFIG", cfg),
        ActionRun::action().input("command", "inspect").input("reference", &src).env("DOCKER_CONFIG", cfg),
        &[(CONFIG_PASSWORD, Some(USER))],
        0,
        quoted,
    );
}

#[test]
fn a_registry_that_echoes_the_basic_header_shows_no_form_of_the_password() {
    let server = ScriptedServer::start(vec![
        Canned::new(
            401,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials {authorization}"}]}"#,
        )
        .header("www-authenticate", "Basic realm=\"echo\""),
    ]);
    // `copy` GETs the source manifest (`inspect` asks with HEAD: no body to echo in).
    let host = server.url.trim_start_matches("http://");
    let (src, dst) = (format!("{host}/org/app:v1"), format!("{host}/org/copy:v1"));
    both(
        "copy, basic registry",
        cli(&["copy", &src, &dst]),
        with_creds(
            ActionRun::action().input("command", "copy").input("source", &src).input("destinations", &dst),
        ),
        PAIR,
        1,
        "bad credentials Basic ***",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forge_that_echoes_the_token_shows_no_form_of_it() {
    let fake = FakeForge::start(Flavor::Github).await;
    fake.add_repo(OPS);
    fake.echo_credentials();
    let api = fake.api_url();
    tokio::task::spawn_blocking(move || {
        both(
            "record",
            ActionRun::cli([
                "record",
                "--repository",
                OPS,
                "--versions",
                "api=1.2.4",
                "--token",
                TOKEN,
                "--api-url",
                &api,
            ]),
            ActionRun::action()
                .env("GITHUB_API_URL", &api)
                .input("command", "record")
                .input("repository", OPS)
                .input("token", TOKEN)
                .input("api_image_tag", "1.2.4"),
            &[(TOKEN, None)],
            1,
            "(Authorization: ",
        );
    })
    .await
    .unwrap();
}

#[test]
fn a_dokploy_that_echoes_the_api_key_shows_no_form_of_it() {
    let server = ScriptedServer::start(vec![Canned::new(401, r#"{"message":"bad key {json:x-api-key}"}"#)]);
    let path = std::env::var("PATH").unwrap_or_default();
    let args = [
        "deploy",
        "--environment",
        "production",
        "--versions",
        "api=1.0",
        "--target",
        "dokploy",
        "--dokploy-url",
        &server.url,
        "--api-key",
        API_KEY,
        "--dokploy-compose-ids",
        "c-api",
    ];
    both(
        "deploy dokploy",
        ActionRun::cli(args).env("PATH", &path),
        ActionRun::action()
            .env("PATH", &path)
            .input("command", "deploy")
            .input("environment", "production")
            .input("versions", "api=1.0")
            .input("target", "dokploy")
            .input("dokploy-url", &server.url)
            .input("api-key", API_KEY)
            .input("dokploy-compose-ids", "c-api"),
        &[(API_KEY, None)],
        1,
        "bad key ***",
    );
}
