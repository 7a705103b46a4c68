//! Pure: the script `compose-ssh` runs on each host, and the reading of what it reports (the
//! versions were replaced; the image each changed service's container runs).

use super::process::shell_quote;
use super::{Rollout, ServiceChange};

/// The line the script prints once the host's env file holds the new versions: from then on
/// the host is changed (and a rollback must restore it).
pub(crate) const REPLACED: &str = "deploy-action: versions replaced";

/// The start of the line the script prints for each container of a changed service:
/// `deploy-action: running <service> <image id> <RepoDigests as JSON>`.
const RUNNING: &str = "deploy-action: running ";

/// What the script's settings are: the compose project on a host.
pub(crate) struct Project<'a> {
    /// Compose project directory.
    pub dir: &'a str,
    /// `-f` files.
    pub files: &'a [String],
    /// The versions env file, relative to `dir`.
    pub env_file: &'a str,
    /// `docker image prune -f` afterwards.
    pub prune: bool,
}

/// The script the host's `sh` runs for `rollout`, with `services` the compose names of its
/// changed services; every value in it is quoted. It holds the project's lock (`flock` on
/// `<env-file>.lock`, when the host has flock) for the whole deploy, so two deploys to one
/// host run one after the other. The versions arrive on stdin; only the changed keys are
/// merged into the host's env file (a concurrent release of another service keeps its tag),
/// and the merged file replaces it only after the pull succeeded. Compose reads the project's
/// `.env` (when there is one and it is not the versions file) followed by the versions file,
/// so the project's own variables still reach it and the versions win.
pub(crate) fn remote_script(p: &Project<'_>, rollout: &Rollout, services: &[String]) -> String {
    let q = |s: &str| shell_quote(s);
    let services: Vec<String> = services.iter().map(|s| q(s)).collect();
    let files: String = p.files.iter().map(|f| format!(" -f {}", q(f))).collect();
    let env_file = q(p.env_file);
    let lock_name = format!("{}.lock", p.env_file);
    let lock = q(&lock_name);
    // Said inside the script's single quotes.
    let lock_said = lock_name.replace('\'', "");
    let keys: Vec<&str> = rollout.changed.iter().map(|c| c.key.as_str()).collect();
    let mut s = String::from("set -eu\n");
    s += &format!("cd {}\n", remote_dir(p.dir));
    s += "if command -v flock >/dev/null 2>&1; then\n";
    s += &format!("  exec 9>>{lock}\n");
    s += &format!(
        "  flock -n 9 || {{ echo 'another deploy to this project holds {lock_said}: waiting for it (up to 15 minutes)'; \
         flock -w 900 9 || {{ echo 'gave up waiting for {lock_said}: nothing was changed' >&2; exit 75; }}; }}\n"
    );
    s += "else echo 'warning: flock is not installed on this host, so concurrent deploys to it are not serialized' >&2; fi\n";
    s += &format!("tmp={env_file}.deploy-action.$$\n");
    s += "trap 'rm -f \"$tmp\" \"$tmp.in\" \"$tmp.env\"' EXIT\n";
    s += "cat > \"$tmp.in\"\n";
    s += &format!("current={env_file}; [ -f \"$current\" ] || current=/dev/null\n");
    s += &format!(
        "awk -v keys={} {} \"$tmp.in\" pass=1 \"$current\" pass=2 \"$current\" > \"$tmp\"\n",
        q(&keys.join(" ")),
        q(MERGE_AWK)
    );
    // `--env-file` makes compose skip the project's `.env`: give it both, in one file (compose
    // v1 takes a single --env-file), the versions last.
    let own_env = !matches!(p.env_file, ".env" | "./.env");
    if own_env {
        s += "envf() { if [ -f .env ]; then { cat .env; echo; cat \"$1\"; } > \"$tmp.env\"; e=\"$tmp.env\"; else e=$1; fi; }\n";
    } else {
        s += "envf() { e=$1; }\n";
    }
    s += "if docker compose version >/dev/null 2>&1; then dc() { docker compose \"$@\"; }\n";
    s += "elif command -v docker-compose >/dev/null 2>&1; then dc() { docker-compose \"$@\"; }\n";
    s += "else echo 'neither `docker compose` nor `docker-compose` is installed on this host' >&2; exit 127; fi\n";
    if services.is_empty() {
        s += "echo 'no service changed: versions written, nothing pulled or recreated'\n";
        s += &format!("mv -f \"$tmp\" {env_file}\n");
        s += &format!("echo '{REPLACED}'\n");
    } else {
        let list = services.join(" ");
        s += "envf \"$tmp\"\n";
        s += &format!("dc --env-file \"$e\"{files} pull {list}\n");
        s += &format!("mv -f \"$tmp\" {env_file}\n");
        s += &format!("echo '{REPLACED}'\n");
        s += &format!("envf {env_file}\n");
        s += &format!("dc --env-file \"$e\"{files} up -d {list}\n");
        // What each changed service's container runs: its local image id, and the registry
        // digests that image is known by.
        s += &format!("for svc in {list}; do for id in $(dc --env-file \"$e\"{files} ps -q \"$svc\"); do\n");
        s += "  img=$(docker inspect --format '{{.Image}}' \"$id\")\n";
        s += &format!(
            "  echo \"{RUNNING}$svc $img $(docker image inspect --format '{{{{json .RepoDigests}}}}' \"$img\")\"\n"
        );
        s += "done; done\n";
    }
    if p.prune {
        s += "docker image prune -f\n";
    }
    s
}

