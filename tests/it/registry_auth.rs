//! Credentials per registry against two real `docker-registry` processes (htpasswd, different
//! users and passwords); registry B sits behind a proxy that records every `Authorization`
//! header it forwards, so the tests see what B was actually sent.

use crate::support::ActionRun;
use crate::support::proxy::FaultProxy;
use crate::support::registry::{Auth, TestLayout, TestRegistry, docker_auth, layer, pull_and_verify};

const A: (&str, &str) = ("alice", "Alpha-Pa55-One");
const B: (&str, &str) = ("bob", "Bravo-Pa55-Two");

/// Registry A holding `src/app:v1`, registry B behind a recording proxy.
struct Two {
    a: TestRegistry,
    b: TestRegistry,
    proxy: FaultProxy,
    digest: String,
    _tmp: tempfile::TempDir,
}

fn two_registries() -> Two {
    let a = TestRegistry::start(Auth::Basic { user: A.0, password: A.1 });
    let b = TestRegistry::start(Auth::Basic { user: B.0, password: B.1 });
    let proxy = FaultProxy::start(&b.host, Vec::new());
    let tmp = tempfile::tempdir().unwrap();
    let img = TestLayout::image(tmp.path(), &[layer(3000, true)]);
    let line = format!("registry={},username={},password={}", a.host, A.0, A.1);
    let out =
        ActionRun::cli(["push", "--registry-auth", &line, &img.spec(), &format!("{}/src/app:v1", a.host)])
            .run();
    assert_eq!(out.code, 0, "{}", out.log());
    Two { a, b, proxy, digest: img.digest.clone(), _tmp: tmp }
}

/// Every form a password (and its `user:password` pair) may be printed in.
fn forms((user, password): (&str, &str)) -> Vec<String> {
    let mut all = vec![password.to_owned(), docker_auth(user, password)];
    all.extend(deploy_action::secret::derived_forms(password));
    all.extend(deploy_action::secret::base64_forms(&format!("{user}:{password}")));
    all
}

fn assert_never_printed(log: &str, creds: (&str, &str)) {
    let printed: String =
        log.lines().filter(|l| !l.starts_with("::add-mask::")).collect::<Vec<_>>().join("\n");
    for f in forms(creds) {
        assert!(!printed.contains(&f), "{f:?} printed:\n{printed}");
    }
}

#[test]
fn registry_auth_lines_send_each_credential_to_its_own_registry() {
    let t = two_registries();
    let (a, b) = (&t.a.host, &t.proxy.host);
    let out = ActionRun::action()
        .input("command", "copy")
        .input("source", &format!("{a}/src/app:v1"))
        .input("destinations", &format!("{b}/dst/app:prod"))
        .input(
            "registry-auth",
            &format!(
                "registry={a},username={},password={}\nregistry={b},username={},password={}",
                A.0, A.1, B.0, B.1
            ),
        )
        .run();
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(pull_and_verify(&t.b.host, "dst/app", "prod", Some(B)), t.digest);
    assert!(
        out.stdout.contains(&format!("registry credentials for {a}: `registry-auth` line 1")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("registry credentials for {b}: `registry-auth` line 2")),
        "{}",
        out.stdout
    );
    // B was sent B's credential, and only it.
    let sent = t.proxy.authorizations();
    assert!(!sent.is_empty(), "{:?}", t.proxy.log());
    let expected = format!("Basic {}", docker_auth(B.0, B.1));
    assert!(sent.iter().all(|h| *h == expected), "{sent:?}");
    for creds in [A, B] {
        assert_never_printed(&out.log(), creds);
        assert!(!out.summary.contains(creds.1) && !out.output_file.contains(creds.1));
    }
}

#[test]
fn the_single_pair_goes_to_the_named_registry_only() {
    let t = two_registries();
    let (a, b) = (&t.a.host, &t.proxy.host);
    let out = ActionRun::action()
        .input("command", "copy")
        .input("source", &format!("{a}/src/app:v1"))
        .input("destinations", &format!("{b}/dst/app:prod"))
        .input("registry", a)
        .input("username", A.0)
        .input("password", A.1)
        .run();
    assert_eq!(out.code, 1, "{}", out.log());
    // A's manifest was read (the pair worked there); B refused an anonymous push, named.
    assert!(
        out.stdout
            .contains(&format!("registry credentials for {a}: `username`/`password` (named in `registry`)"))
    );
    assert!(out.log().contains(&format!("{b}: authentication failed")), "{}", out.log());
    assert!(out.log().contains("anonymous access was refused (HTTP 401"), "{}", out.log());
    assert!(out.log().contains("add a `registry-auth` line"), "{}", out.log());
    assert!(!t.proxy.log().is_empty(), "B was never reached");
    let sent = t.proxy.authorizations();
    for f in forms(A) {
        assert!(sent.iter().all(|h| !h.contains(&f)), "A's password went to B: {sent:?}");
    }
    assert!(sent.is_empty(), "B got credentials it was not given: {sent:?}");
    assert_never_printed(&out.log(), A);
}

