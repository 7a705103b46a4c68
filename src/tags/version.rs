//! Rules applied to the run: the main version, the other tags and whether `latest` applies,
//! following metadata-action's `getVersion`.

use super::flavor::{Flavor, Latest};
use super::grammar::sanitize_tag;
use super::pep440::Pep440;
use super::rule::{Kind, RefEvent, TagRule};
use super::semver::SemVer;
use super::template::{Scope, is_raw_statement, render};
use crate::settings::InputError;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The run as the rules see it (after `pull_request_target` and head-sha adjustments).
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    /// Event name.
    pub event_name: &'a str,
    /// Full git ref.
    pub git_ref: &'a str,
    /// Commit sha (the PR head's when asked for).
    pub sha: &'a str,
    /// Event payload.
    pub payload: &'a Value,
    /// Repository default branch, empty when unknown.
    pub default_branch: &'a str,
    /// The clock.
    pub now: DateTime<Utc>,
    /// The commit's date (from the payload, else `now`).
    pub commit_date: DateTime<Utc>,
    /// Short sha length.
    pub short_sha_length: usize,
}

impl Facts<'_> {
    /// The sha cut to the short length (the whole sha when shorter).
    pub fn short_sha(&self) -> &str {
        self.sha.get(..self.short_sha_length).unwrap_or(self.sha)
    }

    /// Names available in values, prefixes, suffixes, `enable` and labels.
    pub fn global_scope(&self) -> Scope {
        let r = self.git_ref;
        let branch = r.strip_prefix("refs/heads/").unwrap_or_default();
        let tag = r.strip_prefix("refs/tags/").unwrap_or_default();
        let base_ref = if r.starts_with("refs/tags/") {
            self.payload.get("base_ref").and_then(Value::as_str).map(|b| b.trim_start_matches("refs/heads/"))
        } else if r.starts_with("refs/pull/") {
            self.payload.pointer("/pull_request/base/ref").and_then(Value::as_str)
        } else {
            None
        };
        Scope::default()
            .value("branch", branch)
            .value("tag", tag)
            .value("sha", self.short_sha())
            .value("base_ref", base_ref.unwrap_or_default())
            .value("is_default_branch", self.is_default_branch().to_string())
            .date("date", self.now)
            .date("commit_date", self.commit_date)
    }

    fn is_default_branch(&self) -> bool {
        // Like metadata-action: only `refs/heads/` is stripped, so tags never match.
        let branch = self.git_ref.strip_prefix("refs/heads/").unwrap_or(self.git_ref);
        if branch.is_empty() {
            return false;
        }
        if !self.default_branch.is_empty() && self.default_branch == branch {
            return true;
        }
        ["create", "discussion", "issues", "schedule"].iter().any(|e| self.event_name.contains(e))
    }
}

/// The main version, the other tags, and `latest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Version {
    /// The highest-priority tag, `None` when no rule produced one.
    pub main: Option<String>,
    /// Every other tag, deduplicated, in priority order.
    pub partial: Vec<String>,
    /// Whether `latest` is added.
    pub latest: bool,
}

/// Applies the sorted rules to the run.
pub fn compute_version(
    rules: &[TagRule],
    facts: &Facts,
    flavor: &Flavor,
    warnings: &mut Vec<String>,
) -> Result<Version, InputError> {
    let mut ev =
        Eval { facts, flavor, global: facts.global_scope(), warnings, latest: None, v: Version::default() };
    for rule in rules {
        let enabled = ev.global(&rule.enable, "tags")?;
        match enabled.as_str() {
            "true" => ev.apply(rule)?,
            "false" => {}
            other => {
                return Err(InputError::new(
                    "tags",
                    &rule.source,
                    format!("has enable={} which renders to {other:?}, not true or false", rule.enable),
                ));
            }
        }
    }
    let mut v = ev.v;
    v.latest = ev.latest.unwrap_or(false);
    Ok(v)
}

struct Eval<'a, 'w> {
    facts: &'a Facts<'a>,
    flavor: &'a Flavor,
    global: Scope,
    warnings: &'w mut Vec<String>,
    latest: Option<bool>,
    v: Version,
}

impl Eval<'_, '_> {
    fn global(&mut self, src: &str, input: &str) -> Result<String, InputError> {
        render(src, &self.global, input, self.warnings)
    }

