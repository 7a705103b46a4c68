//! The fake forge's state: repositories with a commit history per branch, workflows, runs,
//! tokens with scopes, and queued faults. Shared by both flavours.

use std::collections::{BTreeMap, HashMap};

/// A commit: a full snapshot of the files, the paths it changed and its message.
#[derive(Clone, Debug)]
pub struct Commit {
    pub sha: String,
    pub parent: Option<String>,
    pub message: String,
    pub files: BTreeMap<String, Vec<u8>>,
    pub changed: Vec<String>,
    pub date: String,
    pub author: String,
}

/// A workflow file and what its runs do.
#[derive(Clone, Debug)]
pub struct Workflow {
    /// Directory (`.github/workflows`, `.forgejo/workflows`, …).
    pub dir: String,
    pub file: String,
    pub id: u64,
    /// Its `name:`; Forgejo titles runs with it (the path when there is none).
    pub name: Option<String>,
    pub inputs: Vec<String>,
    pub required: Vec<String>,
    /// Inputs of `type: boolean`.
    pub booleans: Vec<String>,
    /// Final conclusion: success, failure, cancelled.
    pub conclusion: String,
}

/// A workflow run; `step` 0 queued, 1 in progress, 2 completed. Each GET advances it.
#[derive(Clone, Debug)]
pub struct RunRec {
    pub id: u64,
    pub number: u64,
    pub workflow: String,
    pub workflow_id: u64,
    pub workflow_path: String,
    pub head_sha: String,
    pub git_ref: String,
    pub event: String,
    pub step: u8,
    pub conclusion: String,
    pub actor: String,
    /// The inputs as the workflow reads them.
    pub inputs: BTreeMap<String, String>,
    /// Forgejo's title for it (the workflow's `name:`).
    pub title: String,
}

#[derive(Clone, Debug, Default)]
pub struct Repo {
    pub default_branch: String,
    /// branch -> commit shas, oldest first.
    pub branches: BTreeMap<String, Vec<String>>,
    pub commits: HashMap<String, Commit>,
    pub workflows: Vec<Workflow>,
    pub runs: Vec<RunRec>,
    /// Commit statuses: (sha, state, context, description).
    pub statuses: Vec<(String, String, String, String)>,
    /// Deployments (GitHub), oldest first.
    pub deployments: Vec<DeployRec>,
    /// Issues: title, body, labels sent, comments (login, body).
    pub issues: Vec<IssueRec>,
    /// Environments (GitHub) by name.
    pub environments: BTreeMap<String, EnvRec>,
    /// Rulesets (GitHub): (branch, violated rule) refusing contents writes.
    pub rules: Vec<(String, String)>,
}

/// A deployment (GitHub) and the statuses reported on it, oldest first.
#[derive(Clone, Debug, Default)]
pub struct DeployRec {
    pub id: u64,
    pub sha: String,
    pub git_ref: String,
    pub environment: String,
    pub payload: serde_json::Value,
    pub description: String,
    pub creator: String,
    pub created_at: String,
    pub statuses: Vec<StatusRec>,
    /// `production_environment` (GitHub: true by default for an environment named production).
    pub production: bool,
}

/// A deployment status.
#[derive(Clone, Debug, Default)]
pub struct StatusRec {
    pub state: String,
    pub description: String,
    pub environment_url: Option<String>,
    pub log_url: Option<String>,
}

/// An environment (GitHub): protection rules and branch/tag policies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvRec {
    pub id: u64,
    pub wait_timer: u64,
    pub prevent_self_review: bool,
    /// (`User`|`Team`, id).
    pub reviewers: Vec<(String, u64)>,
    /// (protected_branches, custom_branch_policies); `None`: every ref may deploy.
    pub branch_policy: Option<(bool, bool)>,
    /// Branch/tag policies: (id, name, `branch`|`tag`).
    pub policies: Vec<(u64, String, String)>,
    /// How many PUTs it has seen.
    pub puts: u32,
}

/// An issue in the fake.
#[derive(Clone, Debug, Default)]
pub struct IssueRec {
    /// `open` or `closed`.
    pub state: String,
    /// Login of whoever opened it.
    pub author: String,
    pub title: String,
    pub body: String,
    pub labels: Option<serde_json::Value>,
    pub comments: Vec<(String, String)>,
}

impl Repo {
    pub fn head(&self, branch: &str) -> Option<&Commit> {
        self.branches.get(branch)?.last().and_then(|s| self.commits.get(s))
    }

    /// A branch name, `refs/heads/x`, a tag-less full or short commit sha.
    pub fn resolve(&self, r: &str) -> Option<&Commit> {
        let r = r.strip_prefix("refs/heads/").unwrap_or(r);
        if let Some(c) = self.head(r) {
            return Some(c);
        }
        if r.len() >= 7 {
            return self.commits.values().find(|c| c.sha.starts_with(r));
        }
        None
    }

    /// Commits a change of `path` on `branch`; returns the commit sha.
    pub fn commit(
        &mut self,
        branch: &str,
        path: &str,
        content: Vec<u8>,
        message: &str,
        author: &str,
    ) -> String {
        let parent = self.head(branch).map(|c| c.sha.clone());
        let mut files = self.head(branch).map(|c| c.files.clone()).unwrap_or_default();
        files.insert(path.to_owned(), content);
        let n = self.commits.len();
        let sha =
            hex_sha1(format!("commit {n}\0{parent:?}{path}{message}{}", self.branches.len()).as_bytes());
        let date = format!("2026-01-01T00:{:02}:{:02}Z", (n / 60) % 60, n % 60);
        let c = Commit {
            sha: sha.clone(),
            parent,
            message: message.to_owned(),
            files,
            changed: vec![path.to_owned()],
            date,
            author: author.to_owned(),
        };
        self.commits.insert(sha.clone(), c);
        self.branches.entry(branch.to_owned()).or_default().push(sha.clone());
        sha
    }

