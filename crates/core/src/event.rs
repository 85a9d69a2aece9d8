//! Events the runner emits. Reports are consumers of these; the runner knows no format.

use crate::model::{Area, CheckKey, CheckResult, Counts, Outcome};
use crate::spec::Workflow;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// A check as planned, before it runs.
#[derive(Debug, Clone)]
pub struct CheckInfo {
    pub key: CheckKey,
    pub area: Area,
    pub tasks: Vec<&'static str>,
    pub description: &'static str,
    pub depends_on: Vec<CheckKey>,
}

/// What the run is about.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub spec: PathBuf,
    pub workflow: Workflow,
    pub started_at: SystemTime,
    pub checks: Vec<CheckInfo>,
}

/// Why a run stopped before every check finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopReason {
    /// The global `--deadline` passed.
    Deadline,
    /// The user pressed Ctrl-C.
    Interrupted,
}

/// How the run ended.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub counts: Counts,
    pub started_at: SystemTime,
    pub wall: Duration,
    pub stopped: Option<StopReason>,
}

/// One thing that happened in a run.
#[derive(Debug, Clone)]
pub enum Event {
    RunStarted(RunInfo),
    CheckStarted {
        key: CheckKey,
        /// When it started (its prerequisites done, a concurrency slot taken), from
        /// the run's start.
        at: Duration,
    },
    /// A check failed and will be tried again (`--retry-for`).
    CheckRetrying {
        key: CheckKey,
        attempt: u32,
        outcome: Outcome,
    },
    CheckFinished(CheckResult),
    RunFinished(RunSummary),
}
