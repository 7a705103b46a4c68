//! What runs where: for each environment, the versions its file records, who deployed last,
//! the file's latest commits and (GitHub) the latest deployment with its state. [`gather`]
//! reads the forge; the rest turns the data into text, a summary table and JSON.

use super::plan::image_tags;
use crate::envfile::EnvFile;
use crate::forge::{CommitInfo, DeployState, DeploymentInfo, Forge, ForgeError, RepoId};
use crate::versions::{LAST_DEPLOY_BY, LAST_DEPLOY_DATE, LAST_DEPLOY_RUN};
use serde::Serialize;

/// One service's recorded tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct ServiceTag {
    /// Service (`api`).
    pub service: String,
    /// Tag recorded in the file.
    pub tag: String,
}

/// One commit that touched the versions file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct CommitLine {
    /// Commit sha.
    pub sha: String,
    /// Author login, when the forge links one.
    pub author: Option<String>,
    /// Author date (RFC 3339).
    pub date: String,
    /// First line of the message.
    pub subject: String,
}

impl From<&CommitInfo> for CommitLine {
    fn from(c: &CommitInfo) -> Self {
        CommitLine {
            sha: c.sha.clone(),
            author: c.author.clone(),
            date: c.date.clone(),
            subject: c.message.lines().next().unwrap_or_default().to_owned(),
        }
    }
}

/// The latest GitHub deployment of an environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct LatestDeployment {
    /// Deployment id.
    pub id: u64,
    /// State of its latest status (`success`, `failure`, …; `none` without a status).
    pub state: String,
    /// Creation time.
    pub created_at: String,
    /// Who created it.
    pub creator: Option<String>,
    /// Its description (`release api v1 → v2`).
    pub description: String,
}

impl From<&DeploymentInfo> for LatestDeployment {
    fn from(d: &DeploymentInfo) -> Self {
        LatestDeployment {
            id: d.id,
            state: d.state.map(DeployState::github_deployment).unwrap_or("none").to_owned(),
            created_at: d.created_at.clone(),
            creator: d.creator.clone(),
            description: d.description.clone(),
        }
    }
}

/// What runs on one environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct EnvironmentStatus {
    /// Environment name.
    pub environment: String,
    /// Versions file path in the repository.
    pub env_file: String,
    /// Whether the file exists.
    pub exists: bool,
    /// Image tags recorded, in file order.
    pub versions: Vec<ServiceTag>,
    /// `LAST_DEPLOY_DATE`.
    pub last_deploy_date: Option<String>,
    /// `LAST_DEPLOY_BY`.
    pub last_deploy_by: Option<String>,
    /// `LAST_DEPLOY_RUN`.
    pub last_deploy_run: Option<String>,
    /// Latest commits touching the file, newest first.
    pub commits: Vec<CommitLine>,
    /// Latest deployment (GitHub); `None` on Forgejo or when there is none.
    pub deployment: Option<LatestDeployment>,
    /// Whether the forge has deployments at all (GitHub yes, Forgejo no).
    pub deployments_supported: bool,
}

/// Builds one environment's status from what the forge returned (pure).
pub(crate) fn environment_status(
    environment: &str,
    env_file: &str,
    text: Option<&str>,
    commits: &[CommitInfo],
    deployment: Option<&DeploymentInfo>,
    deployments_supported: bool,
) -> EnvironmentStatus {
    let file = EnvFile::parse(text.unwrap_or_default());
    let get = |k: &str| file.get(k).filter(|v| !v.is_empty()).map(str::to_owned);
    EnvironmentStatus {
        environment: environment.to_owned(),
        env_file: env_file.to_owned(),
        exists: text.is_some(),
        versions: image_tags(&file)
            .into_iter()
            .map(|(service, _, tag)| ServiceTag { service, tag })
            .collect(),
        last_deploy_date: get(LAST_DEPLOY_DATE),
        last_deploy_by: get(LAST_DEPLOY_BY),
        last_deploy_run: get(LAST_DEPLOY_RUN),
        commits: commits.iter().map(CommitLine::from).collect(),
        deployment: deployment.map(LatestDeployment::from),
        deployments_supported,
    }
}

