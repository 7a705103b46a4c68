//! `inspect`: does `image:tag` exist, and which digest; optionally the repository's tags.

use super::push::RegistryArgs;
use crate::env::EnvMap;
use crate::registry::{Reference, RegistryError};
use crate::runner::{Report, Runner};
use crate::settings::InputError;

/// Arguments of `inspect` (and the inputs of `command: inspect`).
#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// The image: `registry/repository:tag` or `…@sha256:…`.
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Also list the repository's tags (all pages).
    #[arg(long)]
    pub list_tags: bool,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Runs `inspect`: fails (exit 1) with "… does not exist" when the tag is missing.
pub(crate) async fn run(args: &InspectArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let r = Reference::parse(args.reference.trim())
        .map_err(|e| InputError::new("reference", &args.reference, e.to_string()))?;
    let regs = args.registry.registries(env, runner, Some(r.registry.as_str()))?;
    async {
        let client = regs.client(&r.registry)?;
        let digest = client.manifest_digest(&r.repository, r.target()).await?.ok_or_else(|| {
            RegistryError::NotFound {
                registry: r.registry.clone(),
                repository: r.repository.clone(),
                reference: r.target().to_owned(),
            }
        })?;
        let tags = if args.list_tags { Some(client.list_tags(&r.repository).await?) } else { None };
        let mut report = Report::default();
        report.output("digest", &digest);
        report.output("exists", "true");
        report.output("image", format!("{}@{digest}", r.name()));
        let mut text = String::new();
        if let Some(tags) = &tags {
            report.output("tags", tags.join("\n"));
            for t in tags {
                text.push_str(&format!("tag {t}\n"));
            }
        }
        report.summary = format!("### Image\n\n`{r}` → `{digest}`\n");
        text.push_str(&digest);
        report.text = text;
        report.json = serde_json::json!({
            "reference": r.to_string(),
            "digest": digest,
            "image": format!("{}@{digest}", r.name()),
            "tags": tags,
        });
        Ok(report)
    }
    .await
}
