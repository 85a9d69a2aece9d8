//! One planned check as the runner drives it: its prerequisites awaited, its permits
//! taken (its server's, then the run's), its attempts made and retried, what it left
//! undone, and its outcome's reason set.

use super::attempt::{attempt_once, with_stage};
use super::undo::undo_what_is_left;
use super::RunOptions;
use crate::catalog;
use crate::event::{AuthCounts, Event, StopReason};
use crate::gate::{Gate, Permit};
use crate::model::{CheckKey, Outcome, Status};
use crate::probe::{CheckCtx, CheckFn};
use crate::reason::{Reason, StageCell};
use crate::secret::Secret;
use crate::spec::Workflow;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// What the task of one check shares with the run.
pub(super) struct TaskCtx {
    pub stop: CancellationToken,
    pub interrupt: CancellationToken,
    pub deadline_hit: Arc<OnceLock<StopReason>>,
    /// When the run stopped (deadline or signal), for the undos' grace.
    pub stopped_at: Arc<OnceLock<Instant>>,
    pub credentials: crate::credentials::Credentials,
    pub semaphore: Gate,
    /// The cap of the check's server, if it names one.
    pub server: Option<Gate>,
    /// Its place among the checks waiting for a permit: the longest chain it starts.
    pub priority: u32,
    pub options: Arc<RunOptions>,
    pub events: mpsc::UnboundedSender<Event>,
    pub run_start: Instant,
    pub secrets: Arc<Vec<Secret>>,
    pub workflow: Workflow,
    pub auth: Arc<std::sync::Mutex<AuthCounts>>,
}

/// A prerequisite's key and where its status will appear.
pub(super) type Prerequisite = (CheckKey, watch::Receiver<Option<Status>>);

impl TaskCtx {
    /// Adds an attempt's authentications to the run's count per account.
    fn count(&self, log: &crate::model::AuthLog) {
        let mut guard = self.auth.lock().expect("not poisoned");
        let auth = &mut *guard;
        for a in log.attempts() {
            let mut counts = vec![auth.per_account.entry(a.account).or_default()];
            if let Some(p) = &a.directory {
                counts.push(auth.on_directory.entry(p.as_str().to_string()).or_default());
            }
            for c in counts {
                c.attempts += 1;
                c.refused += u32::from(a.refused);
            }
        }
    }

    fn reason(&self) -> Option<StopReason> {
        if self.interrupt.is_cancelled() {
            Some(StopReason::Interrupted)
        } else {
            self.deadline_hit.get().copied()
        }
    }

    /// The outcome of a check the run's stop left unstarted.
    fn not_run(&self) -> Outcome {
        match self.reason() {
            Some(StopReason::Deadline) => Outcome::skip("not run: the run deadline passed first")
                .because(Reason::Deadline { started: false }),
            _ => Outcome::skip("not run: interrupted")
                .because(Reason::Interrupted { started: false }),
        }
    }

    /// The outcome of a check the run's stop cut off while it ran.
    fn cut_off(&self, stage: &StageCell) -> Outcome {
        match self.reason() {
            Some(StopReason::Deadline) => with_stage(
                Outcome::fail(
                    format!(
                        "did not finish before the run deadline ({})",
                        humantime::format_duration(self.options.deadline.unwrap_or_default())
                    ),
                    "The target is slow or not answering; check it, or give the run a longer --deadline.",
                ),
                stage.get(),
            )
            .because(Reason::Deadline { started: true }),
            _ => Outcome::skip("interrupted before it finished")
                .because(Reason::Interrupted { started: true }),
        }
    }

    /// The pause after failed attempt `attempt`: 1 s, 2 s, 4 s... up to the maximum.
    fn pause_after(&self, attempt: u32) -> Duration {
        let o = &self.options;
        o.retry_interval
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(o.retry_interval_max.max(o.retry_interval))
    }
}

/// Waits for the prerequisites, then runs the check (with retries). Returns the outcome,
/// the number of attempts, and how long it ran (None if it never ran).
pub(super) async fn run_one(
    ctx: &TaskCtx,
    key: &CheckKey,
    body: CheckFn,
    deps: Vec<Prerequisite>,
    first_of: &[CheckKey],
) -> (Outcome, u32, Option<Duration>) {
    if let Err(o) = prerequisites(ctx, deps, first_of).await {
        return (o, 0, None);
    }
    let Some(_permits) = permits(ctx).await else {
        return (ctx.not_run(), 0, None);
    };
    let _ = ctx.events.send(Event::CheckStarted {
        key: key.redacted(&ctx.secrets),
        at: ctx.run_start.elapsed(),
    });
    let began = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (outcome, refused, stopped) = one_attempt(ctx, &body, attempt).await;
        if stopped {
            return (outcome, attempt, Some(began.elapsed()));
        }
        // The window is used whole: the last pause ends at its end, where one more
        // attempt is made (a doubling pause that would overshoot it is cut short).
        let left = ctx
            .options
            .retry_for
            .map(|w| w.saturating_sub(ctx.run_start.elapsed()))
            .unwrap_or_default();
        let retry_window_left = !left.is_zero();
        let pause = ctx.pause_after(attempt).min(left);
        // A refused credential is final: retrying it can lock the account.
        if outcome.status != Status::Fail || refused || !retry_window_left {
            let outcome = if attempt > 1 {
                outcome.with("attempts", attempt)
            } else {
                outcome
            };
            return (outcome, attempt, Some(began.elapsed()));
        }
        let mut shown = outcome.clone();
        shown.redact(&ctx.secrets);
        let _ = ctx.events.send(Event::CheckRetrying {
            key: key.redacted(&ctx.secrets),
            attempt,
            outcome: shown,
        });
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = ctx.stop.cancelled() => return (outcome, attempt, Some(began.elapsed())),
        }
    }
}

