//! GitHub App installation tokens: a short-lived token for one repository, scoped to what the
//! command needs, minted from the App's id and private key instead of a personal access token.
//!
//! octocrab does the App flow (RS256 JWT, `GET /repos/{o}/{r}/installation`,
//! `POST /app/installations/{id}/access_tokens`) on our reqwest client (rustls, no second TLS
//! stack); our retry policy wraps each call. Everything after the token is minted goes through
//! our own client ([`super::http`]), the one HTTP path for GitHub and Forgejo (octocrab has no
//! Forgejo).

use super::model::RepoId;
use crate::retry::{RetryPolicy, is_retryable_status, parse_retry_after};
use crate::secret::Secret;
use crate::settings::InputError;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// What a command does on the forge: it picks the permissions its App token asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `dispatch` with `workflow`, and `publish`: dispatch, read the workflow file, follow the run.
    Dispatch,
    /// `dispatch` with `event-type`: `POST /repos/{o}/{r}/dispatches` needs contents write.
    RepositoryDispatch,
    /// `record`: read and write the versions file.
    Record,
    /// `release`, `rollback`, `promote`, `approve`: the versions file, commit statuses,
    /// deployments, the approval issue, the environment's protection.
    Release,
    /// `approve`: as `Release`; with team approvers also the organisation's members (read).
    Approve {
        /// An approver is `org/team`.
        teams: bool,
    },
    /// `status`: read the versions file, its commits and the deployments.
    Status,
    /// `environment`: configure the environment and its branch policies; `teams`: a reviewer is
    /// a team, looked up with the organisation's members permission.
    Environment {
        /// A reviewer is `team:org/slug`.
        teams: bool,
    },
}

impl Access {
    /// The installation permissions to request: the one table of what each command needs,
    /// derived from the routes it calls (metadata read is always granted and not listed).
    pub fn permissions(self) -> BTreeMap<&'static str, &'static str> {
        let list: &[(&str, &str)] = match self {
            // POST …/actions/workflows/{f}/dispatches, GET …/actions/runs[/{id}];
            // GET …/contents/{workflow file} (does it declare `dispatch_id`?).
            Access::Dispatch => &[("actions", "write"), ("contents", "read")],
            // POST …/dispatches.
            Access::RepositoryDispatch => &[("contents", "write")],
            // GET/PUT …/contents/{file}, GET …/commits.
            Access::Record => &[("contents", "write")],
            // The versions file (contents), POST …/statuses/{sha}, POST …/deployments[/{id}/statuses],
            // the approval issue and its comments, GET …/environments/{name} (actions read).
            Access::Release => &[
                ("actions", "read"),
                ("contents", "write"),
                ("deployments", "write"),
                ("issues", "write"),
                ("statuses", "write"),
            ],
            Access::Approve { teams: false } => return Access::Release.permissions(),
            // GET /orgs/{org}/teams/{slug}/memberships/{login} too.
            Access::Approve { teams: true } => {
                let mut p = Access::Release.permissions();
                p.insert("members", "read");
                return p;
            }
            // GET …/contents, …/commits, …/deployments[/{id}/statuses].
            Access::Status => &[("contents", "read"), ("deployments", "read")],
            // PUT …/environments/{name}, POST …/deployment-branch-policies; GETs need actions read.
            Access::Environment { teams: false } => &[("actions", "read"), ("administration", "write")],
            // GET /orgs/{org}/teams/{slug} too.
            Access::Environment { teams: true } => {
                &[("actions", "read"), ("administration", "write"), ("members", "read")]
            }
        };
        list.iter().copied().collect()
    }
}

/// A GitHub App's id and private key (PEM), validated; the key is a [`Secret`].
#[derive(Clone)]
pub struct AppCredentials {
    /// The App ID (a number, from the App's settings page).
    pub app_id: u64,
    key: Secret,
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials").field("app_id", &self.app_id).field("key", &self.key).finish()
    }
}

impl AppCredentials {
    /// Validates the `app-id` and `app-private-key` inputs (no I/O). A key pasted with literal
    /// `\n` escapes (one line) is accepted.
    pub fn parse(app_id: &str, pem: &str) -> Result<Self, InputError> {
        let id = app_id.trim();
        let app_id = id.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            InputError::new("app-id", id, "must be the App's numeric App ID (its settings page)")
        })?;
        let mut pem = pem.trim().to_owned();
        if !pem.contains('\n') && pem.contains("\\n") {
            pem = pem.replace("\\n", "\n");
        }
        let key = Secret::new(pem);
        if octocrab::jsonwebtoken::EncodingKey::from_rsa_pem(key.expose().as_bytes()).is_err() {
            return Err(InputError::new(
                "app-private-key",
                crate::secret::REDACTED,
                "is not an RSA private key in PEM (`-----BEGIN RSA PRIVATE KEY-----`): paste the whole .pem file the App's settings page generated",
            ));
        }
        Ok(AppCredentials { app_id, key })
    }
}

