//! action.yml, the CLI and the README agree: every CLI argument is an action input, every
//! input and output is documented in the README.

use clap::CommandFactory;
use deploy_action::cli::{Cli, input_name};
use std::collections::BTreeSet;

/// Keys directly under a top-level section of action.yml (two-space indentation).
fn section_keys(yaml: &str, section: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut inside = false;
    for line in yaml.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            inside = line.trim_end() == format!("{section}:");
            continue;
        }
        if inside
            && line.starts_with("  ")
            && !line.starts_with("   ")
            && let Some(key) = line.trim().strip_suffix(':')
        {
            keys.insert(key.to_owned());
        }
    }
    keys
}

fn action_yml() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml")).unwrap()
}

#[test]
fn every_cli_argument_is_an_action_input() {
    let inputs = section_keys(&action_yml(), "inputs");
    let mut missing = Vec::new();
    let mut subs: Vec<clap::Command> = Cli::command().get_subcommands().cloned().collect();
    let mut all = Vec::new();
    while let Some(sub) = subs.pop() {
        subs.extend(sub.get_subcommands().cloned());
        all.push(sub);
    }
    for sub in &all {
        for name in sub.get_arguments().filter_map(input_name) {
            if !inputs.contains(&name) {
                missing.push(format!("{} --{name}", sub.get_name()));
            }
        }
    }
    assert!(missing.is_empty(), "CLI arguments missing from action.yml inputs: {missing:?}");
}

#[test]
fn readme_documents_every_input_and_output() {
    let yml = action_yml();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut missing = Vec::new();
    for (section, keys) in
        [("inputs", section_keys(&yml, "inputs")), ("outputs", section_keys(&yml, "outputs"))]
    {
        assert!(!keys.is_empty(), "no {section} parsed from action.yml");
        for k in keys {
            if !readme.contains(&format!("| `{k}` |")) {
                missing.push(format!("{section}.{k}"));
            }
        }
    }
    assert!(missing.is_empty(), "README tables lack: {missing:?}");
}
