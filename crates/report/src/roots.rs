//! Root causes: the failures that explain the skipped checks, found by following each
//! skipped check to the prerequisite that blocked it (the plan's dependency graph and
//! the verdicts; no message is read).

use crate::json::key_string;
use crate::Collected;
use imp_verify_core::{CheckKey, Status};
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

/// The failures that blocked others, most skipped checks first, then in plan order.
pub(crate) fn root_causes(c: &Collected) -> Vec<RootCause> {
    let status: HashMap<&CheckKey, Status> = c
        .results
        .iter()
        .map(|r| (&r.key, r.outcome.status))
        .collect();
    // The runner waits for the prerequisites in order and stops at the first that did
    // not pass or warn: that one blocked the check.
    let blocker = |k: &CheckKey| -> Option<&CheckKey> {
        c.requires(k)
            .iter()
            .find(|d| status.get(d).is_some_and(|s| !s.unblocks_dependents()))
    };
    let ordered = c.ordered();
    let mut by_root: HashMap<&CheckKey, Vec<String>> = HashMap::new();
    for r in &ordered {
        if r.outcome.status != Status::Skip {
            continue;
        }
        let mut at = &r.key;
        let mut root = None;
        // A chain is at most as long as the plan.
        for _ in 0..=ordered.len() {
            match blocker(at) {
                Some(b) if status.get(b) == Some(&Status::Fail) => {
                    root = Some(b);
                    break;
                }
                Some(b) => at = b,
                None => break,
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
