//! `target: dokploy` end to end through the real binary against the fake Dokploy
//! (`support/dokploy.rs`, modelled on Dokploy v0.30.2): `release` with the fake forge and the
//! real registry; `deploy` (no forge) for faults and errors.

use crate::forge_ops::{FILE, OPS, setup};
use crate::release::registry_with_versions;
use crate::release_faults::{release, run_within};
use crate::support::dokploy::{FakeDokploy, Request};
use crate::support::fake_forge::{FakeForge, Flavor};
use crate::support::http::{Canned, ScriptedServer};
use crate::support::registry::TestRegistry;
use crate::support::{ActionRun, Outcome};
use std::time::{Duration, Instant};

const KEY: &str = "dok_owner_key_9f8e7d6c5b";
/// The api compose's environment: odd but valid formatting, a secret, a comment after the tag.
const API_ENV: &str =
    "# shop\n\nDB_PASSWORD='p@ss w0rd#1'\nAPI_IMAGE_TAG=v1   # set by deploy-action\nexport LOG_LEVEL=info\n";
/// The web compose's environment: no final newline, no api tag.
const WEB_ENV: &str = "WEB_IMAGE_TAG=w1\nSECRET_KEY=k3y-value-77";

fn dokploy_with_shop(reg: &TestRegistry) -> FakeDokploy {
    let dok = FakeDokploy::start(KEY);
    let api = format!("{}/org/api:${{API_IMAGE_TAG}}", reg.host);
    dok.add_compose("c-api", "api", Some(API_ENV), &[("api", &api)]);
    dok.add_compose("c-web", "web", Some(WEB_ENV), &[("web", "nginx:1.27")]);
    dok
}

fn dokploy_release(fake: &FakeForge, reg: &TestRegistry, dok: &FakeDokploy, ids: &str) -> ActionRun {
    release(fake, &format!("api={}/org/api", reg.host), Flavor::Github)
        .input("target", "dokploy")
        .input("dokploy-url", &dok.url)
        .input("api-key", KEY)
        .input("dokploy-compose-ids", ids)
        .input("allow-downgrade", "true")
        .input("api_image_tag", "v2")
}

fn assert_hidden(out: &Outcome) {
    for secret in [KEY, "p@ss w0rd", "k3y-value-77"] {
        for line in out.log().lines().filter(|l| !l.starts_with("::add-mask::")) {
            assert!(!line.contains(secret), "{secret} shown: {line}");
        }
    }
}

