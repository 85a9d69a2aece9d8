//! The concurrent runner: every check of a plan as its own task, a check's dependents
//! after it, each bounded by the check timeout, the whole run by the deadline.
//!
//! It reports through [`Event`]s only; what becomes of them is the caller's business.

use crate::catalog;
use crate::event::{Event, RunInfo, RunSummary, StopReason};
use crate::model::{CheckResult, Counts, Outcome, Status};
use crate::plan::Plan;
use crate::probe::{CheckCtx, CheckFn};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_util::sync::CancellationToken;

/// How a run is bounded.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The time one attempt of one check has (default 10 s).
    pub check_timeout: Duration,
    /// The time the whole run has; checks still running then fail, unstarted ones skip.
    pub deadline: Option<Duration>,
    /// Re-run failing checks until they pass or this window (from the run's start) ends.
    pub retry_for: Option<Duration>,
    /// The pause between two attempts of a failing check.
    pub retry_interval: Duration,
    /// How many checks may run at the same time.
    pub concurrency: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            check_timeout: Duration::from_secs(10),
            deadline: None,
            retry_for: None,
            retry_interval: Duration::from_secs(1),
            concurrency: 32,
        }
    }
}

/// The results of a run, in plan order, and its summary.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub results: Vec<CheckResult>,
    pub summary: RunSummary,
}

/// Runs `plan`. Events go to `events` (a closed receiver is fine). `interrupt` stops the
/// run early (Ctrl-C): running checks are abandoned and marked, and the run still ends
/// with every check accounted for. `secrets` are scrubbed from every outcome.
pub async fn run(
    plan: Plan,
    spec_path: PathBuf,
    options: RunOptions,
    secrets: Vec<String>,
    interrupt: CancellationToken,
    events: mpsc::UnboundedSender<Event>,
) -> RunReport {
    let started_at = SystemTime::now();
    let start = Instant::now();
    let infos = plan.infos();
    let _ = events.send(Event::RunStarted(RunInfo {
        spec: spec_path,
        workflow: plan.workflow,
        started_at,
        checks: infos.clone(),
    }));

    let stop = interrupt.child_token();
    // Only the deadline is recorded here; an interrupt is read off `interrupt` itself,
    // so that no check can see the stop before its reason.
    let deadline_hit: Arc<OnceLock<StopReason>> = Arc::new(OnceLock::new());
    if let Some(d) = options.deadline {
        let stop = stop.clone();
        let deadline_hit = deadline_hit.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(d) => {
                    let _ = deadline_hit.set(StopReason::Deadline);
                    stop.cancel();
                }
                _ = stop.cancelled() => {}
            }
        });
    }

    let index: std::collections::HashMap<_, _> = plan
        .checks
        .iter()
        .enumerate()
        .map(|(i, c)| (c.key.clone(), i))
        .collect();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..plan.checks.len())
        .map(|_| watch::channel::<Option<Status>>(None))
        .unzip();
    let semaphore = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let secrets = Arc::new(secrets);
    let options = Arc::new(options);

    let mut handles = Vec::new();
    for ((check, info), done) in plan.checks.into_iter().zip(infos).zip(senders) {
        let deps: Vec<_> = check
            .depends_on
            .iter()
            .map(|d| (d.clone(), receivers[index[d]].clone()))
            .collect();
        let ctx = TaskCtx {
            stop: stop.clone(),
            interrupt: interrupt.clone(),
            deadline_hit: deadline_hit.clone(),
            semaphore: semaphore.clone(),
            options: options.clone(),
            events: events.clone(),
            run_start: start,
            secrets: secrets.clone(),
        };
        handles.push(tokio::spawn(async move {
            let (mut outcome, attempts, ran_for) = run_one(&ctx, &check.key, check.run, deps).await;
            outcome.redact(&ctx.secrets);
            let result = CheckResult {
                key: check.key,
                area: info.area,
                tasks: info.tasks,
                outcome,
                duration: ran_for.unwrap_or_default(),
                attempts,
            };
            let _ = done.send(Some(result.outcome.status));
            let _ = ctx.events.send(Event::CheckFinished(result.clone()));
            result
        }));
    }

    let mut results = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(r) => results.push(r),
            // The task body catches the check's own panics; this is unreachable short of
            // a bug in the runner itself.
            Err(e) => panic!("runner task failed: {e}"),
        }
    }
    stop.cancel();
    let mut counts = Counts::default();
    for r in &results {
        counts.add(r.outcome.status);
    }
    let summary = RunSummary {
        counts,
        started_at,
        wall: start.elapsed(),
        stopped: if interrupt.is_cancelled() {
            Some(StopReason::Interrupted)
        } else {
            deadline_hit.get().copied()
        },
    };
    let _ = events.send(Event::RunFinished(summary.clone()));
    RunReport { results, summary }
}

