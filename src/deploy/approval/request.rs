//! The approval request an issue carries: what goes where, rendered for people and embedded
//! for `approve`, signed with `approval-key` (HMAC-SHA256) so that only a request this action
//! opened, unedited, can be approved.

use super::super::targets::ServiceChange;
use crate::secret::Secret;
use base64::Engine as _;
use hmac::{KeyInit, Mac};

/// Marker of the machine-readable release plan in an approval issue's body.
const PLAN_MARKER: &str = "<!-- deploy-action:plan ";
/// What the signature covers besides the encoded plan (a version, so the format can change).
const SIGNATURE_CONTEXT: &[u8] = b"deploy-action approval request v1\n";

/// The secret that signs approval requests (`approval-key`): the release signs, `approve`
/// verifies, and nobody without it can write a request `approve` accepts.
#[derive(Clone, Debug)]
pub struct ApprovalKey(Secret);

impl ApprovalKey {
    /// A key of at least 16 characters (`openssl rand -hex 32` makes a good one).
    pub fn new(value: Secret) -> Result<Self, String> {
        if value.expose().trim().len() < 16 {
            return Err("must be at least 16 characters (e.g. the output of `openssl rand -hex 32`)".into());
        }
        Ok(ApprovalKey(value))
    }

    fn sign(&self, encoded: &str) -> String {
        hex::encode(self.mac(encoded).finalize().into_bytes())
    }

    fn verifies(&self, encoded: &str, signature: &str) -> bool {
        let Ok(bytes) = hex::decode(signature) else { return false };
        self.mac(encoded).verify_slice(&bytes).is_ok()
    }

    fn mac(&self, encoded: &str) -> hmac::Hmac<sha2::Sha256> {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.0.expose().trim().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(SIGNATURE_CONTEXT);
        mac.update(encoded.as_bytes());
        mac
    }
}

/// What an approval issue asks for: enough to continue the release from it (`approve`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingRelease {
    /// Environment to deploy to.
    pub environment: String,
    /// The services and their old → new tags.
    pub changes: Vec<PlannedChange>,
    /// Who triggered the release.
    pub actor: String,
    /// The run that asked.
    pub run_url: String,
    /// The command that asked (`release`, `rollback`, `promote`).
    pub command: String,
    /// The repository (`owner/name`) the request belongs to.
    #[serde(default)]
    pub repository: String,
    /// Who may decide, as shown in the issue (logins and `org/team`).
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Distinct approvals the release asked for.
    #[serde(default = "one")]
    pub required_approvals: u32,
    /// Unix seconds after which the request can no longer be approved.
    #[serde(default)]
    pub expires_at: i64,
}

fn one() -> u32 {
    1
}

/// One service of a [`PendingRelease`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedChange {
    /// Service name.
    pub service: String,
    /// Tag before.
    pub old: Option<String>,
    /// Tag requested.
    pub new: String,
    /// Image repository, when known.
    pub image: Option<String>,
    /// Digest the requested tag had when the issue was opened.
    pub digest: Option<String>,
}

impl PlannedChange {
    /// From a service change and the digest its tag resolved to.
    pub fn new(c: &ServiceChange, digest: Option<String>) -> Self {
        PlannedChange {
            service: c.service.clone(),
            old: c.old.clone(),
            new: c.new.clone(),
            image: c.image.clone(),
            digest,
        }
    }
}

/// Why an issue's request is not accepted: said in a comment on the issue and in the log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Forged {
    /// Someone else opened the issue.
    #[error(
        "the issue was opened by @{author}, not by @{identity} (the identity this workflow's token acts as); only requests the action opened can be approved"
    )]
    Author {
        /// The issue's author (fresh API read).
        author: String,
        /// Who the action is.
        identity: String,
    },
    /// No signature in the body.
    #[error("the request is not signed; only requests opened with `approval-key` can be approved")]
    Unsigned,
    /// The plan or its signature was changed, or another key signed it.
    #[error(
        "the request's signature does not match (its plan was changed, or another approval-key signed it)"
    )]
    BadSignature,
    /// The signed plan is fine but the text around it was edited.
    #[error("the issue's text was edited after the action opened it")]
    Edited,
    /// The plan names another repository.
    #[error("the request is for {named}, not for this repository ({here})")]
    OtherRepository {
        /// Repository in the plan.
        named: String,
        /// This one.
        here: String,
    },
    /// A change without the digest it approves.
    #[error("{service} has no digest in the request; approvals are given to digests, not to tags")]
    NoDigest {
        /// The service.
        service: String,
    },
    /// Past `expires_at`.
    #[error("the request expired at {at} (approval-timeout); release again")]
    Expired {
        /// When, RFC 3339.
        at: String,
    },
}

