//! Command-line interface: one enum of commands. In a runner with no arguments, the same
//! arguments are built from the `INPUT_*` variables, so both ways in behave the same.

use crate::env::EnvMap;
use crate::runner::Format;
use crate::settings::{InputError, parse_bool};
use clap::{ArgAction, CommandFactory, Parser, Subcommand};
use std::ffi::OsString;

/// Help heading of arguments that describe the run context: flags on the CLI, `GITHUB_*`
/// variables in a runner, never action inputs.
pub const CONTEXT_HEADING: &str = "Run context (CLI only; read from GITHUB_* in a runner)";

/// Inputs whose values are secrets: masked before anything else is printed.
pub const SECRET_INPUTS: &[&str] = &[
    "token",
    "password",
    "github-token",
    "ssh-key",
    "api-key",
    "registry-password",
    "approval-key",
    "app-private-key",
];

/// deploy-action: image tags, build, push, dispatch and release, as a GitHub/Forgejo Action or a CLI.
#[derive(Debug, Parser)]
#[command(name = "deploy-action", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Result format on stdout (CLI mode).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands; each is also an action `command:` input value.
#[derive(Debug, Subcommand)]
// Parsed once per process; boxing the larger arguments would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Compute image tags, OCI labels, the version and the environment from the ref and sha.
    Tags(crate::commands::tags::TagsArgs),
    /// Build an image (Dockerfile through the Docker engine, or daemonless from files) into an
    /// OCI image layout; prints the digest.
    Build(crate::commands::build::BuildArgs),
    /// Edit a dotenv file (`.env.versions`) safely: validated values, every other byte kept.
    Env(crate::commands::env_file::EnvArgs),
    /// Record new image tags in the orchestration repository's `.env.versions` via the forge API.
    Record(crate::commands::record::RecordArgs),
    /// Dispatch a workflow (`on: workflow_dispatch`) with inputs; optionally wait for the run.
    Dispatch(crate::commands::dispatch::DispatchArgs),
    /// Push an OCI image layout (directory or tar) to registries; prints the digest.
    Push(crate::commands::push::PushArgs),
    /// Copy an image to other tags, repositories or registries, digest unchanged.
    Copy(crate::commands::copy::CopyArgs),
    /// Print the digest of `image:tag`; exit 1 when it does not exist.
    Inspect(crate::commands::inspect::InspectArgs),
    /// Release new tags to an environment: verify, gate, record, deploy, health-check, report;
    /// roll back automatically on failure.
    Release(crate::commands::release::ReleaseArgs),
    /// Roll an environment back to the versions before the last change (or named ones).
    Rollback(crate::commands::rollback::RollbackArgs),
    /// Release the versions live on one environment (staging) to another (production).
    Promote(crate::commands::promote::PromoteArgs),
    /// On `issue_comment`: continue a release waiting for approval (`approval-mode: resume`).
    Approve(crate::commands::approve::ApproveArgs),
    /// Deploy versions to a target (compose over SSH, Dokploy, a command) without any forge:
    /// reads the local versions file for the old tags, writes nothing.
    Deploy(crate::commands::deploy::DeployArgs),
    /// Tags, build, push and (optionally) dispatch in one step, for one or many services.
    Publish(crate::commands::publish::PublishArgs),
    /// Apply required reviewers, a wait timer and branch/tag policies to a GitHub environment
    /// (idempotent) and print the resulting rules.
    Environment(crate::commands::environment::EnvironmentArgs),
    /// What runs where: per environment the recorded versions, the last deploy, the versions
    /// file's latest commits and (GitHub) the latest deployment and its state.
    Status(crate::commands::status::StatusArgs),
}

impl Command {
    /// The command's name as the `command` input spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Tags(_) => "tags",
            Command::Build(_) => "build",
            Command::Env(_) => "env",
            Command::Record(_) => "record",
            Command::Dispatch(_) => "dispatch",
            Command::Push(_) => "push",
            Command::Copy(_) => "copy",
            Command::Inspect(_) => "inspect",
            Command::Release(_) => "release",
            Command::Rollback(_) => "rollback",
            Command::Promote(_) => "promote",
            Command::Approve(_) => "approve",
            Command::Deploy(_) => "deploy",
            Command::Publish(_) => "publish",
            Command::Environment(_) => "environment",
            Command::Status(_) => "status",
        }
    }
}

