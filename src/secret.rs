//! Secrets that cannot be printed by accident, and the process-wide redaction list.
//!
//! A [`Secret`] has no `Display` and a redacted `Debug`. Every secret value is also
//! registered, with the forms a server or a tool may quote it in ([`derived_forms`]:
//! base64 in both alphabets and at every alignment inside a longer base64 text,
//! percent-encoded, JSON-escaped; base64 of `user:password` for a credential pair), so that
//! [`redact`] can scrub any of them from any text (error chains, server bodies) before it
//! reaches a log, an annotation or a summary, and the runner can be told to mask each one
//! ([`take_unannounced`]).

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use std::fmt;
use std::sync::{Mutex, OnceLock};

/// Text shown in place of a secret.
pub const REDACTED: &str = "***";

/// A registered value (or line of one) shorter than this is ignored: masking `a` would
/// garble every message.
const MIN_RAW: usize = 4;
/// A derived form shorter than this is not worth masking (it would match by chance).
const MIN_DERIVED: usize = 6;

/// A secret string (token, password, key). Exposes its value only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value and registers it for redaction.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        Secret(value)
    }

    /// The raw value, for the one place that must send it (an HTTP header, a child's stdin).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() { f.write_str("Secret(\"\")") } else { write!(f, "Secret({REDACTED})") }
    }
}

/// The process-wide list: every form of every secret, in registration order.
#[derive(Default)]
struct List {
    forms: Vec<String>,
    /// `forms[..announced]` were handed out by [`take_unannounced`].
    announced: usize,
    /// Built on first use after a change.
    matcher: Option<AhoCorasick>,
}

impl List {
    fn add(&mut self, form: String) {
        if !self.forms.contains(&form) {
            self.forms.push(form);
            self.matcher = None;
        }
    }
}

fn list() -> std::sync::MutexGuard<'static, List> {
    static LIST: OnceLock<Mutex<List>> = OnceLock::new();
    LIST.get_or_init(|| Mutex::new(List::default())).lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers a value, each of its lines, and their derived forms. Parts shorter than four
/// characters are ignored.
pub fn register(value: &str) {
    let mut list = list();
    for part in parts(value) {
        list.add(part.to_owned());
        for form in derived_forms(part) {
            list.add(form);
        }
    }
}

/// Registers a credential pair: the password as [`register`] does, and the base64 forms of
/// `user:password` (an `Authorization: Basic` value, a docker config `auth` field).
pub fn register_credentials(user: &str, password: &str) {
    if password.len() < MIN_RAW {
        return;
    }
    register(password);
    let mut list = list();
    for form in base64_forms(&format!("{user}:{password}")) {
        list.add(form);
    }
}

/// The value and, for a multi-line value, each line and each line's text before and after
/// a `=` (a PEM line's base64 padding: a parser that reads `--name=value` quotes the part
/// before it): those at least [`MIN_RAW`] long.
fn parts(value: &str) -> Vec<&str> {
    let mut parts = vec![value];
    if value.contains('\n') {
        for line in value.lines().map(|l| l.trim_end_matches('\r')) {
            parts.push(line);
            if line.contains('=') {
                parts.extend(line.split('=').filter(|p| !p.is_empty()));
            }
        }
        // The whole value up to its first `=` too (`--<value>=…` as one "flag name").
        parts.extend(value.split_once('=').map(|(before, _)| before));
    }
    parts.retain(|p| p.len() >= MIN_RAW);
    parts
}