fn of<'a>(reqs: &'a [Request], compose: &str, route: &str) -> Vec<&'a Request> {
    reqs.iter().filter(|r| r.compose.as_deref() == Some(compose) && r.route == route).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_sets_the_tags_in_each_compose_env_and_each_deployment_gates_the_next() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let (fake, _, _) = setup(Flavor::Github).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    let dok = dokploy_with_shop(&reg);
    // Longer than any fixed pause a client might take, so only the status can gate c-web.
    dok.set_duration("c-api", Duration::from_millis(1500));
    let health = ScriptedServer::start(vec![Canned::new(200, "web ok")]);
    let ids = format!("c-api\nc-web={}/health", health.url);
    let (out, took) = run_within(dokploy_release(&fake, &reg, &dok, &ids), Duration::from_secs(90)).await;
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v2\n"));

    // The changed key only; every other byte as it was (a new key appended in file style).
    assert_eq!(dok.env("c-api").unwrap(), API_ENV.replace("API_IMAGE_TAG=v1 ", "API_IMAGE_TAG=v2 "));
    assert_eq!(dok.env("c-web").unwrap(), format!("{WEB_ENV}\nAPI_IMAGE_TAG=v2"));
    assert_eq!(dok.running("c-api"), [("api".to_owned(), format!("{}/org/api:v2", reg.host))]);

    let api = dok.deployments("c-api");
    let web = dok.deployments("c-web");
    assert_eq!((api.len(), web.len()), (1, 1), "{api:?} {web:?}");
    assert_eq!((api[0].status.as_str(), web[0].status.as_str()), ("done", "done"));
    assert_eq!(api[0].title, "deploy-action deploy: api v1 → v2");
    assert!(api[0].description.starts_with("staging; deploy-action "), "{}", api[0].description);

    // Gating: nothing of c-web before c-api's deployment ended, and c-api was polled meanwhile.
    let reqs = dok.requests();
    let api_end = api[0].finished.unwrap();
    let first_web = reqs.iter().find(|r| r.compose.as_deref() == Some("c-web")).unwrap();
    assert!(first_web.at >= api_end, "c-web touched at {:?}, c-api ended at {api_end:?}", first_web.at);
    let polls = of(&reqs, "c-api", "deployment.allByCompose");
    let while_running = polls.iter().filter(|r| r.at >= api[0].started && r.at < api_end).count();
    assert!(while_running >= 2, "c-api polled {while_running} times while running: {polls:?}");
    assert_eq!(health.hits(), 1, "the health URL is checked once c-web is done");
    assert!(reqs.iter().all(|r| r.api_key.as_deref() == Some(KEY)));
    let routes: Vec<&str> = reqs.iter().take(4).map(|r| r.route.as_str()).collect();
    assert_eq!(routes, ["compose.one", "compose.update", "deployment.allByCompose", "compose.deploy"]);

    let log = out.log();
    assert!(log.contains("compose c-api (api): environment set API_IMAGE_TAG=v2 (was v1)"), "{log}");
    assert!(log.contains(&format!("deployment {} done after", api[0].id)), "{log}");
    assert!(log.contains(&api[0].log_path) && api[0].log_path.starts_with("/etc/dokploy/logs/api-"), "{log}");
    assert!(
        log.contains("/dashboard/project/prj-1/environment/env-1/services/compose/c-api?tab=deployments")
    );
    assert!(log.contains(&format!("runs api {}/org/api:v2 (image id sha256:", reg.host)), "{log}");
    assert!(log.contains("Dokploy does not report running digests"), "{log}");
    assert_hidden(&out);
    eprintln!("release via dokploy (2 composes, 1.5 s + 0.3 s deployments): {took:.1?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_deployment_rolls_back_the_compose_env_and_never_reaches_the_next_id() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    for failing in ["c-api", "c-web"] {
        let (fake, _, _) = setup(Flavor::Github).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
        let dok = dokploy_with_shop(&reg);
        dok.fail_next(failing);
        let (out, _) =
            run_within(dokploy_release(&fake, &reg, &dok, "c-api\nc-web"), Duration::from_secs(90)).await;
        assert_eq!(out.code, 1, "{failing}: {}", out.log());
        assert!(out.stdout.contains("ended `error`"), "{failing}: {}", out.stdout);
        assert!(out.stdout.contains("rolled back to api v1"), "{failing}: {}", out.stdout);
        assert!(fake.file(OPS, FILE).unwrap().starts_with("API_IMAGE_TAG=v1\n"));
        // The previous tag is back, every other byte as it was.
        assert_eq!(dok.env("c-api").unwrap(), API_ENV, "{failing}");
        let api: Vec<String> = dok.deployments("c-api").iter().map(|d| d.status.clone()).collect();
        let web: Vec<String> = dok.deployments("c-web").iter().map(|d| d.status.clone()).collect();
        let reqs = dok.requests();
        if failing == "c-api" {
            assert_eq!(api, ["error", "done"], "the rollback redeployed c-api");
            assert_eq!(dok.deployments("c-api")[1].title, "deploy-action rollback: api v2 → v1");
            assert!(web.is_empty(), "{web:?}");
            assert_eq!(dok.env("c-web").unwrap(), WEB_ENV, "c-web untouched");
            for route in ["compose.update", "compose.deploy"] {
                assert!(of(&reqs, "c-web", route).is_empty(), "{route} of c-web after c-api's error");
            }
        } else {
            assert_eq!(api, ["done", "done"]);
            assert_eq!(web, ["error", "done"]);
            // A key the release added holds the previous tag afterwards (it is not removed).
            assert_eq!(dok.env("c-web").unwrap(), format!("{WEB_ENV}\nAPI_IMAGE_TAG=v1"));
        }
        assert_eq!(dok.running("c-api"), [("api".to_owned(), format!("{}/org/api:v1", reg.host))]);
        assert_hidden(&out);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compose_that_keeps_running_the_old_tag_fails_the_release_and_rolls_back() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let (fake, _, _) = setup(Flavor::Github).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    let dok = FakeDokploy::start(KEY);
    // The compose file pins the tag instead of reading API_IMAGE_TAG.
    let pinned = format!("{}/org/api:v1", reg.host);
    dok.add_compose("c-api", "api", Some("API_IMAGE_TAG=v1\n"), &[("api", &pinned)]);
    let (out, _) = run_within(dokploy_release(&fake, &reg, &dok, "c-api"), Duration::from_secs(90)).await;
    assert_eq!(out.code, 1, "{}", out.log());
    let expected = format!("api runs {pinned} instead of {}/org/api:v2", reg.host);
    assert!(out.stdout.contains(&expected), "{}", out.stdout);
    assert!(out.stdout.contains("rolled back to api v1"), "{}", out.stdout);
    assert_eq!(dok.env("c-api").unwrap(), "API_IMAGE_TAG=v1\n");
}

