//! What a check left registered, undone after it ended: with the cleanup budget, or,
//! once the run has stopped, within what is left of the stop grace.

use super::task::TaskCtx;
use crate::model::Outcome;
use std::time::Instant;

/// Runs the undos the check left registered and names in `outcome` what could not be
/// undone. They have the cleanup budget, or, once the run has stopped, what is left of
/// the stop grace (a stop that comes while they run cuts them at the grace too).
pub(super) async fn undo_what_is_left(
    ctx: &TaskCtx,
    cleanup: &crate::cleanup::Cleanup,
    outcome: Outcome,
) -> Outcome {
    let names = cleanup.pending_names();
    if names.is_empty() {
        return outcome;
    }
    let grace = ctx.options.stop_grace;
    let normal = Instant::now() + ctx.options.cleanup_timeout;
    let cut_late = format!("cut off {} ms after the run stopped", grace.as_millis());
    if ctx.stop.is_cancelled() {
        // Stopped already: the undos have what is left of the grace.
        let at = ctx.stopped_at.get().copied().unwrap_or_else(Instant::now);
        let failed =
            crate::cleanup::run_pending_as(cleanup, normal.min(at + grace).into(), cut_late).await;
        return not_undone(outcome, failed);
    }
    // A stop that comes while they run cuts them at its grace.
    let stop = ctx.stop.clone();
    let stopped_at = ctx.stopped_at.clone();
    let cut = async move {
        stop.cancelled().await;
        let at = stopped_at.get().copied().unwrap_or_else(Instant::now);
        tokio::time::sleep_until((at + grace).into()).await;
    };
    let failed = tokio::select! {
        biased;
        _ = cut => names.into_iter().map(|n| (n, cut_late.clone())).collect(),
        f = crate::cleanup::run_pending(cleanup, normal.into()) => f,
    };
    not_undone(outcome, failed)
}

fn not_undone(outcome: Outcome, failed: Vec<(String, String)>) -> Outcome {
    failed.into_iter().fold(outcome, |o, (what, why)| {
        o.with("not_undone", format!("{what}: {why}"))
    })
}