/// Merges the rollout's versions (first file) into the host's env file (read twice, `pass=1`
/// then `pass=2`): the host's lines stay as they are (comments, order, keys of other
/// releases) except the **last** occurrence of each changed key (`KEY=`, `export KEY=`,
/// spaces around the key), which becomes the rollout's `KEY=VALUE`, as `.env.versions` is
/// edited and as compose reads it (the last assignment wins); rollout keys the host lacks
/// are appended. POSIX awk only (tested under mawk and busybox awk).
const MERGE_AWK: &str = r#"function keyof(line,   p, key) { p = index(line, "="); if (p <= 1) return ""; key = substr(line, 1, p - 1); sub(/^[ \t]*export[ \t]+/, "", key); gsub(/^[ \t]+|[ \t]+$/, "", key); return key }
BEGIN { n = split(keys, k, " "); for (i = 1; i <= n; i++) changed[k[i]] = 1 }
pass == "" { key = keyof($0); if (key != "") { if (!(key in want)) order[++m] = key; want[key] = $0 } next }
pass == 1 { key = keyof($0); if (key in changed) last[key] = FNR; next }
{ key = keyof($0); if (key != "") seen[key] = 1; if ((key in changed) && last[key] == FNR) print want[key]; else print }
END { for (i = 1; i <= m; i++) if (!(order[i] in seen)) print want[order[i]] }"#;

/// `dir` as the host's shell reads it: quoted, with a leading `~` (`compose-dir: ~/app`) as
/// the login's home.
pub(crate) fn remote_dir(dir: &str) -> String {
    match dir.strip_prefix('~') {
        Some("") => "\"$HOME\"".to_owned(),
        Some(rest) if rest.starts_with('/') => format!("\"$HOME\"{}", shell_quote(rest)),
        _ => shell_quote(dir),
    }
}

/// One container of a changed service, as the script reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Running {
    /// Compose service name.
    pub service: String,
    /// The local image id it runs (`sha256:…`).
    pub image: String,
    /// The registry digests of that image (`registry/repo@sha256:…`).
    pub repo_digests: Vec<String>,
}

/// A `deploy-action: running …` line of the script, or `None` for any other line.
pub(crate) fn parse_running(line: &str) -> Option<Running> {
    let rest = line.strip_prefix(RUNNING)?;
    let mut words = rest.splitn(3, ' ');
    let service = words.next()?.to_owned();
    let image = words.next()?.to_owned();
    let json = words.next().unwrap_or("null").trim();
    let repo_digests = serde_json::from_str::<Option<Vec<String>>>(json).ok()?.unwrap_or_default();
    Some(Running { service, image, repo_digests })
}

/// Checks that every container of each changed service (`(compose name, change)`) runs the
/// digest the release verified, when it is known. Ok: one line per container for the log.
pub(crate) fn check_running(
    changes: &[(String, &ServiceChange)],
    running: &[Running],
) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    for (name, change) in changes {
        let containers: Vec<&Running> = running.iter().filter(|r| &r.service == name).collect();
        if containers.is_empty() {
            return Err(format!("no container of service {name} runs after `up -d`"));
        }
        for r in containers {
            let digests = if r.repo_digests.is_empty() {
                "no registry digest".to_owned()
            } else {
                r.repo_digests.join(", ")
            };
            if let Some(want) = &change.digest {
                let suffix = format!("@{want}");
                if !r.repo_digests.iter().any(|d| d.ends_with(&suffix)) {
                    return Err(format!(
                        "{name} runs image {} ({digests}), not {want}, the digest {} {} was verified to be \
                         in the registry: the tag was pushed again since, or the compose file pulls another \
                         image than the `images` input names",
                        r.image, change.service, change.new
                    ));
                }
            }
            lines.push(format!("{name} ({}) runs {} ({digests})", change.new, r.image));
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(digest: Option<&str>) -> ServiceChange {
        ServiceChange {
            service: "api".into(),
            key: "API_IMAGE_TAG".into(),
            old: None,
            new: "1.2".into(),
            image: None,
            digest: digest.map(str::to_owned),
        }
    }

    #[test]
    fn running_lines_are_read_and_checked_against_the_verified_digest() {
        let line =
            r#"deploy-action: running api sha256:abc ["reg:5000/org/api@sha256:111","other/api@sha256:222"]"#;
        let r = parse_running(line).unwrap();
        assert_eq!((r.service.as_str(), r.image.as_str(), r.repo_digests.len()), ("api", "sha256:abc", 2));
        assert_eq!(parse_running("deploy-action: running api sha256:x null").unwrap().repo_digests.len(), 0);
        assert_eq!(parse_running("remote: pulling"), None);
        let ok = change(Some("sha256:222"));
        let lines = check_running(&[("api".into(), &ok)], std::slice::from_ref(&r)).unwrap();
        assert!(lines[0].starts_with("api (1.2) runs sha256:abc ("), "{lines:?}");
        let bad = change(Some("sha256:333"));
        let e = check_running(&[("api".into(), &bad)], std::slice::from_ref(&r)).unwrap_err();
        assert!(e.contains("not sha256:333") && e.contains("pushed again"), "{e}");
        // Unknown digest: logged, not checked; no container at all: an error.
        assert!(check_running(&[("api".into(), &change(None))], &[r]).is_ok());
        assert!(check_running(&[("api".into(), &ok)], &[]).unwrap_err().contains("no container"));
    }
}
