//! The probe interface: how a protocol crate contributes checks to a run.
//!
//! A probe reads the spec and plans checks: for each, its catalog id, its target, the
//! checks it must wait for, and an async function that performs it. The runner decides
//! when to call that function, bounds it with the check timeout, and reports.

use crate::catalog::{self, Task};
use crate::model::{CheckKey, Outcome};
use crate::spec::{Spec, Workflow};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the runner tells a check when it calls it.
#[derive(Debug, Clone)]
pub struct CheckCtx {
    /// The time the check has; the runner stops waiting after it, so a probe should use
    /// it (or less) for its own network timeouts to report *which* step hung.
    pub timeout: Duration,
    /// 1 for the first attempt, more with `--retry-for`.
    pub attempt: u32,
    /// The run's workflow: the one whose task numbers the check's messages name.
    pub workflow: Workflow,
    /// When this attempt started.
    pub started: Instant,
    /// Where the check registers the undo of what it creates on the system under test
    /// (the runner runs what is left when the check ends, however it ends).
    pub cleanup: crate::cleanup::Cleanup,
    /// Where the check records each authentication it makes with the spec's credentials.
    pub auth: crate::model::AuthLog,
    /// The run's ledger of credentials: ask it before sending one (at most one refusal
    /// per principal per run, see [`crate::credentials`]).
    pub credentials: crate::credentials::Credentials,
    /// The step the check is in, for the runner to name when its time runs out.
    pub stage: crate::reason::StageCell,
}

impl CheckCtx {
    /// The share of the timeout a check's own steps may use, so that a step that hangs
    /// is named by the check before the runner's timeout cuts it off (80%).
    pub fn budget(&self) -> Duration {
        self.timeout.mul_f32(0.8)
    }

    /// The instant by which the check's own steps must have finished
    /// (`started + budget`).
    pub fn budget_deadline(&self) -> Instant {
        self.started + self.budget()
    }

    /// What is left of the budget now (zero when it is spent).
    pub fn remaining(&self) -> Duration {
        self.budget_deadline()
            .saturating_duration_since(Instant::now())
    }

    /// Records that the check enters `stage` (a TCP connection, a TLS handshake, a
    /// bind...): if the check's time runs out, the runner's verdict names it.
    pub fn enter(&self, stage: crate::reason::Stage) {
        self.stage.set(stage);
    }

    /// `tasks` as this run's workflow numbers them, to end a remediation:
    /// `" (task C.2)"` (see [`catalog::cite`]).
    pub fn cite(&self, tasks: &[Task]) -> String {
        catalog::cite(self.workflow, tasks)
    }

    /// A context for calling a check body outside the runner (tests, tools).
    pub fn standalone(timeout: Duration, workflow: Workflow) -> CheckCtx {
        CheckCtx {
            timeout,
            attempt: 1,
            workflow,
            started: Instant::now(),
            cleanup: Default::default(),
            auth: Default::default(),
            credentials: Default::default(),
            stage: Default::default(),
        }
    }
}

/// A duration in milliseconds rounded to 0.1 ms, as checks report their metrics.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// A boxed check future.
pub type CheckFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// A check's body: called once per attempt.
pub type CheckFn = Arc<dyn Fn(CheckCtx) -> CheckFuture + Send + Sync>;

/// One check a probe asks the runner to perform.
pub struct PlannedCheck {
    /// The check's id and target.
    pub key: CheckKey,
    /// Checks that must pass (or warn) before this one runs; a failed or skipped
    /// prerequisite makes this one a skip that names it.
    pub depends_on: Vec<CheckKey>,
    /// Of `depends_on`, alternatives in order (as CUCM takes the first directory server
    /// that binds): the check runs once the first of them to pass or warn has, and is
    /// blocked only when none does, naming each. The catalog declares the edge
    /// ([`crate::catalog::waits_for_first_of`]).
    pub first_of: Vec<CheckKey>,
    /// The server the check talks to (a host name or address), for the runner's cap on
    /// checks running against one server at the same time.
    pub server: Option<String>,
    /// The check's body.
    pub run: CheckFn,
}

impl PlannedCheck {
    /// Plans check `id` (a catalog id) on `target`, performed by `f`.
    pub fn new<F, Fut>(id: &'static str, target: impl Into<String>, f: F) -> Self
    where
        F: Fn(CheckCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        PlannedCheck {
            key: CheckKey::new(id, target),
            depends_on: Vec::new(),
            first_of: Vec::new(),
            server: None,
            run: Arc::new(move |ctx| Box::pin(f(ctx))),
        }
    }

    /// Plans the check `key` (built by its constructor in [`crate::keys`]), performed
    /// by `f`.
    pub fn keyed<F, Fut>(key: CheckKey, f: F) -> Self
    where
        F: Fn(CheckCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        PlannedCheck {
            key,
            depends_on: Vec::new(),
            first_of: Vec::new(),
            server: None,
            run: Arc::new(move |ctx| Box::pin(f(ctx))),
        }
    }

    /// Names the server the check talks to (see [`PlannedCheck::server`]).
    pub fn on(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }

    /// Adds alternative prerequisites, in order: the check waits for the first of
    /// them that passes (see [`PlannedCheck::first_of`]).
    pub fn after_first_of(mut self, keys: impl IntoIterator<Item = CheckKey>) -> Self {
        for key in keys {
            if !self.first_of.contains(&key) {
                self.first_of.push(key.clone());
            }
            self = self.after(key);
        }
        self
    }

    /// Adds a prerequisite.
    pub fn after(mut self, key: CheckKey) -> Self {
        if !self.depends_on.contains(&key) {
            self.depends_on.push(key);
        }
        self
    }
}

impl std::fmt::Debug for PlannedCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannedCheck")
            .field("key", &self.key)
            .field("depends_on", &self.depends_on)
            .field("first_of", &self.first_of)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// A protocol probe: plans the checks of its area for a spec.
pub trait Probe: Send + Sync {
    /// The probe's name (its protocol), e.g. `dns`.
    fn name(&self) -> &'static str;

    /// The checks this probe makes for `spec`. Ids must be in the catalog. The runner
    /// filters them by the spec's workflow and the user's selection.
    fn plan(&self, spec: &Arc<Spec>) -> Vec<PlannedCheck>;
}

/// A value several checks share, computed once per attempt (one handshake, one
/// directory read...). With `--retry-for`, a new attempt computes it afresh and the
/// older attempts' values are dropped.
pub struct PerAttempt<T> {
    cells: std::sync::Mutex<std::collections::HashMap<u32, Arc<tokio::sync::OnceCell<T>>>>,
}

impl<T> Default for PerAttempt<T> {
    fn default() -> Self {
        PerAttempt {
            cells: Default::default(),
        }
    }
}

impl<T: Clone> PerAttempt<T> {
    /// The value of `attempt`, computing it with `init` if no check has yet.
    pub async fn get_or_init<F, Fut>(&self, attempt: u32, init: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let cell = {
            let mut cells = self.cells.lock().expect("not poisoned");
            // Only the latest attempt's value is kept: a retried run must not hold every
            // attempt's facts (a directory read can be large).
            cells.retain(|a, _| *a >= attempt);
            cells.entry(attempt).or_default().clone()
        };
        cell.get_or_init(init).await.clone()
    }
}
