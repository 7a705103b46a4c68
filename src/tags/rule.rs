//! The `tags` input: one rule per line (`type=semver,pattern={{version}}`), parsed,
//! validated and sorted by priority as metadata-action does.

use crate::settings::InputError;
use regex::Regex;
use std::collections::BTreeMap;

/// A `type=ref` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefEvent {
    /// `event=branch`: the branch name.
    Branch,
    /// `event=tag`: the git tag.
    Tag,
    /// `event=pr`: the pull request number.
    Pr,
}

/// What a rule produces, with its type-specific attributes.
#[derive(Clone, Debug)]
pub enum Kind {
    /// `type=schedule`: `pattern` on scheduled runs.
    Schedule {
        /// Template, default `nightly`.
        pattern: String,
    },
    /// `type=semver`: a pattern over the semver tag (or `value`).
    Semver {
        /// `{{version}}`, `{{major}}.{{minor}}`, …
        pattern: String,
        /// Version to use instead of the git tag.
        value: String,
        /// `match=`: a regex whose first group is the version within the tag (or `value`).
        matcher: Option<(String, Regex)>,
    },
    /// `type=pep440`: like semver with PEP 440 versions.
    Pep440 {
        /// `{{version}}`, `{{major}}.{{minor}}`, …
        pattern: String,
        /// Version to use instead of the git tag.
        value: String,
        /// `match=`, as for semver.
        matcher: Option<(String, Regex)>,
    },
    /// `type=match`: a regex group of the git tag (or `value`).
    Match {
        /// The pattern as written, for messages.
        pattern: String,
        /// The compiled regex.
        regex: Regex,
        /// The group whose text is the tag.
        group: usize,
        /// Text to match instead of the git tag.
        value: String,
    },
    /// `type=edge`: `edge` on the given (default) branch.
    Edge {
        /// Branch, empty for the repository's default branch.
        branch: String,
    },
    /// `type=ref`: the branch, tag or PR number.
    Ref {
        /// Which ref kind.
        event: RefEvent,
    },
    /// `type=raw`: a fixed (templated) value.
    Raw {
        /// The value.
        value: String,
    },
    /// `type=sha`: the commit sha.
    Sha {
        /// `format=long`: the full sha.
        long: bool,
    },
}

/// One parsed line of the `tags` input.
#[derive(Clone, Debug)]
pub struct TagRule {
    /// What the rule produces.
    pub kind: Kind,
    /// `prefix=`, when given (or defaulted: `pr-`, `sha-`); overrides the flavor's.
    pub prefix: Option<String>,
    /// `suffix=`, when given; overrides the flavor's.
    pub suffix: Option<String>,
    /// `enable=` template, must render to `true` or `false`.
    pub enable: String,
    /// Higher first; defaults per type.
    pub priority: i64,
    /// The line as written, for errors.
    pub source: String,
}

const COMMON: &[&str] = &["type", "prefix", "suffix", "enable", "priority"];

/// Parses the `tags` lines (metadata-action's defaults when there are none), sorted by priority.
pub fn parse_rules(lines: &[String]) -> Result<Vec<TagRule>, InputError> {
    let defaults = ["type=schedule", "type=ref,event=branch", "type=ref,event=tag", "type=ref,event=pr"];
    let lines: Vec<String> =
        if lines.is_empty() { defaults.iter().map(|s| s.to_string()).collect() } else { lines.to_vec() };
    let mut rules = lines.iter().map(|l| parse_rule(l)).collect::<Result<Vec<_>, _>>()?;
    // Stable, like JavaScript's sort: equal priorities keep their input order.
    rules.sort_by_key(|r| std::cmp::Reverse(r.priority));
    Ok(rules)
}