/// Waits for every prerequisite; the first that did not pass or warn blocks the check.
async fn prerequisites(
    ctx: &TaskCtx,
    deps: Vec<Prerequisite>,
    first_of: &[CheckKey],
) -> Result<(), Outcome> {
    let (alternatives, all): (Vec<_>, Vec<_>) =
        deps.into_iter().partition(|(d, _)| first_of.contains(d));
    for (dep, rx) in all {
        let status = status_of(ctx, rx).await?;
        if !status.unblocks_dependents() {
            return Err(blocked(&dep, status));
        }
    }
    // Alternatives in order: the first that passes or warns serves.
    let mut failed = Vec::new();
    for (dep, rx) in alternatives {
        let status = status_of(ctx, rx).await?;
        if status.unblocks_dependents() {
            return Ok(());
        }
        failed.push((dep, status));
    }
    match failed.first() {
        None => Ok(()),
        Some((first, status)) if failed.len() == 1 => Err(blocked(first, *status)),
        Some((first, status)) => {
            let each: Vec<String> = failed
                .iter()
                .map(|(d, s)| format!("{d}, which {}", verb(*s)))
                .collect();
            let o = Outcome::skip(format!(
                "blocked: none of its alternatives passed: {}",
                each.join("; ")
            ));
            Err(failed
                .iter()
                .fold(o, |o, (d, s)| {
                    o.with("blocked_by", d).with("blocked_by_status", s)
                })
                .because(Reason::Blocked {
                    by: first.clone(),
                    status: *status,
                }))
        }
    }
}

/// How a prerequisite ended (waited for), or the outcome of a run stopped first.
async fn status_of(
    ctx: &TaskCtx,
    mut rx: watch::Receiver<Option<Status>>,
) -> Result<Status, Outcome> {
    tokio::select! {
        biased;
        _ = ctx.stop.cancelled() => Err(ctx.not_run()),
        s = rx.wait_for(|s| s.is_some()) => Ok(s.map(|s| s.expect("waited for Some")).unwrap_or(Status::Skip)),
    }
}

/// A check blocked by `dep`, which ended with `status`.
fn blocked(dep: &CheckKey, status: Status) -> Outcome {
    let title = catalog::check(dep.id).map(|d| d.description).unwrap_or("");
    Outcome::skip(format!("blocked by {dep}, which {}", verb(status)))
        .with("blocked_by", dep)
        .with("blocked_by_status", status)
        .with("prerequisite", title)
        .because(Reason::Blocked {
            by: dep.clone(),
            status,
        })
}

/// The server's permit first (a check waiting for its server holds no run-wide one),
/// then the run's; None when the run stopped first.
async fn permits(ctx: &TaskCtx) -> Option<(Option<Permit>, Permit)> {
    let server = match &ctx.server {
        Some(server) => Some(tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => return None,
            p = server.acquire(ctx.priority) => p,
        }),
        None => None,
    };
    let run = tokio::select! {
        biased;
        _ = ctx.stop.cancelled() => return None,
        p = ctx.semaphore.acquire(ctx.priority) => p,
    };
    Some((server, run))
}

/// One attempt and its undos: the outcome, whether a credential was refused (in this
/// attempt, or earlier in the run and handed to it by the ledger), and
/// whether the run's stop cut it off.
async fn one_attempt(ctx: &TaskCtx, body: &CheckFn, attempt: u32) -> (Outcome, bool, bool) {
    let cx = CheckCtx {
        timeout: ctx.options.check_timeout,
        attempt,
        workflow: ctx.workflow,
        started: Instant::now(),
        cleanup: Default::default(),
        auth: Default::default(),
        credentials: ctx.credentials.for_attempt(),
        stage: StageCell::default(),
    };
    let (cleanup, auth, stage) = (cx.cleanup.clone(), cx.auth.clone(), cx.stage.clone());
    let credentials = cx.credentials.clone();
    let (outcome, stopped) = tokio::select! {
        o = attempt_once(body, cx) => (o, false),
        _ = ctx.stop.cancelled() => (ctx.cut_off(&stage), true),
    };
    let outcome = undo_what_is_left(ctx, &cleanup, outcome).await;
    ctx.count(&auth);
    // A credential refused here or earlier in the run: final either way.
    (
        outcome,
        auth.any_refused() || credentials.met_refusal(),
        stopped,
    )
}

fn verb(status: Status) -> &'static str {
    match status {
        Status::Fail => "failed",
        Status::Skip => "was skipped",
        Status::Warn => "warned",
        Status::Pass => "passed",
    }
}