/// The forms a secret may be quoted in besides itself, each at least six characters:
/// base64 ([`base64_forms`]), percent-encoded (strict, `encodeURIComponent`, RFC 3986
/// unreserved, form and URL user-info sets; upper- and lower-case hex) and JSON-escaped
/// (plain, ASCII-only `\uXXXX`, HTML-safe, with `\/`) and Rust's `{:?}`.
pub fn derived_forms(secret: &str) -> Vec<String> {
    let mut forms = base64_forms(secret);
    forms.extend(percent_forms(secret));
    forms.extend(json_forms(secret));
    let mut out: Vec<String> = Vec::new();
    for f in forms {
        if f.len() >= MIN_DERIVED && f != secret && !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// Base64 of `secret` in the standard and URL-safe alphabets: the whole encoding (padded and
/// not), and for each of the three byte alignments the secret can have inside a longer encoded
/// text, the run of characters that depends on the secret's bits alone (as GitHub's runner
/// masks shifted encodings, but kept maximal). Forms shorter than six characters are dropped.
pub fn base64_forms(secret: &str) -> Vec<String> {
    let bytes = secret.as_bytes();
    let mut forms = vec![STANDARD.encode(bytes), STANDARD_NO_PAD.encode(bytes)];
    forms.push(URL_SAFE.encode(bytes));
    forms.push(URL_SAFE_NO_PAD.encode(bytes));
    for shift in 0..3 {
        let mut stream = vec![0u8; shift];
        stream.extend_from_slice(bytes);
        stream.extend_from_slice(&[0, 0]);
        // Character i encodes bits [6i, 6i+6); the secret holds bits [8·shift, 8·(shift+len)).
        let first = (8 * shift).div_ceil(6);
        let end = (8 * (shift + bytes.len())) / 6;
        if end <= first {
            continue;
        }
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let text = engine.encode(&stream);
            forms.push(text[first..end].to_owned());
        }
    }
    let mut out: Vec<String> = Vec::new();
    for f in forms {
        if f.len() >= MIN_DERIVED && !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// `encodeURIComponent` leaves these unescaped besides letters and digits.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');
/// RFC 3986 unreserved characters stay.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// The WHATWG URL user-info set (how `url` writes a password into a URL).
const USERINFO: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'=')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'|');

fn percent_forms(secret: &str) -> Vec<String> {
    let mut forms: Vec<String> = [NON_ALPHANUMERIC, COMPONENT, UNRESERVED, USERINFO]
        .into_iter()
        .map(|set| utf8_percent_encode(secret, set).to_string())
        .collect();
    forms.push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    let lower: Vec<String> = forms.iter().map(|f| lower_hex_escapes(f)).collect();
    forms.extend(lower);
    forms
}

/// `%2F` → `%2f`: some encoders write lower-case hex.
fn lower_hex_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            out.extend(chars.by_ref().take(2).map(|h| h.to_ascii_lowercase()));
        }
    }
    out
}

fn json_forms(secret: &str) -> Vec<String> {
    let mut forms = Vec::new();
    for (ascii, html) in [(false, false), (true, false), (false, true), (true, true)] {
        let escaped = json_escape(secret, ascii, html);
        forms.push(escaped.replace('/', "\\/"));
        forms.push(escaped);
    }
    let debug = format!("{secret:?}");
    forms.push(debug[1..debug.len() - 1].to_owned());
    forms
}

