//! Which credential goes to which registry: the `registry-auth` lines (or a docker
//! `config.json`), and the `registry`/`username`/`password` inputs, which name one registry
//! (else the command's first destination). Pure: decided, or refused, before any connection.

use crate::registry::auth::{docker_config_auths, normalize_host};
use crate::registry::{Credential, Credentials};
use crate::secret::Secret;
use crate::settings::{InputError, split_list};

const INPUT: &str = "registry-auth";

/// The explicit inputs, raw.
pub(crate) struct Explicit<'a> {
    /// `registry-auth` values (lines, or one docker `config.json`).
    pub auth: &'a [String],
    /// `registry` values.
    pub registry: &'a [String],
    /// `username` values.
    pub username: &'a [String],
    /// `password` values.
    pub password: &'a [String],
}

/// Registers every secret the explicit inputs hold (and their `user:password` encodings) for
/// redaction, whatever else is wrong with them: called before anything is printed.
pub(crate) fn register_secrets(auth: &[String]) {
    for value in auth {
        if value.trim_start().starts_with('{') {
            // Registers what it can parse; an unparsable value is registered whole.
            if docker_config_auths(value).is_err() {
                crate::secret::register(value);
            }
            continue;
        }
        for line in value.lines() {
            let fields = fields(line.trim());
            let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
            if let Some(p) = get("password") {
                crate::secret::register(p);
                crate::secret::register_credentials(get("username").unwrap_or_default(), p);
            }
        }
    }
}

/// Splits `key=value,key=value`; a segment that does not start with a known key continues
/// the value before it (a password may hold commas). Unknown keys come back as they are.
fn fields(line: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for seg in line.split(',') {
        let key = seg.split_once('=').map(|(k, _)| k.trim().to_ascii_lowercase());
        match key {
            Some(k) if ["registry", "username", "password"].contains(&k.as_str()) => {
                out.push((k, seg.split_once('=').map(|(_, v)| v.to_owned()).unwrap_or_default()));
            }
            _ if out.last().is_some_and(|(k, _)| k == "password") => {
                let last = out.last_mut().expect("checked");
                last.1.push(',');
                last.1.push_str(seg);
            }
            _ => out.push((String::new(), seg.to_owned())),
        }
    }
    out
}

/// A line as it may be shown: the password replaced.
fn shown(line: &str) -> String {
    match line.find("password=") {
        Some(at) => format!("{}password=***", &line[..at]),
        None => line.to_owned(),
    }
}

/// The `registry-auth` credentials by normalised host.
pub(crate) fn parse_registry_auth(values: &[String]) -> Result<Vec<(String, Credential)>, InputError> {
    let mut out: Vec<(String, Credential)> = Vec::new();
    let mut add = |host: String, cred: Credential, shown: String| {
        if let Some((_, first)) = out.iter().find(|(h, _)| *h == host) {
            return Err(InputError::new(
                INPUT,
                shown,
                format!(
                    "gives a second credential for {host} (the first: {}): one per registry",
                    first.source
                ),
            ));
        }
        out.push((host, cred));
        Ok(())
    };
    let mut line_no = 0;
    for value in values {
        if value.trim_start().starts_with('{') {
            let entries = docker_config_auths(value).map_err(|rule| InputError::new(INPUT, "{…}", rule))?;
            for (key, entry) in entries {
                let host = normalize_host(&key);
                let cred = entry
                    .into_credential(&format!("`{INPUT}` (docker config entry {key:?})"))
                    .map_err(|rule| InputError::new(INPUT, format!("auths.{key}"), rule))?;
                add(host, cred, format!("auths.{key}"))?;
            }
            continue;
        }
        for line in value.lines() {
            line_no += 1;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (host, cred) = parse_line(line, line_no)?;
            add(host, cred, shown(line))?;
        }
    }
    Ok(out)
}

