//! Bad deploy and health inputs are refused before any I/O: exit 2, the error names the input
//! and the value, the fake forge saw no request and the "ssh host" / "registry" (a loopback
//! listener that records accepts) no connection. Through `release` and `deploy`, each as a
//! CLI (`--flag=value`) and in a runner (`INPUT_*`).

use crate::forge_ops::{OPS, TOKEN, setup};
use crate::support::fake_forge::Flavor;
use crate::support::{ActionRun, Outcome};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Accepts on 127.0.0.1 and closes at once, counting connections.
struct Listener {
    port: u16,
    accepts: Arc<AtomicUsize>,
}

impl Listener {
    fn start() -> Listener {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let accepts = Arc::new(AtomicUsize::new(0));
        let count = accepts.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                count.fetch_add(1, Ordering::SeqCst);
                drop(s);
            }
        });
        Listener { port, accepts }
    }

    fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }
}

const KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";

/// `(input, bad value, release only)`.
const BAD: &[(&str, &str, bool)] = &[
    ("ssh-port", "0", false),
    ("ssh-port", "70000", false),
    ("ssh-host", "-oProxyCommand=touch /tmp/pwned", false),
    ("ssh-host", "vm example", false),
    ("ssh-host", "vm.example;id", false),
    ("ssh-host", "[vm.example]", false),
    ("ssh-hosts", "127.0.0.1:0", false),
    ("ssh-hosts", "-oProxyCommand=x:22\nvm1.example", false),
    ("ssh-hosts", "vm1.example\nvm1.example:22", false),
    ("max-parallel", "0", false),
    ("max-parallel", "65", false),
    ("ssh-user", "-oProxyCommand=x", false),
    ("ssh-user", "root user", false),
    ("compose-dir", "/srv/app;id", false),
    ("compose-dir", "srv/app", false),
    ("compose-dir", "/srv/$(id)", false),
    ("compose-dir", "/srv/my app", false),
    ("compose-file", "../compose.yml", false),
    ("compose-file", "/etc/compose.yml", false),
    ("compose-file", "a b.yml", false),
    ("compose-env-file", "../x.env", false),
    ("compose-env-file", "/tmp/x.env", false),
    ("compose-env-file", ".env`id`", false),
    ("compose-env-file", "-x.env", false),
    ("dokploy-url", "gopher://127.0.0.1/x", false),
    ("dokploy-timeout", "0", false),
    ("swarm-host", "http://127.0.0.1:2375", false),
    ("swarm-host", "tcp://127.0.0.1", false),
    ("swarm-host", "unix://docker.sock", false),
    ("swarm-host", "ssh://-oProxyCommand=x@vm", false),
    ("swarm-host", "ssh://root@vm/run/$(id).sock", false),
    ("swarm-stack", "-app", false),
    ("swarm-services", "api=a;b", false),
    ("swarm-timeout", "0", false),
    ("health-url", "file:///etc/passwd", true),
    ("health-url", "gopher://127.0.0.1:70/x", true),
    ("health-url", "ftp://127.0.0.1/x", true),
    ("health-url", "javascript:alert(1)", true),
    ("health-url", "http://", true),
    ("health-status", "0", true),
    ("environment-url", "javascript:alert(1)", true),
];

