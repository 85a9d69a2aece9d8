//! The concurrent runner: every check of a plan as its own task, a check's dependents
//! after it, each bounded by the check timeout, the whole run by the deadline.
//!
//! It reports through [`Event`]s only; what becomes of them is the caller's business.

mod attempt;
mod heights;
mod task;
mod undo;

use crate::event::{AuthCounts, CheckInfo, Event, RunInfo, RunSummary, StopReason};
use crate::gate::Gate;
use crate::model::{CheckResult, Counts, Status};
use crate::plan::Plan;
use crate::probe::PlannedCheck;
use crate::secret::Secret;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use task::TaskCtx;
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
    let stops = Stops::watch(&interrupt, options.deadline);
    let auth: Arc<std::sync::Mutex<AuthCounts>> = Default::default();
    let shared = Shared {
        stops: stops.clone(),
        interrupt: interrupt.clone(),
        semaphore: Gate::new(options.concurrency),
        per_server: HashMap::new(),
        options: Arc::new(options),
        events: events.clone(),
        run_start: start,
        secrets,
        workflow: plan.workflow,
        auth: auth.clone(),
        credentials: Default::default(),
    };
    let results = run_checks(plan.checks, infos, shared).await;
    stops.stop.cancel();
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
            stops.deadline_hit.get().copied()
        },
        auth: Default::default(),
        directory_auth: Default::default(),
    };
    let counted = std::mem::take(&mut *auth.lock().expect("not poisoned"));
    let summary = RunSummary {
        auth: counted.per_account,
        directory_auth: counted.on_directory,
        ..summary
    };
    let _ = events.send(Event::RunFinished(summary.clone()));
    RunReport { results, summary }
}

/// How the run stops: the token every check watches, why (only the deadline is
/// recorded; an interrupt is read off the caller's token itself, so that no check can
/// see the stop before its reason), and when (for the undos' grace).
#[derive(Clone)]
struct Stops {
    stop: CancellationToken,
    deadline_hit: Arc<OnceLock<StopReason>>,
    stopped_at: Arc<OnceLock<Instant>>,
}

impl Stops {
    fn watch(interrupt: &CancellationToken, deadline: Option<Duration>) -> Stops {
        let s = Stops {
            stop: interrupt.child_token(),
            deadline_hit: Arc::new(OnceLock::new()),
            stopped_at: Arc::new(OnceLock::new()),
        };
        let (stop, stopped_at) = (s.stop.clone(), s.stopped_at.clone());
        tokio::spawn(async move {
            stop.cancelled().await;
            let _ = stopped_at.set(Instant::now());
        });
        if let Some(d) = deadline {
            let (stop, hit) = (s.stop.clone(), s.deadline_hit.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {
                        let _ = hit.set(StopReason::Deadline);
                        stop.cancel();
                    }
                    _ = stop.cancelled() => {}
                }
            });
        }
        s
    }
}

/// What every check's task shares with the run.
struct Shared {
    stops: Stops,
    interrupt: CancellationToken,
    semaphore: Gate,
    per_server: HashMap<String, Gate>,
    options: Arc<RunOptions>,
    events: mpsc::UnboundedSender<Event>,
    run_start: Instant,
    secrets: Arc<Vec<Secret>>,
    workflow: crate::spec::Workflow,
    auth: Arc<std::sync::Mutex<AuthCounts>>,
    credentials: crate::credentials::Credentials,
}

impl Shared {
    /// The context of one check's task: its server's cap and its priority.
    fn task(&mut self, server: Option<&String>, priority: u32) -> TaskCtx {
        let per_server = self.options.per_server;
        let server = server.map(|s| {
            self.per_server
                .entry(s.to_ascii_lowercase())
                .or_insert_with(|| Gate::new(per_server))
                .clone()
        });
        TaskCtx {
            server,
            priority,
            stop: self.stops.stop.clone(),
            interrupt: self.interrupt.clone(),
            deadline_hit: self.stops.deadline_hit.clone(),
            stopped_at: self.stops.stopped_at.clone(),
            credentials: self.credentials.clone(),
            semaphore: self.semaphore.clone(),
            options: self.options.clone(),
            events: self.events.clone(),
            run_start: self.run_start,
            secrets: self.secrets.clone(),
            workflow: self.workflow,
            auth: self.auth.clone(),
        }
    }
}

/// Every check as its own task, each after its prerequisites; their results in plan
/// order.
async fn run_checks(
    checks: Vec<PlannedCheck>,
    infos: Vec<CheckInfo>,
    mut shared: Shared,
) -> Vec<CheckResult> {
    let index: HashMap<_, _> = checks
        .iter()
        .enumerate()
        .map(|(i, c)| (c.key.clone(), i))
        .collect();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..checks.len())
        .map(|_| watch::channel::<Option<Status>>(None))
        .unzip();
    let heights = heights::chain_heights(&checks, &index);
    let mut handles = Vec::with_capacity(checks.len());
    for (((check, info), done), priority) in checks.into_iter().zip(infos).zip(senders).zip(heights)
    {
        let deps: Vec<_> = check
            .depends_on
            .iter()
            .map(|d| (d.clone(), receivers[index[d]].clone()))
            .collect();
        let ctx = shared.task(check.server.as_ref(), priority);
        handles.push(tokio::spawn(async move {
            let (mut outcome, attempts, ran_for) =
                task::run_one(&ctx, &check.key, check.run, deps, &check.first_of).await;
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
    results
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
        first_of: info.first_of.iter().map(|k| k.redacted(secrets)).collect(),
        ..info.clone()
    }
}
