//! The services of one `publish` step: the line format of the `services` input (or file),
//! and which workspace paths each service is built from (for `changed-only`).
//!
//! One service per line: a name, then `key=value` words separated by spaces; `#` starts a
//! comment line. Keys: `images` (comma-separated, required), `context`, `file`, `add`
//! (`SRC:DST`, repeatable or comma-separated), `target`, `builder`, `entrypoint`, `cmd`.
//!
//! ```text
//! api     context=services/api  images=ghcr.io/org/api
//! worker  add=target/release/worker:/usr/local/bin/worker  entrypoint=/usr/local/bin/worker  images=ghcr.io/org/worker
//! ```

use crate::settings::{InputError, split_list};

/// The keys a service line may set.
const KEYS: &str = "images, context, file, add, target, builder, entrypoint, cmd";

/// One service to build and push.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServiceSpec {
    /// Name: the `<name>_image_tag` dispatch input and the `<name>-digest` output.
    pub name: String,
    /// Image names (`ghcr.io/org/api`), at least one.
    pub images: Vec<String>,
    /// Build context directory.
    pub context: Option<String>,
    /// Dockerfile.
    pub file: Option<String>,
    /// `SRC:DST` paths (files builder).
    pub add: Vec<String>,
    /// Dockerfile stage.
    pub target: Option<String>,
    /// `docker`, `files` or `auto`.
    pub builder: Option<crate::builder::BuilderKind>,
    /// Entrypoint (files builder).
    pub entrypoint: Option<String>,
    /// Default arguments (files builder).
    pub cmd: Option<String>,
}

/// Whether `name` can be a service name: `[a-z0-9][a-z0-9_-]*`, at most 63 characters.
pub(crate) fn valid_name(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The service name an image implies: its last path segment without tag or digest
/// (`ghcr.io/org/api:1` → `api`); metadata-action's `name=…,enable=…` form is understood.
pub(crate) fn name_from_image(image: &str) -> String {
    let image = image.trim();
    let image = image.strip_prefix("name=").unwrap_or(image);
    let image = image.split(',').next().unwrap_or(image);
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split(':').next().unwrap_or(last).to_ascii_lowercase()
}

/// Parses the service lines of `input` (the input's name, for errors).
pub(crate) fn parse(input: &str, text: &str) -> Result<Vec<ServiceSpec>, InputError> {
    let mut out: Vec<ServiceSpec> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or_default().trim_end_matches(':');
        if !valid_name(name) {
            return Err(InputError::new(
                input,
                line,
                "must start with a service name ([a-z0-9][a-z0-9_-]*) followed by key=value words",
            ));
        }
        if out.iter().any(|s| s.name == name) {
            return Err(InputError::new(input, line, format!("names service `{name}` twice")));
        }
        let mut s = ServiceSpec { name: name.to_owned(), ..Default::default() };
        for word in words {
            let Some((key, value)) = word.split_once('=').filter(|(_, v)| !v.is_empty()) else {
                return Err(InputError::new(input, line, format!("has `{word}`: use key=value ({KEYS})")));
            };
            let one = Some(value.to_owned());
            match key {
                "images" | "image" => s.images.extend(split_list(value, false)),
                "add" => s.add.extend(split_list(value, false)),
                "context" => s.context = one,
                "file" => s.file = one,
                "target" => s.target = one,
                "builder" => {
                    use clap::ValueEnum;
                    let kind = crate::builder::BuilderKind::from_str(value, false).map_err(|_| {
                        InputError::new(
                            input,
                            line,
                            format!("has builder `{value}`: use docker, files or auto"),
                        )
                    })?;
                    s.builder = Some(kind);
                }
                "entrypoint" => s.entrypoint = one,
                "cmd" => s.cmd = one,
                _ => {
                    return Err(InputError::new(input, line, format!("has unknown key `{key}`: use {KEYS}")));
                }
            }
        }
        if s.images.is_empty() {
            return Err(InputError::new(input, line, "needs images=REGISTRY/REPOSITORY"));
        }
        out.push(s);
    }
    if out.is_empty() {
        return Err(InputError::new(input, text, "lists no service"));
    }
    Ok(out)
}

