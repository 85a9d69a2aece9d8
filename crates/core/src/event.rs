//! Events the runner emits. Reports are consumers of these; the runner knows no format.

use crate::model::{Area, CheckKey, CheckResult, Counts, Outcome};
use crate::spec::Workflow;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// A check as planned, before it runs.
#[derive(Debug, Clone, Serialize)]
pub struct CheckInfo {
    pub key: CheckKey,
    pub area: Area,
    pub tasks: Vec<&'static str>,
    pub description: &'static str,
    pub depends_on: Vec<CheckKey>,
}

/// What the run is about.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub spec: PathBuf,
    pub workflow: Workflow,
    pub started_at: SystemTime,
    pub checks: Vec<CheckInfo>,
}

/// Why a run stopped before every check finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StopReason {
    /// The global `--deadline` passed.
    Deadline,
    /// The user pressed Ctrl-C.
    Interrupted,
}

/// How the run ended.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub counts: Counts,
    pub started_at: SystemTime,
    pub wall: Duration,
    pub stopped: Option<StopReason>,
    /// Authentications made with the spec's credentials, per account, over every check
    /// and attempt: an administrator sees at once what the run cost each account.
    pub auth: std::collections::BTreeMap<String, AuthCount>,
}

/// The authentications of one account in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AuthCount {
    /// How many times a check authenticated with the account.
    pub attempts: u32,
    /// How many of those the server refused.
    pub refused: u32,
}

/// One thing that happened in a run.
#[derive(Debug, Clone)]
pub enum Event {
    RunStarted(RunInfo),
    CheckStarted {
        key: CheckKey,
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
