//! `env set|get|versions`: edit a local `.env.versions` safely (validated values, every other
//! byte kept, atomic replace). The forge-side update lives in [`crate::forge::update_env_file`].

use crate::cli::CONTEXT_HEADING;
use crate::env::EnvMap;
use crate::envfile::{Change, EnvFile};
use crate::runner::{Report, Runner};
use crate::settings::InputError;
use crate::versions::{self, DeployMeta};
use anyhow::{Context as _, bail};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Arguments of `env`.
#[derive(Debug, Clone, clap::Args)]
pub struct EnvArgs {
    /// What to do with the file.
    #[command(subcommand)]
    pub command: EnvCommand,
}

/// The `env` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum EnvCommand {
    /// Set `KEY=VALUE` pairs in a dotenv file, keeping everything else byte for byte.
    Set(SetArgs),
    /// Print one value (or every `KEY=value`, last occurrence winning).
    Get(GetArgs),
    /// Record a deployment: set `<SERVICE>_IMAGE_TAG` from `versions` (or `*_image_tag`
    /// inputs) and the `LAST_DEPLOY_*` keys; outputs the commit message.
    Versions(VersionsArgs),
}

/// Arguments of `env set`.
#[derive(Debug, Clone, clap::Args)]
pub struct SetArgs {
    /// The dotenv file; created when missing (its directory must exist).
    #[arg(long = "env-file", visible_alias = "file", value_name = "PATH", default_value = ".env.versions")]
    pub file: PathBuf,
    /// `KEY=VALUE` pairs, applied in order. A value may be empty, except for `*_IMAGE_TAG`.
    #[arg(value_name = "KEY=VALUE", required = true)]
    pub assignments: Vec<String>,
}

/// Arguments of `env get`.
#[derive(Debug, Clone, clap::Args)]
pub struct GetArgs {
    /// The dotenv file.
    #[arg(long = "env-file", visible_alias = "file", value_name = "PATH", default_value = ".env.versions")]
    pub file: PathBuf,
    /// The key to print; all keys when absent.
    #[arg(value_name = "KEY")]
    pub key: Option<String>,
}

/// Arguments of `env versions`.
#[derive(Debug, Clone, clap::Args)]
pub struct VersionsArgs {
    /// The dotenv file; created when missing (its directory must exist).
    #[arg(long = "env-file", visible_alias = "file", value_name = "PATH", default_value = ".env.versions")]
    pub file: PathBuf,
    /// `service=tag` items, one per line or comma (`api=1.2.3`). In a runner, inputs named
    /// `<service>_image_tag` count too; empty ones are skipped.
    #[arg(long, value_name = "SERVICE=TAG")]
    pub versions: Vec<String>,
    /// Who deploys (default: `GITHUB_ACTOR`).
    #[arg(long, value_name = "LOGIN", help_heading = CONTEXT_HEADING)]
    pub actor: Option<String>,
    /// Web URL of the deploying run (default: this run's URL).
    #[arg(long, value_name = "URL", help_heading = CONTEXT_HEADING)]
    pub run_url: Option<String>,
}

/// Runs `env …`.
pub(crate) async fn run(args: &EnvArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    match &args.command {
        EnvCommand::Set(a) => set(a, runner),
        EnvCommand::Get(a) => get(a),
        EnvCommand::Versions(a) => record_versions(a, env, runner),
    }
}

/// Splits `KEY=VALUE` arguments (the value may be empty; it may not contain `=` anyway).
pub(crate) fn parse_assignments(items: &[String]) -> Result<Vec<(String, String)>, InputError> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => Err(InputError::new("KEY=VALUE", item, "must be KEY=VALUE")),
        })
        .collect()
}

fn set(args: &SetArgs, runner: &Runner) -> anyhow::Result<Report> {
    let edits = parse_assignments(&args.assignments)?;
    let (mut file, existed) = load(&args.file)?;
    let changes = file.apply(&edits)?;
    if !changes.is_empty() || !existed {
        write_atomic(&args.file, &file.render())?;
    }
    for c in &changes {
        runner.info(&format!("{}: {} → {}", c.key, c.old.as_deref().unwrap_or("(new)"), c.new));
    }
    Ok(changes_report(&args.file, &changes, None))
}