/// A JSON string's inside: `ascii` writes non-ASCII as `\uXXXX` (UTF-16, lower-case hex, as
/// Python's `json.dumps`), `html` writes `<`, `>`, `&` so too (as Go's `encoding/json`).
fn json_escape(s: &str, ascii: bool, html: bool) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 || (ascii && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Every registered form, in registration order.
pub fn registered() -> Vec<String> {
    list().forms.clone()
}

/// The forms registered since the last call: what the runner must still `::add-mask::`.
pub fn take_unannounced() -> Vec<String> {
    let mut list = list();
    let new = list.forms[list.announced..].to_vec();
    list.announced = list.forms.len();
    new
}

/// Replaces every registered form in `text` with [`REDACTED`] (the longest match wins).
pub fn redact(text: &str) -> String {
    let mut list = list();
    if list.forms.is_empty() {
        return text.to_owned();
    }
    if list.matcher.is_none() {
        list.matcher = AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(&list.forms).ok();
    }
    match &list.matcher {
        Some(m) => m.replace_all(text, &vec![REDACTED; list.forms.len()]),
        None => {
            let mut forms: Vec<&String> = list.forms.iter().collect();
            forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
            forms.iter().fold(text.to_owned(), |t, f| t.replace(f.as_str(), REDACTED))
        }
    }
}

/// Masks the password (and a user-info token) of a URL for display.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() || !u.username().is_empty() => {
            let _ = u.set_password(None);
            if !u.username().is_empty() {
                let _ = u.set_username(REDACTED);
            }
            redact(u.as_str())
        }
        _ => redact(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_redact_scrubs() {
        let s = Secret::new("ghp_supersecretvalue");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(redact("auth failed for ghp_supersecretvalue at x"), "auth failed for *** at x");
        assert_eq!(s.expose(), "ghp_supersecretvalue");
    }

    #[test]
    fn multi_line_secret_lines_are_registered() {
        register("-----BEGIN KEY-----\nline-two-of-key\n-----END KEY-----");
        assert_eq!(redact("oops line-two-of-key"), "oops ***");
    }

    const ODD: &str = "p@ss/w:rd\"\u{e9}+x-unit";

    #[test]
    fn base64_of_a_secret_is_caught_at_every_alignment_inside_longer_base64() {
        register(ODD);
        for prefix in ["", "a", "ab", "abc", "user:"] {
            for suffix in ["", "z", "zz", " and more"] {
                let plain = format!("{prefix}{ODD}{suffix}");
                for engine in [&STANDARD, &URL_SAFE_NO_PAD] {
                    let encoded = engine.encode(&plain);
                    let shown = redact(&format!("header {encoded} end"));
                    assert!(shown.contains(REDACTED), "{prefix:?}+{suffix:?}: {shown}");
                    // What is left of the encoding is at most the few characters that mix in
                    // bits from around the secret, plus prefix and suffix.
                    let left = shown.len() - "header  end".len() - REDACTED.len();
                    let around = (prefix.len() + suffix.len()) * 4 / 3 + 4;
                    assert!(left <= around, "{prefix:?}+{suffix:?}: {shown} from {encoded}");
                }
            }
        }
    }

    #[test]
    fn percent_and_json_forms_are_caught() {
        register(ODD);
        let forms = [
            "p%40ss%2Fw%3Ard%22%C3%A9%2Bx-unit".to_owned(),
            "p%40ss%2fw%3ard%22%c3%a9%2bx-unit".to_owned(),
            url::form_urlencoded::byte_serialize(ODD.as_bytes()).collect(),
            serde_json::to_string(ODD).unwrap(),
            r#"p@ss\/w:rd\"\u00e9+x-unit"#.to_owned(),
            format!("{ODD:?}"),
        ];
        for form in forms {
            assert!(!redact(&format!("got {form}!")).contains("unit"), "{form} survives redaction");
        }
    }

    #[test]
    fn a_credential_pairs_basic_value_is_caught_and_announced_once() {
        register_credentials("robot", "pair-Secret-42");
        let basic = STANDARD.encode("robot:pair-Secret-42");
        assert_eq!(redact(&format!("bad credentials Basic {basic}")), "bad credentials Basic ***");
        let first = take_unannounced();
        assert!(first.contains(&basic) && first.iter().any(|f| f == "pair-Secret-42"));
        register_credentials("robot", "pair-Secret-42");
        assert!(!take_unannounced().contains(&basic));
    }

    #[test]
    fn short_forms_are_not_registered() {
        assert!(derived_forms("abcd").iter().all(|f| f.len() >= 6));
        register("ab");
        assert_eq!(redact("ab cd"), "ab cd");
    }

    #[test]
    fn url_credentials_are_hidden() {
        assert_eq!(redact_url("https://user:pa55word@example.com/x"), "https://***@example.com/x");
    }
}
