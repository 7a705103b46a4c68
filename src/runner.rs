//! The runner protocol, and only it: outputs, job summary, masks, groups and annotations.
//!
//! In a runner (`GITHUB_ACTIONS=true`) workflow commands go to stdout and outputs to
//! `$GITHUB_OUTPUT`; as a CLI, log lines go to stderr so stdout carries only the result.
//! Every line passes through [`crate::secret::redact`] first.

use crate::env::{EnvMap, vars};
use crate::secret;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where log lines and results go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Inside a GitHub/Forgejo runner: workflow commands on stdout.
    Action,
    /// A terminal or script: log on stderr, result on stdout.
    Cli,
}

/// Output format of a command's result in CLI mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable lines; the last line is the main value (a digest, a tag).
    #[default]
    Text,
    /// One JSON object.
    Json,
}

/// What a command produced: step outputs, a Markdown summary, and its CLI rendering.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Step outputs in order (`name`, `value`).
    pub outputs: Vec<(String, String)>,
    /// Markdown appended to the job summary.
    pub summary: String,
    /// Text printed in CLI text mode (and to the job log).
    pub text: String,
    /// Object printed in CLI JSON mode.
    pub json: serde_json::Value,
    /// Collapsible sections for the job log (`title`, `body`); in a runner they replace `text`.
    pub groups: Vec<(String, String)>,
    /// Environment variables for the job's next steps (`name`, `value`), in a runner only.
    pub exports: Vec<(String, String)>,
}

impl Report {
    /// Adds an output.
    pub fn output(&mut self, name: &str, value: impl Into<String>) {
        self.outputs.push((name.to_owned(), value.into()));
    }
}

/// The runner protocol writer.
#[derive(Clone, Debug)]
pub struct Runner {
    mode: Mode,
    output_file: Option<PathBuf>,
    summary_file: Option<PathBuf>,
    env_file: Option<PathBuf>,
    /// Between [`Runner::stop_commands`] and [`Runner::resume_commands`]: `::add-mask::` would be
    /// ignored, so announcing waits.
    stopped: Arc<AtomicBool>,
    /// Lines held back until [`Runner::flush_group`] (one of several tasks logging at once).
    buffer: Option<Arc<std::sync::Mutex<Vec<String>>>>,
}

impl Runner {
    /// Chooses the mode and files from the environment.
    pub fn from_env(env: &EnvMap) -> Self {
        let mode = if env.in_runner() { Mode::Action } else { Mode::Cli };
        Runner {
            mode,
            output_file: env.runner_file(vars::OUTPUT_SUFFIX).map(PathBuf::from),
            summary_file: env.runner_file(vars::STEP_SUMMARY_SUFFIX).map(PathBuf::from),
            env_file: env.runner_file(vars::ENV_SUFFIX).map(PathBuf::from),
            stopped: Arc::default(),
            buffer: None,
        }
    }

    /// A CLI-mode runner that writes no files (tests, library use).
    pub fn cli() -> Self {
        Runner {
            mode: Mode::Cli,
            output_file: None,
            summary_file: None,
            env_file: None,
            stopped: Arc::default(),
            buffer: None,
        }
    }

    /// The mode in force.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A runner whose log lines are held back until [`Runner::flush_group`], so that tasks
    /// running at once (parallel `publish`) each show as one group instead of interleaving.
    /// Outputs, the summary and masks are not held back.
    pub(crate) fn buffered(&self) -> Runner {
        Runner { buffer: Some(Arc::default()), ..self.clone() }
    }