/// A minted installation token.
#[derive(Clone, Debug)]
pub struct Minted {
    /// The token (`ghs_…`), registered for redaction.
    pub token: Secret,
    /// When it expires (RFC 3339; an hour after minting on GitHub).
    pub expires_at: String,
}

/// The step of the App flow that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `GET /repos/{o}/{r}/installation`, authenticated with the JWT.
    Installation,
    /// `POST /app/installations/{id}/access_tokens`.
    Token,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Installation => {
                "looking up the App's installation (GET /repos/{owner}/{repo}/installation)"
            }
            Step::Token => "minting an installation token (POST /app/installations/{id}/access_tokens)",
        })
    }
}

/// Why no installation token could be minted; each names the step and the fix.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 404 on the installation lookup.
    #[error(
        "GitHub App {app_id} is not installed on {repo} (404 while {step}). Fix: install the App on {repo} (the App's page → Install App), or add {repo} to the installation's repositories"
    )]
    NotInstalled {
        /// The App.
        app_id: u64,
        /// The repository.
        repo: String,
        /// The step.
        step: Step,
    },
    /// 401: the JWT was refused (a key of another App, a revoked key, a wrong App ID, a clock off).
    #[error(
        "GitHub refused the JWT of App {app_id} (401) while {step}: {server}. Fix: `app-private-key` must be a current private key of App {app_id} and `app-id` its App ID (the App's settings page)"
    )]
    BadJwt {
        /// The App.
        app_id: u64,
        /// The step.
        step: Step,
        /// The server's message.
        server: String,
    },
    /// 422 on the token: a requested permission exceeds the installation's.
    #[error(
        "GitHub refused to mint a token for {repo} with {requested} (422 while {step}): {server}. Fix: give App {app_id} these repository permissions (App settings → Permissions & events), then accept them on the installation"
    )]
    Permissions {
        /// The App.
        app_id: u64,
        /// The repository.
        repo: String,
        /// The permissions asked for (`actions:write, contents:read`).
        requested: String,
        /// The step.
        step: Step,
        /// The server's message.
        server: String,
    },
    /// Any other answer.
    #[error("GitHub answered {status} while {step} for App {app_id} on {repo}: {server}")]
    Api {
        /// The App.
        app_id: u64,
        /// The repository.
        repo: String,
        /// The step.
        step: Step,
        /// HTTP status.
        status: u16,
        /// The server's message.
        server: String,
    },
    /// No answer (connection refused or dropped, timeout), or the client could not be built.
    #[error("{step} for App {app_id} on {repo} failed: {reason}")]
    Transport {
        /// The App.
        app_id: u64,
        /// The repository.
        repo: String,
        /// The step.
        step: Step,
        /// What failed (redacted).
        reason: String,
    },
}

/// `owner:level` pairs as a user reads them: `actions:write, contents:read`.
pub fn describe(permissions: &BTreeMap<&str, &str>) -> String {
    permissions.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(", ")
}

