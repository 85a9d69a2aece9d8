//! The JSON report (format: `crates/report/JSON.md`), serialised from typed structs;
//! the same structs read a report back as a baseline.

use crate::analysis::{Analysis, Exposure};
use crate::baseline::Changes;
use crate::roots::RootCause;
use crate::{Collected, Reporter};
use imp_verify_core::coverage::Coverage;
use imp_verify_core::{CheckKey, CheckResult, Event, Reason, Status, StopReason};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The format's version: it changes only when a field changes meaning or goes away.
pub const VERSION: u32 = 1;

/// The whole document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JsonReport {
    /// [`VERSION`].
    pub version: u32,
    /// The spec file the run checked.
    pub spec: Option<String>,
    /// The spec's workflow letter.
    pub workflow: Option<String>,
    /// The deployment's IM domains (what a baseline must share).
    #[serde(default)]
    pub domains: Vec<String>,
    /// When the run started (RFC 3339, UTC).
    pub started_at: Option<String>,
    /// The run's wall time.
    pub wall_ms: Option<f64>,
    /// How many checks ran against one server at most at once (the cap in force).
    #[serde(default)]
    pub per_server_cap: Option<usize>,
    /// Why the run ended early, if it did.
    pub stopped: Option<StopReason>,
    /// Counts and root causes.
    pub summary: JsonSummary,
    /// What changed since the baseline (with `--baseline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
    /// What the spec left unverified (absent in reports of versions before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<JsonCoverage>,
    /// Every planned check, in plan order.
    pub checks: Vec<JsonCheck>,
}

/// The run's counts, and the failures that explain the skipped checks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JsonSummary {
    /// Every check.
    pub total: usize,
    /// Passed.
    pub pass: usize,
    /// Warned.
    pub warn: usize,
    /// Failed.
    pub fail: usize,
    /// Skipped.
    pub skip: usize,
    /// The failures that blocked other checks, most skips first (absent when none did).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root_causes: Vec<RootCause>,
    /// Authentications made with the spec's credentials, per account (never a
    /// secret): how many, and how many the server refused (absent when none were made).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authentications: BTreeMap<String, JsonAuth>,
    /// The refusal checks that failed or warned: what the deployment accepts and must
    /// refuse, each with the setting to change (empty when none; absent in reports of
    /// versions before it).
    #[serde(default)]
    pub exposures: Vec<Exposure>,
    /// The authentications the run caused on the directory, per credential of the spec
    /// (`user alice`, `service cn=...`): LDAP binds and logins a node checked against
    /// the directory (absent when there were none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub directory_authentications: BTreeMap<String, JsonAuth>,
}

/// What the spec left unverified, as the JSON gives it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JsonCoverage {
    /// Each gap: the checks, where, why, what to add, the field to fill, the tasks,
    /// and how it showed (`not_planned`, `left_out`, `skipped`).
    pub gaps: Vec<serde_json::Value>,
    /// The workflow's tasks no planned check verified.
    pub tasks_not_verified: Vec<String>,
    /// The workflow's tasks only partly verified.
    pub tasks_partly_verified: Vec<String>,
    /// The workflow's verification tasks, when none of them was fully verified.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verification_not_verified: Vec<String>,
}

impl JsonCoverage {
    /// The JSON form of `c`.
    pub fn of(c: &Coverage) -> JsonCoverage {
        let strings = |v: Vec<&str>| v.into_iter().map(str::to_string).collect();
        JsonCoverage {
            gaps: c
                .gaps
                .iter()
                .map(|g| serde_json::to_value(g).expect("a gap serialises"))
                .collect(),
            tasks_not_verified: strings(c.tasks_not_verified()),
            tasks_partly_verified: strings(c.tasks_partly_verified()),
            verification_not_verified: strings(c.verification_uncovered()),
        }
    }
}

/// The authentications of one account in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonAuth {
    /// How many times a check authenticated with the account.
    pub attempts: u32,
    /// How many of those the server refused.
    pub refused: u32,
}

