//! Credentials (action inputs, `~/.docker/config.json`, runner tokens) and the
//! `WWW-Authenticate` challenge flow: basic, or bearer tokens cached per scope.

use super::error::RegistryError;
use crate::env::{EnvMap, vars};
use crate::secret::Secret;
use base64::Engine as _;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A user name and password (or token) for one registry.
#[derive(Clone, Debug)]
pub struct Credential {
    /// User name (not secret; shown in errors).
    pub username: String,
    /// Password or token.
    pub password: Secret,
    /// A docker config `identitytoken`: an OAuth2 refresh token, exchanged at the token
    /// service (`grant_type=refresh_token`) instead of sending the password.
    pub identity_token: Option<Secret>,
    /// Where it came from (`registry-auth` line 2, docker config, `GITHUB_TOKEN`): logged, not secret.
    pub source: String,
}

impl Credential {
    /// A user name and password from `source`.
    pub fn new(username: &str, password: Secret, source: impl Into<String>) -> Self {
        Credential { username: username.to_owned(), password, identity_token: None, source: source.into() }
    }
}

/// Credentials per registry host. Explicit entries win over docker config and runner tokens.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    by_host: HashMap<String, Credential>,
}

/// Normalises a registry name for lookup: no scheme, no path, Docker Hub aliases folded.
pub fn normalize_host(host: &str) -> String {
    let h = host.trim().trim_start_matches("https://").trim_start_matches("http://");
    let h = h.split('/').next().unwrap_or(h).to_ascii_lowercase();
    match h.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => super::reference::DOCKER_HUB.to_owned(),
        _ => h,
    }
}

impl Credentials {
    /// Adds (or replaces) the credential for `host`, registering `user:password`'s base64 forms
    /// (what a `Basic` header carries) for redaction.
    pub fn insert(&mut self, host: &str, username: &str, password: Secret) {
        self.insert_credential(host, Credential::new(username, password, "the caller"));
    }

    /// Adds (or replaces) `cred` for `host`, registering its secret forms for redaction.
    pub fn insert_credential(&mut self, host: &str, cred: Credential) {
        crate::secret::register_credentials(&cred.username, cred.password.expose());
        if let Some(t) = &cred.identity_token {
            crate::secret::register(t.expose());
        }
        self.by_host.insert(normalize_host(host), cred);
    }

    /// The credential for `host`, if any.
    pub fn get(&self, host: &str) -> Option<&Credential> {
        self.by_host.get(&normalize_host(host))
    }

    /// `(host, source)` of every credential, sorted by host: what may be logged.
    pub fn sources(&self) -> Vec<(String, String)> {
        let mut all: Vec<_> = self.by_host.iter().map(|(h, c)| (h.clone(), c.source.clone())).collect();
        all.sort();
        all
    }

    /// Reads docker config, then runner conventions (`GITHUB_TOKEN` for ghcr.io, the Forgejo
    /// token for the Forgejo instance's registry); explicit entries are added by the caller after.
    pub fn from_env(env: &EnvMap) -> Self {
        let mut c = Credentials::default();
        let actor = env.non_empty(vars::GITHUB_ACTOR).unwrap_or("token");
        if let Some(t) = env.non_empty(vars::GITHUB_TOKEN) {
            c.insert_credential("ghcr.io", Credential::new(actor, Secret::new(t), "GITHUB_TOKEN"));
        }
        let forgejo =
            env.get(vars::FORGEJO_ACTIONS) == Some("true") || env.get(vars::GITEA_ACTIONS) == Some("true");
        if forgejo
            && let (Some(server), Some(t)) = (
                env.non_empty(vars::GITHUB_SERVER_URL),
                env.non_empty(vars::FORGEJO_TOKEN).or(env.non_empty(vars::GITHUB_TOKEN)),
            )
        {
            c.insert_credential(server, Credential::new(actor, Secret::new(t), "the Forgejo token"));
        }
        let dir = env
            .non_empty(vars::DOCKER_CONFIG)
            .map(std::path::PathBuf::from)
            .or_else(|| env.non_empty(vars::HOME).map(|h| std::path::Path::new(h).join(".docker")));
        if let Some(dir) = dir {
            let path = dir.join("config.json");
            if let Ok(text) = std::fs::read_to_string(&path) {
                c.merge_docker_config(&text, &path.display().to_string());
            }
        }
        c
    }

    /// Adds the usable `auths` entries of a docker `config.json` read from `origin`
    /// (entries it cannot use are skipped, as docker skips them).
    pub fn merge_docker_config(&mut self, text: &str, origin: &str) {
        let Ok(entries) = docker_config_auths(text) else { return };
        for (host, entry) in entries {
            if let Ok(cred) = entry.into_credential(origin) {
                self.insert_credential(&host, cred);
            }
        }
    }
}

