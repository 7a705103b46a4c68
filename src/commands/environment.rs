//! `environment`: apply a desired protection to a GitHub environment (required reviewers,
//! wait timer, which branches/tags may deploy) idempotently, and print the resulting rules.
//! Forgejo has no environments: the command says to use the action's approval gate.

use super::forge_args::{ForgeArgs, repo_arg};
use crate::context::RunContext;
use crate::env::EnvMap;
use crate::forge::{
    AnyForge, BranchPolicy, BranchPolicyKind, BranchPolicySettings, Environment, EnvironmentConfig, Forge,
    MAX_REVIEWERS, RepoId, ReviewerKind, ReviewerName,
};
use crate::runner::{Report, Runner};
use crate::settings::{InputError, split_list};
use anyhow::Context;
use std::collections::BTreeSet;

/// Arguments of `environment` (and the inputs of `command: environment`).
#[derive(Debug, Clone, clap::Args)]
pub struct EnvironmentArgs {
    /// The environment to configure (`production`).
    #[arg(value_name = "NAME")]
    pub environment: Option<String>,
    /// `owner/name` of the repository; default: this run's.
    #[arg(long = "repository", visible_alias = "repo", value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// Required reviewers, comma or newline separated: user logins or `team:org/slug` (at most 6).
    /// Empty: none.
    #[arg(long, value_name = "LOGINS")]
    pub reviewers: Vec<String>,
    /// Minutes a deployment waits before it may proceed (0 to 43200).
    #[arg(long, value_name = "MINUTES", default_value_t = 0)]
    pub wait_timer: u32,
    /// Whoever started a deployment may not approve it (`true`/`false`).
    #[arg(long, value_name = "BOOL", default_value = "false", value_parser = crate::settings::bool_input(), action = clap::ArgAction::Set)]
    pub prevent_self_review: bool,
    /// Tag patterns allowed to deploy (`v*`). With `branch-policy`: only matching refs may
    /// deploy; with neither, every ref may.
    #[arg(long, value_name = "PATTERN")]
    pub tag_policy: Vec<String>,
    /// Branch patterns allowed to deploy (`main`, `release/*`).
    #[arg(long, value_name = "PATTERN")]
    pub branch_policy: Vec<String>,
    /// Forge API and token (configuring needs a repository admin's token).
    #[command(flatten)]
    pub forge: ForgeArgs,
}

/// The desired protection, validated before anything is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Environment name.
    pub name: String,
    /// Reviewers as named.
    pub reviewers: Vec<ReviewerName>,
    /// Minutes to wait.
    pub wait_timer: u32,
    /// Prevent self-review.
    pub prevent_self_review: bool,
    /// Branch and tag patterns; empty: every ref may deploy.
    pub policies: Vec<BranchPolicy>,
}

/// Validates the arguments into a [`Plan`] (no I/O).
pub(crate) fn plan(args: &EnvironmentArgs) -> Result<Plan, InputError> {
    let name = args.environment.as_deref().unwrap_or_default().trim();
    if name.is_empty() {
        return Err(InputError::new("environment", name, "is required: the environment to configure"));
    }
    if name.len() > 255 || name.contains('/') || name.chars().any(char::is_control) {
        return Err(InputError::new("environment", name, "must be at most 255 characters, without `/`"));
    }
    let mut reviewers = Vec::new();
    for item in args.reviewers.iter().flat_map(|r| split_list(r, false)) {
        let r = ReviewerName::parse(&item)
            .ok_or_else(|| InputError::new("reviewers", &item, "must be a user login or team:org/slug"))?;
        if !reviewers.contains(&r) {
            reviewers.push(r);
        }
    }
    if reviewers.len() > MAX_REVIEWERS {
        return Err(InputError::new(
            "reviewers",
            args.reviewers.join(","),
            format!("names {} reviewers; GitHub takes at most {MAX_REVIEWERS}", reviewers.len()),
        ));
    }
    if args.wait_timer > 43_200 {
        return Err(InputError::new("wait-timer", args.wait_timer.to_string(), "must be 0 to 43200 minutes"));
    }
    let mut policies = Vec::new();
    for (input, kind, raw) in [
        ("tag-policy", BranchPolicyKind::Tag, &args.tag_policy),
        ("branch-policy", BranchPolicyKind::Branch, &args.branch_policy),
    ] {
        for p in raw.iter().flat_map(|r| split_list(r, false)) {
            if p.chars().any(|c| c.is_whitespace() || c.is_control()) || p.len() > 255 {
                return Err(InputError::new(input, &p, "must be a name pattern without spaces"));
            }
            let policy = BranchPolicy { name: p, kind };
            if !policies.contains(&policy) {
                policies.push(policy);
            }
        }
    }
    Ok(Plan {
        name: name.to_owned(),
        reviewers,
        wait_timer: args.wait_timer,
        prevent_self_review: args.prevent_self_review,
        policies,
    })
}