/// What a verified request must match.
#[derive(Clone, Debug)]
pub struct Expected<'a> {
    /// This repository, `owner/name`.
    pub repository: &'a str,
    /// The issue's author, from a fresh API read (not from the event).
    pub author: &'a str,
    /// The login this workflow's token acts as.
    pub identity: &'a str,
    /// Now, unix seconds.
    pub now: i64,
}

impl PendingRelease {
    /// The issue's title.
    pub fn title(&self) -> String {
        let parts: Vec<String> = self.changes.iter().map(|c| format!("{} {}", c.service, c.new)).collect();
        format!("Approve {} to {}: {}", self.command, self.environment, parts.join(", "))
    }

    /// The issue's body: a table of what goes where, how to decide, and the plan itself,
    /// signed when a key is given.
    pub fn body(&self, key: Option<&ApprovalKey>) -> String {
        let mut b = format!(
            "**{}** asks to {} to **{}** ([run]({})).\n\n| service | running | requested | digest |\n|---|---|---|---|\n",
            self.actor, self.command, self.environment, self.run_url
        );
        for c in &self.changes {
            let image = c.image.as_deref().map(|i| format!("{i}:")).unwrap_or_default();
            b.push_str(&format!(
                "| {} | `{}` | `{image}{}` | `{}` |\n",
                c.service,
                c.old.as_deref().unwrap_or("—"),
                c.new,
                c.digest.as_deref().unwrap_or("—")
            ));
        }
        let who = self.approvers.iter().map(|a| format!("@{a}")).collect::<Vec<_>>().join(", ");
        let needed = match self.required_approvals {
            0 | 1 => String::new(),
            n => format!(" {n} distinct approvals are needed."),
        };
        b.push_str(&format!(
            "\nComment `/approve` to deploy or `/deny <reason>` to refuse. Approvers: {who}.{needed}\n"
        ));
        if self.expires_at > 0 {
            b.push_str(&format!("This request expires at {}.\n", rfc3339(self.expires_at)));
        }
        b.push('\n');
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(self).unwrap_or_default());
        let signature = key.map(|k| format!(" sig={}", k.sign(&encoded))).unwrap_or_default();
        b.push_str(&format!("{PLAN_MARKER}{encoded}{signature} -->\n"));
        b
    }

    /// Whether `body` carries a plan at all (a forged one included).
    pub fn is_request(body: &str) -> bool {
        body.contains(PLAN_MARKER)
    }

    /// The plan embedded in an approval issue's body, unverified (the `wait` mode reads back
    /// the request it holds in memory; `approve` uses [`PendingRelease::verify`]).
    pub fn from_body(body: &str) -> Option<Self> {
        parse(body).map(|(plan, _, _)| plan)
    }

    /// The plan of an issue, accepted only when the action's identity opened the issue, the
    /// key signed the plan, the body is exactly what the action wrote, the plan names this
    /// repository and a digest for every change, and it has not expired.
    pub fn verify(body: &str, key: &ApprovalKey, expected: &Expected<'_>) -> Result<Self, Forged> {
        if !expected.author.eq_ignore_ascii_case(expected.identity) {
            return Err(Forged::Author {
                author: expected.author.into(),
                identity: expected.identity.into(),
            });
        }
        let (plan, encoded, signature) = parse(body).ok_or(Forged::BadSignature)?;
        let signature = signature.ok_or(Forged::Unsigned)?;
        if !key.verifies(&encoded, &signature) {
            return Err(Forged::BadSignature);
        }
        if normalized(&plan.body(Some(key))) != normalized(body) {
            return Err(Forged::Edited);
        }
        if !plan.repository.eq_ignore_ascii_case(expected.repository) {
            return Err(Forged::OtherRepository {
                named: plan.repository.clone(),
                here: expected.repository.into(),
            });
        }
        if let Some(c) = plan.changes.iter().find(|c| c.digest.as_deref().is_none_or(str::is_empty)) {
            return Err(Forged::NoDigest { service: c.service.clone() });
        }
        if plan.expires_at > 0 && expected.now > plan.expires_at {
            return Err(Forged::Expired { at: rfc3339(plan.expires_at) });
        }
        Ok(plan)
    }
}

