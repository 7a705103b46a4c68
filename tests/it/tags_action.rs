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
