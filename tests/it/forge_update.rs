//! `update_env_file` against the fake: concurrent writers lose nothing, faults end in done
//! or a clean failure, bad values never reach the forge.

use crate::forge_ops::{FILE, OPS, fast, setup};
use crate::support::fake_forge::Flavor;
use crate::support::fake_forge::state::FaultKind;
use deploy_action::envfile::EnvFile;
use deploy_action::forge::*;
use futures::future::join_all;

fn edits(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn msg(changes: &[deploy_action::envfile::Change]) -> String {
    format!(
        "deploy: {}",
        changes.iter().map(|c| format!("{}={}", c.key, c.new)).collect::<Vec<_>>().join(", ")
    )
}

#[tokio::test]
async fn updates_keep_bytes_and_report_previous_values() {
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, forge, repo) = setup(flavor).await;
        fake.put_file(OPS, FILE, "# pinned\r\nAPI_IMAGE_TAG='1.2.3' # api\r\n");
        let e = edits(&[("API_IMAGE_TAG", "1.2.4"), ("LAST_DEPLOY_BY", "alice")]);
        let up = update_env_file(&forge, &repo, "main", FILE, &e, msg, &fast()).await.unwrap();
        assert_eq!(
            fake.file(OPS, FILE).unwrap(),
            "# pinned\r\nAPI_IMAGE_TAG='1.2.4' # api\r\nLAST_DEPLOY_BY=alice\r\n"
        );
        assert_eq!(up.changes[0].old.as_deref(), Some("1.2.3"));
        assert_eq!(up.attempts, 1);
        assert_eq!(fake.history(OPS, FILE)[0], "deploy: API_IMAGE_TAG=1.2.4, LAST_DEPLOY_BY=alice");
        // Same values again: no commit.
        let again = update_env_file(&forge, &repo, "main", FILE, &e, msg, &fast()).await.unwrap();
        assert!(again.commit.is_none() && again.changes.is_empty());
    }
}

#[tokio::test]
async fn missing_file_is_created() {
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, forge, repo) = setup(flavor).await;
        let up =
            update_env_file(&forge, &repo, "main", FILE, &edits(&[("API_IMAGE_TAG", "1.0.0")]), msg, &fast())
                .await
                .unwrap();
        assert!(up.commit.is_some());
        assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=1.0.0\n", "{flavor:?}");
    }
}

#[tokio::test]
async fn invalid_values_never_reach_the_forge() {
    let (fake, forge, repo) = setup(Flavor::Github).await;
    let err =
        update_env_file(&forge, &repo, "main", FILE, &edits(&[("API_IMAGE_TAG", "1.0/$(id)")]), msg, &fast())
            .await
            .unwrap_err();
    assert!(matches!(err, UpdateError::Input(_)), "{err}");
    assert!(fake.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_writers_twenty_keys_nothing_lost() {
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, forge, repo) = setup(flavor).await;
        fake.put_file(OPS, FILE, "# versions\n");
        let before = fake.history(OPS, FILE).len();
        let jobs = (0..20).map(|i| {
            let (forge, repo) = (forge.clone(), repo.clone());
            async move {
                let e = vec![(format!("SVC{i}_IMAGE_TAG"), format!("1.0.{i}"))];
                update_env_file(&forge, &repo, "main", FILE, &e, msg, &fast()).await
            }
        });
        let results = join_all(jobs).await;
        let attempts: u32 = results.iter().map(|r| r.as_ref().unwrap().attempts).sum();
        let file = EnvFile::parse(&fake.file(OPS, FILE).unwrap());
        for i in 0..20 {
            let key = format!("SVC{i}_IMAGE_TAG");
            assert_eq!(file.get(&key), Some(format!("1.0.{i}").as_str()), "{flavor:?}: {key} lost");
        }
        assert_eq!(fake.history(OPS, FILE).len() - before, 20, "{flavor:?}: one commit per writer");
        assert!(file.render().starts_with("# versions\n"));
        eprintln!("{flavor:?}: 20 writers, 20 commits, {attempts} write attempts in all");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_writers_one_key_one_value_wins() {
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, forge, repo) = setup(flavor).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=0.0.1\n");
        let jobs = (0..10).map(|i| {
            let (forge, repo) = (forge.clone(), repo.clone());
            async move {
                let e = vec![("API_IMAGE_TAG".to_owned(), format!("2.0.{i}"))];
                update_env_file(&forge, &repo, "main", FILE, &e, msg, &fast()).await
            }
        });
        let results = join_all(jobs).await;
        assert!(results.iter().all(Result::is_ok), "{flavor:?}: {results:?}");
        let text = fake.file(OPS, FILE).unwrap();
        let file = EnvFile::parse(&text);
        assert_eq!(file.entries().count(), 1, "{flavor:?}: {text:?}");
        let value = file.get("API_IMAGE_TAG").unwrap();
        assert!((0..10).any(|i| value == format!("2.0.{i}")), "{value}");
        assert_eq!(text, format!("API_IMAGE_TAG={value}\n"));
    }
}

