//! Pure tag computation, compatible with docker/metadata-action: rules + context + clock ->
//! tags, labels, annotations, version and environment. (Stub; being filled in.)

use crate::context::RunContext;
use crate::settings::InputError;
use chrono::{DateTime, Utc};

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
    let _ = (input, ctx, opts);
    Ok(Meta::default())
}
