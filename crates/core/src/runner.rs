//! The concurrent runner: every check of a plan as its own task, a check's dependents
//! after it, each bounded by the check timeout, the whole run by the deadline.
//!
//! It reports through [`Event`]s only; what becomes of them is the caller's business.

use crate::catalog;
use crate::event::{AuthCount, CheckInfo, Event, RunInfo, RunSummary, StopReason};
use crate::gate::Gate;
use crate::model::{CheckResult, Counts, Outcome, Status};
use crate::plan::Plan;
use crate::probe::{CheckCtx, CheckFn};
use crate::reason::{Reason, Stage, StageCell};
use crate::secret::Secret;
use crate::spec::Workflow;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch};
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
    /// How many checks may run against one server at the same time (a 120-node run
    /// must not open hundreds of connections to one DNS or directory server at once).
    pub per_server: usize,
    /// The time the undos a check left registered have, after the check ended (on top
    /// of the check's own time). When the run stops (deadline, signal), what is left
    /// of [`RunOptions::stop_grace`] bounds them instead.
    pub cleanup_timeout: Duration,
    /// How long after the run stops (its deadline passed, or a signal came) the checks
    /// still running have to undo what they created: the run ends within it.
    pub stop_grace: Duration,
    /// The longest pause between two attempts: the pause doubles from
    /// `retry_interval` up to this.
    pub retry_interval_max: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            check_timeout: Duration::from_secs(10),
            deadline: None,
            retry_for: None,
            retry_interval: Duration::from_secs(1),
            concurrency: 32,
            per_server: 8,
            cleanup_timeout: Duration::from_secs(5),
            stop_grace: Duration::from_secs(1),
            retry_interval_max: Duration::from_secs(30),
        }
    }
}

/// The results of a run, in plan order, and its summary.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Every check's result, in plan order.
    pub results: Vec<CheckResult>,
    /// How the run ended.
    pub summary: RunSummary,
}

