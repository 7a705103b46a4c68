//! Entry point: run, map the error to an exit code, print the chain once.

use deploy_action::{cli::CliError, env::EnvMap, runner::Runner};
use std::process::ExitCode;

fn main() -> ExitCode {
    let env = EnvMap::from_process();
    let runner = Runner::from_env(&env);
    // The one async runtime: every command runs on it, and so does the signal handler.
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            runner.error("deploy-action failed", &format!("starting the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let log = runner.clone();
    if let Err(e) = deploy_action::cleanup::install(rt.handle(), move |line| log.error("Cancelled", line)) {
        runner.warning(&format!("cannot handle SIGTERM/SIGINT: {e}"));
    }
    let result = rt.block_on(deploy_action::run(std::env::args_os().collect(), &env, &runner));
    // A signal ends the process with its own code and message, not the interrupted step's.
    deploy_action::cleanup::hold_if_stopping();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let exit = deploy_action::exit_for(&err);
            match err.downcast_ref::<CliError>() {
                // clap formats its own usage errors.
                Some(CliError::Clap(e)) if runner.mode() == deploy_action::runner::Mode::Cli => {
                    // clap quotes the offending argument, which may be a secret flag's value.
                    eprint!("{}", deploy_action::secret::redact(&e.render().ansi().to_string()));
                }
                _ => {
                    let title = if exit == deploy_action::Exit::Usage {
                        "Invalid input"
                    } else {
                        "deploy-action failed"
                    };
                    runner.error(title, &format!("{err:#}"));
                }
            }
            ExitCode::from(exit.code())
        }
    }
}
