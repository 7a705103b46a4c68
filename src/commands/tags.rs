//! `tags`: compute image tags, OCI labels, version and environment for this run.

use crate::cli::CONTEXT_HEADING;
use crate::context::RunContext;
use crate::env::{EnvMap, vars};
use crate::runner::{Report, Runner};
use crate::tags::{Meta, TagsInput, TagsOptions, compute};
use anyhow::Context as _;

/// Arguments of `tags` (and the inputs of `command: tags`), as in docker/metadata-action.
#[derive(Debug, Clone, clap::Args)]
pub struct TagsArgs {
    /// The tag rules and labels (shared with `publish`).
    #[command(flatten)]
    pub rules: TagRulesArgs,

    /// Git ref (`refs/heads/main`, `refs/tags/v1.2.3`, `refs/pull/42/merge`).
    #[arg(long = "ref", value_name = "REF", help_heading = CONTEXT_HEADING)]
    pub git_ref: Option<String>,
    /// Commit sha.
    #[arg(long, value_name = "SHA", help_heading = CONTEXT_HEADING)]
    pub sha: Option<String>,
    /// Event name (default: `pull_request` for `refs/pull/*`, else `push`).
    #[arg(long, value_name = "EVENT", help_heading = CONTEXT_HEADING)]
    pub event: Option<String>,
    /// Event payload JSON file.
    #[arg(long, value_name = "FILE", help_heading = CONTEXT_HEADING)]
    pub event_path: Option<std::path::PathBuf>,
    /// Repository default branch (for `{{is_default_branch}}` and `latest=auto` on branches).
    #[arg(long, value_name = "BRANCH", help_heading = CONTEXT_HEADING)]
    pub default_branch: Option<String>,
}

/// The metadata-action inputs: images, tag rules, flavor, labels, annotations, separators,
/// and `environments`.
#[derive(Debug, Clone, clap::Args)]
pub struct TagRulesArgs {
    /// Image names (one per line or comma), e.g. `ghcr.io/org/api`. Empty: bare tags.
    #[arg(long, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Tag rules, one per line: `type=semver,pattern={{version}}`, `type=ref,event=branch`,
    /// `type=sha`, `type=raw,value=latest`, … Empty: metadata-action's defaults.
    #[arg(long, value_name = "RULE")]
    pub tags: Vec<String>,
    /// Flavor lines: `latest=auto|true|false`, `prefix=…`, `suffix=…` (with `,onlatest=true`).
    #[arg(long, value_name = "FLAVOR")]
    pub flavor: Vec<String>,
    /// Extra labels (`key=value`, one per line); override the generated OCI labels.
    #[arg(long, value_name = "LABEL")]
    pub labels: Vec<String>,
    /// Extra annotations (`key=value`, one per line).
    #[arg(long, value_name = "ANNOTATION")]
    pub annotations: Vec<String>,
    /// Separator of the `tags` output.
    #[arg(long, value_name = "SEP", default_value = "\n", hide_default_value = true)]
    pub sep_tags: String,
    /// Separator of the `labels` output.
    #[arg(long, value_name = "SEP", default_value = "\n", hide_default_value = true)]
    pub sep_labels: String,
    /// Separator of the `annotations` output.
    #[arg(long, value_name = "SEP", default_value = "\n", hide_default_value = true)]
    pub sep_annotations: String,
    /// Ordered `ref-glob=environment` lines; the first match is the `environment` output,
    /// e.g. `refs/heads/main=staging`, `refs/tags/v*=production`.
    #[arg(long, value_name = "GLOB=ENV")]
    pub environments: Vec<String>,
}

impl TagRulesArgs {
    /// The raw metadata-action inputs.
    pub fn input(&self) -> TagsInput {
        TagsInput {
            images: self.images.join("\n"),
            tags: self.tags.join("\n"),
            flavor: self.flavor.join("\n"),
            labels: self.labels.join("\n"),
            annotations: self.annotations.join("\n"),
            sep_tags: self.sep_tags.clone(),
            sep_labels: self.sep_labels.clone(),
            sep_annotations: self.sep_annotations.clone(),
            environments: self.environments.join("\n"),
        }
    }
}

impl TagsArgs {
    /// The run context: the runner's, with CLI flags taking precedence.
    pub fn context(&self, env: &EnvMap) -> anyhow::Result<RunContext> {
        let mut ctx = RunContext::from_env(env)?;
        if let Some(path) = &self.event_path {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --event-path {}", path.display()))?;
            ctx.event = serde_json::from_str(&text)
                .with_context(|| format!("parsing --event-path {}", path.display()))?;
        }
        if let Some(r) = &self.git_ref {
            ctx.git_ref = r.clone();
            if self.event.is_none() && !env.in_runner() {
                ctx.event_name = if r.starts_with("refs/pull/") { "pull_request" } else { "push" }.to_owned();
            }
        }
        if let Some(s) = &self.sha {
            ctx.sha = s.clone();
        }
        if let Some(e) = &self.event {
            ctx.event_name = e.clone();
        }
        if let Some(b) = &self.default_branch {
            if !ctx.event.is_object() {
                ctx.event = serde_json::json!({});
            }
            ctx.event["repository"]["default_branch"] = serde_json::Value::String(b.clone());
        }
        if ctx.event_name.is_empty() {
            ctx.event_name = "push".to_owned();
        }
        Ok(ctx)
    }
}