#[tokio::test]
async fn faults_during_update_end_done_or_cleanly_failed() {
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, forge, repo) = setup(flavor).await;
        fake.put_file(OPS, FILE, "API_IMAGE_TAG=1.0.0\n");
        let e = edits(&[("API_IMAGE_TAG", "1.0.1")]);
        // Racy 500 on the write (Forgejo's internal push), a 502, a drop before handling.
        fake.inject(Some("PUT"), "/contents/", 1, FaultKind::Status(500));
        fake.inject(Some("PUT"), "/contents/", 1, FaultKind::Status(502));
        fake.inject(Some("PUT"), "/contents/", 1, FaultKind::Drop);
        let up = update_env_file(&forge, &repo, "main", FILE, &e, msg, &fast()).await.unwrap();
        assert_eq!(up.attempts, 4, "{flavor:?}");
        assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=1.0.1\n");

        // The write lands but its answer is lost: the re-read finds the value, no second
        // commit, and the update reports the commit it made (found by its message).
        let commits = fake.history(OPS, FILE).len();
        fake.inject(Some("PUT"), "/contents/", 1, FaultKind::DropAfterHandling);
        let up =
            update_env_file(&forge, &repo, "main", FILE, &edits(&[("API_IMAGE_TAG", "1.0.2")]), msg, &fast())
                .await
                .unwrap();
        assert_eq!(fake.history(OPS, FILE).len(), commits + 1, "{flavor:?}");
        let made = up.commit.as_ref().unwrap_or_else(|| panic!("{flavor:?}: {up:?}"));
        assert_eq!(made.commit_sha.len(), 40, "{up:?}");
        assert_eq!(up.changes.len(), 1, "{up:?}");
        assert_eq!(up.changes[0].old.as_deref(), Some("1.0.1"), "{up:?}");

        // A failure that does not clear: bounded, with the last error, file untouched.
        fake.inject(Some("PUT"), "/contents/", 1000, FaultKind::Status(500));
        let policy = RetryPolicy { max_attempts: 4, ..fast() };
        let err =
            update_env_file(&forge, &repo, "main", FILE, &edits(&[("API_IMAGE_TAG", "9.9.9")]), msg, &policy)
                .await
                .unwrap_err();
        assert!(matches!(err, UpdateError::GaveUp { attempts: 4, .. }), "{err}");
        assert!(err.to_string().contains("HTTP 500"), "{err}");
        assert_eq!(fake.file(OPS, FILE).unwrap(), "API_IMAGE_TAG=1.0.2\n");
    }
}

#[tokio::test]
async fn permission_errors_are_not_retried() {
    let (fake, _, repo) = setup(Flavor::Forgejo).await;
    fake.add_token("tok_readonly_zzzzzzzz", &["read:repository"], &[]);
    let forge = crate::forge_ops::client(&fake, Some("tok_readonly_zzzzzzzz"));
    let err =
        update_env_file(&forge, &repo, "main", FILE, &edits(&[("A", "1")]), msg, &fast()).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("write:repository") && !text.contains("tok_readonly"), "{text}");
    assert_eq!(fake.requests().iter().filter(|r| r.method != "GET").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_a_missing_file_lose_nothing() {
    for flavor in [Flavor::Github, Flavor::Forgejo] {
        let (fake, forge, repo) = setup(flavor).await;
        let jobs = (0..8).map(|i| {
            let (forge, repo) = (forge.clone(), repo.clone());
            async move {
                let e = vec![(format!("SVC{i}_IMAGE_TAG"), format!("3.0.{i}"))];
                update_env_file(&forge, &repo, "main", FILE, &e, msg, &fast()).await
            }
        });
        for r in join_all(jobs).await {
            r.unwrap();
        }
        let file = EnvFile::parse(&fake.file(OPS, FILE).unwrap());
        assert_eq!(file.entries().count(), 8, "{flavor:?}: {}", file.render());
        assert_eq!(fake.history(OPS, FILE).len(), 8, "{flavor:?}");
    }
}
