//! The check model: what a check is, what it found, and how that is reported.

use crate::reason::Reason;
use crate::secret::{scrub_in_place, Secret};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The area of the deployment a check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    /// Service ports of the nodes.
    Services,
    /// DNS records.
    Dns,
    /// TLS certificates.
    Tls,
    /// The LDAP directory.
    Ldap,
    /// Jabber's service discovery: CUCM's User Data Services (UDS) and the login
    /// records, the path a Jabber client takes before it logs in over XMPP.
    Uds,
    /// XMPP: login, IM, presence, group chat, federation.
    Xmpp,
    /// SIP: the publish trunk and phone presence.
    Sip,
    /// High availability.
    Ha,
}

impl Area {
    /// Every area, in report order.
    pub const ALL: [Area; 8] = [
        Area::Services,
        Area::Dns,
        Area::Tls,
        Area::Ldap,
        Area::Uds,
        Area::Xmpp,
        Area::Sip,
        Area::Ha,
    ];

    /// The area's name (`dns`).
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Services => "services",
            Area::Dns => "dns",
            Area::Tls => "tls",
            Area::Ldap => "ldap",
            Area::Uds => "uds",
            Area::Xmpp => "xmpp",
            Area::Sip => "sip",
            Area::Ha => "ha",
        }
    }

    /// The area named `s`, if any.
    pub fn parse(s: &str) -> Option<Area> {
        Area::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It holds.
    Pass,
    /// It holds, with a problem to look at (fails the run with `--strict`).
    Warn,
    /// It does not hold.
    Fail,
    /// It was not checked (a prerequisite failed, or the run stopped).
    Skip,
}

impl Status {
    /// The status' name (`pass`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }

    /// Whether a check that depends on one with this status may run.
    pub fn unblocks_dependents(self) -> bool {
        matches!(self, Status::Pass | Status::Warn)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check applied to one target: `dns.node` of `imp1.lab.test`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckKey {
    /// The stable dotted id from the catalog.
    pub id: &'static str,
    /// What the check looks at: a node, an endpoint, a user...
    pub target: String,
}

impl CheckKey {
    /// The key of check `id` on `target`.
    pub fn new(id: &'static str, target: impl Into<String>) -> Self {
        CheckKey {
            id,
            target: target.into(),
        }
    }
}

impl CheckKey {
    /// The key as shown in outputs: its target scrubbed of the secrets (a target names
    /// users and hosts of the spec, which may contain a password).
    pub fn redacted(&self, secrets: &[Secret]) -> CheckKey {
        let mut target = self.target.clone();
        scrub_in_place(&mut target, secrets);
        CheckKey {
            id: self.id,
            target,
        }
    }
}

impl fmt::Display for CheckKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.id, self.target)
    }
}

/// What a check returns: its verdict and the reasons for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The verdict.
    pub status: Status,
    /// Why the verdict is what it is (a judge decided; blocked by a prerequisite; timed
    /// out; ...): the reports follow it instead of reading the message.
    pub reason: Reason,
    /// One line saying what was found.
    pub message: String,
    /// What was seen, as ordered key/value pairs (records, certificate names, status lines).
    pub evidence: Vec<(String, String)>,
    /// What to fix, for fail and warn.
    pub remediation: Option<String>,
    /// Measured figures (round-trip times, counts), for machine consumers.
    pub metrics: BTreeMap<String, f64>,
}

/// One authentication a check made with a credential of the spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthAttempt {
    /// The account (a DN, a JID, a user id), never its secret.
    pub account: String,
    /// Whether the server refused the credential (LDAP 49, SASL not-authorized, SIP
    /// 401/403), as opposed to accepting it.
    pub refused: bool,
    /// The spec's credential, when the authentication reached the deployment's
    /// directory (an LDAP bind, or a login the node checked against the directory):
    /// counted per credential in the run's summary.
    #[serde(skip)]
    pub directory: Option<crate::credentials::Principal>,
}

/// Where a check records the authentications it makes, as it makes them (so that an
/// attempt that later times out is counted too). A refused credential makes the
/// attempt final: the runner never retries it, since a retried refusal can lock an
/// account.
#[derive(Debug, Clone, Default)]
pub struct AuthLog(std::sync::Arc<std::sync::Mutex<Vec<AuthAttempt>>>);

impl AuthLog {
    /// Records that `account`'s credential was accepted (`refused` false) or refused.
    pub fn record(&self, account: impl Into<String>, refused: bool) {
        self.0.lock().expect("not poisoned").push(AuthAttempt {
            account: account.into(),
            refused,
            directory: None,
        });
    }

    /// Records an authentication with `principal`'s credential that reached the
    /// deployment's directory: an LDAP bind, or a login the node checks against the
    /// directory (an XMPP login on IM&P with LDAP user authentication). A lockout
    /// policy counts these, whichever check caused them.
    pub fn record_on_directory(
        &self,
        principal: &crate::credentials::Principal,
        account: impl Into<String>,
        refused: bool,
    ) {
        self.0.lock().expect("not poisoned").push(AuthAttempt {
            account: account.into(),
            refused,
            directory: Some(principal.clone()),
        });
    }