fn deploy(url: &str, key: &str, ids: &str) -> Outcome {
    deploy_within(url, key, ids, 30)
}

fn deploy_within(url: &str, key: &str, ids: &str, timeout: u64) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let versions = dir.path().join(".env.versions");
    std::fs::write(&versions, "API_IMAGE_TAG=v1\n").unwrap();
    ActionRun::cli([
        "deploy",
        "--environment",
        "production",
        "--versions",
        "api=v2",
        "--env-file",
        versions.to_str().unwrap(),
        "--target",
        "dokploy",
        "--dokploy-url",
        url,
        "--api-key",
        key,
        "--dokploy-compose-ids",
        ids,
        "--dokploy-timeout",
        &timeout.to_string(),
    ])
    .run()
}

#[test]
fn a_429_and_a_503_are_retried_and_queue_one_deployment() {
    let dok = FakeDokploy::start(KEY);
    dok.add_compose("c-api", "api", Some(API_ENV), &[("api", "reg/org/api:${API_IMAGE_TAG}")]);
    dok.inject("compose.one", 503, 1, None);
    dok.inject("compose.update", 429, 1, Some(1));
    dok.inject("compose.deploy", 503, 2, None);
    dok.inject("deployment.allByCompose", 502, 1, None);
    let out = deploy(&dok.url, KEY, "c-api");
    assert_eq!(out.code, 0, "{}", out.log());
    let reqs = dok.requests();
    let count = |route: &str| of(&reqs, "c-api", route).len();
    assert_eq!((count("compose.update"), count("compose.deploy")), (2, 3), "{reqs:?}");
    assert_eq!(dok.deployments("c-api").len(), 1, "one deployment despite the retries");
    assert_eq!(dok.env("c-api").unwrap(), API_ENV.replace("API_IMAGE_TAG=v1 ", "API_IMAGE_TAG=v2 "));
    let log = out.log();
    assert!(log.contains("/api/compose.update: answered 429: Too Many Requests; retry in 1.0s"), "{log}");
    assert!(log.contains("/api/compose.deploy: answered 503: Service Unavailable; retry in"), "{log}");
    assert!(log.contains("deployed to production via dokploy"), "{log}");
    // The deploy command knows no image: what runs is reported, not judged.
    assert!(log.contains("runs api reg/org/api:v2"), "{log}");
    assert_hidden(&out);
}

#[test]
fn a_deployment_that_does_not_end_in_time_fails_naming_dokploy_timeout() {
    let dok = FakeDokploy::start(KEY);
    dok.add_compose("c-api", "api", Some(API_ENV), &[]);
    dok.add_compose("c-web", "web", Some(WEB_ENV), &[]);
    dok.set_duration("c-api", Duration::from_secs(4));
    let start = Instant::now();
    let out = deploy_within(&dok.url, KEY, "c-api\nc-web", 1);
    let took = start.elapsed();
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(
        out.stderr
            .contains("compose c-api: deployment dpl0001 is still running after 1s (`dokploy-timeout`)"),
        "{}",
        out.stderr
    );
    assert!(took < Duration::from_secs(4), "waited past the timeout: {took:?}");
    assert!(dok.requests().iter().all(|r| r.compose.as_deref() != Some("c-web")), "c-web was touched");
}

