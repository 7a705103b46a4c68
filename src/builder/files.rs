//! The daemonless builder (like ko or jib): a base (scratch, or layers + config already on
//! disk) plus one gzip layer per added path, compressed in parallel, written as an OCI layout.

use super::layout_writer::{self, Layer, Layout};
use super::tarball::{Mtime, TarWriter, Walk};
use super::{BuildError, BuildSpec, Builder, BuiltImage, ImageSettings, Platform, Recipe};
use crate::oci::{self, Descriptor, ImageIndex};
use crate::runner::Runner;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::path::PathBuf;

pub(crate) use super::base::BaseImage;

/// Builds images from files without a daemon.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FilesBuilder;

/// One layer to make: a resolved source and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LayerJob {
    src: PathBuf,
    name: String,
    label: String,
}

impl LayerJob {
    fn new(src: &str, dst: &str, label: String) -> LayerJob {
        let path = PathBuf::from(src);
        let mut name = dst.trim_start_matches('/').to_owned();
        if dst.ends_with('/') && !path.is_dir() {
            let base = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            name.push_str(&base);
        }
        LayerJob { src: path, name, label }
    }

    fn write(&self, layout: &Layout, mtime: Mtime) -> Result<Layer, BuildError> {
        let mut tar = TarWriter::new(layout.layer_sink()?, mtime);
        let io = BuildError::io("archiving", &self.src);
        tar.parents(&self.name).map_err(io)?;
        // Our own output never goes into a layer, even when it lies inside an added directory.
        let own = super::build_context::relative_inside(layout.dir(), &self.src);
        let filter =
            |rel: &str, _: bool| if Some(rel) == own.as_deref() { Walk::Skip } else { Walk::Include };
        tar.path(&self.src, &self.name, true, &filter)?;
        tar.finish().map_err(BuildError::io("archiving", &self.src))?.finish()
    }
}

impl Builder for FilesBuilder {
    fn name(&self) -> String {
        "files".to_owned()
    }

    fn build(&self, spec: &BuildSpec, runner: &Runner) -> Result<BuiltImage, BuildError> {
        let Recipe::Files(recipe) = &spec.recipe else {
            return Err(BuildError::Unsupported(
                "the files builder cannot run a Dockerfile: use builder docker, or give `add` paths".into(),
            ));
        };
        let layout = Layout::create(&spec.output.dir)?;
        let mtime = spec.epoch.map_or(Mtime::FromFile, |e| Mtime::Fixed(e.max(0) as u64));
        let created = spec.epoch.and_then(|e| DateTime::<Utc>::from_timestamp(e, 0)).unwrap_or_else(Utc::now);

        // Per platform, the indexes of its layer jobs; equal jobs are made once.
        let mut jobs: Vec<LayerJob> = Vec::new();
        let mut per_platform: Vec<Vec<usize>> = Vec::new();
        for p in &spec.platforms {
            let mut mine = Vec::new();
            for add in &recipe.add {
                let label = format!("{}:{}", add.src, add.dst);
                let job = LayerJob::new(&p.substitute(&add.src), &p.substitute(&add.dst), label);
                let i = jobs.iter().position(|j| *j == job).unwrap_or_else(|| {
                    jobs.push(job);
                    jobs.len() - 1
                });
                mine.push(i);
            }
            per_platform.push(mine);
        }
        let started = std::time::Instant::now();
        let layers = super::parallel_map(&jobs, |j| j.write(&layout, mtime))
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        for (job, layer) in jobs.iter().zip(&layers) {
            runner.info(&format!(
                "layer {} {} ({} bytes) <- {}",
                &layer.descriptor.digest[..19],
                job.name,
                layer.descriptor.size,
                job.src.display()
            ));
        }
        runner.info(&format!("{} layer(s) in {:.2?}", layers.len(), started.elapsed()));

        let mut manifests = Vec::new();
        // Every blob once: platforms share layers.
        let mut blobs = std::collections::BTreeMap::new();
        let mut pinned = None;
        for (p, mine) in spec.platforms.iter().zip(&per_platform) {
            let base = base_for(&recipe.base, p, &layout)?;
            let (config, base_layers) = match base {
                Some(b) => (b.config.clone(), b.layers.iter().map(|(l, _)| l.clone()).collect()),
                None => (json!({}), Vec::new()),
            };
            let source = base.and_then(|b| b.source.as_ref());
            if pinned.is_none() {
                pinned = source.cloned();
            }
            let ours: Vec<(Layer, String)> =
                mine.iter().map(|&i| (layers[i].clone(), jobs[i].label.clone())).collect();
            let config = image_config(config, &base_layers, &ours, &spec.image, p, &created);
            let all: Vec<Layer> = base_layers.into_iter().chain(ours.into_iter().map(|(l, _)| l)).collect();
            let annotations = source.map(super::base::BaseSource::annotations);
            let (desc, config_desc) = layout_writer::write_image(&layout, &config, &all, p, annotations)?;
            blobs.extend(all.iter().map(|l| (l.descriptor.digest.clone(), l.descriptor.size)));
            blobs.insert(config_desc.digest, config_desc.size);
            manifests.push(desc);
        }
        let top = top_descriptor(&layout, manifests)?;
        layout.set_index(top.clone(), spec.output.tag.as_deref())?;
        Ok(BuiltImage {
            builder: self.name(),
            layout_dir: layout.dir().to_owned(),
            tag: spec.output.tag.clone(),
            digest: top.digest,
            media_type: top.media_type,
            platforms: spec.platforms.clone(),
            size: blobs.values().sum(),
            image_id: None,
            base: pinned,
        })
    }
}

