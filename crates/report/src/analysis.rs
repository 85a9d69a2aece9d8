//! What a run means, worked out once after it ended and handed to every reporter and
//! to the exit code: the root causes of the skipped checks, the changes since the
//! baseline, the deployment's exposures, and what the spec left unverified. No
//! reporter computes any of it again.

use crate::baseline::{Baseline, Changes};
use crate::json::key_string;
use crate::roots::{root_causes, RootCause};
use imp_verify_core::coverage::Coverage;
use imp_verify_core::{catalog, CheckResult, Status};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// What the analysis is made from besides the run's results.
#[derive(Debug, Default)]
pub struct ReportContext {
    /// The spec's IM domains (written into the JSON, so that a later run can use it as
    /// a baseline).
    pub domains: Vec<String>,
    /// The earlier report to compare with (`--baseline`).
    pub baseline: Option<Baseline>,
    /// What the spec leaves unverified (from `imp_verify_core::coverage`).
    pub coverage: Option<Coverage>,
}

/// A check proving that the deployment refuses what it must (its catalog row has
/// `refusal`) that failed or warned: something the deployment accepts and should not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    /// The check's key, `id [target]`.
    pub key: String,
    /// Its id.
    pub id: String,
    /// Its target.
    pub target: String,
    /// `fail`, or `warn` where the setting is optional in the workflow.
    pub status: Status,
    /// What it found.
    pub message: String,
    /// The setting to change.
    pub remediation: Option<String>,
    /// The tasks of the run's workflow it verifies.
    pub tasks: Vec<String>,
}

/// The run's analysis.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// The failures that explain the skipped checks, most skips first.
    pub root_causes: Vec<RootCause>,
    /// What changed since the baseline (with one).
    pub changes: Option<Changes>,
    /// The refusal checks that failed or warned, in plan order.
    pub exposures: Vec<Exposure>,
    /// What the spec leaves unverified (when the caller knows the spec).
    pub coverage: Option<Coverage>,
    /// Each check's metric history from the baseline (its runs' values), by key: what
    /// the JSON report keeps for the next run's rolling baseline.
    pub history: HashMap<String, BTreeMap<String, Vec<f64>>>,
}

impl Analysis {
    /// The analysis of `results` (in plan order), refusal checks told by the catalog.
    pub fn of(results: &[CheckResult], cx: &ReportContext) -> Analysis {
        Analysis::with_refusals(results, cx, &|id| {
            catalog::check(id).is_some_and(|d| d.refusal)
        })
    }

    /// [`Analysis::of`], with `is_refusal` telling which check ids are refusal checks
    /// (tests give their own).
    pub fn with_refusals(
        results: &[CheckResult],
        cx: &ReportContext,
        is_refusal: &dyn Fn(&str) -> bool,
    ) -> Analysis {
        Analysis {
            root_causes: root_causes(results),
            changes: cx.baseline.as_ref().map(|b| b.compare_results(results)),
            exposures: exposures(results, is_refusal),
            coverage: cx.coverage.clone(),
            history: cx
                .baseline
                .as_ref()
                .map(|b| {
                    results
                        .iter()
                        .map(|r| {
                            let k = key_string(&r.key);
                            let h = b.history_of(&k);
                            (k, h)
                        })
                        .filter(|(_, h)| !h.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// How many things regressed since the baseline (0 without one).
    pub fn regressions(&self) -> usize {
        self.changes.as_ref().map_or(0, |c| c.regressions)
    }
}

fn exposures(results: &[CheckResult], is_refusal: &dyn Fn(&str) -> bool) -> Vec<Exposure> {
    results
        .iter()
        .filter(|r| matches!(r.outcome.status, Status::Fail | Status::Warn))
        .filter(|r| is_refusal(r.key.id))
        .map(|r| Exposure {
            key: key_string(&r.key),
            id: r.key.id.to_string(),
            target: r.key.target.clone(),
            status: r.outcome.status,
            message: r.outcome.message.clone(),
            remediation: r.outcome.remediation.clone(),
            tasks: r.tasks.iter().map(|t| t.to_string()).collect(),
        })
        .collect()
}

/// "1 exposure", "3 exposures".
pub fn exposures_phrase(n: usize) -> String {
    format!("{n} exposure{}", if n == 1 { "" } else { "s" })
}
