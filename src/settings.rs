//! Raw inputs become validated settings; a bad input is an [`InputError`] that names
//! the input, the offending value and the rule, before anything is changed.

use std::fmt;

/// An input that breaks a rule. Shown to the user as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    /// The input's name as the user writes it (`tags`, `images`, `env-file`).
    pub input: String,
    /// The offending value (already redacted when the input is a secret).
    pub value: String,
    /// The rule the value breaks, phrased so the fix is obvious.
    pub rule: String,
}

impl InputError {
    /// Builds an error for `input` whose `value` breaks `rule`.
    pub fn new(input: impl Into<String>, value: impl Into<String>, rule: impl Into<String>) -> Self {
        InputError { input: input.into(), value: value.into(), rule: rule.into() }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid input `{}`: {:?} {}", self.input, crate::secret::redact(&self.value), self.rule)
    }
}

/// Splits a list input the way the runners' toolkits do: one item per line, and (unless
/// `newline_only`) also per comma outside double quotes; items are trimmed and empty ones dropped.
pub(crate) fn split_list(raw: &str, newline_only: bool) -> Vec<String> {
    let mut items = Vec::new();
    for line in raw.lines() {
        if newline_only {
            push_trimmed(&mut items, line);
            continue;
        }
        let mut current = String::new();
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '"' => {
                    quoted = !quoted;
                    current.push(c);
                }
                ',' if !quoted => push_trimmed(&mut items, &std::mem::take(&mut current)),
                _ => current.push(c),
            }
        }
        push_trimmed(&mut items, &current);
    }
    items
}

fn push_trimmed(items: &mut Vec<String>, s: &str) {
    let t = s.trim();
    if !t.is_empty() {
        items.push(t.to_owned());
    }
}

/// Parses a boolean input the way `core.getBooleanInput` does (`true|True|TRUE|false|False|FALSE`).
pub(crate) fn parse_bool(input: &str, raw: &str) -> Result<bool, InputError> {
    match raw.trim() {
        "true" | "True" | "TRUE" => Ok(true),
        "false" | "False" | "FALSE" => Ok(false),
        other => Err(InputError::new(input, other, "is not a boolean: use true or false")),
    }
}

/// The parser of a boolean input with a value (`--wait=true`): the spellings
/// `core.getBooleanInput` accepts, `true|True|TRUE|false|False|FALSE`. A bad value fails in
/// parsing, listing `true, false`; the same list in runner form (see `cli::args_from_inputs`).
pub(crate) fn bool_input() -> impl clap::builder::TypedValueParser<Value = bool> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    let spelling = |name: &'static str, shown: bool| PossibleValue::new(name).hide(!shown);
    PossibleValuesParser::new([
        spelling("true", true),
        spelling("false", true),
        spelling("True", false),
        spelling("TRUE", false),
        spelling("False", false),
        spelling("FALSE", false),
    ])
    .map(|s: String| s.eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_on_newlines_and_commas() {
        assert_eq!(split_list("a, b\n\n c ", false), ["a", "b", "c"]);
        assert_eq!(
            split_list("type=ref,event=branch\ntype=sha", true),
            ["type=ref,event=branch", "type=sha"]
        );
        assert_eq!(split_list("\"a,b\",c", false), ["\"a,b\"", "c"]);
    }

    #[test]
    fn error_names_input_value_and_rule() {
        let e = InputError::new("images", "Ghcr.io/X", "must be lower-case");
        assert_eq!(e.to_string(), "invalid input `images`: \"Ghcr.io/X\" must be lower-case");
    }
}