/// `./a/b/` → `a/b`; `.` → `` (the whole tree).
fn normalize(path: &str) -> String {
    let p = path.trim().trim_start_matches("./").trim_end_matches('/');
    if p == "." { String::new() } else { p.to_owned() }
}

impl ServiceSpec {
    /// Workspace-relative paths the image is built from: the context (`.` when neither a
    /// context nor `add` paths are given), the Dockerfile, and each `add` source up to its
    /// first `{platform}`-style placeholder.
    pub(crate) fn watched(&self) -> Vec<String> {
        let mut paths = Vec::new();
        if self.context.is_some() || self.add.is_empty() {
            paths.push(normalize(self.context.as_deref().unwrap_or(".")));
        }
        paths.extend(self.file.as_deref().map(normalize));
        for add in &self.add {
            let src = add.split_once(':').map_or(add.as_str(), |(s, _)| s);
            // Up to a placeholder, the directory it sits in (`target/{arch}/api` → `target`).
            let fixed = match src.split_once('{') {
                Some((head, _)) => head.rsplit_once('/').map_or("", |(dir, _)| dir),
                None => src,
            };
            paths.push(normalize(fixed));
        }
        paths
    }
}

/// Whether any `changed` file lies at or under one of `watched` (an empty watched path is
/// the whole tree).
pub(crate) fn touches(watched: &[String], changed: &[String]) -> bool {
    watched.iter().any(|w| {
        w.is_empty()
            || changed.iter().any(|c| {
                let c = c.trim_start_matches("./");
                c == w || c.strip_prefix(w.as_str()).is_some_and(|rest| rest.starts_with('/'))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_and_names_bad_ones() {
        let s = parse(
            "services",
            "# services\napi context=services/api images=r/org/api,r2/api\n\nweb: add=dist/:/srv/www/ add=x:/x image=r/web cmd=serve\n",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].images, ["r/org/api", "r2/api"]);
        assert_eq!(s[1].name, "web");
        assert_eq!(s[1].add, ["dist/:/srv/www/", "x:/x"]);
        assert_eq!(s[1].cmd.as_deref(), Some("serve"));
        for bad in [
            "Api images=r/a",
            "api",
            "api images=r/a colour=red",
            "api images=r/a\napi images=r/b",
            "api ctx",
        ] {
            let e = parse("services", bad).unwrap_err();
            assert_eq!(e.input, "services", "{bad}");
        }
        assert!(
            parse("services", "api images=r/a colour=red").unwrap_err().rule.contains("unknown key `colour`")
        );
    }

    #[test]
    fn names_come_from_images() {
        assert_eq!(name_from_image("ghcr.io/org/api"), "api");
        assert_eq!(name_from_image("127.0.0.1:5000/org/Web:1.2"), "web");
        assert_eq!(name_from_image("name=ghcr.io/org/worker,enable=true"), "worker");
        assert_eq!(name_from_image("r/x@sha256:abc"), "x");
        assert_eq!(name_from_image("ghcr.io/org/api,registry.example.org/web"), "api");
    }

    #[test]
    fn changes_touch_the_services_paths() {
        let api = ServiceSpec { context: Some("./services/api/".into()), ..Default::default() };
        assert_eq!(api.watched(), ["services/api"]);
        let changed = |paths: &[&str]| paths.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
        assert!(touches(&api.watched(), &changed(&["services/api/main.rs"])));
        assert!(!touches(&api.watched(), &changed(&["services/api-v2/main.rs", "README.md"])));
        let bin = ServiceSpec { add: vec!["target/{arch}/api:/bin/api".into()], ..Default::default() };
        assert_eq!(bin.watched(), ["target"]);
        let dashed = ServiceSpec { add: vec!["out/api-{arch}:/api".into()], ..Default::default() };
        assert_eq!(dashed.watched(), ["out"]);
        assert!(touches(&bin.watched(), &changed(&["target/amd64/api"])));
        let root = ServiceSpec::default();
        assert!(touches(&root.watched(), &changed(&["anything"])));
    }
}