/// Parses one rule line.
pub fn parse_rule(line: &str) -> Result<TagRule, InputError> {
    let err = |rule: String| InputError::new("tags", line, rule);
    let mut attrs = BTreeMap::new();
    let mut kind = "raw".to_owned();
    for field in csv_fields(line).ok_or_else(|| err("has an unterminated quote".into()))? {
        match field.split_once('=') {
            None => {
                attrs.insert("value".to_owned(), field.trim().to_owned());
            }
            Some((k, v)) => {
                let k = k.trim().to_ascii_lowercase();
                if k == "type" {
                    kind = v.trim().to_owned();
                } else {
                    attrs.insert(k, v.trim().to_owned());
                }
            }
        }
    }
    let allowed: &[&str] = match kind.as_str() {
        "schedule" => &["pattern"],
        "semver" | "pep440" => &["pattern", "value", "match"],
        "match" => &["pattern", "group", "value"],
        "edge" => &["branch"],
        "ref" => &["event"],
        "raw" => &["value"],
        "sha" => &["format"],
        other => {
            return Err(err(format!(
                "has unknown type `{other}` (use schedule, semver, pep440, match, edge, ref, raw or sha)"
            )));
        }
    };
    if let Some(k) = attrs.keys().find(|k| !allowed.contains(&k.as_str()) && !COMMON.contains(&k.as_str())) {
        return Err(err(format!(
            "has unknown attribute `{k}` for type={kind} (use {})",
            allowed.iter().chain(COMMON.iter().skip(1)).copied().collect::<Vec<_>>().join(", ")
        )));
    }
    let mut take = |k: &str| attrs.remove(k);
    let mut prefix = take("prefix");
    let suffix = take("suffix");
    let enable = take("enable").unwrap_or_else(|| "true".to_owned());
    let priority = take("priority");
    let required = |v: Option<String>, name: &str| v.ok_or_else(|| err(format!("needs a {name} attribute")));
    let (kind, default_priority) = match kind.as_str() {
        "schedule" => (Kind::Schedule { pattern: take("pattern").unwrap_or_else(|| "nightly".into()) }, 1000),
        "semver" => (
            Kind::Semver {
                pattern: required(take("pattern"), "pattern")?,
                value: take("value").unwrap_or_default(),
                matcher: matcher(take("match")).map_err(err)?,
            },
            900,
        ),
        "pep440" => (
            Kind::Pep440 {
                pattern: required(take("pattern"), "pattern")?,
                value: take("value").unwrap_or_default(),
                matcher: matcher(take("match")).map_err(err)?,
            },
            900,
        ),
        "match" => {
            let pattern = required(take("pattern"), "pattern")?;
            let group = match take("group") {
                None => 0,
                Some(g) => g.parse().map_err(|_| err(format!("has group={g}, not a group number")))?,
            };
            (
                Kind::Match {
                    regex: js_regex(&pattern).map_err(err)?,
                    pattern,
                    group,
                    value: take("value").unwrap_or_default(),
                },
                800,
            )
        }
        "edge" => (Kind::Edge { branch: take("branch").unwrap_or_default() }, 700),
        "ref" => {
            let event = match required(take("event"), "event")?.as_str() {
                "branch" => RefEvent::Branch,
                "tag" => RefEvent::Tag,
                "pr" => RefEvent::Pr,
                other => return Err(err(format!("has event={other}; use branch, tag or pr"))),
            };
            if event == RefEvent::Pr && prefix.is_none() {
                prefix = Some("pr-".into());
            }
            (Kind::Ref { event }, 600)
        }
        "raw" => (Kind::Raw { value: required(take("value"), "value")? }, 200),
        _ => {
            prefix.get_or_insert_with(|| "sha-".into());
            let long = match take("format").as_deref() {
                None | Some("short") => false,
                Some("long") => true,
                Some(other) => return Err(err(format!("has format={other}; use short or long"))),
            };
            (Kind::Sha { long }, 100)
        }
    };
    let priority = match priority {
        None => default_priority,
        Some(p) => p.parse().map_err(|_| err(format!("has priority={p}, not a whole number")))?,
    };
    Ok(TagRule { kind, prefix, suffix, enable, priority, source: line.to_owned() })
}

/// Compiles a JavaScript-style pattern: `/re/flags` or a bare `re`.
/// A `match=` attribute: the pattern as written and compiled (none when absent or empty).
fn matcher(raw: Option<String>) -> Result<Option<(String, Regex)>, String> {
    match raw.filter(|m| !m.is_empty()) {
        None => Ok(None),
        Some(m) => Ok(Some((m.clone(), js_regex(&m)?))),
    }
}