/// Why arguments could not be built or parsed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An input value is invalid.
    #[error(transparent)]
    Input(#[from] InputError),
    /// clap rejected the arguments (or printed help/version: `is_exit_ok`).
    #[error("{0}")]
    Clap(#[from] clap::Error),
}

/// Masks the values of secret flags on the command line (`--ssh-key K`, `--api-key=K`) before
/// parsing, so that not even a usage error can print them.
pub fn mask_secret_args(args: &[OsString], runner: &crate::runner::Runner) {
    for name in SECRET_INPUTS {
        for value in flag_values(args, name) {
            runner.mask(&value);
        }
    }
}

/// Registers every `user:password` pair the registry credentials (inputs and flags) can form, so
/// that the `Basic` value a server may echo is masked before the first line. Every user name is
/// paired with every password: which pairs belong together is decided later, by position.
pub fn mask_credential_pairs(args: &[OsString], env: &EnvMap, runner: &crate::runner::Runner) {
    let mut users: Vec<String> = flag_values(args, "username");
    let mut passwords: Vec<String> = flag_values(args, "password");
    users.extend(env.input("username").map(|v| crate::settings::split_list(v, false)).unwrap_or_default());
    passwords.extend(env.input("password").map(|v| crate::settings::split_list(v, true)).unwrap_or_default());
    let users: Vec<String> = users.iter().flat_map(|u| crate::settings::split_list(u, false)).collect();
    for password in passwords.iter().flat_map(|p| crate::settings::split_list(p, true)) {
        for user in &users {
            crate::secret::register_credentials(user, &password);
        }
    }
    let mut auth: Vec<String> = flag_values(args, "registry-auth");
    auth.extend(env.input("registry-auth").map(str::to_owned));
    crate::commands::registry_auth::register_secrets(&auth);
    runner.announce_masks();
}

/// The values given to `--name` (`--name V` or `--name=V`), in order.
fn flag_values(args: &[OsString], name: &str) -> Vec<String> {
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let flag = format!("--{name}");
    let mut values = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if let Some(value) = arg.strip_prefix(&format!("{flag}=")) {
            values.push(value.to_owned());
        } else if *arg == flag
            && let Some(value) = args.get(i + 1)
        {
            values.push(value.clone());
        }
    }
    values
}

/// Parses the process arguments; in a runner with no arguments, builds them from inputs.
pub fn parse(args: Vec<OsString>, env: &EnvMap) -> Result<Cli, CliError> {
    if args.len() <= 1 && env.in_runner() {
        return Cli::try_parse_from(args_from_inputs(env)?).map_err(in_runner_form);
    }
    Ok(Cli::try_parse_from(args)?)
}

/// A usage error about arguments built from inputs, said by input name (`environment`, not
/// `--environment <ENV>`): the step's `with:` is what the user wrote.
fn in_runner_form(e: clap::Error) -> CliError {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let names = || match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::Strings(args)) => args.clone(),
        Some(ContextValue::String(arg)) => vec![arg.clone()],
        _ => Vec::new(),
    };
    let input = |flag: &str| {
        let flag = flag.trim_start_matches("--");
        let name = flag.split([' ', '=']).next().unwrap_or(flag);
        name.trim_matches(['<', '>']).to_ascii_lowercase().replace('_', "-")
    };
    match e.kind() {
        ErrorKind::MissingRequiredArgument => {
            let inputs: Vec<String> = names().iter().map(|n| input(n)).collect();
            CliError::Input(InputError::new(
                inputs.join(", "),
                "",
                "is required: set it in the step's `with:`",
            ))
        }
        ErrorKind::ArgumentConflict => {
            let mut inputs: Vec<String> = names().iter().map(|n| input(n)).collect();
            if let Some(ContextValue::Strings(others)) = e.get(ContextKind::PriorArg) {
                inputs.extend(others.iter().map(|n| input(n)));
            } else if let Some(ContextValue::String(other)) = e.get(ContextKind::PriorArg) {
                inputs.push(input(other));
            }
            CliError::Input(InputError::new(inputs.join(", "), "", "cannot be set together: set one"))
        }
        _ => CliError::Clap(e),
    }
}