/// Reads each environment's file (path from `env_file` with `{environment}` replaced), its
/// latest `history` commits and, where the forge has them, the latest deployment.
pub(crate) async fn gather<F: Forge>(
    forge: &F,
    repo: &RepoId,
    branch: &str,
    env_file: &str,
    environments: &[String],
    history: usize,
) -> Result<Vec<EnvironmentStatus>, ForgeError> {
    let supported = forge.capabilities().deployments;
    let mut out = Vec::new();
    for environment in environments {
        let path = crate::versions::env_file_for(env_file, environment);
        let file = forge.get_file(repo, &path, Some(branch)).await?;
        let commits = if file.is_some() && history > 0 {
            forge.list_commits(repo, &path, branch, history).await?
        } else {
            Vec::new()
        };
        let deployment = if supported {
            forge.list_deployments(repo, environment, 1).await?.into_iter().next()
        } else {
            None
        };
        out.push(environment_status(
            environment,
            &path,
            file.as_ref().map(|f| f.text.as_str()),
            &commits,
            deployment.as_ref(),
            supported,
        ));
    }
    Ok(out)
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn versions_line(s: &EnvironmentStatus) -> String {
    if !s.exists {
        return format!("no {} yet", s.env_file);
    }
    if s.versions.is_empty() {
        return "no image tags recorded".to_owned();
    }
    s.versions.iter().map(|v| format!("{} {}", v.service, v.tag)).collect::<Vec<_>>().join(", ")
}

fn deployment_line(s: &EnvironmentStatus) -> String {
    match (&s.deployment, s.deployments_supported) {
        (Some(d), _) => format!(
            "#{} {} ({}{}): {}",
            d.id,
            d.state,
            d.created_at,
            d.creator.as_deref().map(|c| format!(" by {c}")).unwrap_or_default(),
            d.description
        ),
        (None, true) => "none".to_owned(),
        (None, false) => "none on this forge (the file's history is the record)".to_owned(),
    }
}

/// The plain-text report, one block per environment.
pub(crate) fn render_text(all: &[EnvironmentStatus]) -> String {
    let mut out = String::new();
    for s in all {
        out.push_str(&format!("{} ({})\n", s.environment, s.env_file));
        out.push_str(&format!("  versions: {}\n", versions_line(s)));
        if let Some(date) = &s.last_deploy_date {
            out.push_str(&format!(
                "  last deploy: {date}{}{}\n",
                s.last_deploy_by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default(),
                s.last_deploy_run.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
            ));
        }
        out.push_str(&format!("  deployment: {}\n", deployment_line(s)));
        for c in &s.commits {
            out.push_str(&format!(
                "  {} {} {}: {}\n",
                short(&c.sha),
                c.date,
                c.author.as_deref().unwrap_or("?"),
                c.subject
            ));
        }
    }
    out
}

/// Escapes a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The job summary: one table of environments, then each one's latest commits.
pub(crate) fn render_summary(repo: &RepoId, all: &[EnvironmentStatus]) -> String {
    let mut out = format!(
        "### What runs where in `{repo}`\n\n| Environment | Versions | Last deploy | Deployment |\n|---|---|---|---|\n"
    );
    for s in all {
        let last = match &s.last_deploy_date {
            Some(d) => {
                let by = s.last_deploy_by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
                match &s.last_deploy_run {
                    Some(run) => format!("[{d}{by}]({run})"),
                    None => format!("{d}{by}"),
                }
            }
            None => "—".to_owned(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell(&s.environment),
            cell(&versions_line(s)),
            cell(&last),
            cell(&deployment_line(s))
        ));
    }
    for s in all.iter().filter(|s| !s.commits.is_empty()) {
        out.push_str(&format!("\n**{}** — latest changes of `{}`:\n\n", cell(&s.environment), s.env_file));
        for c in &s.commits {
            out.push_str(&format!(
                "- `{}` {} {}: {}\n",
                short(&c.sha),
                c.date,
                c.author.as_deref().unwrap_or("?"),
                cell(&c.subject)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(sha: &str, message: &str) -> CommitInfo {
        CommitInfo {
            sha: sha.into(),
            message: message.into(),
            date: "2026-01-02T00:00:00Z".into(),
            author: Some("alice".into()),
        }
    }

    #[test]
    fn versions_last_deploy_commits_and_deployment() {
        let text = "# ops\nAPI_IMAGE_TAG=v2\nWEB_IMAGE_TAG=\nLAST_DEPLOY_DATE=2026-01-02T00:00:00Z\nLAST_DEPLOY_BY=alice\n";
        let deployment = DeploymentInfo {
            id: 7,
            sha: "abc".into(),
            git_ref: "main".into(),
            environment: "staging".into(),
            created_at: "2026-01-02T00:00:01Z".into(),
            payload: serde_json::Value::Null,
            description: "release api v1 → v2".into(),
            creator: Some("bot".into()),
            state: Some(DeployState::Failure),
            log_url: None,
        };
        let s = environment_status(
            "staging",
            ".env.versions",
            Some(text),
            &[commit("0123456789abcdef", "deploy: api v1 → v2\n\nbody")],
            Some(&deployment),
            true,
        );
        assert_eq!(s.versions, [ServiceTag { service: "api".into(), tag: "v2".into() }]);
        assert_eq!(s.last_deploy_by.as_deref(), Some("alice"));
        assert_eq!(s.last_deploy_run, None);
        assert_eq!(s.commits[0].subject, "deploy: api v1 → v2");
        let text = render_text(std::slice::from_ref(&s));
        assert!(text.contains("  versions: api v2\n"), "{text}");
        assert!(
            text.contains("  deployment: #7 failure (2026-01-02T00:00:01Z by bot): release api v1 → v2"),
            "{text}"
        );
        assert!(text.contains("  0123456 2026-01-02T00:00:00Z alice: deploy: api v1 → v2\n"), "{text}");
        let repo = RepoId::parse("org/ops").unwrap();
        let summary = render_summary(&repo, &[s]);
        assert!(
            summary.contains("| staging | api v2 | 2026-01-02T00:00:00Z by alice | #7 failure"),
            "{summary}"
        );
    }

    #[test]
    fn a_missing_file_and_a_forge_without_deployments_say_so() {
        let s = environment_status("qa", "deploy/qa/.env.versions", None, &[], None, false);
        let text = render_text(&[s]);
        assert!(text.contains("versions: no deploy/qa/.env.versions yet"), "{text}");
        assert!(text.contains("deployment: none on this forge"), "{text}");
    }
}
