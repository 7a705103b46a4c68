//! The `environments` input (ours): ordered `ref-glob=environment` lines; the first glob
//! matching the full ref names the environment.
//!
//! Globs: `*` matches any run of characters, `/` included (`refs/pull/*` matches
//! `refs/pull/42/merge`); every other character matches itself.

use crate::settings::InputError;

/// One `glob=environment` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvRule {
    /// Glob on the full ref.
    pub glob: String,
    /// Environment name (`none` is an ordinary value).
    pub environment: String,
}

/// Parses the lines; a line without `=` or with an empty side is an error.
pub fn parse(lines: &[String]) -> Result<Vec<EnvRule>, InputError> {
    lines
        .iter()
        .map(|line| {
            let err = |rule: &str| InputError::new("environments", line, rule);
            let (glob, env) = line.split_once('=').ok_or_else(|| err("must be ref-glob=environment"))?;
            let (glob, env) = (glob.trim(), env.trim());
            if glob.is_empty() {
                return Err(err("has an empty ref glob before `=`"));
            }
            if env.is_empty() {
                return Err(err("has an empty environment after `=`"));
            }
            Ok(EnvRule { glob: glob.to_owned(), environment: env.to_owned() })
        })
        .collect()
}

/// The environment of the first rule whose glob matches `git_ref`, or empty.
pub fn select(rules: &[EnvRule], git_ref: &str) -> String {
    rules.iter().find(|r| glob_match(&r.glob, git_ref)).map(|r| r.environment.clone()).unwrap_or_default()
}

/// `*` matches any (possibly empty) run of characters.
pub fn glob_match(glob: &str, text: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    if parts.len() == 1 {
        return glob == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("refs/tags/v*", "refs/tags/v1.2.3"));
        assert!(glob_match("refs/pull/*", "refs/pull/42/merge"));
        assert!(glob_match("refs/heads/*/x*", "refs/heads/a/b/xy"));
        assert!(!glob_match("refs/heads/main", "refs/heads/main2"));
        assert!(!glob_match("refs/tags/v*", "refs/heads/v1"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*a", "a"));
    }

    #[test]
    fn first_match_wins() {
        let lines: Vec<String> = ["refs/heads/main=staging", "refs/heads/*=dev", "refs/pull/*=none"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let rules = parse(&lines).unwrap();
        assert_eq!(select(&rules, "refs/heads/main"), "staging");
        assert_eq!(select(&rules, "refs/heads/feature/x"), "dev");
        assert_eq!(select(&rules, "refs/pull/1/merge"), "none");
        assert_eq!(select(&rules, "refs/tags/v1"), "");
        assert!(parse(&["refs/heads/main".to_owned()]).is_err());
        assert!(parse(&["=x".to_owned()]).is_err());
        assert!(parse(&["x=".to_owned()]).is_err());
    }
}
