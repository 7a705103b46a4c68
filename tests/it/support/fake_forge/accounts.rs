//! Who a token is, and team membership, as each forge answers.
//!
//! GitHub (docs `server-to-server-rest.json`; logs in actions/create-github-app-token#258):
//! `GET /user` with an installation token (`GITHUB_TOKEN`, App tokens; here: a login
//! ending in `[bot]`) is 403 "Resource not accessible by integration"; GraphQL
//! `viewer { login }` answers for every token (`/graphql`, GHES `/api/graphql`). Team
//! membership `GET /orgs/{org}/teams/{slug}/memberships/{login}`: 200 `{state, role, url}`,
//! 404 when not a member; needs organization Members: read, which no `GITHUB_TOKEN` has.
//! Forgejo v11–v15 (`routers/api/v1/api.go`, `org/team.go`; `models/user/user_system.go`):
//! `GET /user` answers every token (the job token is `forgejo-actions`, id -2);
//! `GET /orgs/{org}/teams` needs `read:organization` and org membership (403 "Must be an
//! organization member"); `GET /teams/{id}/members/{login}` 200 or 404.

use super::routes::{Err, ok};
use super::state::{State, Token};
use super::{Flavor, Reply};
use serde_json::json;

/// `GET /user`.
pub(super) fn authenticated_user(flavor: Flavor, tok: &Token, err: Err) -> Reply {
    match flavor {
        Flavor::Github if tok.login.ends_with("[bot]") => err(403, "Resource not accessible by integration"),
        Flavor::Github => ok(200, json!({ "login": tok.login, "id": 9_000, "type": "User" })),
        Flavor::Forgejo => {
            let id = if tok.login == "forgejo-actions" { -2 } else { 9_000 };
            ok(200, json!({ "login": tok.login, "login_name": tok.login, "id": id, "is_admin": false }))
        }
    }
}

/// `POST /graphql`: only `viewer { login }` is modelled; anything else is refused loudly.
pub(super) fn graphql(tok: &Token, body: &str, err: Err) -> Reply {
    let query = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["query"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let compact: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if !compact.contains("viewer { login }") {
        return err(
            400,
            &format!("the fake forge models only `query {{ viewer {{ login }} }}`, not {query:?}"),
        );
    }
    ok(200, json!({ "data": { "viewer": { "login": tok.login } } }))
}

/// GitHub `GET /orgs/{org}/teams/{slug}/memberships/{login}`.
pub(super) fn github_membership(
    s: &State,
    tok: &Token,
    org: &str,
    slug: &str,
    login: &str,
    err: Err,
) -> Reply {
    if !tok.has("members:read") {
        return if tok.login.ends_with("[bot]") {
            err(403, "Resource not accessible by integration")
        } else {
            err(403, "Resource not accessible by personal access token")
        };
    }
    let key = format!("{org}/{slug}");
    match s.team_members.get(&key).and_then(|m| m.iter().find(|(l, _)| l.eq_ignore_ascii_case(login))) {
        Some((_, state)) => ok(
            200,
            json!({ "url": format!("https://api.github.com/teams/{}/memberships/{login}", s.teams.get(&key).copied().unwrap_or(0)),
                    "role": "member", "state": state }),
        ),
        None => err(404, "Not Found"),
    }
}

/// Forgejo `GET /orgs/{org}/teams`.
pub(super) fn forgejo_teams(s: &State, tok: &Token, org: &str, err: Err) -> Reply {
    if !tok.has("read:organization") {
        return err(403, "token does not have at least one of required scope(s): [read:organization]");
    }
    let member = s
        .team_members
        .iter()
        .any(|(k, m)| k.starts_with(&format!("{org}/")) && m.iter().any(|(l, _)| *l == tok.login));
    if !member {
        return err(403, "Must be an organization member");
    }
    let teams: Vec<_> = s
        .teams
        .iter()
        .filter_map(|(k, id)| {
            k.strip_prefix(&format!("{org}/"))
                .map(|name| json!({ "id": id, "name": name, "permission": "write" }))
        })
        .collect();
    ok(200, json!(teams))
}

/// Forgejo `GET /teams/{id}/members/{login}`.
pub(super) fn forgejo_team_member(s: &State, tok: &Token, id: &str, login: &str, err: Err) -> Reply {
    if !tok.has("read:organization") {
        return err(403, "token does not have at least one of required scope(s): [read:organization]");
    }
    let Some((key, _)) = s.teams.iter().find(|(_, tid)| tid.to_string() == id) else {
        return err(404, "The target couldn't be found.");
    };
    let members = s.team_members.get(key).cloned().unwrap_or_default();
    if !members.iter().any(|(l, _)| *l == tok.login) {
        return err(403, "Must be a team member");
    }
    if members.iter().any(|(l, state)| l.eq_ignore_ascii_case(login) && state == "active") {
        ok(200, json!({ "login": login, "id": 9_100 }))
    } else {
        err(404, "The target couldn't be found.")
    }
}