/// One `auths` entry of a docker `config.json`.
#[derive(serde::Deserialize, Default)]
pub struct DockerAuth {
    /// base64 `user:password`.
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    /// OAuth2 refresh token (`az acr login`, docker login with a token service).
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The `auths` entries of a docker `config.json`, sorted by key, every secret registered for
/// redaction first. Fails (without quoting the text) when it is not such JSON.
pub fn docker_config_auths(text: &str) -> Result<Vec<(String, DockerAuth)>, String> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        auths: std::collections::BTreeMap<String, DockerAuth>,
    }
    let config: Config = serde_json::from_str(text).map_err(|e| {
        format!(
            "is not a docker config.json (`{{\"auths\": {{HOST: {{\"auth\": …}}}}}}`): line {}, column {}",
            e.line(),
            e.column()
        )
    })?;
    for entry in config.auths.values() {
        for s in [&entry.auth, &entry.password, &entry.identitytoken].into_iter().flatten() {
            crate::secret::register(s.trim());
        }
        if let Ok((u, p)) = entry.basic() {
            crate::secret::register_credentials(&u, &p);
        }
    }
    Ok(config.auths.into_iter().collect())
}

impl DockerAuth {
    /// The user and password: from `auth` (base64 `user:password`), else `username`/`password`.
    fn basic(&self) -> Result<(String, String), &'static str> {
        if let Some(auth) = &self.auth {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| "has an `auth` that is not base64")?;
            let s = String::from_utf8(raw).map_err(|_| "has an `auth` that is not UTF-8")?;
            let (u, p) = s.split_once(':').ok_or("has an `auth` without `user:password`")?;
            return Ok((u.to_owned(), p.to_owned()));
        }
        match (&self.username, &self.password) {
            (Some(u), Some(p)) => Ok((u.clone(), p.clone())),
            (None, Some(_)) => Err("has a `password` without a `username`"),
            _ if self.identitytoken.is_some() => {
                Ok((self.username.clone().unwrap_or_default(), String::new()))
            }
            _ => Err("has no `auth`, `username`/`password` or `identitytoken`"),
        }
    }

    /// The credential this entry holds, or the rule it breaks.
    pub fn into_credential(self, source: &str) -> Result<Credential, &'static str> {
        let (user, pass) = self.basic()?;
        let mut cred = Credential::new(&user, Secret::new(pass), source);
        cred.identity_token = self.identitytoken.filter(|t| !t.trim().is_empty()).map(Secret::new);
        Ok(cred)
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=…`.
    Basic,
    /// `Bearer realm=…,service=…,scope=…`.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// Service name to pass back.
        service: Option<String>,
        /// Scope the registry asked for.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_owned());
        s = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

/// A bearer token and when it stops being usable.
#[derive(Clone, Debug)]
struct CachedToken {
    token: Secret,
    expires: Instant,
}

/// Per-registry authentication state: the scheme learnt from the first challenge and a token cache.
#[derive(Debug, Default)]
pub struct AuthState {
    challenge: Option<Challenge>,
    tokens: HashMap<String, CachedToken>,
}

impl AuthState {
    /// The `Authorization` header for `scopes`, when one is known and still valid.
    /// A valid token granted for a superset of `scopes` serves too.
    pub fn header(&self, cred: Option<&Credential>, scopes: &[String]) -> Option<String> {
        match self.challenge.as_ref()? {
            Challenge::Basic => cred.map(basic_header),
            Challenge::Bearer { .. } => {
                let now = Instant::now();
                let key = scopes.join(" ");
                let t = self.tokens.get(&key).filter(|t| t.expires > now).or_else(|| {
                    self.tokens.iter().find(|(k, t)| t.expires > now && covers(k, scopes)).map(|(_, t)| t)
                })?;
                Some(format!("Bearer {}", t.token.expose()))
            }
        }
    }

    /// Records a challenge. A refused token (`sent`) is dropped; a request that went out
    /// before a token arrived leaves the cache alone.
    pub fn challenged(&mut self, challenge: Challenge, sent: Option<&str>) {
        if let Some(sent) = sent {
            self.tokens.retain(|_, t| format!("Bearer {}", t.token.expose()) != sent);
        }
        self.challenge = Some(challenge);
    }

    /// The current challenge.
    pub fn challenge(&self) -> Option<&Challenge> {
        self.challenge.as_ref()
    }

    /// Caches a token for `scopes`, expiring a little early to absorb clock and network delay.
    pub fn store(&mut self, scopes: &[String], token: Secret, expires_in: Duration) {
        let life = expires_in.saturating_sub(Duration::from_secs(5)).max(Duration::from_secs(1));
        self.tokens.insert(scopes.join(" "), CachedToken { token, expires: Instant::now() + life });
    }
}

/// True when the space-separated scopes `have` grant every scope in `want`
/// (`repository:a:pull,push` covers `repository:a:pull`).
pub fn covers(have: &str, want: &[String]) -> bool {
    let split = |s: &str| {
        s.rsplit_once(':')
            .map(|(res, acts)| (res.to_owned(), acts.split(',').map(str::to_owned).collect::<Vec<_>>()))
    };
    let have: Vec<_> = have.split(' ').filter_map(split).collect();
    want.iter().all(|w| {
        split(w).is_some_and(|(res, acts)| {
            have.iter().any(|(r, a)| *r == res && acts.iter().all(|x| a.contains(x)))
        })
    })
}

/// `Basic base64(user:password)`.
pub fn basic_header(cred: &Credential) -> String {
    let raw = format!("{}:{}", cred.username, cred.password.expose());
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

/// Fetches a bearer token from `realm` for `scopes`, with basic credentials when given.
pub async fn fetch_token(
    http: &reqwest::Client,
    registry: &str,
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    cred: Option<&Credential>,
) -> Result<(Secret, Duration), RegistryError> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        access_token: Option<String>,
        #[serde(default)]
        expires_in: Option<u64>,
    }
    let auth_err = |reason: String| RegistryError::Auth { registry: registry.to_owned(), reason };
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(s) = service {
        query.push(("service", s));
    }
    for s in scopes {
        query.push(("scope", s));
    }
    let req = match cred.and_then(|c| c.identity_token.as_ref()) {
        // docker's OAuth2 flow for a refresh token (distribution `registry/client/auth/session.go`,
        // `fetchTokenWithOAuth`): a form POST to the realm, answered with `access_token`.
        Some(refresh) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token");
            form.append_pair("refresh_token", refresh.expose());
            form.append_pair("client_id", "deploy-action");
            if let Some(s) = service {
                form.append_pair("service", s);
            }
            form.append_pair("scope", &scopes.join(" "));
            http.post(realm)
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.finish())
        }
        None => {
            let mut req = http.get(realm).query(&query);
            if let Some(c) = cred {
                req = req.header(reqwest::header::AUTHORIZATION, basic_header(c));
            }
            req
        }
    };
    let resp =
        req.send().await.map_err(|e| auth_err(format!("token service unreachable: {}", e.without_url())))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| auth_err(format!("reading token: {}", e.without_url())))?;
    if !status.is_success() {
        let who = cred.map_or("anonymous".to_owned(), |c| format!("user {:?} ({})", c.username, c.source));
        return Err(auth_err(format!(
            "token service refused {who}: HTTP {} ({})",
            status.as_u16(),
            super::error::summarize_body(&body)
        )));
    }
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| auth_err(format!("token response is not JSON: {e}")))?;
    let token = parsed
        .token
        .or(parsed.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| auth_err("token response has no token".into()))?;
    Ok((Secret::new(token), Duration::from_secs(parsed.expires_in.unwrap_or(60))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge() {
        let c = parse_challenge(r#"Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull,push""#).unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry".into()),
                scope: Some("repository:a/b:pull,push".into())
            }
        );
        assert_eq!(parse_challenge(r#"Basic realm="x""#), Some(Challenge::Basic));
    }

    #[test]
    fn wider_scopes_cover_narrower() {
        assert!(covers("repository:a:pull,push", &["repository:a:pull".into()]));
        assert!(!covers("repository:a:pull", &["repository:a:pull,push".into()]));
        assert!(!covers("repository:a:pull,push", &["repository:b:pull".into()]));
    }

    #[test]
    fn docker_config_auths_are_read() {
        let mut c = Credentials::default();
        // base64("bob:s3cr3t-pass")
        c.merge_docker_config(
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"Ym9iOnMzY3IzdC1wYXNz"},"acr.example.io":{"auth":"MDAwMDo=","identitytoken":"refresh-tok-123"},"bad.example":{"auth":"%%"}}}"#,
            "config.json",
        );
        let cred = c.get("docker.io").unwrap();
        assert_eq!(cred.username, "bob");
        assert_eq!(cred.password.expose(), "s3cr3t-pass");
        assert!(!format!("{cred:?}").contains("s3cr3t"));
        assert_eq!(c.get("registry-1.docker.io").unwrap().username, "bob");
        let acr = c.get("acr.example.io").unwrap();
        assert_eq!((acr.username.as_str(), acr.password.expose()), ("0000", ""));
        assert_eq!(acr.identity_token.as_ref().unwrap().expose(), "refresh-tok-123");
        assert!(c.get("bad.example").is_none());
        assert!(crate::secret::redact("x refresh-tok-123 y").contains("***"));
    }

    #[test]
    fn runner_tokens_follow_conventions() {
        let env = EnvMap::from_pairs([
            ("GITHUB_TOKEN", "ghs_tokenvalue"),
            ("GITHUB_ACTOR", "alice"),
            ("FORGEJO_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://code.example.org"),
        ]);
        let c = Credentials::from_env(&env);
        assert_eq!(c.get("ghcr.io").unwrap().username, "alice");
        assert!(c.get("code.example.org").is_some());
    }
}
