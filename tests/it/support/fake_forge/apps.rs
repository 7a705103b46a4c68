//! GitHub Apps in the fake (GitHub flavour): `GET /repos/{o}/{r}/installation` and
//! `POST /app/installations/{id}/access_tokens`, authenticated with the App's RS256 JWT and
//! answered as GitHub does, at the root (github.com) and under `/api/v3` (GHES). A minted
//! `ghs_` token is registered with exactly the granted permissions and repositories, so later
//! requests are checked against them like any token.
//!
//! Simplifications: installations select repositories (`repository_selection: selected`);
//! permission levels are `read` < `write` < `admin`; error texts are GitHub's where known.

use super::routes::{error, ok};
use super::state::{Recorded, State, Token};
use super::{FakeForge, Flavor, Reply};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The Apps the fake knows, and their installations.
#[derive(Debug, Default)]
pub struct Apps {
    apps: BTreeMap<u64, String>,
    installations: Vec<Installation>,
    minted: Vec<String>,
}

#[derive(Clone, Debug)]
struct Installation {
    id: u64,
    app_id: u64,
    account: String,
    repos: Vec<String>,
    permissions: BTreeMap<String, String>,
}

impl FakeForge {
    /// Registers App `app_id` with the public half (PEM) of its private key.
    pub fn add_app(&self, app_id: u64, public_pem: &str) {
        self.with(|s| {
            s.apps.apps.insert(app_id, public_pem.to_owned());
        })
    }

    /// Installs App `app_id` on `repos` (`owner/name`, one owner) with `permissions`
    /// (`("contents", "write")`); returns the installation id.
    pub fn install_app(&self, app_id: u64, repos: &[&str], permissions: &[(&str, &str)]) -> u64 {
        self.with(|s| {
            let id = 4_200_000 + s.apps.installations.len() as u64;
            let account = repos.first().and_then(|r| r.split('/').next()).unwrap_or("org").to_owned();
            s.apps.installations.push(Installation {
                id,
                app_id,
                account,
                repos: repos.iter().map(|r| (*r).to_owned()).collect(),
                permissions: permissions.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            });
            id
        })
    }

    /// The installation tokens minted so far.
    pub fn minted_tokens(&self) -> Vec<String> {
        self.with(|s| s.apps.minted.clone())
    }
}

/// Answers the App routes; `None` for every other request.
pub fn handle(flavor: Flavor, addr: SocketAddr, s: &mut State, req: &Recorded) -> Option<Reply> {
    if flavor != Flavor::Github {
        return None;
    }
    let path = req.target.split_once('?').map_or(req.target.as_str(), |(p, _)| p);
    let path = path.strip_prefix("/api/v3").unwrap_or(path);
    let seg: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let err = |status, msg: &str| error(flavor, addr, status, msg);
    Some(match (req.method.as_str(), seg.as_slice()) {
        ("GET", ["repos", owner, name, "installation"]) => {
            let app = match jwt_app(s, req) {
                Ok(app) => app,
                Err(m) => return Some(err(401, m)),
            };
            let repo = format!("{owner}/{name}");
            match s.apps.installations.iter().find(|i| i.app_id == app && i.repos.contains(&repo)) {
                Some(i) => ok(200, installation_json(addr, i)),
                None => err(404, "Not Found"),
            }
        }
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            let app = match jwt_app(s, req) {
                Ok(app) => app,
                Err(m) => return Some(err(401, m)),
            };
            let Some(inst) =
                s.apps.installations.iter().find(|i| i.id.to_string() == *id && i.app_id == app).cloned()
            else {
                return Some(err(404, "Not Found"));
            };
            mint(addr, s, &inst, &req.body, &err)
        }
        (_, ["repos", _, _, "installation"] | ["app", "installations", _, "access_tokens"]) => {
            err(404, &format!("Not Found: {} {path}", req.method))
        }
        _ => return None,
    })
}

/// The App that signed the request's JWT, checked as GitHub checks it.
fn jwt_app(s: &State, req: &Recorded) -> Result<u64, &'static str> {
    const UNDECODABLE: &str = "A JSON web token could not be decoded";
    let jwt = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or(UNDECODABLE)?;
    let payload = jwt.split('.').nth(1).ok_or(UNDECODABLE)?;
    let claims: Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(UNDECODABLE)?;
    let iss = match &claims["iss"] {
        Value::Number(n) => n.as_u64(),
        Value::String(t) => t.parse().ok(),
        _ => None,
    }
    .ok_or(UNDECODABLE)?;
    let public = s.apps.apps.get(&iss).ok_or(UNDECODABLE)?;
    let key =
        octocrab::jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).map_err(|_| UNDECODABLE)?;
    let mut validation = octocrab::jsonwebtoken::Validation::new(octocrab::jsonwebtoken::Algorithm::RS256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    octocrab::jsonwebtoken::decode::<Value>(jwt, &key, &validation).map_err(|_| UNDECODABLE)?;
    let now = chrono::Utc::now().timestamp();
    let (iat, exp) = (claims["iat"].as_i64().ok_or(UNDECODABLE)?, claims["exp"].as_i64().ok_or(UNDECODABLE)?);
    if iat > now + 60 {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        );
    }
    if exp > iat + 600 || exp > now + 600 {
        return Err("'Expiration time' claim ('exp') is too far in the future");
    }
    if exp <= now {
        return Err(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        );
    }
    Ok(iss)
}

