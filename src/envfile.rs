//! Pure: parse and edit dotenv files (`.env.versions`) keeping every byte an edit does not touch.
//!
//! Comments, blank lines, key order, quoting (`'…'`, `"…"`, none), the `export ` prefix,
//! CRLF or LF line ends, a missing final newline and unknown lines are kept as they are. An
//! edit replaces only the value token of one line (a trailing comment stays). New keys are
//! appended at the end in the file's newline style.
//!
//! When a key occurs more than once, the **last** occurrence is the one read and edited:
//! docker compose and shells both let the last assignment win. Earlier ones are left alone.
//!
//! Values are validated before anything is changed ([`validate`]): the characters that
//! would need escaping or could inject into a shell or compose file are refused outright.
//! A value written where none was quoted is bare when [plain](is_plain), single-quoted otherwise,
//! so that `sh`'s `.` and docker compose read it back exactly and run nothing.

use crate::settings::InputError;

/// A parsed dotenv file that renders back to the same bytes until it is edited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFile {
    lines: Vec<Line>,
    newline: &'static str,
    /// First physical line (1-based) whose quote never closes; such a file is not edited.
    unclosed: Option<usize>,
}

/// One logical line: its text (a multi-line quoted value spans several physical lines),
/// its terminator (`""` for the last line of a file without a final newline), and the
/// assignment it holds, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Line {
    text: String,
    eol: &'static str,
    entry: Option<Entry>,
}

/// An assignment: the key and the byte span of its value token (quotes included).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    key: String,
    start: usize,
    end: usize,
    quote: Quote,
    value: String,
}

/// How a value is quoted in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quote {
    /// `KEY=value`
    None,
    /// `KEY='value'`
    Single,
    /// `KEY="value"`
    Double,
}

/// One change made by [`EnvFile::apply`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// The key.
    pub key: String,
    /// Its value before the edit (`None`: the key was added).
    pub old: Option<String>,
    /// Its value after the edit.
    pub new: String,
}

enum Parsed {
    Entry(Entry),
    Unclosed,
    Other,
}

impl EnvFile {
    /// Parses a file. Never fails: lines that are not assignments are kept as opaque text.
    pub fn parse(text: &str) -> Self {
        let physical = split_lines(text);
        let newline = physical.iter().map(|(_, eol)| *eol).find(|e| !e.is_empty()).unwrap_or("\n");
        let mut lines = Vec::with_capacity(physical.len());
        let mut unclosed = None;
        let mut i = 0;
        while i < physical.len() {
            let (text, eol) = physical[i];
            match parse_entry(text) {
                Parsed::Entry(entry) => lines.push(Line { text: text.to_owned(), eol, entry: Some(entry) }),
                Parsed::Other => lines.push(Line { text: text.to_owned(), eol, entry: None }),
                Parsed::Unclosed => {
                    // A quoted value may continue on the next lines; join until it closes.
                    let mut joined = text.to_owned();
                    let mut found = None;
                    for (j, (next, _)) in physical.iter().enumerate().skip(i + 1) {
                        joined.push_str(physical[j - 1].1);
                        joined.push_str(next);
                        if let Parsed::Entry(entry) = parse_entry(&joined) {
                            found = Some((j, entry));
                            break;
                        }
                    }
                    match found {
                        Some((j, entry)) => {
                            lines.push(Line { text: joined, eol: physical[j].1, entry: Some(entry) });
                            i = j;
                        }
                        None => {
                            unclosed = unclosed.or(Some(i + 1));
                            lines.push(Line { text: text.to_owned(), eol, entry: None });
                        }
                    }
                }
            }
            i += 1;
        }
        EnvFile { lines, newline, unclosed }
    }