/// The commands an action's `command` input may name, mapped to CLI subcommand words.
fn subcommand_words(command: &str) -> Option<Vec<&'static str>> {
    Some(match command {
        "tags" => vec!["tags"],
        "build" => vec!["build"],
        "env-set" => vec!["env", "set"],
        "env-get" => vec!["env", "get"],
        "versions" | "env-versions" => vec!["env", "versions"],
        "record" => vec!["record"],
        "dispatch" => vec!["dispatch"],
        "push" => vec!["push"],
        "copy" => vec!["copy"],
        "inspect" => vec!["inspect"],
        "release" => vec!["release"],
        "rollback" => vec!["rollback"],
        "promote" => vec!["promote"],
        "approve" => vec!["approve"],
        "deploy" => vec!["deploy"],
        "publish" => vec!["publish"],
        "environment" => vec!["environment"],
        "status" => vec!["status"],
        _ => return None,
    })
}

/// The action input an argument reads in runner form: its long name (`ssh-port`), or its id
/// for a positional one. `None` for what is never an input: run-context flags, global and
/// hidden flags, `help` and `version`.
pub fn input_name(arg: &clap::Arg) -> Option<String> {
    if arg.get_help_heading() == Some(CONTEXT_HEADING) || arg.is_global_set() || arg.is_hide_set() {
        return None;
    }
    let name = arg.get_long().map(str::to_owned).unwrap_or_else(|| arg.get_id().as_str().replace('_', "-"));
    (name != "help" && name != "version").then_some(name)
}

/// The subcommand the `command` input names (default `tags`): its words and its definition.
fn input_command(env: &EnvMap) -> Result<(Vec<&'static str>, clap::Command), InputError> {
    let command = env.input("command").map(str::trim).filter(|c| !c.is_empty()).unwrap_or("tags");
    let words = subcommand_words(command).ok_or_else(|| {
        InputError::new(
            "command",
            command,
            "is not a known command: use tags, build, push, publish, copy, inspect, env-set, env-get, versions, record, dispatch, release, rollback, promote, approve, deploy, environment or status",
        )
    })?;
    let mut cmd = Cli::command();
    for w in &words {
        cmd = cmd.find_subcommand(w).expect("subcommand exists").clone();
    }
    Ok((words, cmd))
}

/// Builds CLI arguments from `INPUT_*`: `command` picks the subcommand; every other argument
/// of that subcommand reads the input of the same name. Empty inputs keep the defaults.
pub fn args_from_inputs(env: &EnvMap) -> Result<Vec<OsString>, InputError> {
    let (words, cmd) = input_command(env)?;
    let mut args: Vec<OsString> = vec!["deploy-action".into()];
    args.extend(words.iter().map(OsString::from));
    for arg in cmd.get_arguments() {
        let Some(name) = input_name(arg) else { continue };
        let Some(raw) = env.input(&name) else { continue };
        // An empty input keeps the default; whitespace is a value (`sep-tags: " "`).
        if raw.is_empty() {
            continue;
        }
        match arg.get_action() {
            ArgAction::SetTrue => {
                if parse_bool(&name, raw)? {
                    args.push(format!("--{name}").into());
                }
            }
            _ if arg.is_positional() => {
                args.extend(crate::settings::split_list(raw, false).into_iter().map(OsString::from));
            }
            _ => match checked_choice(arg, &name, raw)? {
                Some(choice) => args.push(format!("--{name}={choice}").into()),
                None => args.push(format!("--{name}={raw}").into()),
            },
        }
    }
    Ok(args)
}

/// The action's own description of its inputs, for their defaults.
const ACTION_YML: &str = include_str!("../action.yml");