/// True when `current` already has the protection `want` asks for (reviewers in any order).
pub(crate) fn satisfies(current: &Environment, want: &EnvironmentConfig) -> bool {
    let ids =
        |rs: &[crate::forge::Reviewer]| rs.iter().map(|r| (r.kind.github(), r.id)).collect::<BTreeSet<_>>();
    // GitHub reports prevent_self_review only inside a required-reviewers rule.
    let self_review_ok = want.reviewers.is_empty() || current.prevent_self_review == want.prevent_self_review;
    current.wait_timer == want.wait_timer
        && ids(&current.reviewers) == ids(&want.reviewers)
        && self_review_ok
        && current.branch_policy == want.branch_policy
}

/// The rules as printed: one line each.
pub(crate) fn describe(env: &Environment, policies: &[BranchPolicy]) -> String {
    let mut out = format!("environment {}", env.name);
    if !env.html_url.is_empty() {
        out.push_str(&format!(" ({})", env.html_url));
    }
    out.push('\n');
    let reviewers: Vec<String> = env
        .reviewers
        .iter()
        .map(|r| {
            let kind = if r.kind == ReviewerKind::Team { "team" } else { "user" };
            format!("{} ({kind} {})", r.name, r.id)
        })
        .collect();
    let none = "none".to_owned();
    out.push_str(&format!(
        "  required reviewers: {}\n",
        if reviewers.is_empty() { none.clone() } else { reviewers.join(", ") }
    ));
    if !env.reviewers.is_empty() {
        out.push_str(&format!("  prevent self-review: {}\n", env.prevent_self_review));
    }
    out.push_str(&format!("  wait timer: {} min\n", env.wait_timer));
    let refs = match env.branch_policy {
        None => "every branch and tag".to_owned(),
        Some(BranchPolicySettings { protected_branches: true, .. }) => "protected branches".to_owned(),
        Some(_) if policies.is_empty() => "no branch or tag (no policy yet)".to_owned(),
        Some(_) => {
            policies.iter().map(|p| format!("{} {}", p.kind.github(), p.name)).collect::<Vec<_>>().join(", ")
        }
    };
    out.push_str(&format!("  may deploy: {refs}\n"));
    out.push_str(&format!(
        "  protected: {}\n",
        if env.is_protected() { "yes" } else { "no (no reviewers, no wait timer)" }
    ));
    out
}

/// Runs `environment`.
pub(crate) async fn run(args: &EnvironmentArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let plan = plan(args)?;
    let ctx = RunContext::from_env(env)?;
    let repo = repo_arg("repository", args.repo.as_deref(), &ctx)?;
    let teams = plan.reviewers.iter().any(|r| matches!(r, crate::forge::ReviewerName::Team { .. }));
    let forge = args
        .forge
        .connect(&ctx, env, runner, &repo, crate::forge::app::Access::Environment { teams })
        .await?;
    let (result, policies, changed) = apply(&forge, &repo, &plan, runner).await?;
    let mut r = Report::default();
    r.output("changed", changed.to_string());
    let rules = serde_json::json!({
        "environment": result, "branch_policies": policies, "protected": result.is_protected(),
    });
    r.output("rules", rules.to_string());
    r.text = describe(&result, &policies);
    r.text.push_str(if changed { "  (updated)\n" } else { "  (unchanged)\n" });
    r.summary = format!(
        "### Environment `{}` of `{repo}` {}\n\n```\n{}```\n",
        plan.name,
        if changed { "updated" } else { "unchanged" },
        describe(&result, &policies)
    );
    r.json = serde_json::json!({ "repo": repo.to_string(), "changed": changed, "rules": rules });
    Ok(r)
}

