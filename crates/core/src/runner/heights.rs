//! The runner's priority: a check that starts a long chain of dependents gets its
//! permits first.

use crate::model::CheckKey;
use crate::probe::PlannedCheck;
use std::collections::HashMap;

/// Each check's priority for the permits: how many checks its longest chain of
/// dependents holds, itself included (a check no other waits for: 1).
pub(super) fn chain_heights(checks: &[PlannedCheck], index: &HashMap<CheckKey, usize>) -> Vec<u32> {
    let mut dependents = vec![Vec::new(); checks.len()];
    for (i, c) in checks.iter().enumerate() {
        for d in &c.depends_on {
            if let Some(&j) = index.get(d) {
                dependents[j].push(i);
            }
        }
    }
    // Memoised depth-first walk; the plan has no cycles (a prerequisite is planned
    // before it can be waited for), and `on_path` keeps a bad plan from looping.
    fn height(i: usize, dependents: &[Vec<usize>], memo: &mut [u32], on_path: &mut [bool]) -> u32 {
        if memo[i] > 0 || on_path[i] {
            return memo[i].max(1);
        }
        on_path[i] = true;
        let below = dependents[i]
            .iter()
            .map(|&j| height(j, dependents, memo, on_path))
            .max()
            .unwrap_or(0);
        on_path[i] = false;
        memo[i] = below + 1;
        memo[i]
    }
    let mut memo = vec![0; checks.len()];
    let mut on_path = vec![false; checks.len()];
    (0..checks.len())
        .map(|i| height(i, &dependents, &mut memo, &mut on_path))
        .collect()
}