/// Inputs given a value that the chosen command does not read (`ssh-host` on `publish`):
/// in runner form they would be ignored without a word. An input left at its `action.yml`
/// default, an expression default (`${{ github.token }}`), `command` itself and the
/// `<service>_image_tag` inputs never count.
pub fn unread_inputs(env: &EnvMap) -> Vec<String> {
    let Ok((_, cmd)) = input_command(env) else { return Vec::new() };
    let read: Vec<String> = cmd.get_arguments().filter_map(input_name).collect();
    let defaults = action_defaults();
    let mut unread: Vec<String> = env
        .inputs()
        .filter(|(name, value)| {
            let value = value.trim();
            let default = defaults.iter().find(|(n, _)| n == name).map(|(_, d)| d.as_str());
            !value.is_empty()
                && name != "command"
                && !name.ends_with(crate::versions::TAG_INPUT_SUFFIX)
                && !read.contains(name)
                && default.is_some_and(|d| !d.contains("${{") && d.trim() != value)
        })
        .map(|(name, _)| name)
        .collect();
    unread.sort();
    unread
}

/// `(input, default)` of every input `action.yml` declares (`""` when it has none).
fn action_defaults() -> Vec<(String, String)> {
    use yaml_rust2::{Yaml, YamlLoader};
    let Ok(docs) = YamlLoader::load_from_str(ACTION_YML) else { return Vec::new() };
    let Some(Yaml::Hash(inputs)) = docs.first().map(|d| &d["inputs"]) else { return Vec::new() };
    inputs
        .iter()
        .filter_map(|(name, spec)| {
            let default = match &spec["default"] {
                Yaml::String(s) | Yaml::Real(s) => s.clone(),
                Yaml::Integer(i) => i.to_string(),
                Yaml::Boolean(b) => b.to_string(),
                _ => String::new(),
            };
            Some((name.as_str()?.to_owned(), default))
        })
        .collect()
}

