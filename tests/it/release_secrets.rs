//! No secret (token, ssh key, Dokploy API key, registry password) appears in what release,
//! rollback, promote and approve runs show, error paths included, apart from `::add-mask::`.

use crate::forge_ops::{FILE, OPS, TOKEN, setup};
use crate::release_faults::{release, run_within};
use crate::support::fake_forge::Flavor;
use crate::support::registry::TestRegistry;
use crate::support::{ActionRun, Outcome};
use std::net::TcpListener;
use std::time::Duration;

const SSH_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAsecretkeymaterial0123456789\n-----END OPENSSH PRIVATE KEY-----\n";
const API_KEY: &str = "dokploy_api_key_5up3rs3cr3t";
const PASSWORD: &str = "registry-pa55word-7f3e";
const APPROVAL_KEY: &str = "approval-key-must-not-leak-0123";

/// Every secret's value (and each line of a multi-line one) is absent from what a run showed,
/// apart from the `::add-mask::` lines.
fn assert_no_secret(out: &Outcome, token: &str, case: &str) {
    let mut shown = String::new();
    for text in [&out.stdout, &out.stderr, &out.summary, &out.output_file] {
        for line in text.lines().filter(|l| !l.starts_with("::add-mask::")) {
            shown.push_str(line);
            shown.push('\n');
        }
    }
    let mut secrets = vec![token, API_KEY, PASSWORD, APPROVAL_KEY];
    secrets.extend(SSH_KEY.lines().filter(|l| !l.starts_with("-----")));
    for secret in secrets {
        assert!(!shown.contains(secret), "{case}: a secret was shown:\n{shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_logs_summaries_or_outputs() {
    let reg = tokio::task::spawn_blocking(|| {
        let reg =
            TestRegistry::start(crate::support::registry::Auth::Basic { user: "ci", password: PASSWORD });
        for (tag, created) in [("v1", "2026-01-01T00:00:00Z"), ("v2", "2026-01-02T00:00:00Z")] {
            let work = tempfile::tempdir().unwrap();
            std::fs::write(work.path().join("version"), tag).unwrap();
            let layout = work.path().join("layout");
            let add = format!("{}:/version", work.path().join("version").display());
            let labels = format!("org.opencontainers.image.created={created}");
            let out = format!("oci:{}", layout.display());
            let build = ActionRun::cli([
                "build",
                "--builder",
                "files",
                "--add",
                &add,
                "--labels",
                &labels,
                "--output",
                &out,
            ])
            .run();
            assert_eq!(build.code, 0, "{}", build.log());
            let dest = format!("{}/org/api:{tag}", reg.host);
            let push =
                ActionRun::cli(["push", &out, &dest, "--username", "ci", "--password", PASSWORD]).run();
            assert_eq!(push.code, 0, "{}", push.log());
        }
        reg
    })
    .await
    .unwrap();
    let images = format!("api={}/org/api", reg.host);
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, _, _) = setup(flavor).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
        let with_secrets = |a: ActionRun, token: &str| {
            a.input("token", token)
                .input("username", "ci")
                .input("password", PASSWORD)
                .input("ssh-key", SSH_KEY)
                .input("api-key", API_KEY)
        };
        let bad_token = "tok_wrong_but_secret_987654";
        let dead_api =
            format!("http://{dead_addr}/api/{}", if flavor == Flavor::Github { "v3" } else { "v1" });
        let cases: Vec<(&str, ActionRun, &str, i32)> = vec![
            ("release", release(&fake, &images, flavor).input("api_image_tag", "v2"), TOKEN, 0),
            ("rollback", release(&fake, &images, flavor).input("command", "rollback"), TOKEN, 0),
            (
                "promote",
                release(&fake, &images, flavor)
                    .input("command", "promote")
                    .input("environment", "qa")
                    .input("from-env-file", FILE)
                    .input("env-file", "qa/.env.versions"),
                TOKEN,
                0,
            ),
            ("release, bad token", release(&fake, &images, flavor).input("api_image_tag", "v2"), bad_token, 1),
            (
                "release, unreachable forge",
                release(&fake, &images, flavor)
                    .input("api_image_tag", "v2")
                    .env("GITHUB_API_URL", &dead_api)
                    .input("api-url", &dead_api),
                TOKEN,
                1,
            ),
            (
                "release, unreachable ssh host",
                release(&fake, &images, flavor)
                    .input("api_image_tag", "v1")
                    .input("allow-downgrade", "true")
                    .input("target", "compose-ssh")
                    .input("ssh-host", "127.0.0.1")
                    .input("ssh-port", &dead_addr.port().to_string())
                    .input("ssh-user", "deploy")
                    .input("ssh-known-hosts", "127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE3b0b8X5x1l5xX9Y1Xo6n3Gm8b6Ow1Zq4d6V2J2nYqz")
                    .input("compose-dir", "/srv/app"),
                TOKEN,
                1,
            ),
            (
                "release, unreachable dokploy",
                release(&fake, &images, flavor)
                    .input("api_image_tag", "v2")
                    .input("allow-downgrade", "true")
                    .input("target", "dokploy")
                    .input("dokploy-url", &format!("http://{dead_addr}"))
                    .input("dokploy-compose-ids", "cmp1"),
                TOKEN,
                1,
            ),
        ];
        for (case, action, token, code) in cases {
            let (out, _) = run_within(with_secrets(action, token), Duration::from_secs(120)).await;
            let case = format!("{flavor:?} {case}");
            assert_eq!(out.code, code, "{case}: {}", out.log());
            assert!(out.stdout.contains("::add-mask::"), "{case}: nothing masked");
            assert_no_secret(&out, token, &case);
            let error = out.stdout.lines().find(|l| l.starts_with("::error")).unwrap_or_default().to_owned();
            eprintln!("{case}: exit {}: {error}", out.code);
        }
        // approve, on an issue opened in resume mode; a non-approver and an approver.
        let gate = |a: ActionRun| {
            a.input("environment", "production")
                .input("approvers", "carol")
                .input("approval-mode", "resume")
                .input("approval-key", APPROVAL_KEY)
        };
        let (out, _) = run_within(
            with_secrets(gate(release(&fake, &images, flavor)).input("api_image_tag", "v2"), TOKEN),
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(out.output("state"), "awaiting-approval", "{}", out.log());
        assert_no_secret(&out, TOKEN, "release awaiting approval");
        let issue = fake.issues(OPS).last().unwrap().clone();
        let number = fake.issues(OPS).len();
        for (login, token, code) in [("carol", bad_token, 1), ("mallory", TOKEN, 0), ("carol", TOKEN, 0)] {
            // `approve` reads the comments from the forge, not from the event.
            fake.comment(OPS, number, login, "/approve");
            let id = fake.issues(OPS)[number - 1].comments.len();
            let ev = serde_json::json!({
                "action": "created",
                "issue": {"number": number, "state": "open", "body": issue.body, "html_url": "https://example.test/org/ops/issues/1"},
                "comment": {"id": id, "body": "/approve", "user": {"login": login}},
            });
            let action =
                gate(release(&fake, &images, flavor).input("command", "approve")).event("issue_comment", &ev);
            let (out, _) = run_within(with_secrets(action, token), Duration::from_secs(60)).await;
            let case = format!("{flavor:?} approve by {login}");
            assert_eq!(out.code, code, "{case}: {}", out.log());
            assert_no_secret(&out, token, &case);
        }
    }
}