    /// Prints the held-back lines as one collapsible group titled `title` (at once, so no
    /// other task's lines come between them); a runner that holds nothing back prints nothing.
    pub(crate) fn flush_group(&self, title: &str) {
        let Some(buffer) = &self.buffer else { return };
        let lines = std::mem::take(&mut *buffer.lock().unwrap_or_else(|e| e.into_inner()));
        match self.mode {
            Mode::Action => {
                let mut out = io::stdout().lock();
                if !self.stopped.load(Ordering::SeqCst) {
                    announce(&mut out);
                }
                let _ = writeln!(out, "::group::{}", escape_data(title));
                for line in &lines {
                    // Redacted again: a secret may have been registered since the line was held.
                    let _ = writeln!(out, "{}", secret::redact(line));
                }
                let _ = writeln!(out, "::endgroup::");
            }
            Mode::Cli => {
                eprintln!("{}", secret::redact(&format!("== {title}")));
                for line in &lines {
                    eprintln!("{}", secret::redact(line));
                }
            }
        }
    }

    fn log_line(&self, line: &str) {
        let line = secret::redact(line);
        if let Some(buffer) = &self.buffer {
            buffer.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            return;
        }
        match self.mode {
            Mode::Action => {
                let mut out = io::stdout().lock();
                if !self.stopped.load(Ordering::SeqCst) {
                    announce(&mut out);
                }
                let _ = writeln!(out, "{line}");
            }
            Mode::Cli => eprintln!("{line}"),
        }
    }

    /// Registers a secret with its derived forms ([`secret::register`]) and, in a runner, tells
    /// it to mask each form not masked yet (`::add-mask::`). Call before anything else is printed.
    /// A secret registered elsewhere (a docker config's password) is masked before the next line.
    pub fn mask(&self, value: &str) {
        if value.trim().is_empty() {
            return;
        }
        secret::register(value);
        self.announce_masks();
    }

    /// In a runner, prints `::add-mask::` for each secret form registered but not masked yet.
    pub fn announce_masks(&self) {
        if self.mode == Mode::Action && !self.stopped.load(Ordering::SeqCst) {
            announce(&mut io::stdout().lock());
        }
    }

    /// A progress line in the job log (stderr in CLI mode). Text that would start a workflow
    /// command (`::…`) is indented so the runner prints it instead of obeying it.
    pub fn info(&self, message: &str) {
        for line in message.lines() {
            if self.mode == Mode::Action && line.trim_start().starts_with("::") {
                self.log_line(&format!(" {line}"));
            } else {
                self.log_line(line);
            }
        }
    }

    /// In a runner, stops workflow-command processing until [`Runner::resume_commands`] with the
    /// returned token: for output that is not ours (a build log). `None` as a CLI.
    pub fn stop_commands(&self) -> Option<String> {
        (self.mode == Mode::Action).then(|| {
            let token = format!("{:032x}", rand::random::<u128>());
            self.log_line(&format!("::stop-commands::{token}"));
            self.stopped.store(true, Ordering::SeqCst);
            token
        })
    }

    /// Resumes workflow-command processing stopped by [`Runner::stop_commands`].
    pub fn resume_commands(&self, token: Option<String>) {
        if let Some(token) = token {
            self.log_line(&format!("::{token}::"));
            self.stopped.store(false, Ordering::SeqCst);
            announce(&mut io::stdout().lock());
        }
    }

    /// Starts a collapsible group; pair with [`Runner::end_group`].
    pub fn group(&self, title: &str) {
        match self.mode {
            Mode::Action => self.log_line(&format!("::group::{}", escape_data(title))),
            Mode::Cli => self.log_line(&format!("== {title}")),
        }
    }

    /// Ends the current group.
    pub fn end_group(&self) {
        if self.mode == Mode::Action {
            self.log_line("::endgroup::");
        }
    }

    /// A warning annotation.
    pub fn warning(&self, message: &str) {
        self.annotate("warning", None, message);
    }

    /// An error annotation with a title.
    pub fn error(&self, title: &str, message: &str) {
        self.annotate("error", Some(title), message);
    }

    fn annotate(&self, level: &str, title: Option<&str>, message: &str) {
        let message = secret::redact(message);
        match self.mode {
            Mode::Action => {
                let props = title
                    .map(|t| format!(" title={}", escape_property(&secret::redact(t))))
                    .unwrap_or_default();
                self.log_line(&format!("::{level}{props}::{}", escape_data(&message)));
            }
            Mode::Cli => self.log_line(&format!("{level}: {message}")),
        }
    }