/// Mints an installation token of App `app` for `repo` alone with `access`'s permissions, at
/// the API `api` (`https://api.github.com`, `https://ghes/api/v3`). 5xx answers, rate limits
/// and dropped connections are retried with `retry`.
pub async fn installation_token(
    api: &str,
    app: &AppCredentials,
    repo: &RepoId,
    access: Access,
    retry: RetryPolicy,
) -> Result<Minted, AppError> {
    let (app_id, repo_name) = (app.app_id, repo.to_string());
    let transport = |step, reason: String| AppError::Transport {
        app_id,
        repo: repo_name.clone(),
        step,
        reason: crate::secret::redact(&reason),
    };
    let crab = client(api, app).map_err(|e| transport(Step::Installation, e))?;
    let installation = with_retry(retry, || async {
        crab.apps().get_repository_installation(&repo.owner, &repo.name).await
    })
    .await
    .map_err(|e| fail(e, Step::Installation, app_id, &repo_name, ""))?;
    let permissions = access.permissions();
    let body = octocrab::models::apps::CreateInstallationAccessToken {
        repositories: Some(vec![repo.name.clone()]),
        repository_ids: None,
        permissions: Some(permissions.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
    };
    let token = with_retry(retry, || async {
        crab.apps().create_installation_access_token(installation.id, &body).await
    })
    .await
    .map_err(|e| fail(e, Step::Token, app_id, &repo_name, &describe(&permissions)))?;
    let minted = Minted { token: Secret::new(token.token), expires_at: token.expires_at.unwrap_or_default() };
    if minted.token.is_empty() {
        return Err(AppError::Api {
            app_id,
            repo: repo_name,
            step: Step::Token,
            status: 201,
            server: "the answer holds no token".into(),
        });
    }
    Ok(minted)
}

/// An octocrab client authenticated as the App, on a reqwest client like ours.
fn client(api: &str, app: &AppCredentials) -> Result<octocrab::Octocrab, String> {
    let key = octocrab::jsonwebtoken::EncodingKey::from_rsa_pem(app.key.expose().as_bytes())
        .map_err(|e| format!("app-private-key: {}", chain(&e)))?;
    let http = reqwest::Client::builder()
        .user_agent(concat!("deploy-action/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| chain(&e))?;
    let api_version = reqwest::header::HeaderName::from_static("x-github-api-version");
    octocrab::Octocrab::builder()
        .base_uri(api.trim_end_matches('/'))
        .map_err(|e| format!("API URL {api}: {}", chain(&e)))?
        .add_header(api_version, "2022-11-28".to_owned())
        .app(octocrab::models::AppId(app.app_id), key)
        .build_with_reqwest(http)
        .map_err(|e| chain(&e))
}

/// Runs `call` until it succeeds, fails for good, or `policy` allows no more attempts.
async fn with_retry<T, F, Fut>(policy: RetryPolicy, mut call: F) -> Result<T, octocrab::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, octocrab::Error>>,
{
    let mut backoff = policy.backoff();
    loop {
        let outcome = call().await;
        let server_wait = match &outcome {
            Ok(_) => return outcome,
            Err(e) => match transient(e) {
                Some(wait) => wait,
                None => return outcome,
            },
        };
        let Some(delay) = backoff.next_wait(server_wait) else { return outcome };
        tokio::time::sleep(delay).await;
    }
}

/// `Some(server's wait)` when the failure is worth retrying: 5xx, rate limits, no answer.
fn transient(e: &octocrab::Error) -> Option<Option<Duration>> {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            let retry_after = source
                .headers
                .as_ref()
                .and_then(|h| h.get("retry-after"))
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let limited = status == 429
                || (status == 403
                    && (retry_after.is_some() || source.message.to_ascii_lowercase().contains("rate limit")));
            (limited || is_retryable_status(status)).then_some(retry_after)
        }
        octocrab::Error::Reqwest { .. } | octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. } => {
            Some(None)
        }
        _ => None,
    }
}

/// The error for a failed step.
fn fail(e: octocrab::Error, step: Step, app_id: u64, repo: &str, requested: &str) -> AppError {
    let repo = repo.to_owned();
    let octocrab::Error::GitHub { source, .. } = &e else {
        return AppError::Transport { app_id, repo, step, reason: crate::secret::redact(&chain(&e)) };
    };
    let server = crate::secret::redact(&source.message);
    match (step, source.status_code.as_u16()) {
        (Step::Installation, 404) => AppError::NotInstalled { app_id, repo, step },
        (_, 401) => AppError::BadJwt { app_id, step, server },
        (Step::Token, 422) => {
            AppError::Permissions { app_id, repo, requested: requested.to_owned(), step, server }
        }
        (_, status) => AppError::Api { app_id, repo, step, status, server },
    }
}

/// An error and its sources, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_follow_the_commands_routes() {
        assert_eq!(describe(&Access::Dispatch.permissions()), "actions:write, contents:read");
        assert_eq!(describe(&Access::RepositoryDispatch.permissions()), "contents:write");
        assert_eq!(
            describe(&Access::Release.permissions()),
            "actions:read, contents:write, deployments:write, issues:write, statuses:write"
        );
        assert_eq!(describe(&Access::Status.permissions()), "contents:read, deployments:read");
        assert!(!Access::Environment { teams: false }.permissions().contains_key("members"));
        assert_eq!(Access::Environment { teams: true }.permissions()["members"], "read");
    }

    #[test]
    fn credentials_are_validated_without_io() {
        assert_eq!(AppCredentials::parse("abc", "x").unwrap_err().input, "app-id");
        assert_eq!(AppCredentials::parse("0", "x").unwrap_err().input, "app-id");
        let e =
            AppCredentials::parse("12", "-----BEGIN RSA PRIVATE KEY-----\nnot-a-key-at-all\n").unwrap_err();
        assert_eq!(e.input, "app-private-key");
        assert!(!e.to_string().contains("not-a-key-at-all"), "{e}");
    }
}