/// Runs `plan`. Events go to `events` (a closed receiver is fine). `interrupt` stops the
/// run early (Ctrl-C): running checks are abandoned and marked, and the run still ends
/// with every check accounted for. `secrets` are scrubbed from every outcome and every
/// target the events and the report show.
pub async fn run(
    plan: Plan,
    spec_path: PathBuf,
    options: RunOptions,
    secrets: Vec<Secret>,
    interrupt: CancellationToken,
    events: mpsc::UnboundedSender<Event>,
) -> RunReport {
    let started_at = SystemTime::now();
    let start = Instant::now();
    let infos = plan.infos();
    let secrets = Arc::new(secrets);
    let _ = events.send(Event::RunStarted(RunInfo {
        spec: spec_path,
        workflow: plan.workflow,
        started_at,
        checks: infos.iter().map(|i| redacted_info(i, &secrets)).collect(),
        per_server: options.per_server,
    }));

    let stop = interrupt.child_token();
    // Only the deadline is recorded here; an interrupt is read off `interrupt` itself,
    // so that no check can see the stop before its reason.
    let deadline_hit: Arc<OnceLock<StopReason>> = Arc::new(OnceLock::new());
    // When the run stopped: the undos still running have the stop grace from then.
    let stopped_at: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    {
        let stop = stop.clone();
        let stopped_at = stopped_at.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            let _ = stopped_at.set(Instant::now());
        });
    }
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
    let heights = chain_heights(&plan.checks, &index);
    let semaphore = Gate::new(options.concurrency);
    let mut per_server: HashMap<String, Gate> = HashMap::new();
    let options = Arc::new(options);
    let auth: Arc<std::sync::Mutex<BTreeMap<String, AuthCount>>> = Default::default();
    let credentials = crate::credentials::Credentials::default();

    let mut handles = Vec::new();
    for (((check, info), done), priority) in
        plan.checks.into_iter().zip(infos).zip(senders).zip(heights)
    {
        let deps: Vec<_> = check
            .depends_on
            .iter()
            .map(|d| (d.clone(), receivers[index[d]].clone()))
            .collect();
        let server = check.server.as_ref().map(|s| {
            per_server
                .entry(s.to_ascii_lowercase())
                .or_insert_with(|| Gate::new(options.per_server))
                .clone()
        });
        let ctx = TaskCtx {
            server,
            priority,
            stop: stop.clone(),
            interrupt: interrupt.clone(),
            deadline_hit: deadline_hit.clone(),
            stopped_at: stopped_at.clone(),
            credentials: credentials.clone(),
            semaphore: semaphore.clone(),
            options: options.clone(),
            events: events.clone(),
            run_start: start,
            secrets: secrets.clone(),
            workflow: plan.workflow,
            auth: auth.clone(),
        };
        handles.push(tokio::spawn(async move {
            let (mut outcome, attempts, ran_for) = run_one(&ctx, &check.key, check.run, deps).await;
            outcome.redact(&ctx.secrets);
            let result = CheckResult {
                key: check.key.redacted(&ctx.secrets),
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
        auth: std::mem::take(&mut *auth.lock().expect("not poisoned")),
    };
    let _ = events.send(Event::RunFinished(summary.clone()));
    RunReport { results, summary }
}

/// Each check's priority for the permits: how many checks its longest chain of
/// dependents holds, itself included (a check no other waits for: 1).
fn chain_heights(
    checks: &[crate::probe::PlannedCheck],
    index: &HashMap<crate::model::CheckKey, usize>,
) -> Vec<u32> {
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

struct TaskCtx {
    stop: CancellationToken,
    interrupt: CancellationToken,
    deadline_hit: Arc<OnceLock<StopReason>>,
    stopped_at: Arc<OnceLock<Instant>>,
    credentials: crate::credentials::Credentials,
    semaphore: Gate,
    /// The cap of the check's server, if it names one.
    server: Option<Gate>,
    /// Its place among the checks waiting for a permit: the longest chain it starts.
    priority: u32,
    options: Arc<RunOptions>,
    events: mpsc::UnboundedSender<Event>,
    run_start: Instant,
    secrets: Arc<Vec<Secret>>,
    workflow: Workflow,
    auth: Arc<std::sync::Mutex<BTreeMap<String, AuthCount>>>,
}

impl TaskCtx {
    /// Adds an attempt's authentications to the run's count per account.
    fn count(&self, log: &crate::model::AuthLog) {
        let mut auth = self.auth.lock().expect("not poisoned");
        for a in log.attempts() {
            let c = auth.entry(a.account).or_default();
            c.attempts += 1;
            c.refused += u32::from(a.refused);
        }
    }

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
                    .with("prerequisite", title)
                    .because(Reason::Blocked {
                        by: dep.clone(),
                        status,
                    }),
                0,
                None,
            );
        }
    }

    // The server's permit first: a check waiting for its server holds no run-wide one.
    let _server_permit = match &ctx.server {
        Some(server) => Some(tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => return (not_run(ctx), 0, None),
            p = server.acquire(ctx.priority) => p,
        }),
        None => None,
    };
    let _permit = tokio::select! {
        biased;
        _ = ctx.stop.cancelled() => return (not_run(ctx), 0, None),
        p = ctx.semaphore.acquire(ctx.priority) => p,
    };
    let _ = ctx.events.send(Event::CheckStarted {
        key: key.redacted(&ctx.secrets),
        at: ctx.run_start.elapsed(),
    });
    let began = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let cx = CheckCtx {
            timeout: ctx.options.check_timeout,
            attempt,
            workflow: ctx.workflow,
            started: Instant::now(),
            cleanup: Default::default(),
            auth: Default::default(),
            credentials: ctx.credentials.clone(),
            stage: StageCell::default(),
        };
        let (cleanup, auth, stage) = (cx.cleanup.clone(), cx.auth.clone(), cx.stage.clone());
        let outcome = tokio::select! {
            o = attempt_once(&body, cx) => o,
            _ = ctx.stop.cancelled() => {
                let o = match ctx.reason() {
                    Some(StopReason::Deadline) => with_stage(Outcome::fail(
                        format!(
                            "did not finish before the run deadline ({})",
                            humantime::format_duration(ctx.options.deadline.unwrap_or_default())
                        ),
                        "The target is slow or not answering; check it, or give the run a longer --deadline.",
                    ), stage.get())
                    .because(Reason::Deadline { started: true }),
                    _ => Outcome::skip("interrupted before it finished")
                        .because(Reason::Interrupted { started: true }),
                };
                let o = undo_what_is_left(ctx, &cleanup, o).await;
                ctx.count(&auth);
                return (o, attempt, Some(began.elapsed()));
            }
        };
        let outcome = undo_what_is_left(ctx, &cleanup, outcome).await;
        ctx.count(&auth);
        // Exponential backoff: 1 s, 2 s, 4 s... up to the maximum.
        let pause = ctx
            .options
            .retry_interval
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(
                ctx.options
                    .retry_interval_max
                    .max(ctx.options.retry_interval),
            );
        // The window is used whole: the last pause ends at its end, where one more
        // attempt is made (a doubling pause that would overshoot it is cut short).
        let left = ctx
            .options
            .retry_for
            .map(|w| w.saturating_sub(ctx.run_start.elapsed()))
            .unwrap_or_default();
        let retry_window_left = !left.is_zero();
        let pause = pause.min(left);
        // A refused credential is final: retrying it can lock the account.
        if outcome.status != Status::Fail || auth.any_refused() || !retry_window_left {
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

/// One attempt, bounded by the timeout, with the check's panics caught.
async fn attempt_once(body: &CheckFn, cx: CheckCtx) -> Outcome {
    let timeout = cx.timeout;
    let stage = cx.stage.clone();
    let fut = body(cx);
    let handle = tokio::spawn(fut);
    let abort = handle.abort_handle();
    // Nothing of the check runs after it has reported: dropped (the run stopped) or
    // timed out, its task is aborted.
    let _abort_on_drop = AbortOnDrop(abort.clone());
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
            .because(Reason::Panicked)
        }
        Ok(Err(_)) => Outcome::fail(
            "internal error: the check was cancelled",
            "This is a bug in imp-verify; please report it with this report.",
        ),
        Err(_) => {
            abort.abort();
            let stage = stage.get();
            let fix = match stage {
                Some(Stage::Resolve | Stage::DnsQuery) => "The DNS server did not answer in time: check that the spec's DNS servers answer for the deployment's names, or raise --timeout.",
                Some(Stage::TcpConnect) => "The TCP connection was not answered in time: check that the host is up and that no firewall drops the port, or raise --timeout.",
                Some(_) => "The target answered the connection but did not complete this step in time: check that the service is up and not overloaded, or raise --timeout.",
                None => "The target did not complete the exchange in time: check that the service is up and not overloaded, or raise --timeout.",
            };
            with_stage(
                Outcome::fail(
                    format!(
                        "no result within the check timeout ({})",
                        humantime::format_duration(timeout)
                    ),
                    fix,
                ),
                stage,
            )
            .with("timeout_ms", timeout.as_millis())
            .because(Reason::TimedOut {
                after: timeout,
                stage,
            })
        }
    }
}

