//! GitHub environments: protection rules (required reviewers, wait timer, which refs may
//! deploy), their branch/tag policies, and the reviewer look-ups a configuration needs.
//! Forgejo has none of this: its client answers `Unsupported`.

use super::error::{ForgeError, Op};
use super::http::{Http, Retry};
use super::model::*;
use crate::context::ForgeKind;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct GhEnvironment {
    name: String,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    protection_rules: Vec<GhRule>,
    deployment_branch_policy: Option<GhBranchSettings>,
}

#[derive(Deserialize)]
struct GhRule {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    wait_timer: u32,
    #[serde(default)]
    prevent_self_review: bool,
    #[serde(default)]
    reviewers: Vec<GhReviewer>,
}

#[derive(Deserialize)]
struct GhReviewer {
    #[serde(rename = "type")]
    kind: String,
    reviewer: Option<GhAccount>,
}

/// A user (`login`) or a team (`slug`).
#[derive(Deserialize)]
struct GhAccount {
    id: u64,
    login: Option<String>,
    slug: Option<String>,
}

#[derive(Deserialize)]
struct GhBranchSettings {
    protected_branches: bool,
    custom_branch_policies: bool,
}

#[derive(Deserialize)]
struct GhPolicies {
    branch_policies: Vec<GhPolicy>,
}

