//! Pure reading of a workflow file's `on.workflow_dispatch.inputs`: which inputs it declares
//! and which of them are booleans. Parsed as YAML (block or flow style, quoted keys, anchors),
//! so `on: { workflow_dispatch: { inputs: { … } } }` reads like the indented form.

use yaml_rust2::{Yaml, YamlLoader};

/// One input declared under `on.workflow_dispatch.inputs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DispatchInput {
    /// The input's name.
    pub name: String,
    /// Its `type:` (`string` when not given, as both forges read it).
    pub kind: String,
}

/// The inputs the workflow declares for `workflow_dispatch`, in file order; empty when the
/// file is not YAML, has no `workflow_dispatch` trigger or declares no inputs.
pub(crate) fn dispatch_inputs(yaml: &str) -> Vec<DispatchInput> {
    let Ok(docs) = YamlLoader::load_from_str(yaml) else { return Vec::new() };
    let Some(Yaml::Hash(root)) = docs.into_iter().next() else { return Vec::new() };
    // `on` is a string key in YAML 1.2; a YAML 1.1 reader would make it `true`.
    let on = root.get(&Yaml::String("on".into())).or_else(|| root.get(&Yaml::Boolean(true)));
    let Some(Yaml::Hash(on)) = on else { return Vec::new() };
    let Some(Yaml::Hash(inputs)) = on.get(&Yaml::String("workflow_dispatch".into())).map(|d| &d["inputs"])
    else {
        return Vec::new();
    };
    inputs
        .iter()
        .filter_map(|(name, spec)| {
            let name = scalar(name)?;
            let kind = scalar(&spec["type"]).unwrap_or_else(|| "string".into());
            Some(DispatchInput { name, kind })
        })
        .collect()
}

/// Whether the workflow declares `input` for `workflow_dispatch`.
pub(crate) fn declares_input(yaml: &str, input: &str) -> bool {
    dispatch_inputs(yaml).iter().any(|i| i.name == input)
}

/// Names of the inputs declared `type: boolean` for `workflow_dispatch`.
pub(crate) fn boolean_inputs(yaml: &str) -> Vec<String> {
    dispatch_inputs(yaml).into_iter().filter(|i| i.kind == "boolean").map(|i| i.name).collect()
}

/// A scalar key or value as text.
fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_boolean_inputs_only_under_workflow_dispatch() {
        let wf = "on:\n  push:\n    inputs:\n      x:\n        type: boolean\n  workflow_dispatch:\n    inputs:\n      dry_run:\n        type: boolean # a checkbox\n        default: false\n      tag:\n        type: string\n      force:\n        description: go\n        type: \"boolean\"\njobs:\n  a:\n    steps: []\n";
        assert_eq!(boolean_inputs(wf), ["dry_run", "force"]);
        assert!(boolean_inputs("on: workflow_dispatch\n").is_empty());
    }

    #[test]
    fn finds_a_declared_workflow_dispatch_input() {
        let wf = "name: deploy\nrun-name: deploy ${{ inputs.dispatch_id }}\non:\n  workflow_dispatch:\n    inputs:\n      api_image_tag:\n        type: string\n      dispatch_id:\n        required: false\njobs:\n  x:\n    steps: []\n";
        assert!(declares_input(wf, "dispatch_id"));
        assert!(declares_input(wf, "api_image_tag"));
        assert!(!declares_input(wf, "type"));
        let other = "on:\n  push:\n    inputs:\n      dispatch_id: x\n  workflow_dispatch:\n    inputs:\n      api_image_tag: {}\njobs: {}\n";
        assert!(!declares_input(other, "dispatch_id"));
    }

    /// Flow style, quoted keys and `"on"` read as the block form does; what is not a
    /// workflow declares nothing.
    #[test]
    fn reads_flow_style_and_quoted_keys() {
        let flow = "on: { workflow_dispatch: { inputs: { dispatch_id: { required: false }, dry_run: { type: boolean } } } }\njobs: {}\n";
        assert!(declares_input(flow, "dispatch_id"));
        assert_eq!(boolean_inputs(flow), ["dry_run"]);
        let quoted =
            "\"on\":\n  'workflow_dispatch':\n    inputs:\n      \"dispatch_id\":\n        type: string\n";
        assert!(declares_input(quoted, "dispatch_id"));
        assert!(!declares_input("on: [push, workflow_dispatch]\n", "dispatch_id"));
        assert!(!declares_input("{{ not yaml", "dispatch_id"));
        assert!(!declares_input("", "dispatch_id"));
    }
}
