//! The sub-actions (`uses: org/deploy-action/<command>@v1`): one `action.yml` per command,
//! generated from the clap definition of that command (its inputs, `required`, defaults and
//! help) and the outputs it writes, running the root action's image with `INPUT_COMMAND` set.
//! `make actions` writes them (`UPDATE_ACTIONS=1`); this test fails when one is stale. The
//! harness checks, on every run of the binary in runner form, that each output a command
//! writes is declared in its sub-action ([`declared_outputs`]).

use clap::CommandFactory;
use deploy_action::cli::{Cli, input_name};
use std::collections::BTreeMap;
use std::path::Path;

/// `(folder, command, outputs)`. `build` lives in `build-image/`: a root folder named
/// `build/` is hidden by common ignore templates.
pub const SUB_ACTIONS: &[(&str, &str, &[&str])] = &[
    ("tags", "tags", &["version", "tags", "tag-names", "labels", "annotations", "json", "environment"]),
    ("build-image", "build", &["digest", "layout", "image-id", "base-digest", "base-image", "images"]),
    ("push", "push", &["digest", "images", "media-type"]),
    ("copy", "copy", &["digest", "images", "media-type"]),
    ("inspect", "inspect", &["digest", "exists", "image", "tags"]),
    (
        "publish",
        "publish",
        &[
            "version",
            "tags",
            "environment",
            "digest",
            "images",
            "services",
            "run-id",
            "run-url",
            "run-list-url",
            "state",
        ],
    ),
    ("record", "record", &["commit-sha", "changed", "previous", "commit-message"]),
    ("dispatch", "dispatch", &["run-id", "run-url", "run-list-url", "state"]),
    ("release", "release", RELEASE_OUTPUTS),
    ("rollback", "rollback", RELEASE_OUTPUTS),
    ("promote", "promote", RELEASE_OUTPUTS),
    ("approve", "approve", RELEASE_OUTPUTS),
    ("deploy", "deploy", &[]),
    ("environment", "environment", &["changed", "rules"]),
    ("status", "status", &["status"]),
];

const RELEASE_OUTPUTS: &[&str] = &[
    "state",
    "commit-sha",
    "previous",
    "versions",
    "images",
    "deployment-id",
    "approval-issue",
    "approval-url",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The outputs `command`'s sub-action declares, read from its committed `action.yml`
/// (`None` for a command without a sub-action).
pub fn declared_outputs(command: &str) -> Option<Vec<String>> {
    let (folder, _, _) = SUB_ACTIONS.iter().find(|(_, c, _)| *c == command)?;
    let text = std::fs::read_to_string(root().join(folder).join("action.yml")).ok()?;
    let outputs = text.split("\noutputs:\n").nth(1)?.split("\nruns:\n").next()?;
    Some(
        outputs
            .lines()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
            .filter_map(|l| l.trim().strip_suffix(':').map(str::to_owned))
            .collect(),
    )
}

/// A YAML double-quoted scalar (a JSON string is one).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Descriptions of the root action's outputs.
fn root_outputs() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let section = text.split("\noutputs:\n").nth(1).unwrap().split("\nruns:\n").next().unwrap();
    let mut out = BTreeMap::new();
    let mut name: Option<String> = None;
    for line in section.lines() {
        if line.starts_with("  ") && !line.starts_with("   ") {
            name = line.trim().strip_suffix(':').map(str::to_owned);
        } else if let (Some(n), Some(d)) = (&name, line.trim().strip_prefix("description: ")) {
            let d = d.trim_matches('\'').replace("''", "'");
            out.insert(n.clone(), d);
        }
    }
    out
}

/// Defaults of the root action's inputs, as written there.
fn root_input_defaults() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let section = text.split("\ninputs:\n").nth(1).unwrap().split("\noutputs:\n").next().unwrap();
    let mut out = BTreeMap::new();
    let mut name: Option<String> = None;
    for line in section.lines() {
        if line.starts_with("  ") && !line.starts_with("   ") {
            name = line.trim().strip_suffix(':').map(str::to_owned);
        } else if let (Some(n), Some(d)) = (&name, line.trim().strip_prefix("default: ")) {
            out.insert(n.clone(), d.trim_matches(['\'', '"']).to_owned());
        }
    }
    out
}

