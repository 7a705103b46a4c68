//! Pure tag computation, compatible with docker/metadata-action: rules + context + clock ->
//! tags, labels, annotations, version and environment.
//!
//! Nothing here reads the environment, the clock or files: [`compute`] gets it all.
//!
//! The team convention (`develop` → `dev-<sha>`, `main` → `staging-<sha>` + `staging`,
//! `v*` → `v1.2.3`, `1.2`, `1`, `latest`, other branches → `<branch>-<sha>`, PRs → `pr-<n>`),
//! proven by `tests/it/tags_fixtures.rs::team_convention_block`:
//!
//! ```yaml
//! tags: |
//!   type=sha,prefix=dev-,enable=${{ github.ref == 'refs/heads/develop' }}
//!   type=sha,prefix=staging-,enable=${{ github.ref == 'refs/heads/main' }}
//!   type=raw,value=staging,priority=50,enable=${{ github.ref == 'refs/heads/main' }}
//!   type=ref,event=branch,suffix=-{{sha}},enable=${{ github.ref != 'refs/heads/develop' && github.ref != 'refs/heads/main' }}
//!   type=semver,pattern=v{{version}}
//!   type=semver,pattern={{major}}.{{minor}}
//!   type=semver,pattern={{major}}
//!   type=ref,event=pr
//! environments: |
//!   refs/heads/develop=dev
//!   refs/heads/main=staging
//!   refs/tags/v*=production
//!   refs/pull/*=none
//! ```

mod date;
pub mod environment_rules;
pub mod flavor;
pub mod grammar;
pub mod labels;
pub mod pep440;
pub mod rule;
pub mod semver;
pub mod template;
mod tz;
pub mod version;

use crate::context::RunContext;
use crate::settings::InputError;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Raw metadata-action-style inputs, exactly as the user wrote them (multi-line strings).
#[derive(Clone, Debug, Default)]
pub struct TagsInput {
    /// `images`: one image name per line or comma.
    pub images: String,
    /// `tags`: one rule per line (`type=ref,event=branch`).
    pub tags: String,
    /// `flavor`: `latest=auto`, `prefix=`, `suffix=` lines.
    pub flavor: String,
    /// `labels`: extra `key=value` lines.
    pub labels: String,
    /// `annotations`: extra `key=value` lines.
    pub annotations: String,
    /// `sep-tags`: separator of the `tags` output.
    pub sep_tags: String,
    /// `sep-labels`: separator of the `labels` output.
    pub sep_labels: String,
    /// `sep-annotations`: separator of the `annotations` output.
    pub sep_annotations: String,
    /// `environments`: ordered `ref-glob=environment` lines.
    pub environments: String,
}

/// Knobs that are not inputs: the clock and metadata-action's `DOCKER_METADATA_*` variables.
#[derive(Clone, Debug)]
pub struct TagsOptions {
    /// The time used for `{{date}}`, schedule tags and the `created` label.
    pub now: DateTime<Utc>,
    /// Length of the short sha (`DOCKER_METADATA_SHORT_SHA_LENGTH`, default 7).
    pub short_sha_length: usize,
    /// Use the pull request's head sha (`DOCKER_METADATA_PR_HEAD_SHA=true`).
    pub pr_head_sha: bool,
    /// Annotation levels (`DOCKER_METADATA_ANNOTATIONS_LEVELS`, default `manifest`).
    pub annotation_levels: String,
}

impl TagsOptions {
    /// The clock (`SOURCE_DATE_EPOCH`, else now) and the `DOCKER_METADATA_*` knobs of `env`.
    pub fn from_env(env: &crate::env::EnvMap) -> Result<Self, InputError> {
        use crate::env::vars;
        let now = match env.non_empty(vars::SOURCE_DATE_EPOCH) {
            Some(s) => {
                let secs: i64 = s.trim().parse().map_err(|_| {
                    InputError::new(vars::SOURCE_DATE_EPOCH, s, "must be whole seconds since the Unix epoch")
                })?;
                DateTime::<Utc>::from_timestamp(secs, 0)
                    .ok_or_else(|| InputError::new(vars::SOURCE_DATE_EPOCH, s, "is out of range"))?
            }
            None => Utc::now(),
        };
        let short_sha_length = match env.non_empty(vars::DOCKER_METADATA_SHORT_SHA_LENGTH) {
            Some(s) => s.trim().parse().map_err(|_| {
                InputError::new(vars::DOCKER_METADATA_SHORT_SHA_LENGTH, s, "must be a positive whole number")
            })?,
            None => 7,
        };
        Ok(Self {
            now,
            short_sha_length,
            pr_head_sha: env.get(vars::DOCKER_METADATA_PR_HEAD_SHA) == Some("true"),
            annotation_levels: env
                .non_empty(vars::DOCKER_METADATA_ANNOTATIONS_LEVELS)
                .unwrap_or("manifest")
                .to_owned(),
        })
    }
}

/// The computed metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Meta {
    /// The main version (`1.2.3`, `main`, `pr-42`), empty when no rule matched.
    pub version: String,
    /// Full image references (`ghcr.io/org/api:1.2.3`), or bare tags when there are no images.
    pub tags: Vec<String>,
    /// OCI labels as `key=value`.
    pub labels: Vec<String>,
    /// Annotations as `level:key=value`.
    pub annotations: Vec<String>,
    /// The first environment whose ref glob matched, or empty.
    pub environment: String,
    /// Non-fatal problems (unknown template expressions), one line each.
    pub warnings: Vec<String>,
    /// metadata-action's `json` output: `{tags, labels, annotations}`.
    pub json: serde_json::Value,
}

