//! Environments (GitHub): required reviewers, wait timer, which refs may deploy.

/// Whether a reviewer is a user or a team.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewerKind {
    /// A user (`GET /users/{login}`).
    User,
    /// An organisation team (`GET /orgs/{org}/teams/{slug}`).
    Team,
}

impl ReviewerKind {
    /// GitHub's spelling (`User`, `Team`).
    pub fn github(self) -> &'static str {
        match self {
            ReviewerKind::User => "User",
            ReviewerKind::Team => "Team",
        }
    }
}

/// A required reviewer of an environment (GitHub).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Reviewer {
    /// User or team.
    pub kind: ReviewerKind,
    /// GitHub's numeric id (what a PUT sends).
    pub id: u64,
    /// Login, or the slug of a team (empty when the forge did not say).
    pub name: String,
}

/// A reviewer as a user names it: `login` or `team:org/slug`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewerName {
    /// A user login.
    User(String),
    /// A team of an organisation.
    Team {
        /// Organisation login.
        org: String,
        /// Team slug.
        slug: String,
    },
}

impl ReviewerName {
    /// Parses `login` or `team:org/slug`; `None` when empty or malformed.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let name_ok = |p: &str| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        };
        match s.strip_prefix("team:") {
            Some(t) => {
                let (org, slug) = t.split_once('/')?;
                (name_ok(org) && name_ok(slug))
                    .then(|| ReviewerName::Team { org: org.to_owned(), slug: slug.to_owned() })
            }
            None => name_ok(s).then(|| ReviewerName::User(s.to_owned())),
        }
    }
}

impl std::fmt::Display for ReviewerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReviewerName::User(l) => f.write_str(l),
            ReviewerName::Team { org, slug } => write!(f, "team:{org}/{slug}"),
        }
    }
}

/// Which refs may deploy to an environment (`deployment_branch_policy`); `None` on an
/// [`Environment`] means every branch and tag may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BranchPolicySettings {
    /// Only protected branches may deploy.
    pub protected_branches: bool,
    /// Only refs matching the environment's branch/tag policies may deploy.
    pub custom_branch_policies: bool,
}

/// Whether a deployment branch policy matches branches or tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchPolicyKind {
    /// Branch name pattern.
    Branch,
    /// Tag name pattern (`v*`).
    Tag,
}

impl BranchPolicyKind {
    /// GitHub's spelling (`branch`, `tag`).
    pub fn github(self) -> &'static str {
        match self {
            BranchPolicyKind::Branch => "branch",
            BranchPolicyKind::Tag => "tag",
        }
    }
}

/// One allowed branch or tag pattern of an environment (GitHub).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BranchPolicy {
    /// Name pattern (`main`, `release/*`, `v*`).
    pub name: String,
    /// Branch or tag.
    pub kind: BranchPolicyKind,
}

/// An environment's protection as GitHub reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Environment {
    /// Name.
    pub name: String,
    /// Web URL of its settings.
    pub html_url: String,
    /// Required reviewers (empty: none).
    pub reviewers: Vec<Reviewer>,
    /// Whoever started a deployment may not approve it.
    pub prevent_self_review: bool,
    /// Minutes to wait before a deployment may proceed (0: none).
    pub wait_timer: u32,
    /// Which refs may deploy; `None`: all.
    pub branch_policy: Option<BranchPolicySettings>,
}

impl Environment {
    /// True when a deployment cannot proceed unattended: required reviewers or a wait timer.
    pub fn is_protected(&self) -> bool {
        !self.reviewers.is_empty() || self.wait_timer > 0
    }
}

/// The protection to apply to an environment (GitHub `PUT …/environments/{name}`; every
/// field is sent, so the result is the same whatever was there before).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvironmentConfig {
    /// Minutes to wait (0..=43200).
    pub wait_timer: u32,
    /// Whoever started a deployment may not approve it.
    pub prevent_self_review: bool,
    /// Required reviewers by id (at most 6); the `name` is not sent.
    pub reviewers: Vec<Reviewer>,
    /// Which refs may deploy; `None`: all.
    pub branch_policy: Option<BranchPolicySettings>,
}

/// At most this many required reviewers per environment (GitHub).
pub const MAX_REVIEWERS: usize = 6;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviewer_names() {
        assert_eq!(ReviewerName::parse(" alice "), Some(ReviewerName::User("alice".into())));
        assert_eq!(
            ReviewerName::parse("team:org/release-managers"),
            Some(ReviewerName::Team { org: "org".into(), slug: "release-managers".into() })
        );
        for bad in ["", "team:", "team:org", "team:/x", "a b", "org/slug", "al$ce", "team:o/s/x"] {
            assert_eq!(ReviewerName::parse(bad), None, "{bad:?}");
        }
        assert_eq!(ReviewerName::parse("team:o/s").unwrap().to_string(), "team:o/s");
    }

    #[test]
    fn protected_means_reviewers_or_a_wait() {
        let open = Environment {
            name: "production".into(),
            html_url: String::new(),
            reviewers: vec![],
            prevent_self_review: true,
            wait_timer: 0,
            branch_policy: Some(BranchPolicySettings {
                protected_branches: true,
                custom_branch_policies: false,
            }),
        };
        assert!(!open.is_protected(), "branch rules alone do not stop a deployment");
        assert!(Environment { wait_timer: 1, ..open.clone() }.is_protected());
        let r = Reviewer { kind: ReviewerKind::Team, id: 1, name: "ops".into() };
        assert!(Environment { reviewers: vec![r], ..open }.is_protected());
    }
}
