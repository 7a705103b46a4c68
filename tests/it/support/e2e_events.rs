//! The events that start an orchestration repository's workflows besides a service's
//! dispatch: the "Run workflow" button (`workflow_dispatch` with inputs, sent through the
//! forge's dispatch API by the binary's `dispatch`, so the fake records it like any dispatch)
//! and a comment on an issue (`issue_comment`, the event approve.yml runs on).

use super::ActionRun;
use super::act::ActRun;
use super::e2e::{DISPATCH_TOKEN, Orchestration, Stack, Timed};
use super::fake_forge::Flavor;
use std::time::Duration;

impl Orchestration {
    /// Dispatches this workflow on `main` with `inputs` (`name=value` lines) as someone with
    /// Actions write does from the forge's UI or CLI; the run is then [`Orchestration::pending`].
    pub fn dispatch(&self, stack: &Stack, inputs: &str) {
        let forge = match stack.forge.flavor {
            Flavor::Github => "github",
            Flavor::Forgejo => "forgejo",
        };
        let mut args = vec!["dispatch", "--repository", &self.name, "--workflow", &self.workflow];
        args.extend(["--ref", "main", "--token", DISPATCH_TOKEN, "--forge", forge]);
        let api = stack.forge.api_url();
        args.extend(["--api-url", &api]);
        if !inputs.is_empty() {
            args.extend(["--inputs", inputs]);
        }
        let out = ActionRun::cli(args).run();
        assert_eq!(out.code, 0, "dispatch {}: {}", self.workflow, out.log());
    }

    /// `login` comments `body` on the repository's latest issue (in the fake forge), and this
    /// workflow runs under act for the `issue_comment` event the forge sends for it: GitHub's
    /// and Forgejo's payload fields the workflows and the action read (`action`, `issue`,
    /// `comment`, `repository`, `sender`; no `issue.pull_request`: an issue, not a PR).
    pub fn comment(&self, stack: &Stack, login: &str, body: &str, timeout: Duration) -> Timed {
        let issues = stack.forge.issues(&self.name);
        let number = issues.len();
        let issue = issues.last().expect("an issue to comment on");
        stack.forge.comment(&self.name, number, login, body);
        let id = stack.forge.issues(&self.name)[number - 1].comments.len();
        let mut run = ActRun::new("issue_comment", timeout).secret("GITHUB_TOKEN", &self.job_token);
        run.workflow = Some(self.path.clone());
        run.vars.extend(self.vars.iter().cloned());
        run.secrets.extend(self.secrets.iter().cloned());
        run.actor = Some(login.into());
        run.payload = Some(serde_json::json!({
            "action": "created",
            "issue": {
                "number": number,
                "title": issue.title,
                "body": issue.body,
                "state": issue.state,
                "user": { "login": issue.author },
                "html_url": format!("{}/{}/issues/{number}", stack.forge.web_url(), self.name),
            },
            "comment": { "id": id, "body": body, "user": { "login": login } },
            "repository": { "full_name": self.name, "default_branch": "main" },
            "sender": { "login": login },
        }));
        stack.try_act(&self.repo, run)
    }
}