struct TaskCtx {
    stop: CancellationToken,
    interrupt: CancellationToken,
    deadline_hit: Arc<OnceLock<StopReason>>,
    semaphore: Arc<Semaphore>,
    options: Arc<RunOptions>,
    events: mpsc::UnboundedSender<Event>,
    run_start: Instant,
    secrets: Arc<Vec<String>>,
}

impl TaskCtx {
    fn reason(&self) -> Option<StopReason> {
        if self.interrupt.is_cancelled() {
            Some(StopReason::Interrupted)
        } else {
            self.deadline_hit.get().copied()
        }
    }
}

/// Waits for the prerequisites, then runs the check (with retries). Returns the outcome,
/// the number of attempts, and how long it ran (None if it never ran).
async fn run_one(
    ctx: &TaskCtx,
    key: &crate::model::CheckKey,
    body: CheckFn,
    deps: Vec<(crate::model::CheckKey, watch::Receiver<Option<Status>>)>,
) -> (Outcome, u32, Option<Duration>) {
    // Prerequisites.
    for (dep, mut rx) in deps {
        let status = tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => return (not_run(ctx), 0, None),
            s = rx.wait_for(|s| s.is_some()) => s.map(|s| s.expect("waited for Some")).unwrap_or(Status::Skip),
        };
        if !status.unblocks_dependents() {
            let title = catalog::check(dep.id).map(|d| d.description).unwrap_or("");
            return (
                Outcome::skip(format!("blocked by {dep}, which {}", verb(status)))
                    .with("blocked_by", &dep)
                    .with("blocked_by_status", status)
                    .with("prerequisite", title),
                0,
                None,
            );
        }
    }

    let _permit = tokio::select! {
        biased;
        _ = ctx.stop.cancelled() => return (not_run(ctx), 0, None),
        p = ctx.semaphore.acquire() => p.expect("semaphore is never closed"),
    };
    let _ = ctx.events.send(Event::CheckStarted {
        key: key.clone(),
        at: ctx.run_start.elapsed(),
    });
    let began = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = tokio::select! {
            o = attempt_once(&body, ctx.options.check_timeout, attempt) => o,
            _ = ctx.stop.cancelled() => {
                let o = match ctx.reason() {
                    Some(StopReason::Deadline) => Outcome::fail(
                        format!(
                            "did not finish before the run deadline ({})",
                            humantime::format_duration(ctx.options.deadline.unwrap_or_default())
                        ),
                        "The target is slow or not answering; check it, or give the run a longer --deadline.",
                    ),
                    _ => Outcome::skip("interrupted before it finished"),
                };
                return (o, attempt, Some(began.elapsed()));
            }
        };
        let retry_window_left = ctx
            .options
            .retry_for
            .map(|w| ctx.run_start.elapsed() + ctx.options.retry_interval < w)
            .unwrap_or(false);
        if outcome.status != Status::Fail || !retry_window_left {
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
            key: key.clone(),
            attempt,
            outcome: shown,
        });
        tokio::select! {
            _ = tokio::time::sleep(ctx.options.retry_interval) => {}
            _ = ctx.stop.cancelled() => return (outcome, attempt, Some(began.elapsed())),
        }
    }
}

/// One attempt, bounded by the timeout, with the check's panics caught.
async fn attempt_once(body: &CheckFn, timeout: Duration, attempt: u32) -> Outcome {
    let fut = body(CheckCtx { timeout, attempt });
    let handle = tokio::spawn(fut);
    let abort = handle.abort_handle();
    match tokio::time::timeout(timeout, handle).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) if e.is_panic() => {
            let payload = e.into_panic();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Outcome::fail(
                format!("internal error: the check panicked: {msg}"),
                "This is a bug in imp-verify; please report it with this report.",
            )
        }
        Ok(Err(_)) => Outcome::fail(
            "internal error: the check was cancelled",
            "This is a bug in imp-verify; please report it with this report.",
        ),
        Err(_) => {
            abort.abort();
            Outcome::fail(
                format!(
                    "no result within the check timeout ({})",
                    humantime::format_duration(timeout)
                ),
                "The target accepted the connection or the query but did not complete the exchange in time: check that the service is up and not overloaded, or raise --timeout.",
            )
            .with("timeout_ms", timeout.as_millis())
        }
    }
}

fn not_run(ctx: &TaskCtx) -> Outcome {
    match ctx.reason() {
        Some(StopReason::Deadline) => Outcome::skip("not run: the run deadline passed first"),
        _ => Outcome::skip("not run: interrupted"),
    }
}

fn verb(status: Status) -> &'static str {
    match status {
        Status::Fail => "failed",
        Status::Skip => "was skipped",
        Status::Warn => "warned",
        Status::Pass => "passed",
    }
}