/// `(plan, its encoded form, its signature)` from a body.
fn parse(body: &str) -> Option<(PendingRelease, String, Option<String>)> {
    let start = body.find(PLAN_MARKER)? + PLAN_MARKER.len();
    let end = start + body[start..].find(" -->")?;
    let inner = body[start..end].trim();
    let (encoded, signature) = match inner.split_once(" sig=") {
        Some((e, s)) => (e.trim(), Some(s.trim().to_owned())),
        None => (inner, None),
    };
    let json = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    Some((serde_json::from_slice(&json).ok()?, encoded.to_owned(), signature))
}

/// Line endings and trailing blanks as a forge may normalise them.
fn normalized(body: &str) -> String {
    body.replace("\r\n", "\n").trim_end().to_owned()
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> ApprovalKey {
        ApprovalKey::new(Secret::new(k)).unwrap()
    }

    fn pending() -> PendingRelease {
        PendingRelease {
            environment: "production".into(),
            changes: vec![PlannedChange {
                service: "api".into(),
                old: Some("v1.0.0".into()),
                new: "v1.1.0".into(),
                image: Some("ghcr.io/org/api".into()),
                digest: Some("sha256:abc".into()),
            }],
            actor: "alice".into(),
            run_url: "https://github.com/org/deploy/actions/runs/1".into(),
            command: "release".into(),
            repository: "org/deploy".into(),
            approvers: vec!["carol".into(), "org/seniors".into()],
            required_approvals: 2,
            expires_at: 1_900_000_000,
        }
    }

    fn expected<'a>() -> Expected<'a> {
        Expected {
            repository: "org/deploy",
            author: "github-actions[bot]",
            identity: "github-actions[bot]",
            now: 1_800_000_000,
        }
    }

    #[test]
    fn the_plan_round_trips_through_the_issue_body() {
        let k = key("0123456789abcdef0123");
        let body = pending().body(Some(&k));
        assert!(body.contains("| api | `v1.0.0` | `ghcr.io/org/api:v1.1.0` |"), "{body}");
        assert!(body.contains("@carol, @org/seniors") && body.contains("2 distinct approvals"), "{body}");
        assert_eq!(PendingRelease::from_body(&body), Some(pending()));
        assert_eq!(PendingRelease::verify(&body, &k, &expected()), Ok(pending()));
        assert_eq!(PendingRelease::verify(&body.replace('\n', "\r\n"), &k, &expected()), Ok(pending()));
        assert!(pending().title().contains("production: api v1.1.0"));
        assert_eq!(PendingRelease::from_body("no plan"), None);
    }

    #[test]
    fn forged_requests_are_refused_with_the_reason() {
        let k = key("0123456789abcdef0123");
        let body = pending().body(Some(&k));
        let e = Expected { author: "mallory", ..expected() };
        assert!(matches!(PendingRelease::verify(&body, &k, &e), Err(Forged::Author { .. })));
        assert_eq!(PendingRelease::verify(&pending().body(None), &k, &expected()), Err(Forged::Unsigned));
        // Signed with another key, or the plan swapped for another one under the old signature.
        let other = pending().body(Some(&key("another-key-0123456789")));
        assert_eq!(PendingRelease::verify(&other, &k, &expected()), Err(Forged::BadSignature));
        let mut rollback = pending();
        rollback.command = "rollback".into();
        let swapped = {
            let enc = |p: &PendingRelease| {
                base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(p).unwrap())
            };
            body.replace(&enc(&pending()), &enc(&rollback))
        };
        assert_eq!(PendingRelease::verify(&swapped, &k, &expected()), Err(Forged::BadSignature));
        // The text around a valid plan edited.
        let edited = body.replace("`ghcr.io/org/api:v1.1.0`", "`ghcr.io/org/api:v1.0.1`");
        assert_eq!(PendingRelease::verify(&edited, &k, &expected()), Err(Forged::Edited));
        let e = Expected { repository: "org/other", ..expected() };
        assert!(matches!(PendingRelease::verify(&body, &k, &e), Err(Forged::OtherRepository { .. })));
        let e = Expected { now: 1_900_000_001, ..expected() };
        assert!(matches!(PendingRelease::verify(&body, &k, &e), Err(Forged::Expired { .. })));
        let mut no_digest = pending();
        no_digest.changes[0].digest = None;
        let b = no_digest.body(Some(&k));
        assert_eq!(
            PendingRelease::verify(&b, &k, &expected()),
            Err(Forged::NoDigest { service: "api".into() })
        );
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(ApprovalKey::new(Secret::new("short")).is_err());
    }
}