/// The root action's `image:` line (the one the release rewrites).
fn root_image() -> String {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    text.lines().find(|l| l.starts_with("  image: ")).unwrap().trim().trim_start_matches("image: ").to_owned()
}

/// The generated `action.yml` of one sub-action.
fn render(command: &str, outputs: &[&str]) -> String {
    let mut cmd = Cli::command();
    cmd.build();
    let sub = cmd.find_subcommand(command).unwrap_or_else(|| panic!("no subcommand {command}"));
    let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
    let root_defaults = root_input_defaults();
    let mut y = String::new();
    y.push_str("# Generated by `make actions` from the CLI definition (src/); do not edit.\n");
    y.push_str(&format!("name: deploy-action {command}\n"));
    y.push_str(&format!("description: {}\n", quoted(&about)));
    y.push_str("author: deploy-action\nbranding:\n  icon: upload-cloud\n  color: blue\n\ninputs:\n");
    for arg in sub.get_arguments() {
        let Some(name) = input_name(arg) else { continue };
        let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        y.push_str(&format!("  {name}:\n    description: {}\n", quoted(&help)));
        y.push_str(&format!("    required: {}\n", arg.is_required_set()));
        let defaults: Vec<String> =
            arg.get_default_values().iter().map(|d| d.to_string_lossy().into_owned()).collect();
        // An expression default of the root action (`token: ${{ github.token }}`) is the
        // runner's to evaluate: the binary cannot (a container action gets no GITHUB_TOKEN).
        if let Some(expr) = root_defaults.get(&name).filter(|d| d.contains("${{")) {
            y.push_str(&format!("    default: {}\n", quoted(expr)));
        } else if !defaults.is_empty() {
            y.push_str(&format!("    default: {}\n", quoted(&defaults.join("\n"))));
        }
    }
    let described = root_outputs();
    if outputs.is_empty() {
        y.push_str("\noutputs: {}\n");
    } else {
        y.push_str("\noutputs:\n");
        for o in outputs {
            let d = described.get(*o).unwrap_or_else(|| panic!("{command}: output {o} is not in action.yml"));
            y.push_str(&format!("  {o}:\n    description: {}\n", quoted(d)));
        }
    }
    y.push_str(&format!(
        "\nruns:\n  using: docker\n  # The root action's image; the release rewrites this line as it does there.\n  image: {}\n  env:\n    INPUT_COMMAND: {command}\n",
        root_image()
    ));
    y
}

/// Every sub-action is what the CLI generates; `UPDATE_ACTIONS=1` (`make actions`) writes them.
#[test]
fn sub_actions_are_generated_from_the_cli() {
    let update = std::env::var("UPDATE_ACTIONS").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (folder, command, outputs) in SUB_ACTIONS {
        let path = root().join(folder).join("action.yml");
        let want = render(command, outputs);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &want).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(stale.is_empty(), "stale sub-actions (run `make actions`): {stale:?}");
    // Each folder holds its action.yml and nothing else.
    for (folder, _, _) in SUB_ACTIONS {
        let entries: Vec<String> = std::fs::read_dir(root().join(folder))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries, ["action.yml"], "{folder}/");
    }
}

/// A required input is marked so (`release` needs `environment`), and one with a CLI default
/// carries it; the command's own help describes it.
#[test]
fn sub_actions_mark_required_inputs_and_defaults() {
    let release = render("release", RELEASE_OUTPUTS);
    assert!(release.contains("  environment:\n    description: \"Environment to deploy to"), "{release}");
    assert!(
        release.contains("  environment:\n    description: ") && release.contains("    required: true\n")
    );
    let tags = render("tags", &[]);
    assert!(tags.contains("  sep-tags:\n"), "{tags}");
    assert!(!tags.contains("  ssh-host:"), "only the command's own inputs");
    assert!(render("dispatch", &[]).contains("    default: \"false\"\n"));
    assert!(
        render("record", &[]).contains("  token:\n")
            && render("record", &[]).contains("\"${{ github.token }}\"")
    );
}
