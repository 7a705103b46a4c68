//! Arguments shared by commands that talk to a forge: which API, which token (given, from the
//! environment, or minted for a GitHub App).

use crate::context::{ForgeKind, RunContext, forge_of_api_url};
use crate::env::{EnvMap, vars};
use crate::forge::app::{self, Access, AppCredentials};
use crate::forge::{AnyForge, RepoId, RetryPolicy};
use crate::runner::Runner;
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
    #[arg(long, value_name = "FORGE", value_enum)]
    pub forge: Option<ForgeChoice>,
    /// GitHub App ID: with `app-private-key`, an installation token is minted for the target
    /// repository with only the permissions the command needs, and used instead of `token`.
    #[arg(long, value_name = "ID")]
    pub app_id: Option<String>,
    /// The GitHub App's private key (the PEM its settings page generated). Masked before
    /// anything else is printed.
    #[arg(long, value_name = "PEM", hide_env_values = true)]
    pub app_private_key: Option<String>,
}

/// The `forge` input's values. `gitea` is accepted only to be refused with the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ForgeChoice {
    /// github.com or GitHub Enterprise Server.
    Github,
    /// Forgejo (v11 and later).
    Forgejo,
    /// Refused: Gitea's Actions API differs.
    #[value(hide = true)]
    Gitea,
}

impl ForgeArgs {
    /// The client for these arguments in this run context, to act on `repo` as `access` says.
    /// With a GitHub App, its installation token for `repo` is minted here (masked at once).
    pub async fn connect(
        &self,
        ctx: &RunContext,
        env: &EnvMap,
        runner: &Runner,
        repo: &RepoId,
        access: Access,
    ) -> Result<AnyForge, anyhow::Error> {
        let (kind, api) = self.api(ctx)?;
        let token = match self.app()? {
            Some(creds) => Some(self.mint(kind, &api, &creds, repo, access, runner).await?),
            None => self.token(env)?,
        };
        let mut forge = AnyForge::connect(Some(kind), &api, token)?;
        if let Some(secs) = env.non_empty(vars::SECONDARY_RATE_LIMIT_WAIT) {
            let secs: u64 = secs.trim().parse().map_err(|_| {
                InputError::new(vars::SECONDARY_RATE_LIMIT_WAIT, secs, "must be a number of seconds")
            })?;
            forge = forge.with_secondary_wait(std::time::Duration::from_secs(secs));
        }
        Ok(forge)
    }

    /// The forge kind and API URL.
    fn api(&self, ctx: &RunContext) -> Result<(ForgeKind, String), InputError> {
        let kind = match self.forge {
            None => None,
            Some(ForgeChoice::Github) => Some(ForgeKind::Github),
            Some(ForgeChoice::Forgejo) => Some(ForgeKind::Forgejo),
            // Gitea is not Forgejo: its dispatch takes `return_run_details` as a query
            // parameter and its runs report `status: completed` plus `conclusion`, which the
            // Forgejo client read as still queued (a wait polled until its timeout).
            Some(ForgeChoice::Gitea) => {
                return Err(InputError::new(
                    "forge",
                    "gitea",
                    "is not supported: Gitea's Actions API differs from Forgejo's (run details, run states), \
                     so runs could not be followed; use GitHub or Forgejo",
                ));
            }
        };
        let api = self.api_url.clone().unwrap_or_else(|| ctx.api_url.clone());
        if url::Url::parse(&api).is_err() {
            return Err(InputError::new("api-url", api, "is not a URL"));
        }
        let kind = kind.or(if self.api_url.is_none() { ctx.forge } else { None });
        Ok((kind.unwrap_or_else(|| forge_of_api_url(&api)), api))
    }

    /// The given token, else `GITHUB_TOKEN`, else `FORGEJO_TOKEN`.
    fn token(&self, env: &EnvMap) -> Result<Option<Secret>, InputError> {
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
            ));
        }
        Ok(token)
    }

    /// The App credentials when `app-id` or `app-private-key` is set (both must be); the key is
    /// registered for redaction first.
    fn app(&self) -> Result<Option<AppCredentials>, InputError> {
        let set =
            |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let (id, key) = (set(&self.app_id), set(&self.app_private_key));
        // Already sent to the runner's mask list with the other secret inputs; registered here
        // for redaction too, for callers that build these arguments themselves.
        if let Some(key) = &key {
            crate::secret::register(key);
        }
        match (id, key) {
            (None, None) => Ok(None),
            (Some(id), None) => Err(InputError::new(
                "app-private-key",
                "",
                format!(
                    "is empty while app-id is {id}: pass the App's private key (a secret such as APP_PRIVATE_KEY), or neither"
                ),
            )),
            (None, Some(_)) => Err(InputError::new(
                "app-id",
                "",
                "is empty while app-private-key is set: pass the App's ID (a variable such as APP_ID), or neither",
            )),
            (Some(id), Some(key)) => {
                let creds = AppCredentials::parse(&id, &key)?;
                Ok(Some(creds))
            }
        }
    }

    /// Mints the App's installation token for `repo` (GitHub only) and masks it.
    async fn mint(
        &self,
        kind: ForgeKind,
        api: &str,
        creds: &AppCredentials,
        repo: &RepoId,
        access: Access,
        runner: &Runner,
    ) -> anyhow::Result<Secret> {
        if kind != ForgeKind::Github {
            return Err(InputError::new(
                "app-id",
                creds.app_id.to_string(),
                "is GitHub only: Forgejo has no GitHub Apps; pass a Forgejo token (`token`) instead",
            )
            .into());
        }
        let minted = app::installation_token(api, creds, repo, access, RetryPolicy::for_forge()).await?;
        runner.mask(minted.token.expose());
        runner.info(&format!(
            "GitHub App {}: installation token for {repo} ({}), expires {}",
            creds.app_id,
            app::describe(&access.permissions()),
            minted.expires_at
        ));
        Ok(minted.token)
    }
}

/// Parses `owner/name` (the `repository` input), defaulting to this run's repository.
pub(crate) fn repo_arg(input: &str, value: Option<&str>, ctx: &RunContext) -> Result<RepoId, InputError> {
    let raw = value.map(str::trim).filter(|v| !v.is_empty()).unwrap_or(&ctx.repository);
    RepoId::parse(raw).ok_or_else(|| InputError::new(input, raw, "must be owner/name"))
}