async fn apply(
    forge: &AnyForge,
    repo: &RepoId,
    plan: &Plan,
    runner: &Runner,
) -> anyhow::Result<(Environment, Vec<BranchPolicy>, bool)> {
    let what = || format!("environment {} of {repo}", plan.name);
    // Forgejo answers Unsupported here, before anything is sent.
    let current = forge.get_environment(repo, &plan.name).await.with_context(what)?;
    let mut reviewers = Vec::new();
    for name in &plan.reviewers {
        reviewers.push(forge.find_reviewer(name).await.with_context(|| format!("reviewer {name}"))?);
    }
    let custom = BranchPolicySettings { protected_branches: false, custom_branch_policies: true };
    let want = EnvironmentConfig {
        wait_timer: plan.wait_timer,
        prevent_self_review: plan.prevent_self_review,
        reviewers,
        branch_policy: (!plan.policies.is_empty()).then_some(custom),
    };
    let (env, mut changed) = match current {
        Some(c) if satisfies(&c, &want) => (c, false),
        _ => {
            runner.info(&format!("configuring {}", what()));
            (forge.put_environment(repo, &plan.name, &want).await.with_context(what)?, true)
        }
    };
    if want.branch_policy.is_none() {
        return Ok((env, Vec::new(), changed));
    }
    let before = forge.list_branch_policies(repo, &plan.name).await.with_context(what)?;
    if plan.policies.iter().any(|p| !before.contains(p)) {
        forge.ensure_branch_policies(repo, &plan.name, &plan.policies).await.with_context(what)?;
        changed = true;
        let after = forge.list_branch_policies(repo, &plan.name).await.with_context(what)?;
        return Ok((env, after, changed));
    }
    Ok((env, before, changed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::Reviewer;

    fn args(name: &str) -> EnvironmentArgs {
        EnvironmentArgs {
            environment: Some(name.into()),
            repo: None,
            reviewers: vec![],
            wait_timer: 0,
            prevent_self_review: false,
            tag_policy: vec![],
            branch_policy: vec![],
            forge: ForgeArgs { token: None, api_url: None, forge: None, app_id: None, app_private_key: None },
        }
    }

    #[test]
    fn plans_validate_every_input() {
        let mut a = args("production");
        a.reviewers = vec!["alice, team:org/ops\nalice".into()];
        a.tag_policy = vec!["v*".into()];
        a.branch_policy = vec!["main".into()];
        let p = plan(&a).unwrap();
        assert_eq!(p.reviewers.len(), 2, "duplicates dropped");
        assert_eq!(p.policies[0], BranchPolicy { name: "v*".into(), kind: BranchPolicyKind::Tag });
        assert_eq!(plan(&args("a/b")).unwrap_err().input, "environment");
        assert!(
            plan(&EnvironmentArgs { environment: None, ..args("x") }).unwrap_err().rule.contains("required")
        );
        let mut bad = args("production");
        bad.reviewers = vec!["team:org".into()];
        assert_eq!(plan(&bad).unwrap_err().input, "reviewers");
        bad.reviewers = vec![(0..7).map(|i| format!("u{i}")).collect::<Vec<_>>().join(",")];
        assert!(plan(&bad).unwrap_err().rule.contains("at most 6"));
        let mut bad = args("production");
        bad.wait_timer = 50_000;
        assert_eq!(plan(&bad).unwrap_err().input, "wait-timer");
        let mut bad = args("production");
        bad.tag_policy = vec!["v* x".into()];
        assert_eq!(plan(&bad).unwrap_err().input, "tag-policy");
    }

    #[test]
    fn satisfied_ignores_reviewer_order_and_self_review_without_reviewers() {
        let user = Reviewer { kind: ReviewerKind::User, id: 1, name: "alice".into() };
        let team = Reviewer { kind: ReviewerKind::Team, id: 1, name: "ops".into() };
        let env = Environment {
            name: "production".into(),
            html_url: String::new(),
            reviewers: vec![user.clone(), team.clone()],
            prevent_self_review: true,
            wait_timer: 5,
            branch_policy: None,
        };
        let want = EnvironmentConfig {
            wait_timer: 5,
            prevent_self_review: true,
            reviewers: vec![team.clone(), user.clone()],
            branch_policy: None,
        };
        assert!(satisfies(&env, &want));
        assert!(!satisfies(&env, &EnvironmentConfig { reviewers: vec![user], ..want.clone() }));
        assert!(!satisfies(&env, &EnvironmentConfig { wait_timer: 0, ..want.clone() }));
        let open = Environment { reviewers: vec![], prevent_self_review: false, wait_timer: 0, ..env };
        let want_open = EnvironmentConfig { prevent_self_review: true, ..Default::default() };
        assert!(satisfies(&open, &want_open));
        let text = describe(&open, &[]);
        assert!(
            text.contains("may deploy: every branch and tag") && text.contains("protected: no"),
            "{text}"
        );
    }
}