    /// The file's bytes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            out.push_str(&line.text);
            out.push_str(line.eol);
        }
        out
    }

    /// The newline style in use (`"\n"` or `"\r\n"`), taken from the first line end.
    pub fn newline(&self) -> &'static str {
        self.newline
    }

    /// The value of `key` (its last occurrence), unquoted; `None` when absent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.last_index(key).and_then(|i| self.lines[i].entry.as_ref()).map(|e| e.value.as_str())
    }

    /// Every key and its value in file order (duplicates included, as they appear).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines.iter().filter_map(|l| l.entry.as_ref()).map(|e| (e.key.as_str(), e.value.as_str()))
    }

    /// The quoting of `key`'s last occurrence.
    pub fn quote_of(&self, key: &str) -> Option<Quote> {
        self.last_index(key).and_then(|i| self.lines[i].entry.as_ref()).map(|e| e.quote)
    }

    fn last_index(&self, key: &str) -> Option<usize> {
        self.lines.iter().rposition(|l| l.entry.as_ref().is_some_and(|e| e.key == key))
    }

    /// Validates every edit first, then sets each `key=value` in order. Nothing changes when
    /// any edit is invalid. Returns the changes (edits that keep a value are left out).
    pub fn apply<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        edits: &[(K, V)],
    ) -> Result<Vec<Change>, InputError> {
        for (k, v) in edits {
            validate(k.as_ref(), k.as_ref(), v.as_ref())?;
        }
        self.check_editable()?;
        let before = self.clone();
        let mut changes: Vec<Change> = Vec::new();
        for (k, v) in edits {
            let (key, value) = (k.as_ref(), v.as_ref());
            let old = self.set_unchecked(key, value);
            if old.as_deref() == Some(value) {
                continue;
            }
            // A key edited twice in one batch reports its first old value and its last new one.
            match changes.iter_mut().find(|c| c.key == key) {
                Some(c) => c.new = value.to_owned(),
                None => changes.push(Change { key: key.to_owned(), old, new: value.to_owned() }),
            }
        }
        changes.retain(|c| c.old.as_deref() != Some(c.new.as_str()));
        // Safety net: the new bytes must read back as exactly the intended entries.
        let mut expected: Vec<(&str, &str)> = self.entries().collect();
        let reread = EnvFile::parse(&self.render());
        let mut got: Vec<(&str, &str)> = reread.entries().collect();
        expected.sort_unstable();
        got.sort_unstable();
        if got != expected {
            *self = before;
            return Err(InputError::new(
                "file",
                "",
                "cannot be edited safely: the edit would change how other lines read",
            ));
        }
        Ok(changes)
    }

    /// Refuses files with a quote that never closes: a new quote could pair with it.
    fn check_editable(&self) -> Result<(), InputError> {
        match self.unclosed {
            Some(line) => Err(InputError::new(
                "file",
                format!("line {line}"),
                "has a quote that is never closed; fix the file first (an edit could change how other lines read)",
            )),
            None => Ok(()),
        }
    }

    /// Sets one key after validating it; returns the previous value.
    pub fn set(&mut self, key: &str, value: &str) -> Result<Option<String>, InputError> {
        let old = self.get(key).map(str::to_owned);
        self.apply(&[(key, value)])?;
        Ok(old)
    }

    fn set_unchecked(&mut self, key: &str, value: &str) -> Option<String> {
        if let Some(i) = self.last_index(key) {
            let line = &mut self.lines[i];
            let entry = line.entry.as_mut().expect("indexed lines hold entries");
            if entry.value == value {
                return Some(value.to_owned());
            }
            let token = quoted(value, entry.quote);
            line.text.replace_range(entry.start..entry.end, &token);
            let old = std::mem::replace(&mut entry.value, value.to_owned());
            entry.end = entry.start + token.len();
            if entry.quote == Quote::None && token.starts_with('\'') {
                entry.quote = Quote::Single;
            }
            return Some(old);
        }
        let token = quoted(value, Quote::None);
        let text = format!("{key}={token}");
        let start = key.len() + 1;
        let quote = if token.starts_with('\'') { Quote::Single } else { Quote::None };
        let entry = Entry { key: key.to_owned(), start, end: text.len(), quote, value: value.to_owned() };
        // Keep a missing final newline missing: the new line becomes the unterminated one.
        let eol = match self.lines.last_mut() {
            Some(last) if last.eol.is_empty() => {
                last.eol = self.newline;
                ""
            }
            _ => self.newline,
        };
        self.lines.push(Line { text, eol, entry: Some(entry) });
        None
    }
}

/// Punctuation a value may hold and still be written bare (besides ASCII letters and digits).
pub const PLAIN_PUNCTUATION: &[char] = &['_', '.', '-', '/', ':', '@', '+', ',', '%'];

/// True when `value` is written bare: only ASCII letters, digits and [`PLAIN_PUNCTUATION`], none
/// of which `sh`, docker compose v1 or v2 reads as anything but itself.
pub fn is_plain(value: &str) -> bool {
    value.chars().all(|c| c.is_ascii_alphanumeric() || PLAIN_PUNCTUATION.contains(&c))
}

/// The token written for a validated value in a given quoting style. The rule for a value that
/// is not quoted yet: a [plain](is_plain) value is written bare, any other (`a|b`, `a;b`, `a b`,
/// `*`, `~x`, `a#b`, non-ASCII, …) single-quoted, where `sh`'s `.` and both compose
/// generations read every character literally; [`validate`] has refused `'`, `$`, backticks,
/// backslashes, `"`, `=` and control characters, so nothing can close the quote or expand.
fn quoted(value: &str, quote: Quote) -> String {
    match quote {
        Quote::Single => format!("'{value}'"),
        Quote::Double => format!("\"{value}\""),
        Quote::None if is_plain(value) => value.to_owned(),
        Quote::None => format!("'{value}'"),
    }
}