/// Without `registry`, the pair goes to the first destination; the source's credential comes
/// from the docker config, whose entry for B (a stale password) the pair overrides.
#[test]
fn the_pair_defaults_to_the_first_destination_over_docker_config() {
    let t = two_registries();
    let (a, b) = (&t.a.host, &t.proxy.host);
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(
        cfg.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{a}":{{"auth":"{}"}},"http://{b}":{{"auth":"{}"}}}}}}"#,
            docker_auth(A.0, A.1),
            docker_auth(B.0, "Stale-Pa55-Old")
        ),
    )
    .unwrap();
    let out = ActionRun::action()
        .env("DOCKER_CONFIG", cfg.path().to_str().unwrap())
        .input("command", "copy")
        .input("source", &format!("{a}/src/app:v1"))
        .input("destinations", &format!("{b}/dst/app:prod"))
        .input("username", B.0)
        .input("password", B.1)
        .run();
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(
        out.stdout.contains(&format!(
            "registry credentials for {b}: `username`/`password` (the first destination's registry)"
        )),
        "{}",
        out.stdout
    );
    let sent = t.proxy.authorizations();
    let expected = format!("Basic {}", docker_auth(B.0, B.1));
    assert!(!sent.is_empty() && sent.iter().all(|h| *h == expected), "{sent:?}");
    assert_eq!(pull_and_verify(&t.b.host, "dst/app", "prod", Some(B)), t.digest);
    for creds in [A, B, (B.0, "Stale-Pa55-Old")] {
        assert_never_printed(&out.log(), creds);
    }
}

#[test]
fn bad_registry_auth_is_refused_before_any_connection() {
    let t = two_registries();
    let b = &t.proxy.host;
    for (auth, rule) in [
        (format!("username={},password={}", B.0, B.1), "has no `registry=HOST`"),
        (format!("registry={b},password={}", B.1), "has a password without `username=`"),
        (
            format!("registry={b},username=x,password={}\nregistry={b},username=y,password={}", A.1, B.1),
            "second credential",
        ),
    ] {
        let out = ActionRun::action()
            .input("command", "copy")
            // Source and destination behind the proxy: any connection would show in its log.
            .input("source", &format!("{b}/src/app:v1"))
            .input("destinations", &format!("{b}/dst/app:prod"))
            .input("registry-auth", &auth)
            .run();
        assert_ne!(out.code, 0, "{}", out.log());
        assert!(
            out.log().contains("invalid input `registry-auth`") && out.log().contains(rule),
            "{}",
            out.log()
        );
        assert_never_printed(&out.log(), B);
        assert_never_printed(&out.log(), ("x", A.1));
    }
    assert!(t.proxy.log().is_empty(), "{:?}", t.proxy.log());
}

/// A docker config in `registry-auth` (what `docker/login-action` writes) with an
/// `identitytoken`: exchanged at the token service by a `refresh_token` POST, never printed.
#[test]
fn a_docker_config_identity_token_is_exchanged_for_a_token() {
    use crate::support::token::IDENTITY_TOKEN;
    let reg = TestRegistry::start(Auth::Token);
    let h = &reg.host;
    let tmp = tempfile::tempdir().unwrap();
    let img = TestLayout::image(tmp.path(), &[layer(2000, true)]);
    let config = |token: &str| {
        serde_json::json!({"auths": {h: {"auth": docker_auth("<token>", ""), "identitytoken": token}}})
            .to_string()
    };
    let out = ActionRun::action()
        .input("command", "push")
        .input("source", &img.spec())
        .input("destinations", &format!("{h}/idt/app:v1"))
        .input("registry-auth", &config(IDENTITY_TOKEN))
        .run();
    assert_eq!(out.code, 0, "{}", out.log());
    let token = reg.token.as_ref().unwrap();
    assert!(
        token.refreshed() > 0 && token.refreshed() == token.issued(),
        "{} of {}",
        token.refreshed(),
        token.issued()
    );
    assert!(out.stdout.contains("::add-mask::identity-Refresh-9d2c"), "{}", out.stdout);
    assert_never_printed(&out.log(), ("<token>", IDENTITY_TOKEN));

    let wrong = "identity-Wrong-0000";
    let out = ActionRun::action()
        .input("command", "inspect")
        .input("reference", &format!("{h}/idt/app:v1"))
        .input("registry-auth", &config(wrong))
        .run();
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(
        out.log().contains(&format!("{h}: authentication failed"))
            && out.log().contains("invalid refresh token"),
        "{}",
        out.log()
    );
    assert_never_printed(&out.log(), ("<token>", wrong));
}