    /// Commits touching `path` on `branch`, newest first.
    pub fn history(&self, branch: &str, path: &str) -> Vec<&Commit> {
        let Some(list) = self.branches.get(branch) else { return Vec::new() };
        list.iter()
            .rev()
            .filter_map(|s| self.commits.get(s))
            .filter(|c| c.changed.iter().any(|p| p == path))
            .collect()
    }

    /// Forgejo's rule: workflows come from the first existing directory only.
    pub fn forgejo_workflow(&self, file: &str) -> Option<&Workflow> {
        let dir = [".forgejo/workflows", ".gitea/workflows", ".github/workflows"]
            .into_iter()
            .find(|d| self.workflows.iter().any(|w| w.dir == *d))?;
        self.workflows.iter().find(|w| w.dir == dir && w.file == file)
    }

    /// GitHub: `.github/workflows` only, by file name or numeric id.
    pub fn github_workflow(&self, id: &str) -> Option<&Workflow> {
        self.workflows
            .iter()
            .filter(|w| w.dir == ".github/workflows")
            .find(|w| w.file == id || w.id.to_string() == id)
    }
}

/// A token: its scopes and the repositories it can see (`None`: all).
#[derive(Clone, Debug)]
pub struct Token {
    pub login: String,
    pub scopes: Vec<String>,
    pub repos: Option<Vec<String>>,
}

impl Token {
    /// `x:write` implies `x:read`; Forgejo's `write:repository` grants contents, actions and
    /// deployments, `write:issue` grants issues.
    pub fn has(&self, needed: &str) -> bool {
        let (area, level) = needed.split_once(':').unwrap_or((needed, ""));
        self.scopes.iter().any(|s| {
            let grants: Vec<String> = match s.as_str() {
                "write:repository" => {
                    vec!["contents:write".into(), "actions:write".into(), "deployments:write".into()]
                }
                "read:repository" => {
                    vec!["contents:read".into(), "actions:read".into(), "deployments:read".into()]
                }
                "write:issue" => vec!["issues:write".into()],
                "read:issue" => vec!["issues:read".into()],
                other => vec![other.to_owned()],
            };
            grants.iter().any(|g| g == needed || (level == "read" && *g == format!("{area}:write")))
        })
    }
    pub fn sees(&self, repo: &str) -> bool {
        self.repos.as_ref().is_none_or(|r| r.iter().any(|x| x == repo))
    }
}

/// What a fault does to a matching request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer this status with the flavour's error body (Forgejo blanks 500 messages).
    Status(u16),
    /// A rate limit: this status with `Retry-After: secs`.
    RateLimit { status: u16, retry_after: u64 },
    /// Close the connection without answering, before handling.
    Drop,
    /// GitHub's secondary rate limit: this status (403 or 429), no `retry-after`, no
    /// `x-ratelimit-remaining: 0`, the message naming the limit.
    SecondaryRateLimit(u16),
    /// Handle the request (a write is applied), then close without answering.
    DropAfterHandling,
    /// Handle the request now, answer after this many milliseconds (a slow read: two
    /// clients reading within the delay both see the same state, so their writes conflict).
    DelayAfterHandling(u64),
}

/// A fault for the next `times` requests whose method and path match.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Option<String>,
    pub path_contains: String,
    pub times: u32,
    /// Matching requests let through before the fault applies.
    pub skip: u32,
    pub kind: FaultKind,
}

/// A request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
pub struct State {
    /// The release answered as.
    pub version: super::ForgeVersion,
    pub repos: BTreeMap<String, Repo>,
    pub tokens: HashMap<String, Token>,
    pub faults: Vec<Fault>,
    pub requests: Vec<Recorded>,
    pub next_run_id: u64,
    /// Whether dispatch honours the run-details flag (GitHub `return_run_details`,
    /// Forgejo `return_run_info`); off models GHES 3.17–3.19 / Forgejo before v11.
    pub run_details: bool,
    /// GHES 3.17–3.19: the dispatch body may not carry `return_run_details` (422).
    pub ghes_legacy: bool,
    /// GitHub users by login: id.
    pub users: BTreeMap<String, u64>,
    /// Teams by `org/slug` (GitHub) or `org/name` (Forgejo): id.
    pub teams: BTreeMap<String, u64>,
    /// Team members by `org/slug`: (login, `active` or `pending`).
    pub team_members: BTreeMap<String, Vec<(String, String)>>,
    /// A rejected token's 401 quotes the request's `Authorization` header.
    pub echo_credentials: bool,
    /// GitHub Apps and their installations.
    pub apps: super::apps::Apps,
}

/// Git's blob id: sha1 of `blob <len>\0<content>`.
pub fn blob_sha(content: &[u8]) -> String {
    let mut data = format!("blob {}\0", content.len()).into_bytes();
    data.extend_from_slice(content);
    hex_sha1(&data)
}

/// SHA-1 (FIPS 180-4), hex; only for ids in this fake.
pub fn hex_sha1(data: &[u8]) -> String {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in chunk.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}