/// Splits text into (line, terminator) pairs; the terminator is `"\r\n"`, `"\n"` or `""`.
fn split_lines(text: &str) -> Vec<(&str, &'static str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find('\n') {
            Some(i) => {
                let (line, eol) = if i > 0 && rest.as_bytes()[i - 1] == b'\r' {
                    (&rest[..i - 1], "\r\n")
                } else {
                    (&rest[..i], "\n")
                };
                out.push((line, eol));
                rest = &rest[i + 1..];
            }
            None => {
                out.push((rest, ""));
                rest = "";
            }
        }
    }
    out
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Parses `[export ]KEY=value[ # comment]` with optional blanks around the parts.
fn parse_entry(text: &str) -> Parsed {
    let body = text.trim_start_matches('\u{feff}').trim_start_matches(is_blank);
    let mut pos = text.len() - body.len();
    if let Some(after) = body.strip_prefix("export")
        && after.starts_with(is_blank)
    {
        pos = text.len() - after.trim_start_matches(is_blank).len();
    }
    let rest = &text[pos..];
    let key_len = rest.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(rest.len());
    let key = &rest[..key_len];
    if key.is_empty() || key.starts_with('#') {
        return Parsed::Other;
    }
    let after_key = rest[key_len..].trim_start_matches(is_blank);
    let Some(after_eq) = after_key.strip_prefix('=') else { return Parsed::Other };
    let value_part = after_eq.trim_start_matches(is_blank);
    let start = text.len() - value_part.len();
    let blank_before = value_part.len() < after_eq.len();
    // An empty value is edited right after the `=`, ahead of any blanks and comment.
    let eq_end = text.len() - after_eq.len();
    let entry = |end: usize, quote: Quote, value: String| {
        let start = if value.is_empty() && quote == Quote::None { eq_end } else { start };
        let end = if value.is_empty() && quote == Quote::None { eq_end } else { end };
        Parsed::Entry(Entry { key: key.to_owned(), start, end, quote, value })
    };
    match value_part.chars().next() {
        Some('\'') => match value_part[1..].find('\'') {
            Some(close) => entry(start + close + 2, Quote::Single, value_part[1..close + 1].to_owned()),
            None => Parsed::Unclosed,
        },
        Some('"') => {
            let mut value = String::new();
            let mut chars = value_part.char_indices().skip(1);
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => return entry(start + i + 1, Quote::Double, value),
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 'r')) => value.push('\r'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, other)) => {
                            if !matches!(other, '"' | '\\' | '$') {
                                value.push('\\');
                            }
                            value.push(other);
                        }
                        None => return Parsed::Unclosed,
                    },
                    _ => value.push(c),
                }
            }
            Parsed::Unclosed
        }
        Some('#') if blank_before => entry(start, Quote::None, String::new()),
        _ => {
            // An unquoted value ends at a `#` that follows a blank (an inline comment).
            let bytes = value_part.as_bytes();
            let comment = (1..bytes.len()).find(|&i| bytes[i] == b'#' && is_blank(bytes[i - 1] as char));
            let raw = &value_part[..comment.unwrap_or(value_part.len())];
            let raw = raw.trim_end_matches(is_blank);
            entry(start + raw.len(), Quote::None, raw.to_owned())
        }
    }
}

/// True for a key of the form `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub use crate::registry::reference::is_valid_tag;

/// Characters no value may contain: they end a line, need escaping, or expand in a shell or
/// in compose (`$`, backtick), or break the `KEY=value` shape.
pub const FORBIDDEN_CHARS: &[char] = &['\n', '\r', '\0', '=', '"', '\'', '$', '`', '\\'];