/// Counts of authentications as the JSON gives them.
fn json_auth(
    counts: &BTreeMap<String, imp_verify_core::event::AuthCount>,
) -> BTreeMap<String, JsonAuth> {
    counts
        .iter()
        .map(|(k, a)| {
            (
                k.clone(),
                JsonAuth {
                    attempts: a.attempts,
                    refused: a.refused,
                },
            )
        })
        .collect()
}

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonEvidence {
    /// What it is.
    pub key: String,
    /// What was seen.
    pub value: String,
}

/// One check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JsonCheck {
    /// `id [target]`: how other checks and a baseline name this one.
    #[serde(default)]
    pub key: String,
    /// The stable check id.
    pub id: String,
    /// The area.
    pub area: String,
    /// What was checked.
    pub target: String,
    /// The run's workflow tasks this check verifies.
    pub tasks: Vec<String>,
    /// The verdict.
    pub status: Status,
    /// One line saying what was found.
    pub message: String,
    /// What was seen, in order.
    pub evidence: Vec<JsonEvidence>,
    /// What to fix.
    pub remediation: Option<String>,
    /// When it started, from the run's start (null if it never ran).
    #[serde(default)]
    pub start_ms: Option<f64>,
    /// How long it ran (all attempts).
    pub duration_ms: f64,
    /// How many times it ran.
    pub attempts: u32,
    /// The keys of the checks it waited for.
    #[serde(default)]
    pub requires: Vec<String>,
    /// Measured figures.
    pub metrics: BTreeMap<String, f64>,
    /// Each metric's values in the earlier runs this report was compared with, oldest
    /// first (at most `HISTORY`): the rolling baseline a later run's `--baseline`
    /// compares with (absent without a baseline).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub history: BTreeMap<String, Vec<f64>>,
    /// Why the status is what it is (absent in reports of versions before it).
    #[serde(default)]
    pub reason: Option<JsonReason>,
}

/// Why a check's status is what it is (`imp_verify_core::Reason`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonReason {
    /// `verdict` (the check's judge decided), `blocked` (a prerequisite did not pass),
    /// `not_observable` (what it judges could not be seen because of another check),
    /// `timed_out`, `panicked`, `deadline`, `interrupted`.
    pub kind: String,
    /// For `blocked` and `not_observable`: the key of the check that explains it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// For `blocked`: how that check ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_status: Option<Status>,
    /// For `timed_out` (and `deadline`, when the check said): the step it was in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// For `timed_out`: the time it had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_ms: Option<f64>,
    /// For `deadline` and `interrupted`: whether the check had started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
}

impl JsonReason {
    /// The JSON form of `reason` (`stage`: the stage evidence, for a deadline).
    pub fn of(reason: &Reason, stage: Option<&str>) -> JsonReason {
        let mut j = JsonReason {
            kind: reason.kind().to_string(),
            by: reason.link().map(key_string),
            by_status: None,
            stage: None,
            after_ms: None,
            started: None,
        };
        match reason {
            Reason::Blocked { status, .. } => j.by_status = Some(*status),
            Reason::TimedOut { after, stage } => {
                j.after_ms = Some(ms(*after));
                j.stage = stage.map(|s| s.as_str().to_string());
            }
            Reason::Deadline { started } => {
                j.started = Some(*started);
                j.stage = stage.map(str::to_string);
            }
            Reason::Interrupted { started } => j.started = Some(*started),
            Reason::Verdict | Reason::NotObservable { .. } | Reason::Panicked => {}
        }
        j
    }
}

impl JsonCheck {
    /// Whether this check is the one `key` names.
    pub fn key_string(&self) -> String {
        if self.key.is_empty() {
            format!("{} [{}]", self.id, self.target)
        } else {
            self.key.clone()
        }
    }
}

/// Writes every check and a summary as one JSON document.
pub struct JsonReporter {
    out: crate::Destination,
    collected: Collected,
    domains: Vec<String>,
}

impl JsonReporter {
    /// A report written to `out` at the end of the run.
    pub fn new(out: impl Into<crate::Destination>) -> Self {
        JsonReporter {
            out: out.into(),
            collected: Collected::default(),
            domains: Vec::new(),
        }
    }