#[test]
fn a_wrong_key_an_unknown_id_a_member_without_access_and_tls_say_what_is_wrong() {
    let dok = FakeDokploy::start(KEY);
    dok.add_compose("c-api", "api", Some(API_ENV), &[]);
    dok.add_member_key("dok_member_key_only_web", &["c-web"]);

    let wrong = deploy(&dok.url, "dok_wrong_key_1234abcd", "c-api");
    assert_eq!(wrong.code, 1, "{}", wrong.log());
    let expected =
        format!("{}/api/compose.one answered 401 Unauthorized: Dokploy refused the `api-key` input", dok.url);
    assert!(wrong.stderr.contains(&expected), "{}", wrong.stderr);
    assert!(!wrong.log().contains("dok_wrong_key_1234abcd"), "{}", wrong.log());
    assert_eq!(dok.requests().len(), 1, "a 401 is not retried");

    let seen = dok.requests().len();
    let unknown = deploy(&dok.url, KEY, "c-nope\nc-api");
    assert_eq!(unknown.code, 1, "{}", unknown.log());
    assert!(
        unknown
            .stderr
            .contains("compose c-nope of `dokploy-compose-ids` does not exist on http://127.0.0.1:")
            && unknown.stderr.contains("answered 404 Compose not found"),
        "{}",
        unknown.stderr
    );
    assert!(dok.requests()[seen..].iter().all(|r| r.compose.as_deref() != Some("c-api")), "c-api touched");

    let member = deploy(&dok.url, "dok_member_key_only_web", "c-api");
    assert_eq!(member.code, 1, "{}", member.log());
    assert!(
        member.stderr.contains("answered 401 for compose c-api: You don't have access to this service")
            && member.stderr.contains("The user of the `api-key` input lacks"),
        "{}",
        member.stderr
    );
    assert_eq!(dok.env("c-api").unwrap(), API_ENV, "nothing written");

    // https:// to a port that speaks plain HTTP: a TLS failure, said so, not retried.
    let https = dok.url.replace("http://", "https://");
    let start = Instant::now();
    let tls = deploy(&https, KEY, "c-api");
    assert_eq!(tls.code, 1, "{}", tls.log());
    assert!(tls.stderr.contains(&format!("TLS failure talking to {https}: ")), "{}", tls.stderr);
    assert!(!tls.log().contains("connection refused"), "{}", tls.log());
    assert!(start.elapsed() < Duration::from_secs(10), "retried: {:?}", start.elapsed());
    eprintln!("tls: {}", tls.stderr.lines().last().unwrap_or_default());
}

/// `openssl s_server` with a fresh self-signed certificate for 127.0.0.1; killed on drop.
struct SelfSigned {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for SelfSigned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SelfSigned {
    fn start() -> Option<SelfSigned> {
        use std::process::{Command, Stdio};
        if !crate::support::skip::unless(std::path::Path::new("/usr/bin/openssl").exists(), "openssl CLI") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(made.success(), "openssl req failed");
        let port = crate::support::sshd::free_port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept", &port.to_string()])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = SelfSigned { child, port, _dir: dir };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("openssl s_server did not listen on {port}");
    }
}

#[test]
fn an_untrusted_certificate_is_a_tls_failure_naming_the_certificate() {
    let Some(server) = SelfSigned::start() else { return };
    let url = format!("https://127.0.0.1:{}", server.port);
    let out = deploy(&url, KEY, "c-api");
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(
        out.stderr
            .contains(&format!("TLS failure talking to {url}: invalid peer certificate: UnknownIssuer")),
        "{}",
        out.stderr
    );
    assert!(!out.log().contains("retry in"), "a TLS failure is not retried: {}", out.log());
    eprintln!("self-signed: {}", out.stderr.lines().last().unwrap_or_default());
}