/// Checks one assignment; `input` names it in the error (the key, or the workflow input it
/// came from). Keys ending in `_IMAGE_TAG` must hold a non-empty Docker tag.
pub fn validate(input: &str, key: &str, value: &str) -> Result<(), InputError> {
    if !is_valid_key(key) {
        return Err(InputError::new(
            input,
            key,
            "is not a valid key: use letters, digits and _, not starting with a digit",
        ));
    }
    if let Some(c) = value.chars().find(|c| FORBIDDEN_CHARS.contains(c) || c.is_control()) {
        return Err(InputError::new(
            input,
            value,
            format!(
                "must not contain {c:?}: quotes, `$`, backticks, `=`, backslashes and control characters are refused"
            ),
        ));
    }
    if value.trim() != value {
        return Err(InputError::new(input, value, "must not start or end with whitespace"));
    }
    if key.ends_with("_IMAGE_TAG") {
        if value.is_empty() {
            return Err(InputError::new(input, value, format!("is empty: {key} must be an image tag")));
        }
        if !is_valid_tag(value) {
            return Err(InputError::new(
                input,
                value,
                "is not a valid image tag: use [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} (at most 128 characters)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_untouched() {
        for text in ["", "A=1", "A=1\n", "# c\r\n\r\nexport A='x' # y\r\nB", "A=\"multi\nline\"\nB=2\n"] {
            assert_eq!(EnvFile::parse(text).render(), text);
        }
    }

    #[test]
    fn reads_values() {
        let f = EnvFile::parse("A=1 # c\nB='x y'\nexport C=\"q\\\"\"\nD=a#b\nE= # nothing\nA=2\n");
        assert_eq!(f.get("A"), Some("2"));
        assert_eq!(f.get("B"), Some("x y"));
        assert_eq!(f.get("C"), Some("q\""));
        assert_eq!(f.get("D"), Some("a#b"));
        assert_eq!(f.get("E"), Some(""));
        assert_eq!(f.get("Z"), None);
    }

    #[test]
    fn edits_only_the_value_token() {
        let mut f = EnvFile::parse("export API_IMAGE_TAG='1.0' # pinned\r\n");
        assert_eq!(f.set("API_IMAGE_TAG", "1.1").unwrap(), Some("1.0".to_owned()));
        assert_eq!(f.render(), "export API_IMAGE_TAG='1.1' # pinned\r\n");
    }

    #[test]
    fn tag_rules() {
        assert!(is_valid_tag("v1.2.3") && is_valid_tag("_x") && is_valid_tag(&"a".repeat(128)));
        assert!(
            !is_valid_tag("")
                && !is_valid_tag(".x")
                && !is_valid_tag("-x")
                && !is_valid_tag(&"a".repeat(129))
        );
        assert!(validate("api_image_tag", "API_IMAGE_TAG", "1.2.3/../x").is_err());
        let e = validate("api_image_tag", "API_IMAGE_TAG", "").unwrap_err();
        assert_eq!(e.input, "api_image_tag");
    }

    /// Random files from fragments: parse + render is the identity; a set is read back, also
    /// after re-parsing; every line but the edited one keeps its bytes.
    #[test]
    fn random_files_round_trip_and_edit_locally() {
        const FRAGMENTS: &[&str] = &[
            "A=1",
            "export B='x y'",
            "C=\"q\\\"\"",
            "# comment",
            "",
            "  D = 2 # c",
            "A=dup",
            "E=",
            "junk line",
            "F=a#b",
            "G=\"multi",
            "line\"",
            "H='unclosed",
            "\u{feff}I=bom",
            "\t",
            "J=v # x # y",
        ];
        let keys = ["A", "B", "C", "D", "E", "F", "G", "NEW_KEY", "X_IMAGE_TAG"];
        let values = ["1.2.3", "", "two words", "#start", "a#b", "https://x/y?z"];
        for seed in 0..2000u64 {
            let mut n = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut next = |m: usize| {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((n >> 33) as usize) % m
            };
            let nl = if next(2) == 0 { "\n" } else { "\r\n" };
            let count = next(8);
            let mut text: String =
                (0..count).map(|_| format!("{}{nl}", FRAGMENTS[next(FRAGMENTS.len())])).collect();
            if next(3) == 0 && !text.is_empty() {
                text.truncate(text.len() - nl.len());
            }
            let mut f = EnvFile::parse(&text);
            assert_eq!(f.render(), text);
            let (key, value) = (keys[next(keys.len())], values[next(values.len())]);
            if (key.ends_with("_IMAGE_TAG") && !is_valid_tag(value)) || f.unclosed.is_some() {
                assert!(f.set(key, value).is_err());
                assert_eq!(f.render(), text);
                continue;
            }
            let without_last = |f: &EnvFile| {
                let mut e: Vec<(String, String)> =
                    f.entries().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
                if let Some(i) = e.iter().rposition(|(k, _)| k == key) {
                    e.remove(i);
                }
                e
            };
            let others_before = without_last(&f);
            f.set(key, value).unwrap();
            let out = f.render();
            assert_eq!(f.get(key), Some(value), "{text:?} -> {out:?}");
            let reread = EnvFile::parse(&out);
            assert_eq!(reread.get(key), Some(value), "{text:?} -> {out:?}");
            assert_eq!(without_last(&reread), others_before, "{text:?} -> {out:?}");
            // Single-line files change at most one line (or gain one at the end).
            if !text.contains('"') && !text.contains('\'') {
                let changed = text.split('\n').zip(out.split('\n')).filter(|(a, b)| a != b).count();
                assert!(changed <= 1, "{text:?} -> {out:?}");
            }
        }
    }

    #[test]
    fn invalid_edit_changes_nothing() {
        let mut f = EnvFile::parse("A=1\n");
        let err = f.apply(&[("A", "2"), ("B", "x$(id)")]).unwrap_err();
        assert_eq!(err.input, "B");
        assert_eq!(f.render(), "A=1\n");
    }
}