/// Runs `tags`.
pub(crate) async fn run(args: &TagsArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let ctx = args.context(env)?;
    let opts = TagsOptions::from_env(env)?;
    let input = args.rules.input();
    let meta = compute(&input, &ctx, &opts)?;
    for w in &meta.warnings {
        runner.warning(w);
    }
    let mut r = report(&meta, &input);
    // As metadata-action: each of its outputs is also set for the next steps as
    // `DOCKER_METADATA_OUTPUT_<NAME>` unless DOCKER_METADATA_SET_OUTPUT_ENV is false.
    if env.get(vars::DOCKER_METADATA_SET_OUTPUT_ENV).is_none_or(|v| !v.trim().eq_ignore_ascii_case("false")) {
        r.exports = metadata_exports(&r.outputs);
    }
    Ok(r)
}

/// metadata-action's outputs as the environment variables it sets for the next steps.
fn metadata_exports(outputs: &[(String, String)]) -> Vec<(String, String)> {
    const METADATA_OUTPUTS: &[&str] = &["version", "tags", "tag-names", "labels", "annotations", "json"];
    outputs
        .iter()
        .filter(|(name, _)| METADATA_OUTPUTS.contains(&name.as_str()))
        .map(|(name, value)| {
            (format!("DOCKER_METADATA_OUTPUT_{}", name.to_ascii_uppercase().replace('-', "_")), value.clone())
        })
        .collect()
}

/// The tags without their image names (`ghcr.io/org/api:v1` → `v1`), each once, in order:
/// metadata-action's `tag-names`.
fn tag_names(tags: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for t in tags {
        let after_path = t.rsplit('/').next().unwrap_or(t);
        let name = after_path.rsplit_once(':').map(|(_, tag)| tag).unwrap_or(after_path).to_owned();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Turns metadata into outputs, a summary table and CLI text.
pub(crate) fn report(meta: &Meta, input: &TagsInput) -> Report {
    let mut r = Report::default();
    r.output("version", meta.version.clone());
    r.output("tags", meta.tags.join(&input.sep_tags));
    r.output("labels", meta.labels.join(&input.sep_labels));
    r.output("annotations", meta.annotations.join(&input.sep_annotations));
    r.output("json", serde_json::to_string(&meta.json).unwrap_or_default());
    r.output("environment", meta.environment.clone());
    r.output("tag-names", tag_names(&meta.tags).join(&input.sep_tags));
    r.summary = summary(meta);
    let mut text = String::new();
    for t in &meta.tags {
        text.push_str(t);
        text.push('\n');
    }
    r.text = text.clone();
    r.groups.push((format!("Tags ({})", meta.tags.len()), text));
    if !meta.labels.is_empty() {
        r.groups.push((format!("Labels ({})", meta.labels.len()), meta.labels.join("\n")));
    }
    if !meta.version.is_empty() || !meta.environment.is_empty() {
        r.groups.insert(
            0,
            ("Version".to_owned(), format!("version={} environment={}", meta.version, meta.environment)),
        );
    }
    let mut json = meta.json.clone();
    if let Some(obj) = json.as_object_mut() {
        obj.insert("version".into(), meta.version.clone().into());
        obj.insert("environment".into(), meta.environment.clone().into());
    }
    r.json = json;
    r
}

fn summary(meta: &Meta) -> String {
    let mut s = String::from("### Image tags\n\n");
    if !meta.version.is_empty() {
        s.push_str(&format!("Version: `{}`", meta.version));
        if !meta.environment.is_empty() {
            s.push_str(&format!(" · environment: `{}`", meta.environment));
        }
        s.push_str("\n\n");
    }
    s.push_str("| Tag |\n|---|\n");
    for t in &meta.tags {
        s.push_str(&format!("| `{}` |\n", md_cell(t)));
    }
    if !meta.labels.is_empty() {
        s.push_str("\n| Label | Value |\n|---|---|\n");
        for l in &meta.labels {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            s.push_str(&format!("| `{}` | `{}` |\n", md_cell(k), md_cell(v)));
        }
    }
    s
}

/// Escapes a value for a Markdown table cell.
pub(crate) fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ").replace('`', "'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_names_drop_the_image_and_repeat_nothing() {
        let tags = [
            "127.0.0.1:5000/org/api:v1".to_owned(),
            "ghcr.io/org/api:v1".to_owned(),
            "api:latest".to_owned(),
            "v2".to_owned(),
        ];
        assert_eq!(tag_names(&tags), ["v1", "latest", "v2"]);
        let exports =
            metadata_exports(&[("tag-names".into(), "v1".into()), ("environment".into(), "x".into())]);
        assert_eq!(exports, [("DOCKER_METADATA_OUTPUT_TAG_NAMES".to_owned(), "v1".to_owned())]);
    }
}