fn js_regex(pattern: &str) -> Result<Regex, String> {
    let (body, flags) = match pattern.strip_prefix('/').and_then(|p| p.rsplit_once('/')) {
        Some((body, flags)) if !body.is_empty() => (body, flags),
        _ => (pattern, ""),
    };
    let inline: String = flags.chars().filter(|f| matches!(f, 'i' | 'm' | 's')).collect();
    let body = ascii_classes(body);
    let source = if inline.is_empty() { body } else { format!("(?{inline}){body}") };
    Regex::new(&source).map_err(|e| format!("has an invalid regular expression: {e}"))
}

/// JavaScript's `\d`, `\w` and `\b` are ASCII-only; the regex crate's are Unicode.
fn ascii_classes(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut in_class = false;
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match (chars.next(), in_class) {
                (Some('d'), false) => out.push_str("(?-u:\\d)"),
                (Some('w'), false) => out.push_str("(?-u:\\w)"),
                (Some('b'), false) => out.push_str("(?-u:\\b)"),
                (Some('d'), true) => out.push_str("0-9"),
                (Some('w'), true) => out.push_str("0-9A-Za-z_"),
                (Some(n), _) => {
                    out.push('\\');
                    out.push(n);
                }
                (None, _) => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Splits one line into comma-separated fields; `"…"` quotes a field (`""` is a quote).
pub fn csv_fields(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(cur);
    Some(fields.into_iter().filter(|f| !f.trim().is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_priorities() {
        let rules = parse_rules(&[]).unwrap();
        assert_eq!(rules.iter().map(|r| r.priority).collect::<Vec<_>>(), [1000, 600, 600, 600]);
        let rules =
            parse_rules(&["type=sha".into(), "type=raw,foo".into(), "type=ref,event=pr".into()]).unwrap();
        assert!(matches!(rules[0].kind, Kind::Ref { event: RefEvent::Pr }));
        assert_eq!(rules[0].prefix.as_deref(), Some("pr-"));
        assert!(matches!(&rules[1].kind, Kind::Raw { value } if value == "foo"));
        assert_eq!(rules[2].prefix.as_deref(), Some("sha-"));
    }

    #[test]
    fn quoted_fields_and_first_equals() {
        let r = parse_rule(r#"type=match,"pattern=^v(\d+),x$",group=1"#).unwrap();
        assert!(
            matches!(&r.kind, Kind::Match { regex, group: 1, .. } if regex.is_match("v12,x") && !regex.is_match("v12x"))
        );
        let r = parse_rule("type=raw,value=a=b").unwrap();
        assert!(matches!(&r.kind, Kind::Raw { value } if value == "a=b"));
        let r = parse_rule(r"type=match,pattern=^v(\d+)[\d.]*\b").unwrap();
        assert!(
            matches!(&r.kind, Kind::Match { regex, .. } if regex.is_match("v12.3") && !regex.is_match("v١٢"))
        );
        let r = parse_rule("type=match,pattern=/V(.*)/i").unwrap();
        assert!(matches!(&r.kind, Kind::Match { regex, .. } if regex.is_match("v1")));
    }

    #[test]
    fn invalid_rules() {
        for (line, needle) in [
            ("type=foo", "unknown type"),
            ("type=sha,pattern=x", "unknown attribute `pattern`"),
            ("type=semver", "needs a pattern"),
            ("type=ref", "needs a event"),
            ("type=ref,event=push", "event=push"),
            ("type=sha,format=medium", "format=medium"),
            ("type=match,pattern=(", "invalid regular expression"),
            ("type=match,pattern=x,group=a", "group=a"),
            ("type=raw,value=x,priority=high", "priority=high"),
            ("type=raw,\"value=x", "unterminated quote"),
        ] {
            let e = parse_rule(line).unwrap_err();
            assert_eq!(e.input, "tags");
            assert!(e.rule.contains(needle), "{line}: {}", e.rule);
        }
    }
}