    fn apply(&mut self, rule: &TagRule) -> Result<(), InputError> {
        let f = self.facts;
        let tag_ref = f.git_ref.strip_prefix("refs/tags/");
        let (val, auto_latest) = match &rule.kind {
            Kind::Schedule { pattern } => {
                if !f.event_name.contains("schedule") {
                    return Ok(());
                }
                let scope = Scope::default().date("date", f.now).date("commit_date", f.commit_date);
                (render(pattern, &scope, "tags", self.warnings)?, false)
            }
            Kind::Semver { pattern, value, matcher } => {
                let Some(vraw) = self.matched_version(tag_ref, value, matcher.as_ref())? else {
                    return Ok(());
                };
                let Some(sv) = SemVer::parse(&vraw) else {
                    self.warnings
                        .push(format!("{vraw} is not a valid semver. More info: https://semver.org/"));
                    return Ok(());
                };
                let scope = Scope::default()
                    .value("raw", &sv.raw)
                    .value("version", sv.version())
                    .value("major", sv.major.to_string())
                    .value("minor", sv.minor.to_string())
                    .value("patch", sv.patch.to_string())
                    .value("prerelease", sv.prerelease.join(","))
                    .value("build", sv.build.join(","));
                let release = !sv.is_prerelease();
                let pattern =
                    if release || is_raw_statement(pattern) { pattern.as_str() } else { "{{version}}" };
                (render(pattern, &scope, "tags", self.warnings)?, release)
            }
            Kind::Pep440 { pattern, value, matcher } => {
                let Some(vraw) = self.matched_version(tag_ref, value, matcher.as_ref())? else {
                    return Ok(());
                };
                let Some(pv) = Pep440::parse(&vraw) else {
                    self.warnings.push(format!(
                        "{vraw} does not conform to PEP 440. More info: https://www.python.org/dev/peps/pep-0440"
                    ));
                    return Ok(());
                };
                if pv.is_special() {
                    (if is_raw_statement(pattern) { vraw } else { pv.normalized() }, false)
                } else {
                    let scope = Scope::default()
                        .value("raw", &vraw)
                        .value("version", pv.normalized())
                        .value("major", pv.part(0).to_string())
                        .value("minor", pv.part(1).to_string())
                        .value("patch", pv.part(2).to_string());
                    (render(pattern, &scope, "tags", self.warnings)?, true)
                }
            }
            Kind::Match { pattern, regex, group, value } => {
                let vraw = if !value.is_empty() {
                    self.global(value, "tags")?
                } else if let Some(t) = tag_ref {
                    t.to_owned()
                } else {
                    return Ok(());
                };
                let Some(caps) = regex.captures(&vraw) else {
                    self.warnings.push(format!("{pattern} does not match {vraw}."));
                    return Ok(());
                };
                let Some(m) = caps.get(*group) else {
                    self.warnings.push(format!("Group {group} does not exist for {pattern} pattern."));
                    return Ok(());
                };
                (m.as_str().to_owned(), true)
            }
            Kind::Ref { event } => {
                let prefix = match event {
                    RefEvent::Branch => "refs/heads/",
                    RefEvent::Tag => "refs/tags/",
                    RefEvent::Pr => "refs/pull/",
                };
                let Some(rest) = f.git_ref.strip_prefix(prefix) else { return Ok(()) };
                let rest =
                    if *event == RefEvent::Pr { rest.strip_suffix("/merge").unwrap_or(rest) } else { rest };
                (rest.to_owned(), *event == RefEvent::Tag)
            }
            Kind::Edge { branch } => {
                let Some(current) = f.git_ref.strip_prefix("refs/heads/") else { return Ok(()) };
                let branch = if branch.is_empty() { f.default_branch } else { branch.as_str() };
                if branch != current {
                    return Ok(());
                }
                ("edge".to_owned(), false)
            }
            Kind::Raw { value } => (self.global(value, "tags")?, false),
            Kind::Sha { long } => {
                if f.sha.is_empty() {
                    return Ok(());
                }
                (if *long { f.sha.to_owned() } else { f.short_sha().to_owned() }, false)
            }
        };
        let val = self.affix(val, rule)?;
        let latest = match self.flavor.latest {
            Latest::Auto => auto_latest,
            Latest::True => true,
            Latest::False => false,
        };
        self.set_version(val, latest);
        Ok(())
    }

    /// The version text for semver/pep440: `value=` rendered, else the git tag (`/` → `-`).
    fn version_source(&mut self, tag_ref: Option<&str>, value: &str) -> Result<Option<String>, InputError> {
        if !value.is_empty() {
            return self.global(value, "tags").map(Some);
        }
        Ok(tag_ref.map(|t| t.replace('/', "-")))
    }

    /// The version a semver/pep440 rule reads: `value` or the git tag; with `match=`, its
    /// first group (as metadata-action: no match warns and keeps the whole text), then `/` as
    /// `-`.
    fn matched_version(
        &mut self,
        tag_ref: Option<&str>,
        value: &str,
        matcher: Option<&(String, regex::Regex)>,
    ) -> Result<Option<String>, InputError> {
        let Some((pattern, regex)) = matcher else { return self.version_source(tag_ref, value) };
        let raw = if !value.is_empty() {
            self.global(value, "tags")?
        } else if let Some(t) = tag_ref {
            t.to_owned()
        } else {
            return Ok(None);
        };
        let matched = match regex.captures(&raw) {
            None => {
                self.warnings.push(format!("{pattern} does not match {raw}."));
                raw
            }
            Some(caps) => match caps.get(1) {
                Some(m) => m.as_str().to_owned(),
                None => {
                    self.warnings
                        .push(format!("{pattern} has no group 1 to take the version from in {raw}."));
                    raw
                }
            },
        };
        Ok(Some(matched.replace('/', "-")))
    }

    fn affix(&mut self, val: String, rule: &TagRule) -> Result<String, InputError> {
        let prefix = match &rule.prefix {
            Some(p) => self.global(p, "tags")?,
            None if !self.flavor.prefix.is_empty() => self.global(&self.flavor.prefix.clone(), "flavor")?,
            None => String::new(),
        };
        let suffix = match &rule.suffix {
            Some(s) => self.global(s, "tags")?,
            None if !self.flavor.suffix.is_empty() => self.global(&self.flavor.suffix.clone(), "flavor")?,
            None => String::new(),
        };
        Ok(format!("{prefix}{val}{suffix}"))
    }

    fn set_version(&mut self, val: String, latest: bool) {
        if val.is_empty() {
            return;
        }
        let val = sanitize_tag(&val);
        match &self.v.main {
            None => self.v.main = Some(val),
            Some(main) if *main != val && !self.v.partial.contains(&val) => self.v.partial.push(val),
            Some(_) => {}
        }
        self.latest.get_or_insert(latest);
    }
}
