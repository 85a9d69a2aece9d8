//! The check model: what a check is, what it found, and how that is reported.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The area of the deployment a check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    Services,
    Dns,
    Tls,
    Ldap,
    Xmpp,
    Sip,
    Ha,
}

impl Area {
    pub const ALL: [Area; 7] = [
        Area::Services,
        Area::Dns,
        Area::Tls,
        Area::Ldap,
        Area::Xmpp,
        Area::Sip,
        Area::Ha,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::Services => "services",
            Area::Dns => "dns",
            Area::Tls => "tls",
            Area::Ldap => "ldap",
            Area::Xmpp => "xmpp",
            Area::Sip => "sip",
            Area::Ha => "ha",
        }
    }

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
    Pass,
    Warn,
    Fail,
    Skip,
}

impl Status {
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
    pub fn new(id: &'static str, target: impl Into<String>) -> Self {
        CheckKey {
            id,
            target: target.into(),
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
    pub status: Status,
    /// One line saying what was found.
    pub message: String,
    /// What was seen, as ordered key/value pairs (records, certificate names, status lines).
    pub evidence: Vec<(String, String)>,
    /// What to fix, for fail and warn.
    pub remediation: Option<String>,
    /// Measured figures (round-trip times, counts), for machine consumers.
    pub metrics: BTreeMap<String, f64>,
}

impl Outcome {
    fn new(status: Status, message: impl Into<String>) -> Self {
        Outcome {
            status,
            message: message.into(),
            evidence: Vec::new(),
            remediation: None,
            metrics: BTreeMap::new(),
        }
    }

    pub fn pass(message: impl Into<String>) -> Self {
        Self::new(Status::Pass, message)
    }

    pub fn warn(message: impl Into<String>, remediation: impl Into<String>) -> Self {
        Self::new(Status::Warn, message).fix(remediation)
    }

    pub fn fail(message: impl Into<String>, remediation: impl Into<String>) -> Self {
        Self::new(Status::Fail, message).fix(remediation)
    }

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

    /// Sets the remediation hint.
    pub fn fix(mut self, remediation: impl Into<String>) -> Self {
        self.remediation = Some(remediation.into());
        self
    }

    /// Replaces every occurrence of each secret in the outcome's text by `***`.
    pub fn redact(&mut self, secrets: &[String]) {
        let scrub = |s: &mut String| {
            for secret in secrets {
                if !secret.is_empty() && s.contains(secret.as_str()) {
                    *s = s.replace(secret.as_str(), "***");
                }
            }
        };
        scrub(&mut self.message);
        if let Some(r) = self.remediation.as_mut() {
            scrub(r);
        }
        for (k, v) in self.evidence.iter_mut() {
            scrub(k);
            scrub(v);
        }
    }
}

/// A finished check, as the runner reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub key: CheckKey,
    pub area: Area,
    /// The workflow tasks (of the spec's workflow) this check verifies, like `B.8`.
    pub tasks: Vec<&'static str>,
    pub outcome: Outcome,
    pub duration: Duration,
    /// How many times the check ran (more than one with `--retry-for`).
    pub attempts: u32,
}

/// Counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub skip: usize,
}

impl Counts {
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Pass => self.pass += 1,
            Status::Warn => self.warn += 1,
            Status::Fail => self.fail += 1,
            Status::Skip => self.skip += 1,
        }
    }

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
        o.redact(&["s3cret".to_string()]);
        let text = format!("{o:?}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(o.message.contains("***"));
    }

    #[test]
    fn only_pass_and_warn_unblock() {
        assert!(Status::Pass.unblocks_dependents());
        assert!(Status::Warn.unblocks_dependents());
        assert!(!Status::Fail.unblocks_dependents());
        assert!(!Status::Skip.unblocks_dependents());
    }
}
