//! deploy-action: one containerized GitHub/Forgejo Action and CLI that takes a service from
//! `git push` to a verified deployment. `run` is the whole program; `main` only maps errors.

pub(crate) mod builder;
pub mod cleanup;
pub mod cli;
pub(crate) mod commands;
pub mod context;
pub mod deploy;
pub mod env;
pub mod envfile;
pub mod forge;
pub mod oci;
pub(crate) mod publish;
pub mod registry;
pub(crate) mod retry;
pub mod runner;
pub mod secret;
pub(crate) mod settings;
pub mod tags;
pub(crate) mod versions;

use cli::{CliError, Command};
use env::EnvMap;
use runner::Runner;
use std::ffi::OsString;

/// How the process should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done.
    Success,
    /// The job failed (a registry refused, a deployment's health check failed).
    Failure,
    /// An input or argument is invalid; nothing was changed.
    Usage,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
        }
    }
}

/// Classifies an error: invalid input (exit 2) or a failed job (exit 1).
pub fn exit_for(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if cause.downcast_ref::<settings::InputError>().is_some() {
            return Exit::Usage;
        }
        if let Some(CliError::Input(_) | CliError::Clap(_)) = cause.downcast_ref::<CliError>() {
            return Exit::Usage;
        }
    }
    Exit::Failure
}

/// Parses arguments (or inputs), masks secrets, runs the command and emits its report.
pub async fn run(args: Vec<OsString>, env: &EnvMap, runner: &Runner) -> anyhow::Result<()> {
    // Mask every secret input before anything else can be printed.
    for name in cli::SECRET_INPUTS {
        if let Some(value) = env.input(name) {
            runner.mask(value);
        }
    }
    cli::mask_secret_args(&args, runner);
    cli::mask_credential_pairs(&args, env, runner);
    if args.len() <= 1 && env.in_runner() {
        for input in cli::unread_inputs(env) {
            let command = env.input("command").unwrap_or("tags").trim();
            runner.warning(&format!("input `{input}` is not read by command `{command}`: it is ignored"));
        }
    }
    let cli = match cli::parse(args, env) {
        Ok(cli) => cli,
        Err(CliError::Clap(e)) if !e.use_stderr() => {
            // --help / --version: clap prints them; not an error.
            let _ = e.print();
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    if runner.mode() == runner::Mode::Action {
        runner.info(&format!("deploy-action {} · {}", env!("CARGO_PKG_VERSION"), cli.command.name()));
    }
    let report = match &cli.command {
        Command::Tags(args) => commands::tags::run(args, env, runner).await?,
        Command::Build(args) => commands::build::run(args, env, runner).await?,
        Command::Env(args) => commands::env_file::run(args, env, runner).await?,
        Command::Record(args) => commands::record::run(args, env, runner).await?,
        Command::Dispatch(args) => commands::dispatch::run(args, env, runner).await?,
        Command::Push(args) => commands::push::run(args, env, runner).await?,
        Command::Copy(args) => commands::copy::run(args, env, runner).await?,
        Command::Inspect(args) => commands::inspect::run(args, env, runner).await?,
        Command::Release(args) => commands::release::run(args, env, runner).await?,
        Command::Rollback(args) => commands::rollback::run(args, env, runner).await?,
        Command::Promote(args) => commands::promote::run(args, env, runner).await?,
        Command::Approve(args) => commands::approve::run(args, env, runner).await?,
        Command::Deploy(args) => commands::deploy::run(args, env, runner).await?,
        Command::Publish(args) => commands::publish::run(args, env, runner).await?,
        Command::Environment(args) => commands::environment::run(args, env, runner).await?,
        Command::Status(args) => commands::status::run(args, env, runner).await?,
    };
    runner.emit(&report, cli.format)?;
    Ok(())
}