fn level(l: &str) -> u8 {
    match l {
        "read" => 1,
        "write" => 2,
        "admin" => 3,
        _ => 0,
    }
}

/// `POST /app/installations/{id}/access_tokens`: checks the body against the installation.
fn mint(addr: SocketAddr, s: &mut State, inst: &Installation, body: &str, err: super::routes::Err) -> Reply {
    let body: Value = if body.trim().is_empty() {
        Value::Null
    } else {
        match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => return err(400, &format!("Problems parsing JSON: {e}")),
        }
    };
    let repos: Vec<String> = match body.get("repositories").and_then(Value::as_array) {
        None => inst.repos.clone(),
        Some(names) => {
            let mut out = Vec::new();
            for n in names {
                let full = format!("{}/{}", inst.account, n.as_str().unwrap_or_default());
                if !inst.repos.contains(&full) {
                    return err(
                        422,
                        "There is at least one repository that does not exist or is not accessible to the parent installation.",
                    );
                }
                out.push(full);
            }
            out
        }
    };
    let permissions: BTreeMap<String, String> = match body.get("permissions").and_then(Value::as_object) {
        None => inst.permissions.clone(),
        Some(asked) => {
            let mut out = BTreeMap::new();
            for (k, v) in asked {
                let v = v.as_str().unwrap_or_default();
                let granted = inst.permissions.get(k).map_or(0, |g| level(g));
                if level(v) == 0 || level(v) > granted {
                    return err(422, "The permissions requested are not granted to this installation.");
                }
                out.insert(k.clone(), v.to_owned());
            }
            out
        }
    };
    let token = format!("ghs_{:0>36}", format!("fakeapp{}x{}", inst.id, s.apps.minted.len() + 1));
    s.apps.minted.push(token.clone());
    s.tokens.insert(
        token.clone(),
        Token {
            login: "fake-app[bot]".into(),
            scopes: permissions.iter().map(|(k, v)| format!("{k}:{v}")).collect(),
            repos: Some(repos.clone()),
        },
    );
    let expires =
        (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let repositories: Vec<Value> = repos
        .iter()
        .enumerate()
        .map(|(i, full)| {
            let name = full.split('/').nth(1).unwrap_or_default();
            json!({
                "id": 90_000 + i as u64, "node_id": format!("R_fake{i}"), "name": name, "full_name": full,
                "private": true, "url": format!("http://{addr}/api/v3/repos/{full}"),
                "html_url": format!("http://{addr}/{full}"),
            })
        })
        .collect();
    ok(
        201,
        json!({
            "token": token, "expires_at": expires, "permissions": permissions,
            "repository_selection": "selected", "repositories": repositories,
        }),
    )
}

fn installation_json(addr: SocketAddr, i: &Installation) -> Value {
    let web = format!("http://{addr}");
    let api = format!("http://{addr}/api/v3");
    let user = &i.account;
    json!({
        "id": i.id,
        "account": {
            "login": user, "id": 31_000, "node_id": "O_fake", "type": "Organization", "site_admin": false,
            "avatar_url": format!("{web}/avatars/{user}"), "gravatar_id": "",
            "url": format!("{api}/users/{user}"), "html_url": format!("{web}/{user}"),
            "followers_url": format!("{api}/users/{user}/followers"),
            "following_url": format!("{api}/users/{user}/following{{/other_user}}"),
            "gists_url": format!("{api}/users/{user}/gists{{/gist_id}}"),
            "starred_url": format!("{api}/users/{user}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{api}/users/{user}/subscriptions"),
            "organizations_url": format!("{api}/users/{user}/orgs"),
            "repos_url": format!("{api}/users/{user}/repos"),
            "events_url": format!("{api}/users/{user}/events{{/privacy}}"),
            "received_events_url": format!("{api}/users/{user}/received_events"),
        },
        "repository_selection": "selected",
        "access_tokens_url": format!("{api}/app/installations/{}/access_tokens", i.id),
        "repositories_url": format!("{api}/installation/repositories"),
        "html_url": format!("{web}/organizations/{user}/settings/installations/{}", i.id),
        "app_id": i.app_id,
        "app_slug": "fake-app",
        "target_id": 31_000,
        "target_type": "Organization",
        "permissions": i.permissions,
        "events": [],
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
        "single_file_name": null,
    })
}
