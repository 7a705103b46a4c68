//! `command: tags` run as a runner runs it.

use crate::support::ActionRun;

#[test]
fn secret_inputs_are_masked_first() {
    let out = ActionRun::action()
        .input("command", "tags")
        .input("token", "ghp_abcdefghijklmnop1234")
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_SHA", "860c1904a1ce19322e91ac35af1ab07466440c37")
        .env("GITHUB_EVENT_NAME", "push")
        .run();
    assert_eq!(out.code, 0, "{}", out.log());
    assert!(out.stdout.starts_with("::add-mask::ghp_abcdefghijklmnop1234\n"), "{}", out.stdout);
    assert_eq!(out.stdout.matches("ghp_abcdefghijklmnop1234").count(), 1, "{}", out.stdout);
}

#[test]
fn unknown_command_fails_cleanly() {
    let out = ActionRun::action().input("command", "launch").run();
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("::error title=Invalid input::invalid input `command`: \"launch\""),
        "{}",
        out.stdout
    );
    assert!(out.output_file.is_empty());
}

fn push_main() -> ActionRun {
    ActionRun::action()
        .input("command", "tags")
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_SHA", "860c1904a1ce19322e91ac35af1ab07466440c37")
        .event("push", &serde_json::json!({"repository": {"default_branch": "main"}}))
}

#[test]
fn invalid_input_fails_with_one_error_naming_input_value_and_rule_and_no_outputs() {
    let out = push_main().input("images", "ghcr.io/org//api!").input("tags", "type=sha").run();
    assert_eq!(out.code, 2, "{}", out.log());
    let errors: Vec<_> = out.stdout.lines().filter(|l| l.starts_with("::error")).collect();
    assert_eq!(errors.len(), 1, "{}", out.stdout);
    assert!(errors[0].starts_with("::error title=Invalid input::invalid input `images`"), "{}", errors[0]);
    assert!(errors[0].contains("ghcr.io/org//api!"), "{}", errors[0]);
    assert!(out.output_file.is_empty(), "outputs written on failure: {}", out.output_file);
    assert!(out.summary.is_empty());

    let out = push_main().input("tags", "type=nightly").run();
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("invalid input `tags`: \\\"type=nightly\\\"")
            || out.stdout.contains("type=nightly"),
        "{}",
        out.stdout
    );
    assert!(out.output_file.is_empty());
}

#[test]
fn multi_line_outputs_survive_a_value_that_contains_a_delimiter() {
    let out = push_main()
        .input("images", "ghcr.io/org/api")
        .input(
            "labels",
            "org.example.note=ghadelimiter_00000000000000000000000000000000\norg.example.other=x",
        )
        .run();
    assert_eq!(out.code, 0, "{}", out.log());
    let labels = out.output("labels");
    assert!(
        labels.lines().any(|l| l == "org.example.note=ghadelimiter_00000000000000000000000000000000"),
        "{labels}"
    );
    assert!(labels.lines().any(|l| l == "org.example.other=x"), "{labels}");
    assert_eq!(out.output("tags"), "ghcr.io/org/api:main");
}

#[test]
fn user_text_cannot_inject_workflow_commands() {
    // A label value and an unknown template expression both reach the log; neither may start a command.
    let out = push_main()
        .input("images", "ghcr.io/org/api")
        .input("labels", "::add-mask::x=1\norg.example.y=::error::pwned")
        .input("tags", "type=raw,value=v{{ nope }}")
        .run();
    assert_eq!(out.code, 0, "{}", out.log());
    for line in out.stdout.lines() {
        let cmd = line.strip_prefix("::").map(|r| r.split("::").next().unwrap_or(""));
        if let Some(cmd) = cmd {
            let name = cmd.split(' ').next().unwrap();
            assert!(
                ["add-mask", "group", "endgroup", "warning", "error"].contains(&name),
                "unexpected command: {line}"
            );
            assert!(!line.contains("pwned") || !line.starts_with("::error"), "injected: {line}");
            assert!(!line.starts_with("::add-mask::x"), "injected mask: {line}");
        }
    }
    assert!(out.stdout.lines().any(|l| l.starts_with("::warning::") && l.contains("nope")), "{}", out.stdout);
}

/// An input the command does not read is named in a warning (the root action passes every
/// input it declares, so a step meant for `release` that says `command: tags` would otherwise
/// ignore `ssh-host` without a word); inputs at their action.yml default are not.
#[test]
fn an_input_the_command_does_not_read_is_named_in_a_warning() {
    let out = ActionRun::action()
        .input("command", "tags")
        .input("images", "ghcr.io/org/api")
        .input("ssh-host", "vm.example.org")
        .input("sep-tags", "\n")
        .input("health-timeout", "120")
        .run();
    assert_eq!(out.code, 0, "{}", out.log());
    let warnings: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("::warning::")).collect();
    assert_eq!(
        warnings,
        ["::warning::input `ssh-host` is not read by command `tags`: it is ignored"],
        "{}",
        out.stdout
    );
}

/// As metadata-action, the outputs are also set for the next steps as
/// `DOCKER_METADATA_OUTPUT_*` (through `$GITHUB_ENV`), with `tag-names` the tags without image
/// names; `DOCKER_METADATA_SET_OUTPUT_ENV: false` sets none.
#[test]
fn outputs_are_exported_as_metadata_action_environment_variables() {
    let run = |set_env: Option<&str>| {
        let mut a = ActionRun::action()
            .env("GITHUB_REF", "refs/tags/v1.2.3")
            .env("GITHUB_EVENT_NAME", "push")
            .input("command", "tags")
            .input("images", "ghcr.io/org/api\n127.0.0.1:5000/org/api")
            .input("tags", "type=semver,pattern={{version}}\ntype=semver,pattern={{major}}");
        if let Some(v) = set_env {
            a = a.env("DOCKER_METADATA_SET_OUTPUT_ENV", v);
        }
        a.run()
    };
    let out = run(None);
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(out.output("tag-names"), "1.2.3\n1\nlatest", "{:?}", out.outputs);
    let e = &out.exports;
    assert_eq!(e.get("DOCKER_METADATA_OUTPUT_TAGS").map(String::as_str), Some(out.output("tags")));
    assert_eq!(e.get("DOCKER_METADATA_OUTPUT_TAG_NAMES").map(String::as_str), Some("1.2.3\n1\nlatest"));
    assert_eq!(e.get("DOCKER_METADATA_OUTPUT_VERSION").map(String::as_str), Some("1.2.3"));
    for name in ["LABELS", "ANNOTATIONS", "JSON"] {
        assert!(e.contains_key(&format!("DOCKER_METADATA_OUTPUT_{name}")), "{name}: {e:?}");
    }
    assert!(!e.keys().any(|k| k.contains("ENVIRONMENT")), "only metadata-action's outputs: {e:?}");
    assert!(run(Some("false")).exports.is_empty());
}
