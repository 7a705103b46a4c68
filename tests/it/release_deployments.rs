//! GitHub deployments as GitHub makes them: a job with `environment:` gets a deployment
//! before its steps run (by `github-actions[bot]`, its status linking the job), which the
//! release reports on instead of opening a second one; and `auto_inactive` retires earlier
//! deployments only outside production, so the release marks production's previous one
//! `inactive` itself.

use crate::forge_ops::{FILE, OPS, TOKEN, setup};
use crate::release::registry_with_versions;
use crate::support::ActionRun;
use crate::support::fake_forge::Flavor;
use crate::support::registry::TestRegistry;

/// The run `ActionRun::action()` describes, in the orchestration repository.
const RUN_URL: &str = "https://github.com/org/ops/actions/runs/1234";

fn release(fake_api: &str, reg: &TestRegistry, environment: &str, command: &str) -> ActionRun {
    ActionRun::action()
        .env("GITHUB_API_URL", fake_api)
        .env("GITHUB_REPOSITORY", OPS)
        .input("command", command)
        .input("target", "none")
        .input("repository", OPS)
        .input("token", TOKEN)
        .input("environment", environment)
        .input("images", &format!("api={}/org/api", reg.host))
        .input("allow-unprotected", "true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployment_github_made_for_the_job_reports_the_release() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    let (fake, _, _) = setup(Flavor::Github).await;
    fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
    let job = fake.job_deployment(OPS, "staging", RUN_URL);
    // Another run's job deployment of the same environment is not this release's.
    fake.job_deployment(OPS, "staging", "https://github.com/org/ops/actions/runs/99");
    let run = release(&fake.api_url(), &reg, "staging", "release").input("api_image_tag", "v2");
    let out = tokio::task::spawn_blocking(move || run.run()).await.unwrap();
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(out.output("deployment-id"), job.to_string(), "{}", out.log());
    assert!(out.log().contains("made by GitHub for this job's environment"), "{}", out.log());
    let deployments = fake.deployments(OPS);
    assert_eq!(deployments.len(), 2, "a second deployment was opened: {deployments:?}");
    let ours = deployments.iter().find(|d| d.0 == job).unwrap();
    assert_eq!(ours.3.last().map(String::as_str), Some("success"), "{deployments:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_marks_the_previous_deployment_inactive_production_included() {
    let reg = tokio::task::spawn_blocking(registry_with_versions).await.unwrap();
    for environment in ["production", "staging"] {
        let (fake, _, _) = setup(Flavor::Github).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=v1\n");
        let api = fake.api_url();
        let first = release(&api, &reg, environment, "release").input("api_image_tag", "v2");
        let out = tokio::task::spawn_blocking(move || first.run()).await.unwrap();
        assert_eq!(out.code, 0, "{}", out.log());
        let back = release(&api, &reg, environment, "rollback").input("to", "api=v1");
        let out = tokio::task::spawn_blocking(move || back.run()).await.unwrap();
        assert_eq!(out.code, 0, "{}", out.log());
        let deployments = fake.deployments(OPS);
        assert_eq!(deployments.len(), 2, "{deployments:?}");
        assert_eq!(
            deployments[0].3.last().map(String::as_str),
            Some("inactive"),
            "{environment}: {deployments:?}"
        );
        assert_eq!(
            deployments[1].3.last().map(String::as_str),
            Some("success"),
            "{environment}: {deployments:?}"
        );
        let inactive = deployments[0].3.iter().filter(|s| *s == "inactive").count();
        assert_eq!(inactive, 1, "{environment}: marked inactive twice: {deployments:?}");
    }
}