/// One `registry=HOST,username=USER,password=SECRET` line.
fn parse_line(line: &str, line_no: usize) -> Result<(String, Credential), InputError> {
    let err = |rule: String| InputError::new(INPUT, shown(line), rule);
    let mut registry = None;
    let mut username = None;
    let mut password = None;
    for (key, value) in fields(line) {
        let slot = match key.as_str() {
            "registry" => &mut registry,
            "username" => &mut username,
            "password" => &mut password,
            _ => {
                return Err(err(format!(
                    "has {:?}: each line is `registry=HOST,username=USER,password=SECRET`",
                    value.split('=').next().unwrap_or_default()
                )));
            }
        };
        if slot.is_some() {
            return Err(err(format!("names `{key}=` twice: one registry per line")));
        }
        *slot = Some(value);
    }
    let registry = registry.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    let Some(registry) = registry else {
        return Err(err("has no `registry=HOST`: each credential names the one registry it is for".into()));
    };
    if registry.contains(char::is_whitespace) {
        return Err(err(format!(
            "has registry {registry:?}: a host (`ghcr.io`, `host:port`) without spaces"
        )));
    }
    let username = username.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
    let password = password.filter(|p| !p.is_empty());
    match (username, password) {
        (Some(u), Some(p)) => Ok((
            normalize_host(&registry),
            Credential::new(&u, Secret::new(p), format!("`{INPUT}` line {line_no}")),
        )),
        (None, Some(_)) => Err(err("has a password without `username=`".into())),
        (Some(_), None) => Err(err("has `username=` without `password=`".into())),
        (None, None) => Err(err("has neither `username=` nor `password=`".into())),
    }
}

/// The explicit credentials by normalised host: `registry-auth`, then the `username`/`password`
/// pair(s) for the registries in `registry`, else for `first_destination` alone.
pub(crate) fn explicit_credentials(
    inputs: &Explicit<'_>,
    first_destination: Option<&str>,
) -> Result<Vec<(String, Credential)>, InputError> {
    let mut out = parse_registry_auth(inputs.auth)?;
    let list = |v: &[String]| -> Vec<String> { v.iter().flat_map(|s| split_list(s, false)).collect() };
    let registries = list(inputs.registry);
    let users = list(inputs.username);
    let passwords: Vec<String> = inputs.password.iter().flat_map(|v| split_list(v, true)).collect();
    if users.is_empty() && !passwords.is_empty() {
        return Err(InputError::new("password", "***", "is set without a `username`: set both, or neither"));
    }
    if users.len() != passwords.len() {
        return Err(InputError::new("username", users.join(","), "needs exactly one password per user name"));
    }
    if users.is_empty() {
        return Ok(out);
    }
    let (targets, why): (Vec<String>, &str) = if registries.is_empty() {
        let Some(first) = first_destination else {
            return Err(InputError::new(
                "username",
                users.join(","),
                "has no registry to go to: this command has no destination registry; name it in `registry`, or use `registry-auth`",
            ));
        };
        (vec![first.to_owned()], "the first destination's registry")
    } else {
        (registries, "named in `registry`")
    };
    if users.len() != 1 && users.len() != targets.len() {
        return Err(InputError::new(
            "registry",
            targets.join(","),
            format!(
                "lists {} registries for {} user names: give one user name, or one per registry (or use `registry-auth`)",
                targets.len(),
                users.len()
            ),
        ));
    }
    for (i, target) in targets.iter().enumerate() {
        let host = normalize_host(target);
        let j = if users.len() == 1 { 0 } else { i };
        if let Some((_, first)) = out.iter().find(|(h, _)| *h == host) {
            return Err(InputError::new(
                "registry",
                target,
                format!(
                    "gets two credentials, `username`/`password` and {}: give one per registry",
                    first.source
                ),
            ));
        }
        let cred = Credential::new(
            &users[j],
            Secret::new(passwords[j].clone()),
            format!("`username`/`password` ({why})"),
        );
        out.push((host, cred));
    }
    Ok(out)
}