#[derive(Deserialize)]
struct GhPolicy {
    name: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

impl From<GhEnvironment> for Environment {
    fn from(e: GhEnvironment) -> Environment {
        let mut env = Environment {
            name: e.name,
            html_url: e.html_url,
            reviewers: Vec::new(),
            prevent_self_review: false,
            wait_timer: 0,
            branch_policy: e.deployment_branch_policy.map(|b| BranchPolicySettings {
                protected_branches: b.protected_branches,
                custom_branch_policies: b.custom_branch_policies,
            }),
        };
        // protection_rules is a union keyed by `type`; `branch_policy` repeats
        // deployment_branch_policy.
        for rule in e.protection_rules {
            match rule.kind.as_str() {
                "required_reviewers" => {
                    env.prevent_self_review = rule.prevent_self_review;
                    env.reviewers.extend(rule.reviewers.into_iter().filter_map(|r| {
                        let account = r.reviewer?;
                        let kind = if r.kind == "Team" { ReviewerKind::Team } else { ReviewerKind::User };
                        let name = account.login.or(account.slug).unwrap_or_default();
                        Some(Reviewer { kind, id: account.id, name })
                    }));
                }
                "wait_timer" => env.wait_timer = rule.wait_timer,
                _ => {}
            }
        }
        env
    }
}

fn env_url(http: &Http, repo: &RepoId, name: &str, rest: &[&str]) -> url::Url {
    let mut segments = vec!["repos", &repo.owner, &repo.name, "environments", name];
    segments.extend_from_slice(rest);
    http.url(&segments)
}

/// `GET …/environments/{name}`; 404 is `None`.
pub(super) async fn get(http: &Http, repo: &RepoId, name: &str) -> Result<Option<Environment>, ForgeError> {
    let target = format!("reading environment {name} of {repo}");
    let a = http.send(&target, Method::GET, env_url(http, repo, name, &[]), None, Retry::Idempotent).await?;
    match a.status {
        200 => Ok(Some(a.json::<GhEnvironment>(ForgeKind::Github, &target)?.into())),
        // Without a token a private repository answers 404 too: say so rather than "no environment".
        404 if http.has_token() => Ok(None),
        _ => Err(http.error(Op::ReadEnvironment, &target, &repo.to_string(), &a)),
    }
}

/// `PUT …/environments/{name}` with every field, so the result does not depend on what was
/// there before.
pub(super) async fn put(
    http: &Http,
    repo: &RepoId,
    name: &str,
    c: &EnvironmentConfig,
) -> Result<Environment, ForgeError> {
    let target = format!("configuring environment {name} of {repo}");
    if c.reviewers.len() > MAX_REVIEWERS {
        return Err(ForgeError::TooManyReviewers { count: c.reviewers.len(), max: MAX_REVIEWERS });
    }
    let reviewers: Vec<_> =
        c.reviewers.iter().map(|r| json!({ "type": r.kind.github(), "id": r.id })).collect();
    let policy = c.branch_policy.map(|b| {
        json!({ "protected_branches": b.protected_branches, "custom_branch_policies": b.custom_branch_policies })
    });
    let body = json!({
        "wait_timer": c.wait_timer, "prevent_self_review": c.prevent_self_review,
        "reviewers": reviewers, "deployment_branch_policy": policy,
    });
    // The same PUT twice gives the same result: safe to retry.
    let url = env_url(http, repo, name, &[]);
    let a = http.send(&target, Method::PUT, url, Some(&body), Retry::Idempotent).await?;
    match a.status {
        200 => Ok(a.json::<GhEnvironment>(ForgeKind::Github, &target)?.into()),
        _ => Err(http.error(Op::ConfigureEnvironment, &target, &repo.to_string(), &a)),
    }
}

/// `GET …/environments/{name}/deployment-branch-policies`, every page (bounded).
pub(super) async fn policies(http: &Http, repo: &RepoId, env: &str) -> Result<Vec<BranchPolicy>, ForgeError> {
    let target = format!("listing the branch and tag policies of environment {env} of {repo}");
    let mut url = env_url(http, repo, env, &["deployment-branch-policies"]);
    url.query_pairs_mut().append_pair("per_page", "100");
    let mut out = Vec::new();
    let mut next = Some(url);
    for _ in 0..20 {
        let Some(url) = next.take() else { break };
        let a = http.send(&target, Method::GET, url, None, Retry::Idempotent).await?;
        if a.status != 200 {
            return Err(http.error(Op::ReadEnvironment, &target, &repo.to_string(), &a));
        }
        let page: GhPolicies = a.json(ForgeKind::Github, &target)?;
        out.extend(page.branch_policies.into_iter().map(|p| BranchPolicy {
            name: p.name,
            kind: if p.kind.as_deref() == Some("tag") {
                BranchPolicyKind::Tag
            } else {
                BranchPolicyKind::Branch
            },
        }));
        next = a.next_link().and_then(|l| url::Url::parse(&l).ok());
    }
    Ok(out)
}

/// Creates the policies in `wanted` that the environment lacks; existing ones are kept.
pub(super) async fn ensure_policies(
    http: &Http,
    repo: &RepoId,
    env: &str,
    wanted: &[BranchPolicy],
) -> Result<(), ForgeError> {
    if wanted.is_empty() {
        return Ok(());
    }
    let have = policies(http, repo, env).await?;
    for p in wanted.iter().filter(|p| !have.contains(p)) {
        let target = format!("adding {} policy {} to environment {env} of {repo}", p.kind.github(), p.name);
        let url = env_url(http, repo, env, &["deployment-branch-policies"]);
        let body = json!({ "name": p.name, "type": p.kind.github() });
        let a = http.send(&target, Method::POST, url, Some(&body), Retry::RateLimitOnly).await?;
        match a.status {
            // 303: the pattern exists already (created meanwhile).
            200 | 201 | 303 => {}
            _ => return Err(http.error(Op::ConfigureEnvironment, &target, &repo.to_string(), &a)),
        }
    }
    Ok(())
}

/// A reviewer's id: `GET /users/{login}` or `GET /orgs/{org}/teams/{slug}`.
pub(super) async fn reviewer(http: &Http, name: &ReviewerName) -> Result<Reviewer, ForgeError> {
    let (target, url, kind) = match name {
        ReviewerName::User(login) => {
            (format!("looking up user {login}"), http.url(&["users", login]), ReviewerKind::User)
        }
        ReviewerName::Team { org, slug } => (
            format!("looking up team {slug} of {org}"),
            http.url(&["orgs", org, "teams", slug]),
            ReviewerKind::Team,
        ),
    };
    let a = http.send(&target, Method::GET, url, None, Retry::Idempotent).await?;
    if a.status != 200 {
        return Err(http.error(Op::Reviewers, &target, &name.to_string(), &a));
    }
    let account: GhAccount = a.json(ForgeKind::Github, &target)?;
    Ok(Reviewer { kind, id: account.id, name: account.login.or(account.slug).unwrap_or_default() })
}