/// Computes tags and labels. Fails on invalid inputs before producing anything.
pub fn compute(input: &TagsInput, ctx: &RunContext, opts: &TagsOptions) -> Result<Meta, InputError> {
    let images = flavor::parse_images(&input_lines(&input.images))?;
    let rules = rule::parse_rules(&input_lines(&input.tags))?;
    let flavor = flavor::parse_flavor(&input_lines(&input.flavor))?;
    let env_rules = environment_rules::parse(&input_lines(&input.environments))?;

    let payload = &ctx.event;
    let git_ref = effective_ref(ctx);
    let sha = effective_sha(ctx, opts);
    let facts = version::Facts {
        event_name: &ctx.event_name,
        git_ref: &git_ref,
        sha: &sha,
        payload,
        default_branch: ctx.default_branch().unwrap_or_default(),
        now: opts.now,
        commit_date: commit_date(payload, &sha).unwrap_or(opts.now),
        short_sha_length: opts.short_sha_length,
    };
    let mut warnings = Vec::new();
    let version = version::compute_version(&rules, &facts, &flavor, &mut warnings)?;
    let tags = full_tags(&version, &images, &flavor)?;

    let main = version.main.clone().unwrap_or_default();
    let label_facts = labels::LabelFacts { payload, version: &main, now: opts.now, sha: &sha };
    let scope = facts.global_scope();
    let labels = labels::oci(&label_facts, &input_lines(&input.labels), "labels", &scope, &mut warnings)?;
    let annotations =
        labels::oci(&label_facts, &input_lines(&input.annotations), "annotations", &scope, &mut warnings)?;
    let annotations = labels::leveled(&annotations, &opts.annotation_levels);

    let label_map: serde_json::Map<String, Value> = labels
        .iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
        .collect();
    let json = json!({ "tags": tags, "labels": label_map, "annotations": annotations });
    Ok(Meta {
        version: main,
        tags,
        labels,
        annotations,
        environment: environment_rules::select(&env_rules, &git_ref),
        warnings,
        json,
    })
}

/// Lines of a list input, trimmed; empty lines and `#` comment lines dropped (getInputList).
pub fn input_lines(raw: &str) -> Vec<String> {
    raw.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
}

/// `pull_request_target` runs on the base branch; metadata-action tags the PR's merge ref.
fn effective_ref(ctx: &RunContext) -> String {
    if ctx.event_name.contains("pull_request_target")
        && let Some(n) = ctx.event.get("number").and_then(Value::as_u64)
    {
        return format!("refs/pull/{n}/merge");
    }
    ctx.git_ref.clone()
}

/// The PR head's sha instead of the merge commit's, when asked for.
fn effective_sha(ctx: &RunContext, opts: &TagsOptions) -> String {
    if opts.pr_head_sha
        && ctx.event_name.contains("pull_request")
        && let Some(head) = ctx.event.pointer("/pull_request/head/sha").and_then(Value::as_str)
    {
        return head.to_owned();
    }
    ctx.sha.clone()
}

/// The commit's timestamp from a push payload (`commits[]` or `head_commit`).
fn commit_date(payload: &Value, sha: &str) -> Option<DateTime<Utc>> {
    let commits = payload.get("commits").and_then(Value::as_array).into_iter().flatten();
    let head = payload.get("head_commit").into_iter();
    let ts = commits
        .chain(head)
        .find(|c| c.get("id").and_then(Value::as_str) == Some(sha))?
        .get("timestamp")?
        .as_str()?;
    DateTime::parse_from_rfc3339(ts).ok().map(|t| t.with_timezone(&Utc))
}

/// `image:tag` for every enabled image (bare tags without images), each tag validated.
fn full_tags(
    v: &version::Version,
    images: &[String],
    flavor: &flavor::Flavor,
) -> Result<Vec<String>, InputError> {
    let Some(main) = &v.main else { return Ok(Vec::new()) };
    let mut tags: Vec<&str> = vec![main];
    tags.extend(v.partial.iter().map(String::as_str));
    let latest = if v.latest {
        let prefix = if flavor.prefix_latest { flavor.prefix.as_str() } else { "" };
        let suffix = if flavor.suffix_latest { flavor.suffix.as_str() } else { "" };
        Some(grammar::sanitize_tag(&format!("{prefix}latest{suffix}")))
    } else {
        None
    };
    if let Some(l) = &latest
        && !tags.contains(&l.as_str())
    {
        tags.push(l);
    }
    for tag in &tags {
        if !grammar::is_valid_tag(tag) {
            return Err(InputError::new(
                "tags",
                *tag,
                "is not a valid Docker tag: it must start with a letter, digit or `_`, \
                 hold only letters, digits, `_`, `.`, `-` and be at most 128 characters",
            ));
        }
    }
    let names: Vec<&str> =
        if images.is_empty() { vec![""] } else { images.iter().map(String::as_str).collect() };
    Ok(names
        .iter()
        .flat_map(|name| {
            tags.iter().map(move |t| if name.is_empty() { t.to_string() } else { format!("{name}:{t}") })
        })
        .collect())
}