fn get(args: &GetArgs) -> anyhow::Result<Report> {
    let text = fs::read_to_string(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let file = EnvFile::parse(&text);
    let mut r = Report::default();
    match &args.key {
        Some(key) => {
            let Some(value) = file.get(key) else {
                bail!("{key} is not set in {}", args.file.display());
            };
            r.output("value", value);
            r.text = value.to_owned();
            r.json = serde_json::json!({ "key": key, "value": value });
        }
        None => {
            let mut map = serde_json::Map::new();
            for (k, v) in file.entries() {
                map.insert(k.to_owned(), v.into());
            }
            r.text = map.iter().map(|(k, v)| format!("{k}={}\n", v.as_str().unwrap_or_default())).collect();
            r.json = serde_json::Value::Object(map);
        }
    }
    Ok(r)
}

fn record_versions(args: &VersionsArgs, env: &EnvMap, runner: &Runner) -> anyhow::Result<Report> {
    let tags = super::record::tag_edits(&args.versions, env)?;
    let ctx = crate::context::RunContext::from_env(env)?;
    let meta = DeployMeta {
        actor: args.actor.clone().unwrap_or(ctx.actor.clone()),
        run_url: args.run_url.clone().unwrap_or_else(|| ctx.run_url()),
        now: crate::tags::TagsOptions::from_env(env)?.now,
    };
    let (mut file, _) = load(&args.file)?;
    let changes = file.apply(&versions::deploy_edits(&tags, &meta))?;
    write_atomic(&args.file, &file.render())?;
    let message = versions::commit_message("deploy", None, &tags, &changes, &meta);
    runner.info(message.lines().next().unwrap_or_default());
    Ok(changes_report(&args.file, &changes, Some(message)))
}

fn changes_report(path: &Path, changes: &[Change], message: Option<String>) -> Report {
    let mut r = Report::default();
    r.output("changed", (!changes.is_empty()).to_string());
    r.output("changes", serde_json::to_string(changes).unwrap_or_default());
    let mut summary = format!("### `{}`\n\n| Key | Old | New |\n|---|---|---|\n", path.display());
    for c in changes {
        summary.push_str(&format!("| `{}` | `{}` | `{}` |\n", c.key, c.old.as_deref().unwrap_or(""), c.new));
    }
    r.summary = if changes.is_empty() { String::new() } else { summary };
    r.text = changes.iter().map(|c| format!("{}={}\n", c.key, c.new)).collect();
    r.json = serde_json::json!({ "file": path.display().to_string(), "changes": changes });
    if let Some(m) = message {
        r.output("commit-message", m.clone());
        r.json["commit_message"] = m.into();
    }
    r
}

/// Reads the file (a missing file in an existing directory is an empty file).
fn load(path: &Path) -> anyhow::Result<(EnvFile, bool)> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(InputError::new(
            "file",
            path.display().to_string(),
            "is in a directory that does not exist",
        )
        .into());
    }
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes)
                .map_err(|_| InputError::new("file", path.display().to_string(), "is not UTF-8 text"))?;
            Ok((EnvFile::parse(&text), true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((EnvFile::parse(""), false)),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Replaces `path` atomically: a temp file in the same directory, fsync, the old file's
/// permissions, rename. A symlink is followed, so the link stays a link.
pub(crate) fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let target = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path)?,
        _ => path.to_path_buf(),
    };
    let dir = parent_dir(&target);
    let perms = fs::metadata(&target).ok().map(|m| m.permissions());
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut attempt = 0;
    let (tmp, mut f) = loop {
        let tmp = dir.join(format!(".{name}.{}-{:08x}.tmp", std::process::id(), rand::random::<u32>()));
        match fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
            Err(e) => {
                return Err(e).with_context(|| format!("creating a temporary file in {}", dir.display()));
            }
        }
    };
    let result = (|| -> std::io::Result<()> {
        f.write_all(text.as_bytes())?;
        if let Some(p) = perms {
            f.set_permissions(p)?;
        }
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &target)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", target.display()));
    }
    Ok(())
}
