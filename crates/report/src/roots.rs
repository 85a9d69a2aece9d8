//! Root causes: the failures that explain the skipped checks, found by following the
//! link each skipped check's reason names ([`imp_verify_core::Reason::link`]); no
//! message is read and no graph is re-walked.

use crate::json::key_string;
use imp_verify_core::{CheckKey, CheckResult, Status};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A failure that blocked other checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootCause {
    /// The failed check's key, `id [target]`.
    pub key: String,
    /// Its id.
    pub id: String,
    /// Its target.
    pub target: String,
    /// What it found.
    pub message: String,
    /// What to fix.
    pub remediation: Option<String>,
    /// How many checks were skipped because of it (directly or through other skips).
    pub explains: usize,
    /// Their keys, in plan order.
    pub skipped: Vec<String>,
}

/// The failures that blocked others, most skipped checks first, then in plan order
/// (`results` are in plan order).
/// Each skipped check is followed through the link its reason names (the prerequisite
/// that blocked it, or the check that made it unobservable), through other skips, to
/// a failed check.
pub(crate) fn root_causes(results: &[CheckResult]) -> Vec<RootCause> {
    let by_key: HashMap<&CheckKey, &imp_verify_core::Outcome> =
        results.iter().map(|r| (&r.key, &r.outcome)).collect();
    let ordered: Vec<&CheckResult> = results.iter().collect();
    let mut by_root: HashMap<&CheckKey, Vec<String>> = HashMap::new();
    for r in &ordered {
        if r.outcome.status != Status::Skip {
            continue;
        }
        let mut link = r.outcome.reason.link();
        let mut root = None;
        // A chain is at most as long as the plan.
        for _ in 0..=ordered.len() {
            let Some(k) = link else { break };
            let Some((key, o)) = by_key.get_key_value(k) else {
                break;
            };
            match o.status {
                Status::Fail => {
                    root = Some(*key);
                    break;
                }
                _ => link = o.reason.link(),
            }
        }
        if let Some(root) = root {
            by_root.entry(root).or_default().push(key_string(&r.key));
        }
    }
    let mut out: Vec<(usize, RootCause)> = ordered
        .iter()
        .enumerate()
        .filter_map(|(pos, r)| {
            let skipped = by_root.remove(&r.key)?;
            Some((
                pos,
                RootCause {
                    key: key_string(&r.key),
                    id: r.key.id.to_string(),
                    target: r.key.target.clone(),
                    message: r.outcome.message.clone(),
                    remediation: r.outcome.remediation.clone(),
                    explains: skipped.len(),
                    skipped,
                },
            ))
        })
        .collect();
    out.sort_by_key(|(pos, rc)| (std::cmp::Reverse(rc.explains), *pos));
    out.into_iter().map(|(_, rc)| rc).collect()
}
