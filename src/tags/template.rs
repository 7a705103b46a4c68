//! metadata-action's handlebars expressions (`{{branch}}`, `{{version}}`,
//! `{{date 'YYYYMMDD' tz='Asia/Tokyo'}}`) converted to minijinja and rendered.
//!
//! Only names in the [`Scope`] render; anything else renders empty and adds a warning,
//! as handlebars does with an unknown name.

use super::{date, tz};
use crate::settings::InputError;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The names a template may use: plain values and date functions.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    values: BTreeMap<&'static str, String>,
    dates: BTreeMap<&'static str, DateTime<Utc>>,
}

impl Scope {
    /// Adds a plain value (`{{branch}}`).
    pub fn value(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.values.insert(name, value.into());
        self
    }

    /// Adds a date function (`{{date 'YYYYMMDD' tz='UTC'}}`) formatting `t`.
    pub fn date(mut self, name: &'static str, t: DateTime<Utc>) -> Self {
        self.dates.insert(name, t);
        self
    }
}

/// True when a pattern is exactly `{{raw}}` (spaces allowed inside the braces).
pub fn is_raw_statement(pattern: &str) -> bool {
    pattern
        .strip_prefix("{{")
        .and_then(|p| p.strip_suffix("}}"))
        .is_some_and(|inner| inner.trim() == "raw" && !inner.contains('}'))
}

/// Renders `src` with `scope`; `input` names the input for errors, warnings collect unknown names.
pub fn render(
    src: &str,
    scope: &Scope,
    input: &str,
    warnings: &mut Vec<String>,
) -> Result<String, InputError> {
    if !src.contains("{{") {
        return Ok(src.to_owned());
    }
    let jinja = to_minijinja(src, scope, input, warnings)?;
    let mut env = minijinja::Environment::new();
    for (name, t) in &scope.dates {
        let t = *t;
        env.add_function(*name, move |fmt: String, offset_secs: i32| -> String {
            let offset = chrono::FixedOffset::east_opt(offset_secs)
                .unwrap_or(chrono::FixedOffset::east_opt(0).unwrap());
            date::format(t, offset, &fmt)
        });
    }
    env.render_str(&jinja, minijinja::context! { v => &scope.values })
        .map_err(|e| InputError::new(input, src, format!("cannot be rendered: {e}")))
}

/// Converts handlebars expressions to a minijinja template over `v` and the date functions.
pub fn to_minijinja(
    src: &str,
    scope: &Scope,
    input: &str,
    warnings: &mut Vec<String>,
) -> Result<String, InputError> {
    let mut out = String::new();
    let mut literal = String::new();
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        if rest[..start].ends_with('\\') {
            literal.push_str(&rest[..start - 1]);
            literal.push_str("{{");
            rest = &rest[start + 2..];
            continue;
        }
        literal.push_str(&rest[..start]);
        let after = &rest[start..];
        let (open, close) = if after.starts_with("{{{") { (3, "}}}") } else { (2, "}}") };
        let Some(end) = after[open..].find(close) else {
            return Err(InputError::new(input, src, "has a `{{` without a matching `}}`"));
        };
        let inner = after[open..open + end].trim_matches('~').trim();
        rest = &after[open + end + close.len()..];
        push_literal(&mut out, &std::mem::take(&mut literal));
        out.push_str(&expression(inner, scope, input, src, warnings)?);
    }
    literal.push_str(rest);
    push_literal(&mut out, &literal);
    Ok(out)
}

fn push_literal(out: &mut String, literal: &str) {
    if literal.contains(['{', '}', '%', '#']) {
        out.push_str(&format!("{{{{ {} }}}}", quote(literal)));
    } else {
        out.push_str(literal);
    }
}

fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn expression(
    inner: &str,
    scope: &Scope,
    input: &str,
    src: &str,
    warnings: &mut Vec<String>,
) -> Result<String, InputError> {
    if inner.starts_with('!') {
        return Ok(String::new());
    }
    let tokens = tokenize(inner).ok_or_else(|| InputError::new(input, src, "has an unterminated quote"))?;
    let name = tokens.first().map(String::as_str).unwrap_or_default();
    let args = &tokens[tokens.len().min(1)..];
    if scope.values.contains_key(name) {
        if !args.is_empty() {
            return Err(InputError::new(input, src, format!("uses `{{{{{name}}}}}` with arguments")));
        }
        return Ok(format!("{{{{ v[{}] }}}}", quote(name)));
    }
    if let Some(at) = scope.dates.get(name) {
        let mut format = None;
        let mut offset = 0;
        for arg in args {
            match arg.split_once('=') {
                Some((key, value)) if !arg.starts_with(['\'', '"']) => {
                    if key != "tz" {
                        return Err(InputError::new(
                            input,
                            src,
                            format!("uses unknown {key} attribute of {name}"),
                        ));
                    }
                    let tz = unquote(value)
                        .ok_or_else(|| InputError::new(input, src, "must quote the tz attribute"))?;
                    // metadata-action (moment-timezone) warns and keeps UTC for an unknown zone.
                    match tz::offset_at(tz, *at) {
                        Ok(o) => offset = o.local_minus_utc(),
                        Err(why) => warnings.push(format!("tz={why} in {src:?}; using UTC")),
                    }
                }
                _ => match unquote(arg) {
                    Some(f) => format = Some(f.to_owned()),
                    // handlebars looks an unquoted word up as a name: undefined, so moment's default.
                    None => warnings.push(format!(
                        "unquoted format {arg} in {src:?} is read as an unknown name; quote it: {name} '{arg}'"
                    )),
                },
            }
        }
        // moment's defaultFormatUtc / defaultFormat.
        let default = if offset == 0 { "YYYY-MM-DDTHH:mm:ss[Z]" } else { "YYYY-MM-DDTHH:mm:ssZ" };
        let format = format.unwrap_or_else(|| default.to_owned());
        return Ok(format!("{{{{ {name}({}, {offset}) }}}}", quote(&format)));
    }
    warnings.push(format!("unknown expression {{{{{inner}}}}} in {src:?} renders empty"));
    Ok(String::new())
}