/// `base` (docker config, runner tokens) with `explicit` over it.
pub(crate) fn merged(mut base: Credentials, explicit: Vec<(String, Credential)>) -> Credentials {
    for (host, cred) in explicit {
        base.insert_credential(&host, cred);
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(
        auth: &'a [String],
        registry: &'a [String],
        user: &'a [String],
        pass: &'a [String],
    ) -> Explicit<'a> {
        Explicit { auth, registry, username: user, password: pass }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn lines_give_one_credential_per_host() {
        let auth = s(&[
            "registry=a.example:5000,username=alice,password=pa,ss=word\n\nregistry=https://index.docker.io/v1/,username=bob,password=x",
        ]);
        let got = parse_registry_auth(&auth).unwrap();
        assert_eq!(got[0].0, "a.example:5000");
        assert_eq!((got[0].1.username.as_str(), got[0].1.password.expose()), ("alice", "pa,ss=word"));
        assert_eq!(got[1].0, normalize_host("docker.io"));
        assert_eq!(got[1].1.source, "`registry-auth` line 3");
    }

    #[test]
    fn bad_lines_are_refused_naming_the_rule() {
        for (line, rule) in [
            ("username=u,password=p1", "has no `registry=HOST`"),
            ("registry=a,password=p1", "password without `username=`"),
            ("registry=a,username=u", "without `password=`"),
            ("registry=a,registry=b,username=u,password=p1", "twice"),
            ("registry=a,user=u,password=p1", "\"user\""),
            (
                "registry=a,username=u,password=p1\nregistry=A,username=v,password=p2",
                "second credential for a",
            ),
            (
                "registry=docker.io,username=u,password=p1\nregistry=registry-1.docker.io,username=v,password=p2",
                "second credential",
            ),
        ] {
            let e = parse_registry_auth(&s(&[line])).unwrap_err();
            assert_eq!(e.input, "registry-auth");
            assert!(e.rule.contains(rule), "{line}: {}", e.rule);
            assert!(!e.value.contains("p1") && !e.value.contains("p2"), "{}", e.value);
        }
    }

    #[test]
    fn a_docker_config_is_accepted() {
        // base64("u:docker-pass")
        let auth = s(&[
            r#"{"auths":{"ghcr.io":{"auth":"dTpkb2NrZXItcGFzcw=="},"x.io":{"identitytoken":"idt-42"}}}"#,
        ]);
        let got = parse_registry_auth(&auth).unwrap();
        assert_eq!(got[0].1.password.expose(), "docker-pass");
        assert_eq!(got[1].1.identity_token.as_ref().unwrap().expose(), "idt-42");
        let e = parse_registry_auth(&s(&[r#"{"auths":{"x.io":{}}}"#])).unwrap_err();
        assert!(e.rule.contains("has no `auth`"), "{}", e.rule);
        assert!(parse_registry_auth(&s(&["{not json"])).unwrap_err().rule.contains("docker config.json"));
    }

    #[test]
    fn the_single_pair_goes_to_one_registry() {
        let (none, user, pass) = (s(&[]), s(&["u"]), s(&["pw"]));
        let got = explicit_credentials(&inputs(&none, &none, &user, &pass), Some("b.example")).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "b.example");
        assert!(got[0].1.source.contains("first destination"));
        let reg = s(&["a.example"]);
        let got = explicit_credentials(&inputs(&none, &reg, &user, &pass), Some("b.example")).unwrap();
        assert_eq!((got.len(), got[0].0.as_str()), (1, "a.example"));
        let e = explicit_credentials(&inputs(&none, &none, &user, &pass), None).unwrap_err();
        assert!(e.rule.contains("no destination registry"), "{}", e.rule);
    }

    #[test]
    fn pair_conflicts_are_refused() {
        let (none, user, pass) = (s(&[]), s(&["u"]), s(&["pw"]));
        let e = explicit_credentials(&inputs(&none, &none, &none, &pass), Some("b")).unwrap_err();
        assert_eq!((e.input.as_str(), e.value.as_str()), ("password", "***"));
        let auth = s(&["registry=b.example,username=v,password=other"]);
        let e = explicit_credentials(&inputs(&auth, &none, &user, &pass), Some("b.example")).unwrap_err();
        assert!(e.rule.contains("two credentials"), "{}", e.rule);
        let regs = s(&["a\nb\nc"]);
        let users = s(&["u\nv"]);
        let e = explicit_credentials(&inputs(&none, &regs, &users, &s(&["p\nq"])), None).unwrap_err();
        assert!(e.rule.contains("3 registries for 2 user names"), "{}", e.rule);
    }
}