/// The inputs of a compose-ssh deploy that would reach `ssh` (the listener) and the
/// registry (the listener too); `release` adds the orchestration ones.
fn inputs(listener: &Listener, release: bool) -> Vec<(String, String)> {
    let mut v: Vec<(&str, String)> = vec![
        ("environment", "staging".into()),
        ("versions", "api=1.0".into()),
        ("target", "compose-ssh".into()),
        ("ssh-host", "127.0.0.1".into()),
        ("ssh-port", listener.port.to_string()),
        ("ssh-key", KEY.into()),
        ("ssh-known-hosts", format!("[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE", listener.port)),
        ("compose-dir", "/srv/app".into()),
        ("compose-file", "compose.yml".into()),
    ];
    if release {
        v.extend([
            ("repository", OPS.into()),
            ("images", format!("api=127.0.0.1:{}/org/api", listener.port)),
            ("health-url", "https://app.example/health".into()),
            ("insecure-registries", format!("127.0.0.1:{}", listener.port)),
        ]);
    }
    v.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn with(mut inputs: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    inputs.retain(|(k, _)| k != name);
    inputs.push((name.to_owned(), value.to_owned()));
    inputs
}

fn run(command: &str, runner: bool, api_url: &str, inputs: &[(String, String)]) -> Outcome {
    let forge = command == "release";
    let action = if runner {
        let mut a = ActionRun::action().input("command", command);
        if forge {
            a = a.env("GITHUB_API_URL", api_url).input("token", TOKEN);
        }
        inputs.iter().fold(a, |a, (k, v)| a.input(k, v))
    } else {
        let mut args = vec![command.to_owned()];
        if forge {
            args.extend([
                format!("--api-url={api_url}"),
                format!("--token={TOKEN}"),
                "--forge=github".into(),
            ]);
        }
        args.extend(inputs.iter().map(|(k, v)| format!("--{k}={v}")));
        ActionRun::cli(args)
    };
    action.env("PATH", &std::env::var("PATH").unwrap_or_default()).run()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_deploy_and_health_inputs_are_refused_before_any_connection() {
    let (fake, _, _) = setup(Flavor::Github).await;
    let api = fake.api_url();
    let listener = Listener::start();
    let checked = tokio::task::spawn_blocking(move || {
        let mut checked = 0;
        for command in ["release", "deploy"] {
            for runner in [false, true] {
                let form = if runner { "runner" } else { "cli" };
                for (input, value, release_only) in BAD {
                    if *release_only && command == "deploy" {
                        continue;
                    }
                    let out = run(
                        command,
                        runner,
                        &api,
                        &with(inputs(&listener, command == "release"), input, value),
                    );
                    let case = format!("{command} ({form}) {input}={value:?}");
                    assert_eq!(out.code, 2, "{case}: {}", out.log());
                    assert!(
                        out.log().contains(input),
                        "{case}: the error does not name the input: {}",
                        out.log()
                    );
                    let shown = value.split_whitespace().next().unwrap();
                    assert!(
                        out.log().contains(shown),
                        "{case}: the error does not show the value: {}",
                        out.log()
                    );
                    assert!(
                        !out.log().contains("b3BlbnNzaC1rZXktdjEAAAAA") || runner,
                        "{case}: {}",
                        out.log()
                    );
                    assert_eq!(listener.accepts(), 0, "{case}: connected to the host or registry");
                    checked += 1;
                }
            }
        }
        (checked, listener)
    })
    .await
    .unwrap();
    let (checked, listener) = checked;
    assert_eq!(fake.requests().len(), 0, "the forge was contacted: {:?}", fake.requests());
    assert_eq!(checked, 2 * BAD.len() + 2 * BAD.iter().filter(|c| !c.2).count());

    // The controls: the same runs with valid inputs do reach the forge and the "host".
    let api = fake.api_url();
    let (release, deploy) = tokio::task::spawn_blocking(move || {
        let r = run("release", true, &api, &inputs(&listener, true));
        let d = run("deploy", false, &api, &inputs(&listener, false));
        (r, (d, listener.accepts()))
    })
    .await
    .unwrap();
    assert_ne!(release.code, 2, "{}", release.log());
    assert!(!fake.requests().is_empty(), "a valid release reaches the forge: {}", release.log());
    assert_eq!(deploy.0.code, 1, "{}", deploy.0.log());
    assert!(deploy.1 >= 1, "a valid deploy connects to ssh-host: {}", deploy.0.log());
}

#[test]
fn valid_edge_values_pass_the_checks() {
    // IPv6 in brackets, a home-relative compose-dir, nested compose files: refused only later
    // (by the missing ssh host key, exit 1), never as input errors.
    let listener = Listener::start();
    for (input, value) in [
        ("ssh-host", "[::1]"),
        ("ssh-host", "::1"),
        ("compose-dir", "~/app"),
        ("compose-file", "deploy/compose.yml,deploy/compose.prod.yml"),
        ("compose-env-file", "env/.env.versions"),
        ("ssh-user", "deploy_bot-1.ci"),
    ] {
        let out = run("deploy", true, "", &with(inputs(&listener, false), input, value));
        assert_eq!(out.code, 1, "{input}={value}: {}", out.log());
        assert!(!out.log().contains("invalid input"), "{input}={value}: {}", out.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_placeholder_in_health_url_needs_compose_ssh() {
    let (fake, _, _) = setup(Flavor::Github).await;
    let api = fake.api_url();
    let listener = Listener::start();
    let out = tokio::task::spawn_blocking(move || {
        let base = with(inputs(&listener, true), "target", "command");
        let base = with(base, "deploy-command", "true");
        run("release", true, &api, &with(base, "health-url", "http://{host}:8080/health"))
    })
    .await
    .unwrap();
    assert_eq!(out.code, 2, "{}", out.log());
    assert!(
        out.log().contains("invalid input `health-url`") && out.log().contains("only target compose-ssh"),
        "{}",
        out.log()
    );
    assert_eq!(fake.requests().len(), 0, "the forge was contacted: {:?}", fake.requests());
}
