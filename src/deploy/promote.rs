//! Promotion: the tags live on one environment (its versions file) become the plan for
//! another, optionally retagged first (`staging-abc1234` → `v1.2.3`) in the registry without
//! rebuilding (the manifest is copied byte for byte, so the digest does not change).

use super::plan::{ImageMap, image_tags};
use super::release::Progress;
use crate::envfile::EnvFile;
use crate::forge::{Forge, RepoId};
use crate::registry::{Reference, Registries, RegistryError};
use crate::settings::InputError;
use crate::versions::TagEdit;

/// The tags recorded in `source` on `branch`, limited to the `wanted` services (all when
/// empty); fails when the file is missing, names a wanted service not, or names no tag.
pub(crate) async fn live_tags<F: Forge>(
    forge: &F,
    repo: &RepoId,
    branch: &str,
    source: &str,
    wanted: &[String],
) -> anyhow::Result<Vec<TagEdit>> {
    let text = forge.get_file(repo, source, Some(branch)).await?.map(|f| f.text).ok_or_else(|| {
        anyhow::anyhow!("{repo}: {source} does not exist on {branch}: nothing is live there to promote")
    })?;
    let live = image_tags(&EnvFile::parse(&text));
    if let Some(w) = wanted.iter().find(|w| !live.iter().any(|(service, _, _)| service == *w)) {
        return Err(InputError::new("promote-services", w, format!("is not in {source}")).into());
    }
    let tags: Vec<TagEdit> = live
        .into_iter()
        .filter(|(service, _, _)| wanted.is_empty() || wanted.contains(service))
        .map(|(service, key, tag)| TagEdit { service, key, tag, input: "from-environment".into() })
        .collect();
    if tags.is_empty() {
        anyhow::bail!("{source} names no image tags to promote");
    }
    Ok(tags)
}

/// Tags each service's image at its live tag as `new_tag` too, and makes `new_tag` the tag
/// to deploy. Nothing is tagged for a service whose source tag is missing (the error names it).
pub(crate) async fn retag(
    registries: &Registries,
    images: &ImageMap,
    tags: &mut [TagEdit],
    new_tag: &str,
    progress: Progress<'_>,
) -> anyhow::Result<()> {
    for t in tags {
        let image = images
            .image_for(&t.service)
            .ok_or_else(|| InputError::new("images", "", format!("names no image for {}", t.service)))?;
        let src = Reference::parse(&format!("{image}:{}", t.tag))?;
        let client = registries.client(&src.registry)?;
        let manifest = client.get_manifest(&src.repository, &t.tag).await.map_err(|e| match e {
            RegistryError::NotFound { .. } => {
                anyhow::anyhow!("{}: {src} does not exist; nothing was changed", t.service)
            }
            e => e.into(),
        })?;
        client.put_manifest(&src.repository, new_tag, &manifest).await?;
        progress(&format!("{}: tagged {src} as {new_tag} ({})", t.service, manifest.digest));
        t.tag = new_tag.to_owned();
    }
    Ok(())
}
