//! The fake Dokploy's procedures: auth, routing, input checks and the answers of
//! `compose.*`, `deployment.allByCompose` and `docker.*`, as described in [`super`].

use super::{ComposeRec, Job, Request, State, iso};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: String,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply { status, headers: Vec::new(), body: body.to_string() }
}

/// A tRPC error as trpc-openapi sends it (the shape, then `message` and `code` over it).
fn trpc_error(status: u16, code: &str, message: &str, path: Option<&str>) -> Reply {
    let mut data = json!({"code": code, "httpStatus": status, "zodError": null});
    if let Some(p) = path {
        data["path"] = json!(p);
    }
    reply(status, json!({"message": message, "code": code, "data": data}))
}

fn invalid_input(route: &str, field: &str) -> Reply {
    let mut r = trpc_error(400, "BAD_REQUEST", "Input validation failed", Some(route));
    let mut v: Value = serde_json::from_str(&r.body).unwrap();
    v["issues"] = json!([{"code": "invalid_type", "expected": "string", "received": "undefined",
        "path": [field], "message": "Required"}]);
    r.body = v.to_string();
    r
}

pub(super) fn handle(s: &mut State, req: &Request, query: &BTreeMap<String, String>) -> Reply {
    if let Some(f) = s.faults.iter_mut().find(|f| f.times > 0 && req.route == f.route) {
        f.times -= 1;
        let mut r = Reply {
            status: f.status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: if f.status == 429 { "Too Many Requests".into() } else { "Service Unavailable".into() },
        };
        if let Some(after) = f.retry_after {
            r.headers.push(("retry-after".into(), after.to_string()));
        }
        return r;
    }
    let Some(access) = req.api_key.as_ref().and_then(|k| s.keys.get(k)).cloned() else {
        return reply(401, json!({"message": "Unauthorized"}));
    };
    let mutation = matches!(req.route.as_str(), "compose.update" | "compose.deploy");
    let query_route = matches!(
        req.route.as_str(),
        "compose.one" | "deployment.allByCompose" | "docker.getContainersByAppNameMatch" | "docker.getConfig"
    );
    let method_ok = (mutation && req.method == "POST") || (query_route && req.method == "GET");
    if !method_ok {
        return trpc_error(404, "NOT_FOUND", "Not found", None);
    }
    let input: Value = if mutation {
        if req.content_type.as_deref().is_none_or(|c| !c.starts_with("application/json")) {
            let msg = match &req.content_type {
                Some(c) => format!("Unsupported content-type \"{c}"),
                None => "Missing content-type header".into(),
            };
            return trpc_error(415, "UNSUPPORTED_MEDIA_TYPE", &msg, Some(&req.route));
        }
        serde_json::from_str(&req.body).unwrap_or(Value::Null)
    } else {
        json!(query)
    };
    let field = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_owned);
    let route = req.route.as_str();
    if route.starts_with("docker.") {
        return docker(s, route, &field("appName"), &field("containerId"));
    }
    let Some(id) = field("composeId").filter(|i| !i.is_empty() || route == "compose.update") else {
        return invalid_input(route, "composeId");
    };
    if access.as_ref().is_some_and(|ids| !ids.contains(&id)) {
        return trpc_error(401, "UNAUTHORIZED", "You don't have access to this service", Some(route));
    }
    let not_found = || trpc_error(404, "NOT_FOUND", "Compose not found", Some(route));
    match route {
        "compose.one" => match s.composes.get(&id) {
            Some(c) => reply(200, compose_json(&id, c)),
            None => not_found(),
        },
        "compose.update" => match s.composes.get_mut(&id) {
            Some(c) => {
                if let Some(env) = input.get("env") {
                    c.env = env.as_str().map(str::to_owned);
                }
                reply(200, compose_json(&id, c))
            }
            None => Reply { status: 200, headers: Vec::new(), body: String::new() },
        },
        "compose.deploy" => {
            if !s.composes.contains_key(&id) {
                return not_found();
            }
            let job = Job {
                compose: id.clone(),
                title: field("title").unwrap_or_default(),
                description: field("description").unwrap_or_default(),
                queued: Instant::now(),
            };
            s.queue.push_back(job);
            reply(200, json!({"success": true, "message": "Deployment queued", "composeId": id}))
        }
        _ => {
            let t0 = s.t0;
            let mut rows: Vec<Value> = s
                .deployments
                .iter()
                .filter(|d| d.compose == id)
                .map(|d| {
                    json!({"deploymentId": d.id, "title": d.title, "description": d.description,
                        "status": d.status, "logPath": d.log_path, "pid": null, "applicationId": null,
                        "composeId": d.compose, "serverId": null, "isPreviewDeployment": false,
                        "previewDeploymentId": null, "createdAt": d.created_at,
                        "startedAt": iso(d.started - t0), "finishedAt": d.finished_at,
                        "errorMessage": null, "scheduleId": null, "backupId": null, "rollbackId": null,
                        "volumeBackupId": null, "buildServerId": null})
                })
                .collect();
            rows.reverse();
            reply(200, Value::Array(rows))
        }
    }
}

fn compose_json(id: &str, c: &ComposeRec) -> Value {
    json!({"composeId": id, "name": c.name, "appName": c.app_name, "description": null, "env": c.env,
        "composeFile": "", "sourceType": "raw", "composeType": "docker-compose", "composePath": "./docker-compose.yml",
        "composeStatus": "done", "serverId": null, "environmentId": "env-1",
        "environment": {"environmentId": "env-1", "name": "production", "projectId": "prj-1",
            "project": {"projectId": "prj-1", "name": "shop"}},
        "deployments": [], "mounts": [], "domains": [], "hasGitProviderAccess": true, "unauthorizedProvider": null})
}

fn container_id(app: &str, service: &str) -> String {
    let n = app.bytes().chain(service.bytes()).fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
    format!("{n:016x}{n:016x}")[..12].to_owned()
}

fn docker(s: &State, route: &str, app: &Option<String>, container: &Option<String>) -> Reply {
    if route == "docker.getContainersByAppNameMatch" {
        let Some(app) = app.as_deref().filter(|a| !a.is_empty()) else {
            return invalid_input(route, "appName");
        };
        let rows: Vec<Value> = s
            .composes
            .values()
            .filter(|c| c.app_name == app)
            .flat_map(|c| c.running.iter().map(move |(svc, _)| (c, svc)))
            .map(|(c, svc)| {
                json!({"containerId": container_id(&c.app_name, svc), "name": format!("{}-{svc}-1", c.app_name),
                    "state": "running", "status": "Up 3 seconds"})
            })
            .collect();
        return reply(200, Value::Array(rows));
    }
    let Some(container) = container.as_deref().filter(|c| !c.is_empty()) else {
        return invalid_input(route, "containerId");
    };
    for c in s.composes.values() {
        for (svc, image) in &c.running {
            if container_id(&c.app_name, svc) == container {
                let digest: String = image.bytes().map(|b| format!("{b:02x}")).collect();
                return reply(
                    200,
                    json!({"Id": container, "Image": format!("sha256:{:0<64.64}", digest),
                        "Config": {"Image": image, "Labels": {"com.docker.compose.project": c.app_name,
                            "com.docker.compose.service": svc}},
                        "State": {"Status": "running", "Running": true}}),
                );
            }
        }
    }
    // getConfig swallows `docker inspect`'s error and returns undefined.
    Reply { status: 200, headers: Vec::new(), body: String::new() }
}
