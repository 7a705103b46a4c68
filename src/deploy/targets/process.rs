//! Runs a child process for a target: stdin from memory, stdout and stderr streamed line by
//! line to `progress` (secrets redacted), the last stderr lines kept for the error message.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// How many stderr lines a failure message quotes.
pub(crate) const STDERR_TAIL: usize = 15;

/// What a finished child did.
#[derive(Debug)]
pub(crate) struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its last [`STDERR_TAIL`] stderr lines (redacted).
    pub stderr_tail: Vec<String>,
}

impl Finished {
    /// `exit status 3` / `killed by signal 9`, for messages.
    pub(crate) fn describe_status(&self) -> String {
        match self.status.code() {
            Some(code) => format!("exit status {code}"),
            None => {
                use std::os::unix::process::ExitStatusExt as _;
                format!("killed by signal {}", self.status.signal().unwrap_or(0))
            }
        }
    }

    /// The stderr tail as an indented block (empty when there was none).
    pub(crate) fn tail_block(&self) -> String {
        if self.stderr_tail.is_empty() {
            return String::new();
        }
        format!(":\n  {}", self.stderr_tail.join("\n  "))
    }
}

/// Spawns `cmd`, writes `stdin` to it (then closes it), streams both outputs to `progress` and
/// waits. `prefix` starts every streamed line (`remote: `).
pub(crate) async fn run_streamed(
    mut cmd: tokio::process::Command,
    stdin: Option<&[u8]>,
    prefix: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> std::io::Result<Finished> {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so a stop signal reaches whatever it starts (ProxyCommand, a
        // deploy script's children) too.
        .process_group(0);
    let mut child = cmd.spawn()?;
    let _group = match child.id() {
        Some(pid) => Some(crate::cleanup::ChildGroup::register(pid)?),
        None => None,
    };
    let feed = child.stdin.take().map(|mut pipe| {
        let data = stdin.unwrap_or_default().to_vec();
        tokio::spawn(async move {
            // A child that exits without reading is reported by its status, not here.
            let _ = pipe.write_all(&data).await;
            let _ = pipe.shutdown().await;
        })
    });
    let mut out = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut err = BufReader::new(child.stderr.take().expect("piped")).lines();
    let mut tail: VecDeque<String> = VecDeque::new();
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        tokio::select! {
            line = out.next_line(), if out_open => match line {
                Ok(Some(l)) => progress(&format!("{prefix}{}", crate::secret::redact(&l))),
                _ => out_open = false,
            },
            line = err.next_line(), if err_open => match line {
                Ok(Some(l)) => {
                    let l = crate::secret::redact(&l);
                    progress(&format!("{prefix}{l}"));
                    if l.trim().is_empty() {
                        continue;
                    }
                    if tail.len() == STDERR_TAIL {
                        tail.pop_front();
                    }
                    tail.push_back(l);
                }
                _ => err_open = false,
            },
        }
    }
    let status = child.wait().await?;
    if let Some(feed) = feed {
        let _ = feed.await;
    }
    Ok(Finished { status, stderr_tail: tail.into() })
}

/// Quotes `s` for a POSIX shell: `'…'` with every `'` written as `'\''`.
pub(crate) fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c)) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_shell() {
        for s in ["plain", "a b", "it's", "$(id)", "", "x'y\"z`w`", "semi;colon"] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_quote(s)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), s);
        }
    }

    #[test]
    fn streams_lines_and_keeps_the_stderr_tail() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut cmd = tokio::process::Command::new("sh");
        cmd.args(["-c", "cat; echo oops >&2; exit 3"]);
        let mut lines = Vec::new();
        let done = rt
            .block_on(run_streamed(cmd, Some(b"from-stdin\n"), "> ", &mut |l: &str| lines.push(l.to_owned())))
            .unwrap();
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(done.stderr_tail, ["oops"]);
        assert!(lines.contains(&"> from-stdin".to_owned()), "{lines:?}");
        assert_eq!(done.describe_status(), "exit status 3");
    }
}
