//! The build context sent to the engine: a deterministic tar of a directory without what
//! `.dockerignore` excludes, following Docker's rules (`*`, `?`, `**`, `[...]`, `!` exceptions,
//! the last matching line wins, a match on a directory covers everything below it).

use super::BuildError;
use super::tarball::{Mtime, TarWriter, Walk};
use regex::Regex;
use std::io::Write;
use std::path::Path;

/// One `.dockerignore` line, compiled.
#[derive(Clone, Debug)]
struct Pattern {
    text: String,
    regex: Regex,
    exception: bool,
}

/// The rules of a `.dockerignore` file.
#[derive(Clone, Debug, Default)]
pub(crate) struct DockerIgnore {
    patterns: Vec<Pattern>,
}

impl DockerIgnore {
    /// Parses `.dockerignore` text (comments `#`, blank lines, `!` exceptions).
    pub(crate) fn parse(text: &str) -> DockerIgnore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pat) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pat = clean(pat);
            if pat.is_empty() {
                continue;
            }
            if let Ok(regex) = Regex::new(&to_regex(&pat)) {
                patterns.push(Pattern { text: pat, regex, exception });
            }
        }
        DockerIgnore { patterns }
    }

    /// Reads `<context>/.dockerignore` (none: nothing is excluded).
    pub(crate) fn load(context: &Path) -> Result<DockerIgnore, BuildError> {
        let path = context.join(".dockerignore");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(DockerIgnore::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerIgnore::default()),
            Err(e) => Err(BuildError::Io { action: "reading", path, source: e }),
        }
    }

    /// True when `path` (relative, `/`-separated) is excluded: the last pattern matching it or
    /// one of its parent directories decides.
    pub(crate) fn excludes(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        let mut excluded = false;
        for p in &self.patterns {
            // Only a pattern that could change the verdict is evaluated (as Docker does).
            if p.exception != excluded {
                continue;
            }
            let hit =
                p.regex.is_match(path) || (1..parts.len()).any(|i| p.regex.is_match(&parts[..i].join("/")));
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// True when an excluded directory must still be walked: an exception's pattern starts
    /// with its path (Docker's rule; `!**/*.rs` alone does not reopen an excluded directory).
    pub(crate) fn reopens(&self, dir: &str) -> bool {
        let dir = format!("{dir}/");
        self.patterns.iter().any(|p| p.exception && format!("{}/", p.text).starts_with(&dir))
    }
}

/// Cleans a pattern like Go's `filepath.Clean`, without a leading `/`.
fn clean(pat: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in pat.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p),
        }
    }
    out.join("/")
}

/// Translates a pattern to an anchored regex as Docker's patternmatcher does.
fn to_regex(pat: &str) -> String {
    let mut re = String::from("^");
    let mut chars = pat.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' => match chars.next() {
                Some(n) => re.push_str(&regex::escape(&n.to_string())),
                None => re.push_str("\\\\"),
            },
            '[' => {
                // A character class passes through as written, up to its `]`.
                re.push('[');
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    if n == '[' || n == '&' || n == '~' {
                        re.push('\\');
                    }
                    re.push(n);
                }
                re.push(']');
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    re
}