    /// With the deployment's identity: its IM domains (what a later run's baseline must
    /// share).
    pub fn with_domains(mut self, domains: Vec<String>) -> Self {
        self.domains = domains;
        self
    }

    /// The typed document (what `finish` writes).
    pub fn report(&self, analysis: &Analysis) -> JsonReport {
        report(&self.collected, &self.domains, analysis)
    }

    /// The document as a JSON value.
    pub fn document(&self, analysis: &Analysis) -> serde_json::Value {
        serde_json::to_value(self.report(analysis)).expect("the report serialises")
    }
}

impl Reporter for JsonReporter {
    fn on_event(&mut self, event: &Event) {
        self.collected.on_event(event);
    }

    fn finish(self: Box<Self>, analysis: &Analysis) -> std::io::Result<()> {
        let mut text =
            serde_json::to_string_pretty(&self.report(analysis)).map_err(std::io::Error::other)?;
        text.push('\n');
        self.out.write(text.as_bytes())
    }
}

/// Milliseconds with microsecond precision.
pub(crate) fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// How a check's key is written in the report.
pub fn key_string(k: &CheckKey) -> String {
    k.to_string()
}

pub(crate) fn check(c: &Collected, r: &CheckResult) -> JsonCheck {
    let o = &r.outcome;
    JsonCheck {
        key: key_string(&r.key),
        id: r.key.id.to_string(),
        area: r.area.as_str().to_string(),
        target: r.key.target.clone(),
        tasks: r.tasks.iter().map(|t| t.to_string()).collect(),
        status: o.status,
        message: o.message.clone(),
        evidence: o
            .evidence
            .iter()
            .map(|(k, v)| JsonEvidence {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
        remediation: o.remediation.clone(),
        start_ms: c.started.get(&r.key).map(|d| ms(*d)),
        duration_ms: ms(r.duration),
        attempts: r.attempts,
        requires: c.requires(&r.key).iter().map(key_string).collect(),
        metrics: o.metrics.clone(),
        history: BTreeMap::new(),
        reason: Some(JsonReason::of(
            &o.reason,
            o.evidence
                .iter()
                .find(|(k, _)| k == "stage")
                .map(|(_, v)| v.as_str()),
        )),
    }
}

pub(crate) fn report(c: &Collected, domains: &[String], a: &Analysis) -> JsonReport {
    let checks: Vec<JsonCheck> = c
        .ordered()
        .into_iter()
        .map(|r| {
            let mut j = check(c, r);
            j.history = a.history.get(&j.key).cloned().unwrap_or_default();
            j
        })
        .collect();
    let counts = c.summary.as_ref().map(|s| s.counts).unwrap_or_default();
    JsonReport {
        version: VERSION,
        spec: c.info.as_ref().map(|i| i.spec.display().to_string()),
        workflow: c.info.as_ref().map(|i| i.workflow.letter().to_string()),
        domains: domains.to_vec(),
        started_at: c
            .summary
            .as_ref()
            .map(|s| humantime::format_rfc3339_millis(s.started_at).to_string()),
        wall_ms: c.summary.as_ref().map(|s| ms(s.wall)),
        per_server_cap: c.info.as_ref().map(|i| i.per_server),
        stopped: c.summary.as_ref().and_then(|s| s.stopped),
        summary: JsonSummary {
            total: counts.total(),
            pass: counts.pass,
            warn: counts.warn,
            fail: counts.fail,
            skip: counts.skip,
            root_causes: a.root_causes.clone(),
            authentications: c
                .summary
                .as_ref()
                .map(|s| json_auth(&s.auth))
                .unwrap_or_default(),
            directory_authentications: c
                .summary
                .as_ref()
                .map(|s| json_auth(&s.directory_auth))
                .unwrap_or_default(),
            exposures: a.exposures.clone(),
        },
        changes: a.changes.clone(),
        coverage: a.coverage.as_ref().map(JsonCoverage::of),
        checks,
    }
}