fn unquote(s: &str) -> Option<&str> {
    let q = s.chars().next()?;
    if (q == '\'' || q == '"') && s.len() >= 2 && s.ends_with(q) { Some(&s[1..s.len() - 1]) } else { None }
}

/// Splits on whitespace outside single or double quotes; `None` on an unterminated quote.
fn tokenize(s: &str) -> Option<Vec<String>> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                cur.push(c);
            }
        }
    }
    if quote.is_some() {
        return None;
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        let now = DateTime::parse_from_rfc3339("2020-01-10T00:30:00Z").unwrap().with_timezone(&Utc);
        Scope::default().value("branch", "main").value("sha", "860c190").date("date", now)
    }

    fn r(src: &str) -> (String, Vec<String>) {
        let mut w = Vec::new();
        (render(src, &scope(), "tags", &mut w).unwrap(), w)
    }

    #[test]
    fn converts_to_minijinja() {
        let mut w = Vec::new();
        let j = to_minijinja("{{branch}}-{{ sha }}", &scope(), "tags", &mut w).unwrap();
        assert_eq!(j, r#"{{ v["branch"] }}-{{ v["sha"] }}"#);
        let j = to_minijinja("n-{{date 'YYYY' tz='Asia/Tokyo'}}", &scope(), "tags", &mut w).unwrap();
        assert_eq!(j, r#"n-{{ date("YYYY", 32400) }}"#);
        assert!(w.is_empty());
    }

    #[test]
    fn renders_values_and_dates() {
        assert_eq!(r("{{branch}}-{{sha}}").0, "main-860c190");
        assert_eq!(r("nightly-{{date 'YYYYMMDD'}}").0, "nightly-20200110");
        assert_eq!(r("{{date 'YYYYMMDD-HHmm' tz=\"Asia/Tokyo\"}}").0, "20200110-0930");
        assert_eq!(r("{% raw %}{#x#}{{{branch}}}").0, "{% raw %}{#x#}main");
        assert_eq!(r("\\{{branch}}").0, "{{branch}}");
    }

    #[test]
    fn unknown_names_render_empty_with_a_warning() {
        let (out, w) = r("a{{ nope }}b");
        assert_eq!(out, "ab");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("{{nope}}"), "{w:?}");
    }

    #[test]
    fn an_unknown_zone_warns_naming_it_and_renders_utc() {
        let (out, w) = r("{{date 'YYYYMMDD-HHmm' tz='Mars/Olympus'}}");
        assert_eq!(out, "20200110-0030");
        assert_eq!(
            w,
            [
                "tz=\"Mars/Olympus\" is not a time zone of the tz database (IANA names such as Europe/Paris, UTC, Etc/GMT-9) nor an offset ±HH:MM in \"{{date 'YYYYMMDD-HHmm' tz='Mars/Olympus'}}\"; using UTC"
            ]
        );
    }

    #[test]
    fn dates_use_the_offset_the_zone_had_then() {
        // A 2012 commit in Moscow: +04 then (permanent summer time), +03 today.
        let then = DateTime::parse_from_rfc3339("2012-07-01T12:00:00Z").unwrap().with_timezone(&Utc);
        let scope = Scope::default().date("commit_date", then);
        let mut w = Vec::new();
        let out = render("{{commit_date 'YYYY-MM-DDTHH:mmZ' tz='Europe/Moscow'}}", &scope, "tags", &mut w);
        assert_eq!(out.unwrap(), "2012-07-01T16:00+04:00");
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn errors() {
        let mut w = Vec::new();
        assert!(render("{{branch", &scope(), "tags", &mut w).is_err());
        assert!(render("{{date 'Y' foo='x'}}", &scope(), "tags", &mut w).is_err());
        assert!(render("{{date 'Y}}", &scope(), "tags", &mut w).is_err());
        assert_eq!(render("{{date YYYY}}", &scope(), "tags", &mut w).unwrap(), "2020-01-10T00:30:00Z");
        assert!(w[0].contains("unquoted format YYYY"), "{w:?}");
    }

    #[test]
    fn raw_statement() {
        assert!(is_raw_statement("{{raw}}"));
        assert!(is_raw_statement("{{ raw}}"));
        assert!(!is_raw_statement("{{ raw }}.{{ version }}"));
        assert!(!is_raw_statement("v{{raw}}"));
    }
}