/// Aborts a check's task when the attempt is dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the undos the check left registered and names in `outcome` what could not be
/// undone. They have the cleanup budget, or, once the run has stopped, what is left of
/// the stop grace (a stop that comes while they run cuts them at the grace too).
async fn undo_what_is_left(
    ctx: &TaskCtx,
    cleanup: &crate::cleanup::Cleanup,
    outcome: Outcome,
) -> Outcome {
    if cleanup.pending_names().is_empty() {
        return outcome;
    }
    let grace = ctx.options.stop_grace;
    let normal = Instant::now() + ctx.options.cleanup_timeout;
    let deadline = match ctx.stopped_at.get() {
        Some(at) => normal.min(*at + grace),
        None if ctx.stop.is_cancelled() => normal.min(Instant::now() + grace),
        None => normal,
    };
    let names = cleanup.pending_names();
    let stop = ctx.stop.clone();
    let stopped_at = ctx.stopped_at.clone();
    let cut = async move {
        stop.cancelled().await;
        let at = stopped_at.get().copied().unwrap_or_else(Instant::now);
        tokio::time::sleep_until((at + grace).into()).await;
    };
    let failed = tokio::select! {
        f = crate::cleanup::run_pending(cleanup, deadline.into()) => f,
        _ = cut => names
            .into_iter()
            .map(|n| (n, format!("cut off {} ms after the run stopped", grace.as_millis())))
            .collect(),
    };
    failed.into_iter().fold(outcome, |o, (what, why)| {
        o.with("not_undone", format!("{what}: {why}"))
    })
}

/// `outcome` naming the stage the check was in, when it had said.
fn with_stage(outcome: Outcome, stage: Option<Stage>) -> Outcome {
    match stage {
        Some(s) => {
            let message = format!("{}: stalled in {}", outcome.message, s.describe());
            Outcome { message, ..outcome }.with("stage", s.as_str())
        }
        None => outcome,
    }
}

fn not_run(ctx: &TaskCtx) -> Outcome {
    match ctx.reason() {
        Some(StopReason::Deadline) => Outcome::skip("not run: the run deadline passed first")
            .because(Reason::Deadline { started: false }),
        _ => Outcome::skip("not run: interrupted").because(Reason::Interrupted { started: false }),
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

/// A planned check as the events show it: targets scrubbed of the secrets.
fn redacted_info(info: &CheckInfo, secrets: &[Secret]) -> CheckInfo {
    CheckInfo {
        key: info.key.redacted(secrets),
        depends_on: info
            .depends_on
            .iter()
            .map(|k| k.redacted(secrets))
            .collect(),
        ..info.clone()
    }
}