    /// Sets a step output: appended to `$GITHUB_OUTPUT` in the multi-line-safe
    /// `name<<DELIMITER` form, or printed when there is no output file.
    pub fn set_output(&self, name: &str, value: &str) -> io::Result<()> {
        match &self.output_file {
            Some(path) => {
                let mut f = OpenOptions::new().create(true).append(true).open(path)?;
                f.write_all(format_output(name, value, &random_delimiter(value)).as_bytes())
            }
            None => {
                if self.mode == Mode::Action {
                    self.info(&format!("output {name}={value}"));
                }
                Ok(())
            }
        }
    }

    /// Appends Markdown to the job summary (no-op without `$GITHUB_STEP_SUMMARY`).
    pub fn append_summary(&self, markdown: &str) -> io::Result<()> {
        if markdown.is_empty() {
            return Ok(());
        }
        if let Some(path) = &self.summary_file {
            let mut f = OpenOptions::new().create(true).append(true).open(path)?;
            f.write_all(secret::redact(markdown).as_bytes())?;
            if !markdown.ends_with('\n') {
                f.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// Emits a command's report: outputs and summary in a runner, text or JSON on stdout as a CLI.
    pub fn emit(&self, report: &Report, format: Format) -> io::Result<()> {
        match self.mode {
            Mode::Action => {
                if report.groups.is_empty() && !report.text.is_empty() {
                    self.info(&report.text);
                }
                for (title, body) in &report.groups {
                    self.group(title);
                    self.info(body);
                    self.end_group();
                }
                for (name, value) in &report.outputs {
                    self.set_output(name, value)?;
                }
                if let Some(path) = &self.env_file {
                    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
                    for (name, value) in &report.exports {
                        let value = secret::redact(value);
                        f.write_all(format_output(name, &value, &random_delimiter(&value)).as_bytes())?;
                    }
                }
                self.append_summary(&report.summary)
            }
            Mode::Cli => {
                let mut out = io::stdout().lock();
                match format {
                    Format::Text => {
                        if !report.text.is_empty() {
                            writeln!(out, "{}", secret::redact(report.text.trim_end()))?;
                        }
                    }
                    Format::Json => {
                        let text = serde_json::to_string_pretty(&report.json).map_err(io::Error::other)?;
                        writeln!(out, "{}", secret::redact(&text))?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Prints `::add-mask::` for every secret form registered since the last call. Not redacted: the
/// runner must see the value to mask it.
fn announce(out: &mut impl Write) {
    for form in secret::take_unannounced() {
        if !form.trim().is_empty() {
            let _ = writeln!(out, "::add-mask::{}", escape_data(&form));
        }
    }
}

/// Escapes a workflow command's message: `%`, `\r`, `\n`.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow command's property value: as [`escape_data`] plus `:` and `,`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Formats one output in the `name<<DELIMITER` heredoc form.
pub fn format_output(name: &str, value: &str, delimiter: &str) -> String {
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

/// A delimiter (`ghadelimiter_<random hex>`) that occurs nowhere in `value`.
pub fn random_delimiter(value: &str) -> String {
    loop {
        let d = format!("ghadelimiter_{:032x}", rand::random::<u128>());
        if !value.contains(&d) {
            return d;
        }
    }
}

/// Parses a `$GITHUB_OUTPUT` file back into pairs (for tests and the harness).
pub fn parse_output_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.push((name.to_owned(), value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            out.push((name.to_owned(), value.to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_the_toolkit() {
        assert_eq!(escape_data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn output_round_trips_multi_line_values() {
        let value = "line1\nghadelimiter_fake\nline3";
        let d = random_delimiter(value);
        assert!(!value.contains(&d));
        let text = format_output("tags", value, &d) + &format_output("version", "1.2.3", "EOF");
        assert_eq!(
            parse_output_file(&text),
            vec![("tags".to_owned(), value.to_owned()), ("version".to_owned(), "1.2.3".to_owned())]
        );
    }
}
