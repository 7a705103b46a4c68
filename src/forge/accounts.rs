//! Who the token acts as, and whether a login is in an organisation's team: what the approval
//! gate asks to tell the action's own issues from forged ones and to resolve approver teams.
//!
//! GitHub: `GET /user` answers 403 "Resource not accessible by integration" for installation
//! tokens (the workflow's `GITHUB_TOKEN`, App tokens); GraphQL `viewer { login }` answers for
//! every token kind (`github-actions[bot]`, `<app-slug>[bot]`). Team membership is
//! `GET /orgs/{org}/teams/{slug}/memberships/{login}` (organization Members: read, which a
//! `GITHUB_TOKEN` never has). Forgejo (v11–v15 alike): `GET /user` answers for every token,
//! the job token as `forgejo-actions`; a team is found by name in `GET /orgs/{org}/teams`
//! and asked with `GET /teams/{id}/members/{login}` (200 member, 404 not; `read:organization`).

use super::error::{ForgeError, Op};
use super::http::{Http, Retry};
use crate::context::ForgeKind;
use reqwest::Method;
use serde::Deserialize;

#[derive(Deserialize)]
struct Login {
    login: String,
}

/// The login the token acts as.
pub(super) async fn identity(http: &Http) -> Result<String, ForgeError> {
    let target = "asking the forge who the token acts as".to_owned();
    let a = http.send(&target, Method::GET, http.url(&["user"]), None, Retry::Idempotent).await?;
    match a.status {
        200 => Ok(a.json::<Login>(http.forge, &target)?.login),
        403 if http.forge == ForgeKind::Github => viewer(http).await,
        _ => Err(http.error(Op::Identity, &target, "the token's account", &a)),
    }
}

/// GraphQL `viewer { login }` (GitHub installation tokens); `…/api/graphql` on GHES.
async fn viewer(http: &Http) -> Result<String, ForgeError> {
    let target = "asking GitHub's GraphQL API who the token acts as (viewer)".to_owned();
    let mut url = http.url(&[]);
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&match path.strip_suffix("/v3") {
        Some(api) => format!("{api}/graphql"),
        None => format!("{path}/graphql"),
    });
    let body = serde_json::json!({ "query": "query { viewer { login } }" });
    let a = http.send(&target, Method::POST, url, Some(&body), Retry::Idempotent).await?;
    if a.status != 200 {
        return Err(http.error(Op::Identity, &target, "the token's account", &a));
    }
    let v: serde_json::Value = a.json(http.forge, &target)?;
    v.pointer("/data/viewer/login").and_then(|l| l.as_str()).map(str::to_owned).ok_or_else(|| {
        ForgeError::Protocol {
            forge: http.forge,
            target,
            reason: format!(
                "no data.viewer.login in the answer: {}",
                super::error::server_message(&a.body, 200)
            ),
        }
    })
}

/// Whether `login` is an active member of team `team` of organisation `org`.
pub(super) async fn is_team_member(
    http: &Http,
    org: &str,
    team: &str,
    login: &str,
) -> Result<bool, ForgeError> {
    let what = format!("{org}/{team}");
    match http.forge {
        ForgeKind::Github => {
            let target = format!("checking whether {login} is in team {what}");
            let url = http.url(&["orgs", org, "teams", team, "memberships", login]);
            let a = http.send(&target, Method::GET, url, None, Retry::Idempotent).await?;
            match a.status {
                // `pending`: invited, not yet a member.
                200 => Ok(a.json::<serde_json::Value>(http.forge, &target)?["state"] == "active"),
                404 => Ok(false),
                _ => Err(http.error(Op::Teams, &target, &what, &a)),
            }
        }
        ForgeKind::Forgejo => {
            let id = forgejo_team_id(http, org, team).await?;
            let target = format!("checking whether {login} is in team {what}");
            let url = http.url(&["teams", &id.to_string(), "members", login]);
            let a = http.send(&target, Method::GET, url, None, Retry::Idempotent).await?;
            match a.status {
                200 => Ok(true),
                404 => Ok(false),
                _ => Err(http.error(Op::Teams, &target, &what, &a)),
            }
        }
    }
}

/// A Forgejo team's id from its name (case-insensitive), reading every page of the
/// organisation's teams (`teams/search` matches substrings and hides teams the caller is not in).
async fn forgejo_team_id(http: &Http, org: &str, team: &str) -> Result<u64, ForgeError> {
    #[derive(Deserialize)]
    struct Team {
        id: u64,
        name: String,
    }
    let target = format!("looking up team {team} of organisation {org}");
    let what = format!("{org}/{team}");
    for page in 1..=20u32 {
        let mut url = http.url(&["orgs", org, "teams"]);
        url.query_pairs_mut().append_pair("limit", "50").append_pair("page", &page.to_string());
        let a = http.send(&target, Method::GET, url, None, Retry::Idempotent).await?;
        if a.status != 200 {
            return Err(http.error(Op::Teams, &target, &what, &a));
        }
        let teams: Vec<Team> = a.json(http.forge, &target)?;
        if let Some(t) = teams.iter().find(|t| t.name.eq_ignore_ascii_case(team)) {
            return Ok(t.id);
        }
        if teams.len() < 50 {
            break;
        }
    }
    Err(ForgeError::Protocol {
        forge: http.forge,
        target,
        reason: format!("organisation {org} has no team named {team} (check the approvers)"),
    })
}
