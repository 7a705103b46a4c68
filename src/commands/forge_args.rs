//! Arguments shared by commands that talk to a forge: which API, which token.

use crate::context::{ForgeKind, RunContext};
use crate::env::{EnvMap, vars};
use crate::forge::{AnyForge, RepoId};
use crate::secret::Secret;
use crate::settings::InputError;

/// Which forge API to use and the token for it.
#[derive(Debug, Clone, clap::Args)]
pub struct ForgeArgs {
    /// API token. A personal access token (or App token) for another repository: GitHub
    /// needs Actions write to dispatch and Contents write to commit; Forgejo write:repository.
    /// Default: `GITHUB_TOKEN`, then `FORGEJO_TOKEN` from the environment.
    #[arg(long, value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// REST API URL (`https://api.github.com`, `https://ghes/api/v3`, `https://host/api/v1`).
    /// Default: this run's `GITHUB_API_URL`.
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// `github` or `forgejo`; default: told from the runner or the API URL.
    #[arg(long, value_name = "FORGE")]
    pub forge: Option<String>,
}

impl ForgeArgs {
    /// The client for these arguments in this run context.
    pub fn connect(&self, ctx: &RunContext, env: &EnvMap) -> Result<AnyForge, anyhow::Error> {
        let kind = match self.forge.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("github") => Some(ForgeKind::Github),
            Some("forgejo") => Some(ForgeKind::Forgejo),
            // Gitea is not Forgejo: its dispatch takes `return_run_details` as a query
            // parameter and its runs report `status: completed` plus `conclusion`, which the
            // Forgejo client read as still queued (a wait polled until its timeout).
            Some("gitea") => {
                return Err(InputError::new(
                    "forge",
                    "gitea",
                    "is not supported: Gitea's Actions API differs from Forgejo's (run details, run states), \
                     so runs could not be followed; use GitHub or Forgejo",
                )
                .into());
            }
            Some(other) => return Err(InputError::new("forge", other, "must be github or forgejo").into()),
        };
        let api = self.api_url.clone().unwrap_or_else(|| ctx.api_url.clone());
        if url::Url::parse(&api).is_err() {
            return Err(InputError::new("api-url", api, "is not a URL").into());
        }
        let kind = kind.or(if self.api_url.is_none() { ctx.forge } else { None });
        let token = self
            .token
            .clone()
            .or_else(|| env.non_empty(vars::GITHUB_TOKEN).map(str::to_owned))
            .or_else(|| env.non_empty(vars::FORGEJO_TOKEN).map(str::to_owned))
            .filter(|t| !t.trim().is_empty())
            .map(|t| Secret::new(t.trim()));
        if token.is_none() {
            return Err(InputError::new(
                "token",
                "",
                "is empty: pass a token with write access to the target repository",
            )
            .into());
        }
        let mut forge = AnyForge::connect(kind, &api, token)?;
        if let Some(secs) = env.non_empty(vars::SECONDARY_RATE_LIMIT_WAIT) {
            let secs: u64 = secs.trim().parse().map_err(|_| {
                InputError::new(vars::SECONDARY_RATE_LIMIT_WAIT, secs, "must be a number of seconds")
            })?;
            forge = forge.with_secondary_wait(std::time::Duration::from_secs(secs));
        }
        Ok(forge)
    }
}

/// Parses `owner/name` (the `repository` input), defaulting to this run's repository.
pub fn repo_arg(input: &str, value: Option<&str>, ctx: &RunContext) -> Result<RepoId, InputError> {
    let raw = value.map(str::trim).filter(|v| !v.is_empty()).unwrap_or(&ctx.repository);
    RepoId::parse(raw).ok_or_else(|| InputError::new(input, raw, "must be owner/name"))
}
