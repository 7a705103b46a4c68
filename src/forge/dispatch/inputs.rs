//! The `inputs` of a dispatch: `name=value` lines or one JSON object, values optionally
//! minijinja templates over this run's context (pure: no I/O).

use crate::context::RunContext;
use crate::settings::InputError;
use std::collections::BTreeMap;

/// Parses the `inputs` input: `name=value` lines or one JSON object (numbers and booleans
/// become strings: every value is sent as a string). A value holding `{{ … }}` or `{% … %}` is
/// a minijinja template rendered with `vars` (an undefined name is an error naming it).
pub fn parse_inputs(
    items: &[String],
    vars: &serde_json::Value,
) -> Result<BTreeMap<String, String>, InputError> {
    let joined = items.join("\n");
    let mut out = BTreeMap::new();
    if joined.trim_start().starts_with('{') {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(joined.trim())
            .map_err(|e| InputError::new("inputs", joined.trim(), format!("is not a JSON object: {e}")))?;
        for (k, v) in map {
            let v = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => v.to_string(),
                other => {
                    return Err(InputError::new(
                        "inputs",
                        other.to_string(),
                        format!("{k}: values must be strings, numbers or booleans"),
                    ));
                }
            };
            out.insert(k, render_input(&v, vars)?);
        }
        return Ok(out);
    }
    for line in joined.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((k, v)) = line.split_once('=') else {
            return Err(InputError::new("inputs", line, "must be name=value"));
        };
        if out.insert(k.trim().to_owned(), render_input(v.trim(), vars)?).is_some() {
            return Err(InputError::new("inputs", line, "names an input twice"));
        }
    }
    Ok(out)
}

/// Renders one input value as a minijinja template when it holds one.
fn render_input(value: &str, vars: &serde_json::Value) -> Result<String, InputError> {
    if !value.contains("{{") && !value.contains("{%") {
        return Ok(value.to_owned());
    }
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.render_str(value, jinja_value(vars))
        .map(|v| v.trim().to_owned())
        .map_err(|e| InputError::new("inputs", value, format!("is not a valid template: {e}")))
}

/// A JSON value as a template value.
fn jinja_value(v: &serde_json::Value) -> minijinja::Value {
    use minijinja::Value;
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            n.as_i64().map(Value::from).unwrap_or_else(|| Value::from(n.as_f64().unwrap_or_default()))
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::from(a.iter().map(jinja_value).collect::<Vec<_>>()),
        serde_json::Value::Object(o) => {
            Value::from(o.iter().map(|(k, v)| (k.clone(), jinja_value(v))).collect::<BTreeMap<_, _>>())
        }
    }
}

/// What an `inputs` template may use: this run's `sha`, `short_sha`, `ref`, `ref_name`,
/// `actor`, `run_url`, `repository`, `event_name`, the `environment` the `environments` lines
/// chose (publish; empty otherwise), and each default input by name (publish:
/// `api_image_tag`, …) also under `defaults`.
pub fn template_vars(
    ctx: &RunContext,
    defaults: &BTreeMap<String, String>,
    environment: &str,
) -> serde_json::Value {
    let mut v = serde_json::json!({
        "environment": environment,
        "sha": ctx.sha,
        "short_sha": ctx.sha.chars().take(7).collect::<String>(),
        "ref": ctx.git_ref,
        "ref_name": ctx.git_ref.rsplit('/').next().unwrap_or_default(),
        "actor": ctx.actor,
        "run_url": ctx.run_url(),
        "repository": ctx.repository,
        "event_name": ctx.event_name,
        "defaults": defaults,
    });
    for (k, val) in defaults {
        v[k] = val.clone().into();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::parse_inputs;

    #[test]
    fn inputs_are_lines_or_json_and_may_be_templates() {
        let vars =
            serde_json::json!({"short_sha": "abc1234", "ref": "refs/tags/v1.2.3", "api_image_tag": "v1.2.3"});
        let lines = parse_inputs(
            &["environment={{ 'production' if ref is startingwith('refs/tags/v') else 'staging' }}\nnote=sha {{ short_sha }}".into()],
            &vars,
        )
        .unwrap();
        assert_eq!(lines["environment"], "production");
        assert_eq!(lines["note"], "sha abc1234");
        let json = parse_inputs(
            &[r#"{"dashboard_image_tag": "{{ api_image_tag }}", "replicas": 3, "dry_run": false}"#.into()],
            &vars,
        )
        .unwrap();
        assert_eq!(json["dashboard_image_tag"], "v1.2.3");
        assert_eq!((json["replicas"].as_str(), json["dry_run"].as_str()), ("3", "false"));
        let err = parse_inputs(&["x={{ nope }}".into()], &vars).unwrap_err();
        assert_eq!(err.input, "inputs");
        assert!(parse_inputs(&[r#"{"a": [1]}"#.into()], &vars).is_err());
    }
}