/// For an input with a closed set of values: the value, trimmed, when it is one of them, or
/// an error naming the input, the value and the choices (clap lists the same choices on the
/// CLI). `None` for an input that takes any value.
fn checked_choice(arg: &clap::Arg, name: &str, raw: &str) -> Result<Option<String>, InputError> {
    let choices = arg.get_possible_values();
    if choices.is_empty() {
        return Ok(None);
    }
    let value = raw.trim();
    if choices.iter().any(|c| c.matches(value, false)) {
        return Ok(Some(value.to_owned()));
    }
    let shown: Vec<&str> = choices.iter().filter(|c| !c.is_hide_set()).map(|c| c.get_name()).collect();
    Err(InputError::new(name, value, format!("must be one of {}", shown.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn inputs_become_arguments() {
        let env = EnvMap::from_pairs([
            ("GITHUB_ACTIONS", "true"),
            ("INPUT_COMMAND", "tags"),
            ("INPUT_IMAGES", "ghcr.io/org/api"),
            ("INPUT_TAGS", ""),
            ("INPUT_SEP-TAGS", ","),
        ]);
        let args = args_from_inputs(&env).unwrap();
        assert!(args.contains(&OsString::from("--images=ghcr.io/org/api")));
        assert!(args.contains(&OsString::from("--sep-tags=,")));
        assert!(!args.iter().any(|a| a.to_string_lossy().starts_with("--tags")));
    }

    #[test]
    fn secret_flags_are_masked_before_parsing() {
        let args: Vec<OsString> =
            ["deploy-action", "deploy", "--api-key", "cli-secret-one", "--ssh-key=cli-secret-two"]
                .map(OsString::from)
                .into();
        mask_secret_args(&args, &crate::runner::Runner::cli());
        assert_eq!(crate::secret::redact("cli-secret-one cli-secret-two"), "*** ***");
    }

    #[test]
    fn unknown_command_names_the_input() {
        let env = EnvMap::from_pairs([("GITHUB_ACTIONS", "true"), ("INPUT_COMMAND", "deploy-it")]);
        let err = args_from_inputs(&env).unwrap_err();
        assert_eq!(err.input, "command");
    }

    /// A closed-set input with a bad value fails in parsing, naming the input, the value and
    /// the choices: in runner form as an input error, on the CLI as clap's usage error.
    #[test]
    fn closed_set_inputs_list_their_choices_in_both_forms() {
        let cases = [
            ("release", "approval", "sometimes", "auto, environment, issue, none"),
            ("release", "approval-mode", "later", "wait, resume"),
            ("release", "rollback-on-failure", "yes", "true, false"),
            ("release", "target", "k8s", "compose-ssh, swarm, dokploy, command, none"),
            ("build", "builder", "buildx", "docker, files, auto"),
            ("dispatch", "wait", "1", "true, false"),
            ("deploy", "compose-prune", "no", "true, false"),
        ];
        for (command, input, value, choices) in cases {
            let var = format!("INPUT_{}", input.to_uppercase());
            let env = EnvMap::from_pairs([
                ("GITHUB_ACTIONS", "true"),
                ("INPUT_COMMAND", command),
                (var.as_str(), value),
            ]);
            let err = args_from_inputs(&env).unwrap_err();
            assert_eq!((err.input.as_str(), err.value.as_str()), (input, value));
            assert_eq!(err.rule, format!("must be one of {choices}"), "{input}");

            let flag = format!("--{input}={value}");
            let cli = Cli::try_parse_from(["deploy-action", command, flag.as_str()]).unwrap_err();
            let text = cli.to_string();
            assert!(text.contains(&format!("invalid value '{value}' for '--{input}")), "{text}");
            assert!(text.contains(&format!("[possible values: {choices}]")), "{text}");
        }
    }

    /// Every spelling `core.getBooleanInput` accepts, padded as YAML may leave it, parses.
    #[test]
    fn boolean_inputs_take_each_spelling() {
        for (raw, want) in
            [("true", true), ("True", true), ("TRUE ", true), ("false", false), (" FALSE", false)]
        {
            let env = EnvMap::from_pairs([
                ("GITHUB_ACTIONS", "true"),
                ("INPUT_COMMAND", "dispatch"),
                ("INPUT_WORKFLOW", "deploy.yml"),
                ("INPUT_WAIT", raw),
            ]);
            let cli = Cli::try_parse_from(args_from_inputs(&env).unwrap()).unwrap();
            let Command::Dispatch(d) = cli.command else { panic!("dispatch") };
            assert_eq!(d.target.wait, want, "{raw:?}");
        }
    }

    /// An input the command does not read is named; one at its default, a dynamic
    /// `<service>_image_tag` input and inputs the command reads are not.
    #[test]
    fn inputs_the_command_does_not_read_are_named() {
        let env = EnvMap::from_pairs([
            ("GITHUB_ACTIONS", "true"),
            ("INPUT_COMMAND", "publish"),
            ("INPUT_SSH-HOST", "vm.example"),
            ("INPUT_TIMEOUT", "1800"),
            ("INPUT_BUILDER", "files"),
            ("INPUT_API_IMAGE_TAG", "v1"),
            ("INPUT_HEALTH-URL", ""),
            ("INPUT_TOKEN", "ghs_x"),
        ]);
        assert_eq!(unread_inputs(&env), ["ssh-host"]);
        assert!(action_defaults().iter().any(|(n, d)| n == "command" && d == "tags"));
    }

    /// In runner form a missing required input or two conflicting ones are named as inputs,
    /// not as CLI flags.
    #[test]
    fn usage_errors_name_inputs_in_runner_form() {
        let env = EnvMap::from_pairs([("GITHUB_ACTIONS", "true"), ("INPUT_COMMAND", "release")]);
        let Err(CliError::Input(e)) = parse(vec!["deploy-action".into()], &env) else {
            panic!("input error")
        };
        assert_eq!(
            (e.input.as_str(), e.rule.as_str()),
            ("environment", "is required: set it in the step's `with:`")
        );
        let env = EnvMap::from_pairs([
            ("GITHUB_ACTIONS", "true"),
            ("INPUT_COMMAND", "dispatch"),
            ("INPUT_WORKFLOW", "deploy.yml"),
            ("INPUT_EVENT-TYPE", "deploy"),
        ]);
        let Err(CliError::Input(e)) = parse(vec!["deploy-action".into()], &env) else {
            panic!("input error")
        };
        assert!(e.input.contains("workflow") && e.input.contains("event-type"), "{e}");
    }
}
