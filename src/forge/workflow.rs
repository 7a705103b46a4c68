//! Pure reading of a workflow file's `on.workflow_dispatch.inputs` (no YAML library: the
//! keys are found by indentation, as `dispatch` does for `dispatch_id`).

/// Names of the inputs declared `type: boolean` under `on.workflow_dispatch.inputs`.
pub(crate) fn boolean_inputs(yaml: &str) -> Vec<String> {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut out = Vec::new();
    let mut in_dispatch: Option<usize> = None;
    // (indent of `inputs:`, indent of its direct children once seen)
    let mut in_inputs: Option<(usize, Option<usize>)> = None;
    let mut current: Option<String> = None;
    for line in yaml.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')) {
        let ind = indent(line);
        let (key, value) = line.trim().split_once(':').unwrap_or((line.trim(), ""));
        let (key, value) = (key.trim(), value.split('#').next().unwrap_or_default().trim());
        if in_inputs.is_some_and(|(i, _)| ind <= i) {
            in_inputs = None;
            current = None;
        }
        if in_dispatch.is_some_and(|i| ind <= i) {
            in_dispatch = None;
        }
        if let Some((_, child)) = &mut in_inputs {
            let child = *child.get_or_insert(ind);
            if ind == child {
                current = Some(key.to_owned());
            } else if key == "type"
                && value.trim_matches(['"', '\'']) == "boolean"
                && let Some(name) = &current
                && !out.contains(name)
            {
                out.push(name.clone());
            }
        } else if in_dispatch.is_some() && line.trim() == "inputs:" {
            in_inputs = Some((ind, None));
        } else if line.trim().starts_with("workflow_dispatch:") {
            in_dispatch = Some(ind);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::boolean_inputs;

    #[test]
    fn finds_boolean_inputs_only_under_workflow_dispatch() {
        let wf = "on:\n  push:\n    inputs:\n      x:\n        type: boolean\n  workflow_dispatch:\n    inputs:\n      dry_run:\n        type: boolean # a checkbox\n        default: false\n      tag:\n        type: string\n      force:\n        description: go\n        type: \"boolean\"\njobs:\n  a:\n    steps: []\n";
        assert_eq!(boolean_inputs(wf), ["dry_run", "force"]);
        assert!(boolean_inputs("on: workflow_dispatch\n").is_empty());
    }
}
