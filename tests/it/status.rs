//! `status` through the real binary against both flavours of the fake forge, after releases
//! made by the binary itself (the real registry holds the images).

use crate::forge_ops::{OPS, TOKEN, setup};
use crate::release::registry_with_versions;
use crate::support::fake_forge::Flavor;
use crate::support::{ActionRun, Outcome};

const FILES: &str = "deploy/{environment}/.env.versions";

fn action(api: &str, flavor: Flavor, command: &str) -> ActionRun {
    let mut a = ActionRun::action()
        .env("GITHUB_API_URL", api)
        .input("command", command)
        .input("repository", OPS)
        .input("token", TOKEN)
        .input("env-file", FILES);
    if flavor == Flavor::Forgejo {
        a = a.env("FORGEJO_ACTIONS", "true");
    }
    a
}

async fn run(action: ActionRun) -> Outcome {
    tokio::task::spawn_blocking(move || action.run()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_versions_last_deploy_history_and_deployments() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, _, _) = setup(flavor).await;
        fake.put_file(OPS, "deploy/staging/.env.versions", "API_IMAGE_TAG=v1\n");
        let out = run(action(&fake.api_url(), flavor, "release")
            .input("target", "none")
            .input("environment", "staging")
            .input("images", &format!("api={}/org/api", reg.host))
            .input("api_image_tag", "v2"))
        .await;
        assert_eq!(out.code, 0, "{}", out.log());

        let out = run(
            action(&fake.api_url(), flavor, "status").input("status-environments", "staging, production")
        )
        .await;
        assert_eq!(out.code, 0, "{flavor:?}: {}", out.log());
        let text = &out.stdout;
        assert!(text.contains("staging (deploy/staging/.env.versions)"), "{text}");
        assert!(text.contains("  versions: api v2\n"), "{text}");
        assert!(text.contains("  last deploy: ") && text.contains(" by alice"), "{text}");
        assert!(text.contains(": deploy: api v1 → v2\n"), "{text}");
        assert!(text.contains(": seed\n"), "{text}");
        assert!(text.contains("  versions: no deploy/production/.env.versions yet"), "{text}");
        let status: serde_json::Value = serde_json::from_str(out.output("status")).unwrap();
        let staging = &status[0];
        assert_eq!(staging["versions"], serde_json::json!([{"service": "api", "tag": "v2"}]));
        assert_eq!(staging["last_deploy_by"], "alice");
        assert_eq!(staging["commits"].as_array().unwrap().len(), 2);
        assert_eq!(staging["commits"][0]["subject"], "deploy: api v1 → v2");
        assert_eq!(status[1]["exists"], false);
        assert!(
            out.summary.contains("| Environment | Versions | Last deploy | Deployment |"),
            "{}",
            out.summary
        );
        assert!(out.summary.contains("| staging | api v2 | ["), "{}", out.summary);
        match flavor {
            Flavor::Github => {
                assert_eq!(staging["deployment"]["state"], "success", "{staging}");
                let id = staging["deployment"]["id"].as_u64().unwrap();
                assert!(text.contains(&format!("  deployment: #{id} success (")), "{text}");
                assert!(
                    out.summary
                        .contains("| production | no deploy/production/.env.versions yet | — | none |")
                );
            }
            Flavor::Forgejo => {
                assert_eq!(staging["deployment"], serde_json::Value::Null);
                assert_eq!(staging["deployments_supported"], false);
                assert!(text.contains("deployment: none on this forge"), "{text}");
            }
        }
        assert_eq!(out.log().matches(TOKEN).count(), 1, "the token leaked: {}", out.log());

        // CLI JSON mode.
        let out = run(ActionRun::cli([
            "status",
            "--format",
            "json",
            "--status-environments",
            "staging",
            "--repository",
            OPS,
            "--env-file",
            FILES,
            "--api-url",
            &fake.api_url(),
            "--token",
            TOKEN,
            "--status-history",
            "1",
        ]))
        .await;
        assert_eq!(out.code, 0, "{}", out.log());
        let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(json["environments"][0]["commits"].as_array().unwrap().len(), 1, "{json}");
        assert_eq!(json["repo"], OPS);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_a_missing_input_and_a_bad_token() {
    let (fake, _, _) = setup(Flavor::Github).await;
    let out = run(action(&fake.api_url(), Flavor::Github, "status")).await;
    assert_eq!(out.code, 2, "{}", out.log());
    assert!(out.stdout.contains("status-environments"), "{}", out.stdout);
    let out = run(action(&fake.api_url(), Flavor::Github, "status")
        .input("status-environments", "staging")
        .input("token", "tok_not_known_4242"))
    .await;
    assert_eq!(out.code, 1, "{}", out.log());
    assert!(out.stdout.contains("rejected the token (401)"), "{}", out.stdout);
    assert!(!out.log().lines().any(|l| !l.starts_with("::add-mask::") && l.contains("tok_not_known_4242")));
}