/// Writes the context directory as a tar to `out`: sorted, owner 0:0, file times kept, without
/// what `.dockerignore` excludes — except the Dockerfile and `.dockerignore`, which are always sent.
/// `extra_dockerfile` adds a Dockerfile from outside the context under that name; `skip` (our
/// own output layout, when it lies inside the context) is never sent.
pub(crate) fn write_context<W: Write>(
    context: &Path,
    dockerfile_in_context: Option<&str>,
    extra_dockerfile: Option<(&str, &Path)>,
    skip: Option<&str>,
    out: W,
) -> Result<W, BuildError> {
    let ignore = DockerIgnore::load(context)?;
    let filter = |rel: &str, is_dir: bool| {
        if Some(rel) == skip {
            Walk::Skip
        } else if rel == ".dockerignore" || Some(rel) == dockerfile_in_context || !ignore.excludes(rel) {
            Walk::Include
        } else if is_dir
            && (ignore.reopens(rel)
                || dockerfile_in_context.is_some_and(|d| d.starts_with(&format!("{rel}/"))))
        {
            Walk::Descend
        } else {
            Walk::Skip
        }
    };
    let mut tar = TarWriter::new(out, Mtime::FromFile);
    tar.path(context, "", true, &filter)?;
    if let Some((name, path)) = extra_dockerfile {
        let meta = std::fs::metadata(path).map_err(BuildError::io("reading", path))?;
        tar.file(name, path, &meta).map_err(BuildError::io("archiving", path))?;
    }
    tar.finish().map_err(BuildError::io("archiving", context))
}

/// `path` relative to `dir` when it lies inside it (both resolved), with `/` separators.
pub(crate) fn relative_inside(path: &Path, dir: &Path) -> Option<String> {
    let (p, d) = (path.canonicalize().ok()?, dir.canonicalize().ok()?);
    p.strip_prefix(&d).ok().map(|r| r.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text)
    }

    #[test]
    fn patterns_follow_dockers_rules() {
        let i = ig(
            "# comment\n\n*.log\n/target\nnode_modules\n!keep.log\n**/*.tmp\ndocs/**\n!docs/README.md\n?.bak\n",
        );
        for (path, excluded) in [
            ("app.log", true),
            ("keep.log", false),
            ("sub/app.log", false), // `*` does not cross `/`
            ("target", true),
            ("target/release/api", true), // a directory match covers its contents
            ("src/target", false),
            ("node_modules/x/y.js", true),
            ("a.tmp", true),
            ("deep/er/b.tmp", true),
            ("docs/guide.md", true),
            ("docs/README.md", false),
            ("x.bak", true),
            ("xy.bak", false),
            ("src/main.rs", false),
        ] {
            assert_eq!(i.excludes(path), excluded, "{path}");
        }
    }

    #[test]
    fn last_match_wins_and_exceptions_reopen() {
        let i = ig("*\n!src\nsrc/secret.txt\n");
        assert!(i.excludes("Makefile"));
        assert!(!i.excludes("src/main.rs"));
        assert!(i.excludes("src/secret.txt"));
        assert!(i.reopens("src") && !i.reopens("target"));
        assert!(ig("target\n!target/keep/me.txt\n").reopens("target/keep"));
        let i = ig("**\n!**/*.rs\n");
        assert!(!i.excludes("a/b/c.rs"));
        assert!(i.excludes("a/b/c.txt"));
        assert!(ig("[a-c].txt").excludes("b.txt"));
        assert!(!ig("[a-c].txt").excludes("d.txt"));
        assert!(ig("./dir/../file\n").excludes("file"));
    }

    fn names(tar: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar);
        a.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect()
    }

    #[test]
    fn context_tar_honours_dockerignore_and_keeps_the_dockerfile() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for (p, c) in [
            ("Dockerfile", "FROM scratch"),
            (".dockerignore", "Dockerfile\n.dockerignore\ntarget\n!target/keep/me.txt\n*.md\n!README.md\n"),
            ("README.md", "r"),
            ("NOTES.md", "n"),
            ("target/big", "b"),
            ("target/keep/me.txt", "k"),
            ("src/main.rs", "m"),
        ] {
            std::fs::create_dir_all(r.join(p).parent().unwrap()).unwrap();
            std::fs::write(r.join(p), c).unwrap();
        }
        let one = write_context(r, Some("Dockerfile"), None, Some("src"), Vec::new()).unwrap();
        assert_eq!(names(&one), [".dockerignore", "Dockerfile", "README.md", "target/keep/me.txt"]);
        assert_eq!(
            one,
            write_context(r, Some("Dockerfile"), None, Some("src"), Vec::new()).unwrap(),
            "deterministic"
        );
    }
}