/// The one manifest, or an index of several written as a blob.
pub(crate) fn top_descriptor(
    layout: &Layout,
    mut manifests: Vec<Descriptor>,
) -> Result<Descriptor, BuildError> {
    if manifests.len() == 1 {
        return Ok(manifests.remove(0));
    }
    layout.write_json(oci::OCI_INDEX, &ImageIndex::new(manifests))
}

/// The base image for `platform`, its blobs copied into `layout`.
fn base_for<'a>(
    base: &'a super::Base,
    platform: &Platform,
    layout: &Layout,
) -> Result<Option<&'a BaseImage>, BuildError> {
    let super::Base::Images(images) = base else { return Ok(None) };
    let Some(image) = images.iter().find(|i| i.platform == *platform) else {
        return Err(BuildError::Unsupported(format!("the base image has no {platform} variant")));
    };
    for (layer, blob) in &image.layers {
        let dest = layout.blob_path(&layer.descriptor.digest);
        if !dest.exists() && std::fs::hard_link(blob, &dest).is_err() {
            std::fs::copy(blob, &dest).map_err(BuildError::io("copying", blob))?;
        }
    }
    Ok(Some(image))
}

/// The image config: the base's (or empty) with our settings, layers and history applied.
fn image_config(
    mut config: Value,
    base_layers: &[Layer],
    ours: &[(Layer, String)],
    settings: &ImageSettings,
    platform: &Platform,
    created: &DateTime<Utc>,
) -> Value {
    let created = created.to_rfc3339_opts(SecondsFormat::Secs, true);
    config["created"] = json!(created);
    config["architecture"] = json!(platform.arch);
    config["os"] = json!(platform.os);
    if let Some(v) = &platform.variant {
        config["variant"] = json!(v);
    }
    let c = &mut config["config"];
    if !c.is_object() {
        *c = json!({});
    }
    if let Some(ep) = &settings.entrypoint {
        c["Entrypoint"] = json!(ep);
        // As in a Dockerfile, a new entrypoint drops the base's default arguments.
        c.as_object_mut().expect("object").remove("Cmd");
    }
    if let Some(cmd) = &settings.cmd {
        c["Cmd"] = json!(cmd);
    }
    if !settings.env.is_empty() {
        let mut env: Vec<String> = c["Env"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        for (k, v) in &settings.env {
            env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()));
            env.push(format!("{k}={v}"));
        }
        c["Env"] = json!(env);
    }
    if let Some(w) = &settings.workdir {
        c["WorkingDir"] = json!(w);
    }
    if let Some(u) = &settings.user {
        c["User"] = json!(u);
    }
    for port in &settings.exposed_ports {
        if !c["ExposedPorts"].is_object() {
            c["ExposedPorts"] = json!({});
        }
        c["ExposedPorts"][port] = json!({});
    }
    for (k, v) in &settings.labels {
        if !c["Labels"].is_object() {
            c["Labels"] = json!({});
        }
        c["Labels"][k] = json!(v);
    }
    let diff_ids: Vec<&str> =
        base_layers.iter().chain(ours.iter().map(|(l, _)| l)).map(|l| l.diff_id.as_str()).collect();
    config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
    if !config["history"].is_array() {
        config["history"] = json!([]);
    }
    let history = config["history"].as_array_mut().expect("array");
    for (_, label) in ours {
        history.push(json!({"created": created, "created_by": format!("deploy-action build --add {label}")}));
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_merges_base_settings_and_layers() {
        let base = json!({"config": {"Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"], "Labels": {"x": "1"}},
                          "history": [{"created_by": "base"}]});
        let l = |d: &str| Layer {
            descriptor: Descriptor::new(oci::OCI_LAYER_GZIP, d.into(), 1),
            diff_id: format!("diff-{d}"),
        };
        let settings = ImageSettings {
            entrypoint: Some(vec!["/api".into()]),
            env: vec![("A".into(), "2".into())],
            exposed_ports: vec!["8080/tcp".into()],
            labels: [("y".to_owned(), "2".to_owned())].into(),
            ..Default::default()
        };
        let p = Platform::parse("linux/arm/v7").unwrap();
        let t = DateTime::<Utc>::from_timestamp(0, 0).unwrap();
        let c = image_config(base, &[l("b")], &[(l("o"), "api:/api".into())], &settings, &p, &t);
        assert_eq!(c["created"], "1970-01-01T00:00:00Z");
        assert_eq!(c["variant"], "v7");
        assert_eq!(c["config"]["Env"], json!(["PATH=/bin", "A=2"]));
        assert_eq!(c["config"].get("Cmd"), None);
        assert_eq!(c["config"]["Labels"], json!({"x": "1", "y": "2"}));
        assert_eq!(c["config"]["ExposedPorts"], json!({"8080/tcp": {}}));
        assert_eq!(c["rootfs"]["diff_ids"], json!(["diff-b", "diff-o"]));
        assert_eq!(c["history"][1]["created_by"], "deploy-action build --add api:/api");
    }
}