    /// What was recorded.
    pub fn attempts(&self) -> Vec<AuthAttempt> {
        self.0.lock().expect("not poisoned").clone()
    }

    /// Whether a server refused a credential.
    pub fn any_refused(&self) -> bool {
        self.0
            .lock()
            .expect("not poisoned")
            .iter()
            .any(|a| a.refused)
    }
}

impl Outcome {
    fn new(status: Status, message: impl Into<String>) -> Self {
        Outcome {
            status,
            reason: Reason::Verdict,
            message: message.into(),
            evidence: Vec::new(),
            remediation: None,
            metrics: BTreeMap::new(),
        }
    }

    /// It holds: `message` says what was seen.
    pub fn pass(message: impl Into<String>) -> Self {
        Self::new(Status::Pass, message)
    }

    /// It holds with a problem: `message` and what to do.
    pub fn warn(message: impl Into<String>, remediation: impl Into<String>) -> Self {
        Self::new(Status::Warn, message).fix(remediation)
    }

    /// It does not hold: `message` and what to fix.
    pub fn fail(message: impl Into<String>, remediation: impl Into<String>) -> Self {
        Self::new(Status::Fail, message).fix(remediation)
    }

    /// It was not checked: `message` says why.
    pub fn skip(message: impl Into<String>) -> Self {
        Self::new(Status::Skip, message)
    }

    /// Adds one piece of evidence.
    pub fn with(mut self, key: impl Into<String>, value: impl fmt::Display) -> Self {
        self.evidence.push((key.into(), value.to_string()));
        self
    }

    /// Adds a measured figure (also shown as evidence).
    pub fn metric(mut self, key: impl Into<String>, value: f64) -> Self {
        let key = key.into();
        self.evidence.push((key.clone(), format!("{value}")));
        self.metrics.insert(key, value);
        self
    }

    /// Sets why the outcome is what it is (see [`Reason`]; [`Reason::Verdict`] unless
    /// set).
    pub fn because(mut self, reason: Reason) -> Self {
        self.reason = reason;
        self
    }

    /// Sets the remediation hint.
    pub fn fix(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = Some(remediation.into());
        self
    }

    /// Replaces each secret, where it stands as a whole token, by `***` in the outcome's
    /// text (see [`crate::secret::scrub_tokens`]).
    pub fn redact(&mut self, secrets: &[Secret]) {
        scrub_in_place(&mut self.message, secrets);
        if let Some(r) = self.remediation.as_mut() {
            scrub_in_place(r, secrets);
        }
        for (k, v) in self.evidence.iter_mut() {
            scrub_in_place(k, secrets);
            scrub_in_place(v, secrets);
        }
    }
}

/// A finished check, as the runner reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// The check and its target.
    pub key: CheckKey,
    /// Its area.
    pub area: Area,
    /// The workflow tasks (of the spec's workflow) this check verifies, like `B.8`.
    pub tasks: Vec<&'static str>,
    /// What it found (of its last attempt).
    pub outcome: Outcome,
    /// How long it ran, every attempt included.
    pub duration: Duration,
    /// How many times the check ran (more than one with `--retry-for`).
    pub attempts: u32,
}

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Passed.
    pub pass: usize,
    /// Warned.
    pub warn: usize,
    /// Failed.
    pub fail: usize,
    /// Skipped.
    pub skip: usize,
}

impl Counts {
    /// Counts one more check with `status`.
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Pass => self.pass += 1,
            Status::Warn => self.warn += 1,
            Status::Fail => self.fail += 1,
            Status::Skip => self.skip += 1,
        }
    }

    /// Every check counted.
    pub fn total(&self) -> usize {
        self.pass + self.warn + self.fail + self.skip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_scrubs_every_field() {
        let mut o = Outcome::fail("bind with s3cret failed", "check s3cret")
            .with("sent", "user=alice pass=s3cret")
            .with("s3cret", "key");
        o.redact(&["s3cret".into()]);
        let text = format!("{o:?}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(o.message.contains("***"));
    }

    #[test]
    fn redaction_keeps_names_that_merely_contain_a_secret() {
        let mut o = Outcome::fail("imp1.example.com refused example", "fix")
            .with("node", "imp1.example.com");
        o.redact(&["example".into()]);
        assert_eq!(o.message, "imp1.example.com refused ***");
        assert_eq!(o.evidence[0].1, "imp1.example.com");
        let key = CheckKey::new("xmpp.login", "example on imp1.example.com");
        assert_eq!(
            key.redacted(&["example".into()]).target,
            "*** on imp1.example.com"
        );
    }

    #[test]
    fn only_pass_and_warn_unblock() {
        assert!(Status::Pass.unblocks_dependents());
        assert!(Status::Warn.unblocks_dependents());
        assert!(!Status::Fail.unblocks_dependents());
        assert!(!Status::Skip.unblocks_dependents());
    }
}
